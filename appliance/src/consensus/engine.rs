//! Starting Malachite: its configuration from the node's, the network identity bound to the HSM
//! key, and the application loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use lightclient::genesis::Genesis;
use lightclient::keys::ValidatorAddress;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, NodeConfig as EngineNodeConfig, PubSubProtocol, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{LinearTimeouts, SigningScheme};
use malachitebft_app_channel::{
    ConsensusContext, NetworkContext, NetworkIdentity, RequestContext, SyncContext, WalContext,
};
use malachitebft_signing::Signer as _;
use signer::watermark::WatermarkedSigner;

use super::app::{App, AppError, AppSettings};
use super::codec::WireCodec;
use super::context::{Address, Ctx, Secp256k1};
use super::signing::{HsmSigner, SignatureVerifier};
use crate::node::actors::{ChainActor, MempoolActor, Metrics};
use crate::node::config::{BlockConfig, ConsensusSettings};

/// Why consensus could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A multiaddress in the configuration does not parse or has no TCP/QUIC part.
    #[error("consensus address {address:?}: {reason}")]
    Address {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The HSM could not sign this node's network identity.
    #[error("signing the network identity: {0}")]
    Identity(String),
    /// The engine refused to start.
    #[error("starting the consensus engine: {0}")]
    Start(String),
    /// The application loop failed.
    #[error(transparent)]
    App(#[from] AppError),
}

#[derive(Clone)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl EngineNodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn tcp_or_quic(address: &str) -> Result<Multiaddr, EngineError> {
    let parsed = address
        .parse::<Multiaddr>()
        .map_err(|e| EngineError::Address {
            address: address.into(),
            reason: e.to_string(),
        })?;
    let text = parsed.to_string();
    if !(text.contains("/tcp/") || text.contains("/quic-v1")) {
        return Err(EngineError::Address {
            address: address.into(),
            reason: "needs a /tcp/ or /quic-v1 part".into(),
        });
    }
    Ok(parsed)
}

/// Checks the configured addresses before anything starts (the engine would panic on them).
pub fn check_addresses(settings: &ConsensusSettings) -> Result<(), EngineError> {
    tcp_or_quic(&settings.listen)?;
    for peer in &settings.peers {
        tcp_or_quic(peer)?;
    }
    Ok(())
}

/// Everything consensus needs from the node.
pub struct ConsensusNode {
    /// The node's consensus settings.
    pub settings: ConsensusSettings,
    /// Block limits.
    pub blocks: BlockConfig,
    /// The genesis.
    pub genesis: Genesis,
    /// Data directory (WAL and pending proposals live under `consensus/`).
    pub data_dir: PathBuf,
    /// The validator key behind its watermark.
    pub signer: Arc<WatermarkedSigner>,
    /// The same key, for the network-identity proof.
    pub identity_signer: Arc<dyn signer::Signer>,
    /// The chain.
    pub chain: Addr<ChainActor>,
    /// The mempool.
    pub mempool: Addr<MempoolActor>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The chain's height when the node started.
    pub start_height: u64,
}

