//! The mempool: transactions waiting for a block. Each is checked once on entry — size, chain
//! binding, expiry window, duplicates, and its signature — so block execution need not verify it
//! again. It is bounded in transactions and in bytes, overall and per signer, so that one account
//! cannot crowd out the others; when full it refuses new transactions (the API answers 503 or 429
//! with `Retry-After`) rather than growing without limit.
//!
//! This type holds no I/O. The node's mempool actor writes each admitted transaction to a
//! [`log::MempoolLog`] (fsynced) before it answers, and rebuilds the mempool from it on restart.

pub mod log;

use std::collections::{BTreeMap, HashMap};

use lightclient::encoding::Encode;
use lightclient::hash::Hash32;
use lightclient::keys::AccountId;
use lightclient::tx::{ChainBinding, SignedTransaction};

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
    /// Bound to another chain (chain id or genesis hash).
    #[error(
        "transaction is for chain {found_chain} (genesis {found_genesis}); this is {expected_chain} (genesis {expected_genesis})"
    )]
    WrongChain {
        /// This chain's id.
        expected_chain: lightclient::header::ChainId,
        /// This chain's genesis hash.
        expected_genesis: Hash32,
        /// The transaction's chain id.
        found_chain: lightclient::header::ChainId,
        /// The transaction's genesis hash.
        found_genesis: Hash32,
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
    /// The mempool is full (transactions or bytes); try again later.
    #[error(
        "the mempool is full ({count} of {capacity} transactions, {bytes} of {max_bytes} bytes); retry later"
    )]
    Full {
        /// Transactions waiting.
        count: usize,
        /// Most transactions.
        capacity: usize,
        /// Bytes waiting.
        bytes: usize,
        /// Most bytes.
        max_bytes: usize,
    },
    /// This signer already has its share of the mempool waiting; try again after a block.
    #[error(
        "signer {signer} has {count} transactions ({bytes} bytes) waiting, its share is {max_count} ({max_bytes} bytes); retry later"
    )]
    SignerShare {
        /// The signer.
        signer: AccountId,
        /// Its transactions waiting.
        count: usize,
        /// Their bytes.
        bytes: usize,
        /// Its share in transactions.
        max_count: usize,
        /// Its share in bytes.
        max_bytes: usize,
    },
}

/// Limits of the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// Most transactions waiting at once.
    pub capacity: usize,
    /// Most bytes (canonical encodings) waiting at once.
    pub max_bytes: usize,
    /// Largest encoded transaction, bytes.
    pub max_tx_bytes: usize,
    /// Most transactions one signer may have waiting.
    pub max_per_signer: usize,
    /// Most bytes one signer may have waiting.
    pub max_bytes_per_signer: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            capacity: 50_000,
            max_bytes: 64 * 1024 * 1024,
            max_tx_bytes: 256 * 1024,
            max_per_signer: 5_000,
            max_bytes_per_signer: 8 * 1024 * 1024,
        }
    }
}

/// One waiting transaction.
#[derive(Debug, Clone)]
struct Entry {
    txid: Hash32,
    tx: SignedTransaction,
    size: usize,
    local: bool,
}

/// What one signer has waiting.
#[derive(Debug, Clone, Copy, Default)]
struct Share {
    count: usize,
    bytes: usize,
}

/// A transaction that passed every check and may be admitted under `seq` once it is durable.
#[derive(Debug)]
pub struct Checked {
    /// Its position in arrival order.
    pub seq: u64,
    /// Its id.
    pub txid: Hash32,
    /// The transaction.
    pub tx: SignedTransaction,
    /// Whether it came to this node from a client (true) or from a peer's relay (false); this
    /// node relays only the former.
    pub local: bool,
    size: usize,
}

/// Transactions waiting for a block, in arrival order.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    chain: ChainBinding,
    next_seq: u64,
    bytes: usize,
    queue: BTreeMap<u64, Entry>,
    index: HashMap<Hash32, u64>,
    shares: HashMap<AccountId, Share>,
}

impl Mempool {
    /// An empty mempool for the chain `chain`.
    pub fn new(chain: ChainBinding, config: MempoolConfig) -> Self {
        Mempool {
            config,
            chain,
            next_seq: 0,
            bytes: 0,
            queue: BTreeMap::new(),
            index: HashMap::new(),
            shares: HashMap::new(),
        }
    }

