//! `hsm-sim`: a YubiHSM 2 connector-compatible HTTP server with a simulated device behind it
//! ([`device`]: SCP03 sessions, at most 16, closed after 30 s idle as a YubiHSM 2 does), with
//! fault injection. It speaks the real connector protocol (`GET /connector/status`,
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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use secrecy::ExposeSecret;
use signer::pin::PinSource;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

mod device;

use device::Device;

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
    /// Seconds after which an idle session is closed (a YubiHSM 2 closes them after 30).
    #[arg(long, default_value_t = 30)]
    session_timeout_secs: u64,
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
    let timeout = Duration::from_secs(args.session_timeout_secs.max(1));
    let device = match &args.auth_password {
        Some(source) => {
            if args.auth_key_id == 1 {
                bail!(
                    "choose an --auth-key-id other than 1: the factory key 1 is replaced by yours"
                );
            }
            let password = source.read().context("reading --auth-password")?;
            Device::new(
                args.auth_key_id,
                password.expose_secret().as_bytes(),
                timeout,
            )
        }
        None if args.auth_key_id != 1 => {
            bail!("--auth-key-id {} needs --auth-password", args.auth_key_id)
        }
        // The factory state: authentication key 1, password "password".
        None => Device::new(1, b"password", timeout),
    };
    let device = Arc::new(Mutex::new(device));
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
            let (server, device, faults) = (
                Arc::clone(&server),
                Arc::clone(&device),
                Arc::clone(&faults),
            );
            std::thread::spawn(move || serve(&server, &device, &faults))
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

fn serve(server: &Server, device: &Mutex<Device>, faults: &Faults) {
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(e) => {
                eprintln!("hsm-sim: accept failed: {e}");
                continue;
            }
        };
        if let Err(e) = handle(request, device, faults) {
            eprintln!("hsm-sim: request failed: {e}");
        }
    }
}

fn text(status: u16, body: impl Into<String>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body.into()).with_status_code(StatusCode(status))
}

fn handle(mut request: Request, device: &Mutex<Device>, faults: &Faults) -> std::io::Result<()> {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let response = match (request.method(), path) {
        (Method::Get, "/connector/status") => {
            if faults.offline.load(Ordering::SeqCst) {
                text(503, "status=NO_DEVICE\n")
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
            api(&body, device, faults)
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
                "{{\"offline\":{},\"latency_ms\":{},\"error_ppm\":{},\"requests\":{},\"injected_errors\":{},\"sessions_open\":{},\"sessions_max\":{}}}\n",
                faults.offline.load(Ordering::SeqCst),
                faults.latency_ms.load(Ordering::SeqCst),
                faults.error_ppm.load(Ordering::SeqCst),
                faults.requests.load(Ordering::SeqCst),
                faults.injected_errors.load(Ordering::SeqCst),
                device
                    .lock()
                    .map_or(0, |mut d| d.open_sessions(Instant::now())),
                device::MAX_SESSIONS,
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

fn api(body: &[u8], device: &Mutex<Device>, faults: &Faults) -> Response<std::io::Cursor<Vec<u8>>> {
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
    match device.lock() {
        Ok(mut device) => Response::from_data(device.handle(body, Instant::now())),
        Err(_) => text(500, "simulated device state is poisoned\n"),
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
