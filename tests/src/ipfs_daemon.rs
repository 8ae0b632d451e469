//! A real IPFS daemon for tests: js-ipfs (`jsipfs daemon --offline`), installed by
//! `deploy/ipfs/install`, in its own repository under a temporary directory, with an empty
//! bootstrap list, MDNS and WebRTC discovery off, and every address on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the daemon could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum DaemonError {
    /// js-ipfs is not installed where it is looked for.
    NotInstalled(PathBuf),
    /// A step failed.
    Failed(String),
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DaemonError::NotInstalled(path) => write!(
                f,
                "js-ipfs is not installed at {} (run deploy/ipfs/install, or set ABT_JSIPFS)",
                path.display()
            ),
            DaemonError::Failed(reason) => write!(f, "js-ipfs: {reason}"),
        }
    }
}

impl std::error::Error for DaemonError {}

fn failed(what: &str) -> impl Fn(std::io::Error) -> DaemonError + '_ {
    move |e| DaemonError::Failed(format!("{what}: {e}"))
}

/// The workspace root (this crate lives in `tests/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where `deploy/ipfs/install` puts js-ipfs: `ABT_JSIPFS_DIR`, or `target/js-ipfs`.
pub fn install_dir() -> PathBuf {
    std::env::var_os("ABT_JSIPFS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/js-ipfs"))
}

/// The `jsipfs` command: `ABT_JSIPFS`, or the one in [`install_dir`].
pub fn jsipfs_binary() -> PathBuf {
    std::env::var_os("ABT_JSIPFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| install_dir().join("node_modules/.bin/jsipfs"))
}

/// The polyfill js-ipfs 0.66 needs on Node 20 (`Promise.withResolvers`).
fn polyfill() -> PathBuf {
    workspace_root().join("deploy/ipfs/polyfill.cjs")
}

fn free_port() -> Result<u16, DaemonError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(failed("picking a port"))
}

/// A running js-ipfs daemon; stopped when dropped.
#[derive(Debug)]
pub struct JsIpfs {
    repo: tempfile::TempDir,
    api_port: u16,
    child: Option<Child>,
}

impl JsIpfs {
    /// Initialises a repository and starts the daemon; returns once its API answers.
    pub fn start() -> Result<Self, DaemonError> {
        let binary = jsipfs_binary();
        if !binary.exists() {
            return Err(DaemonError::NotInstalled(binary));
        }
        let repo = tempfile::tempdir().map_err(failed("temporary directory"))?;
        let status = Self::command(repo.path())
            .args(["init", "--empty-repo"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(failed("jsipfs init"))?;
        if !status.success() {
            return Err(DaemonError::Failed(format!(
                "jsipfs init exited with {status}"
            )));
        }
        let api_port = free_port()?;
        Self::configure(repo.path(), api_port)?;
        let mut daemon = JsIpfs {
            repo,
            api_port,
            child: None,
        };
        daemon.resume()?;
        Ok(daemon)
    }

    fn command(repo: &Path) -> Command {
        let mut command = Command::new(jsipfs_binary());
        command.env("IPFS_PATH", repo).env(
            "NODE_OPTIONS",
            format!("--require {}", polyfill().display()),
        );
        command
    }

    /// Loopback only, no bootstrap peers, no discovery: the daemon never leaves the machine.
    fn configure(repo: &Path, api_port: u16) -> Result<(), DaemonError> {
        let path = repo.join("config");
        let text = std::fs::read_to_string(&path).map_err(failed("reading the config"))?;
        let mut config: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| DaemonError::Failed(format!("config is not a JSON object: {e}")))?;
        let (swarm, gateway, rpc) = (free_port()?, free_port()?, free_port()?);
        config.insert(
            "Addresses".into(),
            serde_json::json!({
                "Swarm": [format!("/ip4/127.0.0.1/tcp/{swarm}")],
                "Announce": [], "NoAnnounce": [],
                "API": format!("/ip4/127.0.0.1/tcp/{api_port}"),
                "Gateway": format!("/ip4/127.0.0.1/tcp/{gateway}"),
                "RPC": format!("/ip4/127.0.0.1/tcp/{rpc}"),
                "Delegates": [],
            }),
        );
        config.insert("Bootstrap".into(), serde_json::json!([]));
        config.insert(
            "Discovery".into(),
            serde_json::json!({
                "MDNS": { "Enabled": false, "Interval": 10 },
                "webRTCStar": { "Enabled": false },
            }),
        );
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| DaemonError::Failed(format!("config: {e}")))?;
        std::fs::write(&path, text).map_err(failed("writing the config"))
    }

    /// The RPC API base, e.g. `http://127.0.0.1:40123`.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// Whether the API answers `version`.
    pub fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.api_port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = "POST /api/v0/version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        reply.starts_with("HTTP/1.1 200")
    }

    /// Stops the daemon (the repository and its pins stay).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // js-ipfs leaves a repo lock behind when killed.
        let _ = std::fs::remove_file(self.repo.path().join("repo.lock"));
        let _ = std::fs::remove_dir_all(self.repo.path().join("repo.lock"));
    }

    /// Starts the daemon again on the same repository and port; returns once its API answers.
    pub fn resume(&mut self) -> Result<(), DaemonError> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.repo.path().join("daemon.log"))
            .map_err(failed("daemon log"))?;
        let child = Self::command(self.repo.path())
            .args(["daemon", "--offline"])
            .stdout(log.try_clone().map_err(failed("daemon log"))?)
            .stderr(log)
            .spawn()
            .map_err(failed("starting jsipfs daemon"))?;
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers() {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(DaemonError::Failed(format!(
                    "daemon exited with {status}: {}",
                    self.log()
                )));
            }
            if started.elapsed() > Duration::from_secs(60) {
                self.stop();
                return Err(DaemonError::Failed(format!(
                    "API did not answer within 60 s: {}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// What the daemon logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.repo.path().join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for JsIpfs {
    fn drop(&mut self) {
        self.stop();
    }
}
