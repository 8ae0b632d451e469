//! The mempool: transactions waiting for a block. Each is checked once on entry — size, chain,
//! expiry window, duplicates, and its signature — so block execution need not verify it again.
//! It is bounded: when full it refuses new transactions (the API answers 503, retry later) rather
//! than growing without limit.

use std::collections::{BTreeMap, HashMap};

use lightclient::encoding::Encode;
use lightclient::hash::Hash32;
use lightclient::header::ChainId;
use lightclient::tx::SignedTransaction;

use crate::ledger::MAX_TX_LIFETIME;

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MempoolError {
    /// Larger than a transaction may be.
    #[error("transaction is {size} bytes, more than the limit {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// For another chain.
    #[error("transaction is for chain {found}, this is {expected}")]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The transaction's.
        found: ChainId,
    },
    /// It can no longer be included.
    #[error("transaction expired at height {expires_at_height}; the next block is {next_height}")]
    Expired {
        /// Its expiry.
        expires_at_height: u64,
        /// The next block.
        next_height: u64,
    },
    /// Its expiry is further ahead than allowed.
    #[error("expiry height {expires_at_height} is beyond the limit {limit}")]
    ExpiryTooFar {
        /// Its expiry.
        expires_at_height: u64,
        /// The limit.
        limit: u64,
    },
    /// Already waiting.
    #[error("transaction {0} is already pending")]
    Duplicate(Hash32),
    /// Its signature does not verify.
    #[error("the transaction's signature does not verify: {0}")]
    BadSignature(lightclient::KeyError),
    /// The mempool is full; try again later.
    #[error("the mempool is full ({capacity} transactions); retry later")]
    Full {
        /// Its capacity.
        capacity: usize,
    },
}

/// Limits of the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most transactions waiting at once.
    pub capacity: usize,
    /// Largest encoded transaction, bytes.
    pub max_tx_bytes: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            capacity: 50_000,
            max_tx_bytes: 256 * 1024,
        }
    }
}

/// Transactions waiting for a block, in arrival order.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    chain_id: ChainId,
    next_seq: u64,
    queue: BTreeMap<u64, (Hash32, SignedTransaction, usize)>,
    index: HashMap<Hash32, u64>,
}

impl Mempool {
    /// An empty mempool for `chain_id`.
    pub fn new(chain_id: ChainId, config: MempoolConfig) -> Self {
        Mempool {
            config,
            chain_id,
            next_seq: 0,
            queue: BTreeMap::new(),
            index: HashMap::new(),
        }
    }

    /// Checks and admits a transaction; `tip_height` is the last committed height.
    pub fn submit(
        &mut self,
        tx: SignedTransaction,
        tip_height: u64,
    ) -> Result<Hash32, MempoolError> {
        let size = tx.to_bytes().len();
        if size > self.config.max_tx_bytes {
            return Err(MempoolError::TooLarge {
                size,
                limit: self.config.max_tx_bytes,
            });
        }
        if tx.transaction.chain_id != self.chain_id {
            return Err(MempoolError::WrongChain {
                expected: self.chain_id.clone(),
                found: tx.transaction.chain_id,
            });
        }
        let next_height = tip_height.saturating_add(1);
        let expires_at_height = tx.transaction.expires_at_height;
        if expires_at_height < next_height {
            return Err(MempoolError::Expired {
                expires_at_height,
                next_height,
            });
        }
        let limit = next_height.saturating_add(MAX_TX_LIFETIME);
        if expires_at_height > limit {
            return Err(MempoolError::ExpiryTooFar {
                expires_at_height,
                limit,
            });
        }
        let txid = tx.txid();
        if self.index.contains_key(&txid) {
            return Err(MempoolError::Duplicate(txid));
        }
        if self.queue.len() >= self.config.capacity {
            return Err(MempoolError::Full {
                capacity: self.config.capacity,
            });
        }
        tx.verify_signature().map_err(MempoolError::BadSignature)?;
        let seq = self.next_seq;
        self.next_seq = seq.saturating_add(1);
        self.queue.insert(seq, (txid, tx, size));
        self.index.insert(txid, seq);
        Ok(txid)
    }

    /// Whether `txid` is waiting (its signature was verified on entry).
    pub fn contains(&self, txid: &Hash32) -> bool {
        self.index.contains_key(txid)
    }

    /// Number of waiting transactions.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The oldest waiting transactions that fit in a block of at most `max_txs` transactions and
    /// `max_bytes` bytes. They stay in the mempool until a block including them is committed.
    pub fn select(&self, max_txs: usize, max_bytes: usize) -> Vec<SignedTransaction> {
        let mut bytes = 0usize;
        let mut chosen = Vec::new();
        for (_, tx, size) in self.queue.values() {
            if chosen.len() >= max_txs || bytes.saturating_add(*size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(*size);
            chosen.push(tx.clone());
        }
        chosen
    }

    /// Removes the transactions a committed block included, and those that expired by then.
    pub fn remove_committed<'a>(
        &mut self,
        txids: impl IntoIterator<Item = &'a Hash32>,
        committed_height: u64,
    ) {
        for txid in txids {
            if let Some(seq) = self.index.remove(txid) {
                self.queue.remove(&seq);
            }
        }
        let expired: Vec<(u64, Hash32)> = self
            .queue
            .iter()
            .filter(|(_, (_, tx, _))| tx.transaction.expires_at_height <= committed_height)
            .map(|(seq, (txid, _, _))| (*seq, *txid))
            .collect();
        for (seq, txid) in expired {
            self.queue.remove(&seq);
            self.index.remove(&txid);
        }
    }
}
