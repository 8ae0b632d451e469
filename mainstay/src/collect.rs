//! Collecting attestation evidence: the slot proof from a Mainstay service, the staychain, the
//! merkle block and the confirming headers from a Bitcoin node — everything a light client then
//! checks with headers only (see [`crate::evidence`]).

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Transaction, Txid};

use crate::bitcoin_rpc::{BitcoinRpc, BitcoinRpcError};
use crate::evidence::AttestationEvidence;
use crate::slot::SlotProof;

/// Why evidence could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The Bitcoin node failed or does not know something.
    #[error("bitcoin node: {0}")]
    Bitcoin(#[from] BitcoinRpcError),
    /// The proof's txid is not a txid.
    #[error("the slot proof's txid {0:?} is not a transaction id")]
    BadTxid(String),
    /// The attestation is not in a block yet.
    #[error("attestation {0} is not confirmed yet")]
    Unconfirmed(Txid),
    /// Walking back from the attestation never reached the initial transaction.
    #[error(
        "walking back {steps} transactions from {from} did not reach initial transaction {initial}"
    )]
    StaychainNotReached {
        /// Where the walk started.
        from: Txid,
        /// Where it should end.
        initial: Txid,
        /// How far it went.
        steps: usize,
    },
}

/// Collects evidence for `proof` (slot `position`). `known` is a staychain already collected
/// (oldest first, from the initial transaction's spender): the walk back stops there.
/// `max_confirmations` bounds the headers gathered after the block.
pub async fn collect_evidence(
    bitcoin: &BitcoinRpc,
    position: u64,
    proof: SlotProof,
    initial: Txid,
    known: &[Transaction],
    max_confirmations: usize,
) -> Result<(AttestationEvidence, Vec<Transaction>), CollectError> {
    let txid: Txid = proof
        .txid
        .parse()
        .map_err(|_| CollectError::BadTxid(proof.txid.clone()))?;
    let info = bitcoin.get_raw_transaction_info(&txid).await?;
    let block = info.blockhash.ok_or(CollectError::Unconfirmed(txid))?;

    let known_ids: Vec<Txid> = known.iter().map(Transaction::compute_txid).collect();
    let mut newer = Vec::new();
    let mut current = info.transaction;
    let mut steps = 0usize;
    let prefix_len = loop {
        let id = current.compute_txid();
        if let Some(at) = known_ids.iter().position(|k| *k == id) {
            break at.saturating_add(1);
        }
        let Some(previous) = current.input.first().map(|i| i.previous_output.txid) else {
            return Err(CollectError::StaychainNotReached {
                from: txid,
                initial,
                steps,
            });
        };
        newer.push(current);
        if previous == initial {
            break 0;
        }
        if let Some(at) = known_ids.iter().position(|k| *k == previous) {
            break at.saturating_add(1);
        }
        steps = steps.saturating_add(1);
        if steps > 1_000_000 {
            return Err(CollectError::StaychainNotReached {
                from: txid,
                initial,
                steps,
            });
        }
        current = bitcoin.get_raw_transaction(&previous).await?;
    };
    let mut chain: Vec<Transaction> = known.iter().take(prefix_len).cloned().collect();
    chain.extend(newer.into_iter().rev());

    let merkle_block = bitcoin.get_tx_out_proof(&[txid]).await?;
    let mut confirmations = Vec::new();
    let mut next = bitcoin.get_block_header_info(&block).await?.next;
    while let Some(hash) = next {
        if confirmations.len() >= max_confirmations {
            break;
        }
        confirmations.push(bitcoin.get_block_header(&hash).await?);
        next = bitcoin.get_block_header_info(&hash).await?.next;
    }
    let evidence = AttestationEvidence {
        position,
        slot_proof: proof,
        staychain: chain.iter().map(serialize_hex).collect(),
        merkle_block: serialize_hex(&merkle_block),
        confirmations: confirmations.iter().map(serialize_hex).collect(),
    };
    Ok((evidence, chain))
}
