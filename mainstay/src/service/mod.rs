//! The self-hosted Mainstay service (`mainstay serve`): the reference API over slots with auth
//! tokens, a commitment tree built by the reference rules, and a staychain of pay-to-contract
//! attestations built and signed with the `bitcoin` crate, broadcast through Bitcoin Core's
//! JSON-RPC — or, for development and tests, through the in-process [regtest double].
//!
//! [regtest double]: crate::regtest_double

pub mod attester;
pub mod config;
pub mod http;
pub mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bitcoin::{Address, Amount, Network};
use signer::Signer as _;
use signer::soft::SoftSigner;

use crate::bitcoin_rpc::{BitcoinRpc, BitcoinRpcError};
use crate::contract::{ContractError, ContractKey, ContractScheme};
use crate::evidence::{ContractKeySpec, StaychainSpec};
use crate::regtest_double::RegtestDouble;
use config::{ServiceConfig, SlotSettings};
use store::{ServiceStore, StoreError, StoredAttestation};

/// Why the service cannot run or a step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bitcoin's RPC failed.
    #[error("bitcoin RPC: {0}")]
    Bitcoin(#[from] BitcoinRpcError),
    /// The staychain cannot be extended.
    #[error("staychain: {0}")]
    Staychain(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Signer(String),
    /// A derivation failed.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The tree cannot be built.
    #[error(transparent)]
    Tree(#[from] crate::tree::TreeError),
    /// A slot proof could not be read.
    #[error(transparent)]
    Slot(#[from] crate::slot::SlotProofError),
    /// The HTTP server failed.
    #[error("http: {0}")]
    Http(String),
}

/// What the API handlers and the attester share.
pub struct ServiceState {
    /// The configuration.
    pub config: ServiceConfig,
    /// Durable state.
    pub store: ServiceStore,
    /// The Bitcoin backend.
    pub bitcoin: BitcoinRpc,
    /// How outputs are locked.
    pub scheme: ContractScheme,
    /// The staychain key (dev soft signer).
    pub key: SoftSigner,
    /// The network.
    pub network: Network,
    slots: BTreeMap<u64, SlotSettings>,
    attestations: Mutex<Vec<StoredAttestation>>,
}

impl std::fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceState")
            .field("listen", &self.config.listen)
            .field("slots", &self.slots.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn parse_network(name: &str) -> Result<Network, ServiceError> {
    crate::evidence::parse_network(name)
        .ok_or_else(|| ServiceError::Config(format!("unknown network {name:?}")))
}

impl ServiceState {
    /// Opens the store and checks the configuration.
    pub fn open(config: ServiceConfig, bitcoin: BitcoinRpc) -> Result<Self, ServiceError> {
        let network = parse_network(&config.bitcoin.network)?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(&config.staychain.dev_secret, &mut secret)
            .map_err(|_| ServiceError::Config("staychain.dev_secret is not 32 bytes hex".into()))?;
        let key = SoftSigner::from_secret(secret, "staychain")
            .map_err(|e| ServiceError::Config(format!("staychain.dev_secret: {e}")))?;
        let mut chain_code = [0u8; 32];
        hex::decode_to_slice(&config.staychain.chain_code, &mut chain_code)
            .map_err(|_| ServiceError::Config("staychain.chain_code is not 32 bytes hex".into()))?;
        let public_key = bitcoin::secp256k1::PublicKey::from_slice(key.public_key().as_bytes())
            .map_err(|e| ServiceError::Config(format!("staychain key: {e}")))?;
        let scheme = ContractScheme::P2wpkh(ContractKey {
            public_key,
            chain_code,
        });
        let mut slots = BTreeMap::new();
        for slot in &config.slots {
            if slots.insert(slot.position, slot.clone()).is_some() {
                return Err(ServiceError::Config(format!(
                    "slot {} is configured twice",
                    slot.position
                )));
            }
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| ServiceError::Config(format!("{}: {e}", config.data_dir.display())))?;
        let store = ServiceStore::open(&config.data_dir.join("store"))?;
        if let Some(txid) = &config.staychain.initial_txid {
            match store.initial_txid()? {
                Some(stored) if stored != *txid => {
                    return Err(ServiceError::Config(format!(
                        "staychain.initial_txid {txid} differs from the stored {stored}"
                    )));
                }
                Some(_) => {}
                None => store.set_initial_txid(txid)?,
            }
        }
        let attestations = Mutex::new(store.attestations()?);
        Ok(ServiceState {
            config,
            store,
            bitcoin,
            scheme,
            key,
            network,
            slots,
            attestations,
        })
    }

    /// A configured slot.
    pub fn slot(&self, position: u64) -> Option<&SlotSettings> {
        self.slots.get(&position)
    }

    /// Every attestation, oldest first.
    pub fn attestations(&self) -> Result<Vec<StoredAttestation>, ServiceError> {
        Ok(self
            .attestations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    /// Re-reads the attestations after a write.
    pub fn reload(&self) -> Result<(), ServiceError> {
        let fresh = self.store.attestations()?;
        *self
            .attestations
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The staychain's initial transaction.
    pub fn initial_txid(&self) -> Result<String, ServiceError> {
        self.store.initial_txid()?.ok_or_else(|| {
            ServiceError::Config("no staychain.initial_txid is configured or funded".into())
        })
    }

    /// How a verifier checks this service's attestations.
    pub fn staychain_spec(&self) -> Result<StaychainSpec, ServiceError> {
        let ContractScheme::P2wpkh(key) = &self.scheme else {
            return Err(ServiceError::Config("single-key staychains only".into()));
        };
        Ok(StaychainSpec {
            network: self.config.bitcoin.network.clone(),
            initial_txid: self.initial_txid()?,
            keys: vec![ContractKeySpec {
                public_key: key.public_key.to_string(),
                chain_code: hex::encode(key.chain_code),
            }],
            required: None,
            min_confirmations: crate::evidence::DEFAULT_MIN_CONFIRMATIONS,
        })
    }

    /// With no initial transaction yet, pays one from the node's wallet to the base key and
    /// mines it (regtest only: a real staychain is funded by its operator).
    pub async fn fund_initial_transaction(&self) -> Result<String, ServiceError> {
        if let Some(txid) = self.store.initial_txid()? {
            return Ok(txid);
        }
        if self.network != Network::Regtest {
            return Err(ServiceError::Config(
                "set staychain.initial_txid: only a regtest staychain is funded automatically"
                    .into(),
            ));
        }
        let script = self.scheme.script_pubkey(&[0u8; 32])?;
        let address = Address::from_script(&script, self.network)
            .map_err(|e| ServiceError::Config(format!("base address: {e}")))?;
        let txid = self
            .bitcoin
            .send_to_address(&address, Amount::from_sat(10_000_000))
            .await?;
        // The chain spends output 0; Bitcoin Core's wallet may put its change there instead.
        let funding = self.bitcoin.get_raw_transaction(&txid).await?;
        if funding.output.first().map(|o| &o.script_pubkey) != Some(&script) {
            return Err(ServiceError::Staychain(format!(
                "funding transaction {txid} pays the staychain key at another output than 0; \
                 fund a transaction whose output 0 pays {address} and set staychain.initial_txid"
            )));
        }
        self.bitcoin.generate_to_address(1, &address).await?;
        self.store.set_initial_txid(&txid.to_string())?;
        tracing::info!(%txid, "staychain funded");
        Ok(txid.to_string())
    }
}

/// Reads the config file and runs the service until interrupted.
pub fn run_from_config_file(path: &Path) -> Result<(), ServiceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServiceError::Config(format!("{}: {e}", path.display())))?;
    let config = ServiceConfig::from_toml(&text)
        .map_err(|e| ServiceError::Config(format!("{}: {e}", path.display())))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .try_init();
    run(config)
}

/// Runs the service on an actix system of its own, until interrupted.
pub fn run(config: ServiceConfig) -> Result<(), ServiceError> {
    actix_web::rt::System::new().block_on(serve(config))
}

/// Runs the service (and, if configured, the regtest double with a block every interval).
pub async fn serve(config: ServiceConfig) -> Result<(), ServiceError> {
    let mut _double = None;
    let bitcoin = match &config.bitcoin.regtest_double {
        Some(double) => {
            let running = RegtestDouble::spawn(
                double.listen,
                &config.bitcoin.rpc_user,
                &config.bitcoin.rpc_password,
                Some(config.data_dir.join("regtest-double")),
            )
            .map_err(|e| ServiceError::Config(format!("regtest double: {e}")))?;
            let rpc = BitcoinRpc::new(
                running.url(),
                &config.bitcoin.rpc_user,
                &config.bitcoin.rpc_password,
            )?;
            tracing::info!(url = %running.url(), "regtest double of Bitcoin Core running");
            _double = Some(running);
            rpc
        }
        None => {
            let url = config.bitcoin.rpc_url.clone().ok_or_else(|| {
                ServiceError::Config("bitcoin.rpc_url or bitcoin.regtest_double is required".into())
            })?;
            BitcoinRpc::new(&url, &config.bitcoin.rpc_user, &config.bitcoin.rpc_password)?
        }
    };
    let block_interval = config
        .bitcoin
        .regtest_double
        .as_ref()
        .map(|d| Duration::from_millis(d.block_interval_ms.max(100)));
    let listen = config.listen;
    let state = Arc::new(ServiceState::open(config, bitcoin)?);
    state.fund_initial_transaction().await?;
    if let Some(every) = block_interval {
        let miner = Arc::clone(&state);
        actix_web::rt::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Ok(script) = miner.scheme.script_pubkey(&[0u8; 32]) else {
                    return;
                };
                let Ok(address) = Address::from_script(&script, miner.network) else {
                    return;
                };
                if let Err(e) = miner.bitcoin.generate_to_address(1, &address).await {
                    tracing::warn!(error = %e, "regtest double: mining failed");
                }
            }
        });
    }
    actix_web::rt::spawn(attester::run(Arc::clone(&state)));
    let data = actix_web::web::Data::new(Arc::clone(&state));
    tracing::info!(%listen, "mainstay service listening");
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .configure(http::routes)
    })
    .workers(1)
    .bind(listen)
    .map_err(|e| ServiceError::Http(format!("{listen}: {e}")))?
    .run()
    .await
    .map_err(|e| ServiceError::Http(e.to_string()))
}