    /// Runs every admission check on `tx`, where `tip_height` is the last committed height, and
    /// assigns its position. Nothing changes until [`Mempool::insert`].
    pub fn check(&self, tx: SignedTransaction, tip_height: u64) -> Result<Checked, MempoolError> {
        let size = tx.to_bytes().len();
        if size > self.config.max_tx_bytes {
            return Err(MempoolError::TooLarge {
                size,
                limit: self.config.max_tx_bytes,
            });
        }
        if tx.transaction.chain_id != self.chain.chain_id
            || tx.transaction.genesis_hash != self.chain.genesis_hash
        {
            return Err(MempoolError::WrongChain {
                expected_chain: self.chain.chain_id.clone(),
                expected_genesis: self.chain.genesis_hash,
                found_chain: tx.transaction.chain_id.clone(),
                found_genesis: tx.transaction.genesis_hash,
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
        if self.queue.len() >= self.config.capacity
            || self.bytes.saturating_add(size) > self.config.max_bytes
        {
            return Err(MempoolError::Full {
                count: self.queue.len(),
                capacity: self.config.capacity,
                bytes: self.bytes,
                max_bytes: self.config.max_bytes,
            });
        }
        let signer = tx.transaction.signer;
        let share = self.shares.get(&signer).copied().unwrap_or_default();
        if share.count >= self.config.max_per_signer
            || share.bytes.saturating_add(size) > self.config.max_bytes_per_signer
        {
            return Err(MempoolError::SignerShare {
                signer,
                count: share.count,
                bytes: share.bytes,
                max_count: self.config.max_per_signer,
                max_bytes: self.config.max_bytes_per_signer,
            });
        }
        tx.verify_signature().map_err(MempoolError::BadSignature)?;
        Ok(Checked {
            seq: self.next_seq,
            txid,
            tx,
            local: true,
            size,
        })
    }

    /// Admits a checked transaction (once it is durable).
    pub fn insert(&mut self, checked: Checked) {
        let Checked {
            seq,
            txid,
            tx,
            local,
            size,
        } = checked;
        if self.index.contains_key(&txid) {
            return;
        }
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
        let share = self.shares.entry(tx.transaction.signer).or_default();
        share.count = share.count.saturating_add(1);
        share.bytes = share.bytes.saturating_add(size);
        self.bytes = self.bytes.saturating_add(size);
        self.queue.insert(
            seq,
            Entry {
                txid,
                tx,
                size,
                local,
            },
        );
        self.index.insert(txid, seq);
    }

    /// Checks and admits a transaction at once (for callers that keep no log).
    pub fn submit(
        &mut self,
        tx: SignedTransaction,
        tip_height: u64,
    ) -> Result<Hash32, MempoolError> {
        let checked = self.check(tx, tip_height)?;
        let txid = checked.txid;
        self.insert(checked);
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

    /// Bytes of waiting transactions (canonical encodings).
    pub fn bytes(&self) -> usize {
        self.bytes
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
        for entry in self.queue.values() {
            if chosen.len() >= max_txs || bytes.saturating_add(entry.size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(entry.size);
            chosen.push(entry.tx.clone());
        }
        chosen
    }

    /// Up to `max` waiting transactions that came from this node's clients after position
    /// `after` (all of them for `None`), with their positions: what the relay has yet to send a
    /// peer.
    pub fn local_after(&self, after: Option<u64>, max: usize) -> Vec<(u64, SignedTransaction)> {
        let start = after.map_or(0, |s| s.saturating_add(1));
        self.queue
            .range(start..)
            .filter(|(_, entry)| entry.local)
            .take(max)
            .map(|(seq, entry)| (*seq, entry.tx.clone()))
            .collect()
    }

    /// Removes the transactions a committed block included, and those that expired by then,
    /// and returns the positions it removed (for the log).
    pub fn remove_committed<'a>(
        &mut self,
        txids: impl IntoIterator<Item = &'a Hash32>,
        committed_height: u64,
    ) -> Vec<u64> {
        let mut removed: Vec<u64> = txids
            .into_iter()
            .filter_map(|txid| self.index.get(txid).copied())
            .collect();
        removed.extend(
            self.queue
                .iter()
                .filter(|(_, entry)| entry.tx.transaction.expires_at_height <= committed_height)
                .map(|(seq, _)| *seq),
        );
        removed.sort_unstable();
        removed.dedup();
        for seq in &removed {
            self.remove_seq(*seq);
        }
        removed
    }

    fn remove_seq(&mut self, seq: u64) {
        let Some(entry) = self.queue.remove(&seq) else {
            return;
        };
        self.index.remove(&entry.txid);
        self.bytes = self.bytes.saturating_sub(entry.size);
        let signer = entry.tx.transaction.signer;
        if let Some(share) = self.shares.get_mut(&signer) {
            share.count = share.count.saturating_sub(1);
            share.bytes = share.bytes.saturating_sub(entry.size);
            if share.count == 0 {
                self.shares.remove(&signer);
            }
        }
    }
}
