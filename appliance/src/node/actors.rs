//! The node's actors. The chain and the mempool run on their own threads (`SyncArbiter`), since
//! block execution and signature checks are CPU work that must not stall the actix system
//! thread serving the API.

use std::sync::atomic::AtomicU64;

use actix::prelude::*;
use lightclient::certificate::CommitCertificate;
use lightclient::hash::Hash32;
use lightclient::tx::SignedTransaction;

use crate::chain::{BlockInput, Chain, ChainError, PreparedBlock};
use crate::ledger::SignatureCheck;
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

/// Owns the mempool.
pub struct MempoolActor {
    mempool: Mempool,
}

impl MempoolActor {
    /// Wraps a mempool.
    pub fn new(mempool: Mempool) -> Self {
        MempoolActor { mempool }
    }
}

impl Actor for MempoolActor {
    type Context = SyncContext<Self>;
}

/// Admits a transaction; the tip height bounds its expiry.
pub struct Submit(pub SignedTransaction, pub u64);

impl Message for Submit {
    type Result = Result<Hash32, MempoolError>;
}

impl Handler<Submit> for MempoolActor {
    type Result = Result<Hash32, MempoolError>;
    fn handle(&mut self, msg: Submit, _: &mut SyncContext<Self>) -> Self::Result {
        self.mempool.submit(msg.0, msg.1)
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
        self.mempool.remove_committed(msg.0.iter(), msg.1);
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
}
