//! The chaos suite: four real validators under load from `loadgen`, while the test injects
//! faults one after another — kill -9 of a random node every 3 to 10 s, SIGSTOP for 15 s, one and
//! then two nodes cut off from the others (TCP proxies on the consensus links close their
//! connections and refuse new ones), the HSM of one validator offline for 15 s, all four killed
//! at once, and (as root) one node's disk filled and freed. The test is the nodes' supervisor: a
//! node that exits is started again after a second, as `deploy/federation` and systemd do.
//!
//! The checker holds the federation to its promises: every transaction acknowledged with 202 is
//! committed exactly once; every node holds the same headers (so the same state roots); at each
//! height every node's certificate is for the same block and verifies under the genesis
//! validators (so no validator's signatures for two blocks at one height exist); and after each
//! fault heals the chain commits again within [`HEAL_BOUND`].
//!
//! `ABT_CHAOS=long` runs the 10-minute form (`deploy/chaos --long`); the default is about three
//! minutes.
// A test harness: a failed step should stop the test at once, with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::print_stdout,
    missing_docs
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::federation::*;
use lightclient::hash::Hash32;
use serde_json::Value;

/// After a fault heals, the chain must commit a new block within this. (After a partition the
/// validators sit in different, late rounds with long timeouts, and libp2p redials the peers it
/// gave up on at its next bootstrap tick: recovery takes tens of seconds, not milliseconds.)
const HEAL_BOUND: Duration = Duration::from_secs(60);
/// After all four restart at once, within this.
const RESTART_ALL_BOUND: Duration = Duration::from_secs(90);

struct Profile {
    kills: usize,
    load_rate: u32,
    /// Extra rounds of the whole sequence (the long form repeats it).
    rounds: usize,
}

fn profile() -> Profile {
    match std::env::var("ABT_CHAOS").as_deref() {
        // Three rounds: 570 s of load, about ten minutes with setup and drain.
        Ok("long") => Profile {
            kills: 12,
            load_rate: 100,
            rounds: 3,
        },
        _ => Profile {
            kills: 3,
            load_rate: 50,
            rounds: 1,
        },
    }
}

/// The nodes under supervision: whoever exits is started again after a second.
struct Supervised {
    fed: Federation,
    exited_at: Vec<Option<Instant>>,
    restarts: Vec<u32>,
    rng: u64,
}

impl Supervised {
    fn tick(&mut self) {
        for i in 0..NODES {
            let exited = match self.fed.nodes[i].child.as_mut() {
                Some(child) => child.try_wait().ok().flatten().is_some(),
                None => true,
            };
            if !exited {
                continue;
            }
            let since = *self.exited_at[i].get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(1) {
                self.fed.nodes[i].child = None;
                self.fed.nodes[i].start();
                self.exited_at[i] = None;
                self.restarts[i] += 1;
            }
        }
    }

    /// Supervises for `d`.
    fn run_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.tick();
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn random_node(&mut self) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        usize::try_from(self.rng % NODES as u64).unwrap()
    }

    /// A node whose process is running now, with its pid.
    fn running_node(&mut self) -> (usize, u32) {
        loop {
            let node = self.random_node();
            if let Some(child) = self.fed.nodes[node].child.as_mut()
                && child.try_wait().ok().flatten().is_none()
            {
                return (node, child.id());
            }
            self.run_for(Duration::from_millis(200));
        }
    }

    fn kill9(&mut self, node: usize) {
        if let Some(child) = self.fed.nodes[node].child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn max_height(&self) -> u64 {
        (0..NODES).map(|n| self.fed.height(n)).max().unwrap_or(0)
    }

    /// The chain commits a block beyond where it is within `bound`; returns how long it took.
    fn progresses(&mut self, what: &str, bound: Duration) -> Duration {
        let started = Instant::now();
        let from = self.max_height();
        while self.max_height() < from + 1 {
            assert!(
                started.elapsed() < bound,
                "after {what} the chain did not commit again within {bound:?} (stuck at {from})\n{}",
                self.fed.logs()
            );
            self.tick();
            std::thread::sleep(Duration::from_millis(100));
        }
        started.elapsed()
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// A small (1 GiB) tmpfs for one node's data, when this process may mount one (root); `None` otherwise.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &std::path::Path) -> Option<Self> {
        let path = dir.join("small-disk");
        std::fs::create_dir_all(&path).ok()?;
        let mounted = Command::new("mount")
            // Room for the long form's thousand blocks; the fault fills what is left.
            .args(["-t", "tmpfs", "-o", "size=1g", "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        mounted.then_some(SmallDisk { path })
    }

    /// Writes a filler file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 1 << 20];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn start_load(fed: &Federation, rate: u32, seconds: u64) -> (Child, PathBuf, PathBuf) {
    let acks = fed.dir.path().join("acks.txt");
    let report = fed.dir.path().join("load-report.json");
    let nodes: Vec<String> = fed
        .nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.api))
        .collect();
    let log = std::fs::File::create(fed.dir.path().join("loadgen.log")).unwrap();
    let child = Command::new(workspace_binary("loadgen"))
        .arg("--nodes")
        .arg(nodes.join(","))
        .arg("--genesis")
        .arg(fed.dir.path().join("genesis.json"))
        .args(["--holders", "40", "--rate", &rate.to_string()])
        .args(["--duration", &seconds.to_string(), "--drain", "120"])
        .arg("--ack-log")
        .arg(&acks)
        .arg("--report")
        .arg(&report)
        .arg("--check")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    (child, acks, report)
}

