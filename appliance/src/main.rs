//! `appliance`: the federation node.
//!
//! `appliance run --config node.toml` opens the validator key in its HSM, the chain store, and
//! serves the HTTP API while it takes part in consensus with the other validators.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program reports to the terminal

use std::path::PathBuf;
use std::sync::Arc;

use actix::SyncArbiter;
use anyhow::{Context, bail};
use appliance::chain::Chain;
use appliance::consensus::engine::ConsensusNode;
use appliance::mempool::Mempool;
use appliance::mempool::log::FjallMempoolLog;
use appliance::node::actors::{ChainActor, MempoolActor, Metrics};
use appliance::node::api::{ApiState, HealthLimits, json_errors, path_config, routes};
use appliance::node::config::{HsmConfig, NodeConfig};
use appliance::node::now_ms;
use clap::{Parser, Subcommand};
use lightclient::genesis::Genesis;
use signer::Signer;
use signer::pkcs11::Pkcs11Signer;
use signer::watermark::WatermarkedSigner;
use signer::yubihsm::YubiHsmSigner;

#[derive(Parser)]
#[command(
    version,
    about = "Asset-backed token ledger appliance (federation node)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node.
    Run {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Write a development genesis: HSM validator and controller keys plus the publicly derivable
    /// development accounts (never for a chain that holds value).
    DevGenesis {
        /// Chain id.
        #[arg(long, default_value = "abt-local-1")]
        chain_id: String,
        /// Validator public keys (compressed hex), one per node.
        #[arg(long = "validator", required = true)]
        validators: Vec<lightclient::PublicKey>,
        /// Controller public keys.
        #[arg(long = "controller", required = true)]
        controllers: Vec<lightclient::PublicKey>,
        /// Controller signatures required.
        #[arg(long, default_value_t = 2)]
        threshold: usize,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a configuration file and its genesis, and print what the node would run.
    Check {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

async fn open_signer(hsm: &HsmConfig) -> anyhow::Result<Arc<dyn Signer>> {
    Ok(match hsm {
        HsmConfig::Pkcs11 { key_label, token } => {
            Arc::new(Pkcs11Signer::open(token.clone(), key_label).await?)
        }
        HsmConfig::Yubihsm {
            key_label,
            connector,
        } => Arc::new(YubiHsmSigner::open(connector.clone(), key_label).await?),
        _ => bail!("unsupported HSM backend"),
    })
}

/// Opens the validator key, waiting for an HSM that does not answer yet (capped back-off,
/// logged once and then every 30 s): a node started while its HSM is away comes up when the HSM
/// does, instead of exiting.
async fn open_signer_patiently(hsm: &HsmConfig) -> anyhow::Result<Arc<dyn Signer>> {
    let mut delay = std::time::Duration::from_millis(100);
    let started = std::time::Instant::now();
    let mut last_report: Option<std::time::Instant> = None;
    loop {
        match open_signer(hsm).await {
            Ok(signer) => {
                if last_report.is_some() {
                    tracing::info!(
                        waited_ms = started.elapsed().as_millis(),
                        "validator key opened"
                    );
                }
                return Ok(signer);
            }
            // A wrong PIN is never retried (tokens lock after a few), nor is a missing key.
            Err(e) if !is_transient(&e) => {
                return Err(e.context("opening the validator key in the HSM"));
            }
            Err(e) => {
                if last_report.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(30)) {
                    tracing::warn!(error = %format!("{e:#}"), "cannot open the validator key in the HSM yet; retrying");
                    last_report = Some(std::time::Instant::now());
                }
                tokio::time::sleep(delay).await;
                delay = delay
                    .saturating_mul(2)
                    .min(std::time::Duration::from_secs(2));
            }
        }
    }
}

fn is_transient(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<signer::SignerError>(),
        Some(
            signer::SignerError::Unavailable { .. }
                | signer::SignerError::YubiHsm(_)
                | signer::SignerError::Task(_)
        )
    )
}

fn load(config: &std::path::Path) -> anyhow::Result<(NodeConfig, Genesis)> {
    let config = NodeConfig::load(config)?;
    let bytes = std::fs::read(&config.genesis)
        .with_context(|| format!("reading genesis {}", config.genesis.display()))?;
    let genesis = Genesis::from_json(&bytes)
        .with_context(|| format!("genesis {}", config.genesis.display()))?;
    Ok((config, genesis))
}

#[actix::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,arc_malachitebft=warn,libp2p=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Check { config } => {
            let (config, genesis) = load(&config)?;
            println!(
                "chain {} (genesis {}), {} validators, data in {}",
                genesis.chain_id,
                genesis.hash()?,
                genesis.validators.validators().len(),
                config.data_dir.display()
            );
            Ok(())
        }
        Command::Run { config } => run(config).await,
        Command::DevGenesis {
            chain_id,
            validators,
            controllers,
            threshold,
            out,
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis();
            let genesis = appliance::dev::dev_genesis(
                &chain_id,
                u64::try_from(now)?,
                &validators,
                &controllers,
                threshold,
            )?;
            std::fs::write(&out, serde_json::to_vec_pretty(&genesis)?)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "wrote {} (genesis {}); it contains publicly derivable development accounts: never use it for value",
                out.display(),
                genesis.hash()?
            );
            Ok(())
        }
    }
}

