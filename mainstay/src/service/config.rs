//! The service's configuration file (TOML).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `mainstay serve` needs.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Where the service keeps its state.
    pub data_dir: PathBuf,
    /// The Bitcoin backend.
    pub bitcoin: BitcoinSettings,
    /// The staychain.
    pub staychain: StaychainSettings,
    /// Timing and fees.
    #[serde(default)]
    pub attestation: AttestationSettings,
    /// The slots clients commit to.
    pub slots: Vec<SlotSettings>,
}

impl ServiceConfig {
    /// Parses the TOML text of a config file.
    pub fn from_toml(text: &str) -> Result<Self, super::ServiceError> {
        toml::from_str(text).map_err(|e| super::ServiceError::Config(e.to_string()))
    }
}

/// Bitcoin Core's JSON-RPC, or the regtest double run in-process.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitcoinSettings {
    /// `bitcoin`, `testnet`, `signet` or `regtest`.
    pub network: String,
    /// Bitcoin Core's RPC URL (ignored with `regtest_double`).
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// RPC user.
    #[serde(default)]
    pub rpc_user: String,
    /// RPC password (never logged).
    #[serde(default)]
    pub rpc_password: String,
    /// Run the regtest double of Bitcoin Core in-process instead (development and tests).
    #[serde(default)]
    pub regtest_double: Option<RegtestDoubleSettings>,
}

/// The in-process regtest double.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegtestDoubleSettings {
    /// Where its RPC listens.
    pub listen: SocketAddr,
    /// A block is mined this often (milliseconds).
    #[serde(default = "default_block_interval")]
    pub block_interval_ms: u64,
}

fn default_block_interval() -> u64 {
    2_000
}

/// The staychain's key and start.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaychainSettings {
    /// The base key's chain code, 32 bytes hex.
    pub chain_code: String,
    /// The signing key's secret, 32 bytes hex (the `signer` crate's dev soft signer: a
    /// pay-to-contract spend needs the tweaked private key, which no supported HSM can derive).
    pub dev_secret: String,
    /// The transaction whose output 0 (paying P2WPKH to the base key) starts the chain. Without
    /// it, the service funds one from the regtest double's wallet on first start.
    #[serde(default)]
    pub initial_txid: Option<String>,
}

/// Timing and fees.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationSettings {
    /// How often the service looks for a new root or a confirmation (milliseconds).
    pub interval_ms: u64,
    /// Lowest fee rate (sat/vB).
    pub min_fee_rate: u64,
    /// Highest fee rate (sat/vB).
    pub max_fee_rate: u64,
    /// Confirmation target for `estimatesmartfee`.
    pub conf_target: u16,
}

impl Default for AttestationSettings {
    fn default() -> Self {
        AttestationSettings {
            interval_ms: 2_000,
            min_fee_rate: 1,
            max_fee_rate: 100,
            conf_target: 6,
        }
    }
}

/// One client slot.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSettings {
    /// Its position in the commitment tree.
    pub position: u64,
    /// Its auth token (a secret shared with the client; never logged).
    pub token: String,
    /// If set, commitments must be signed by this key (33 bytes hex).
    #[serde(default)]
    pub public_key: Option<String>,
}
