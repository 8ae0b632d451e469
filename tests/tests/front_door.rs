//! `abt` against a real four-validator federation, as a new user drives it: keys in the
//! encrypted keystore (development accounts imported, new keys made), the seed's holder
//! registration by challenge, a deposit, issuance, transfers with a fee quoted from the rules in
//! force, and each kind of failure with its exit status and name.
// A test harness: a failed step should stop the test at once, with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use e2e::federation::*;

struct Abt {
    node: String,
    keystore: PathBuf,
    password: PathBuf,
}

impl Abt {
    /// Runs `abt` with `args`: its exit code and its stdout followed by its stderr.
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = Command::new(workspace_binary("abt"))
            .arg("--node")
            .arg(&self.node)
            .arg("--keystore")
            .arg(&self.keystore)
            .arg("--password")
            .arg(format!("file:{}", self.password.display()))
            .args(args)
            .env_remove("ABT_NODE")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    }

    /// Runs `abt` and expects exit 0.
    fn ok(&self, args: &[&str]) -> String {
        let (code, text) = self.run(args);
        assert_eq!(code, Some(0), "abt {args:?}: {text}");
        text
    }

    /// Runs `abt --json` and expects exit 0.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        let line = text.lines().next().unwrap();
        serde_json::from_str(line).unwrap()
    }

    /// The seed's registration: the asset holder's challenge, signed by the holder, registered
    /// by the asset holder; then KYC verified. The holder's reply goes over as the file
    /// `abt --json challenge sign` writes (`by_reply`), or as its three parts.
    fn register(&self, holder: &str, bank: &str, by_reply: bool) {
        let challenge = self.ok(&["--field", "challenge", "challenge", "new"]);
        let challenge = challenge.trim();
        let signed = self.json(&[
            "challenge",
            "sign",
            "--as",
            holder,
            "--asset-holder",
            bank,
            challenge,
        ]);
        let reply = self.keystore.with_file_name(format!("{holder}-reply.json"));
        std::fs::write(&reply, signed.to_string()).unwrap();
        let reply = reply.to_str().unwrap();
        let text = if by_reply {
            self.ok(&["register-holder", "--as", bank, "--reply", reply])
        } else {
            self.ok(&[
                "register-holder",
                "--as",
                bank,
                "--public-key",
                signed["public_key"].as_str().unwrap(),
                "--challenge",
                challenge,
                "--signature",
                signed["signature"].as_str().unwrap(),
            ])
        };
        assert!(text.contains("applied (0)"), "{text}");
        self.ok(&["set-kyc", "--as", "kyc-admin", holder, "verified"]);
    }
}

