//! The node's configuration file (TOML).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use signer::pkcs11::Pkcs11Config;
use signer::yubihsm::YubiHsmConfig;

use crate::mempool::MempoolConfig;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the store and the signing watermark live.
    pub data_dir: PathBuf,
    /// The genesis file.
    pub genesis: PathBuf,
    /// HTTP API.
    pub api: ApiConfig,
    /// Block production.
    #[serde(default)]
    pub blocks: BlockConfig,
    /// Mempool limits.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// The validator's HSM key.
    pub hsm: HsmConfig,
    /// Consensus networking and timing.
    pub consensus: ConsensusSettings,
    /// Attestation of certified block hashes to Bitcoin through Mainstay (off when absent).
    #[serde(default)]
    pub mainstay: Option<MainstaySettings>,
    /// Publication of every mapping version to IPFS (off when absent).
    #[serde(default)]
    pub ipfs: Option<IpfsSettings>,
    /// The vault console's websocket (off when absent; `docs/console-protocol.md`).
    #[serde(default)]
    pub console: Option<crate::console::server::ConsoleSettings>,
    /// Where admitted transactions are relayed (the other validators' APIs).
    #[serde(default)]
    pub relay: crate::node::relay::RelaySettings,
    /// What `/ready` checks.
    #[serde(default)]
    pub health: HealthSettings,
}

/// What `/ready` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// Not ready once no block has been committed for this many block intervals (the longer of
    /// `blocks.interval_ms` and `consensus.idle_block_ms`).
    pub stall_intervals: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            stall_intervals: 10,
        }
    }
}

/// The IPFS daemon mapping versions are added to and pinned on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpfsSettings {
    /// The daemon's RPC API, e.g. `http://127.0.0.1:5001`.
    pub api: String,
    /// Timeout of one RPC call, ms.
    #[serde(default = "default_ipfs_timeout_ms")]
    pub timeout_ms: u64,
    /// How often to look for new mapping versions, ms.
    #[serde(default = "default_ipfs_poll_ms")]
    pub poll_ms: u64,
    /// The longest wait between retries while the daemon is down, ms.
    #[serde(default = "default_ipfs_retry_max_ms")]
    pub retry_max_ms: u64,
}

fn default_ipfs_timeout_ms() -> u64 {
    10_000
}

fn default_ipfs_poll_ms() -> u64 {
    1_000
}

fn default_ipfs_retry_max_ms() -> u64 {
    30_000
}

/// Where and how often the attestor commits the latest certified block hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MainstaySettings {
    /// The Mainstay API base (`https://mainstay.xyz/api/v1`, or a self-hosted service).
    pub api: String,
    /// This node's slot.
    pub position: u64,
    /// The slot's auth token (a secret: never logged).
    pub token: String,
    /// How often to commit the latest certified block and look for its attestation, ms.
    #[serde(default = "default_attest_interval_ms")]
    pub interval_ms: u64,
    /// Bitcoin Core's JSON-RPC, for the attestation transactions, merkle proofs and headers.
    pub bitcoin_rpc: String,
    /// RPC user.
    #[serde(default)]
    pub bitcoin_rpc_user: String,
    /// RPC password (a secret: never logged).
    #[serde(default)]
    pub bitcoin_rpc_password: String,
    /// Headers after the attestation's block to keep with the proof.
    #[serde(default = "default_confirmations")]
    pub confirmations: usize,
    /// Where the node starts following Bitcoin's header chain (`HEIGHT:HASH`, on mainnet the
    /// first block of a difficulty period); every header after it is checked under the full
    /// difficulty rules. Without it, the network's genesis block.
    #[serde(default)]
    pub bitcoin_checkpoint: Option<mainstay::Checkpoint>,
    /// A JSON staychain spec (network, initial txid, keys). Without it the node asks the
    /// service's `/staychain` once and pins the answer in its store.
    #[serde(default)]
    pub staychain: Option<PathBuf>,
}

fn default_attest_interval_ms() -> u64 {
    60_000
}

fn default_confirmations() -> usize {
    6
}

/// Consensus networking and timing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSettings {
    /// Where this node listens for its peers, as a multiaddress
    /// (`/ip4/10.0.0.1/tcp/27000`).
    pub listen: String,
    /// The other validators' listen addresses.
    #[serde(default)]
    pub peers: Vec<String>,
    /// How long validators wait for a round's proposal, milliseconds. Later rounds wait longer.
    #[serde(default = "default_propose_timeout_ms")]
    pub propose_timeout_ms: u64,
    /// Longest wait for transactions before a proposer proposes an empty block, milliseconds
    /// (capped below the propose timeout).
    #[serde(default = "default_idle_block_ms")]
    pub idle_block_ms: u64,
}

fn default_propose_timeout_ms() -> u64 {
    3_000
}

fn default_idle_block_ms() -> u64 {
    2_000
}

/// HTTP API settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: SocketAddr,
}

/// Block production settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockConfig {
    /// Time between blocks when transactions wait, milliseconds.
    pub interval_ms: u64,
    /// Most transactions per block.
    pub max_transactions: usize,
    /// Most bytes of transactions per block.
    pub max_bytes: usize,
    /// Ledger snapshot interval, blocks.
    pub snapshot_every: u64,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            interval_ms: 500,
            max_transactions: 5_000,
            max_bytes: 4 * 1024 * 1024,
            snapshot_every: 100,
        }
    }
}

/// Which HSM holds the validator key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum HsmConfig {
    /// A PKCS#11 token.
    Pkcs11 {
        /// Key label.
        key_label: String,
        /// Token settings.
        #[serde(flatten)]
        token: Pkcs11Config,
    },
    /// A YubiHSM 2 (or hsm-sim) through its connector.
    Yubihsm {
        /// Key label.
        key_label: String,
        /// Connector settings.
        #[serde(flatten)]
        connector: YubiHsmConfig,
    },
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid configuration TOML.
    #[error("{path} is not a valid node configuration: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its position.
        message: String,
    },
}

impl NodeConfig {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.into(),
            message,
        })
    }

    /// Parses configuration TOML.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}
