//! The self-hosted service end to end: the `mainstay serve` binary with its in-process regtest
//! double of Bitcoin Core, driven over loopback by the API client; the evidence is collected from
//! the double's RPC and verified from headers only.
#![cfg(feature = "service")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mainstay::api::{self, CommitmentInfo};
use mainstay::bitcoin::Network;
use mainstay::bitcoin::blockdata::constants::genesis_block;
use mainstay::bitcoin::consensus::encode::serialize_hex;
use mainstay::bitcoin::secp256k1;
use mainstay::bitcoin_rpc::BitcoinRpc;
use mainstay::client::{ClientError, MainstayClient, RetryPolicy};
use mainstay::collect::{collect_evidence, follow_headers, start_header_chain};
use mainstay::{AttestationEvidence, Checkpoint, HeaderChain, StaychainConfig, StaychainSpec};

const DEV_SECRET: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SLOT_SECRET: [u8; 32] = [0x22; 32];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Service {
    child: Option<Child>,
    config: std::path::PathBuf,
    api: String,
    bitcoin: String,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start() -> Service {
        let dir = tempfile::tempdir().unwrap();
        let (api_port, rpc_port) = (free_port(), free_port());
        let slot_key = bitcoin_key(&SLOT_SECRET);
        let config = dir.path().join("mainstay.toml");
        std::fs::write(
            &config,
            format!(
                r#"listen = "127.0.0.1:{api_port}"
data_dir = "{data}"

[bitcoin]
network = "regtest"
rpc_user = "mainstay"
rpc_password = "regtest-only"
regtest_double = {{ listen = "127.0.0.1:{rpc_port}", block_interval_ms = 300 }}

[staychain]
chain_code = "{chain_code}"
dev_secret = "{DEV_SECRET}"

[attestation]
interval_ms = 200
min_fee_rate = 2
max_fee_rate = 50
conf_target = 2

[[slots]]
position = 0
token = "token-zero"

[[slots]]
position = 2
token = "token-two"
public_key = "{slot_key}"
"#,
                data = dir.path().join("data").display(),
                chain_code = "ab".repeat(32),
            ),
        )
        .unwrap();
        let mut service = Service {
            child: None,
            config,
            api: format!("http://127.0.0.1:{api_port}/api/v1"),
            bitcoin: format!("http://127.0.0.1:{rpc_port}"),
            _dir: dir,
        };
        service.spawn();
        service
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_mainstay"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = self
            .api
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            assert!(Instant::now() < deadline, "the service did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bitcoin_key(secret: &[u8; 32]) -> String {
    let secp = secp256k1::Secp256k1::new();
    let key = secp256k1::SecretKey::from_slice(secret).unwrap();
    key.public_key(&secp).to_string()
}

fn sign_commitment(commitment: &str, secret: &[u8; 32]) -> Vec<u8> {
    let secp = secp256k1::Secp256k1::new();
    let key = secp256k1::SecretKey::from_slice(secret).unwrap();
    let digest: [u8; 32] = hex::decode(commitment).unwrap().try_into().unwrap();
    let message = secp256k1::Message::from_digest(digest);
    secp.sign_ecdsa(&message, &key).serialize_der().to_vec()
}

fn client(api: &str) -> MainstayClient {
    MainstayClient::new(
        api,
        Duration::from_secs(5),
        RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(100),
        },
    )
    .unwrap()
}

async fn attested(client: &MainstayClient, commitment: &str) -> CommitmentInfo {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.commitment(commitment).await {
            Ok(info) if info.attestation.confirmed => return info,
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("{e}"),
        }
        assert!(
            Instant::now() < deadline,
            "{commitment} was not attested in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Follows the double's header chain from the regtest genesis, as a light client does, until
/// `block` has the confirmations `config` requires (the double mines every 300 ms).
async fn follow_until_buried(
    rpc: &BitcoinRpc,
    chain: &mut HeaderChain,
    config: &StaychainConfig,
    evidence: &AttestationEvidence,
) {
    let block = evidence.headers().unwrap()[0].block_hash();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        follow_headers(rpc, chain, u32::try_from(now).unwrap())
            .await
            .unwrap();
        if chain.confirmations(&block) >= config.min_confirmations {
            return;
        }
        assert!(Instant::now() < deadline, "{block} was not buried in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn staychain_spec(api: &str) -> StaychainSpec {
    let body = reqwest::get(format!("{api}/staychain"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    api::parse_envelope(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commitments_are_attested_confirmed_and_verified_from_headers_only() {
    let mut service = Service::start();
    let client = client(&service.api);
    let rpc = BitcoinRpc::new(&service.bitcoin, "mainstay", "regtest-only").unwrap();

    // Refusals come back with HTTP 200 and the reference server's words.
    let first = "5a".repeat(32);
    let refused = |e: ClientError| match e {
        ClientError::Api { message, .. } => message,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(
            client
                .send_commitment(0, "wrong", &first, None)
                .await
                .unwrap_err()
        ),
        "your token is wrong"
    );
    assert_eq!(
        refused(
            client
                .send_commitment(1, "token-zero", &first, None)
                .await
                .unwrap_err()
        ),
        "your position is unknown to us"
    );
    assert_eq!(
        refused(
            client
                .send_commitment(2, "token-two", &first, None)
                .await
                .unwrap_err()
        ),
        "missing X-MAINSTAY-SIGNATURE"
    );
    let wrong_signature = sign_commitment(&"77".repeat(32), &SLOT_SECRET);
    assert_eq!(
        refused(
            client
                .send_commitment(2, "token-two", &first, Some(&wrong_signature))
                .await
                .unwrap_err()
        ),
        "your signature is incorrect"
    );
    assert_eq!(
        refused(
            client
                .send_commitment(0, "token-zero", "abc", None)
                .await
                .unwrap_err()
        ),
        "commitment string parameter must contain 64 characters"
    );
    let raw = reqwest::get(format!(
        "{}/commitment/commitment?commitment={}",
        service.api, first
    ))
    .await
    .unwrap();
    assert_eq!(raw.status().as_u16(), 200);
    let not_found = client.commitment(&first).await.unwrap_err();
    assert!(not_found.is_not_found(), "{not_found:?}");
    assert_eq!(client.latest_attestation().await.unwrap(), None);

    // Commit, wait for the attestation to confirm, collect and verify.
    client
        .send_commitment(0, "token-zero", &first, None)
        .await
        .unwrap();
    let info = attested(&client, &first).await;
    let spec = staychain_spec(&service.api).await;
    let config = spec.to_config().unwrap();
    let (evidence, chain) = collect_evidence(
        &rpc,
        info.merkleproof.position,
        info.slot_proof(),
        config.initial_txid,
        &[],
        3,
    )
    .await
    .unwrap();
    let genesis = genesis_block(Network::Regtest).block_hash();
    let mut headers = start_header_chain(
        &rpc,
        Network::Regtest,
        Checkpoint::genesis(Network::Regtest),
    )
    .await
    .unwrap();
    assert_eq!(headers.tip_hash(), genesis);
    follow_until_buried(&rpc, &mut headers, &config, &evidence).await;
    let report = evidence.verify(&config, &headers, Some(&first)).unwrap();
    assert_eq!(config.min_confirmations, 6);
    assert!(report.confirmations >= 6);
    assert_eq!(report.txid.to_string(), info.attestation.txid);
    assert_eq!(report.staychain_length, 1);
    assert!(report.confirmations >= 1);

    // A signed slot joins the tree; the next attestation extends the staychain.
    let second = "c3".repeat(32);
    let signature = sign_commitment(&second, &SLOT_SECRET);
    client
        .send_commitment(2, "token-two", &second, Some(&signature))
        .await
        .unwrap();
    let info = attested(&client, &second).await;
    assert_eq!(info.merkleproof.position, 2);
    let (evidence, chain) =
        collect_evidence(&rpc, 2, info.slot_proof(), config.initial_txid, &chain, 3)
            .await
            .unwrap();
    follow_until_buried(&rpc, &mut headers, &config, &evidence).await;
    let report = evidence.verify(&config, &headers, Some(&second)).unwrap();
    assert_eq!(report.staychain_length, 2);
    assert_eq!(chain.len(), 2);
    let latest = client.latest_proof(2).await.unwrap();
    assert_eq!(latest.commitment, second);
    assert_eq!(latest.verify_at(2), Ok(()));

    // The CLI gives the same verdict from files, and names the check a tampered file fails.
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("staychain.json");
    let evidence_file = dir.path().join("evidence.json");
    let headers_file = dir.path().join("headers.hex");
    let lines: Vec<String> = headers.headers().iter().map(serialize_hex).collect();
    std::fs::write(&headers_file, lines.join("\n")).unwrap();
    std::fs::write(&spec_file, serde_json::to_vec(&spec).unwrap()).unwrap();
    std::fs::write(&evidence_file, serde_json::to_vec(&evidence).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mainstay"))
        .args(["verify", "--bitcoin-headers"])
        .arg(&headers_file)
        .arg("--staychain")
        .arg(&spec_file)
        .args(["--commitment", &second])
        .arg(&evidence_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for check in [
        "slot proof: OK",
        "pay-to-contract: OK",
        "staychain: OK, 2 attestation(s)",
        "bitcoin header chain: OK, followed from checkpoint 0:",
        "bitcoin inclusion: OK",
    ] {
        assert!(text.contains(check), "{check}: {text}");
    }
    let mut tampered: AttestationEvidence = evidence.clone();
    tampered.slot_proof.merkle_root = "00".repeat(32);
    std::fs::write(&evidence_file, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mainstay"))
        .args(["verify", "--bitcoin-headers"])
        .arg(&headers_file)
        .arg("--staychain")
        .arg(&spec_file)
        .arg(&evidence_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("slot proof: FAILED: slot proof: the path leads to root")
            && text.contains("pay-to-contract: not reached"),
        "{text}"
    );

    // A restart loses nothing.
    let before = client.latest_attestation().await.unwrap().unwrap();
    service.stop();
    match client.latest_attestation().await.unwrap_err() {
        ClientError::Unreachable { attempts, .. } => assert_eq!(attempts, 2),
        other => panic!("{other:?}"),
    }
    service.spawn();
    assert_eq!(client.latest_attestation().await.unwrap().unwrap(), before);
    assert_eq!(
        client.commitment(&second).await.unwrap().attestation.txid,
        info.attestation.txid
    );
}
