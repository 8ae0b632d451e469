//! The `signer` command as a controller uses it, against SoftHSM2 tokens.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use lightclient::PublicKey;
use lightclient::genesis::{Genesis, GenesisAccount};
use lightclient::header::ChainId;
use lightclient::keys::AssetId;
use lightclient::mapping::{ControllerPolicy, MappedAsset, Mapping};
use lightclient::tx::{KycState, Role};
use lightclient::validator::{Validator, ValidatorSet};
use signer::pin::PinSource;

use crate::softhsm::new_token;

fn signer(args: &[&str]) -> Output {
    signer_with_input(args, None)
}

fn signer_with_input(args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signer"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    if let Some(text) = input {
        use std::io::Write;
        let mut stdin = stdin;
        stdin.write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Token {
    args: Vec<String>,
}

impl Token {
    fn new(name: &str) -> Token {
        let config = new_token(name);
        let PinSource::File(pin) = config.pin else {
            unreachable!()
        };
        Token {
            args: vec![
                "--backend".into(),
                "pkcs11".into(),
                "--token".into(),
                config.token_label,
                "--pin".into(),
                format!("file:{}", pin.display()),
            ],
        }
    }

    fn with(&self, label: &str) -> Vec<String> {
        let mut args = self.args.clone();
        args.extend(["--label".into(), label.into()]);
        args
    }
}

fn run(command: &str, extra: &[String], tail: &[&str]) -> Output {
    let mut args: Vec<&str> = vec![command];
    args.extend(tail);
    args.extend(extra.iter().map(String::as_str));
    signer(&args)
}

fn keygen(token: &Token, label: &str, dir: &Path) -> PublicKey {
    let statement = dir.join(format!("{label}.statement.json"));
    let out = run(
        "keygen",
        &token.with(label),
        &["--statement", statement.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let verified = signer(&["verify-statement", statement.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    json["public_key"].as_str().unwrap().parse().unwrap()
}

fn chain() -> ChainId {
    ChainId::new("abt-cli-1").unwrap()
}

fn bar(asset: u8, amount: &str, vref: &str) -> MappedAsset {
    MappedAsset {
        assetid: AssetId([asset; 32]),
        amount: amount.into(),
        vref: vref.into(),
        location: "Zurich vault 2".into(),
        issuer: "issuer-1".into(),
        refiner: "Argor-Heraeus".into(),
        fineness: "999.9".into(),
    }
}

fn write_mapping(path: &Path, sequence: u64, assets: Vec<MappedAsset>) {
    let mapping = Mapping::new(
        chain(),
        sequence,
        10,
        "2026-11-21T12:00:00Z".into(),
        assets,
        3,
    )
    .unwrap();
    std::fs::write(path, mapping.to_json_bytes().unwrap()).unwrap();
}

fn write_genesis(path: &Path, controllers: &[PublicKey]) {
    let genesis = Genesis {
        chain_id: chain(),
        genesis_time_ms: 1_795_000_000_000,
        validators: ValidatorSet::new(vec![Validator {
            public_key: controllers[0],
            voting_power: 1,
        }])
        .unwrap(),
        controllers: ControllerPolicy {
            threshold: 2,
            public_keys: controllers.to_vec(),
            precision: 3,
        },
        accounts: vec![GenesisAccount {
            public_key: controllers[0],
            roles: vec![Role::SuperAdmin],
            kyc_state: KycState::Corporate,
            asset_holder: None,
        }],
        assets: vec![],
    };
    std::fs::write(path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
}

struct Setup {
    dir: tempfile::TempDir,
    token: Token,
    keys: Vec<PublicKey>,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let token = Token::new(name);
        let keys = (1..=3)
            .map(|i| keygen(&token, &format!("controller-{i}"), dir.path()))
            .collect();
        let setup = Setup { dir, token, keys };
        write_genesis(&setup.path("genesis.json"), &setup.keys);
        write_mapping(
            &setup.path("current.json"),
            1,
            vec![bar(1, "400", "AB-1001"), bar(1, "12.5", "AB-1002")],
        );
        write_mapping(
            &setup.path("proposal.json"),
            2,
            vec![bar(1, "400", "AB-1001"), bar(1, "100.25", "AB-2001")],
        );
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }

    fn context(&self) -> Vec<String> {
        vec![
            "--genesis".into(),
            self.p("genesis.json"),
            "--current".into(),
            self.p("current.json"),
        ]
    }

    fn sign(&self, label: &str, input: Option<&str>) -> Output {
        let mut args = vec!["sign".to_string(), self.p("proposal.json")];
        args.extend(self.context());
        args.extend(self.token.with(label));
        if input.is_none() {
            args.push("--yes".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        signer_with_input(&args, input)
    }

    fn verify(&self) -> Output {
        signer(&[
            "verify",
            &self.p("proposal.json"),
            "--genesis",
            &self.p("genesis.json"),
            "--current",
            &self.p("current.json"),
        ])
    }
}

#[test]
fn review_shows_bars_added_and_removed_with_masses_and_the_supply_change() {
    let setup = Setup::new("review");
    let out = signer(&[
        "review",
        &setup.p("proposal.json"),
        "--genesis",
        &setup.p("genesis.json"),
        "--current",
        &setup.p("current.json"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let asset = AssetId([1; 32]).to_string();
    assert!(
        text.contains(&format!("+ AB-2001 (asset {asset}) 100.25")),
        "{text}"
    );
    assert!(
        text.contains(&format!("- AB-1002 (asset {asset}) 12.5")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{asset}: 412.5 -> 500.25 (+87.75)")),
        "{text}"
    );
    assert!(
        text.contains("Supply change: 412.5 -> 500.25 (+87.75)"),
        "{text}"
    );
    assert!(text.contains("2 of 3 controllers required"), "{text}");
    assert!(
        text.contains(&format!("{} — not signed yet", setup.keys[0])),
        "{text}"
    );
    assert!(
        !text.contains("AB-1001 (asset"),
        "an unchanged bar is not a change: {text}"
    );
}

#[test]
fn two_controllers_sign_and_the_mapping_verifies() {
    let setup = Setup::new("sign");
    let rejected = setup.verify();
    assert_eq!(rejected.status.code(), Some(1));
    assert!(
        stderr(&rejected).contains("0 distinct controllers signed; 2 are required"),
        "{}",
        stderr(&rejected)
    );

    let out = setup.sign("controller-1", None);
    assert!(out.status.success(), "{}", stderr(&out));
    let one = setup.verify();
    assert_eq!(one.status.code(), Some(1));
    assert!(
        stderr(&one).contains("1 distinct controllers signed; 2 are required"),
        "{}",
        stderr(&one)
    );

    let out = setup.sign("controller-3", Some("sign 2\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let ok = setup.verify();
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains("signed by 2 of 3 controllers"),
        "{}",
        stdout(&ok)
    );
    assert!(
        stdout(&ok).contains(&setup.keys[2].to_string()),
        "{}",
        stdout(&ok)
    );
}

#[test]
fn signing_without_confirmation_changes_nothing() {
    let setup = Setup::new("confirm");
    let before = std::fs::read(setup.path("proposal.json")).unwrap();
    let out = setup.sign("controller-1", Some("yes\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not confirmed; nothing was signed"),
        "{}",
        stderr(&out)
    );
    let out = setup.sign("controller-1", Some(""));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("standard input is closed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(setup.path("proposal.json")).unwrap(), before);
}

#[test]
fn a_key_outside_the_policy_does_not_sign() {
    let setup = Setup::new("outsider");
    let dir = tempfile::tempdir().unwrap();
    keygen(&setup.token, "stranger", dir.path());
    let out = setup.sign("stranger", None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a controller in the genesis policy"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_malformed_proposal_fails_review_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, br#"{"date":"d","chain":"abt-cli-1","sequence":2,"height":1,"assets":[{"assetid":"00","amount":1.5}]}"#).unwrap();
    let out = signer(&["review", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is malformed"), "{}", stderr(&out));

    let out = signer(&["review", dir.path().join("missing.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));
}

#[test]
fn pubkey_prints_the_generated_key_and_keygen_refuses_a_used_label() {
    let dir = tempfile::tempdir().unwrap();
    let token = Token::new("pubkey");
    let key = keygen(&token, "validator-9", dir.path());
    let out = run("pubkey", &token.with("validator-9"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), key.to_string());
    let again = run("keygen", &token.with("validator-9"), &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn softhsm_init_creates_a_usable_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("so"), "87654321\n").unwrap();
    std::fs::write(dir.path().join("pin"), "12345678\n").unwrap();
    let store = dir.path().join("hsm");
    let out = signer(&[
        "soft-hsm-init",
        "--dir",
        store.to_str().unwrap(),
        "--token",
        "ceremony",
        "--so-pin",
        &format!("file:{}", dir.path().join("so").display()),
        "--pin",
        &format!("file:{}", dir.path().join("pin").display()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let conf = stdout(&out)
        .trim()
        .strip_prefix("export SOFTHSM2_CONF=")
        .unwrap()
        .to_string();
    let keygen = Command::new(env!("CARGO_BIN_EXE_signer"))
        .args([
            "keygen",
            "--backend",
            "pkcs11",
            "--token",
            "ceremony",
            "--label",
            "c1",
        ])
        .arg("--pin")
        .arg(format!("file:{}", dir.path().join("pin").display()))
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    assert!(store.join("tokens").read_dir().unwrap().count() >= 1);
}

/// ADR 0016: each current validator approves a set change with its HSM key; three of four
/// approvals verify under the light client's rule, a key outside the set is refused, and the
/// change is shown before anything is signed.
#[test]
fn validators_approve_a_set_change_in_their_hsms() {
    let dir = tempfile::tempdir().unwrap();
    let token = Token::new("approve");
    let keys: Vec<PublicKey> = (1..=5)
        .map(|i| keygen(&token, &format!("validator-{i}"), dir.path()))
        .collect();
    let set = |keys: &[PublicKey]| {
        ValidatorSet::new(
            keys.iter()
                .map(|k| Validator {
                    public_key: *k,
                    voting_power: 1,
                })
                .collect(),
        )
        .unwrap()
    };
    // A genesis whose validators are the first four keys.
    let genesis_path = dir.path().join("genesis.json");
    write_genesis(&genesis_path, &keys[..3]);
    let mut genesis: Genesis =
        serde_json::from_slice(&std::fs::read(&genesis_path).unwrap()).unwrap();
    genesis.validators = set(&keys[..4]);
    std::fs::write(&genesis_path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    let next = set(&keys);
    let change = dir.path().join("change.json");
    std::fs::write(
        &change,
        serde_json::to_vec(&serde_json::json!({ "next": next, "effective_height": 40 })).unwrap(),
    )
    .unwrap();
    let approve = |label: &str| {
        run(
            "approve-validators",
            &token.with(label),
            &[
                change.to_str().unwrap(),
                "--genesis",
                genesis_path.to_str().unwrap(),
                "--yes",
            ],
        )
    };
    for label in ["validator-1", "validator-3", "validator-4"] {
        let out = approve(label);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("validator-set change taking effect at height 40")
                && text.contains(&format!("  + {} (power 1)", keys[4]))
                && text.contains("4 -> 5 validators, total power 4 -> 5"),
            "{text}"
        );
    }
    // Approving twice replaces, it does not count twice.
    assert!(approve("validator-1").status.success());
    // The fifth key is not yet a validator.
    let out = approve("validator-5");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not in the validator set in force"),
        "{}",
        stderr(&out)
    );

    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&change).unwrap()).unwrap();
    let approvals: Vec<lightclient::validator::SetApproval> =
        serde_json::from_value(file["approvals"].clone()).unwrap();
    assert_eq!(approvals.len(), 3);
    assert_eq!(
        lightclient::validator::verify_set_change(
            &genesis.chain_id,
            &genesis.hash().unwrap(),
            &genesis.validators,
            &next,
            40,
            &approvals,
        ),
        Ok(3)
    );
}
