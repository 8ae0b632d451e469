//! Collecting attestation evidence: the slot proof from a Mainstay service, the staychain, the
//! merkle block and the confirming headers from a Bitcoin node — everything a light client then
//! checks with headers only (see [`crate::evidence`]) — and following a node's header chain from
//! a checkpoint ([`follow_headers`]).

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{BlockHash, Network, Transaction, Txid};

use crate::bitcoin_rpc::{BitcoinRpc, BitcoinRpcError};
use crate::evidence::AttestationEvidence;
use crate::headers::{Checkpoint, Extension, HeaderChain, HeaderChainError};
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

/// Why the followed header chain could not be brought up to a Bitcoin node's tip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// The Bitcoin node failed or does not know something.
    #[error("bitcoin node: {0}")]
    Bitcoin(#[from] BitcoinRpcError),
    /// The node's chain does not hold the checkpoint: it is on another chain, or not synced.
    #[error(
        "the bitcoin node has {found} at checkpoint height {height}, not the checkpoint {expected}"
    )]
    CheckpointNotOnNodeChain {
        /// The checkpoint height.
        height: u32,
        /// The checkpoint's hash.
        expected: BlockHash,
        /// What the node has there.
        found: BlockHash,
    },
    /// A header the node served breaks the rules.
    #[error("a header from the bitcoin node is refused: {0}")]
    Refused(#[from] HeaderChainError),
}

/// Headers fetched and checked per step of [`follow_headers`].
pub const FOLLOW_BATCH: u32 = 2_000;

/// Fetches the header chain at `checkpoint` from `bitcoin`: the checkpoint's header must hash to
/// the checkpoint.
pub async fn start_header_chain(
    bitcoin: &BitcoinRpc,
    network: Network,
    checkpoint: Checkpoint,
) -> Result<HeaderChain, FollowError> {
    let header = bitcoin.get_block_header(&checkpoint.hash).await?;
    Ok(HeaderChain::new(network, checkpoint, header)?)
}

/// Brings `chain` up to `bitcoin`'s best chain: finds where they part (a reorganisation), then
/// offers the node's headers from there in batches, each checked under the full difficulty
/// rules. `now` is the verifier's clock in Unix seconds. Returns the extensions made.
pub async fn follow_headers(
    bitcoin: &BitcoinRpc,
    chain: &mut HeaderChain,
    now: u32,
) -> Result<Vec<Extension>, FollowError> {
    let best = u32::try_from(bitcoin.get_block_count().await?).unwrap_or(u32::MAX);
    let checkpoint = chain.checkpoint();
    let mut fork = chain.tip_height().min(best);
    loop {
        let hash = bitcoin.get_block_hash(u64::from(fork)).await?;
        if chain.height_of(&hash) == Some(fork) {
            break;
        }
        if fork <= checkpoint.height {
            return Err(FollowError::CheckpointNotOnNodeChain {
                height: checkpoint.height,
                expected: checkpoint.hash,
                found: hash,
            });
        }
        fork = fork.saturating_sub(1);
    }
    let mut extensions = Vec::new();
    let mut next = fork.saturating_add(1);
    while next <= best {
        let last = next.saturating_add(FOLLOW_BATCH - 1).min(best);
        let mut batch = Vec::new();
        for height in next..=last {
            let hash = bitcoin.get_block_hash(u64::from(height)).await?;
            batch.push(bitcoin.get_block_header(&hash).await?);
        }
        extensions.push(chain.extend(&batch, now)?);
        if last == u32::MAX {
            break;
        }
        next = last.saturating_add(1);
    }
    Ok(extensions)
}
