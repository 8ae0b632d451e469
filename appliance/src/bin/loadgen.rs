//! `loadgen`: load for a local chain. Registers and funds token holders through the development
//! accounts (`appliance dev-genesis`), signs every transfer before the timed window, then sends
//! them at a target rate over kept-alive connections, spread over the nodes and failing over to
//! the next node when one does not answer. It follows the blocks of every node and reports what
//! was acknowledged (202), committed, lost (acknowledged but never committed), included twice,
//! whether the nodes agree, and the acknowledge-to-commit latency (p50, p90, p99).
//!
//! `--ack-log FILE` writes every acknowledged txid (one hex per line, as acknowledged) so that an
//! independent checker can hold the federation to its promise; `--report FILE` writes the summary
//! as JSON; `--check` exits with status 1 if any acknowledged transaction was lost or included
//! twice, or if two nodes hold different blocks at one height.
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

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use appliance::dev::{dev_key, dev_public, dev_sign};
use clap::Parser;
use lightclient::genesis::{Genesis, asset_id_for_code};
use lightclient::hash::{Hash32, sha256};
use lightclient::tx::{ChainBinding, KycState, Operation, SignedTransaction, registration_digest};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    about = "Transfer load against a local chain: acknowledged, committed and lost transactions, agreement of the nodes, latency percentiles"
)]
struct Args {
    /// Node API addresses (comma separated, `host:port`).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:18080")]
    nodes: Vec<String>,
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
    /// How long to wait after sending for acknowledged transactions to commit, seconds.
    #[arg(long, default_value_t = 60)]
    drain: u64,
    /// Transfers in flight at once (a node that hangs holds its requests until they time out).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Write every acknowledged txid here, one per line.
    #[arg(long)]
    ack_log: Option<PathBuf>,
    /// Write the summary here as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Exit with status 1 on a lost or twice-included acknowledged transaction or a fork.
    #[arg(long)]
    check: bool,
}

/// What one submission came to.
enum Outcome {
    /// A node answered 202 (or 409: a node already holds it after an attempt whose answer was
    /// lost).
    Acknowledged,
    /// Refused for a reason retrying elsewhere will not change.
    Refused(String),
    /// No node took it.
    Unavailable(String),
}

struct Load {
    client: reqwest::Client,
    nodes: Vec<String>,
}

