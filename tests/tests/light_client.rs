//! The `lightclient` command line against a real four-validator federation: it trusts only the
//! genesis file, verifies blocks through the nodes' `/v1/light_blocks`, cross-checks witnesses,
//! and names the check a lying node fails (a proxy in front of a real node rewrites its answers).
// A test harness: a failed step should stop the test at once, with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use e2e::federation::*;

/// A node that answers every GET by asking the real node at `upstream` and passing light blocks
/// through `tamper` first.
fn lying_node(upstream: u16, tamper: fn(&mut Value)) -> u16 {
    lying_about(upstream, "/v1/light_blocks/", tamper)
}

/// A node that answers every GET by asking the real node at `upstream` and passing the answers
/// to paths under `prefix` through `tamper` first.
fn lying_about(upstream: u16, prefix: &'static str, tamper: fn(&mut Value)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let (status, mut answer) =
                exchange(upstream, "GET", &path, b"").unwrap_or((502, b"{}".to_vec()));
            if status == 200 && path.starts_with(prefix) {
                let mut block: Value = serde_json::from_slice(&answer).unwrap();
                tamper(&mut block);
                answer = serde_json::to_vec(&block).unwrap();
            }
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                answer.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&answer);
        }
    });
    port
}

fn run(home: &Path, args: &[&str]) -> (Output, String) {
    lightclient(home, args, &[])
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

#[test]
fn the_command_line_verifies_the_federation_and_names_what_a_lying_node_fails() {
    let _turn = one_federation_at_a_time();
    let mut fed = Federation::new();
    for node in 0..NODES {
        fed.nodes[node].start();
    }
    fed.wait_for("height 6", Duration::from_secs(60), || fed.height(0) >= 6);
    let genesis = fed.dir.path().join("genesis.json");
    let genesis = genesis.to_str().unwrap();
    let ports: Vec<u16> = fed.nodes.iter().map(|n| n.api).collect();
    let node = |i: usize| url(ports[i]);

    let home = fed.dir.path().join("light");
    let (out, text) = run(&home, &["init", "--genesis", genesis]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("at height 0"), "{text}");
    // A second init of the same home is refused rather than overwriting trust.
    let (out, text) = run(&home, &["init", "--genesis", genesis]);
    assert_eq!(out.status.code(), Some(2), "{text}");

    let (out, text) = run(
        &home,
        &[
            "sync",
            "--node",
            &node(0),
            "--witness",
            &node(1),
            "--height",
            "5",
        ],
    );
    assert!(out.status.success(), "{text}");
    let hash = fed.nodes[0].header(5).unwrap().hash();
    assert!(text.contains("verified height 5"), "{text}");
    assert!(
        text.contains(&format!(
            "height 5: block {hash} trusted (confirmed by a witness)"
        )),
        "{text}"
    );

    // For programs: the latest block, through other nodes, from what the home already trusts.
    let (out, text) = run(
        &home,
        &["--json", "sync", "--node", &node(2), "--witness", &node(3)],
    );
    assert!(out.status.success(), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["status"], "trusted");
    assert!(report["height"].as_u64().unwrap() >= 6, "{report}");

    // A primary that rewrites the state root: its certificate no longer certifies the header.
    let liar = lying_node(fed.nodes[0].api, |block| {
        block["header"]["state_root"] = Value::String("00".repeat(32));
    });
    let fresh = fed.dir.path().join("light-2");
    run(&fresh, &["init", "--genesis", genesis]);
    let (out, text) = run(&fresh, &["sync", "--node", &url(liar), "--height", "3"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (certificate)"), "{text}");
    let (out, text) = run(
        &fresh,
        &["--json", "sync", "--node", &url(liar), "--height", "3"],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["verified"].as_bool(), report["check"].as_str()),
        (Some(false), Some("certificate"))
    );

    // A primary claiming another validator set for the next height.
    let usurper = lying_node(fed.nodes[1].api, |block| {
        block["header"]["next_validator_set_hash"] = Value::String("11".repeat(32));
    });
    let (out, text) = run(&fresh, &["sync", "--node", &url(usurper), "--height", "4"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (next_validator_set_hash)"), "{text}");

    // A lying witness is dropped; an honest one still confirms.
    let (out, text) = run(
        &fresh,
        &[
            "sync",
            "--node",
            &node(0),
            "--witness",
            &url(liar),
            "--witness",
            &node(2),
            "--height",
            "4",
        ],
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("served a block that does not verify; dropped"),
        "{text}"
    );
    assert!(text.contains("trusted (confirmed by a witness)"), "{text}");

    // Trust from a checkpoint instead of genesis: the block at height 5 by its hash (from a
    // source the user trusts), fetched from a node; the wrong hash is refused by name.
    let checkpointed = fed.dir.path().join("light-checkpoint");
    let checkpoint = format!("5:{hash}");
    let (out, text) = run(
        &checkpointed,
        &[
            "init",
            "--genesis",
            genesis,
            "--checkpoint",
            &checkpoint,
            "--node",
            &node(3),
        ],
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("at height 5 (block {hash})")),
        "{text}"
    );
    let (out, text) = run(
        &checkpointed,
        &["sync", "--node", &node(1), "--witness", &node(2)],
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("trusted (confirmed by a witness)"), "{text}");
    let wrong = format!("5:{}", fed.nodes[0].header(4).unwrap().hash());
    let (out, text) = run(
        &fed.dir.path().join("light-wrong-checkpoint"),
        &[
            "init",
            "--genesis",
            genesis,
            "--checkpoint",
            &wrong,
            "--node",
            &node(3),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED ("), "{text}");
    assert!(
        !fed.dir
            .path()
            .join("light-wrong-checkpoint/trust-root.json")
            .exists(),
        "a refused checkpoint leaves no trust root behind"
    );

    // A node that cannot be reached is a network error (exit 2), not a failed check.
    let (out, text) = run(&fresh, &["sync", "--node", &url(free_port())]);
    assert_eq!(out.status.code(), Some(2), "{text}");

    // Balances, proven against the state root of a header the client verified itself.
    let bank =
        lightclient::keys::PublicKey::account_id(&appliance::dev::dev_public("bank").unwrap());
    let deposit = fed.sign(
        "settlement",
        lightclient::tx::Operation::Deposit {
            asset_holder: bank,
            asset: lightclient::genesis::asset_id_for_code("USDX"),
            amount: 1_000_000,
        },
    );
    let txid = fed.nodes[0].submit(&deposit);
    fed.wait_committed(0, &txid);
    let (setup, alice) = holder_setup(&mut fed, "e2e-light-alice");
    for tx in &setup {
        let txid = fed.nodes[0].submit(tx);
        fed.wait_committed(0, &txid);
    }
    let alice = alice.to_string();
    let issue_txid = setup[2].txid().to_string();
    let (out, text) = run(&home, &["balance", &alice, "USDX", "--node", &node(1)]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1000 available, 0 locked; proven under the state root of verified block"),
        "{text}"
    );
    // Every balance the node lists, for programs.
    let (out, text) = run(&home, &["--json", "balance", &alice, "--node", &node(2)]);
    assert!(out.status.success(), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["balances"][0]["available"], "1000", "{report}");
    assert_eq!(report["balances"][0]["present"], true, "{report}");
    // An account that never held the asset is proven absent: zero.
    let (out, text) = run(
        &home,
        &["balance", &"ab".repeat(20), "USDX", "--node", &node(3)],
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("proven absent (zero)"), "{text}");

    // A node that inflates the balance: the value no longer hashes to the proven leaf.
    let inflating = lying_about(fed.nodes[0].api, "/v1/proofs/", |answer| {
        let mut value = hex_decode(answer["value"].as_str().unwrap());
        value[16] ^= 0x10;
        answer["value"] = Value::String(hex::encode(value));
    });
    let (out, text) = run(
        &home,
        &["balance", &alice, "USDX", "--node", &url(inflating)],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (proof value)"), "{text}");
    // A proof for another root (a sibling changed), and a claimed root that agrees with it: the
    // client checks against its own verified header, not the node's word.
    let other_root = lying_about(fed.nodes[0].api, "/v1/proofs/", |answer| {
        let mut proof = hex_decode(answer["proof"].as_str().unwrap());
        let last = proof.len() - 1;
        proof[last] ^= 1;
        answer["proof"] = Value::String(hex::encode(proof));
        answer["state_root"] = Value::String("22".repeat(32));
    });
    let (out, text) = run(
        &home,
        &["balance", &alice, "USDX", "--node", &url(other_root)],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (state root)"), "{text}");
    // A proof of another key (bob's balance passed off as alice's).
    let other_key = lying_about(fed.nodes[0].api, "/v1/proofs/", |answer| {
        answer["key"] = Value::String("02".to_owned() + &"cd".repeat(52));
    });
    let (out, text) = run(
        &home,
        &["balance", &alice, "USDX", "--node", &url(other_key)],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (proof key)"), "{text}");

    // The issue transaction: included under a verified header, and its receipt (code, events)
    // under the receipts root.
    let (out, text) = run(&home, &["tx", &issue_txid, "--node", &node(2)]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("receipt: OK, under the block's receipts root: applied (0)"),
        "{text}"
    );
    assert!(text.contains("event: mint of 1000 "), "{text}");
    assert!(text.contains(&format!(" to {alice}")), "{text}");
    // A node that rewrites the minted amount in the receipt.
    let rewriting = lying_about(fed.nodes[0].api, "/v1/transactions/", |answer| {
        if answer.get("receipts_root").is_some() {
            let mut leaf = hex_decode(answer["leaf"].as_str().unwrap());
            let last = leaf.len() - 1;
            leaf[last] ^= 1;
            answer["leaf"] = Value::String(hex::encode(leaf));
        }
    });
    let (out, text) = run(&home, &["tx", &issue_txid, "--node", &url(rewriting)]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (receipt inclusion)"), "{text}");

    // Every USDX token is backed by the bank's covered position.
    let (out, text) = run(&home, &["backing", "USDX", "--node", &node(0)]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("supply 1000 equals what 1 asset holder(s) issued, each covered"),
        "{text}"
    );
    // A node that hides the bank's position cannot make the issued figures add up.
    let hiding = lying_about(fed.nodes[0].api, "/v1/assets/", |answer| {
        answer["positions"] = Value::Array(Vec::new());
    });
    let (out, text) = run(&home, &["backing", "USDX", "--node", &url(hiding)]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (holders complete)"), "{text}");
}
