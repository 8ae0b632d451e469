//! The `appliance` process end to end: a validator key in SoftHSM2, transactions over HTTP, and
//! everything the node answers checked with the light-client rules.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lightclient::certificate::CommitCertificate;
use lightclient::encoding::{Decode, Encode};
use lightclient::genesis::Genesis;
use lightclient::header::BlockHeader;
use lightclient::merkle::InclusionProof;
use lightclient::tx::Operation;
use lightclient::validator::{Validator, ValidatorSet};
use serde_json::Value;
use signer::Signer;
use signer::pkcs11::{DEFAULT_MODULE, Pkcs11Signer, dev_test_token};

use crate::world::*;

fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let text = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(text).unwrap_or(Value::String(text.to_string())),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, port: u16) -> Node {
    start_until(config, port, "/ready")
}

/// Starts the node and waits until `path` answers 200.
fn start_until(config: &Path, port: u16, path: &str) -> Node {
    let child = Command::new(env!("CARGO_BIN_EXE_appliance"))
        .args(["run", "--config"])
        .arg(config)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let node = Node { child };
    let started = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"");
            if http(port, "GET", path, None).0 == 200 {
                return node;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "node did not become ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_committed(port: u16, txid: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = http(port, "GET", &format!("/v1/transactions/{txid}"), None);
        assert_eq!(status, 200, "{body}");
        if body["status"] != "pending" {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "transaction {txid} still pending"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node's files: its SoftHSM validator key, genesis and configuration.
struct Setup {
    _dir: tempfile::TempDir,
    genesis: Genesis,
    config: std::path::PathBuf,
    port: u16,
}

/// One validator key in SoftHSM plus `absent` validators that never run (so that, with any
/// absent, no block can be made).
fn setup(absent: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    // The validator key lives in a SoftHSM token (the store `.cargo/config.toml` points at).
    // One token a setup: tests of this binary run in one process, side by side.
    static SETUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SETUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let label = format!("node-{}-{absent}-{n}", std::process::id());
    let token = dev_test_token(&label).unwrap();
    let signer::pin::PinSource::File(pin) = token.pin.clone() else {
        unreachable!()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let validator_key = runtime
        .block_on(Pkcs11Signer::generate(token, "validator"))
        .unwrap()
        .public_key();
    let mut validators = vec![Validator {
        public_key: validator_key,
        voting_power: 1,
    }];
    for i in 0..absent {
        validators.push(Validator {
            public_key: public(&key(200 + u8::try_from(i).unwrap())),
            voting_power: 1,
        });
    }
    let mut genesis: Genesis = genesis();
    genesis.validators = ValidatorSet::new(validators).unwrap();
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    let port = free_port();
    let p2p_port = free_port();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, format!(
        "data_dir = {:?}\ngenesis = {:?}\n[api]\nlisten = \"127.0.0.1:{port}\"\n[blocks]\ninterval_ms = 50\nmax_transactions = 100\nmax_bytes = 1000000\nsnapshot_every = 5\n[consensus]\nlisten = \"/ip4/127.0.0.1/tcp/{p2p_port}\"\nidle_block_ms = 300\n[hsm]\nbackend = \"pkcs11\"\nkey_label = \"validator\"\nmodule = {:?}\ntoken_label = {:?}\npin = {{ file = {:?} }}\n",
        dir.path().join("data"), genesis_path, DEFAULT_MODULE, label, pin
    )).unwrap();
    Setup {
        _dir: dir,
        genesis,
        config,
        port,
    }
}

fn post(port: u16, tx: &lightclient::tx::SignedTransaction) -> (u16, Value) {
    http(
        port,
        "POST",
        "/v1/transactions",
        Some(&serde_json::to_string(tx).unwrap()),
    )
}

#[test]
fn a_single_validator_node_commits_certified_blocks_that_a_light_client_verifies() {
    let Setup {
        _dir,
        genesis,
        config,
        port,
    } = setup(0);
    let node = start(&config, port);
    let mut w = World::new();
    w.genesis_hash = genesis.hash().unwrap();
    let deposit = w.signed(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 5_000,
        },
        100,
    );
    let (status, body) = http(
        port,
        "POST",
        "/v1/transactions",
        Some(&serde_json::to_string(&deposit).unwrap()),
    );
    assert_eq!(status, 202, "{body}");
    let txid = body["txid"].as_str().unwrap().to_string();
    assert_eq!(txid, deposit.txid().to_hex());
    let committed = wait_committed(port, &txid);
    assert_eq!(committed["status"], "committed", "{committed}");
    let height = committed["height"].as_u64().unwrap();

    // The same transaction again is refused; garbage gets a typed 400.
    let (status, body) = http(
        port,
        "POST",
        "/v1/transactions",
        Some(&serde_json::to_string(&deposit).unwrap()),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_included")),
        "{body}"
    );
    let (status, body) = http(
        port,
        "POST",
        "/v1/transactions",
        Some("{\"encoded\":\"00ff\"}"),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_encoding")),
        "{body}"
    );
    let (status, body) = http(port, "POST", "/v1/transactions", Some("not json"));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_json")),
        "{body}"
    );

    // A refused transaction is committed with its reason.
    let bad = w.signed(
        KYC,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 1,
        },
        100,
    );
    let (_, body) = http(
        port,
        "POST",
        "/v1/transactions",
        Some(&format!(
            "{{\"encoded\":\"{}\"}}",
            hex::encode(bad.to_bytes())
        )),
    );
    let refused = wait_committed(port, body["txid"].as_str().unwrap());
    assert_eq!(
        (refused["status"].as_str(), refused["reason"].as_str()),
        (Some("rejected"), Some("not_authorised")),
        "{refused}"
    );

    // Light-client checks: header + certificate under the genesis validator set, the
    // transaction's inclusion, and the bank's position... via a balance proof after an issue.
    let (_, header_json) = http(port, "GET", &format!("/v1/headers/{height}"), None);
    let header =
        BlockHeader::from_bytes(&hex::decode(header_json["encoded"].as_str().unwrap()).unwrap())
            .unwrap();
    let (_, cert_json) = http(port, "GET", &format!("/v1/certificates/{height}"), None);
    let certificate = CommitCertificate::from_bytes(
        &hex::decode(cert_json["encoded"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        certificate.verify_header(&header, &genesis.validators),
        Ok(1)
    );
    let (_, proof_json) = http(port, "GET", &format!("/v1/transactions/{txid}/proof"), None);
    let proof: InclusionProof = serde_json::from_value(proof_json["proof"].clone()).unwrap();
    proof
        .verify(&deposit.to_bytes(), &header.transactions_root)
        .unwrap();

    drop(node);
    // Restarted, it still has everything, and goes on.
    let node = start(&config, port);
    let (_, again) = http(port, "GET", &format!("/v1/transactions/{txid}"), None);
    assert_eq!(again["status"], "committed");
    let alice = w.holder_tx_batch();
    for tx in &alice {
        let (status, body) = http(
            port,
            "POST",
            "/v1/transactions",
            Some(&serde_json::to_string(tx).unwrap()),
        );
        assert_eq!(status, 202, "{body}");
    }
    for tx in &alice {
        let done = wait_committed(port, &tx.txid().to_hex());
        assert_eq!(done["status"], "committed", "{done}");
    }
    let (_, balances) = http(
        port,
        "GET",
        &format!("/v1/accounts/{}/balances", id(20)),
        None,
    );
    assert_eq!(balances["balances"][0]["available"], "700", "{balances}");
    let (_, proof) = http(
        port,
        "GET",
        &format!("/v1/proofs/balance/{}/{}", id(20), usdx()),
        None,
    );
    let value = hex::decode(proof["value"].as_str().unwrap()).unwrap();
    let state_proof = <lightclient::state::StateProof as Decode>::from_bytes(
        &hex::decode(proof["proof"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let root = proof["state_root"]
        .as_str()
        .unwrap()
        .parse::<lightclient::Hash32>()
        .unwrap();
    let key = appliance::ledger::state_tree::StateKey::Balance(id(20), usdx());
    assert_eq!(proof["key"], hex::encode(key.to_bytes()));
    state_proof.verify(&root, &key, Some(&value)).unwrap();
    assert_eq!(
        lightclient::state::BalanceEntry::from_value(&value)
            .unwrap()
            .available,
        700
    );
    let (status, _) = http(port, "GET", "/openapi.json", None);
    assert_eq!(status, 200);
    let (status, metrics) = http(port, "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(
        metrics.as_str().unwrap_or("").contains("abt_height "),
        "{metrics}"
    );
    drop(node);
}

impl World {
    /// Register Alice at bank A, verify her, and issue her 700.
    fn holder_tx_batch(&mut self) -> Vec<lightclient::tx::SignedTransaction> {
        let challenge = lightclient::hash::sha256(b"alice-node");
        let digest = lightclient::tx::registration_digest(&chain(), &id(BANK_A), &challenge);
        vec![
            self.signed(
                BANK_A,
                Operation::RegisterHolder {
                    public_key: public(&key(20)),
                    challenge,
                    holder_signature: sign(&key(20), &digest),
                },
                100,
            ),
            self.signed(
                KYC,
                Operation::SetKycState {
                    account: id(20),
                    state: lightclient::tx::KycState::Verified,
                },
                100,
            ),
            self.signed(
                BANK_A,
                Operation::Issue {
                    to: id(20),
                    asset: usdx(),
                    amount: 700,
                },
                100,
            ),
        ]
    }
}

/// Findings: a 202 was lost when its node died before a block included it; transactions from
/// unregistered keys and from another genesis were admitted; health said ok while no block could
/// be made; errors were text. Here no block can be made (one of two validators never runs), so
/// every acknowledged transaction stays pending, and must still be pending after a kill -9.
#[test]
fn an_acknowledged_transaction_survives_kill_9_and_strangers_are_refused_at_the_door() {
    let Setup {
        _dir,
        genesis,
        config,
        port,
    } = setup(1);
    let node = start_until(&config, port, "/health");
    let mut w = World::new();
    w.genesis_hash = genesis.hash().unwrap();
    let deposit = |w: &mut World, amount| {
        w.signed(
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount,
            },
            100,
        )
    };
    let acknowledged: Vec<_> = (1..=5).map(|i| deposit(&mut w, i)).collect();
    for tx in &acknowledged {
        let (status, body) = post(port, tx);
        assert_eq!(status, 202, "{body}");
    }

    // A key nobody registered.
    let mut stranger = World::new();
    stranger.genesis_hash = w.genesis_hash;
    let unknown = stranger.signed(
        99,
        Operation::Transfer {
            to: id(BANK_A),
            asset: usdx(),
            amount: 1,
            expected_fee: 0,
        },
        100,
    );
    let (status, body) = post(port, &unknown);
    assert_eq!(
        (status, body["error"].as_str(), body["field"].as_str()),
        (403, Some("unknown_signer"), Some("transaction.signer")),
        "{body}"
    );
    // Signed for another genesis with the same chain id (an earlier development federation).
    let mut earlier = World::new();
    let other = deposit(&mut earlier, 9);
    assert_eq!(other.transaction.chain_id, genesis.chain_id);
    let (status, body) = post(port, &other);
    assert_eq!(
        (status, body["error"].as_str(), body["field"].as_str()),
        (400, Some("wrong_chain"), Some("transaction.genesis_hash")),
        "{body}"
    );

    // Every answer is JSON, naming the field where one is to blame.
    let (status, body) = http(port, "GET", "/v1/blocks/abc", None);
    assert_eq!(
        (status, body["error"].as_str(), body["field"].as_str()),
        (400, Some("bad_request"), Some("height")),
        "{body}"
    );
    let (status, body) = http(port, "DELETE", "/v1/assets", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
    let (status, body) = http(port, "GET", "/v1/nothing-here", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );

    // No peer, so no quorum: not ready, and the metrics say why.
    let (status, body) = http(port, "GET", "/ready", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("not_ready")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("quorum"),
        "{body}"
    );
    let (_, metrics) = http(port, "GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap().to_string();
    for series in [
        "abt_mempool_transactions 5",
        "abt_ready 0",
        "abt_peers 0",
        "abt_seconds_since_last_commit ",
    ] {
        assert!(metrics.contains(series), "{series} missing from\n{metrics}");
    }

    // kill -9: no chance to flush anything.
    drop(node);
    let node = start_until(&config, port, "/health");
    for tx in &acknowledged {
        let (status, body) = http(
            port,
            "GET",
            &format!("/v1/transactions/{}", tx.txid()),
            None,
        );
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("pending")),
            "{body}"
        );
    }
    let (status, body) = post(port, &acknowledged[0]);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("duplicate")),
        "{body}"
    );
    drop(node);
}

/// A websocket to the console, with `origin` when given; the handshake's refusal as
/// `Err((status, body))`.
fn console_socket(
    port: u16,
    origin: Option<&str>,
) -> Result<tungstenite::WebSocket<TcpStream>, (u16, String)> {
    use tungstenite::client::IntoClientRequest;
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/console")
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tungstenite::client::client(request, stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => panic!("console handshake: {e}"),
    }
}

/// Sends one request and reads frames until its answer (notifications before it are kept).
fn call(
    socket: &mut tungstenite::WebSocket<TcpStream>,
    id: u64,
    method: &str,
    params: &Value,
) -> Value {
    let request =
        serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    socket
        .send(tungstenite::Message::text(request.to_string()))
        .unwrap();
    loop {
        if let tungstenite::Message::Text(text) = socket.read().unwrap() {
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            if answer["id"] == id {
                return answer;
            }
        }
    }
}

fn error_name(answer: &Value) -> &str {
    answer["error"]["data"]["name"]
        .as_str()
        .unwrap_or("(no error)")
}

/// Reads frames until a notification of `method` (answers before it are dropped).
fn next_notification(socket: &mut tungstenite::WebSocket<TcpStream>, method: &str) -> Value {
    loop {
        let tungstenite::Message::Text(text) = socket.read().unwrap() else {
            continue;
        };
        let message: Value = serde_json::from_str(text.as_str()).unwrap();
        if message["method"] == method {
            return message;
        }
    }
}

/// Asks for a challenge and signs it with `seed`'s key; the login's answer.
fn login(socket: &mut tungstenite::WebSocket<TcpStream>, seed: u8) -> (Value, Value) {
    let challenge = call(socket, 1, "console.challenge", &Value::Null)["result"].clone();
    let parsed: lightclient::console::LoginChallenge = serde_json::from_value(challenge).unwrap();
    let params = serde_json::json!({
        "public_key": public(&key(seed)),
        "signature": sign(&key(seed), &parsed.digest()),
    });
    (call(socket, 2, "console.login", &params), params)
}

#[test]
fn vault_staff_log_in_to_the_console_submit_a_bar_and_follow_it() {
    let Setup {
        _dir,
        genesis,
        config,
        port,
    } = setup(0);
    let console_port = free_port();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[console]\nlisten = \"127.0.0.1:{console_port}\"\nname = \"node-a\"\nallowed_origins = [\"http://vault.example\"]\nidle_logout_secs = 2\n"
    ));
    std::fs::write(&config, text).unwrap();
    let node = start(&config, port);

    // A page from another origin is refused at the handshake, by name.
    let (status, body) = console_socket(console_port, Some("http://evil.example")).unwrap_err();
    assert_eq!(status, 403);
    assert!(body.contains("origin_not_allowed"), "{body}");
    let mut socket = console_socket(console_port, Some("http://vault.example")).unwrap();

    // Nothing without a login; an asset holder's key is not staff; a replayed login is refused.
    let answer = call(&mut socket, 9, "bars.list", &Value::Null);
    assert_eq!(error_name(&answer), "not_logged_in", "{answer}");
    let (answer, _) = login(&mut socket, BANK_A);
    assert_eq!(error_name(&answer), "role_missing", "{answer}");
    let (answer, replay) = login(&mut socket, VAULT);
    assert_eq!(
        answer["result"]["account"],
        id(VAULT).to_string(),
        "{answer}"
    );
    let answer = call(&mut socket, 3, "console.login", &replay);
    assert_eq!(error_name(&answer), "challenge_used", "{answer}");
    let answer = call(&mut socket, 4, "vault.open", &Value::Null);
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    socket
        .send(tungstenite::Message::text("{not json"))
        .unwrap();
    let tungstenite::Message::Text(garbage) = socket.read().unwrap() else {
        panic!("no answer to a malformed frame");
    };
    assert!(garbage.as_str().contains("parse_error"), "{garbage}");

    // The staff member's own signed transaction goes in; another account's does not.
    let subscribed = call(
        &mut socket,
        5,
        "subscribe",
        &serde_json::json!({ "topic": "bars" }),
    );
    let subscription = subscribed["result"]["subscription"].as_u64().unwrap();
    let mut w = World::new();
    w.genesis_hash = genesis.hash().unwrap();
    let register = w.signed(
        VAULT,
        Operation::RegisterItem {
            serial: "WS-1".into(),
            refiner: "Valcambi".into(),
            mass: 400_000,
            fineness: 9999,
            location: "vault 1".into(),
        },
        100,
    );
    let foreign = w.signed(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 1,
        },
        100,
    );
    let hex_of = |tx: &lightclient::tx::SignedTransaction| hex::encode(tx.to_bytes());
    let answer = call(
        &mut socket,
        6,
        "tx.submit",
        &serde_json::json!({ "encoded": hex_of(&foreign) }),
    );
    assert_eq!(
        answer["error"]["data"]["refused"], "not_your_session",
        "{answer}"
    );
    let answer = call(
        &mut socket,
        7,
        "tx.submit",
        &serde_json::json!({ "encoded": hex_of(&register) }),
    );
    assert_eq!(
        answer["result"]["txid"],
        register.txid().to_hex(),
        "{answer}"
    );

    // The subscription tells of the bar; the bar's history names its registration.
    let notified = next_notification(&mut socket, "subscription");
    assert_eq!(
        notified["params"]["subscription"], subscription,
        "{notified}"
    );
    assert_eq!(
        notified["params"]["event"]["entries"][0]["action"], "register_item",
        "{notified}"
    );
    let answer = call(
        &mut socket,
        8,
        "bars.history",
        &serde_json::json!({ "serial": "WS-1" }),
    );
    assert_eq!(
        answer["result"]["history"][0]["txid"],
        register.txid().to_hex(),
        "{answer}"
    );
    let answer = call(&mut socket, 10, "bars.list", &Value::Null);
    assert_eq!(answer["result"]["bars"][0]["serial"], "WS-1", "{answer}");

    // Idle for longer than the node allows: the session ends and the server says so.
    std::thread::sleep(Duration::from_millis(2_500));
    let ended = next_notification(&mut socket, "session_ended");
    assert_eq!(ended["params"]["name"], "session_expired", "{ended}");
    let answer = call(&mut socket, 11, "bars.list", &Value::Null);
    assert_eq!(error_name(&answer), "not_logged_in", "{answer}");
    drop(node);
}
