//! The staychain: every attestation spends the previous attestation's single output, back to a
//! configured initial transaction. Because an output can be spent once, the chain admits no fork:
//! a verifier that follows it sees the only sequence of commitments the service can have made.

use bitcoin::{OutPoint, Transaction, Txid};

/// Why a sequence of attestations is not one staychain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StaychainError {
    /// An attestation has no inputs.
    #[error("attestation {index} ({txid}) spends nothing")]
    NoInputs {
        /// Position in the chain (0 = first after the initial transaction).
        index: usize,
        /// Its txid.
        txid: Txid,
    },
    /// An attestation's first input is not the previous attestation's output 0.
    #[error(
        "attestation {index} ({txid}) spends {found}, not the previous attestation's output {expected}"
    )]
    BrokenLink {
        /// Position in the chain.
        index: usize,
        /// Its txid.
        txid: Txid,
        /// The outpoint it should spend.
        expected: OutPoint,
        /// The outpoint its first input spends.
        found: OutPoint,
    },
}

/// Checks that `chain` (oldest first) starts by spending `initial`'s output 0 and that each later
/// transaction spends its predecessor's output 0 with its first input. Returns the tip's txid
/// (`initial` for an empty chain).
pub fn verify_staychain(initial: Txid, chain: &[Transaction]) -> Result<Txid, StaychainError> {
    let mut previous = initial;
    for (index, transaction) in chain.iter().enumerate() {
        let txid = transaction.compute_txid();
        let Some(first) = transaction.input.first() else {
            return Err(StaychainError::NoInputs { index, txid });
        };
        let expected = OutPoint::new(previous, 0);
        if first.previous_output != expected {
            return Err(StaychainError::BrokenLink {
                index,
                txid,
                expected,
                found: first.previous_output,
            });
        }
        previous = txid;
    }
    Ok(previous)
}
