//! Runs the real `hsm-sim` process and drives it with the `signer` crate's YubiHSM backend.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(missing_docs, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use lightclient::hash::sha256;
use signer::pin::PinSource;
use signer::yubihsm::{YubiHsmConfig, YubiHsmSigner};
use signer::{Signer, SignerError};

/// A running `hsm-sim`, killed on drop.
struct Sim {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        Self::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Sim {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hsm-sim"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from hsm-sim: {line:?}"));
        Sim {
            child,
            port,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, auth_key_id: u16, password: &str) -> YubiHsmConfig {
        let file: PathBuf = self
            .dir
            .path()
            .join(format!("pw-{auth_key_id}-{}", password.len()));
        std::fs::write(&file, password).unwrap();
        YubiHsmConfig {
            addr: "127.0.0.1".into(),
            port: self.port,
            auth_key_id,
            password: PinSource::File(file),
            timeout_ms: 2_000,
        }
    }

    /// A plain HTTP/1.0 request to the admin endpoints; returns (status, body).
    fn admin(&self, method: &str, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split(' ').nth(1).unwrap().parse().unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keygen_sign_verify_through_the_connector_protocol() {
    let sim = Sim::start(&[]);
    let signer = YubiHsmSigner::generate(sim.config(1, "password"), "validator-1")
        .await
        .unwrap();
    for i in 0u8..8 {
        let digest = sha256(&[i]);
        let signature = signer.sign_digest(digest.as_bytes()).await.unwrap();
        assert_eq!(
            signer
                .public_key()
                .verify_digest(digest.as_bytes(), &signature),
            Ok(())
        );
    }
    // More keys in the same HSM get their own ids (MockHsm has no "0 = device picks").
    let second = YubiHsmSigner::generate(sim.config(1, "password"), "controller-1")
        .await
        .unwrap();
    assert_ne!(second.public_key(), signer.public_key());
    let reopened = YubiHsmSigner::open(sim.config(1, "password"), "validator-1")
        .await
        .unwrap();
    assert_eq!(reopened.public_key(), signer.public_key());
    let err = YubiHsmSigner::generate(sim.config(1, "password"), "validator-1")
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::KeyExists(_)), "{err:?}");
    let err = YubiHsmSigner::open(sim.config(1, "password"), "absent")
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_a_typed_error() {
    let sim = Sim::start(&[]);
    let err = YubiHsmSigner::open(sim.config(1, "not the password"), "k")
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::WrongPin), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_auth_key_replaces_the_factory_key() {
    let sim = Sim::start_with_env(
        &[
            "--auth-key-id",
            "7",
            "--auth-password",
            "env:HSM_SIM_TEST_PASSWORD",
        ],
        &[("HSM_SIM_TEST_PASSWORD", "correct horse")],
    );
    YubiHsmSigner::generate(sim.config(7, "correct horse"), "k")
        .await
        .unwrap();
    let err = YubiHsmSigner::open(sim.config(1, "password"), "k")
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::WrongPin), "{err:?}");
    // The simulator keeps serving after the refused session.
    YubiHsmSigner::open(sim.config(7, "correct horse"), "k")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_hsm_gives_unavailable_and_signing_resumes_when_it_returns() {
    let sim = Sim::start(&[]);
    let signer = YubiHsmSigner::generate(sim.config(1, "password"), "k")
        .await
        .unwrap();
    let digest = sha256(b"x");
    signer.sign_digest(digest.as_bytes()).await.unwrap();

    assert_eq!(sim.admin("POST", "/sim/offline").0, 200);
    let err = signer.sign_digest(digest.as_bytes()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, SignerError::Unavailable { .. }), "{err:?}");
    let (_, status) = sim.admin("GET", "/sim/status");
    assert!(status.contains("\"offline\":true"), "{status}");

    assert_eq!(sim.admin("POST", "/sim/online").0, 200);
    let signature = signer.sign_digest(digest.as_bytes()).await.unwrap();
    assert_eq!(
        signer
            .public_key()
            .verify_digest(digest.as_bytes(), &signature),
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_errors_fail_requests_until_cleared() {
    let sim = Sim::start(&[]);
    let signer = YubiHsmSigner::generate(sim.config(1, "password"), "k")
        .await
        .unwrap();
    assert_eq!(
        sim.admin("POST", "/sim/faults?error_rate=1&latency_ms=5").0,
        200
    );
    let err = signer
        .sign_digest(sha256(b"y").as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::Unavailable { .. }), "{err:?}");
    let (_, status) = sim.admin("GET", "/sim/status");
    assert!(!status.contains("\"injected_errors\":0"), "{status}");

    assert_eq!(
        sim.admin("POST", "/sim/faults?error_rate=0&latency_ms=0").0,
        200
    );
    signer.sign_digest(sha256(b"y").as_bytes()).await.unwrap();
}

