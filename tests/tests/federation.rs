//! Four real `appliance` processes, each with its validator key in its own SoftHSM2 token, agree
//! on blocks through Malachite over loopback TCP. Checked from outside, over the HTTP API and with
//! the light-client rules: transfers sent to different nodes commit and all nodes hold the same
//! headers; one node down does not stop the chain; a restarted node catches up; two nodes down
//! halt the chain without a fork, and it resumes when one returns.
// A test harness: a failed step should stop the test at once, with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use appliance::dev::{dev_genesis, dev_key, dev_public};
use lightclient::genesis::asset_id_for_code;
use lightclient::hash::sha256;
use lightclient::keys::{AccountId, PublicKey};
use lightclient::tx::Operation;
use lightclient::validator::{SetApproval, Validator, ValidatorSet};
use serde_json::Value;
use signer::Signer;
use signer::pkcs11::{DEFAULT_MODULE, Pkcs11Signer, dev_test_token};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::federation::*;

#[test]
fn four_validators_agree_survive_one_failure_halt_at_two_and_catch_up() {
    let _turn = one_federation_at_a_time();
    let mut fed = Federation::new();
    for node in &mut fed.nodes {
        node.start();
    }
    fed.wait_for(
        "all four nodes at height 1",
        Duration::from_secs(120),
        || (0..NODES).all(|n| fed.height(n) >= 1),
    );

    // Transfers submitted to different nodes commit; every node holds the same chain.
    let usdx = asset_id_for_code("USDX");
    let bank = dev_public("bank").unwrap().account_id();
    let deposit = fed.sign(
        "settlement",
        Operation::Deposit {
            asset_holder: bank,
            asset: usdx,
            amount: 1_000_000,
        },
    );
    let txid = fed.nodes[0].submit(&deposit);
    fed.wait_committed(0, &txid);
    let (alice_setup, alice) = holder_setup(&mut fed, "e2e-alice");
    let (bob_setup, bob) = holder_setup(&mut fed, "e2e-bob");
    for (i, tx) in alice_setup.iter().chain(&bob_setup).enumerate() {
        let txid = fed.nodes[1].submit(tx);
        if i % 3 == 2 {
            fed.wait_committed(1, &txid);
        }
    }
    let mut last = 0;
    for n in 0..NODES {
        let tx = if n % 2 == 0 {
            transfer(&mut fed, "e2e-alice", bob, 10)
        } else {
            transfer(&mut fed, "e2e-bob", alice, 3)
        };
        let txid = fed.nodes[n].submit(&tx);
        last = last.max(fed.wait_committed(n, &txid));
    }
    fed.wait_for(
        "every node at the last transfer's height",
        Duration::from_secs(30),
        || (0..NODES).all(|n| fed.height(n) >= last),
    );
    fed.assert_same_chain(&[0, 1, 2, 3], last);
    let balances = |fed: &Federation, node: usize, account: AccountId| -> Value {
        http(
            fed.nodes[node].api,
            "GET",
            &format!("/v1/accounts/{account}/balances"),
            None,
        )
        .unwrap()
        .1
    };
    // The balances, not the height they are read at: the chain moves on between two reads.
    for n in 0..NODES {
        assert_eq!(
            balances(&fed, n, alice)["balances"],
            balances(&fed, 0, alice)["balances"],
            "node {n}"
        );
    }

    // One node down: the other three still make a quorum.
    fed.nodes[3].stop();
    let before = fed.height(0);
    let tx = transfer(&mut fed, "e2e-alice", bob, 1);
    let txid = fed.nodes[0].submit(&tx);
    let committed_at = fed.wait_committed(0, &txid);
    assert!(committed_at > before);
    fed.wait_for(
        "three blocks more without node 3",
        Duration::from_secs(60),
        || fed.height(0) >= before + 3,
    );

    // Restarted, it fetches and verifies what it missed.
    fed.nodes[3].start();
    let target = fed.height(0);
    fed.wait_for("node 3 to catch up", Duration::from_secs(120), || {
        fed.height(3) >= target
    });
    fed.assert_same_chain(&[0, 3], target);

    // Two nodes down: no quorum, so no block, and no fork among the two left.
    fed.nodes[2].stop();
    fed.nodes[3].stop();
    // A block the four were already deciding may still land; after that, nothing.
    std::thread::sleep(Duration::from_secs(2));
    let halted_at = fed.height(0).max(fed.height(1));
    let tx = transfer(&mut fed, "e2e-bob", alice, 1);
    let stuck = fed.nodes[1].submit(&tx);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(fed.height(0), halted_at, "node 0 went on without a quorum");
    assert_eq!(fed.height(1), halted_at, "node 1 went on without a quorum");
    assert_eq!(fed.nodes[1].status_of(&stuck)["status"], "pending");
    fed.assert_same_chain(&[0, 1], halted_at);

    // One returns: three of four again, the chain resumes and the waiting transfer commits.
    fed.nodes[2].start();
    let resumed_at = fed.wait_committed(1, &stuck);
    assert!(resumed_at > halted_at);
    fed.wait_for(
        "node 2 at the resumed height",
        Duration::from_secs(60),
        || fed.height(2) >= resumed_at,
    );
    fed.assert_same_chain(&[0, 1, 2], resumed_at);

    // Node 3 lost its store but kept its watermark: it must not vote at heights its key has
    // signed past. It follows the chain without voting, exits once it has passed the
    // watermark, and votes again when restarted.
    let data = fed.dir.path().join("node-3");
    std::fs::remove_dir_all(data.join("store")).unwrap();
    std::fs::remove_dir_all(data.join("consensus")).unwrap();
    fed.nodes[3].start();
    let status = fed.nodes[3].wait_exit(Duration::from_secs(120));
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", fed.logs());
    let log = std::fs::read_to_string(&fed.nodes[3].log).unwrap();
    assert!(log.contains("following without voting"), "{log}");
    assert!(
        log.contains("past this key's watermark: restart to vote again"),
        "{log}"
    );
    fed.nodes[3].start();
    let target = fed.height(0);
    fed.wait_for("rebuilt node 3 at the tip", Duration::from_secs(60), || {
        fed.height(3) >= target
    });
    fed.assert_same_chain(&[0, 3], target);
    drop(fed.dir);
}

