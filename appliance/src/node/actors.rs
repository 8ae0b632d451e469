//! The node's actors. The chain and the mempool run on their own threads (`SyncArbiter`), since
//! block execution and signature checks are CPU work that must not stall the actix system
//! thread serving the API.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use actix::prelude::*;
use lightclient::certificate::CommitCertificate;
use lightclient::hash::Hash32;
use lightclient::tx::SignedTransaction;

use crate::chain::{BlockInput, Chain, ChainError, PreparedBlock};
use crate::ledger::SignatureCheck;
use crate::mempool::log::{LogRecord, MempoolLog, MempoolLogError};
use crate::mempool::{Mempool, MempoolError};
use crate::store::StoredBlock;

/// Owns the chain.
pub struct ChainActor {
    chain: Chain,
}

impl ChainActor {
    /// Wraps an opened chain.
    pub fn new(chain: Chain) -> Self {
        ChainActor { chain }
    }
}

impl Actor for ChainActor {
    type Context = SyncContext<Self>;
}

/// A read of the chain, run on the chain's thread.
pub type ChainReader<R> = Box<dyn FnOnce(&Chain) -> Result<R, ChainError> + Send>;

/// Reads anything from the chain.
pub struct Read<R>(pub ChainReader<R>);

impl<R: Send + 'static> Message for Read<R> {
    type Result = Result<R, ChainError>;
}

impl<R: Send + 'static> Handler<Read<R>> for ChainActor {
    type Result = Result<R, ChainError>;
    fn handle(&mut self, msg: Read<R>, _: &mut SyncContext<Self>) -> Self::Result {
        (msg.0)(&self.chain)
    }
}

/// Prepares the next block.
pub struct Prepare(pub BlockInput, pub SignatureCheck);

impl Message for Prepare {
    type Result = Result<PreparedBlock, ChainError>;
}

impl Handler<Prepare> for ChainActor {
    type Result = Result<PreparedBlock, ChainError>;
    fn handle(&mut self, msg: Prepare, _: &mut SyncContext<Self>) -> Self::Result {
        self.chain.prepare(msg.0, msg.1)
    }
}

/// Commits a prepared block with its certificate.
pub struct Commit(pub PreparedBlock, pub Option<CommitCertificate>);

impl Message for Commit {
    type Result = Result<StoredBlock, ChainError>;
}

impl Handler<Commit> for ChainActor {
    type Result = Result<StoredBlock, ChainError>;
    fn handle(&mut self, msg: Commit, _: &mut SyncContext<Self>) -> Self::Result {
        self.chain.commit(msg.0, msg.1)
    }
}

/// Owns the mempool and its durable log: a transaction is admitted only once its log record is
/// on disk.
pub struct MempoolActor {
    mempool: Mempool,
    log: Box<dyn MempoolLog>,
}

/// What restoring the mempool from its log found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Records admitted again.
    pub admitted: usize,
    /// Records dropped: included in a block meanwhile, expired, or no longer admissible.
    pub dropped: usize,
}

impl MempoolActor {
    /// Rebuilds the mempool from `log`: every record that is not `included` and still passes the
    /// admission checks at `tip_height` is admitted again at its old position; the rest are
    /// removed from the log.
    pub fn restore(
        mut mempool: Mempool,
        mut log: Box<dyn MempoolLog>,
        tip_height: u64,
        included: impl Fn(&Hash32) -> bool,
    ) -> Result<(Self, Restored), MempoolLogError> {
        let mut restored = Restored::default();
        let mut dropped = Vec::new();
        for LogRecord { seq, local, tx } in log.load()? {
            if included(&tx.txid()) {
                dropped.push(seq);
                continue;
            }
            match mempool.check(tx, tip_height) {
                Ok(mut checked) => {
                    checked.seq = seq;
                    checked.local = local;
                    mempool.insert(checked);
                    restored.admitted = restored.admitted.saturating_add(1);
                }
                Err(_) => dropped.push(seq),
            }
        }
        restored.dropped = dropped.len();
        log.remove(&dropped)?;
        Ok((MempoolActor { mempool, log }, restored))
    }

