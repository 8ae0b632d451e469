//! The Mainstay attestor: at each interval it commits the latest certified block hash to this
//! node's Mainstay slot, and when an attestation of one of its blocks is confirmed it collects
//! the evidence (slot proof, staychain, merkle block, headers), checks it as a light client
//! would, and stores it under the block's height for the API to serve.
//!
//! Mainstay or Bitcoin being unreachable only delays this: failures are logged and the next
//! interval tries again with the then-latest block, so the node catches up without a backlog.
//! Consensus never waits on the attestor.

use std::path::PathBuf;
use std::time::Duration;

use actix::Addr;
use lightclient::hash::Hash32;
use mainstay::bitcoin::Transaction;
use mainstay::bitcoin::consensus::encode::deserialize_hex;
use mainstay::bitcoin_rpc::BitcoinRpc;
use mainstay::client::{MainstayClient, RetryPolicy};
use mainstay::collect::{FollowError, collect_evidence, follow_headers, start_header_chain};
use mainstay::{
    AttestationError, AttestationEvidence, Checkpoint, HeaderChain, InclusionError,
    StaychainConfig, StaychainSpec,
};

use super::actors::{ChainActor, Read};
use super::config::MainstaySettings;

/// How far below the tip the attestor looks for the block an attestation names.
const SEARCH_DEPTH: u64 = 100_000;

/// Collected attestations waiting for their confirmations, at most.
const MAX_PENDING: usize = 64;

/// Evidence collected for an attestation not yet buried deeply enough.
#[derive(Debug)]
struct Pending {
    height: u64,
    commitment: String,
    evidence: AttestationEvidence,
}

/// Why one attestor step failed (logged; the next step retries).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestorError {
    /// The Mainstay service failed or is unreachable.
    #[error("mainstay: {0}")]
    Mainstay(#[from] mainstay::client::ClientError),
    /// Evidence could not be collected from Bitcoin.
    #[error("collecting evidence: {0}")]
    Collect(#[from] mainstay::collect::CollectError),
    /// Bitcoin's header chain could not be followed.
    #[error("following bitcoin headers: {0}")]
    Follow(#[from] FollowError),
    /// The collected evidence does not verify.
    #[error("the attestation of block {height} does not verify: {error}")]
    Invalid {
        /// The block.
        height: u64,
        /// Why.
        error: Box<AttestationError>,
    },
    /// The staychain spec is unusable.
    #[error("staychain spec: {0}")]
    Spec(String),
    /// The chain could not be read or written.
    #[error("chain: {0}")]
    Chain(String),
}

/// The attestor's state.
pub struct Attestor {
    settings: MainstaySettings,
    chain: Addr<ChainActor>,
    client: MainstayClient,
    bitcoin: BitcoinRpc,
    pinned_spec: PathBuf,
    staychain: Option<StaychainConfig>,
    /// Bitcoin's headers from the checkpoint, checked under the full difficulty rules; started
    /// on first use and followed each step (in memory: a restart follows again).
    headers: Option<HeaderChain>,
    /// Collected evidence whose block is not yet buried deeply enough, oldest first.
    pending: Vec<Pending>,
    last_sent: Option<Hash32>,
}

impl std::fmt::Debug for Attestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestor")
            .field("api", &self.settings.api)
            .field("position", &self.settings.position)
            .finish_non_exhaustive()
    }
}

impl Attestor {
    /// Builds the clients; nothing is contacted yet.
    pub fn new(
        settings: MainstaySettings,
        chain: Addr<ChainActor>,
        data_dir: &std::path::Path,
    ) -> Result<Self, AttestorError> {
        let client = MainstayClient::new(
            &settings.api,
            Duration::from_secs(20),
            RetryPolicy::default(),
        )?;
        let bitcoin = BitcoinRpc::new(
            settings.bitcoin_rpc.clone(),
            settings.bitcoin_rpc_user.clone(),
            settings.bitcoin_rpc_password.clone(),
        )
        .map_err(|e| AttestorError::Collect(e.into()))?;
        Ok(Attestor {
            pinned_spec: data_dir.join("mainstay-staychain.json"),
            settings,
            chain,
            client,
            bitcoin,
            staychain: None,
            headers: None,
            pending: Vec::new(),
            last_sent: None,
        })
    }