#[test]
fn every_acknowledged_transaction_commits_exactly_once_through_crashes_stops_partitions_hsm_outages_and_a_full_disk()
 {
    let _turn = one_federation_at_a_time();
    let profile = profile();
    let scratch = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(scratch.path());
    let fed = Federation::build_with(&Options {
        hsm_sim_node: Some(3),
        proxied: true,
        data_dir: disk.as_ref().map(|d| (2, d.path.join("node-2"))),
        ..Options::default()
    });
    let mut nodes = Supervised {
        fed,
        exited_at: vec![None; NODES],
        restarts: vec![0; NODES],
        rng: 0x2545_f491_4f6c_dd1d,
    };
    for node in &mut nodes.fed.nodes {
        node.start();
    }
    nodes.fed.wait_for(
        "all four nodes at height 1",
        Duration::from_secs(120),
        || (0..NODES).all(|n| nodes.fed.height(n) >= 1),
    );

    // Load for the whole sequence; faults begin once the first transfers are acknowledged.
    let sequence_seconds = 150 * profile.rounds as u64 + 10 * profile.kills as u64;
    let (mut load, acks, report) = start_load(&nodes.fed, profile.load_rate, sequence_seconds);
    let started = Instant::now();
    while std::fs::read_to_string(&acks).map_or(true, |t| t.lines().count() < 10) {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the load never got going:\n{}",
            std::fs::read_to_string(nodes.fed.dir.path().join("loadgen.log")).unwrap_or_default()
        );
        nodes.run_for(Duration::from_millis(500));
    }

    let mut healed: Vec<(String, Duration)> = Vec::new();
    for round in 0..profile.rounds {
        // (a) kill -9 a random node at a random point every 3 to 10 s (10 s on average in the
        // long form's many kills), so kills land at every stage of a height.
        for _ in 0..profile.kills {
            let victim = nodes.random_node();
            nodes.kill9(victim);
            let pause = 3_000 + nodes.random_node() as u64 * 2_000 + nodes.rng % 1_000;
            nodes.run_for(Duration::from_millis(pause));
        }
        healed.push((
            format!("round {round}: kill -9 every 3-10 s"),
            nodes.progresses("the kills", HEAL_BOUND),
        ));

        // (b) SIGSTOP a node for 15 s, then SIGCONT.
        let (frozen, pid) = nodes.running_node();
        signal(pid, "STOP");
        nodes.run_for(Duration::from_secs(15));
        signal(pid, "CONT");
        healed.push((
            format!("round {round}: node {frozen} stopped 15 s"),
            nodes.progresses("SIGCONT", HEAL_BOUND),
        ));

        // (c) one node cut off (three still make blocks), then two (no quorum: no blocks).
        let links = nodes.fed.links.as_ref().unwrap();
        links.cut(&[1]);
        nodes.run_for(Duration::from_secs(5));
        healed.push((
            format!("round {round}: node 1 cut off (others go on)"),
            nodes.progresses("cutting one node off", HEAL_BOUND),
        ));
        nodes.fed.links.as_ref().unwrap().heal();
        nodes.fed.links.as_ref().unwrap().cut(&[1, 2]);
        nodes.run_for(Duration::from_secs(3));
        let halted_at = nodes.max_height();
        nodes.run_for(Duration::from_secs(10));
        assert!(
            nodes.max_height() <= halted_at + 1,
            "two of four cut off, yet the chain went from {halted_at} to {}",
            nodes.max_height()
        );
        nodes.fed.links.as_ref().unwrap().heal();
        healed.push((
            format!("round {round}: nodes 1 and 2 cut off 10 s"),
            nodes.progresses("healing the partition", HEAL_BOUND),
        ));

        // (d) node 3's HSM offline for 15 s: it says so, the others go on, it votes again.
        nodes.fed.hsm_sim.as_ref().unwrap().set_offline(true);
        let outage = Instant::now();
        let mut said_not_ready = false;
        while outage.elapsed() < Duration::from_secs(15) {
            nodes.tick();
            if let Some((503, body)) = http(nodes.fed.nodes[3].api, "GET", "/ready", None) {
                said_not_ready |= body["message"].as_str().is_some_and(|m| m.contains("HSM"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        nodes.fed.hsm_sim.as_ref().unwrap().set_offline(false);
        assert!(
            said_not_ready,
            "node 3 never reported its HSM unavailable on /ready\n{}",
            nodes.fed.logs()
        );
        healed.push((
            format!("round {round}: node 3's HSM offline 15 s"),
            nodes.progresses("the HSM's return", HEAL_BOUND),
        ));

        // (e) all four killed at once.
        for n in 0..NODES {
            nodes.kill9(n);
        }
        healed.push((
            format!("round {round}: all four killed at once"),
            nodes.progresses("restarting all four", RESTART_ALL_BOUND),
        ));

        // (f) node 2's disk full for 10 s, then freed.
        if let Some(disk) = &disk {
            let filler = disk.fill();
            nodes.run_for(Duration::from_secs(10));
            std::fs::remove_file(filler).unwrap();
            healed.push((
                format!("round {round}: node 2's disk full 10 s"),
                nodes.progresses("freeing the disk", HEAL_BOUND),
            ));
        } else {
            println!("chaos: the full-disk fault needs root (a tmpfs mount); not run here");
        }
    }

    // Let the load finish (it drains until every acknowledged transaction is on every node).
    let status = loop {
        if let Some(status) = load.try_wait().unwrap() {
            break status;
        }
        nodes.run_for(Duration::from_millis(500));
    };
    let load_log =
        std::fs::read_to_string(nodes.fed.dir.path().join("loadgen.log")).unwrap_or_default();
    let summary: Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    assert!(status.success(), "loadgen's check failed:\n{load_log}");

    // The independent check, from the nodes' own blocks.
    // Still supervised: a node that exited meanwhile is restarted and catches up.
    let started = Instant::now();
    loop {
        let heights: Vec<u64> = (0..NODES).map(|n| nodes.fed.height(n)).collect();
        if heights.iter().all(|h| *h == heights[0]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the nodes did not reach one height within 120 s: {heights:?}\n{}",
            nodes.fed.logs()
        );
        nodes.run_for(Duration::from_millis(500));
    }
    let top = nodes.fed.height(0);
    nodes.fed.assert_same_chain(&[0, 1, 2, 3], top);
    let mut included: HashMap<Hash32, u32> = HashMap::new();
    for h in 1..=top {
        let block = http(
            nodes.fed.nodes[0].api,
            "GET",
            &format!("/v1/blocks/{h}"),
            None,
        )
        .unwrap()
        .1;
        for receipt in block["receipts"].as_array().unwrap() {
            *included
                .entry(receipt["txid"].as_str().unwrap().parse().unwrap())
                .or_default() += 1;
        }
        let header = nodes.fed.nodes[0].header(h).unwrap();
        for n in 0..NODES {
            let certificate = nodes.fed.nodes[n].certificate(h).unwrap();
            assert_eq!(
                certificate.block_hash,
                header.hash(),
                "node {n}'s certificate at {h}"
            );
            certificate
                .verify_header(&header, &nodes.fed.genesis.validators)
                .unwrap_or_else(|e| panic!("node {n}'s certificate at {h}: {e}"));
        }
    }
    let acknowledged: Vec<Hash32> = std::fs::read_to_string(&acks)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|t| !included.contains_key(t))
        .collect();
    let twice: Vec<_> = acknowledged
        .iter()
        .filter(|t| included.get(t).is_some_and(|c| *c > 1))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged transactions lost, e.g. {:?}",
        lost.len(),
        lost[0]
    );
    assert!(
        twice.is_empty(),
        "{} included twice, e.g. {:?}",
        twice.len(),
        twice[0]
    );

    println!(
        "chaos: {} acknowledged, all committed exactly once, {top} blocks identical on 4 nodes",
        acknowledged.len()
    );
    println!("chaos: restarts per node {:?}", nodes.restarts);
    for (fault, took) in &healed {
        println!(
            "chaos: {fault}: commits again after {:.1} s",
            took.as_secs_f64()
        );
    }
    println!("chaos: load {summary}");
}
