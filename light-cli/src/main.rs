//! `lightclient`: verify the federation from untrusted nodes.
//!
//! - `lightclient init --genesis FILE [--checkpoint HEIGHT:HASH --node URL]` starts a home
//!   (`--home`, default `./.lightclient`) trusting the genesis file, or a checkpoint block.
//! - `lightclient sync --node URL [--witness URL]... [--height H]` verifies up to the node's
//!   latest block (or H), through validator-set changes, and cross-checks it with witnesses.
//! - `lightclient mapping --node URL [--ipfs URL]` verifies the mapping in force: its bytes
//!   against a verified header's mapping hash, n-of-m signatures under the genesis policy, its
//!   CID, and the bytes an IPFS node serves for that CID.
//! - `lightclient attestation --node URL --staychain SPEC --bitcoin-headers FILE
//!   [--bitcoin-checkpoint HEIGHT:HASH] [--height H]` verifies the node's Bitcoin attestation of
//!   a block it has verified: slot proof, pay-to-contract, staychain, the Bitcoin header chain
//!   under the full difficulty rules, inclusion and confirmations.
//!
//! - `lightclient balance ACCOUNT [ASSET] --node URL` verifies a balance (every balance the node
//!   lists, without ASSET) by its state proof against the state root of a header this client
//!   verified at the proof's height.
//! - `lightclient bars --holder ACCOUNT --node URL` shows the bars behind a holder's tokens, pro
//!   rata from the signed mapping, every figure proven at one verified height.
//! - `lightclient tx TXID --node URL` verifies a transaction's inclusion and its receipt (code,
//!   message, events) under a header this client verified.
//! - `lightclient backing [ASSET] --node URL` verifies that every token is backed: by the signed
//!   mapping's allocations (bars) or by the asset holders' covered positions (deposits).
//!
//! Human output by default, `--json` for programs. Exit status: 0 verified, 1 a named check
//! failed, 2 usage, network or store error. It prints only checks it made.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program reports to the terminal

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lightclient::genesis::Genesis;
use lightclient::hash::Hash32;
use lightclient::light::{
    LightClient, LightClientError, Options, Provider, ProviderError, Status, TrustedState, Verified,
};
use mainstay::headers::{chain_from_file, parse_header_file};
use mainstay::{AttestationEvidence, Checkpoint, StaychainSpec};
use serde_json::{Value, json};

use lightclient_cli::provider::{Fetch, HttpProvider};
use lightclient_cli::store::FileStore;

#[derive(Parser)]
#[command(
    name = "lightclient",
    version,
    about = "Verify the federation's blocks, validator-set changes and Bitcoin attestations without trusting any node"
)]
struct Cli {
    /// Where the trust root and verified blocks are kept.
    #[arg(long, global = true, default_value = ".lightclient")]
    home: PathBuf,
    /// Print JSON for programs instead of lines for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start trusting a genesis file (or a checkpoint block of its chain).
    Init {
        /// The federation's genesis file.
        #[arg(long)]
        genesis: PathBuf,
        /// Trust this block instead of genesis (HEIGHT:HASH, from a source you trust).
        #[arg(long, value_parser = parse_checkpoint, requires = "node")]
        checkpoint: Option<(u64, Hash32)>,
        /// The node to fetch the checkpoint block from.
        #[arg(long)]
        node: Option<String>,
    },
    /// Verify up to the node's latest block (or --height) and cross-check with witnesses.
    Sync {
        /// The primary node's API.
        #[arg(long)]
        node: String,
        /// Other nodes that must serve the same block.
        #[arg(long)]
        witness: Vec<String>,
        /// Verify this height instead of the latest.
        #[arg(long)]
        height: Option<u64>,
    },
    /// Verify the node's Bitcoin attestation of a block this client verifies.
    Attestation {
        /// The node serving the attestation evidence (and the blocks).
        #[arg(long)]
        node: String,
        /// Other nodes that must serve the same attested block.
        #[arg(long)]
        witness: Vec<String>,
        /// The Mainstay staychain spec (network, initial txid, keys, confirmations).
        #[arg(long)]
        staychain: PathBuf,
        /// Bitcoin headers from the checkpoint on (80-byte headers back to back, or one hex
        /// header a line).
        #[arg(
            long,
            required_unless_present = "bitcoin_rpc",
            conflicts_with = "bitcoin_rpc"
        )]
        bitcoin_headers: Option<PathBuf>,
        /// Or a Bitcoin node's JSON-RPC to follow headers from the checkpoint (user and
        /// password from `ABT_BITCOIN_RPC_USER` and `ABT_BITCOIN_RPC_PASSWORD`).
        #[arg(long)]
        bitcoin_rpc: Option<String>,
        /// Where the headers start (HEIGHT:HASH; default the network's genesis).
        #[arg(long)]
        bitcoin_checkpoint: Option<Checkpoint>,
        /// The evidence covering this block height (default: the latest attestation).
        #[arg(long)]
        height: Option<u64>,
    },
    /// Verify an account's balance of an asset (or every balance the node lists) by its state
    /// proof against a header this client verifies.
    Balance {
        /// The account id (40 hex digits).
        account: String,
        /// The asset: its id (64 hex digits) or the code of a genesis asset. Without it, every
        /// asset the node lists for the account (a node can leave one out; each one it lists is
        /// proven).
        asset: Option<String>,
        /// The node serving the proof (and the blocks).
        #[arg(long)]
        node: String,
        /// Other nodes that must serve the same block.
        #[arg(long)]
        witness: Vec<String>,
    },
    /// Verify the bars behind a holder's tokens: for each allocated asset of the signed mapping in
    /// force, the holder's proven balance as a pro-rata share of each bar allocated to it.
    Bars {
        /// The holder's account id (40 hex digits).
        #[arg(long)]
        holder: String,
        /// The node serving the proofs (and the blocks).
        #[arg(long)]
        node: String,
        /// Other nodes that must serve the same block.
        #[arg(long)]
        witness: Vec<String>,
    },
    /// Verify a transaction: its inclusion under a verified header's transactions root, and its
    /// receipt (code, message, events) under the receipts root.
    Tx {
        /// The transaction id (64 hex digits).
        txid: String,
        /// The node serving the proofs (and the blocks).
        #[arg(long)]
        node: String,
        /// Other nodes that must serve the same block.
        #[arg(long)]
        witness: Vec<String>,
    },
    /// Verify that every token of an asset (or of every asset the node lists) is backed: an
    /// allocated asset's proven supply equals what the signed mapping allocates; a
    /// deposit-backed asset's equals what its asset holders issued, each covered.
    Backing {
        /// The asset: its id (64 hex digits) or the code of a genesis asset.
        asset: Option<String>,
        /// The node serving the proofs (and the blocks).
        #[arg(long)]
        node: String,
        /// Other nodes that must serve the same block.
        #[arg(long)]
        witness: Vec<String>,
    },
    /// Verify the mapping in force: its bytes against a verified header, its n-of-m controller
    /// signatures under the genesis policy, its CID (and the bytes an IPFS node serves for it).
    Mapping {
        /// The node serving the mapping (and the blocks).
        #[arg(long)]
        node: String,
        /// Other nodes that must serve the same block.
        #[arg(long)]
        witness: Vec<String>,
        /// An IPFS node's RPC API (`http://127.0.0.1:5001`) to fetch the mapping by its CID.
        #[arg(long)]
        ipfs: Option<String>,
    },
}