    /// Runs forever.
    pub async fn run(mut self) {
        let interval = Duration::from_millis(self.settings.interval_ms.max(100));
        let mut failing = false;
        loop {
            match self.step().await {
                Ok(()) => {
                    if failing {
                        tracing::info!("mainstay attestor working again");
                    }
                    failing = false;
                }
                // Logged once per outage at warn level, then quietly until it recovers.
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "mainstay attestor step failed; retrying each interval");
                    failing = true;
                }
                Err(e) => tracing::debug!(error = %e, "mainstay attestor step failed"),
            }
            tokio::time::sleep(interval).await;
        }
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::chain::Chain) -> Result<R, crate::chain::ChainError> + Send + 'static,
    ) -> Result<R, AttestorError> {
        match self.chain.send(Read(Box::new(f))).await {
            Ok(result) => result.map_err(|e| AttestorError::Chain(e.to_string())),
            Err(e) => Err(AttestorError::Chain(e.to_string())),
        }
    }

    async fn staychain(&mut self) -> Result<StaychainConfig, AttestorError> {
        if let Some(config) = &self.staychain {
            return Ok(config.clone());
        }
        let path = self
            .settings
            .staychain
            .clone()
            .unwrap_or(self.pinned_spec.clone());
        let spec: StaychainSpec = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AttestorError::Spec(format!("{}: {e}", path.display())))?,
            Err(e) if self.settings.staychain.is_some() => {
                return Err(AttestorError::Spec(format!("{}: {e}", path.display())));
            }
            Err(_) => {
                let spec = self.client.staychain().await?;
                let bytes = serde_json::to_vec_pretty(&spec)
                    .map_err(|e| AttestorError::Spec(e.to_string()))?;
                let temporary = path.with_extension("json.tmp");
                std::fs::write(&temporary, &bytes)
                    .and_then(|()| std::fs::rename(&temporary, &path))
                    .map_err(|e| AttestorError::Spec(format!("{}: {e}", path.display())))?;
                tracing::info!(initial_txid = %spec.initial_txid, "pinned the mainstay staychain");
                spec
            }
        };
        let config = spec
            .to_config()
            .map_err(|e| AttestorError::Spec(e.to_string()))?;
        self.staychain = Some(config.clone());
        Ok(config)
    }

    /// One round: send the tip, then record a new confirmed attestation if there is one.
    pub async fn step(&mut self) -> Result<(), AttestorError> {
        let tip = self
            .read(|chain| Ok(chain.tip().map(|header| (header.height, header.hash()))))
            .await?;
        if let Some((height, hash)) = tip
            && self.last_sent != Some(hash)
        {
            self.client
                .send_commitment(
                    self.settings.position,
                    &self.settings.token,
                    &hash.to_string(),
                    None,
                )
                .await?;
            tracing::debug!(height, %hash, "block hash committed to mainstay");
            self.last_sent = Some(hash);
        }
        self.record_latest().await
    }

    /// Collects the evidence of the slot's latest attestation when it is new, then stores the
    /// newest collected evidence whose block is buried deeply enough on the followed header
    /// chain. Attestations still too shallow wait in `pending`: a service may attest again before
    /// the last one has its confirmations, so waiting only for the latest could wait forever.
    async fn record_latest(&mut self) -> Result<(), AttestorError> {
        let proof = match self.client.latest_proof(self.settings.position).await {
            Ok(proof) => proof,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let latest = self
            .read(|chain| {
                chain
                    .store()
                    .latest_attestation()
                    .map_err(crate::chain::ChainError::from)
            })
            .await?;
        let (stored_txid, known): (Option<String>, Vec<Transaction>) = match &latest {
            Some((_, json)) => {
                let evidence: AttestationEvidence = serde_json::from_slice(json)
                    .map_err(|e| AttestorError::Chain(format!("stored attestation: {e}")))?;
                let known = evidence
                    .staychain
                    .iter()
                    .filter_map(|hex| deserialize_hex(hex).ok())
                    .collect();
                (Some(evidence.slot_proof.txid), known)
            }
            None => (None, Vec::new()),
        };
        let staychain = self.staychain().await?;
        let headers = match &mut self.headers {
            Some(headers) if headers.network() == staychain.network => headers,
            slot => {
                let checkpoint = self
                    .settings
                    .bitcoin_checkpoint
                    .unwrap_or_else(|| Checkpoint::genesis(staychain.network));
                let started =
                    start_header_chain(&self.bitcoin, staychain.network, checkpoint).await?;
                slot.insert(started)
            }
        };
        let now = u32::try_from(super::now_ms() / 1000).unwrap_or(u32::MAX);
        follow_headers(&self.bitcoin, headers, now).await?;

        let seen = stored_txid.as_deref() == Some(proof.txid.as_str())
            || self
                .pending
                .iter()
                .any(|p| p.evidence.slot_proof.txid == proof.txid);
        if !seen {
            let commitment = proof.commitment.clone();
            match self.height_of(&commitment).await? {
                None => {
                    tracing::warn!(%commitment, "the slot's attested commitment is no block of this chain");
                }
                Some(height) => {
                    let (evidence, _) = collect_evidence(
                        &self.bitcoin,
                        self.settings.position,
                        proof,
                        staychain.initial_txid,
                        &known,
                        self.settings.confirmations,
                    )
                    .await?;
                    if self.pending.len() >= MAX_PENDING {
                        self.pending.remove(0);
                    }
                    self.pending.push(Pending {
                        height,
                        commitment,
                        evidence,
                    });
                }
            }
        }
        let Some(headers) = &self.headers else {
            return Ok(());
        };
        // Newest first: the first one buried deeply enough supersedes every older one.
        let mut buried = None;
        for (index, pending) in self.pending.iter().enumerate().rev() {
            match pending
                .evidence
                .verify(&staychain, headers, Some(&pending.commitment))
            {
                Ok(report) => {
                    buried = Some((index, report));
                    break;
                }
                Err(AttestationError::Inclusion(
                    InclusionError::TooFewConfirmations { .. } | InclusionError::NotInChain { .. },
                )) => {}
                Err(error) => {
                    let height = pending.height;
                    self.pending.remove(index);
                    return Err(AttestorError::Invalid {
                        height,
                        error: Box::new(error),
                    });
                }
            }
        }
        let Some((index, report)) = buried else {
            return Ok(());
        };
        let Some(pending) = self.pending.drain(..=index).next_back() else {
            return Ok(());
        };
        let height = pending.height;
        let json = serde_json::to_vec(&pending.evidence)
            .map_err(|e| AttestorError::Chain(e.to_string()))?;
        self.read(move |chain| {
            chain
                .store()
                .put_attestation(height, &json)
                .map_err(crate::chain::ChainError::from)
        })
        .await?;
        tracing::info!(
            height,
            txid = %report.txid,
            block = %report.block,
            confirmations = report.confirmations,
            "block attested to bitcoin"
        );
        Ok(())
    }

    async fn height_of(&self, commitment: &str) -> Result<Option<u64>, AttestorError> {
        let wanted = commitment.to_ascii_lowercase();
        self.read(move |chain| {
            let top = chain.height();
            let bottom = top.saturating_sub(SEARCH_DEPTH);
            let mut height = top;
            while height > bottom {
                if let Some(block) = chain.store().block(height)?
                    && block.header.hash().to_string() == wanted
                {
                    return Ok(Some(height));
                }
                height = height.saturating_sub(1);
            }
            Ok(None)
        })
        .await
    }
}
