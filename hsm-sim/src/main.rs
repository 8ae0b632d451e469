//! `hsm-sim`: a YubiHSM 2 connector-compatible HTTP server backed by the yubihsm crate's MockHsm,
//! with fault injection. It speaks the real connector protocol (`GET /connector/status`,
//! `POST /connector/api` carrying YubiHSM command frames), so the real `yubihsm` client and our
//! `signer` YubiHSM backend talk to it exactly as to a `yubihsm-connector` with a device behind it.
//!
//! It is a test double of the YubiHSM 2 device: keys live only in this process' memory and vanish
//! when it exits. For development, the quick start and CI; never for real keys.
//!
//! Fault injection, at start (`--latency-ms`, `--error-rate`) or at run time through the admin
//! endpoints: `POST /sim/offline`, `POST /sim/online`,
//! `POST /sim/faults?latency_ms=N&error_rate=F`, `GET /sim/status`.

#![allow(clippy::print_stderr)] // a command-line program reports on stderr

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use secrecy::ExposeSecret;
use signer::pin::PinSource;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};
use yubihsm::authentication::{self, Credentials};
use yubihsm::object;
use yubihsm::{Capability, Client, Connector, Domain};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "YubiHSM 2 connector-compatible simulator with fault injection (test double; keys in memory only)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:12345")]
    listen: SocketAddr,
    /// Authentication key id clients must use.
    #[arg(long, default_value_t = 1)]
    auth_key_id: u16,
    /// Password of that key, as `env:NAME` or `file:PATH`. Without it, the factory default key
    /// (id 1, password "password") stays in place.
    #[arg(long)]
    auth_password: Option<PinSource>,
    /// Latency added to every HSM request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction (0 to 1) of HSM requests answered with HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Worker threads serving requests.
    #[arg(long, default_value_t = 4)]
    threads: usize,
}

/// Faults in force; changed by the admin endpoints.
struct Faults {
    offline: AtomicBool,
    latency_ms: AtomicU64,
    /// Error rate in parts per million.
    error_ppm: AtomicU64,
    rng: Mutex<u64>,
    requests: AtomicU64,
    injected_errors: AtomicU64,
    /// Set once the simulated device has failed (MockHsm panicked, for instance when a 17th
    /// session is opened); from then on the status endpoints say so instead of OK.
    failed: Mutex<Option<String>>,
    /// The one authentication key the simulated HSM holds.
    auth_key_id: u16,
}

impl Faults {
    /// xorshift64*: enough to spread injected errors; nothing here is secret.
    fn roll_ppm(&self) -> u64 {
        let Ok(mut state) = self.rng.lock() else {
            return 0;
        };
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % 1_000_000
    }
}

fn error_ppm(rate: f64) -> anyhow::Result<u64> {
    if !(0.0..=1.0).contains(&rate) {
        bail!("error rate {rate} is not between 0 and 1");
    }
    // In range by the check above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((rate * 1_000_000.0).round() as u64)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let connector = Connector::mockhsm();
    if let Some(source) = &args.auth_password {
        install_auth_key(&connector, args.auth_key_id, source)?;
    } else if args.auth_key_id != 1 {
        bail!("--auth-key-id {} needs --auth-password", args.auth_key_id);
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1);
    let faults = Arc::new(Faults {
        offline: AtomicBool::new(false),
        latency_ms: AtomicU64::new(args.latency_ms),
        error_ppm: AtomicU64::new(error_ppm(args.error_rate)?),
        #[allow(clippy::cast_possible_truncation)]
        rng: Mutex::new((seed as u64) | 1),
        requests: AtomicU64::new(0),
        injected_errors: AtomicU64::new(0),
        failed: Mutex::new(None),
        auth_key_id: args.auth_key_id,
    });
    let server = Arc::new(
        Server::http(args.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?,
    );
    let addr = server
        .server_addr()
        .to_ip()
        .context("listening address is not IP")?;
    eprintln!(
        "hsm-sim: listening on http://{addr} (auth key {}); simulated HSM, keys in memory only",
        args.auth_key_id
    );
    let workers: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let (server, connector, faults) =
                (Arc::clone(&server), connector.clone(), Arc::clone(&faults));
            std::thread::spawn(move || serve(&server, &connector, &faults))
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

/// Replaces the factory authentication key with `id` / the configured password.
fn install_auth_key(connector: &Connector, id: u16, source: &PinSource) -> anyhow::Result<()> {
    if id == 1 {
        bail!(
            "choose an --auth-key-id other than 1: the factory key 1 is deleted once yours is installed"
        );
    }
    let password = source.read().context("reading --auth-password")?;
    let client = Client::open(connector.clone(), Credentials::default(), false)
        .context("opening the mock HSM with the factory key")?;
    let key = authentication::Key::derive_from_password(password.expose_secret().as_bytes());
    client
        .put_authentication_key(
            id,
            object::Label::from("hsm-sim auth key"),
            Domain::all(),
            Capability::all(),
            Capability::all(),
            authentication::Algorithm::YubicoAes,
            key,
        )
        .context("installing the authentication key")?;
    client
        .delete_object(1, object::Type::AuthenticationKey)
        .context("deleting the factory authentication key")?;
    Ok(())
}

fn serve(server: &Server, connector: &Connector, faults: &Faults) {
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(e) => {
                eprintln!("hsm-sim: accept failed: {e}");
                continue;
            }
        };
        if let Err(e) = handle(request, connector, faults) {
            eprintln!("hsm-sim: request failed: {e}");
        }
    }
}

fn text(status: u16, body: impl Into<String>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body.into()).with_status_code(StatusCode(status))
}