#[test]
fn admin_endpoint_rejects_bad_fault_settings() {
    let sim = Sim::start(&[]);
    let (status, body) = sim.admin("POST", "/sim/faults?error_rate=2");
    assert_eq!(status, 400);
    assert!(body.contains("not between 0 and 1"), "{body}");
    let (status, body) = sim.admin("POST", "/sim/faults?jitter=3");
    assert_eq!(status, 400);
    assert!(body.contains("unknown fault \"jitter\""), "{body}");
    assert_eq!(sim.admin("GET", "/nowhere").0, 404);
}

#[test]
fn bad_command_line_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_hsm-sim"))
        .args(["--error-rate", "1.5"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not between 0 and 1"));
}

/// Finding: after about a dozen unclean node exits hsm-sim panicked ("session ID exceeds the
/// maximum allowed: 17 (max 16)") while `/connector/status` still said OK. Like a YubiHSM 2 it
/// now holds at most 16 sessions, refuses a 17th with the device's "sessions full" error, and
/// closes sessions left idle (here after 10 s, long enough that opening sixteen sessions on a
/// loaded machine does not outlast it; 30 s by default), so clients that vanish without closing
/// theirs never exhaust it.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_left_open_expire_and_a_seventeenth_is_refused_not_fatal() {
    let sim = Sim::start(&["--session-timeout-secs", "10"]);
    // Each open holds one session, as a node killed with -9 leaves one behind.
    let mut held = vec![
        YubiHsmSigner::generate(sim.config(1, "password"), "k")
            .await
            .unwrap(),
    ];
    for _ in 1..16 {
        held.push(
            YubiHsmSigner::open(sim.config(1, "password"), "k")
                .await
                .unwrap(),
        );
    }
    let (_, status) = sim.admin("GET", "/sim/status");
    assert!(status.contains("\"sessions_open\":16"), "{status}");
    let refused = YubiHsmSigner::open(sim.config(1, "password"), "k")
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("sessions full (max 16)"),
        "the 17th session must be refused as the device does: {refused}"
    );
    let (status, body) = sim.admin("GET", "/connector/status");
    assert_eq!(status, 200, "{body}");

    // The held sessions go idle and the device closes them; new clients get in.
    std::thread::sleep(std::time::Duration::from_millis(10_500));
    let (_, status) = sim.admin("GET", "/sim/status");
    assert!(status.contains("\"sessions_open\":0"), "{status}");
    let fresh = YubiHsmSigner::open(sim.config(1, "password"), "k")
        .await
        .unwrap();
    let digest = sha256(b"after expiry");
    let signature = fresh.sign_digest(digest.as_bytes()).await.unwrap();
    assert_eq!(
        fresh
            .public_key()
            .verify_digest(digest.as_bytes(), &signature),
        Ok(())
    );
    // (A client's own idle limit is 29 s, under the device's 30 s, so with the default timeout
    // a client always opens a new session before the device has closed the old one.)
    drop(held);
}
