//! The node's actors. The chain and the mempool run on their own threads (`SyncArbiter`), since
//! block execution and signature checks are CPU work that must not stall the actix system
//! thread serving the API.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use lightclient::certificate::{CommitCertificate, CommitSignature};
use lightclient::hash::Hash32;
use lightclient::keys::ValidatorAddress;
use lightclient::tx::SignedTransaction;
use signer::watermark::{Position, Step, WatermarkedSigner};

use super::config::BlockConfig;
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

/// Produces blocks for a chain that this validator certifies alone (its key holds more than two
/// thirds of the power): it signs the precommit in its HSM through the watermark, so every block
/// carries a verifiable certificate. A federation of several validators uses the consensus
/// engine instead.
pub struct SoloProducer {
    chain: Addr<ChainActor>,
    mempool: Addr<MempoolActor>,
    signer: Arc<WatermarkedSigner>,
    validator: ValidatorAddress,
    config: BlockConfig,
    metrics: Arc<Metrics>,
    busy: Arc<AtomicBool>,
    last_block: Instant,
    heartbeat: Duration,
}

impl SoloProducer {
    /// A producer; `heartbeat` is the longest time without a block (empty blocks keep time).
    pub fn new(
        chain: Addr<ChainActor>,
        mempool: Addr<MempoolActor>,
        signer: Arc<WatermarkedSigner>,
        config: BlockConfig,
        metrics: Arc<Metrics>,
        heartbeat: Duration,
    ) -> Self {
        let validator = signer.public_key().validator_address();
        SoloProducer {
            chain,
            mempool,
            signer,
            validator,
            config,
            metrics,
            busy: Arc::default(),
            last_block: Instant::now()
                .checked_sub(heartbeat)
                .unwrap_or_else(Instant::now),
            heartbeat,
        }
    }
}

impl Actor for SoloProducer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(
            Duration::from_millis(self.config.interval_ms.max(10)),
            |this, ctx| {
                if this.busy.swap(true, Ordering::SeqCst) {
                    return;
                }
                let due = this.last_block.elapsed() >= this.heartbeat;
                let (chain, mempool, signer, validator, config, metrics, busy) = (
                    this.chain.clone(),
                    this.mempool.clone(),
                    Arc::clone(&this.signer),
                    this.validator,
                    this.config,
                    Arc::clone(&this.metrics),
                    Arc::clone(&this.busy),
                );
                let round = async move {
                    let result = produce(&chain, &mempool, &signer, validator, config, due).await;
                    busy.store(false, Ordering::SeqCst);
                    match result {
                        Ok(Some(block)) => {
                            metrics.height.store(block.header.height, Ordering::SeqCst);
                            metrics.blocks.fetch_add(1, Ordering::SeqCst);
                            let refused =
                                block.receipts.iter().filter(|r| r.code != 0).count() as u64;
                            metrics
                                .refused_in_blocks
                                .fetch_add(refused, Ordering::SeqCst);
                            metrics.applied.fetch_add(
                                (block.receipts.len() as u64).saturating_sub(refused),
                                Ordering::SeqCst,
                            );
                            true
                        }
                        Ok(None) => false,
                        Err(e) => {
                            metrics.production_errors.fetch_add(1, Ordering::SeqCst);
                            tracing::error!(error = %e, "block production failed");
                            false
                        }
                    }
                };
                ctx.spawn(fut::wrap_future::<_, Self>(round).map(|made, this, _| {
                    if made {
                        this.last_block = Instant::now();
                    }
                }));
            },
        );
    }
}

/// Why a block could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The chain refused.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The HSM refused or failed.
    #[error(transparent)]
    Signer(#[from] signer::SignerError),
    /// An actor is gone.
    #[error("actor unavailable: {0}")]
    Mailbox(#[from] MailboxError),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn produce(
    chain: &Addr<ChainActor>,
    mempool: &Addr<MempoolActor>,
    signer: &WatermarkedSigner,
    validator: ValidatorAddress,
    config: BlockConfig,
    heartbeat_due: bool,
) -> Result<Option<StoredBlock>, ProduceError> {
    let (max_txs, max_bytes) = (config.max_transactions, config.max_bytes);
    let transactions = mempool
        .send(Inspect(Box::new(move |m: &Mempool| {
            m.select(max_txs, max_bytes)
        })))
        .await?
        .unwrap_or_default();
    if transactions.is_empty() && !heartbeat_due {
        return Ok(None);
    }
    // Block time never goes backwards, whatever the clock does.
    let tip_time = chain
        .send(Read(Box::new(|c: &Chain| {
            Ok(c.tip().map_or(0, |h| h.time_ms))
        })))
        .await??;
    let input = BlockInput {
        time_ms: now_ms().max(tip_time.saturating_add(1)),
        proposer: validator,
        transactions,
    };
    // The mempool verified every signature on entry.
    let prepared = chain
        .send(Prepare(input, SignatureCheck::AlreadyVerified))
        .await??;
    let header = &prepared.block.header;
    let mut certificate = CommitCertificate {
        version: 1,
        height: header.height,
        round: 0,
        block_hash: prepared.hash(),
        signatures: Vec::new(),
    };
    let vote = certificate.precommit(&header.chain_id, validator);
    let position = Position {
        height: header.height,
        round: 0,
        step: Step::Precommit,
    };
    let signature = signer.sign_at(position, &vote.signing_digest()).await?;
    certificate.signatures.push(CommitSignature {
        validator,
        signature,
    });
    let block = chain.send(Commit(prepared, Some(certificate))).await??;
    let txids = block
        .transactions
        .iter()
        .map(SignedTransaction::txid)
        .collect();
    mempool
        .send(Committed(txids, block.header.height))
        .await?
        .ok();
    Ok(Some(block))
}
