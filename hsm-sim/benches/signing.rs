//! Signatures per second for each signer backend: `cargo bench -p hsm-sim --bench signing`.
//!
//! Lives in the hsm-sim package because it starts the real `hsm-sim` process for the YubiHSM
//! backend; the PKCS#11 figure uses a SoftHSM2 token in the test store of `.cargo/config.toml`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]
#![allow(clippy::cast_precision_loss, clippy::arithmetic_side_effects)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signer::Signer;
use signer::pin::PinSource;
use signer::pkcs11::{Pkcs11Config, Pkcs11Signer, dev_test_token};
use signer::soft::SoftSigner;
use signer::yubihsm::{YubiHsmConfig, YubiHsmSigner};

const WINDOW: Duration = Duration::from_secs(3);

async fn measure(name: &str, signer: Arc<dyn Signer>, concurrency: usize) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let signer = Arc::clone(&signer);
        tasks.push(tokio::spawn(async move {
            let mut count = 0u64;
            while start.elapsed() < WINDOW {
                let mut digest = [0u8; 32];
                digest[..8].copy_from_slice(&count.to_be_bytes());
                digest[8] = u8::try_from(worker).unwrap_or(0);
                signer.sign_digest(&digest).await.unwrap();
                count += 1;
            }
            count
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{name:<34} concurrency {concurrency:>2}: {:>9.0} signatures/s ({total} in {seconds:.1} s)",
        total as f64 / seconds
    );
}

fn softhsm_config() -> Pkcs11Config {
    dev_test_token(&format!("bench-{}", std::process::id())).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo test --benches asks for a list of tests; there are none.
    }
    println!(
        "signer backends, {} s per figure, on this machine:",
        WINDOW.as_secs()
    );
    let soft: Arc<dyn Signer> = Arc::new(SoftSigner::from_secret([7u8; 32], "bench").unwrap());
    measure("soft (k256, in process; dev only)", soft, 1).await;

    let pkcs11: Arc<dyn Signer> = Arc::new(
        Pkcs11Signer::generate(softhsm_config(), "bench")
            .await
            .unwrap(),
    );
    measure("pkcs11 (SoftHSM2)", Arc::clone(&pkcs11), 1).await;
    measure("pkcs11 (SoftHSM2)", pkcs11, 4).await;

    let mut sim = Command::new(env!("CARGO_BIN_EXE_hsm-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sim.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let pw = std::env::temp_dir().join(format!("hsm-sim-bench-{}", std::process::id()));
    std::fs::write(&pw, "password").unwrap();
    let config = YubiHsmConfig {
        addr: "127.0.0.1".into(),
        port,
        auth_key_id: 1,
        password: PinSource::File(pw.clone()),
        timeout_ms: 5_000,
    };
    let yubi: Arc<dyn Signer> = Arc::new(YubiHsmSigner::generate(config, "bench").await.unwrap());
    measure("yubihsm (hsm-sim over HTTP)", yubi, 1).await;
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = std::fs::remove_file(pw);
}