/// Keeps `metrics.peers` at the number of consensus peers connected, for `/ready` and
/// `/metrics`.
async fn count_peers(
    requests: tokio::sync::mpsc::Sender<malachitebft_app_channel::NetworkRequest>,
    metrics: Arc<Metrics>,
) {
    loop {
        match malachitebft_app_channel::NetworkRequest::dump_state(&requests).await {
            Ok(Some(dump)) => metrics.peers.store(
                u64::try_from(dump.peers.len()).unwrap_or(u64::MAX),
                std::sync::atomic::Ordering::SeqCst,
            ),
            Ok(None) => {}
            Err(_) if requests.is_closed() => return,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Starts the engine and runs the application loop until either stops. Returns only on failure.
pub async fn run(node: ConsensusNode) -> Result<(), EngineError> {
    let public_key = node.signer.public_key();
    let address = Address(public_key.validator_address());

    let mut consensus = ConsensusConfig::default();
    consensus.p2p.listen_addr = tcp_or_quic(&node.settings.listen)?;
    consensus.p2p.persistent_peers = node
        .settings
        .peers
        .iter()
        .map(|p| tcp_or_quic(p))
        .collect::<Result<_, _>>()?;
    // Every federation member dials every other directly; relaying adds nothing.
    consensus.p2p.protocol = PubSubProtocol::Broadcast;
    // All peers of a local federation share 127.0.0.1, and the per-IP limit counts them all.
    consensus.p2p.discovery.max_connections_per_ip = 64;
    let value_sync = ValueSyncConfig {
        status_update_interval: Duration::from_secs(2),
        ..ValueSyncConfig::default()
    };
    let config = EngineConfig {
        moniker: format!("validator-{address}"),
        consensus,
        value_sync,
    };

    // The network key is made afresh at every start and never stored: the peer id is bound to
    // the consensus key by the HSM signature below, and peers are dialled by address alone.
    let keypair = Keypair::ed25519_from_bytes(rand::random::<[u8; 32]>())
        .map_err(|e| EngineError::Identity(e.to_string()))?;
    let peer_id = keypair.public().to_peer_id();
    let chain_id = node.genesis.chain_id.clone();
    let signer = HsmSigner::new(
        chain_id.clone(),
        Arc::clone(&node.signer),
        Arc::clone(&node.identity_signer),
        Arc::clone(&node.metrics),
    );
    let proof = signer
        .sign_validator_proof(
            Secp256k1::encode_public_key(&public_key),
            peer_id.to_bytes(),
        )
        .await
        .map_err(|e| EngineError::Identity(e.to_string()))?;
    let proof_bytes = WireCodec
        .encode(&proof)
        .map_err(|e| EngineError::Identity(e.to_string()))?;
    let identity = NetworkIdentity::new_validator(
        config.moniker.clone(),
        keypair,
        address.to_string(),
        proof_bytes,
    );
    let verifier = SignatureVerifier::new(chain_id);
    // A store behind the watermark (restored or rebuilt) would make the engine ask for votes at
    // heights this key has already signed past; the watermark refuses them and the engine would
    // stop. Such a node follows the chain without voting until it has passed the watermark, then
    // exits for its supervisor to restart it as a validator.
    let follow_until = node
        .signer
        .last()
        .map(|position| position.height)
        .filter(|signed| *signed > node.start_height.saturating_add(1));
    // A key outside the set in force runs as a validator too: Malachite votes with it only at
    // heights whose set holds it, so a custodian admitted by a validator-set change starts
    // voting at its effective height without a restart (ADR 0016).
    let (consensus_context, identity) = if follow_until.is_none() {
        (
            ConsensusContext::new_validator(address, Box::new(verifier), Box::new(signer)),
            identity,
        )
    } else {
        if let Some(height) = follow_until {
            tracing::warn!(
                store = node.start_height,
                watermark = height,
                "the store is behind this key's watermark: following without voting until height {height}"
            );
        }
        let observer = NetworkIdentity::new(identity.moniker.clone(), identity.keypair, None);
        (
            ConsensusContext::new_full_node(Address(ValidatorAddress([0; 20])), Box::new(verifier)),
            observer,
        )
    };
    let consensus_dir = node.data_dir.join("consensus");
    let (channels, handle) = malachitebft_app_channel::start_engine(
        Ctx,
        config,
        WalContext::new(consensus_dir.join("wal").join("consensus.wal"), WireCodec),
        NetworkContext::new(identity, WireCodec),
        consensus_context,
        SyncContext::new(WireCodec),
        RequestContext::new(100),
    )
    .await
    .map_err(|e| EngineError::Start(format!("{e:#}")))?;
    tracing::info!(%peer_id, listen = %node.settings.listen, peers = node.settings.peers.len(), "consensus engine started");
    tokio::spawn(count_peers(
        channels.net_requests.clone(),
        Arc::clone(&node.metrics),
    ));

    let timeouts = LinearTimeouts {
        propose: Duration::from_millis(node.settings.propose_timeout_ms),
        ..LinearTimeouts::default()
    };
    let app = App::new(
        AppSettings {
            address,
            blocks: node.blocks,
            timeouts,
            idle_block: Duration::from_millis(node.settings.idle_block_ms),
            proposals_dir: consensus_dir.join("proposals"),
            follow_until,
        },
        node.chain,
        node.mempool,
        node.metrics,
    );
    let result = app.run(channels).await;
    handle.actor.stop(None);
    let _ = handle.handle.await;
    result.map_err(EngineError::from)
}
