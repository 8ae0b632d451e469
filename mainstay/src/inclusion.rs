//! Bitcoin inclusion: the attestation transaction is under a block's merkle root (a BIP 37 merkle
//! block, as `gettxoutproof` returns it), and that block is followed by a chain of headers, each
//! linked to its parent and carrying valid proof of work under the network's limit.
//!
//! Difficulty retargets are not recomputed: a verifier that needs that guarantee checks the block
//! hash against a header chain it follows itself. What this proves is that the block's header
//! and every confirmation carry real work at their stated targets.

use bitcoin::block::Header;
use bitcoin::{BlockHash, MerkleBlock, Network, Target, Txid};

/// Why a transaction is not shown to be in a block, or a header chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InclusionError {
    /// The partial merkle tree is malformed.
    #[error("the merkle proof is malformed: {0}")]
    BadMerkleProof(String),
    /// The partial merkle tree leads to another root than the block header's.
    #[error(
        "the merkle proof leads to root {computed}, not to block {block}'s merkle root {expected}"
    )]
    MerkleRootMismatch {
        /// The block.
        block: BlockHash,
        /// Where the proof leads.
        computed: String,
        /// The header's merkle root.
        expected: String,
    },
    /// The proof does not match the transaction.
    #[error("the merkle proof does not include transaction {0}")]
    NotIncluded(Txid),
    /// A header's hash does not meet its own target.
    #[error("header {index} ({block}) does not meet its target: invalid proof of work")]
    InvalidProofOfWork {
        /// 0 = the block holding the transaction, then each confirmation.
        index: usize,
        /// Its hash.
        block: BlockHash,
    },
    /// A header claims an easier target than the network allows.
    #[error("header {index} ({block}) claims a target above the network's proof-of-work limit")]
    TargetAboveLimit {
        /// Position.
        index: usize,
        /// Its hash.
        block: BlockHash,
    },
    /// A header does not build on the one before it.
    #[error("header {index} builds on {found}, not on the previous header {expected}")]
    NotLinked {
        /// Position.
        index: usize,
        /// The previous header's hash.
        expected: BlockHash,
        /// What it names as parent.
        found: BlockHash,
    },
}

/// A verified inclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    /// The block that holds the transaction.
    pub block: BlockHash,
    /// Blocks from that one to the last header given, counting itself (Bitcoin's "confirmations").
    pub confirmations: usize,
}

fn check_work(index: usize, header: &Header, limit: Target) -> Result<(), InclusionError> {
    let block = header.block_hash();
    if header.target() > limit {
        return Err(InclusionError::TargetAboveLimit { index, block });
    }
    header
        .validate_pow(header.target())
        .map(|_| ())
        .map_err(|_| InclusionError::InvalidProofOfWork { index, block })
}

/// Checks that `txid` is in the block of `proof` and that `confirmations` (the headers after it,
/// oldest first) build on it with valid work on `network`.
pub fn verify_inclusion(
    txid: Txid,
    proof: &MerkleBlock,
    confirmations: &[Header],
    network: Network,
) -> Result<Inclusion, InclusionError> {
    let limit = bitcoin::params::Params::new(network).max_attainable_target;
    let header = &proof.header;
    check_work(0, header, limit)?;
    let mut matches = Vec::new();
    let mut indexes = Vec::new();
    let root = proof
        .txn
        .extract_matches(&mut matches, &mut indexes)
        .map_err(|e| InclusionError::BadMerkleProof(e.to_string()))?;
    let block = header.block_hash();
    if root != header.merkle_root {
        return Err(InclusionError::MerkleRootMismatch {
            block,
            computed: root.to_string(),
            expected: header.merkle_root.to_string(),
        });
    }
    if !matches.contains(&txid) {
        return Err(InclusionError::NotIncluded(txid));
    }
    let mut previous = block;
    for (offset, next) in confirmations.iter().enumerate() {
        let index = offset.saturating_add(1);
        if next.prev_blockhash != previous {
            return Err(InclusionError::NotLinked {
                index,
                expected: previous,
                found: next.prev_blockhash,
            });
        }
        check_work(index, next, limit)?;
        previous = next.block_hash();
    }
    Ok(Inclusion {
        block,
        confirmations: confirmations.len().saturating_add(1),
    })
}