fn parse_checkpoint(text: &str) -> Result<(u64, Hash32), String> {
    let (height, hash) = text
        .split_once(':')
        .ok_or_else(|| format!("a checkpoint is HEIGHT:HASH, got {text:?}"))?;
    let height = height
        .parse()
        .map_err(|_| format!("{height:?} is not a height"))?;
    let hash = hash
        .parse()
        .map_err(|_| format!("{hash:?} is not a block hash"))?;
    Ok((height, hash))
}

/// A failure with the exit status it maps to.
enum Failure {
    /// A named check failed (exit 1).
    Check { check: String, message: String },
    /// Usage, network or store (exit 2).
    Usage(String),
}

impl From<LightClientError> for Failure {
    fn from(error: LightClientError) -> Self {
        match error {
            LightClientError::Provider { .. }
            | LightClientError::NoWitness { .. }
            | LightClientError::Store(_) => Failure::Usage(error.to_string()),
            _ => Failure::Check {
                check: error.check().to_string(),
                message: error.to_string(),
            },
        }
    }
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure::Usage(message.to_string())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The genesis file `init` kept in the home (for the controller policy).
fn home_genesis(cli: &Cli) -> Result<Genesis, Failure> {
    let path = FileStore::genesis_path(&cli.home);
    Genesis::from_json(&read(&path)?).map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Init {
            genesis,
            checkpoint,
            node,
        } => init(&cli, genesis, *checkpoint, node.as_deref()),
        Command::Sync {
            node,
            witness,
            height,
        } => sync(&cli, node, witness, *height).map(|(report, _)| report),
        Command::Attestation {
            node,
            witness,
            staychain,
            bitcoin_headers,
            bitcoin_rpc,
            bitcoin_checkpoint,
            height,
        } => {
            let source = match (bitcoin_headers, bitcoin_rpc) {
                (Some(file), _) => Some(HeaderSource::File(file.clone())),
                (None, Some(url)) => Some(HeaderSource::Rpc(url.clone())),
                (None, None) => None,
            };
            match source {
                Some(source) => attestation(
                    &cli,
                    node,
                    witness,
                    staychain,
                    &source,
                    *bitcoin_checkpoint,
                    *height,
                ),
                None => Err(usage(
                    "--bitcoin-headers FILE or --bitcoin-rpc URL is needed",
                )),
            }
        }
        Command::Mapping {
            node,
            witness,
            ipfs,
        } => mapping(&cli, node, witness, ipfs.as_deref()),
        Command::Balance {
            account,
            asset,
            node,
            witness,
        } => balance(&cli, account, asset.as_deref(), node, witness),
        Command::Backing {
            asset,
            node,
            witness,
        } => backing(&cli, asset.as_deref(), node, witness),
        Command::Tx {
            txid,
            node,
            witness,
        } => transaction(&cli, txid, node, witness),
        Command::Bars {
            holder,
            node,
            witness,
        } => bars(&cli, holder, node, witness),
    };
    match outcome {
        Ok(report) => {
            if cli.json {
                println!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Check { check, message }) => {
            if cli.json {
                println!(
                    "{}",
                    json!({ "verified": false, "check": check, "error": message })
                );
            } else {
                println!("FAILED ({check}): {message}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            if cli.json {
                println!("{}", json!({ "verified": false, "error": message }));
            }
            eprintln!("lightclient: {message}");
            ExitCode::from(2)
        }
    }
}

fn init(
    cli: &Cli,
    genesis_file: &Path,
    checkpoint: Option<(u64, Hash32)>,
    node: Option<&str>,
) -> Result<Value, Failure> {
    let genesis_bytes = read(genesis_file)?;
    let genesis = Genesis::from_json(&genesis_bytes)
        .map_err(|e| usage(format!("{}: {e}", genesis_file.display())))?;
    let root = match (checkpoint, node) {
        (Some((height, hash)), Some(node)) => {
            let mut provider = HttpProvider::new(node).map_err(usage)?;
            let block = provider
                .light_block(Some(height))
                .map_err(|e| usage(format!("{node}: {e}")))?;
            TrustedState::from_checkpoint(&block, &genesis.chain_id, height, hash).map_err(|e| {
                Failure::Check {
                    check: e.check().into(),
                    message: e.to_string(),
                }
            })?
        }
        _ => TrustedState::from_genesis(&genesis).map_err(|e| usage(e.to_string()))?,
    };
    FileStore::init(&cli.home, &root, &genesis_bytes).map_err(usage)?;
    if !cli.json {
        println!(
            "trusting chain {} at height {} (block {}), {} validator(s) next; home {}",
            root.chain_id,
            root.height,
            root.hash,
            root.next_validators.validators().len(),
            cli.home.display()
        );
    }
    Ok(
        json!({ "verified": true, "chain_id": root.chain_id, "height": root.height, "hash": root.hash }),
    )
}

fn providers(
    node: &str,
    witnesses: &[String],
) -> Result<(HttpProvider, Vec<HttpProvider>), Failure> {
    let primary = HttpProvider::new(node).map_err(usage)?;
    let witnesses = witnesses
        .iter()
        .map(|w| HttpProvider::new(w).map_err(usage))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((primary, witnesses))
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Trusted => "trusted (confirmed by a witness)",
        Status::Verified => "verified (no witness confirmed it)",
        _ => "not verified",
    }
}

/// Verifies up to `height` (or the latest) and prints what it checked.
fn sync(
    cli: &Cli,
    node: &str,
    witnesses: &[String],
    height: Option<u64>,
) -> Result<(Value, Verified), Failure> {
    let (root, store) = FileStore::open(&cli.home).map_err(usage)?;
    let (primary, witnesses) = providers(node, witnesses)?;
    let mut client = LightClient::new(root, Options::default(), store, primary, witnesses);
    let now = now_ms();
    let verified = match height {
        Some(h) => client.verify_to_target(h, now),
        None => client.verify_to_highest(now),
    }?;
    let block = &verified.block;
    if !cli.json {
        if verified.steps.is_empty() {
            println!("height {}: already verified", block.height());
        }
        for step in &verified.steps {
            println!(
                "verified height {step}: certificate of more than 2/3 of its set, linked or skipped to with more than 1/3 of the trusted set"
            );
        }
        for change in &verified.set_changes {
            println!(
                "validator set changed by height {}: {} -> {} ({} validators)",
                change.height, change.from, change.to, change.validators
            );
        }
        for faulty in &verified.faulty_witnesses {
            println!("witness {faulty} served a block that does not verify; dropped");
        }
        println!(
            "height {}: block {} {}",
            block.height(),
            block.hash(),
            status_name(verified.status)
        );
    }
    let report = json!({
        "verified": true,
        "height": block.height(),
        "hash": block.hash(),
        "status": verified.status,
        "steps": verified.steps,
        "set_changes": verified.set_changes,
        "faulty_witnesses": verified.faulty_witnesses,
        "header": block.header,
    });
    Ok((report, verified))
}

/// What `GET /v1/attestations/{h}` answers.
#[derive(serde::Deserialize)]
struct AttestationAnswer {
    height: u64,
    evidence: AttestationEvidence,
}

/// Where the Bitcoin headers come from.
enum HeaderSource {
    File(PathBuf),
    Rpc(String),
}

/// The Bitcoin header chain from `checkpoint`, checked under the full difficulty rules.
fn follow_bitcoin(
    source: &HeaderSource,
    network: mainstay::bitcoin::Network,
    checkpoint: Checkpoint,
    now_secs: u32,
) -> Result<(mainstay::HeaderChain, String), Failure> {
    let refused = |what: &str, e: &dyn std::fmt::Display| Failure::Check {
        check: "bitcoin header chain".into(),
        message: format!("{what}: {e}"),
    };
    match source {
        HeaderSource::File(path) => {
            let headers = parse_header_file(&read(path)?)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            let what = path.display().to_string();
            let chain = chain_from_file(network, checkpoint, &headers, now_secs)
                .map_err(|e| refused(&what, &e))?;
            Ok((chain, format!("{} header(s) from {what}", headers.len())))
        }
        HeaderSource::Rpc(url) => {
            let user = std::env::var("ABT_BITCOIN_RPC_USER").unwrap_or_default();
            let password = std::env::var("ABT_BITCOIN_RPC_PASSWORD").unwrap_or_default();
            let rpc = mainstay::bitcoin_rpc::BitcoinRpc::new(url.as_str(), user, password)
                .map_err(|e| usage(format!("{url}: {e}")))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| usage(e.to_string()))?;
            runtime.block_on(async {
                use mainstay::collect::{FollowError, follow_headers, start_header_chain};
                let failed = |e: FollowError| match e {
                    FollowError::Bitcoin(e) => usage(format!("{url}: {e}")),
                    other => refused(url, &other),
                };
                let mut chain = start_header_chain(&rpc, network, checkpoint)
                    .await
                    .map_err(failed)?;
                follow_headers(&rpc, &mut chain, now_secs)
                    .await
                    .map_err(failed)?;
                let followed = format!("{} header(s) followed from {url}", chain.headers().len());
                Ok((chain, followed))
            })
        }
    }
}

