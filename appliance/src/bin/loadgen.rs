//! `loadgen`: load for a local chain. Registers and funds token holders through the development
//! accounts (`appliance dev-genesis`), then sends transfers at a target rate to every node, and
//! reports committed transactions per second and submit-to-commit latency (p50, p90, p99),
//! measured by following committed blocks.
#![allow(clippy::print_stdout, clippy::print_stderr)]
// a command-line program reports to the terminal
// A load generator: its counters and rates are small by construction.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use appliance::dev::{dev_public, dev_sign};
use clap::Parser;
use lightclient::genesis::{Genesis, asset_id_for_code};
use lightclient::hash::{Hash32, sha256};
use lightclient::tx::{KycState, Operation, SignedTransaction, registration_digest};
use serde_json::Value;

#[derive(Parser)]
#[command(
    about = "Transfer load against a local chain; reports committed tx/s and latency percentiles"
)]
struct Args {
    /// Node API addresses (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:18080")]
    nodes: Vec<SocketAddr>,
    /// The chain's (development) genesis file.
    #[arg(long, default_value = "deploy/run/genesis.json")]
    genesis: PathBuf,
    /// Token holders to create and fund.
    #[arg(long, default_value_t = 200)]
    holders: u32,
    /// Target transfers per second (the seed's 200,000 per hour is 56).
    #[arg(long, default_value_t = 56.0)]
    rate: f64,
    /// How long to send, seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
}