fn handle(mut request: Request, connector: &Connector, faults: &Faults) -> std::io::Result<()> {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let response = match (request.method(), path) {
        (Method::Get, "/connector/status") => {
            if faults.offline.load(Ordering::SeqCst) {
                text(503, "status=NO_DEVICE\n")
            } else if let Some(reason) = failure(faults) {
                text(503, format!("status=DEVICE_FAILED\nreason={reason}\n"))
            } else {
                let body = format!(
                    "status=OK\nserial=*\nversion=hsm-sim {}\npid={}\n",
                    env!("CARGO_PKG_VERSION"),
                    std::process::id()
                );
                text(200, body)
            }
        }
        (Method::Post, "/connector/api") => {
            let mut body = Vec::new();
            request.as_reader().read_to_end(&mut body)?;
            api(body, connector, faults)
        }
        (Method::Post, "/sim/offline") => {
            faults.offline.store(true, Ordering::SeqCst);
            text(200, "offline\n")
        }
        (Method::Post, "/sim/online") => {
            faults.offline.store(false, Ordering::SeqCst);
            text(200, "online\n")
        }
        (Method::Post, "/sim/faults") => set_faults(query, faults),
        (Method::Get, "/sim/status") => text(
            200,
            format!(
                "{{\"offline\":{},\"latency_ms\":{},\"error_ppm\":{},\"requests\":{},\"injected_errors\":{},\"failed\":{}}}\n",
                faults.offline.load(Ordering::SeqCst),
                faults.latency_ms.load(Ordering::SeqCst),
                faults.error_ppm.load(Ordering::SeqCst),
                faults.requests.load(Ordering::SeqCst),
                faults.injected_errors.load(Ordering::SeqCst),
                failure(faults).map_or_else(|| "null".to_string(), |r| format!("{r:?}")),
            ),
        ),
        _ => text(404, "not found\n"),
    };
    let response = match Header::from_bytes(&b"Content-Type"[..], &b"text/plain"[..]) {
        Ok(header) if !path.starts_with("/connector/api") => response.with_header(header),
        _ => response,
    };
    request.respond(response)
}

fn api(
    body: Vec<u8>,
    connector: &Connector,
    faults: &Faults,
) -> Response<std::io::Cursor<Vec<u8>>> {
    faults.requests.fetch_add(1, Ordering::SeqCst);
    if faults.offline.load(Ordering::SeqCst) {
        return text(503, "HSM offline (simulated)\n");
    }
    let latency = faults.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        std::thread::sleep(Duration::from_millis(latency));
    }
    if faults.roll_ppm() < faults.error_ppm.load(Ordering::SeqCst) {
        faults.injected_errors.fetch_add(1, Ordering::SeqCst);
        return text(500, "injected error (simulated)\n");
    }
    if let Some(reply) = refuse_unknown_auth_key(&body, faults.auth_key_id) {
        return Response::from_data(reply);
    }
    // The request id only labels the exchange for the connector; any value will do.
    let id = uuid::Uuid::from_u128(u128::from(faults.requests.load(Ordering::SeqCst)));
    // MockHsm panics on some malformed input; keep serving rather than lose the worker.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        connector.send_message(id, body.into())
    }));
    match outcome {
        Ok(Ok(reply)) => Response::from_data(Vec::from(reply)),
        Ok(Err(e)) => text(500, format!("mock HSM error: {e}\n")),
        Err(panic) => {
            // MockHsm's state is poisoned after a panic: every later request fails too.
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "the simulated device panicked".into());
            if let Ok(mut failed) = faults.failed.lock() {
                failed.get_or_insert(reason.lines().next().unwrap_or_default().to_string());
            }
            text(500, "mock HSM panicked on this request\n")
        }
    }
}

/// Why the simulated device no longer works, once it has failed.
fn failure(faults: &Faults) -> Option<String> {
    faults.failed.lock().ok().and_then(|f| f.clone())
}

/// YubiHSM command code of `CreateSession`.
const CREATE_SESSION: u8 = 0x03;
/// Response code of a device error frame, and the device's "object not found" error.
const ERROR_RESPONSE: u8 = 0x7f;
const OBJECT_NOT_FOUND: u8 = 0x0b;

/// A real YubiHSM answers `CreateSession` for an authentication key it does not hold with an
/// "object not found" error frame; MockHsm panics instead (and would poison its state), so the
/// simulator answers for it.
fn refuse_unknown_auth_key(frame: &[u8], auth_key_id: u16) -> Option<Vec<u8>> {
    match frame {
        [CREATE_SESSION, _, _, hi, lo, ..] if u16::from_be_bytes([*hi, *lo]) != auth_key_id => {
            Some(vec![ERROR_RESPONSE, 0, 1, OBJECT_NOT_FOUND])
        }
        _ => None,
    }
}

fn set_faults(query: &str, faults: &Faults) -> Response<std::io::Cursor<Vec<u8>>> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "latency_ms" => match value.parse::<u64>() {
                Ok(ms) => faults.latency_ms.store(ms, Ordering::SeqCst),
                Err(_) => {
                    return text(400, format!("latency_ms {value:?} is not a whole number\n"));
                }
            },
            "error_rate" => match value
                .parse::<f64>()
                .map_err(|e| e.to_string())
                .and_then(|r| error_ppm(r).map_err(|e| e.to_string()))
            {
                Ok(ppm) => faults.error_ppm.store(ppm, Ordering::SeqCst),
                Err(e) => return text(400, format!("error_rate {value:?}: {e}\n")),
            },
            other => {
                return text(
                    400,
                    format!("unknown fault {other:?}; use latency_ms and error_rate\n"),
                );
            }
        }
    }
    text(200, "ok\n")
}