fn attestation(
    cli: &Cli,
    node: &str,
    witnesses: &[String],
    staychain: &Path,
    source: &HeaderSource,
    bitcoin_checkpoint: Option<Checkpoint>,
    height: Option<u64>,
) -> Result<Value, Failure> {
    let spec: StaychainSpec = serde_json::from_slice(&read(staychain)?)
        .map_err(|e| usage(format!("{}: {e}", staychain.display())))?;
    let config = spec
        .to_config()
        .map_err(|e| usage(format!("{}: {e}", staychain.display())))?;
    let path = match height {
        Some(h) => format!("/v1/attestations/{h}"),
        None => "/v1/attestations/latest".to_string(),
    };
    let body = HttpProvider::new(node)
        .map_err(usage)?
        .get(&path)
        .map_err(|e| match e {
            Fetch::NotFound(m) => usage(format!("no attestation yet: {m}")),
            Fetch::Failed(ProviderError::Unreachable(m) | ProviderError::Malformed(m)) => usage(m),
            Fetch::Failed(other) => usage(other),
        })?;
    let AttestationAnswer {
        height: attested,
        evidence,
    } = serde_json::from_slice(&body).map_err(|e| usage(format!("{node}{path}: {e}")))?;

    // The attested block must be one this client verifies itself.
    let (_, verified) = sync(cli, node, witnesses, Some(attested))?;
    let commitment = verified.block.hash().to_string();

    let checkpoint = bitcoin_checkpoint.unwrap_or_else(|| Checkpoint::genesis(config.network));
    let now_secs = u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX);
    let (mut chain, followed) = follow_bitcoin(source, config.network, checkpoint, now_secs)?;
    let (report, _) = evidence
        .verify_extending(&config, &mut chain, now_secs, Some(&commitment))
        .map_err(|e| Failure::Check {
            check: e.check().into(),
            message: e.to_string(),
        })?;
    if !cli.json {
        println!(
            "commitment: OK, the attested commitment is block {attested}'s hash {commitment}, which this client verified"
        );
        println!(
            "slot proof: OK, {} steps lead to root {}",
            report.slot_path_length, report.merkle_root
        );
        println!("attestation txid: OK, {}", report.txid);
        println!(
            "pay-to-contract: OK, the single output pays {}",
            report.output_script
        );
        println!(
            "staychain: OK, {} attestation(s) back to initial transaction {}",
            report.staychain_length, config.initial_txid
        );
        println!(
            "bitcoin header chain: OK, {followed} from checkpoint {} under the difficulty rules of {}",
            report.checkpoint, config.network
        );
        println!(
            "bitcoin inclusion: OK, block {} at height {} with {} confirmation(s) (at least {} required)",
            report.block, report.height, report.confirmations, config.min_confirmations
        );
    }
    Ok(json!({
        "verified": true,
        "attested_height": attested,
        "commitment": commitment,
        "txid": report.txid.to_string(),
        "bitcoin_block": report.block.to_string(),
        "bitcoin_height": report.height,
        "confirmations": report.confirmations,
        "staychain_length": report.staychain_length,
        "checkpoint": report.checkpoint,
    }))
}

