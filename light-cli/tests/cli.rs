//! The `lightclient` binary without a federation: its home, its usage errors and exit codes.
// A test harness: a failed step should stop the test at once, with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::Command;

fn lightclient(home: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lightclient"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_home_trusts_the_genesis_it_was_given_once() {
    let dir = tempfile::tempdir().unwrap();
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("../../lightclient/tests/vectors/genesis.json")).unwrap();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, serde_json::to_vec(&vector["genesis"]).unwrap()).unwrap();
    let home = dir.path().join("home");
    let (code, text) = lightclient(&home, &["init", "--genesis", genesis.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let hash = vector["genesis_hash"].as_str().unwrap();
    assert!(
        text.contains(&format!("at height 0 (block {hash})")),
        "{text}"
    );
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("trust-root.json")).unwrap()).unwrap();
    assert_eq!(root["root"]["hash"], hash);
    // Trust is not replaced by a second init.
    let (code, text) = lightclient(&home, &["init", "--genesis", genesis.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("initialised already"), "{text}");
}

#[test]
fn usage_and_missing_homes_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("none");
    let (code, text) = lightclient(&home, &["sync", "--node", "http://127.0.0.1:9"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("run `lightclient init` first"), "{text}");
    let (code, text) = lightclient(&home, &["sync"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--node"), "{text}");
    let (code, text) = lightclient(&home, &["init", "--genesis", "/nonexistent/genesis.json"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("/nonexistent/genesis.json"), "{text}");
}