#[test]
fn the_binary_refuses_a_consensus_address_without_transport() {
    let _turn = one_federation_at_a_time();
    // A node whose consensus listen address has no /tcp/ or /quic-v1/ part would make the engine
    // panic deep inside; the node must refuse it up front, naming the address.
    let dir = tempfile::tempdir().unwrap();
    let label = format!("fed-bad-{}", std::process::id());
    let token = dev_test_token(&label).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = runtime
        .block_on(Pkcs11Signer::generate(token.clone(), "validator"))
        .unwrap()
        .public_key();
    let genesis = dev_genesis("abt-e2e-2", 1_700_000_000_000, &[key], &[key], 1).unwrap();
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_vec(&genesis).unwrap()).unwrap();
    let signer::pin::PinSource::File(pin) = token.pin else {
        unreachable!()
    };
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ngenesis = {genesis_path:?}\n[api]\nlisten = \"127.0.0.1:{}\"\n[consensus]\nlisten = \"/ip4/127.0.0.1/udp/9\"\n[hsm]\nbackend = \"pkcs11\"\nkey_label = \"validator\"\nmodule = {DEFAULT_MODULE:?}\ntoken_label = {label:?}\npin = {{ file = {pin:?} }}\n",
            dir.path().join("data"),
            free_port()
        ),
    )
    .unwrap();
    let output = Command::new(appliance_binary())
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("consensus address \"/ip4/127.0.0.1/udp/9\": needs a /tcp/ or /quic-v1 part"),
        "{stderr}"
    );
}

/// Node `i`'s `[mainstay]` section: slot `i` of the service at `service_port`, Bitcoin through
/// the regtest double at `rpc_port`.
fn mainstay_config(i: usize, service_port: u16, rpc_port: u16) -> String {
    format!(
        "[mainstay]\napi = \"http://127.0.0.1:{service_port}/api/v1\"\nposition = {i}\ntoken = \"node-{i}\"\n\
         interval_ms = 300\nbitcoin_rpc = \"http://127.0.0.1:{rpc_port}\"\nbitcoin_rpc_user = \"e2e\"\n\
         bitcoin_rpc_password = \"regtest-only\"\nconfirmations = 2\n"
    )
}

/// Runs the self-hosted Mainstay service (with its regtest double of Bitcoin Core) in this
/// process, on its own thread, until the test ends.
fn start_mainstay_service(dir: &Path, api_port: u16, rpc_port: u16, slots: usize) {
    let config = mainstay::service::config::ServiceConfig::from_toml(&format!(
        r#"listen = "127.0.0.1:{api_port}"
data_dir = {data:?}
slots = [{slots}]
[bitcoin]
network = "regtest"
rpc_user = "e2e"
rpc_password = "regtest-only"
regtest_double = {{ listen = "127.0.0.1:{rpc_port}", block_interval_ms = 300 }}
[staychain]
chain_code = "{chain_code}"
dev_secret = "{secret}"
[attestation]
interval_ms = 300
min_fee_rate = 1
max_fee_rate = 20
conf_target = 2
"#,
        data = dir.join("mainstay"),
        slots = (0..slots)
            .map(|i| format!("{{ position = {i}, token = \"node-{i}\" }}"))
            .collect::<Vec<_>>()
            .join(", "),
        chain_code = "cd".repeat(32),
        secret = "42".repeat(32),
    ))
    .unwrap();
    std::thread::spawn(move || {
        let result = mainstay::service::run(config);
        panic!("the mainstay service stopped: {result:?}");
    });
}