fn http(node: SocketAddr, method: &str, path: &str, body: &str) -> anyhow::Result<(u16, Value)> {
    let mut stream = TcpStream::connect_timeout(&node, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {node}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .context("no status line")?
        .parse()?;
    let text = response.split("\r\n\r\n").nth(1).unwrap_or("");
    Ok((status, serde_json::from_str(text).unwrap_or(Value::Null)))
}

fn submit(node: SocketAddr, tx: &SignedTransaction) -> anyhow::Result<()> {
    let (status, body) = http(
        node,
        "POST",
        "/v1/transactions",
        &serde_json::to_string(tx)?,
    )?;
    if status != 202 {
        bail!("submission refused ({status}): {body}");
    }
    Ok(())
}

fn height(node: SocketAddr) -> anyhow::Result<u64> {
    let (_, body) = http(node, "GET", "/ready", "")?;
    body["height"].as_u64().context("no height in /ready")
}

fn wait_committed(node: SocketAddr, txids: &[Hash32]) -> anyhow::Result<()> {
    let started = Instant::now();
    for txid in txids {
        loop {
            let (_, body) = http(node, "GET", &format!("/v1/transactions/{txid}"), "")?;
            match body["status"].as_str() {
                Some("committed") => break,
                Some("rejected") => bail!("setup transaction {txid} was rejected: {body}"),
                _ if started.elapsed() > Duration::from_secs(120) => {
                    bail!("setup transaction {txid} not committed in 2 minutes")
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        !args.nodes.is_empty() && args.rate > 0.0 && args.holders >= 2,
        "need nodes, a positive rate and at least two holders"
    );
    let genesis = Genesis::from_json(
        &std::fs::read(&args.genesis)
            .with_context(|| format!("reading {}", args.genesis.display()))?,
    )?;
    let chain = genesis.binding()?;
    let usdx = asset_id_for_code("USDX");
    let first = args.nodes[0];
    let run = sha256(
        &std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
            .to_be_bytes(),
    );
    let mut salt = u64::from_be_bytes(run.0[..8].try_into()?);
    let mut next_salt = || {
        salt = salt.wrapping_add(1);
        salt
    };
    let holder = |i: u32| format!("holder-{}-{i}", &run.to_hex()[..8]);

    eprintln!("setting up {} holders", args.holders);
    let tip = height(first)?;
    let expiry = tip + 5_000;
    let bank = dev_public("bank")?.account_id();
    let mut setup = vec![dev_sign(
        "settlement",
        &chain,
        Operation::Deposit {
            asset_holder: bank,
            asset: usdx,
            amount: u128::from(args.holders) * 1_000_000,
        },
        next_salt(),
        expiry,
    )?];
    for i in 0..args.holders {
        let name = holder(i);
        let public_key = dev_public(&name)?;
        let challenge = sha256(name.as_bytes());
        let digest = registration_digest(&chain.chain_id, &bank, &challenge);
        let (sig, _) =
            appliance::dev::dev_key(&name)?.sign_prehash_recoverable(digest.as_bytes())?;
        let holder_signature = lightclient::Signature::from(sig).normalize_s()?;
        setup.push(dev_sign(
            "bank",
            &chain,
            Operation::RegisterHolder {
                public_key,
                challenge,
                holder_signature,
            },
            next_salt(),
            expiry,
        )?);
        setup.push(dev_sign(
            "kyc-admin",
            &chain,
            Operation::SetKycState {
                account: public_key.account_id(),
                state: KycState::Verified,
            },
            next_salt(),
            expiry,
        )?);
        setup.push(dev_sign(
            "bank",
            &chain,
            Operation::Issue {
                to: public_key.account_id(),
                asset: usdx,
                amount: 1_000_000,
            },
            next_salt(),
            expiry,
        )?);
    }
    for tx in &setup {
        submit(first, tx)?;
    }
    wait_committed(
        first,
        &setup
            .iter()
            .map(SignedTransaction::txid)
            .collect::<Vec<_>>(),
    )?;

    // Follow committed blocks on the first node and time every transfer we sent.
    let sent: Arc<Mutex<HashMap<Hash32, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let refused = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (sent, latencies, refused, stop) = (
            Arc::clone(&sent),
            Arc::clone(&latencies),
            Arc::clone(&refused),
            Arc::clone(&stop),
        );
        let mut next = height(first)? + 1;
        std::thread::spawn(move || -> anyhow::Result<()> {
            while !stop.load(Ordering::SeqCst) {
                let (status, block) = http(first, "GET", &format!("/v1/blocks/{next}"), "")?;
                if status != 200 {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let seen = Instant::now();
                let receipts = block["receipts"].as_array().cloned().unwrap_or_default();
                for receipt in receipts {
                    let Some(txid) = receipt["txid"]
                        .as_str()
                        .and_then(|t| t.parse::<Hash32>().ok())
                    else {
                        continue;
                    };
                    if let Some(at) = sent
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .remove(&txid)
                    {
                        latencies
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?
                            .push(seen - at);
                        if receipt["code"].as_u64() != Some(0) {
                            *refused.lock().map_err(|_| anyhow::anyhow!("poisoned"))? += 1;
                        }
                    }
                }
                next += 1;
            }
            Ok(())
        })
    };

    eprintln!(
        "sending {:.0} transfers/s for {} s to {} node(s)",
        args.rate,
        args.duration,
        args.nodes.len()
    );
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut count = 0u64;
    let mut rng = u64::from_be_bytes(run.0[8..16].try_into()?) | 1;
    let tip = height(first)?;
    while start.elapsed() < Duration::from_secs(args.duration) {
        let due = start + interval.mul_f64(count as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let from = (rng % u64::from(args.holders)) as u32;
        let to = (from + 1 + ((rng >> 32) % u64::from(args.holders - 1)) as u32) % args.holders;
        let tx = dev_sign(
            &holder(from),
            &chain,
            Operation::Transfer {
                to: dev_public(&holder(to))?.account_id(),
                asset: usdx,
                amount: 1,
                expected_fee: 0,
            },
            next_salt(),
            tip + 5_000,
        )?;
        sent.lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(tx.txid(), Instant::now());
        submit(args.nodes[(count as usize) % args.nodes.len()], &tx)?;
        count += 1;
    }
    let sending = start.elapsed();
    // Give the last blocks time to commit.
    let drain = Instant::now();
    while !sent
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .is_empty()
        && drain.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    follower
        .join()
        .map_err(|_| anyhow::anyhow!("follower panicked"))??;
    let mut latencies = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    latencies.sort();
    let committed = latencies.len();
    let lost = sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len();
    println!(
        "sent {count} transfers in {:.1} s ({:.1}/s); committed {committed} ({:.1}/s), {} refused by the ledger, {lost} not committed within 60 s",
        sending.as_secs_f64(),
        count as f64 / sending.as_secs_f64(),
        committed as f64 / (sending + drain.elapsed()).as_secs_f64(),
        *refused.lock().map_err(|_| anyhow::anyhow!("poisoned"))?,
    );
    println!(
        "submit-to-commit latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}