/// What `GET /v1/mapping` answers (the fields this client uses).
#[derive(serde::Deserialize)]
struct MappingAnswer {
    sequence: u64,
    cid: String,
}

fn check(check: &str, message: impl std::fmt::Display) -> Failure {
    Failure::Check {
        check: check.into(),
        message: message.to_string(),
    }
}

fn mapping(
    cli: &Cli,
    node: &str,
    witnesses: &[String],
    ipfs: Option<&str>,
) -> Result<Value, Failure> {
    let genesis = home_genesis(cli)?;
    let fetch = |path: &str| get(node, path);
    // The header that commits to the mapping is one this client verifies itself; a new
    // mapping adopted between the two reads is caught by the hash check and read again.
    let mut mismatch = String::new();
    let mut found = None;
    for _ in 0..3 {
        let (_, verified) = sync(cli, node, witnesses, None)?;
        let answer: MappingAnswer = serde_json::from_slice(&fetch("/v1/mapping")?)
            .map_err(|e| usage(format!("{node}/v1/mapping: {e}")))?;
        let bytes = fetch(&format!("/v1/mappings/{}", answer.sequence))?;
        let hash = lightclient::hash::sha256(&bytes);
        if hash == verified.block.header.mapping_hash {
            found = Some((verified, answer, bytes));
            break;
        }
        mismatch = format!(
            "the served mapping hashes to {hash}, block {} commits to {}",
            verified.block.height(),
            verified.block.header.mapping_hash
        );
    }
    let (verified, answer, bytes) = found.ok_or_else(|| check("mapping_hash", mismatch))?;
    let height = verified.block.height();
    let policy = &genesis.controllers;
    let (_, signers) =
        lightclient::backing::verify_mapping(&genesis, &verified.block.header, &bytes)
            .map_err(|e| check(e.check(), e))?;
    let cid = lightclient::cid::cid_v0(&bytes);
    if cid != answer.cid {
        return Err(check(
            "cid",
            format!("the node names CID {}, the bytes give {cid}", answer.cid),
        ));
    }
    if let Some(ipfs) = ipfs {
        let served = ipfs_cat(ipfs, &cid).map_err(usage)?;
        if served != bytes {
            return Err(check(
                "ipfs_bytes",
                format!("{ipfs} serves other bytes for {cid}"),
            ));
        }
    }
    if !cli.json {
        println!(
            "mapping hash: OK, the {} bytes of mapping {} hash to the mapping hash of verified block {height}",
            bytes.len(),
            answer.sequence
        );
        match &signers {
            Some(signers) => println!(
                "controller signatures: OK, {} of the genesis policy's {} controllers signed ({} required)",
                signers,
                policy.public_keys.len(),
                policy.threshold
            ),
            None => println!("controller signatures: none needed, this is the genesis mapping"),
        }
        println!("cid: OK, {cid}");
        if let Some(ipfs) = ipfs {
            println!("ipfs: OK, {ipfs} serves the same bytes for {cid}");
        }
    }
    Ok(json!({
        "verified": true,
        "height": height,
        "sequence": answer.sequence,
        "mapping_hash": verified.block.header.mapping_hash,
        "signers": signers,
        "cid": cid,
        "ipfs_checked": ipfs.is_some(),
    }))
}