#[test]
fn abt_registers_deposits_issues_and_transfers_and_names_each_refusal() {
    let _turn = one_federation_at_a_time();
    let consoles: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let console_ports = consoles.clone();
    let mut fed = Federation::with_extra_config(move |i| {
        format!(
            "[console]\nlisten = \"127.0.0.1:{}\"\nname = \"node-{i}\"\n",
            console_ports[i]
        )
    });
    for node in &mut fed.nodes {
        node.start();
    }
    fed.wait_for("height 1", Duration::from_secs(120), || fed.height(0) >= 1);
    let home = fed.dir.path().join("abt");
    std::fs::create_dir_all(&home).unwrap();
    let password = home.join("password");
    std::fs::write(&password, "correct horse battery staple\n").unwrap();
    let abt = Abt {
        node: format!("http://127.0.0.1:{}", fed.nodes[1].api),
        keystore: home.join("keystore.json"),
        password,
    };

    // Keys: the development accounts imported, two holders made afresh.
    for dev in ["settlement", "bank", "kyc-admin", "super-admin"] {
        let text = abt.ok(&["key", "import", dev, "--dev", dev]);
        assert!(text.contains(&format!("{dev}: account ")), "{text}");
    }
    for holder in ["alice", "bob", "fees"] {
        abt.ok(&["key", "new", holder]);
    }
    let listed = abt.json(&["key", "list"]);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 7, "{listed}");
    let keystore = std::fs::read_to_string(&abt.keystore).unwrap();
    assert!(!keystore.contains("correct horse"), "{keystore}");

    // The settlement institution records the bank's deposit; holders are registered by
    // challenge; the bank issues to alice.
    let text = abt.ok(&["deposit", "--as", "settlement", "bank", "USDX", "10000"]);
    assert!(text.contains("applied (0)"), "{text}");
    abt.register("alice", "bank", false);
    abt.register("bob", "bank", true);
    abt.register("fees", "bank", true);
    // A reply that is not one is a usage error, named.
    let (code, text) = abt.run(&[
        "register-holder",
        "--as",
        "bank",
        "--reply",
        abt.keystore.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("not a holder's reply"), "{text}");
    let text = abt.ok(&["issue", "--as", "bank", "alice", "USDX", "100"]);
    assert!(text.contains("event: mint "), "{text}");

    // A transfer; then a fee rule, and the next transfer pays the quoted fee.
    let text = abt.ok(&["transfer", "--as", "alice", "bob", "USDX", "25.50"]);
    assert!(
        text.contains("event: transfer ") && text.contains("amount=2550"),
        "{text}"
    );
    let fee_rule = |collector: &str| {
        abt.run(&[
            "set-fee",
            "--as",
            "super-admin",
            "1",
            "--operation",
            "transfer",
            "--asset",
            "USDX",
            "--flat",
            "10",
            "--collector",
            collector,
        ])
    };
    // The bank holds no tokens itself (they are held through an asset holder): refused when
    // set, not at every transfer after.
    let (code, text) = fee_rule("bank");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no_asset_holder"), "{text}");
    let (code, text) = fee_rule("fees");
    assert_eq!(code, Some(0), "{text}");
    let receipt = abt.json(&["transfer", "--as", "alice", "bob", "USDX", "1"]);
    let events = receipt["receipt"]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "fee_charged" && e["amount"] == "10"),
        "{receipt}"
    );

    // Refused by the ledger: exit 1 with the code's name.
    let (code, text) = abt.run(&["transfer", "--as", "alice", "bob", "USDX", "1000"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("insufficient_balance"), "{text}");
    let (code, text) = abt.run(&[
        "transfer", "--as", "alice", "bob", "USDX", "1", "--fee", "0",
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("fee_mismatch"), "{text}");
    // For scripts: one field of the answer, plain; a refusal still exits 1.
    let (code, text) = abt.run(&[
        "--field",
        "receipt.code_name",
        "transfer",
        "--as",
        "alice",
        "bob",
        "USDX",
        "1000",
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(text.lines().next(), Some("insufficient_balance"), "{text}");
    let (code, text) = abt.run(&["--field", "no_such", "key", "show", "alice"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("the answer has no field no_such"), "{text}");
    let (code, text) = abt.run(&["get", "v1/chain"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("a route starts with /"), "{text}");
    let (code, text) = abt.run(&["get", "/v1/accounts/nobody"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the node refused (400 bad_request)"),
        "{text}"
    );
    let chain = abt.ok(&["--field", "chain_id", "get", "/v1/chain"]);
    assert_eq!(chain.trim(), "abt-e2e-1", "{chain}");
    let (code, text) = abt.run(&["set-kyc", "--as", "bank", "alice", "corporate"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not_authorised"), "{text}");
    // Usage: exit 2, naming what is wrong.
    let (code, text) = abt.run(&["grant-role", "--as", "super-admin", "alice", "admin"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("role \"admin\" is not one of"), "{text}");
    let (code, text) = abt.run(&["transfer", "--as", "carol", "bob", "USDX", "1"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no key named \"carol\""), "{text}");
    let wrong = home.join("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    let guessing = Abt {
        node: abt.node.clone(),
        keystore: abt.keystore.clone(),
        password: wrong,
    };
    let (code, text) = guessing.run(&["transfer", "--as", "alice", "bob", "USDX", "1"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("does not open key \"alice\""), "{text}");
    let (code, text) = abt.run(&[
        "--node",
        &format!("http://127.0.0.1:{}", free_port()),
        "receipt",
        &"00".repeat(32),
    ]);
    assert_eq!(code, Some(2), "{text}");

    // Limits: at most 5.00 in one payment for verified accounts.
    abt.ok(&[
        "set-limit",
        "--as",
        "super-admin",
        "1",
        "--operation",
        "transfer",
        "--kyc",
        "verified",
        "--period",
        "daily",
        "--max",
        "100000",
        "--per-payment",
        "500",
    ]);
    let (code, text) = abt.run(&["transfer", "--as", "alice", "bob", "USDX", "6"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("payment_above_limit"), "{text}");
    abt.ok(&["transfer", "--as", "alice", "bob", "USDX", "1"]);

    // The read side: what each role looks at.
    let api = fed.nodes[2].api;
    let get = |path: &str| http(api, "GET", path, None).unwrap();
    let id_of = |name: &str| {
        abt.json(&["key", "show", name])["account_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (bank, alice) = (id_of("bank"), id_of("alice"));
    let (status, positions) = get(&format!("/v1/accounts/{bank}/positions"));
    assert_eq!(status, 200, "{positions}");
    let usdx = &positions["positions"][0];
    assert_eq!(
        (
            usdx["settled"].as_str(),
            usdx["issued"].as_str(),
            usdx["covered"].as_bool()
        ),
        (Some("1000000"), Some("10000"), Some(true)),
        "{positions}"
    );
    let (status, audit) = get(&format!("/v1/audit?account={alice}&action=transfer"));
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["total"], 3, "{audit}");
    let (_, fees) = get("/v1/fees");
    assert_eq!(
        fees["items"][0]["rule"]["collector"],
        id_of("fees"),
        "{fees}"
    );
    let (_, limits) = get("/v1/limits");
    assert_eq!(
        limits["items"][0]["rule"]["max_per_payment"], "500",
        "{limits}"
    );
    assert_eq!(limits["items"][0]["usage"][0]["account"], alice, "{limits}");
    assert_eq!(limits["items"][0]["usage"][0]["used"], "100", "{limits}");
    let (_, holders) = get("/v1/accounts?role=asset-holder");
    assert!(
        holders["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == bank),
        "{holders}"
    );
    let (_, page) = get("/v1/accounts?limit=2&offset=1");
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["offset"].as_u64()
        ),
        (2, Some(1)),
        "{page}"
    );
    // An unknown account is 404 on every route that names one.
    let stranger = "ab".repeat(20);
    for path in [
        format!("/v1/accounts/{stranger}"),
        format!("/v1/accounts/{stranger}/balances"),
        format!("/v1/accounts/{stranger}/positions"),
        format!("/v1/audit?account={stranger}"),
        format!("/v1/settlements?asset_holder={stranger}"),
    ] {
        let (status, body) = get(&path);
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("unknown_account")),
            "{path}: {body}"
        );
    }

    // Without waiting: the txid at once, the receipt later.
    let pending = abt.json(&["transfer", "--as", "alice", "bob", "USDX", "2", "--no-wait"]);
    let txid = pending["txid"].as_str().unwrap().to_string();
    fed.wait_committed(1, &txid);
    let text = abt.ok(&["receipt", &txid]);
    assert!(text.contains("applied (0)"), "{text}");

    // Vault staff through the console: a bar registered and moved there, its history, the
    // list; an asset holder's key is refused by name (exit 1).
    let console = format!("ws://127.0.0.1:{}", consoles[1]);
    abt.ok(&["key", "import", "vault", "--dev", "vault"]);
    let on_console = |args: &[&str]| {
        let mut all = vec!["console", "--console", console.as_str()];
        all.extend_from_slice(args);
        abt.run(&all)
    };
    let (code, text) = on_console(&[
        "register-bar",
        "CN-1",
        "--refiner",
        "PAMP",
        "--mass",
        "1000",
        "--fineness",
        "9999",
        "--location",
        "vault 2",
        "--as",
        "vault",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("event: bar_registered"), "{text}");
    let (code, text) = on_console(&["move-bar", "CN-1", "vault 3", "--as", "vault"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = on_console(&["history", "CN-1", "--as", "vault"]);
    assert_eq!(code, Some(0), "{text}");
    let actions: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(": ").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(actions, ["register_item", "move_item"], "{text}");
    let (code, text) = on_console(&["--json", "bars", "--as", "vault"]);
    assert_eq!(code, Some(0), "{text}");
    let bars: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(bars["bars"][0]["location"], "vault 3", "{bars}");
    let (code, text) = on_console(&["bars", "--as", "bank"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("role_missing"), "{text}");
}
