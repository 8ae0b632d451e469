//! Crash safety: a writer committing blocks is killed (SIGKILL) at random moments; after each kill the
//! store must hold whole blocks only, every acknowledged block included, and reopen cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use appliance::chain::Chain;
use appliance::store::Store;
use lightclient::genesis::Genesis;

const WRITER: &str = env!("CARGO_BIN_EXE_ledger-bench");

fn writer_genesis() -> Genesis {
    let out = Command::new(WRITER)
        .args([
            "--store",
            "/nonexistent",
            "--holders",
            "40",
            "--print-genesis",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    Genesis::from_json(&out.stdout).unwrap()
}

/// Runs the writer until it has acknowledged a few blocks, waits `delay`, kills it with SIGKILL,
/// and returns the last height it acknowledged.
fn run_and_kill(store: &std::path::Path, delay: Duration) -> u64 {
    let mut child = Command::new(WRITER)
        .arg("--store")
        .arg(store)
        .args([
            "--holders",
            "40",
            "--block-size",
            "30",
            "--snapshot-every",
            "4",
            "--forever",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let acked = Arc::new(Mutex::new(0u64));
    let lines = BufReader::new(child.stdout.take().unwrap());
    let seen = Arc::clone(&acked);
    let reader = std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            if let Some(h) = line.strip_prefix("committed ").and_then(|h| h.parse().ok()) {
                *seen.lock().unwrap() = h;
            }
        }
    });
    let started = Instant::now();
    let first = *acked.lock().unwrap();
    while *acked.lock().unwrap() <= first && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL: no destructor, no flush
    child.wait().unwrap();
    reader.join().unwrap();
    let last = *acked.lock().unwrap();
    assert!(last > 0, "the writer never committed a block");
    last
}

#[test]
fn a_writer_killed_at_random_points_leaves_whole_blocks_only() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = writer_genesis();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    for round in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 400);
        let acked = run_and_kill(dir.path(), delay);

        // Whole blocks only: each block decodes, links to its parent, and its state root is the
        // stored tree root at its height.
        let store = Store::open(dir.path()).unwrap();
        let tip = store.tip_height().unwrap();
        assert!(
            tip >= acked,
            "round {round}: acknowledged block {acked} lost (tip {tip})"
        );
        let mut parent = store.genesis_hash().unwrap().unwrap();
        for height in 1..=tip {
            let block = store
                .block(height)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: block {height} missing"));
            assert_eq!(
                block.header.previous_block_hash, parent,
                "round {round}: block {height} does not link"
            );
            assert_eq!(block.receipts.len(), block.transactions.len());
            let (_, root) = store.root_at(height).unwrap().unwrap();
            assert_eq!(
                root, block.header.state_root,
                "round {round}: block {height} state root"
            );
            parent = block.header.hash();
        }
        assert!(store.block(tip + 1).unwrap().is_none());
        drop(store);

        // It reopens: snapshot + replay reproduce the tip's state root from scratch.
        let chain = Chain::open(dir.path(), genesis.clone(), 4).unwrap();
        assert_eq!(chain.height(), tip);
        let state = chain.state();
        let entries = state.all_state_entries();
        let root = appliance::ledger::state_tree::MemoryTree::default()
            .commit(0, &entries)
            .unwrap();
        assert_eq!(
            root,
            chain.tip().unwrap().state_root,
            "round {round}: replayed state differs"
        );
        state.check_invariants().unwrap();
    }
}
