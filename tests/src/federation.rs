//! The federation harness: four (`NODES`) real `appliance` processes, each with its validator
//! key in its own SoftHSM2 token, on loopback, with helpers to sign, submit and check from
//! outside over the HTTP API and with the light-client rules.
// A test harness: a failed step should stop the test at once, with its message, and its names
// are read beside the tests that use them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::new_without_default,
    clippy::print_stderr,
    missing_docs
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appliance::dev::{dev_genesis, dev_key, dev_public, dev_sign};
use lightclient::certificate::CommitCertificate;
use lightclient::encoding::Decode;
use lightclient::genesis::{Genesis, asset_id_for_code};
use lightclient::hash::sha256;
use lightclient::header::BlockHeader;
use lightclient::keys::{AccountId, PublicKey};
use lightclient::tx::{KycState, Operation, SignedTransaction, registration_digest};
use serde_json::Value;
use signer::Signer;
use signer::pkcs11::{DEFAULT_MODULE, Pkcs11Signer, dev_test_token};
use signer::yubihsm::{YubiHsmConfig, YubiHsmSigner};

pub const NODES: usize = 4;

pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, Value)> {
    let (status, body) = exchange(port, method, path, body.unwrap_or("").as_bytes())?;
    let text = String::from_utf8_lossy(&body);
    Some((
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned())),
    ))
}

/// One HTTP/1.1 exchange with the exact body bytes both ways; `None` if the node does not answer.
pub fn exchange(port: u16, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked replies are not expected here"
    );
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, response[split + 4..].to_vec()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `appliance` binary `cargo test --workspace` built next to this test.
pub fn appliance_binary() -> PathBuf {
    workspace_binary("appliance")
}

/// Runs the `lightclient` command line with `--home home`, `args` and the environment `env`;
/// its output and its stdout followed by its stderr, as text.
pub fn lightclient(
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Output, String) {
    let out = Command::new(workspace_binary("lightclient"))
        .arg("--home")
        .arg(home)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

/// A binary of the workspace that `cargo test --workspace` built next to this test.
pub fn workspace_binary(name: &str) -> PathBuf {
    // ABT_TEST_BIN_DIR points at other builds of the binaries (the long chaos run uses release).
    if let Some(dir) = std::env::var_os("ABT_TEST_BIN_DIR") {
        let binary = PathBuf::from(dir).join(name);
        assert!(
            binary.exists(),
            "{} is missing (ABT_TEST_BIN_DIR)",
            binary.display()
        );
        return binary;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let test_exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/federation-<hash>: the binary sits in target/<profile>.
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| target.join("debug"));
    let binary = profile_dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: run the suite with `cargo test --workspace` (deploy/test), which builds it",
        binary.display()
    );
    binary
}

pub struct NodeProcess {
    pub config: PathBuf,
    pub log: PathBuf,
    pub api: u16,
    pub child: Option<Child>,
}

