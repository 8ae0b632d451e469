//! The light client's file store under kill -9: a writer process stores block after block and
//! says which it stored; it is killed at random moments, again and again. After each kill the
//! home must open, every block the writer reported stored must be there and read back intact,
//! and a leftover temporary file must not stop the next run.
// A test harness: a failed step should stop the test at once, with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lightclient::certificate::CommitCertificate;
use lightclient::genesis::Genesis;
use lightclient::hash::{Hash32, sha256};
use lightclient::header::{BlockHeader, HEADER_VERSION};
use lightclient::keys::ValidatorAddress;
use lightclient::light::{LightBlock, LightStore, Status, TrustedState};
use lightclient_cli::store::FileStore;

const WRITER: &str = "ABT_FILESTORE_WRITER";

fn genesis() -> (Genesis, Vec<u8>) {
    let bytes = include_bytes!("../../lightclient/tests/vectors/genesis.json");
    let vector: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let genesis = serde_json::to_vec(&vector["genesis"]).unwrap();
    (Genesis::from_json(&genesis).unwrap(), genesis)
}

/// A block for the store: what it holds matters, not whether it verifies.
fn block(genesis: &Genesis, height: u64) -> LightBlock {
    let set = genesis.validators.clone();
    let header = BlockHeader {
        version: HEADER_VERSION,
        chain_id: genesis.chain_id.clone(),
        height,
        time_ms: 1_795_000_000_000 + height,
        previous_block_hash: sha256(&height.to_be_bytes()),
        proposer: ValidatorAddress([1; 20]),
        transactions_root: Hash32([2; 32]),
        transaction_count: 0,
        receipts_root: Hash32([3; 32]),
        state_root: sha256(&height.to_le_bytes()),
        mapping_hash: Hash32([4; 32]),
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
    };
    LightBlock {
        certificate: CommitCertificate {
            version: 1,
            height,
            round: 0,
            block_hash: header.hash(),
            signatures: Vec::new(),
        },
        header,
        validators: set.clone(),
        next_validators: set,
    }
}

/// The writer: stores heights from where the home stands, printing each once it is stored.
#[test]
fn writer() {
    let Ok(home) = std::env::var(WRITER) else {
        return;
    };
    let (genesis, _) = genesis();
    let (_, mut store) = FileStore::open(Path::new(&home)).unwrap();
    let mut height = store.highest_verified().map_or(1, |(b, _)| b.height() + 1);
    let mut out = std::io::stdout().lock();
    loop {
        store
            .insert(block(&genesis, height), Status::Verified)
            .unwrap();
        writeln!(out, "stored {height}").unwrap();
        out.flush().unwrap();
        height += 1;
    }
}

#[test]
fn a_kill_9_at_any_moment_leaves_every_stored_block_and_an_openable_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (genesis, genesis_bytes) = genesis();
    FileStore::init(
        &home,
        &TrustedState::from_genesis(&genesis).unwrap(),
        &genesis_bytes,
    )
    .unwrap();
    let mut acknowledged = 0u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..12 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["writer", "--exact", "--nocapture", "--test-threads=1"])
            .env(WRITER, &home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.strip_prefix("stored ")
                        .and_then(|h| h.parse::<u64>().ok())
                })
                .max()
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(150 + seed % 400));
        child.kill().unwrap();
        child.wait().unwrap();
        let reported = reader.join().unwrap();
        if let Some(h) = reported {
            acknowledged = acknowledged.max(h);
        }
        let (_, store) = FileStore::open(&home).unwrap_or_else(|e| {
            panic!(
                "round {round}: the home does not open after kill -9 at {:?}: {e}",
                started.elapsed()
            )
        });
        for height in 1..=acknowledged {
            let (stored, status) = store
                .get(height)
                .unwrap_or_else(|| panic!("round {round}: stored block {height} is gone"));
            assert_eq!(
                stored,
                block(&genesis, height),
                "round {round}: block {height}"
            );
            assert_eq!(status, Status::Verified);
        }
    }
    assert!(
        acknowledged >= 12,
        "the writer stored only {acknowledged} blocks in 12 rounds"
    );
    println!("{acknowledged} blocks stored across 12 kills");
}