impl Load {
    async fn submit(&self, first: usize, body: &str) -> Outcome {
        let mut last_error = String::new();
        let attempts = self.nodes.len() * 3;
        for attempt in 0..attempts {
            let node = &self.nodes[(first + attempt) % self.nodes.len()];
            let sent = self
                .client
                .post(format!("http://{node}/v1/transactions"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let text = response.text().await.unwrap_or_default();
                    match status {
                        202 => return Outcome::Acknowledged,
                        409 if attempt > 0 || text.contains("duplicate") => {
                            return Outcome::Acknowledged;
                        }
                        429 | 503 => {
                            last_error = format!("{node}: {status} {text}");
                            let wait = retry_after.unwrap_or(1).min(1);
                            tokio::time::sleep(Duration::from_millis(100 + 400 * wait)).await;
                        }
                        _ => return Outcome::Refused(format!("{node}: {status} {text}")),
                    }
                }
                Err(e) => {
                    last_error = format!("{node}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        Outcome::Unavailable(last_error)
    }

    async fn get(&self, node: &str, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .client
            .get(format!("http://{node}{path}"))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// The highest tip any node reports.
    async fn tip(&self) -> anyhow::Result<u64> {
        let mut best = None;
        for node in &self.nodes {
            if let Ok((_, body)) = self.get(node, "/ready").await
                && let Some(h) = body["height"].as_u64()
            {
                best = Some(best.map_or(h, |b: u64| b.max(h)));
            }
        }
        best.context("no node answers /ready")
    }

    /// Waits until every transaction is committed (applied) on some node.
    async fn wait_applied(&self, txids: &[Hash32], limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        for (i, txid) in txids.iter().enumerate() {
            loop {
                let node = &self.nodes[i % self.nodes.len()];
                let status = self
                    .get(node, &format!("/v1/transactions/{txid}"))
                    .await
                    .map(|(_, body)| body);
                match status.as_ref().ok().and_then(|b| b["status"].as_str()) {
                    Some("committed") => break,
                    Some("rejected") => bail!("setup transaction {txid} was rejected: {status:?}"),
                    _ if started.elapsed() > limit => {
                        bail!("setup transaction {txid} not committed in {limit:?}")
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        Ok(())
    }
}

/// What the followers saw.
#[derive(Default)]
struct Seen {
    /// Per node, how often each txid appeared in its blocks.
    occurrences: Vec<HashMap<Hash32, u32>>,
    /// When each txid was first seen committed, on any node.
    first_commit: HashMap<Hash32, Instant>,
    /// Block hash per height, per node.
    hashes: BTreeMap<u64, Vec<Option<String>>>,
    /// The last height each node's follower read.
    heights: Vec<u64>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        !args.nodes.is_empty() && args.rate > 0.0 && args.holders >= 2,
        "need nodes, a positive rate and at least two holders"
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let genesis = Genesis::from_json(
        &std::fs::read(&args.genesis)
            .with_context(|| format!("reading {}", args.genesis.display()))?,
    )?;
    let chain = genesis.binding()?;
    let load = Arc::new(Load {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(args.concurrency)
            .build()?,
        nodes: args.nodes.clone(),
    });
    let run_id = sha256(
        &std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
            .to_be_bytes(),
    );
    let salts = Arc::new(AtomicU64::new(u64::from_be_bytes(
        run_id.0[..8].try_into()?,
    )));
    let holder = |i: u32| format!("holder-{}-{i}", &run_id.to_hex()[..8]);

    eprintln!("setting up {} holders", args.holders);
    let expiry = load.tip().await? + 5_000;
    // In stages, each committed before the next is sent: sent to different nodes, a holder's
    // issue could otherwise be ordered before its registration or its KYC.
    for stage in setup_transactions(&chain, args.holders, &holder, &salts, expiry)? {
        for (i, tx) in stage.iter().enumerate() {
            match load.submit(i, &serde_json::to_string(tx)?).await {
                Outcome::Acknowledged => {}
                Outcome::Refused(why) | Outcome::Unavailable(why) => {
                    bail!("setup transaction refused: {why}")
                }
            }
        }
        let ids: Vec<Hash32> = stage.iter().map(SignedTransaction::txid).collect();
        load.wait_applied(&ids, Duration::from_secs(180)).await?;
    }

    let total = (args.rate * args.duration as f64).ceil() as usize;
    eprintln!("signing {total} transfers before the timed window");
    let tip = load.tip().await?;
    let transfers = sign_transfers(&chain, args.holders, &holder, &salts, tip + 5_000, total)?;

    let start_height = tip + 1;
    let seen = Arc::new(Mutex::new(Seen {
        occurrences: vec![HashMap::new(); args.nodes.len()],
        heights: vec![start_height - 1; args.nodes.len()],
        ..Seen::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let mut followers = Vec::new();
    for index in 0..args.nodes.len() {
        followers.push(tokio::spawn(follow(
            Arc::clone(&load),
            index,
            start_height,
            Arc::clone(&seen),
            Arc::clone(&stop),
        )));
    }

    let mut ack_log = match &args.ack_log {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    eprintln!(
        "sending {:.0} transfers/s for {} s to {} node(s)",
        args.rate,
        args.duration,
        args.nodes.len()
    );
    let acked: Arc<Mutex<HashMap<Hash32, Instant>>> = Arc::default();
    let refused = Arc::new(AtomicU64::new(0));
    let unavailable = Arc::new(AtomicU64::new(0));
    let last_problem: Arc<Mutex<Option<String>>> = Arc::default();
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<Hash32>();
    let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut senders = Vec::with_capacity(transfers.len());
    for (count, tx) in transfers.into_iter().enumerate() {
        let due = start + interval.mul_f64(count as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (load, acked, refused, unavailable, last_problem, ack_tx) = (
            Arc::clone(&load),
            Arc::clone(&acked),
            Arc::clone(&refused),
            Arc::clone(&unavailable),
            Arc::clone(&last_problem),
            ack_tx.clone(),
        );
        senders.push(tokio::spawn(async move {
            let _permit = permit;
            let (txid, body) = tx;
            match load.submit(count, &body).await {
                Outcome::Acknowledged => {
                    if let Ok(mut acked) = acked.lock() {
                        acked.insert(txid, Instant::now());
                    }
                    let _ = ack_tx.send(txid);
                }
                Outcome::Refused(why) => {
                    refused.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut last) = last_problem.lock() {
                        *last = Some(why);
                    }
                }
                Outcome::Unavailable(why) => {
                    unavailable.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut last) = last_problem.lock() {
                        *last = Some(why);
                    }
                }
            }
        }));
        while let Ok(txid) = ack_rx.try_recv() {
            if let Some(log) = ack_log.as_mut() {
                writeln!(log, "{txid}")?;
            }
        }
    }
    for sender in senders {
        let _ = sender.await;
    }
    let sending = start.elapsed();
    drop(ack_tx);
    while let Some(txid) = ack_rx.recv().await {
        if let Some(log) = ack_log.as_mut() {
            writeln!(log, "{txid}")?;
        }
    }
    if let Some(log) = ack_log.as_mut() {
        log.flush()?;
    }
    let acked = acked
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    eprintln!(
        "sent {} transfers in {:.1} s; {} acknowledged; waiting up to {} s for them to commit on every node",
        total,
        sending.as_secs_f64(),
        acked.len(),
        args.drain
    );

    // Drain: until every acknowledged transaction is in a block on every node (or time is up).
    let drain = Instant::now();
    loop {
        let done = {
            let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            acked
                .keys()
                .all(|t| seen.occurrences.iter().all(|node| node.contains_key(t)))
        };
        if done || drain.elapsed() > Duration::from_secs(args.drain) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for follower in followers {
        let _ = follower.await;
    }

    let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut latencies: Vec<Duration> = acked
        .iter()
        .filter_map(|(txid, at)| {
            seen.first_commit
                .get(txid)
                .map(|c| c.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    let committed = latencies.len();
    let lost: Vec<&Hash32> = acked
        .keys()
        .filter(|t| !seen.first_commit.contains_key(*t))
        .collect();
    let twice: usize = acked
        .keys()
        .filter(|t| {
            seen.occurrences
                .iter()
                .any(|n| n.get(*t).is_some_and(|c| *c > 1))
        })
        .count();
    let missing_on_some_node = acked
        .keys()
        .filter(|t| seen.first_commit.contains_key(*t))
        .filter(|t| seen.occurrences.iter().any(|n| !n.contains_key(*t)))
        .count();
    let forks: Vec<u64> = seen
        .hashes
        .iter()
        .filter(|(_, hashes)| {
            let mut known = hashes.iter().flatten();
            known.next().is_some_and(|first| known.any(|h| h != first))
        })
        .map(|(h, _)| *h)
        .collect();
    let elapsed = sending + drain.elapsed();
    let report = json!({
        "sent": total,
        "acknowledged": acked.len(),
        "refused": refused.load(Ordering::SeqCst),
        "unavailable": unavailable.load(Ordering::SeqCst),
        "committed": committed,
        "lost": lost.len(),
        "included_twice": twice,
        "committed_but_missing_on_a_node": missing_on_some_node,
        "forks": forks,
        "node_heights": seen.heights,
        "sending_seconds": sending.as_secs_f64(),
        "committed_per_second": committed as f64 / elapsed.as_secs_f64(),
        "latency_ms": {
            "p50": ms(percentile(&latencies, 0.50)),
            "p90": ms(percentile(&latencies, 0.90)),
            "p99": ms(percentile(&latencies, 0.99)),
            "max": ms(latencies.last().copied().unwrap_or_default()),
        },
    });
    println!(
        "sent {total} transfers in {:.1} s ({:.1}/s): {} acknowledged, {} refused, {} found no node; committed {committed} ({:.1}/s); lost {}; included twice {twice}; forks {}",
        sending.as_secs_f64(),
        total as f64 / sending.as_secs_f64(),
        acked.len(),
        refused.load(Ordering::SeqCst),
        unavailable.load(Ordering::SeqCst),
        committed as f64 / elapsed.as_secs_f64(),
        lost.len(),
        forks.len(),
    );
    println!(
        "acknowledge-to-commit latency: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms; node heights {:?}",
        report["latency_ms"]["p50"],
        report["latency_ms"]["p90"],
        report["latency_ms"]["p99"],
        report["latency_ms"]["max"],
        seen.heights,
    );
    if let Some(why) = last_problem
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .as_ref()
    {
        println!("last refusal or failure: {why}");
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.check && (!lost.is_empty() || twice > 0 || !forks.is_empty()) {
        bail!(
            "check failed: {} lost (first: {:?}), {twice} included twice, forks at {forks:?}",
            lost.len(),
            lost.first()
        );
    }
    Ok(())
}

/// Follows node `index`'s blocks from `from` until told to stop.
async fn follow(
    load: Arc<Load>,
    index: usize,
    from: u64,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) {
    let node = load.nodes[index].clone();
    let nodes = load.nodes.len();
    let mut next = from;
    loop {
        match load.get(&node, &format!("/v1/blocks/{next}")).await {
            Ok((200, block)) => {
                let at = Instant::now();
                let Ok(mut seen) = seen.lock() else { return };
                for receipt in block["receipts"].as_array().into_iter().flatten() {
                    if let Some(txid) = receipt["txid"].as_str().and_then(|t| t.parse().ok()) {
                        *seen.occurrences[index].entry(txid).or_default() += 1;
                        seen.first_commit.entry(txid).or_insert(at);
                    }
                }
                let hash = block["hash"].as_str().map(str::to_string);
                seen.hashes.entry(next).or_insert_with(|| vec![None; nodes])[index] = hash;
                seen.heights[index] = next;
                next += 1;
                continue;
            }
            Ok(_) | Err(_) if stop.load(Ordering::SeqCst) => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(30)).await,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn next_salt(salts: &AtomicU64) -> u64 {
    salts.fetch_add(1, Ordering::SeqCst)
}

/// The setup in three stages: the bank's deposit and the holders' registrations; their KYC;
/// their funding.
fn setup_transactions(
    chain: &ChainBinding,
    holders: u32,
    holder: &impl Fn(u32) -> String,
    salts: &AtomicU64,
    expiry: u64,
) -> anyhow::Result<[Vec<SignedTransaction>; 3]> {
    let usdx = asset_id_for_code("USDX");
    let bank = dev_public("bank")?.account_id();
    let mut register = vec![dev_sign(
        "settlement",
        chain,
        Operation::Deposit {
            asset_holder: bank,
            asset: usdx,
            amount: u128::from(holders) * 1_000_000,
        },
        next_salt(salts),
        expiry,
    )?];
    let (mut verify, mut fund) = (Vec::new(), Vec::new());
    let sign =
        |signer: &str, operation| dev_sign(signer, chain, operation, next_salt(salts), expiry);
    for i in 0..holders {
        let name = holder(i);
        let public_key = dev_public(&name)?;
        let account = public_key.account_id();
        let challenge = sha256(name.as_bytes());
        let digest = registration_digest(&chain.chain_id, &bank, &challenge);
        let (sig, _) = dev_key(&name)?.sign_prehash_recoverable(digest.as_bytes())?;
        let holder_signature = lightclient::Signature::from(sig).normalize_s()?;
        let operation = Operation::RegisterHolder {
            public_key,
            challenge,
            holder_signature,
        };
        register.push(sign("bank", operation)?);
        let operation = Operation::SetKycState {
            account,
            state: KycState::Verified,
        };
        verify.push(sign("kyc-admin", operation)?);
        let operation = Operation::Issue {
            to: account,
            asset: usdx,
            amount: 1_000_000,
        };
        fund.push(sign("bank", operation)?);
    }
    Ok([register, verify, fund])
}

/// `total` transfers of 1 unit between random holders, signed on both cores, each with its JSON
/// body ready to send.
fn sign_transfers(
    chain: &ChainBinding,
    holders: u32,
    holder: &(impl Fn(u32) -> String + Sync),
    salts: &AtomicU64,
    expiry: u64,
    total: usize,
) -> anyhow::Result<Vec<(Hash32, String)>> {
    let usdx = asset_id_for_code("USDX");
    let accounts: Vec<_> = (0..holders)
        .map(|i| dev_public(&holder(i)).map(|k| k.account_id()))
        .collect::<Result<_, _>>()?;
    let keys: Vec<_> = (0..holders).map(holder).collect();
    let first_salt = salts.fetch_add(total as u64, Ordering::SeqCst);
    let threads = 2usize;
    let chunk = total.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (accounts, keys) = (&accounts, &keys);
                scope.spawn(move || -> anyhow::Result<Vec<(Hash32, String)>> {
                    let mut out = Vec::new();
                    for i in (t * chunk)..((t + 1) * chunk).min(total) {
                        let mut rng =
                            (first_salt ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let from = (rng % u64::from(holders)) as usize;
                        let to = (from + 1 + ((rng >> 32) % u64::from(holders - 1)) as usize)
                            % holders as usize;
                        let tx = dev_sign(
                            &keys[from],
                            chain,
                            Operation::Transfer {
                                to: accounts[to],
                                asset: usdx,
                                amount: 1,
                                expected_fee: 0,
                            },
                            first_salt + i as u64,
                            expiry,
                        )?;
                        out.push((tx.txid(), serde_json::to_string(&tx)?));
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(total);
        for worker in workers {
            all.extend(
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??,
            );
        }
        Ok(all)
    })
}