impl NodeProcess {
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(appliance_binary())
            .args(["run", "--config"])
            .arg(&self.config)
            // ABT_TEST_LOG overrides the nodes' log filter for a post-mortem (with
            // ABT_KEEP_TEST_DIRS=1), e.g. `info,arc_malachitebft_core_consensus=debug`.
            .env(
                "RUST_LOG",
                std::env::var("ABT_TEST_LOG")
                    .unwrap_or_else(|_| "info,arc_malachitebft=warn,libp2p=warn".to_owned()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn height(&self) -> Option<u64> {
        // /ready answers 503 while the node is not ready (a halted chain, no quorum), and gives
        // the height either way.
        let (status, body) = http(self.api, "GET", "/ready", None)?;
        matches!(status, 200 | 503)
            .then(|| body["height"].as_u64())
            .flatten()
    }

    pub fn header(&self, height: u64) -> Option<BlockHeader> {
        let (status, body) = http(self.api, "GET", &format!("/v1/headers/{height}"), None)?;
        if status != 200 {
            return None;
        }
        let bytes = hex_decode(body["encoded"].as_str()?);
        Some(BlockHeader::from_bytes(&bytes).unwrap())
    }

    /// The light block of `height`: header, certificate and the sets the header names.
    pub fn light_block(&self, height: u64) -> Option<lightclient::light::LightBlock> {
        let (status, body) = http(self.api, "GET", &format!("/v1/light_blocks/{height}"), None)?;
        (status == 200).then(|| serde_json::from_value(body).unwrap())
    }

    pub fn certificate(&self, height: u64) -> Option<CommitCertificate> {
        let (status, body) = http(self.api, "GET", &format!("/v1/certificates/{height}"), None)?;
        if status != 200 {
            return None;
        }
        let bytes = hex_decode(body["encoded"].as_str()?);
        Some(CommitCertificate::from_bytes(&bytes).unwrap())
    }

    pub fn submit(&self, tx: &SignedTransaction) -> String {
        let (status, body) = http(
            self.api,
            "POST",
            "/v1/transactions",
            Some(&serde_json::to_string(tx).unwrap()),
        )
        .expect("node answers");
        assert_eq!(status, 202, "{body}");
        body["txid"].as_str().unwrap().to_string()
    }

    pub fn status_of(&self, txid: &str) -> Value {
        http(self.api, "GET", &format!("/v1/transactions/{txid}"), None)
            .map(|(_, body)| body)
            .unwrap_or(Value::Null)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Distinguishes the token labels of federations made by one test process.
pub static FEDERATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Tests here take turns: two federations at once would share two cores, so the tests that
/// wait for a halt or a catch-up would measure the machine, not the nodes; and SoftHSM's file
/// store aborts a process that enumerates tokens while another process creates one (seen as a
/// node dying at start with `SlotManager::insertToken: Assertion failed`).
pub fn one_federation_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct Federation {
    pub nodes: Vec<NodeProcess>,
    pub genesis: Genesis,
    pub dir: tempfile::TempDir,
    pub salt: u64,
    /// The proxies between the nodes' consensus ports, when built with `proxied`.
    pub links: Option<Links>,
    /// The hsm-sim one node's key lives in, when built with `hsm_sim_node`.
    pub hsm_sim: Option<HsmSim>,
    /// Each node's validator key (standby nodes' too).
    pub keys: Vec<PublicKey>,
    /// The `signer` arguments that open each node's validator key in its HSM (SoftHSM nodes).
    pub signer_args: Vec<Vec<String>>,
}

/// How to build a federation.
pub struct Options {
    /// The mapping controllers (2 of them must sign).
    pub controllers: Vec<PublicKey>,
    /// Appended to node `i`'s config file.
    pub extra: Box<dyn Fn(usize) -> String>,
    /// This node's validator key lives in an hsm-sim (which can be switched offline); the others
    /// in SoftHSM tokens.
    pub hsm_sim_node: Option<usize>,
    /// Consensus traffic between the nodes goes through proxies that can cut a node off.
    pub proxied: bool,
    /// This node keeps its data in this directory (e.g. a small filesystem to fill).
    pub data_dir: Option<(usize, PathBuf)>,
    /// Nodes beyond the `NODES` genesis validators: each with its key in its own HSM, peered
    /// with every other node, voting only once a validator-set change admits it.
    pub standby: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            controllers: (1..=3)
                .map(|c| dev_public(&format!("controller-{c}")).unwrap())
                .collect(),
            extra: Box::new(|_| String::new()),
            hsm_sim_node: None,
            proxied: false,
            data_dir: None,
            standby: 0,
        }
    }
}

/// An hsm-sim process (factory authentication key 1, password "password").
pub struct HsmSim {
    pub port: u16,
    password: PathBuf,
    child: Child,
}

impl HsmSim {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let password = dir.join("hsm-sim-password");
        std::fs::write(&password, "password").unwrap();
        let child = Command::new(workspace_binary("hsm-sim"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while http(port, "GET", "/connector/status", None).is_none_or(|(s, _)| s != 200) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "hsm-sim did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        HsmSim {
            port,
            password,
            child,
        }
    }

    fn config(&self) -> YubiHsmConfig {
        toml::from_str(&format!(
            "port = {}\npassword = {{ file = {:?} }}\n",
            self.port, self.password
        ))
        .unwrap()
    }

    fn node_toml(&self, label: &str) -> String {
        format!(
            "backend = \"yubihsm\"\nkey_label = {label:?}\naddr = \"127.0.0.1\"\nport = {}\nauth_key_id = 1\npassword = {{ file = {:?} }}\n",
            self.port, self.password
        )
    }

    /// Switches the simulated device off (`true`) or on.
    pub fn set_offline(&self, offline: bool) {
        let path = if offline {
            "/sim/offline"
        } else {
            "/sim/online"
        };
        let (status, _) = http(self.port, "POST", path, None).unwrap();
        assert_eq!(status, 200);
    }
}

impl Drop for HsmSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nodes cut off, shared by the proxies.
type CutSet = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<usize>>>;

fn is_cut(cut: &CutSet, a: usize, b: usize) -> bool {
    cut.lock()
        .is_ok_and(|set| set.contains(&a) || set.contains(&b))
}

/// A TCP proxy for every ordered pair of nodes' consensus links, which can cut nodes off: the
/// connections of a cut node are closed and new ones refused until healed, while the links
/// between the others stay up (real packets, no root needed).
pub struct Links {
    ports: std::collections::HashMap<(usize, usize), u16>,
    cut: CutSet,
}

impl Links {
    fn start(p2p: &[u16]) -> Self {
        let cut = CutSet::default();
        let mut ports = std::collections::HashMap::new();
        for from in 0..p2p.len() {
            for (to, &target) in p2p.iter().enumerate() {
                if from == to {
                    continue;
                }
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                ports.insert((from, to), listener.local_addr().unwrap().port());
                let cut = CutSet::clone(&cut);
                std::thread::spawn(move || {
                    for inbound in listener.incoming().flatten() {
                        if is_cut(&cut, from, to) {
                            drop(inbound);
                            continue;
                        }
                        let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                            continue;
                        };
                        pipe(inbound, outbound, &cut, (from, to));
                    }
                });
            }
        }
        Links { ports, cut }
    }

    /// The port node `from` dials to reach node `to`.
    pub fn port(&self, from: usize, to: usize) -> u16 {
        self.ports[&(from, to)]
    }

    /// Cuts these nodes off from every other node (closing what they have open).
    pub fn cut(&self, nodes: &[usize]) {
        self.cut.lock().unwrap().extend(nodes.iter().copied());
    }

    /// Reconnects every node.
    pub fn heal(&self) {
        self.cut.lock().unwrap().clear();
    }
}

/// Copies bytes both ways until either side closes or one end of the link is cut off.
fn pipe(a: TcpStream, b: TcpStream, cut: &CutSet, (from_node, to_node): (usize, usize)) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    for (mut from, mut to) in [(a2, b2), (b, a)] {
        let cut = CutSet::clone(cut);
        std::thread::spawn(move || {
            let _ = from.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buffer = [0u8; 16 * 1024];
            loop {
                if is_cut(&cut, from_node, to_node) {
                    break;
                }
                match from.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => {
                        if to.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            let _ = from.shutdown(std::net::Shutdown::Both);
            let _ = to.shutdown(std::net::Shutdown::Both);
        });
    }
}

impl Federation {
    pub fn new() -> Self {
        Self::with_extra_config(|_| String::new())
    }

    /// A federation whose node `i` gets `extra(i)` appended to its config file.
    pub fn with_extra_config(extra: impl Fn(usize) -> String + 'static) -> Self {
        let controllers: Vec<PublicKey> = (1..=3)
            .map(|c| dev_public(&format!("controller-{c}")).unwrap())
            .collect();
        Self::build(&controllers, extra)
    }

    /// A federation with these mapping controllers (2 of them must sign).
    pub fn build(controllers: &[PublicKey], extra: impl Fn(usize) -> String + 'static) -> Self {
        Self::build_with(&Options {
            controllers: controllers.to_vec(),
            extra: Box::new(extra),
            ..Options::default()
        })
    }

    /// A federation as `options` say.
    pub fn build_with(options: &Options) -> Self {
        let mut dir = tempfile::Builder::new()
            .prefix("abt-fed-")
            .tempdir()
            .unwrap();
        // ABT_KEEP_TEST_DIRS=1 keeps the nodes' logs and stores for a post-mortem.
        if std::env::var_os("ABT_KEEP_TEST_DIRS").is_some() {
            dir.disable_cleanup(true);
            eprintln!("federation files kept in {}", dir.path().display());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hsm_sim = options.hsm_sim_node.map(|_| HsmSim::start(dir.path()));
        // One HSM per validator, as each custodian has its own: a SoftHSM token, or the hsm-sim.
        let mut hsms = Vec::new();
        let mut keys: Vec<PublicKey> = Vec::new();
        let mut signer_args = Vec::new();
        let total = NODES + options.standby;
        for i in 0..total {
            if options.hsm_sim_node == Some(i) {
                let sim = hsm_sim.as_ref().unwrap();
                let key = runtime
                    .block_on(YubiHsmSigner::generate(sim.config(), "validator"))
                    .unwrap()
                    .public_key();
                keys.push(key);
                hsms.push(sim.node_toml("validator"));
                signer_args.push(Vec::new());
                continue;
            }
            let label = format!(
                "fed-{}-{}-{}",
                std::process::id(),
                FEDERATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                i + 1
            );
            let token = dev_test_token(&label).unwrap();
            let key = runtime
                .block_on(Pkcs11Signer::generate(token.clone(), "validator"))
                .unwrap()
                .public_key();
            keys.push(key);
            let signer::pin::PinSource::File(pin) = token.pin.clone() else {
                unreachable!("test tokens keep their PIN in a file")
            };
            signer_args.push(
                [
                    "--backend",
                    "pkcs11",
                    "--label",
                    "validator",
                    "--token",
                    &label,
                    "--pin",
                    &format!("file:{}", pin.display()),
                ]
                .map(String::from)
                .to_vec(),
            );
            hsms.push(format!(
                "backend = \"pkcs11\"\nkey_label = \"validator\"\nmodule = {DEFAULT_MODULE:?}\ntoken_label = {label:?}\npin = {{ file = {pin:?} }}\n"
            ));
        }
        let genesis = dev_genesis(
            "abt-e2e-1",
            1_700_000_000_000,
            &keys[..NODES],
            &options.controllers,
            2,
        )
        .unwrap();
        let genesis_path = dir.path().join("genesis.json");
        std::fs::write(&genesis_path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
        let p2p: Vec<u16> = (0..total).map(|_| free_port()).collect();
        let apis: Vec<u16> = (0..total).map(|_| free_port()).collect();
        let links = options.proxied.then(|| Links::start(&p2p));
        let mut nodes = Vec::new();
        for (i, hsm) in hsms.into_iter().enumerate() {
            let api = apis[i];
            let relay: Vec<String> = apis
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, port)| format!("\"http://127.0.0.1:{port}\""))
                .collect();
            // Through the fault-injecting proxies, when there are any.
            let peers: Vec<String> = (0..total)
                .filter(|j| *j != i)
                .map(|j| {
                    let port = links.as_ref().map_or(p2p[j], |l| l.port(i, j));
                    format!("\"/ip4/127.0.0.1/tcp/{port}\"")
                })
                .collect();
            let data = match &options.data_dir {
                Some((node, path)) if *node == i => path.clone(),
                _ => dir.path().join(format!("node-{i}")),
            };
            let config = dir.path().join(format!("node-{i}.toml"));
            std::fs::write(
                &config,
                format!(
                    "data_dir = {data:?}\ngenesis = {genesis_path:?}\n\
                     [api]\nlisten = \"127.0.0.1:{api}\"\n\
                     [blocks]\ninterval_ms = 100\nmax_transactions = 1000\nmax_bytes = 1000000\nsnapshot_every = 10\n\
                     [consensus]\nlisten = \"/ip4/127.0.0.1/tcp/{port}\"\npeers = [{peers}]\npropose_timeout_ms = 1000\nidle_block_ms = 300\n\
                     [relay]\npeers = [{relay}]\n\
                     [hsm]\n{hsm}",
                    port = p2p[i],
                    peers = peers.join(", "),
                    relay = relay.join(", "),
                ) + &(options.extra)(i),
            )
            .unwrap();
            nodes.push(NodeProcess {
                config,
                log: dir.path().join(format!("node-{i}.log")),
                api,
                child: None,
            });
        }
        Federation {
            nodes,
            genesis,
            dir,
            salt: 0,
            links,
            hsm_sim,
            keys,
            signer_args,
        }
    }

    /// Everything the nodes logged, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("--- {}\n", node.log.display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    pub fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn height(&self, node: usize) -> u64 {
        self.nodes[node].height().unwrap_or(0)
    }

    pub fn sign(&mut self, name: &str, operation: Operation) -> SignedTransaction {
        self.salt += 1;
        dev_sign(
            name,
            &self.genesis.binding().unwrap(),
            operation,
            self.salt,
            5_000,
        )
        .unwrap()
    }

    pub fn wait_committed(&self, node: usize, txid: &str) -> u64 {
        let mut height = 0;
        self.wait_for(
            &format!("{txid} committed on node {node}"),
            Duration::from_secs(60),
            || {
                let status = self.nodes[node].status_of(txid);
                if status["status"] == "committed" {
                    height = status["height"].as_u64().unwrap();
                    true
                } else {
                    assert_ne!(status["status"], "rejected", "{status}");
                    false
                }
            },
        );
        height
    }

    /// Every node in `nodes` holds the same header at every height up to `height`, and each
    /// carries a certificate, of the validator set its header names, that the light client
    /// accepts.
    pub fn assert_same_chain(&self, nodes: &[usize], height: u64) {
        for h in 1..=height {
            let reference = self.nodes[nodes[0]].header(h).unwrap();
            for &n in &nodes[1..] {
                let header = self.nodes[n].header(h).unwrap();
                assert_eq!(
                    header, reference,
                    "node {n} differs from node {} at height {h}",
                    nodes[0]
                );
            }
        }
        for &n in nodes {
            let block = self.nodes[n].light_block(height).unwrap();
            // The set the node serves is the one the header names, and it certified the block.
            assert_eq!(block.validators.hash(), block.header.validator_set_hash);
            let power = block
                .certificate
                .verify_header(&block.header, &block.validators)
                .unwrap();
            assert!(block.validators.is_quorum(power));
        }
    }
}

pub fn holder_setup(fed: &mut Federation, name: &str) -> (Vec<SignedTransaction>, AccountId) {
    let chain = fed.genesis.chain_id.clone();
    let bank = dev_public("bank").unwrap().account_id();
    let public_key = dev_public(name).unwrap();
    let challenge = sha256(name.as_bytes());
    let digest = registration_digest(&chain, &bank, &challenge);
    let (sig, _) = dev_key(name)
        .unwrap()
        .sign_prehash_recoverable(digest.as_bytes())
        .unwrap();
    let holder_signature = lightclient::Signature::from(sig).normalize_s().unwrap();
    let usdx = asset_id_for_code("USDX");
    let account = public_key.account_id();
    let txs = vec![
        fed.sign(
            "bank",
            Operation::RegisterHolder {
                public_key,
                challenge,
                holder_signature,
            },
        ),
        fed.sign(
            "kyc-admin",
            Operation::SetKycState {
                account,
                state: KycState::Verified,
            },
        ),
        fed.sign(
            "bank",
            Operation::Issue {
                to: account,
                asset: usdx,
                amount: 1_000,
            },
        ),
    ];
    (txs, account)
}

pub fn transfer(
    fed: &mut Federation,
    from: &str,
    to: AccountId,
    amount: u128,
) -> SignedTransaction {
    fed.sign(
        from,
        Operation::Transfer {
            to,
            asset: asset_id_for_code("USDX"),
            amount,
            expected_fee: 0,
        },
    )
}