/// The bytes an IPFS node's RPC API serves for `cid` (`POST /api/v0/cat`).
fn ipfs_cat(api: &str, cid: &str) -> Result<Vec<u8>, String> {
    let url = format!("{}/api/v0/cat?arg={cid}", api.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(&url)
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    response
        .bytes()
        .map(|b| b.to_vec())
        .map_err(|e| format!("{url}: {e}"))
}

/// What `GET /v1/proofs/...` answers (ADR 0015); `state_root` is the node's word and unused.
#[derive(serde::Deserialize)]
struct ProofAnswer {
    height: u64,
    key: String,
    value: Option<String>,
    proof: String,
}

fn get(node: &str, path: &str) -> Result<Vec<u8>, Failure> {
    HttpProvider::new(node)
        .map_err(usage)?
        .get(path)
        .map_err(|e| match e {
            Fetch::NotFound(m) => usage(m),
            Fetch::Failed(error) => usage(error),
        })
}

/// Fetches the proof of `key` from `path`, checking that it is for `key`. Returns the height it
/// is for and the entry, not yet verified.
fn fetch_proof(
    node: &str,
    path: &str,
    key: &lightclient::state::StateKey,
) -> Result<(u64, lightclient::backing::ProvenEntry), Failure> {
    use lightclient::encoding::Decode;
    let answer: ProofAnswer = serde_json::from_slice(&get(node, path)?)
        .map_err(|e| usage(format!("{node}{path}: {e}")))?;
    let expected_key = hex::encode(key.to_bytes());
    if answer.key != expected_key {
        return Err(check(
            "proof key",
            format!("the node proved key {}, not {expected_key}", answer.key),
        ));
    }
    let malformed = |what: &str, e: &dyn std::fmt::Display| {
        check("proof encoding", format!("{node}{path}: {what}: {e}"))
    };
    let value = answer
        .value
        .map(|v| hex::decode(v).map_err(|e| malformed("value", &e)))
        .transpose()?;
    let proof_bytes = hex::decode(&answer.proof).map_err(|e| malformed("proof", &e))?;
    let proof = lightclient::state::StateProof::from_bytes(&proof_bytes)
        .map_err(|e| malformed("proof", &e))?;
    Ok((
        answer.height,
        lightclient::backing::ProvenEntry { value, proof },
    ))
}

/// Fetches the proof of `key` and verifies it against the state root of the header at the
/// proof's height, which this client verifies first. Returns the value (`None`: proven absent)
/// and the verified height.
fn proven_entry(
    cli: &Cli,
    node: &str,
    witnesses: &[String],
    path: &str,
    key: &lightclient::state::StateKey,
) -> Result<(Option<Vec<u8>>, u64), Failure> {
    let (height, entry) = fetch_proof(node, path, key)?;
    let (_, verified) = sync(cli, node, witnesses, Some(height))?;
    entry
        .proof
        .verify(
            &verified.block.header.state_root,
            key,
            entry.value.as_deref(),
        )
        .map_err(|e| check(e.check(), e))?;
    Ok((entry.value, height))
}

/// What `GET /v1/accounts/{id}/balances` answers (the fields this client uses).
#[derive(serde::Deserialize)]
struct BalancesAnswer {
    balances: Vec<ListedBalance>,
}

#[derive(serde::Deserialize)]
struct ListedBalance {
    asset: lightclient::keys::AssetId,
}

fn parse_asset(text: &str) -> lightclient::keys::AssetId {
    text.parse()
        .unwrap_or_else(|_| lightclient::genesis::asset_id_for_code(text))
}

fn balance(
    cli: &Cli,
    account: &str,
    asset: Option<&str>,
    node: &str,
    witnesses: &[String],
) -> Result<Value, Failure> {
    use lightclient::state::{BalanceEntry, StateKey};
    let account: lightclient::keys::AccountId = account
        .parse()
        .map_err(|e| usage(format!("account {account:?}: {e}")))?;
    let assets = match asset {
        Some(asset) => vec![parse_asset(asset)],
        None => {
            let path = format!("/v1/accounts/{account}/balances");
            let listed: BalancesAnswer = serde_json::from_slice(&get(node, &path)?)
                .map_err(|e| usage(format!("{node}{path}: {e}")))?;
            listed.balances.into_iter().map(|b| b.asset).collect()
        }
    };
    let mut proven = Vec::new();
    for asset in assets {
        let key = StateKey::Balance(account, asset);
        let path = format!("/v1/proofs/balance/{account}/{asset}");
        let (value, height) = proven_entry(cli, node, witnesses, &path, &key)?;
        let entry = match &value {
            Some(v) => BalanceEntry::from_value(v).map_err(|e| check("proof value", e))?,
            None => BalanceEntry::default(),
        };
        if !cli.json {
            println!(
                "balance of {account} in {asset}: {} available, {} locked; {} under the state root of verified block {height}",
                entry.available,
                entry.locked,
                if value.is_some() {
                    "proven"
                } else {
                    "proven absent (zero)"
                }
            );
        }
        proven.push(json!({
            "asset": asset,
            "height": height,
            "present": value.is_some(),
            "available": entry.available.to_string(),
            "locked": entry.locked.to_string(),
        }));
    }
    Ok(json!({ "verified": true, "account": account, "balances": proven }))
}

/// What `GET /v1/assets` answers (the field this client uses).
#[derive(serde::Deserialize)]
struct ListedAsset {
    id: lightclient::keys::AssetId,
}

/// What `GET /v1/assets/{id}/positions` answers (the fields this client uses).
#[derive(serde::Deserialize)]
struct PositionsAnswer {
    positions: Vec<ListedPosition>,
}

#[derive(serde::Deserialize)]
struct ListedPosition {
    asset_holder: lightclient::keys::AccountId,
}

fn backing(
    cli: &Cli,
    asset: Option<&str>,
    node: &str,
    witnesses: &[String],
) -> Result<Value, Failure> {
    use lightclient::backing::{BackingEvidence, verify_backing};
    use lightclient::state::{AssetEntry, StateKey};
    use lightclient::tx::BackingKind;
    let genesis = home_genesis(cli)?;
    let assets = match asset {
        Some(asset) => vec![parse_asset(asset)],
        None => {
            let listed: Vec<ListedAsset> = serde_json::from_slice(&get(node, "/v1/assets")?)
                .map_err(|e| usage(format!("{node}/v1/assets: {e}")))?;
            listed.into_iter().map(|a| a.id).collect()
        }
    };
    let mut reports = Vec::new();
    for asset in assets {
        let key = StateKey::Asset(asset);
        let (height, asset_entry) = fetch_proof(node, &format!("/v1/proofs/asset/{asset}"), &key)?;
        let (_, verified) = sync(cli, node, witnesses, Some(height))?;
        let header = &verified.block.header;
        // The backing kind read here only picks what evidence to fetch; verify_backing proves it.
        let kind = asset_entry
            .value
            .as_deref()
            .and_then(|v| AssetEntry::from_value(v).ok())
            .map(|e| e.backing);
        let evidence = match kind {
            Some(BackingKind::AllocatedPhysical) => BackingEvidence::Allocated {
                mapping: get(node, &format!("/v1/mappings/hash:{}", header.mapping_hash))?,
            },
            _ => {
                let path = format!("/v1/assets/{asset}/positions");
                let listed: PositionsAnswer = serde_json::from_slice(&get(node, &path)?)
                    .map_err(|e| usage(format!("{node}{path}: {e}")))?;
                let mut positions = Vec::new();
                for p in listed.positions {
                    let key = StateKey::Position(p.asset_holder, asset);
                    let path = format!(
                        "/v1/proofs/position/{}/{asset}?height={height}",
                        p.asset_holder
                    );
                    let (at, entry) = fetch_proof(node, &path, &key)?;
                    if at != height {
                        return Err(check(
                            "proof height",
                            format!("asked for height {height}, the node proved {at}"),
                        ));
                    }
                    positions.push((p.asset_holder, entry));
                }
                BackingEvidence::DepositBacked { positions }
            }
        };
        let report = verify_backing(&genesis, header, &asset, &asset_entry, &evidence)
            .map_err(|e| check(e.check(), e))?;
        if !cli.json {
            let entry = &report.entry;
            match report.mapping {
                Some((sequence, signers)) => println!(
                    "backing of {} ({asset}) at verified block {height}: OK, supply {} equals what mapping {sequence} allocates ({})",
                    entry.code,
                    entry.issued,
                    match signers {
                        Some(n) => format!("signed by {n} controllers of the genesis policy"),
                        None => "the genesis mapping".into(),
                    }
                ),
                None => println!(
                    "backing of {} ({asset}) at verified block {height}: OK, supply {} equals what {} asset holder(s) issued, each covered by settled + unsettled assets",
                    entry.code,
                    entry.issued,
                    report.positions.len()
                ),
            }
        }
        reports.push(serde_json::to_value(&report).map_err(usage)?);
    }
    Ok(json!({ "verified": true, "assets": reports }))
}

/// What `GET /v1/transactions/{txid}/proof` and `.../receipt` answer (the fields used).
#[derive(serde::Deserialize)]
struct InclusionAnswer {
    height: u64,
    leaf: String,
    proof: lightclient::merkle::InclusionProof,
}

fn describe(event: &lightclient::header::Event) -> String {
    use lightclient::header::Event;
    match event {
        Event::Transfer {
            asset,
            from,
            to,
            amount,
        } => format!("transfer of {amount} {asset} from {from} to {to}"),
        Event::FeeCharged {
            asset,
            payer,
            collector,
            amount,
        } => format!("fee of {amount} {asset} paid by {payer} to {collector}"),
        Event::Mint { asset, to, amount } => format!("mint of {amount} {asset} to {to}"),
        Event::Burn {
            asset,
            from,
            amount,
        } => format!("burn of {amount} {asset} from {from}"),
        Event::Settlement {
            asset,
            asset_holder,
            amount,
        } => format!("settlement of {amount} {asset} for asset holder {asset_holder}"),
        Event::BarRegistered { serial, location } => {
            format!("bar {serial} registered at {location}")
        }
        Event::BarMoved { serial, location } => format!("bar {serial} moved to {location}"),
        Event::BarReleased { serial } => format!("bar {serial} released from custody"),
        Event::MappingVersion { sequence, hash } => {
            format!("mapping {sequence} ({hash}) in force")
        }
        Event::ValidatorSetChanged {
            hash,
            effective_height,
        } => format!("validator set {hash} from height {effective_height}"),
        _ => format!("{event:?}"),
    }
}

fn transaction(cli: &Cli, txid: &str, node: &str, witnesses: &[String]) -> Result<Value, Failure> {
    use lightclient::encoding::Decode;
    use lightclient::header::Receipt;
    use lightclient::tx::SignedTransaction;
    let txid: Hash32 = txid
        .parse()
        .map_err(|e| usage(format!("txid {txid:?}: {e}")))?;
    let fetch = |path: String| -> Result<InclusionAnswer, Failure> {
        serde_json::from_slice(&get(node, &path)?).map_err(|e| usage(format!("{node}{path}: {e}")))
    };
    let included = fetch(format!("/v1/transactions/{txid}/proof"))?;
    let receipted = fetch(format!("/v1/transactions/{txid}/receipt"))?;
    let malformed =
        |what: &str, e: &dyn std::fmt::Display| check("proof encoding", format!("{what}: {e}"));
    let tx_bytes = hex::decode(&included.leaf).map_err(|e| malformed("transaction", &e))?;
    let receipt_bytes = hex::decode(&receipted.leaf).map_err(|e| malformed("receipt", &e))?;
    let tx = SignedTransaction::from_bytes(&tx_bytes).map_err(|e| malformed("transaction", &e))?;
    if tx.txid() != txid {
        return Err(check(
            "transaction id",
            format!("the node proved transaction {}, not {txid}", tx.txid()),
        ));
    }
    let receipt = Receipt::from_bytes(&receipt_bytes).map_err(|e| malformed("receipt", &e))?;
    if receipt.txid != txid || receipted.proof.leaf_index != included.proof.leaf_index {
        return Err(check(
            "receipt",
            format!(
                "the node's receipt is for {} at index {}, the transaction is at index {}",
                receipt.txid, receipted.proof.leaf_index, included.proof.leaf_index
            ),
        ));
    }
    let height = included.height.max(receipted.height);
    let (_, verified) = sync(cli, node, witnesses, Some(height))?;
    let header = &verified.block.header;
    if included.height != height || receipted.height != height {
        return Err(check(
            "block height",
            format!(
                "the node puts the transaction at height {} and its receipt at {}",
                included.height, receipted.height
            ),
        ));
    }
    included
        .proof
        .verify(&tx_bytes, &header.transactions_root)
        .map_err(|e| check("transaction inclusion", e))?;
    receipted
        .proof
        .verify(&receipt_bytes, &header.receipts_root)
        .map_err(|e| check("receipt inclusion", e))?;
    if !cli.json {
        println!(
            "transaction {txid}: OK, included in verified block {height} (index {} of {})",
            included.proof.leaf_index, included.proof.tree_size
        );
        println!(
            "receipt: OK, under the block's receipts root: {} ({}){}",
            receipt.code_name,
            receipt.code,
            if receipt.message.is_empty() {
                String::new()
            } else {
                format!(": {}", receipt.message)
            }
        );
        for event in &receipt.events {
            println!("  event: {}", describe(event));
        }
    }
    Ok(json!({
        "verified": true,
        "txid": txid,
        "height": height,
        "index": included.proof.leaf_index,
        "receipt": receipt,
    }))
}

fn bars(cli: &Cli, holder: &str, node: &str, witnesses: &[String]) -> Result<Value, Failure> {
    use lightclient::backing::{bars_of, verify_mapping};
    use lightclient::state::{AssetEntry, BalanceEntry, StateKey};
    let holder: lightclient::keys::AccountId = holder
        .parse()
        .map_err(|e| usage(format!("holder {holder:?}: {e}")))?;
    let genesis = home_genesis(cli)?;
    // One height for everything: the mapping entry's proof names it.
    let (height, _) = fetch_proof(node, "/v1/proofs/mapping", &StateKey::Mapping)?;
    let (_, verified) = sync(cli, node, witnesses, Some(height))?;
    let header = &verified.block.header;
    let bytes = get(node, &format!("/v1/mappings/hash:{}", header.mapping_hash))?;
    let (mapping, signers) =
        verify_mapping(&genesis, header, &bytes).map_err(|e| check(e.check(), e))?;
    let proven_at = |path: String, key: &StateKey| -> Result<Option<Vec<u8>>, Failure> {
        let (at, entry) = fetch_proof(node, &format!("{path}?height={height}"), key)?;
        if at != height {
            return Err(check(
                "proof height",
                format!("asked for height {height}, the node proved {at}"),
            ));
        }
        entry
            .proof
            .verify(&header.state_root, key, entry.value.as_deref())
            .map_err(|e| check(e.check(), e))?;
        Ok(entry.value)
    };
    let mut assets = Vec::new();
    for asset in mapping.totals().keys() {
        let balance = proven_at(
            format!("/v1/proofs/balance/{holder}/{asset}"),
            &StateKey::Balance(holder, *asset),
        )?
        .map(|v| BalanceEntry::from_value(&v))
        .transpose()
        .map_err(|e| check("proof value", e))?
        .unwrap_or_default();
        let holding = balance
            .available
            .checked_add(balance.locked)
            .ok_or_else(|| check("proof value", "the balance overflows"))?;
        if holding == 0 {
            continue;
        }
        let entry = proven_at(
            format!("/v1/proofs/asset/{asset}"),
            &StateKey::Asset(*asset),
        )?
        .ok_or_else(|| check("asset", format!("asset {asset} is proven absent")))
        .and_then(|v| AssetEntry::from_value(&v).map_err(|e| check("proof value", e)))?;
        let shares =
            bars_of(&mapping, asset, holding, entry.issued).map_err(|e| check(e.check(), e))?;
        if !cli.json {
            println!(
                "{} ({asset}): {holding} of {} in supply at verified block {height}, backed by:",
                entry.code, entry.issued
            );
            for bar in &shares {
                println!(
                    "  bar {} ({}, {}): {} of the {} the mapping allocates",
                    bar.serial, bar.refiner, bar.location, bar.share, bar.allocated
                );
            }
        }
        assets.push(json!({
            "asset": asset, "code": entry.code, "holding": holding.to_string(),
            "supply": entry.issued.to_string(), "bars": shares,
        }));
    }
    if !cli.json {
        println!(
            "mapping {} at verified block {height}: {}",
            mapping.sequence,
            match signers {
                Some(n) => format!("signed by {n} controllers of the genesis policy"),
                None => "the genesis mapping".into(),
            }
        );
        if assets.is_empty() {
            println!("{holder} holds no tokens of an allocated asset");
        }
    }
    Ok(json!({
        "verified": true, "holder": holder, "height": height,
        "mapping_sequence": mapping.sequence, "assets": assets,
    }))
}