    /// The mempool it owns.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }
}

impl Actor for MempoolActor {
    type Context = SyncContext<Self>;
}

/// Why a submission was not admitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// A mempool rule refused it.
    #[error(transparent)]
    Refused(#[from] MempoolError),
    /// It could not be made durable (for instance the disk is full); nothing was admitted.
    #[error(transparent)]
    Log(#[from] MempoolLogError),
}

/// Admits a transaction.
pub struct Submit {
    /// The transaction.
    pub tx: SignedTransaction,
    /// The tip height, which bounds its expiry.
    pub tip_height: u64,
    /// Whether a client sent it (true), or a peer relayed it.
    pub local: bool,
}

impl Message for Submit {
    type Result = Result<Hash32, SubmitError>;
}

impl Handler<Submit> for MempoolActor {
    type Result = Result<Hash32, SubmitError>;
    fn handle(&mut self, msg: Submit, _: &mut SyncContext<Self>) -> Self::Result {
        let mut checked = self.mempool.check(msg.tx, msg.tip_height)?;
        checked.local = msg.local;
        self.log.append(checked.seq, checked.local, &checked.tx)?;
        let txid = checked.txid;
        self.mempool.insert(checked);
        Ok(txid)
    }
}

/// Reads anything from the mempool.
pub struct Inspect<R>(pub Box<dyn FnOnce(&Mempool) -> R + Send>);

impl<R: Send + 'static> Message for Inspect<R> {
    type Result = Result<R, ()>;
}

impl<R: Send + 'static> Handler<Inspect<R>> for MempoolActor {
    type Result = Result<R, ()>;
    fn handle(&mut self, msg: Inspect<R>, _: &mut SyncContext<Self>) -> Self::Result {
        Ok((msg.0)(&self.mempool))
    }
}

/// Forgets what a committed block included.
pub struct Committed(pub Vec<Hash32>, pub u64);

impl Message for Committed {
    type Result = Result<(), ()>;
}

impl Handler<Committed> for MempoolActor {
    type Result = Result<(), ()>;
    fn handle(&mut self, msg: Committed, _: &mut SyncContext<Self>) -> Self::Result {
        let removed = self.mempool.remove_committed(msg.0.iter(), msg.1);
        // A record left behind is dropped when the log is next restored.
        if let Err(e) = self.log.remove(&removed) {
            tracing::warn!(error = %e, "could not remove committed transactions from the mempool log");
        }
        Ok(())
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Height of the tip.
    pub height: AtomicU64,
    /// Blocks committed by this process.
    pub blocks: AtomicU64,
    /// Transactions applied.
    pub applied: AtomicU64,
    /// Transactions refused in blocks.
    pub refused_in_blocks: AtomicU64,
    /// Submissions refused by the mempool.
    pub refused_at_entry: AtomicU64,
    /// Block production failures.
    pub production_errors: AtomicU64,
    /// When this node last committed a block (or started), ms since the Unix epoch.
    pub last_commit_ms: AtomicU64,
    /// The consensus round in progress.
    pub round: AtomicU64,
    /// Signing attempts the HSM failed (each retry counts).
    pub hsm_errors: AtomicU64,
    /// Whether the HSM answered its last request.
    pub hsm_available: AtomicBool,
    /// Consensus peers connected.
    pub peers: AtomicU64,
    /// Transactions relayed to peers and acknowledged by them.
    pub relayed: AtomicU64,
    /// Nodes (this one and its connected peers) needed for a quorum of the validator set that
    /// certifies the next block.
    pub quorum_nodes: AtomicU64,
}

impl Metrics {
    /// Fresh counters for a node that starts at `height` now, with its HSM answering.
    pub fn starting(height: u64, now_ms: u64) -> Self {
        let metrics = Metrics::default();
        metrics.height.store(height, Ordering::SeqCst);
        metrics.last_commit_ms.store(now_ms, Ordering::SeqCst);
        metrics.hsm_available.store(true, Ordering::SeqCst);
        metrics
    }
}