#[test]
fn certified_blocks_are_attested_to_bitcoin_through_mainstay_after_an_outage() {
    let _turn = one_federation_at_a_time();
    let (service_port, rpc_port) = (free_port(), free_port());
    let mut fed =
        Federation::with_extra_config(move |i| mainstay_config(i, service_port, rpc_port));
    for node in 0..NODES {
        fed.nodes[node].start();
    }
    // Mainstay is down at first: the chain goes on regardless.
    fed.wait_for(
        "height 5 with mainstay down",
        Duration::from_secs(60),
        || fed.height(0) >= 5,
    );
    let (status, _) = http(fed.nodes[0].api, "GET", "/v1/attestations/latest", None).unwrap();
    assert_eq!(status, 404);

    start_mainstay_service(fed.dir.path(), service_port, rpc_port, NODES);
    let mut attested = Value::Null;
    fed.wait_for(
        "an attestation on every node",
        Duration::from_secs(120),
        || {
            (0..NODES).all(|node| {
                match http(fed.nodes[node].api, "GET", "/v1/attestations/latest", None) {
                    Some((200, body)) => {
                        if node == 0 {
                            attested = body;
                        }
                        true
                    }
                    _ => false,
                }
            })
        },
    );

    // A light client: the certified header's hash is the attested commitment, and the evidence
    // verifies against the staychain with headers only.
    let height = attested["height"].as_u64().unwrap();
    let evidence: mainstay::AttestationEvidence =
        serde_json::from_value(attested["evidence"].clone()).unwrap();
    let header = fed.nodes[0].header(height).unwrap();
    let certificate = fed.nodes[0].certificate(height).unwrap();
    certificate
        .verify_header(&header, &fed.genesis.validators)
        .unwrap();
    let (_, spec) = http(service_port, "GET", "/api/v1/staychain", None).unwrap();
    let spec: mainstay::StaychainSpec = serde_json::from_value(spec["response"].clone()).unwrap();
    // The light client follows the regtest header chain from genesis under the difficulty
    // rules until the attestation's block has the confirmations the spec requires.
    let config = spec.to_config().unwrap();
    let rpc = mainstay::bitcoin_rpc::BitcoinRpc::new(
        format!("http://127.0.0.1:{rpc_port}"),
        "e2e",
        "regtest-only",
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let regtest = mainstay::bitcoin::Network::Regtest;
    let mut headers = runtime
        .block_on(mainstay::collect::start_header_chain(
            &rpc,
            regtest,
            mainstay::Checkpoint::genesis(regtest),
        ))
        .unwrap();
    let block = evidence.headers().unwrap()[0].block_hash();
    fed.wait_for(
        "the attested block under enough confirmations",
        Duration::from_secs(60),
        || {
            let now = u32::try_from(appliance::node::now_ms() / 1000).unwrap();
            runtime
                .block_on(mainstay::collect::follow_headers(&rpc, &mut headers, now))
                .unwrap();
            headers.confirmations(&block) >= config.min_confirmations
        },
    );
    let report = evidence
        .verify(&config, &headers, Some(&header.hash().to_string()))
        .unwrap();
    assert!(report.confirmations >= config.min_confirmations);

    // The same from the command line: the attested block verified from the genesis file through
    // two nodes, the Bitcoin headers checked under the difficulty rules from regtest's genesis.
    let home = fed.dir.path().join("light");
    let spec_file = fed.dir.path().join("staychain.json");
    let headers_file = fed.dir.path().join("bitcoin-headers.hex");
    std::fs::write(&spec_file, serde_json::to_vec(&spec).unwrap()).unwrap();
    let lines: Vec<String> = headers
        .headers()
        .iter()
        .map(mainstay::bitcoin::consensus::encode::serialize_hex)
        .collect();
    let lightclient = |args: &[&str]| {
        let rpc = [
            ("ABT_BITCOIN_RPC_USER", "e2e"),
            ("ABT_BITCOIN_RPC_PASSWORD", "regtest-only"),
        ];
        let (out, text) = lightclient(&home, args, &rpc);
        (out.status.code(), text)
    };
    let genesis = fed.dir.path().join("genesis.json");
    let (code, text) = lightclient(&["init", "--genesis", genesis.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let node = |i: usize| format!("http://127.0.0.1:{}", fed.nodes[i].api);
    let attest = |bitcoin: &[&str]| {
        let (height, primary, witness) = (height.to_string(), node(0), node(1));
        let mut args = vec![
            "attestation",
            "--node",
            &primary,
            "--witness",
            &witness,
            "--staychain",
            spec_file.to_str().unwrap(),
            "--height",
            &height,
        ];
        args.extend_from_slice(bitcoin);
        lightclient(&args)
    };
    // Headers followed from the regtest node itself, at the time of the check.
    let rpc_url = format!("http://127.0.0.1:{rpc_port}");
    let (code, text) = attest(&["--bitcoin-rpc", &rpc_url]);
    assert_eq!(code, Some(0), "{text}");
    for check in [
        format!("commitment: OK, the attested commitment is block {height}'s hash"),
        "slot proof: OK".into(),
        "pay-to-contract: OK".into(),
        "staychain: OK".into(),
        format!("header(s) followed from {rpc_url} from checkpoint 0:"),
        "bitcoin inclusion: OK, block ".into(),
    ] {
        assert!(text.contains(&check), "{check}: {text}");
    }
    // Headers from a file that stops before the attestation's block cannot prove it.
    std::fs::write(&headers_file, &lines[0]).unwrap();
    let (code, text) = attest(&["--bitcoin-headers", headers_file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAILED (bitcoin header chain)"), "{text}");
    // The attestation covers every block below it too: asking for block 1 gives it (or a
    // lower attested block).
    let (status, below) = http(fed.nodes[0].api, "GET", "/v1/attestations/1", None).unwrap();
    assert_eq!(status, 200);
    assert!(below["height"].as_u64().unwrap() <= height);
    let (status, body) = http(fed.nodes[0].api, "GET", "/v1/attestations/99999999", None).unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_attested"))
    );
}

/// One HTTP exchange with the exact body bytes both ways, from a node that must answer.
fn http_bytes(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    exchange(port, method, path, body).expect("the node answers")
}

/// Controllers sign a draft in their SoftHSM tokens: the signed copy, as each would post it.
fn sign_draft(
    runtime: &tokio::runtime::Runtime,
    policy: &lightclient::mapping::ControllerPolicy,
    controller: &Pkcs11Signer,
    draft: &[u8],
) -> Vec<u8> {
    let mut mapping = lightclient::mapping::Mapping::parse(draft, 3).unwrap();
    let digest = mapping.signing_digest().unwrap();
    let signature = runtime
        .block_on(controller.sign_digest(digest.as_bytes()))
        .unwrap();
    let authkey = policy.authkey_of(&controller.public_key()).unwrap();
    mapping.add_signature(authkey, &signature);
    mapping.to_json_bytes().unwrap()
}

/// The mapping lifecycle's steps, on the shared harness.
trait MappingSteps {
    fn wait_rejected(&self, node: usize, txid: &str) -> String;
    fn run(&mut self, name: &str, operation: Operation) -> u64;
    fn refused(&mut self, name: &str, operation: Operation) -> String;
    fn signed_draft(
        &self,
        runtime: &tokio::runtime::Runtime,
        node: usize,
        controllers: &[&Pkcs11Signer],
    ) -> Vec<u8>;
}

impl MappingSteps for Federation {
    fn wait_rejected(&self, node: usize, txid: &str) -> String {
        let mut reason = String::new();
        self.wait_for(&format!("{txid} rejected"), Duration::from_secs(60), || {
            let status = self.nodes[node].status_of(txid);
            assert_ne!(status["status"], "committed", "{status}");
            if status["status"] == "rejected" {
                reason = status["reason"].as_str().unwrap().to_string();
                true
            } else {
                false
            }
        });
        reason
    }

    fn run(&mut self, name: &str, operation: Operation) -> u64 {
        let tx = self.sign(name, operation);
        let txid = self.nodes[0].submit(&tx);
        self.wait_committed(0, &txid)
    }

    fn refused(&mut self, name: &str, operation: Operation) -> String {
        let tx = self.sign(name, operation);
        let txid = self.nodes[0].submit(&tx);
        self.wait_rejected(0, &txid)
    }

    /// Drafts the next mapping on `node`, has `controllers` sign it and post their copies, and
    /// returns the collected, fully signed bytes.
    fn signed_draft(
        &self,
        runtime: &tokio::runtime::Runtime,
        node: usize,
        controllers: &[&Pkcs11Signer],
    ) -> Vec<u8> {
        let api = self.nodes[node].api;
        let (status, draft) = http_bytes(api, "GET", "/v1/mapping/draft", b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&draft));
        let mut collected = Vec::new();
        for controller in controllers {
            let copy = sign_draft(runtime, &self.genesis.controllers, controller, &draft);
            let (status, body) = http_bytes(api, "POST", "/v1/mapping/draft", &copy);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            collected = body;
        }
        collected
    }
}

#[test]
fn a_mapping_lives_through_issuance_redemption_and_remapping_and_is_published_to_ipfs() {
    use appliance::ipfs::KuboClient;
    use lightclient::keys::AccountId;
    use lightclient::tx::Decision;

    let _turn = one_federation_at_a_time();
    let mut ipfs = e2e::ipfs_daemon::JsIpfs::start().unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Three controllers, each with its key in its own SoftHSM token; two must sign.
    let controllers: Vec<Pkcs11Signer> = (1..=3)
        .map(|c| {
            let label = format!(
                "ctl-{}-{}-{c}",
                std::process::id(),
                FEDERATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            let token = dev_test_token(&label).unwrap();
            runtime
                .block_on(Pkcs11Signer::generate(token, "controller"))
                .unwrap()
        })
        .collect();
    let keys: Vec<PublicKey> = controllers.iter().map(Signer::public_key).collect();
    let api = ipfs.api();
    let mut fed = Federation::build(&keys, move |_| {
        format!("[ipfs]\napi = {api:?}\npoll_ms = 200\nretry_max_ms = 1000\n")
    });
    for node in 0..NODES {
        fed.nodes[node].start();
    }
    fed.wait_for("height 1", Duration::from_secs(60), || fed.height(0) >= 1);

    // Vault staff register three bars; an issuance request allocates them to a new asset.
    for (serial, mass) in [("AB-1", 400_000), ("AB-2", 100_000), ("AB-3", 12_500)] {
        fed.run(
            "vault",
            Operation::RegisterItem {
                serial: serial.into(),
                refiner: "Valcambi".into(),
                mass,
                fineness: 9999,
                location: "London vault 1".into(),
            },
        );
    }
    let issuer = dev_public("issuance-admin").unwrap().account_id();
    fed.run(
        "issuance-admin",
        Operation::RequestIssuance {
            code: "XAU".into(),
            precision: 3,
            issuer,
            serials: vec!["AB-1".into(), "AB-2".into(), "AB-3".into()],
            reissuable: false,
        },
    );
    let (_, assets) = http(fed.nodes[0].api, "GET", "/v1/assets", None).unwrap();
    let xau: lightclient::keys::AssetId = assets
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "XAU")
        .map(|a| a["id"].as_str().unwrap().parse().unwrap())
        .expect("the allocated asset exists once its request commits");

    // Controllers sign the draft; a stranger's signature and a stale copy are refused.
    let stranger = dev_key("controller-1").unwrap();
    let (status, draft) = http_bytes(fed.nodes[0].api, "GET", "/v1/mapping/draft", b"");
    assert_eq!(status, 200);
    let mut forged = lightclient::mapping::Mapping::parse(&draft, 3).unwrap();
    let digest = forged.signing_digest().unwrap();
    let (sig, _) = stranger
        .sign_prehash_recoverable(digest.as_bytes())
        .unwrap();
    // The stranger claims to be the first controller.
    forged.add_signature(1, &lightclient::Signature::from(sig).normalize_s().unwrap());
    let (status, body) = http_bytes(
        fed.nodes[0].api,
        "POST",
        "/v1/mapping/draft",
        &forged.to_json_bytes().unwrap(),
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("mapping_refused"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("by authkey 1 (")
            && body["message"]
                .as_str()
                .unwrap()
                .contains("does not verify"),
        "{body}"
    );
    let issuance = fed.signed_draft(&runtime, 0, &[&controllers[0], &controllers[1]]);

    // Failure paths, each refused by the ledger with its reason.
    let mut bad_signature: Value = serde_json::from_slice(&issuance).unwrap();
    let s = bad_signature["signatures"][0]["s"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if s.ends_with('0') { "1" } else { "0" };
    bad_signature["signatures"][0]["s"] = Value::String(format!("{}{flipped}", &s[..63]));
    let reason = fed.refused(
        "bank",
        Operation::UpdateMapping {
            mapping: serde_json::to_vec(&bad_signature).unwrap(),
        },
    );
    assert_eq!(reason, "mapping_refused");
    let mut short: Value = serde_json::from_slice(&draft).unwrap();
    short["assets"].as_array_mut().unwrap().pop();
    let short =
        lightclient::mapping::Mapping::parse(&serde_json::to_vec(&short).unwrap(), 3).unwrap();
    let policy = &fed.genesis.controllers;
    let short = sign_draft(
        &runtime,
        policy,
        &controllers[2],
        &sign_draft(
            &runtime,
            policy,
            &controllers[0],
            &short.to_json_bytes().unwrap(),
        ),
    );
    let reason = fed.refused("bank", Operation::UpdateMapping { mapping: short });
    assert_eq!(reason, "mapped_total_mismatch");

    // Anyone submits the signed issuance: tokens appear at the issuer in the same step.
    let issued_at = fed.run(
        "bank",
        Operation::UpdateMapping {
            mapping: issuance.clone(),
        },
    );
    let (_, balances) = http(
        fed.nodes[0].api,
        "GET",
        &format!("/v1/accounts/{issuer}/balances"),
        None,
    )
    .unwrap();
    assert!(balances.to_string().contains("512500"), "{balances}");
    let header = fed.nodes[0].header(issued_at).unwrap();
    assert_eq!(header.mapping_hash, sha256(&issuance));
    // The same mapping again is stale.
    let reason = fed.refused("bank", Operation::UpdateMapping { mapping: issuance });
    assert_eq!(reason, "mapping_refused");

    // A holder receives tokens and redeems part; IPFS is down meanwhile.
    let (txs, holder) = holder_setup(&mut fed, "alice");
    // Registration and KYC; the USDX issue of the set-up is not needed here.
    for tx in &txs[..2] {
        let txid = fed.nodes[0].submit(tx);
        fed.wait_committed(0, &txid);
    }
    fed.run(
        "issuance-admin",
        Operation::Transfer {
            to: holder,
            asset: xau,
            amount: 150_000,
            expected_fee: 0,
        },
    );
    fed.run(
        "alice",
        Operation::RequestRedemption {
            asset: xau,
            amount: 100_000,
            expected_fee: 0,
        },
    );
    let redemption_account = |fed: &Federation| {
        http(
            fed.nodes[0].api,
            "GET",
            &format!("/v1/accounts/{}/balances", AccountId::REDEMPTION),
            None,
        )
        .unwrap()
        .1
        .to_string()
    };
    let pot = redemption_account(&fed);
    assert!(pot.contains("100000"), "{pot}");
    ipfs.stop();

    // The re-mapping: 100 consolidates against AB-2 (the smallest bar of at least 100), which
    // leaves the vault. Controllers 2 and 3 sign this time, on another node.
    let (_, draft) = http_bytes(fed.nodes[1].api, "GET", "/v1/mapping/draft", b"");
    let draft_json: Value = serde_json::from_slice(&draft).unwrap();
    let vrefs: Vec<&str> = draft_json["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["vref"].as_str().unwrap())
        .collect();
    assert_eq!(vrefs, ["AB-1", "AB-3"]);
    // Controller 2 posts its signature to node 1, controller 3 to node 2: each reaches every
    // node, and survives a restart.
    for (controller, node) in [(&controllers[1], 1), (&controllers[2], 2)] {
        let copy = sign_draft(&runtime, &fed.genesis.controllers, controller, &draft);
        let (status, body) = http_bytes(fed.nodes[node].api, "POST", "/v1/mapping/draft", &copy);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let apis: Vec<u16> = fed.nodes.iter().map(|n| n.api).collect();
    let signatures_on = |node: usize| {
        let (status, body) = http_bytes(apis[node], "GET", "/v1/mapping/draft/signed", b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let signed: Value = serde_json::from_slice(&body).unwrap();
        signed["signatures"].as_array().map_or(0, Vec::len)
    };
    fed.wait_for(
        "both signatures on every node",
        Duration::from_secs(30),
        || (0..NODES).all(|n| signatures_on(n) == 2),
    );
    fed.nodes[1].stop();
    fed.nodes[1].start();
    fed.wait_for("node 1 back", Duration::from_secs(60), || {
        fed.nodes[1].height().is_some()
    });
    assert_eq!(signatures_on(1), 2);
    // A user submits what node 3 collected, without writing the transaction by hand.
    let home = fed.dir.path().join("abt");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("password"), "pw\n").unwrap();
    let abt = |args: &[&str]| {
        let out = Command::new(workspace_binary("abt"))
            .arg("--node")
            .arg(format!("http://127.0.0.1:{}", fed.nodes[3].api))
            .arg("--keystore")
            .arg(home.join("keystore.json"))
            .arg("--password")
            .arg(format!("file:{}", home.join("password").display()))
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, text) = abt(&["key", "import", "bank", "--dev", "bank"]);
    assert_eq!(code, Some(0), "{text}");
    let (_, redemption) = http_bytes(fed.nodes[3].api, "GET", "/v1/mapping/draft/signed", b"");
    let (code, text) = abt(&["--json", "mapping", "submit", "--as", "bank"]);
    assert_eq!(code, Some(0), "{text}");
    let submitted: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let remapped_at = submitted["height"].as_u64().unwrap();
    assert!(
        submitted["receipt"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "mapping_version"),
        "{submitted}"
    );
    // Nothing is left to sign.
    let (status, _) = http_bytes(fed.nodes[3].api, "GET", "/v1/mapping/draft", b"");
    assert_eq!(status, 204);
    let (code, text) = abt(&["mapping", "submit", "--as", "bank"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("nothing to sign"), "{text}");
    let pot = redemption_account(&fed);
    assert!(!pot.contains("100000"), "{pot}");
    // A rejected review cannot approve it twice: the request is done.
    let reason = fed.refused(
        "issuance-admin",
        Operation::ReviewRequest {
            request_id: 2,
            decision: Decision::Reject {
                reason: "late".into(),
            },
        },
    );
    assert_eq!(reason, "request_decided");

    // IPFS being down never held the chain; the new version waits for it.
    let before = fed.height(0);
    fed.wait_for("blocks while IPFS is down", Duration::from_secs(30), || {
        fed.height(0) >= before + 3
    });
    let (_, current) = http(fed.nodes[0].api, "GET", "/v1/mapping", None).unwrap();
    assert_eq!(current["ipfs"], "pending", "{current}");
    ipfs.resume().unwrap();
    fed.wait_for(
        "the mapping pinned after IPFS returns",
        Duration::from_secs(60),
        || {
            http(fed.nodes[0].api, "GET", "/v1/mapping", None)
                .is_some_and(|(_, m)| m["ipfs"]["pinned_at_ms"].is_u64())
        },
    );

    // Light-client checks of the final mapping: the latest header commits to its bytes on every
    // node, the bytes by hash and by CID are the same, `signer verify` accepts them, and IPFS
    // returns them unchanged by CID.
    let (_, current) = http(fed.nodes[0].api, "GET", "/v1/mapping", None).unwrap();
    let sequence = current["sequence"].as_u64().unwrap();
    let cid = current["cid"].as_str().unwrap().to_string();
    let (status, published) = http_bytes(
        fed.nodes[0].api,
        "GET",
        &format!("/v1/mappings/{sequence}"),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(published, redemption);
    assert_eq!(cid, lightclient::cid::cid_v0(&published));
    for node in 0..NODES {
        fed.wait_for("node at the re-mapping", Duration::from_secs(30), || {
            fed.height(node) >= remapped_at
        });
        let tip = fed.height(node);
        let header = fed.nodes[node].header(tip).unwrap();
        assert_eq!(header.mapping_hash, sha256(&published), "node {node}");
        let (_, by_hash) = http_bytes(
            fed.nodes[node].api,
            "GET",
            &format!("/v1/mappings/hash:{}", header.mapping_hash),
            b"",
        );
        assert_eq!(by_hash, published);
        let (_, by_cid) = http_bytes(
            fed.nodes[node].api,
            "GET",
            &format!("/v1/mappings/cid:{cid}"),
            b"",
        );
        assert_eq!(by_cid, published);
    }
    // A malformed CID is the asker's mistake (400 naming the field), not a missing mapping.
    let (status, body) = http(
        fed.nodes[0].api,
        "GET",
        "/v1/mappings/cid:QmNotBase58l0O",
        None,
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request");
    assert_eq!(body["field"], "cid");
    let file = fed.dir.path().join("final-mapping.json");
    std::fs::write(&file, &published).unwrap();
    let verify = Command::new(workspace_binary("signer"))
        .arg("verify")
        .arg(&file)
        .arg("--genesis")
        .arg(fed.dir.path().join("genesis.json"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "signer verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let client = KuboClient::new(&ipfs.api(), Duration::from_secs(30)).unwrap();
    assert_eq!(runtime.block_on(client.cat(&cid)).unwrap(), published);
    // Every version is published, the first ones too.
    let (_, versions) = http(fed.nodes[0].api, "GET", "/v1/mappings", None).unwrap();
    let versions = versions["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{versions:?}");
    fed.wait_for("every version pinned", Duration::from_secs(30), || {
        let (_, v) = http(fed.nodes[0].api, "GET", "/v1/mappings", None).unwrap();
        v["versions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["ipfs"]["pinned_at_ms"].is_u64())
    });

    // A wallet checks the mapping in force from the genesis file alone: bytes against a header
    // it verified, 2-of-3 controller signatures, the CID, and the bytes IPFS serves for it.
    let home = fed.dir.path().join("light");
    let lightclient = |args: &[&str]| {
        let (out, text) = lightclient(&home, args, &[]);
        (out.status.code(), text)
    };
    let genesis = fed.dir.path().join("genesis.json");
    let (code, text) = lightclient(&["init", "--genesis", genesis.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let node = |i: usize| format!("http://127.0.0.1:{}", fed.nodes[i].api);
    let (code, text) = lightclient(&[
        "mapping",
        "--node",
        &node(0),
        "--witness",
        &node(2),
        "--ipfs",
        &ipfs.api(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    for check in [
        format!(
            "mapping hash: OK, the {} bytes of mapping {sequence}",
            published.len()
        ),
        "controller signatures: OK, 2 of the genesis policy's 3 controllers signed (2 required)"
            .into(),
        format!("cid: OK, {cid}"),
        format!("ipfs: OK, {} serves the same bytes for {cid}", ipfs.api()),
    ] {
        assert!(text.contains(&check), "{check}: {text}");
    }
    // Every token of every asset is backed: the bars' asset by the signed mapping, USDX by
    // the asset holders' positions.
    let (code, text) = lightclient(&["backing", "--node", &node(1), "--witness", &node(3)]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("({xau}) at verified block"))
            && text.contains("allocates (signed by 2 controllers of the genesis policy)"),
        "{text}"
    );
    assert!(text.contains("backing of USDX"), "{text}");
    // The bars behind alice's tokens, pro rata, every figure proven at one verified height.
    let (code, text) = lightclient(&["bars", "--holder", &holder.to_string(), "--node", &node(2)]);
    assert_eq!(code, Some(0), "{text}");
    for line in [
        format!("XAU ({xau}): 50000 of 412500 in supply at verified block"),
        // 400000 × 50000 ÷ 412500 and 12500 × 50000 ÷ 412500, rounded down.
        "bar AB-1 (Valcambi, London vault 1): 48484 of the 400000 the mapping allocates".into(),
        "bar AB-3 (Valcambi, London vault 1): 1515 of the 12500 the mapping allocates".into(),
        "signed by 2 controllers of the genesis policy".into(),
    ] {
        assert!(text.contains(&line), "{line}: {text}");
    }
}

/// Runs `signer approve-validators` with node `n`'s HSM key over the change file: the operator's
/// step of ADR 0016, signed in that custodian's HSM.
fn approve_in_hsm(fed: &Federation, n: usize, change: &Path) {
    let out = Command::new(workspace_binary("signer"))
        .arg("approve-validators")
        .arg(change)
        .arg("--genesis")
        .arg(fed.dir.path().join("genesis.json"))
        .arg("--yes")
        .args(&fed.signer_args[n])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node {n}'s approval: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Collects approvals of `next` at `effective_height` from `approvers` (over `current` when it
/// is not the genesis set) and submits the change; returns the height that included it and the
/// txid.
fn change_validators(
    fed: &mut Federation,
    name: &str,
    current: Option<&ValidatorSet>,
    next: &ValidatorSet,
    effective_height: u64,
    approvers: &[usize],
) -> (u64, String) {
    let file = fed.dir.path().join(format!("{name}.json"));
    let mut change = serde_json::json!({ "next": next, "effective_height": effective_height });
    if let Some(current) = current {
        change["current"] = serde_json::to_value(current).unwrap();
    }
    std::fs::write(&file, serde_json::to_vec(&change).unwrap()).unwrap();
    for &n in approvers {
        approve_in_hsm(fed, n, &file);
    }
    let change: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let approvals: Vec<SetApproval> = serde_json::from_value(change["approvals"].clone()).unwrap();
    assert_eq!(approvals.len(), approvers.len());
    // Any account may submit it; the approvals authorise it.
    let tx = fed.sign(
        "bank",
        Operation::ChangeValidatorSet {
            validators: next.clone(),
            effective_height,
            approvals,
        },
    );
    let txid = fed.nodes[2].submit(&tx);
    let included = fed.wait_committed(2, &txid);
    assert_eq!(fed.nodes[2].status_of(&txid)["code"], 0, "{txid}");
    (included, txid)
}

/// Blocks keep coming on node `n` (five more than now).
fn blocks_continue(fed: &Federation, n: usize, what: &str) -> u64 {
    let from = fed.height(n);
    fed.wait_for(what, Duration::from_secs(90), || fed.height(n) >= from + 5);
    fed.height(n)
}

/// ADR 0016 end to end: a fifth custodian's node joins (4 -> 5), catches up and votes; later an
/// original custodian is removed (5 -> 4); blocks continue throughout, and the light client
/// follows both changes from genesis.
#[test]
fn a_fifth_custodian_joins_and_votes_then_one_leaves_while_blocks_continue() {
    let _turn = one_federation_at_a_time();
    let (service_port, rpc_port) = (free_port(), free_port());
    let mut fed = Federation::build_with(&Options {
        standby: 1,
        extra: Box::new(move |i| mainstay_config(i, service_port, rpc_port)),
        ..Options::default()
    });
    start_mainstay_service(fed.dir.path(), service_port, rpc_port, 5);
    for node in &mut fed.nodes {
        node.start();
    }
    fed.wait_for(
        "the four genesis validators at height 2",
        Duration::from_secs(120),
        || (0..NODES).all(|n| fed.height(n) >= 2),
    );
    let keys = fed.keys.clone();
    let set = |nodes: &[usize]| {
        ValidatorSet::new(
            nodes
                .iter()
                .map(|&n| Validator {
                    public_key: keys[n],
                    voting_power: 1,
                })
                .collect(),
        )
        .unwrap()
    };
    // A holder with tokens, to prove a balance through the changes later.
    let usdx = asset_id_for_code("USDX");
    let deposit = fed.sign(
        "settlement",
        Operation::Deposit {
            asset_holder: dev_public("bank").unwrap().account_id(),
            asset: usdx,
            amount: 1_000_000,
        },
    );
    let txid = fed.nodes[0].submit(&deposit);
    fed.wait_committed(0, &txid);
    let (setup, alice) = holder_setup(&mut fed, "e2e-validators-alice");
    for tx in &setup {
        let txid = fed.nodes[0].submit(tx);
        fed.wait_committed(0, &txid);
    }
    let four = fed.genesis.validators.clone();
    let five = set(&[0, 1, 2, 3, 4]);
    assert_eq!(set(&[0, 1, 2, 3]), four);
    let fifth = fed.keys[4].validator_address();

    // 4 -> 5: three of the four approve in their HSMs.
    let joins_at = fed.height(2) + 40;
    let (included, join_txid) =
        change_validators(&mut fed, "join", None, &five, joins_at, &[0, 1, 3]);
    assert!(included + 2 <= joins_at);
    // Operators see the approved set waiting; the set in force is still the genesis set.
    let (_, shown) = http(fed.nodes[2].api, "GET", "/v1/validators", None).unwrap();
    assert_eq!(shown["set"]["hash"], four.hash().to_string(), "{shown}");
    assert_eq!(
        shown["pending"]["set"]["hash"],
        five.hash().to_string(),
        "{shown}"
    );
    assert_eq!(shown["pending"]["effective_height"], joins_at, "{shown}");
    fed.wait_for(
        "all five nodes past the effective height",
        Duration::from_secs(120),
        || (0..5).all(|n| fed.height(n) > joins_at + 1),
    );
    let announcing = fed.nodes[4].light_block(joins_at - 1).unwrap();
    assert_eq!(announcing.header.validator_set_hash, four.hash());
    assert_eq!(announcing.header.next_validator_set_hash, five.hash());
    assert_eq!(announcing.next_validators, five);
    let (_, shown) = http(fed.nodes[4].api, "GET", "/v1/validators", None).unwrap();
    assert_eq!(shown["set"]["hash"], five.hash().to_string(), "{shown}");
    assert_eq!(shown["pending"], Value::Null, "{shown}");
    let first = fed.nodes[4].light_block(joins_at).unwrap();
    assert_eq!(first.header.validator_set_hash, five.hash());
    assert_eq!(first.validators, five);

    // With one original custodian down, four of five votes are needed: the fifth's count.
    fed.nodes[0].stop();
    let reached = blocks_continue(
        &fed,
        1,
        "blocks with node 0 down under the five-validator set",
    );
    for h in reached - 4..=reached {
        let block = fed.nodes[1].light_block(h).unwrap();
        assert!(
            block
                .certificate
                .signatures
                .iter()
                .any(|s| s.validator == fifth),
            "the fifth validator did not sign block {h}"
        );
    }
    fed.nodes[0].start();

    // 5 -> 4: node 1 leaves; four of the five (the newcomer among them) approve.
    let remaining = set(&[0, 2, 3, 4]);
    let leaves_at = fed.height(2) + 40;
    change_validators(
        &mut fed,
        "leave",
        Some(&five),
        &remaining,
        leaves_at,
        &[0, 2, 3, 4],
    );
    fed.wait_for(
        "all five nodes past the removal",
        Duration::from_secs(120),
        || (0..5).all(|n| fed.height(n) > leaves_at + 1),
    );
    assert_eq!(
        fed.nodes[2].light_block(leaves_at).unwrap().validators,
        remaining
    );
    // Three of the four remaining suffice now; under the five-validator set they would not.
    fed.nodes[0].stop();
    fed.nodes[1].stop();
    blocks_continue(&fed, 2, "blocks with nodes 0 and 1 down after the removal");
    // The removed custodian's node goes on as a full node: it catches up.
    fed.nodes[1].start();
    fed.nodes[0].start();
    let tip = fed.height(2);
    fed.wait_for("every node at the tip", Duration::from_secs(120), || {
        (0..5).all(|n| fed.height(n) >= tip)
    });
    fed.assert_same_chain(&[0, 1, 2, 3, 4], tip);

    // The light client follows both changes from the genesis file alone.
    let home = fed.dir.path().join("light");
    let genesis = fed.dir.path().join("genesis.json");
    let (out, text) = lightclient(
        &home,
        &["init", "--genesis", genesis.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{text}");
    let node = format!("http://127.0.0.1:{}", fed.nodes[3].api);
    let witness = format!("http://127.0.0.1:{}", fed.nodes[1].api);
    // A sync straight to the tip may skip both (more than 1/3 of the genesis set signed it) and
    // sees one net change; stopping just after the join shows each.
    let sync_to = |height: u64| {
        let (out, text) = lightclient(
            &home,
            &[
                "sync",
                "--node",
                &node,
                "--witness",
                &witness,
                "--height",
                &height.to_string(),
            ],
            &[],
        );
        assert!(out.status.success(), "{text}");
        text
    };
    // From the genesis set to the five: the change is reported whether the client stepped
    // through the announcing block or skipped past it.
    let text = sync_to(joins_at + 1);
    assert!(
        text.contains(&format!(
            "{} -> {} (5 validators)",
            four.hash(),
            five.hash()
        )),
        "{text}"
    );
    // To a height every node holds: a witness still catching up has no block above it.
    let text = sync_to(tip);
    assert!(
        text.contains(&format!(
            "{} -> {} (4 validators)",
            five.hash(),
            remaining.hash()
        )),
        "{text}"
    );
    // The join's receipt, proven under its block's receipts root, names the new set.
    let (out, text) = lightclient(&home, &["tx", &join_txid, "--node", &node], &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "event: validator set {} from height {joins_at}",
            five.hash()
        )),
        "{text}"
    );
    // State proofs under the roots of blocks certified by the changed sets.
    let alice = alice.to_string();
    let (out, text) = lightclient(&home, &["balance", &alice, "USDX", "--node", &node], &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1000 available, 0 locked; proven under the state root of verified block"),
        "{text}"
    );
    let (out, text) = lightclient(&home, &["backing", "USDX", "--node", &node], &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("supply 1000 equals what 1 asset holder(s) issued, each covered"),
        "{text}"
    );
    let (out, text) = lightclient(&home, &["mapping", "--node", &node], &[]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("mapping hash: OK"), "{text}");

    // The federation's Bitcoin attestation through the self-hosted Mainstay service, of a block
    // certified by the final set, checked against regtest's header chain.
    let mut attested = 0;
    fed.wait_for(
        "an attestation above the removal",
        Duration::from_secs(120),
        || {
            attested = http(fed.nodes[3].api, "GET", "/v1/attestations/latest", None)
                .filter(|(status, _)| *status == 200)
                .and_then(|(_, body)| body["height"].as_u64())
                .unwrap_or(0);
            attested > leaves_at
        },
    );
    let (_, spec) = http(service_port, "GET", "/api/v1/staychain", None).unwrap();
    let spec_file = fed.dir.path().join("staychain.json");
    std::fs::write(&spec_file, serde_json::to_vec(&spec["response"]).unwrap()).unwrap();
    let rpc_url = format!("http://127.0.0.1:{rpc_port}");
    let rpc_env = [
        ("ABT_BITCOIN_RPC_USER", "e2e"),
        ("ABT_BITCOIN_RPC_PASSWORD", "regtest-only"),
    ];
    let mut text = String::new();
    // The attested Bitcoin block needs its confirmations first.
    fed.wait_for(
        "the attestation verified with its confirmations",
        Duration::from_secs(60),
        || {
            let (out, answer) = lightclient(
                &home,
                &[
                    "attestation",
                    "--node",
                    &node,
                    "--witness",
                    &witness,
                    "--staychain",
                    spec_file.to_str().unwrap(),
                    "--height",
                    &attested.to_string(),
                    "--bitcoin-rpc",
                    &rpc_url,
                ],
                &rpc_env,
            );
            text = answer;
            out.status.success()
        },
    );
    assert!(
        text.contains(&format!(
            "commitment: OK, the attested commitment is block {attested}'s hash"
        )) && text.contains("bitcoin inclusion: OK, block "),
        "{text}"
    );
}
