//! The application side of the engine: it builds blocks when this validator proposes,
//! re-executes every other proposal before consensus may vote for it, commits decided blocks
//! with their certificates, and serves and checks blocks for nodes that catch up.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::{Addr, MailboxError};
use bytes::Bytes;
use lightclient::certificate::{CERTIFICATE_VERSION, CommitCertificate, CommitSignature};
use lightclient::encoding::{Decode, Encode};
use lightclient::hash::Hash32;
use lightclient::tx::SignedTransaction;
use malachitebft_app_channel::app::engine::host::{Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::StreamId;
use malachitebft_app_channel::app::types::core::{
    self as mc, ExtendedCommitCertificate, ExtendedCommitSignature, HeightParams, LinearTimeouts,
    Round, Validity,
};
use malachitebft_app_channel::app::types::{LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_sync::RawDecidedValue;
use tokio::sync::mpsc;

use super::context::{Address, BlockValue, Ctx, Height, ValidatorSet};
use super::parts::{self, BlockProposal, Reassembly, StreamHeader};
use crate::chain::{BlockInput, Chain, ChainError, PreparedBlock};
use crate::ledger::SignatureCheck;
use crate::mempool::Mempool;
use crate::node::actors::{
    ChainActor, Commit, Committed, Inspect, MempoolActor, Metrics, Prepare, Read,
};
use crate::node::config::BlockConfig;
use crate::node::now_ms;
use crate::store::StoredBlock;

/// How far ahead of this node's clock a proposed block's time may be.
const MAX_CLOCK_DRIFT_MS: u64 = 15_000;

/// Blocks served per sync request.
const MAX_SYNC_BATCH: u64 = 20;

/// Why the application loop stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// An actor is gone.
    #[error("actor unavailable: {0}")]
    Mailbox(#[from] MailboxError),
    /// The engine decided a block this node never received.
    #[error("consensus decided block {0} at height {1}, which this node does not hold")]
    UnknownDecision(Hash32, u64),
    /// Storing a proposal failed.
    #[error("cannot persist a proposal in {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The engine's channels closed: it stopped.
    #[error("the consensus engine stopped")]
    EngineStopped,
    /// A node that followed without voting has caught up with its watermark; restarted, it
    /// votes again.
    #[error("caught up to height {0}, past this key's watermark: restart to vote again")]
    CaughtUp(u64),
    /// The chain cannot say which validators certify a height (it is neither committed nor
    /// the next one).
    #[error("no validator set is known for height {0}")]
    NoValidatorSet(u64),
}

/// A block this node has executed and may see decided.
struct Candidate {
    prepared: PreparedBlock,
    proposal: BlockProposal,
}

/// A block that this node proposes, built on the engine's request.
struct Built {
    height: Height,
    round: Round,
    result: Result<(BlockProposal, PreparedBlock), AppError>,
    reply: tokio::sync::oneshot::Sender<LocallyProposedValue<Ctx>>,
}

/// Settings of the application loop.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// This validator.
    pub address: Address,
    /// Block limits and pacing.
    pub blocks: BlockConfig,
    /// Consensus timeouts.
    pub timeouts: LinearTimeouts,
    /// Longest wait for transactions before proposing an empty block.
    pub idle_block: Duration,
    /// Where this node's own proposals are kept until decided.
    pub proposals_dir: PathBuf,
    /// Set when the node follows without voting until its store passes this height.
    pub follow_until: Option<u64>,
}

/// The application loop's state.
pub struct App {
    settings: AppSettings,
    chain: Addr<ChainActor>,
    mempool: Addr<MempoolActor>,
    metrics: Arc<Metrics>,
    candidates: HashMap<Hash32, Candidate>,
    early: HashMap<u64, Vec<(StreamHeader, BlockProposal)>>,
    streams: Reassembly,
    stream_counter: u64,
    current_height: u64,
    last_commit: Instant,
}

impl App {
    /// An application loop over the chain and mempool actors.
    pub fn new(
        settings: AppSettings,
        chain: Addr<ChainActor>,
        mempool: Addr<MempoolActor>,
        metrics: Arc<Metrics>,
    ) -> Self {
        App {
            settings,
            chain,
            mempool,
            metrics,
            candidates: HashMap::new(),
            early: HashMap::new(),
            streams: Reassembly::default(),
            stream_counter: 0,
            current_height: 0,
            last_commit: Instant::now(),
        }
    }

    /// What Malachite needs to start `height`: the validator set in force there (ADR 0016),
    /// read from the chain, which has committed the height before.
    async fn params(&self, height: u64) -> Result<HeightParams<Ctx>, AppError> {
        let set = self
            .chain
            .send(Read(Box::new(move |c: &Chain| c.validators_at(height))))
            .await??
            .ok_or(AppError::NoValidatorSet(height))?;
        let quorum = set.quorum_size();
        self.metrics.quorum_nodes.store(quorum, Ordering::SeqCst);
        Ok(HeightParams::new(
            ValidatorSet::from_light_client(&set),
            self.settings.timeouts,
            None,
        ))
    }

    async fn tip(&self) -> Result<(u64, u64), AppError> {
        Ok(self
            .chain
            .send(Read(Box::new(|c: &Chain| {
                Ok((c.height(), c.tip().map_or(0, |h| h.time_ms)))
            })))
            .await??)
    }

    /// Runs until the engine stops or a fatal error.
    pub async fn run(mut self, mut channels: Channels<Ctx>) -> Result<(), AppError> {
        let (built_tx, mut built_rx) = mpsc::channel::<Built>(4);
        loop {
            tokio::select! {
                message = channels.consensus.recv() => {
                    let Some(message) = message else { return Err(AppError::EngineStopped) };
                    self.handle(message, &channels, &built_tx).await?;
                }
                Some(built) = built_rx.recv() => self.proposal_built(built, &channels).await?,
            }
        }
    }

    async fn handle(
        &mut self,
        message: AppMsg<Ctx>,
        channels: &Channels<Ctx>,
        built_tx: &mpsc::Sender<Built>,
    ) -> Result<(), AppError> {
        match message {
            AppMsg::ConsensusReady { reply } => {
                let (height, _) = self.tip().await?;
                let next = height.saturating_add(1);
                tracing::info!(next, "consensus ready");
                let params = self.params(next).await?;
                let _ = reply.send((Height(next), params));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                reply_value,
                ..
            } => {
                tracing::debug!(%height, %round, %proposer, "round started");
                self.metrics
                    .round
                    .store(round.as_i64().try_into().unwrap_or(0), Ordering::SeqCst);
                if height.0 != self.current_height {
                    self.current_height = height.0;
                    self.streams.clear();
                    self.candidates
                        .retain(|_, c| c.proposal.header.height >= height.0);
                    self.early.retain(|h, _| *h >= height.0);
                }
                let mut ready = Vec::new();
                for (header, block) in self.early.remove(&height.0).unwrap_or_default() {
                    ready.push(self.validate(header, block).await?);
                }
                let _ = reply_value.send(ready);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => self.build(height, round, timeout, reply, built_tx),
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let publisher = published_by.unwrap_or(from);
                let outcome = match self.streams.insert(publisher, part) {
                    None => None,
                    Some(Err(e)) => {
                        tracing::warn!(peer = %publisher, error = %e, "refused a proposal stream");
                        None
                    }
                    Some(Ok((header, block))) => self.received(header, block).await?,
                };
                let _ = reply.send(outcome);
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                address,
                value_id,
            } => {
                if let Some(candidate) = self.candidates.get(&value_id) {
                    let header = StreamHeader {
                        height,
                        round,
                        pol_round: valid_round,
                        proposer: address,
                        block_hash: value_id,
                    };
                    let bytes = candidate.proposal.to_bytes();
                    self.stream(&header, &bytes, channels).await?;
                }
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                self.decided(&certificate).await?;
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate, reply, ..
            } => {
                let next = certificate.height.0.saturating_add(1);
                let params = self.params(next).await?;
                let _ = reply.send(Next::Start(Height(next), params));
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let values = self.decided_values(range).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot serve decided blocks");
                    Vec::new()
                });
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self.synced(height, round, proposer, &value_bytes).await;
                let _ = reply.send(outcome);
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                let verdicts = extensions
                    .into_iter()
                    .map(|(address, _)| {
                        (
                            address,
                            Err(malachitebft_app_channel::app::consensus::VoteExtensionError::InvalidVoteExtension),
                        )
                    })
                    .collect();
                let _ = reply.send(verdicts);
            }
        }
        Ok(())
    }

    /// Builds this validator's block off the loop, so that waiting for transactions does not
    /// hold up the other messages; [`App::proposal_built`] finishes the job.
    fn build(
        &mut self,
        height: Height,
        round: Round,
        timeout: Duration,
        reply: tokio::sync::oneshot::Sender<LocallyProposedValue<Ctx>>,
        built_tx: &mpsc::Sender<Built>,
    ) {
        let chain = self.chain.clone();
        let mempool = self.mempool.clone();
        let settings = self.settings.clone();
        let since_commit = self.last_commit.elapsed();
        let built_tx = built_tx.clone();
        tokio::spawn(async move {
            let result = build_block(
                &chain,
                &mempool,
                &settings,
                height,
                round,
                timeout,
                since_commit,
            )
            .await;
            let _ = built_tx
                .send(Built {
                    height,
                    round,
                    result,
                    reply,
                })
                .await;
        });
    }

    async fn proposal_built(
        &mut self,
        built: Built,
        channels: &Channels<Ctx>,
    ) -> Result<(), AppError> {
        let (proposal, prepared) = match built.result {
            Ok(pair) => pair,
            Err(e) => {
                // No reply: the round times out and moves on to the next proposer.
                self.metrics
                    .production_errors
                    .fetch_add(1, Ordering::SeqCst);
                tracing::error!(height = %built.height, round = %built.round, error = %e, "cannot build a block");
                return Ok(());
            }
        };
        let hash = prepared.hash();
        let header = StreamHeader {
            height: built.height,
            round: built.round,
            pol_round: Round::Nil,
            proposer: self.settings.address,
            block_hash: hash,
        };
        let bytes = proposal.to_bytes();
        self.candidates
            .insert(hash, Candidate { prepared, proposal });
        let _ = built.reply.send(LocallyProposedValue::new(
            built.height,
            built.round,
            BlockValue(hash),
        ));
        self.stream(&header, &bytes, channels).await
    }

    async fn stream(
        &mut self,
        header: &StreamHeader,
        block: &[u8],
        channels: &Channels<Ctx>,
    ) -> Result<(), AppError> {
        self.stream_counter = self.stream_counter.saturating_add(1);
        let mut id = Vec::with_capacity(20);
        id.extend_from_slice(&header.height.0.to_be_bytes());
        id.extend_from_slice(&header.round.as_u32().unwrap_or(u32::MAX).to_be_bytes());
        id.extend_from_slice(&self.stream_counter.to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        for message in parts::split(&stream_id, header, block) {
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(message))
                .await
                .map_err(|_| AppError::EngineStopped)?;
        }
        Ok(())
    }

    async fn received(
        &mut self,
        header: StreamHeader,
        block: BlockProposal,
    ) -> Result<Option<ProposedValue<Ctx>>, AppError> {
        let (tip, _) = self.tip().await?;
        let next = tip.saturating_add(1);
        if header.height.0 > next {
            // Consensus is not there yet; validated when its round starts.
            self.early
                .entry(header.height.0)
                .or_default()
                .push((header, block));
            return Ok(None);
        }
        if header.height.0 < next {
            return Ok(None);
        }
        self.validate(header, block).await.map(Some)
    }

    /// Re-executes a proposed block on this node's state; valid only if every header field
    /// comes out the same.
    async fn validate(
        &mut self,
        header: StreamHeader,
        block: BlockProposal,
    ) -> Result<ProposedValue<Ctx>, AppError> {
        let value = ProposedValue {
            height: header.height,
            round: header.round,
            valid_round: header.pol_round,
            proposer: header.proposer,
            value: BlockValue(header.block_hash),
            validity: Validity::Invalid,
        };
        if self.candidates.contains_key(&header.block_hash) {
            return Ok(ProposedValue {
                validity: Validity::Valid,
                ..value
            });
        }
        match self.execute(&block).await? {
            Ok(prepared) => {
                // Durable before this node votes for it: if it crashes after the engine's WAL
                // records the decision but before the block is stored, the restarted node finds
                // the block here instead of holding a decision it cannot commit.
                persist_proposal(
                    &candidate_path(
                        &self.settings.proposals_dir,
                        header.height,
                        &header.block_hash,
                    ),
                    &block,
                )?;
                self.candidates.insert(
                    header.block_hash,
                    Candidate {
                        prepared,
                        proposal: block,
                    },
                );
                Ok(ProposedValue {
                    validity: Validity::Valid,
                    ..value
                })
            }
            Err(reason) => {
                tracing::warn!(height = %header.height, round = %header.round, proposer = %header.proposer, %reason, "proposal refused");
                Ok(value)
            }
        }
    }

    /// Executes `block` on the tip: `Ok(Err(reason))` if the block is not the one its header
    /// says; `Err` only for a local failure.
    async fn execute(
        &self,
        block: &BlockProposal,
    ) -> Result<Result<PreparedBlock, String>, AppError> {
        let (tip, tip_time) = self.tip().await?;
        let header = &block.header;
        if header.height != tip.saturating_add(1) {
            return Ok(Err(format!("height {} on tip {tip}", header.height)));
        }
        if header.time_ms <= tip_time && tip > 0 {
            return Ok(Err(format!(
                "time {} not after the tip's {tip_time}",
                header.time_ms
            )));
        }
        if header.time_ms > now_ms().saturating_add(MAX_CLOCK_DRIFT_MS) {
            return Ok(Err(format!(
                "time {} is more than {MAX_CLOCK_DRIFT_MS} ms ahead of this node's clock",
                header.time_ms
            )));
        }
        let proposer = header.proposer;
        let proposer_is_validator = self
            .chain
            .send(Read(Box::new(move |c: &Chain| {
                Ok(c.next_validators().get(&proposer).is_some())
            })))
            .await??;
        if !proposer_is_validator {
            return Ok(Err(format!(
                "proposer {} is not a validator",
                header.proposer
            )));
        }
        let input = BlockInput {
            time_ms: header.time_ms,
            proposer: header.proposer,
            transactions: block.transactions.clone(),
        };
        let prepared = match self
            .chain
            .send(Prepare(input, SignatureCheck::Verify))
            .await?
        {
            Ok(prepared) => prepared,
            Err(ChainError::Invariant(e)) => return Ok(Err(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        if let Err(mismatch) = crate::chain::compare_headers(&prepared.block.header, header) {
            return Ok(Err(mismatch.to_string()));
        }
        Ok(Ok(prepared))
    }

    async fn decided(&mut self, certificate: &mc::CommitCertificate<Ctx>) -> Result<(), AppError> {
        let height = certificate.height.0;
        let candidate = match self.candidates.remove(&certificate.value_id) {
            Some(candidate) => candidate,
            None => self.recover_candidate(certificate).await?,
        };
        let mut signatures: Vec<CommitSignature> = certificate
            .commit_signatures
            .iter()
            .map(|s| CommitSignature {
                validator: s.address.0,
                signature: s.signature,
            })
            .collect();
        signatures.sort_by_key(|s| s.validator);
        let ours = CommitCertificate {
            version: CERTIFICATE_VERSION,
            height,
            round: certificate.round.as_u32().unwrap_or(0),
            block_hash: certificate.value_id,
            signatures,
        };
        let block = self
            .chain
            .send(Commit(candidate.prepared, Some(ours)))
            .await??;
        self.last_commit = Instant::now();
        self.candidates
            .retain(|_, c| c.proposal.header.height > height);
        remove_proposals_up_to(&self.settings.proposals_dir, height);
        record(&self.metrics, &block);
        let txids = block
            .transactions
            .iter()
            .map(SignedTransaction::txid)
            .collect();
        self.mempool.send(Committed(txids, height)).await?.ok();
        if self
            .settings
            .follow_until
            .is_some_and(|until| height >= until)
        {
            return Err(AppError::CaughtUp(height));
        }
        tracing::info!(
            height,
            round = %certificate.round,
            hash = %certificate.value_id,
            transactions = block.transactions.len(),
            signatures = certificate.commit_signatures.len(),
            "block committed"
        );
        Ok(())
    }

    /// The decided block from this node's durable copy of the candidates it validated (after a
    /// restart the engine's WAL can replay a decision the store never received).
    async fn recover_candidate(
        &self,
        certificate: &mc::CommitCertificate<Ctx>,
    ) -> Result<Candidate, AppError> {
        let height = certificate.height.0;
        let unknown = || AppError::UnknownDecision(certificate.value_id, height);
        // Candidates it received, and the blocks it proposed itself, are kept by height.
        let prefix = format!("{height}-");
        let proposal = std::fs::read_dir(&self.settings.proposals_dir)
            .map_err(|_| unknown())?
            .flatten()
            .filter(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .filter_map(|entry| std::fs::read(entry.path()).ok())
            .filter_map(|bytes| BlockProposal::from_bytes(&bytes).ok())
            .find(|proposal| proposal.header.hash() == certificate.value_id)
            .ok_or_else(unknown)?;
        match self.execute(&proposal).await? {
            Ok(prepared) => {
                tracing::info!(height, hash = %certificate.value_id, "recovered the decided block from this node's candidates");
                Ok(Candidate { prepared, proposal })
            }
            Err(reason) => {
                tracing::error!(height, %reason, "the stored candidate of a decided block does not re-execute");
                Err(unknown())
            }
        }
    }

    async fn decided_values(
        &self,
        range: RangeInclusive<Height>,
    ) -> Result<Vec<RawDecidedValue<Ctx>>, AppError> {
        let start = range.start().0;
        let end = range
            .end()
            .0
            .min(start.saturating_add(MAX_SYNC_BATCH.saturating_sub(1)));
        let blocks = self
            .chain
            .send(Read(Box::new(move |c: &Chain| {
                let mut blocks = Vec::new();
                for height in start..=end.min(c.height()) {
                    match c.store().block(height)? {
                        Some(block) => blocks.push(block),
                        None => break,
                    }
                }
                Ok(blocks)
            })))
            .await??;
        let mut values = Vec::with_capacity(blocks.len());
        for block in blocks {
            let Some(certificate) = &block.certificate else {
                break;
            };
            let extended = ExtendedCommitCertificate {
                height: Height(certificate.height),
                round: Round::new(certificate.round),
                value_id: certificate.block_hash,
                commit_signatures: certificate
                    .signatures
                    .iter()
                    .map(|s| ExtendedCommitSignature::new(Address(s.validator), s.signature, None))
                    .collect(),
            };
            let proposal = BlockProposal {
                header: block.header,
                transactions: block.transactions,
            };
            values.push(RawDecidedValue::new(
                Bytes::from(proposal.to_bytes()),
                extended,
            ));
        }
        Ok(values)
    }

    async fn synced(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        value_bytes: &[u8],
    ) -> SyncedValueOutcome<Ctx> {
        let Ok(block) = BlockProposal::from_bytes(value_bytes) else {
            return SyncedValueOutcome::PeerFault;
        };
        if block.header.height != height.0 {
            return SyncedValueOutcome::PeerFault;
        }
        let hash = block.header.hash();
        let header = StreamHeader {
            height,
            round,
            pol_round: Round::Nil,
            proposer,
            block_hash: hash,
        };
        match self.validate(header, block).await {
            Ok(value) => SyncedValueOutcome::Verdict(value),
            Err(e) => {
                tracing::warn!(%height, error = %e, "cannot check a synced block");
                SyncedValueOutcome::LocalTransientError
            }
        }
    }
}

fn record(metrics: &Metrics, block: &StoredBlock) {
    metrics.height.store(block.header.height, Ordering::SeqCst);
    metrics.blocks.fetch_add(1, Ordering::SeqCst);
    metrics.last_commit_ms.store(now_ms(), Ordering::SeqCst);
    let refused = block.receipts.iter().filter(|r| r.code != 0).count() as u64;
    metrics
        .refused_in_blocks
        .fetch_add(refused, Ordering::SeqCst);
    metrics.applied.fetch_add(
        (block.receipts.len() as u64).saturating_sub(refused),
        Ordering::SeqCst,
    );
}

fn proposal_path(dir: &Path, height: Height, round: Round) -> PathBuf {
    dir.join(format!(
        "{}-{}.block",
        height.0,
        round.as_u32().unwrap_or(u32::MAX)
    ))
}

/// Where a validated candidate block is kept until its height is committed.
fn candidate_path(dir: &Path, height: Height, hash: &Hash32) -> PathBuf {
    dir.join(format!("{}-candidate-{hash}.block", height.0))
}

fn remove_proposals_up_to(dir: &Path, height: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|h| h.parse::<u64>().ok())
            .is_some_and(|h| h <= height);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes a proposal durably before it is announced: after a crash this validator must propose
/// the same block for the same round, or it would sign two proposals for one round.
fn persist_proposal(path: &Path, proposal: &BlockProposal) -> Result<(), AppError> {
    use std::io::Write;
    let io = |source| AppError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&proposal.to_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

async fn build_block(
    chain: &Addr<ChainActor>,
    mempool: &Addr<MempoolActor>,
    settings: &AppSettings,
    height: Height,
    round: Round,
    timeout: Duration,
    since_commit: Duration,
) -> Result<(BlockProposal, PreparedBlock), AppError> {
    let path = proposal_path(&settings.proposals_dir, height, round);
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(proposal) = BlockProposal::from_bytes(&bytes)
        && proposal.header.height == height.0
    {
        let input = BlockInput {
            time_ms: proposal.header.time_ms,
            proposer: proposal.header.proposer,
            transactions: proposal.transactions.clone(),
        };
        let prepared = chain.send(Prepare(input, SignatureCheck::Verify)).await??;
        if prepared.block.header == proposal.header {
            tracing::info!(%height, %round, "re-proposing the block persisted before a restart");
            return Ok((proposal, prepared));
        }
    }
    // Wait for transactions, but not past the proposal timeout; an idle chain still makes a
    // block now and then so that time moves on.
    let started = Instant::now();
    let patience = settings
        .idle_block
        .min(timeout.saturating_sub(Duration::from_millis(500)));
    let pace = Duration::from_millis(settings.blocks.interval_ms).saturating_sub(since_commit);
    tokio::time::sleep(pace).await;
    let (max_txs, max_bytes) = (settings.blocks.max_transactions, settings.blocks.max_bytes);
    let transactions = loop {
        let selected = mempool
            .send(Inspect(Box::new(move |m: &Mempool| {
                m.select(max_txs, max_bytes)
            })))
            .await?
            .unwrap_or_default();
        if !selected.is_empty() || started.elapsed() >= patience {
            break selected;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let tip_time = chain
        .send(Read(Box::new(|c: &Chain| {
            Ok(c.tip().map_or(0, |h| h.time_ms))
        })))
        .await??;
    let input = BlockInput {
        time_ms: now_ms().max(tip_time.saturating_add(1)),
        proposer: settings.address.0,
        transactions,
    };
    // The mempool verified every signature on entry.
    let prepared = chain
        .send(Prepare(input, SignatureCheck::AlreadyVerified))
        .await??;
    let proposal = BlockProposal {
        header: prepared.block.header.clone(),
        transactions: prepared.block.transactions.clone(),
    };
    persist_proposal(&path, &proposal)?;
    Ok((proposal, prepared))
}