async fn run(config_path: PathBuf) -> anyhow::Result<()> {
    let (config, genesis) = load(&config_path)?;
    appliance::consensus::engine::check_addresses(&config.consensus)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let hsm = open_signer_patiently(&config.hsm).await?;
    let address = hsm.public_key().validator_address();
    let watermark = config
        .data_dir
        .join(format!("watermark-{}.json", hsm.label()));
    let signer = Arc::new(WatermarkedSigner::new(Arc::clone(&hsm), watermark)?);
    let chain = Chain::open(
        &config.data_dir.join("store"),
        genesis.clone(),
        config.blocks.snapshot_every,
    )?;
    tracing::info!(chain = %genesis.chain_id, height = chain.height(), validator = %address, "chain opened");
    if chain.next_validators().get(&address).is_none() {
        tracing::warn!(key = %hsm.public_key(), "this node's key is not in the validator set in force: it follows the chain, and votes from the height a validator-set change makes it a validator");
    }
    let start_height = chain.height();
    let metrics = Arc::new(Metrics::starting(chain.height(), now_ms()));
    metrics.quorum_nodes.store(
        chain.next_validators().quorum_size(),
        std::sync::atomic::Ordering::SeqCst,
    );

    // Every transaction answered 202 is in this log; those not yet included come back.
    let log = FjallMempoolLog::open(&config.data_dir.join("mempool"))
        .context("opening the mempool log")?;
    let (mempool_actor, restored) = MempoolActor::restore(
        Mempool::new(genesis.binding()?, config.mempool),
        Box::new(log),
        chain.height(),
        |txid| matches!(chain.store().find_transaction(txid), Ok(Some(_))),
    )?;
    if restored.admitted > 0 || restored.dropped > 0 {
        tracing::info!(
            restored = restored.admitted,
            dropped = restored.dropped,
            "mempool restored from its log"
        );
    }

    // SyncArbiter builds its actor from a factory; with one thread it is called once.
    let store = chain.store().clone();
    let chain_store = store.clone();
    let chain_slot = std::sync::Mutex::new(Some(chain));
    let chain_addr = SyncArbiter::start(1, move || {
        let chain = chain_slot.lock().ok().and_then(|mut slot| slot.take());
        ChainActor::new(chain.unwrap_or_else(|| unreachable!("the chain actor is started once")))
    });
    let mempool_slot = std::sync::Mutex::new(Some(mempool_actor));
    let mempool_addr = SyncArbiter::start(1, move || {
        let actor = mempool_slot.lock().ok().and_then(|mut slot| slot.take());
        actor.unwrap_or_else(|| unreachable!("the mempool actor is started once"))
    });
    // Malachite runs on a runtime of its own, so that consensus timing never waits on the
    // API's or the actors' threads. If it stops, the node stops: a supervisor restarts it and
    // it catches up.
    let consensus_node = ConsensusNode {
        settings: config.consensus.clone(),
        blocks: config.blocks,
        genesis: genesis.clone(),
        data_dir: config.data_dir.clone(),
        signer,
        identity_signer: Arc::clone(&hsm),
        chain: chain_addr.clone(),
        mempool: mempool_addr.clone(),
        metrics: Arc::clone(&metrics),
        start_height,
    };
    std::thread::Builder::new()
        .name("consensus".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("consensus-rt")
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the consensus runtime");
                    std::process::exit(1);
                }
            };
            let result = runtime.block_on(appliance::consensus::engine::run(consensus_node));
            if let Err(e) = result {
                tracing::error!(error = %e, "consensus stopped; the node exits");
            }
            // Every committed block is already durable; exiting is what a crash would do, and
            // the restarted node catches up.
            std::process::exit(1);
        })
        .context("starting the consensus thread")?;

    if let Some(settings) = config.mainstay.clone() {
        let attestor = appliance::node::attestor::Attestor::new(
            settings,
            chain_addr.clone(),
            &config.data_dir,
        )
        .context("setting up the mainstay attestor")?;
        actix_web::rt::spawn(attestor.run());
    }
    if let Some(settings) = &config.ipfs {
        let publisher = appliance::node::publisher::Publisher::new(settings, store)
            .context("setting up the IPFS publisher")?;
        tracing::info!(api = %settings.api, "publishing mapping versions to IPFS");
        actix_web::rt::spawn(publisher.run());
    }
    appliance::node::relay::spawn(&config.relay, &mempool_addr, &metrics);
    let block_interval_ms = config
        .blocks
        .interval_ms
        .max(config.consensus.idle_block_ms)
        .max(1);
    let state = ApiState {
        chain: chain_addr,
        mempool: mempool_addr,
        metrics,
        store: chain_store,
        draft_lock: Arc::default(),
        draft_peers: Arc::new(config.relay.peers.clone()),
        health: HealthLimits {
            stall_after_ms: block_interval_ms.saturating_mul(config.health.stall_intervals),
        },
    };
    if let Some(console) = config.console.clone() {
        let listener = tokio::net::TcpListener::bind(console.listen)
            .await
            .with_context(|| format!("binding the console to {}", console.listen))?;
        tracing::info!(listen = %console.listen, name = %console.name, "vault console listening");
        actix_web::rt::spawn(appliance::console::server::serve(
            listener,
            Arc::new(console),
            state.clone(),
        ));
    }
    let listen = config.api.listen;
    tracing::info!(%listen, "API listening");
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .wrap(json_errors())
            .app_data(actix_web::web::Data::new(state.clone()))
            .app_data(actix_web::web::PayloadConfig::new(4 * 1024 * 1024))
            .app_data(path_config())
            .configure(routes)
    })
    .bind(listen)
    .with_context(|| format!("binding the API to {listen}"))?
    .run()
    .await?;
    Ok(())
}
