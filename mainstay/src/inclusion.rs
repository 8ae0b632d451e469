//! Bitcoin inclusion: the attestation transaction is under a block's merkle root (a BIP 37 merkle
//! block, as `gettxoutproof` returns it), and that block is on the header chain the verifier
//! follows from its checkpoint under the full difficulty rules ([`crate::headers`]), buried
//! under at least the required number of confirmations.

use bitcoin::{BlockHash, MerkleBlock, Txid};

use crate::headers::HeaderChain;

/// Why a transaction is not shown to be in a block of the followed chain.
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
    /// The block is not on the header chain the verifier follows.
    #[error(
        "block {block} is not on the followed header chain (checkpoint height {checkpoint_height}, tip height {tip_height})"
    )]
    NotInChain {
        /// The block holding the transaction.
        block: BlockHash,
        /// Where the followed chain starts.
        checkpoint_height: u32,
        /// Where it ends.
        tip_height: u32,
    },
    /// The block is on the chain but not buried deep enough.
    #[error("block {block} has {confirmations} confirmation(s), {required} are required")]
    TooFewConfirmations {
        /// The block.
        block: BlockHash,
        /// Its confirmations on the followed chain.
        confirmations: u32,
        /// The verifier's requirement.
        required: u32,
    },
}

/// A verified inclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    /// The block that holds the transaction.
    pub block: BlockHash,
    /// Its height.
    pub height: u32,
    /// Blocks from that one to the followed chain's tip, counting itself.
    pub confirmations: u32,
}

/// Checks that `txid` is under the merkle root of the block in `proof`, and returns that block.
/// This alone says nothing about the block's place in Bitcoin: see [`verify_inclusion`].
pub fn verify_merkle_block(txid: Txid, proof: &MerkleBlock) -> Result<BlockHash, InclusionError> {
    let header = &proof.header;
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
    Ok(block)
}

/// Checks that `txid` is in the block of `proof`, that the block is on `chain`, and that it has
/// at least `min_confirmations` there.
pub fn verify_inclusion(
    txid: Txid,
    proof: &MerkleBlock,
    chain: &HeaderChain,
    min_confirmations: u32,
) -> Result<Inclusion, InclusionError> {
    let block = verify_merkle_block(txid, proof)?;
    let height = chain
        .height_of(&block)
        .ok_or_else(|| InclusionError::NotInChain {
            block,
            checkpoint_height: chain.checkpoint().height,
            tip_height: chain.tip_height(),
        })?;
    let confirmations = chain.confirmations(&block);
    if confirmations < min_confirmations {
        return Err(InclusionError::TooFewConfirmations {
            block,
            confirmations,
            required: min_confirmations,
        });
    }
    Ok(Inclusion {
        block,
        height,
        confirmations,
    })
}
