//! `abt`: every ledger operation from the command line, signed with a key from the encrypted
//! keystore or from an HSM, submitted to a node, waited for, and its receipt shown.
//!
//! Exit status: 0 applied (or the command did what it says), 1 refused (by the ledger, with the
//! receipt's code name, or at the node's door), 2 usage, keystore or network error.
// A command line: its output is what it is for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use abt::args::{self, KYC_STATES, OPERATION_KINDS, PERIODS, ROLES};
use abt::client::{Node, NodeError, field};
use abt::keystore::{Keystore, OpenedKey};
use clap::{Args, Parser, Subcommand, ValueEnum};
use lightclient::amount::parse_amount;
use lightclient::hash::Hash32;
use lightclient::keys::{AccountId, AssetId, PublicKey, Signature};
use lightclient::tx::{
    BackingKind, Decision, FeeRule, KycState, LimitPeriod, LimitRule, Operation, OperationKind,
    Role, Scope, SignedTransaction, TRANSACTION_VERSION, Transaction, registration_digest,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use signer::Signer;
use signer::pin::PinSource;

#[derive(Parser)]
#[command(
    name = "abt",
    version,
    about = "Act on the asset-backed token ledger: keys, every operation, receipts"
)]
struct Cli {
    /// The node's API.
    #[arg(
        long,
        global = true,
        env = "ABT_NODE",
        default_value = "http://127.0.0.1:18080"
    )]
    node: String,
    /// The keystore file.
    #[arg(long, global = true, env = "ABT_KEYSTORE", default_value_os_t = default_keystore())]
    keystore: PathBuf,
    /// The keystore password: `env:NAME` or `file:PATH` (asked on the terminal when omitted).
    #[arg(long, global = true, env = "ABT_PASSWORD_SOURCE")]
    password: Option<PinSource>,
    /// One JSON object on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Print one field of that JSON object instead, as plain text: a name, or a dotted path
    /// (`receipt.code_name`); for scripts (`TXID=$(abt --field txid ...)`).
    #[arg(long, global = true, value_name = "PATH")]
    field: Option<String>,
    #[command(subcommand)]
    command: Command,
}

fn default_keystore() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".abt")
        .join("keystore.json")
}

#[derive(Subcommand)]
enum Command {
    /// Keys in the encrypted keystore.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The holder side of registration: a challenge, and the holder's signature over it.
    #[command(subcommand)]
    Challenge(ChallengeCommand),
    /// The mapping lifecycle's last step.
    #[command(subcommand)]
    Mapping(MappingCommand),
    /// Read any route of the node's API and print its JSON answer (`abt get /v1/settlements`;
    /// the routes are in the node's `/openapi.json`).
    Get {
        /// The route, with its query (`/v1/audit?account=ID&limit=10`).
        path: String,
    },
    /// The vault console (vault staff, issuance admins): bars, requests, a bar's history, live
    /// events, and vault operations sent through it (docs/console-protocol.md).
    Console(Box<ConsoleArgs>),
    /// A transaction's status and receipt.
    Receipt {
        /// The txid.
        txid: String,
    },
    /// Sign and submit a ledger operation.
    #[command(flatten)]
    Operation(Box<OperationCommand>),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make a new random key.
    New {
        /// Its name.
        name: String,
    },
    /// Seal an existing secret (32 bytes of hex read from `env:NAME` or `file:PATH`), or a
    /// development account of the dev genesis (`--dev NAME`; publicly derivable, never for
    /// value).
    Import {
        /// Its name.
        name: String,
        /// Where the hex secret comes from.
        #[arg(long, conflicts_with = "dev", required_unless_present = "dev")]
        secret: Option<PinSource>,
        /// A development account: super-admin, kyc-admin, issuance-admin, settlement, bank,
        /// vault, or any name (holder-1, ...).
        #[arg(long)]
        dev: Option<String>,
    },
    /// The keys: names, public keys and account ids.
    List,
    /// One key's public key and account id.
    Show {
        /// Its name.
        name: String,
    },
}

#[derive(Subcommand)]
enum MappingCommand {
    /// Save the draft mapping the controllers sign (exit 1 when there is nothing to sign); the
    /// controllers review and sign the file with `signer sign`.
    Draft {
        /// Where to write it.
        file: PathBuf,
    },
    /// Save the mapping in force, for `signer sign --current` to show the draft as a diff.
    Current {
        /// Where to write it.
        file: PathBuf,
    },
    /// Give the node a copy of the draft that controllers signed; their signatures reach every
    /// node and are merged with those already collected.
    Post {
        /// The signed copy.
        file: PathBuf,
    },
    /// Submit the draft mapping with the controller signatures the node collected, once they
    /// reach the policy's threshold (an `update_mapping` transaction).
    Submit {
        #[command(flatten)]
        signing: Signing,
        /// Signatures posted to other nodes reach this one within moments: wait this many
        /// seconds for the threshold before refusing.
        #[arg(long, default_value_t = 10)]
        signatures_wait: u64,
    },
}

#[derive(Subcommand)]
enum ChallengeCommand {
    /// A random challenge for a holder to sign (the asset holder's side).
    New,
    /// Sign an asset holder's challenge with the holder's key (the holder's side); prints the
    /// public key and signature the asset holder registers.
    Sign {
        /// The holder's key in the keystore.
        #[arg(long = "as")]
        holder: String,
        /// The asset holder that will register the holder.
        #[arg(long)]
        asset_holder: String,
        /// The challenge (64 hex digits).
        challenge: Hash32,
    },
}

/// `abt console`.
#[derive(Args)]
struct ConsoleArgs {
    /// The console's websocket.
    #[arg(long, env = "ABT_CONSOLE", default_value = "ws://127.0.0.1:19080")]
    console: String,
    #[command(subcommand)]
    action: ConsoleAction,
}

#[derive(Subcommand)]
enum ConsoleAction {
    /// The bars, with their entries in the mapping in force.
    Bars {
        #[command(flatten)]
        signing: Signing,
    },
    /// The pending requests.
    Requests {
        #[command(flatten)]
        signing: Signing,
    },
    /// Who registered, moved, requested, mapped and released a bar, at which heights.
    History {
        #[command(flatten)]
        signing: Signing,
        /// The bar's serial.
        serial: String,
    },
    /// Follow topics (bars, requests, mapping, settlements): one line per event.
    Watch {
        #[command(flatten)]
        signing: Signing,
        /// The topics.
        #[arg(required = true)]
        topics: Vec<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Sign a ledger operation and send it through the console.
    #[command(flatten)]
    Operation(Box<OperationCommand>),
}

/// What a holder gives its asset holder to be registered (`abt --json challenge sign`).
#[derive(serde::Deserialize)]
struct HolderReply {
    public_key: PublicKey,
    challenge: Hash32,
    signature: Signature,
}

/// Who signs, and how the transaction is submitted.
#[derive(Args)]
struct Signing {
    /// The signing key's name in the keystore (or its label in the HSM with --backend).
    #[arg(long = "as")]
    key: String,
    /// The key is in an HSM: pkcs11 or yubihsm.
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// PKCS#11 module.
    #[arg(long, default_value = signer::pkcs11::DEFAULT_MODULE)]
    module: PathBuf,
    /// PKCS#11 token label.
    #[arg(long, default_value = "abt")]
    token: String,
    /// PKCS#11 user PIN, or YubiHSM authentication password: `env:NAME` or `file:PATH`.
    #[arg(long, default_value = "env:ABT_HSM_PIN")]
    pin: PinSource,
    /// YubiHSM connector address.
    #[arg(long, default_value = "127.0.0.1:12345")]
    connector: std::net::SocketAddr,
    /// YubiHSM authentication key id.
    #[arg(long, default_value_t = 1)]
    auth_key_id: u16,
    /// Blocks until the transaction expires.
    #[arg(long, default_value_t = 100)]
    expires_in: u64,
    /// Print the txid and return without waiting for the block.
    #[arg(long)]
    no_wait: bool,
    /// Longest wait for the block, seconds.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Pkcs11,
    Yubihsm,
}

#[derive(Subcommand)]
enum OperationCommand {
    /// Register a holder that signed your challenge (asset holder): from the holder's reply
    /// file (`abt --json challenge sign ... > reply.json`), or its three parts.
    RegisterHolder {
        #[command(flatten)]
        signing: Signing,
        /// The holder's reply: the JSON `abt --json challenge sign` prints.
        #[arg(long, conflicts_with_all = ["public_key", "challenge", "signature"])]
        reply: Option<PathBuf>,
        /// The holder's public key.
        #[arg(long, required_unless_present = "reply")]
        public_key: Option<PublicKey>,
        /// The challenge it signed.
        #[arg(long, required_unless_present = "reply")]
        challenge: Option<Hash32>,
        /// Its signature.
        #[arg(long, required_unless_present = "reply")]
        signature: Option<Signature>,
    },
    /// Set an account's KYC state (KYC admin).
    SetKyc {
        #[command(flatten)]
        signing: Signing,
        /// The account (id or key name).
        account: String,
        /// unverified, verified, corporate or banned.
        state: String,
    },
    /// Ban an account (security admin).
    Ban {
        #[command(flatten)]
        signing: Signing,
        /// The account.
        account: String,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: String,
    },
    /// Lift a ban (security admin).
    Unban {
        #[command(flatten)]
        signing: Signing,
        /// The account.
        account: String,
    },
    /// Give an account a new key after loss (security admin).
    RecoverKey {
        #[command(flatten)]
        signing: Signing,
        /// The account.
        account: String,
        /// Its new public key.
        #[arg(long)]
        new_public_key: PublicKey,
    },
    /// Grant a role (super admin).
    GrantRole {
        #[command(flatten)]
        signing: Signing,
        /// The account.
        account: String,
        /// The role.
        role: String,
    },
    /// Revoke a role (super admin).
    RevokeRole {
        #[command(flatten)]
        signing: Signing,
        /// The account.
        account: String,
        /// The role.
        role: String,
    },
    /// Create a deposit-backed asset (issuance admin).
    CreateAsset {
        #[command(flatten)]
        signing: Signing,
        /// Its code (USDX).
        code: String,
        /// Decimals.
        #[arg(long)]
        precision: u8,
        /// Most that may ever be in supply, in units (decimal).
        #[arg(long)]
        maximum: String,
    },
    /// Record assets received for an asset holder (settlement institution).
    Deposit {
        #[command(flatten)]
        signing: Signing,
        /// The asset holder.
        asset_holder: String,
        /// The asset (code or id).
        asset: String,
        /// The amount (decimal).
        amount: String,
    },
    /// Pay out an asset holder's settled assets (settlement institution).
    Withdraw {
        #[command(flatten)]
        signing: Signing,
        /// The asset holder.
        asset_holder: String,
        /// The asset.
        asset: String,
        /// The amount.
        amount: String,
    },
    /// Issue tokens to one of your holders (asset holder).
    Issue {
        #[command(flatten)]
        signing: Signing,
        /// The holder.
        to: String,
        /// The asset.
        asset: String,
        /// The amount.
        amount: String,
    },
    /// Send tokens; the fee is quoted by the node unless given.
    Transfer {
        #[command(flatten)]
        signing: Signing,
        /// The receiver.
        to: String,
        /// The asset.
        asset: String,
        /// The amount.
        amount: String,
        /// The fee you agree to pay (decimal); quoted from the rules in force when omitted.
        #[arg(long)]
        fee: Option<String>,
    },
    /// Lock tokens for redemption until reviewed.
    Redeem {
        #[command(flatten)]
        signing: Signing,
        /// The asset.
        asset: String,
        /// The amount.
        amount: String,
        /// The fee you agree to pay; quoted when omitted.
        #[arg(long)]
        fee: Option<String>,
    },
    /// Approve or reject a reviewable request.
    Review {
        #[command(flatten)]
        signing: Signing,
        /// The request id.
        request: u64,
        /// approve or reject.
        decision: String,
        /// Why (for a rejection).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Settle an asset: unsettled becomes settled (settlement institution).
    Settle {
        #[command(flatten)]
        signing: Signing,
        /// The asset.
        asset: String,
    },
    /// Register a bar (vault staff).
    RegisterBar {
        #[command(flatten)]
        signing: Signing,
        /// Serial number.
        serial: String,
        /// Refiner.
        #[arg(long)]
        refiner: String,
        /// Fine mass in base units of the mapping's precision.
        #[arg(long)]
        mass: u128,
        /// Fineness in parts per 10,000.
        #[arg(long)]
        fineness: u16,
        /// Vault location.
        #[arg(long)]
        location: String,
    },
    /// Move a bar (vault staff).
    MoveBar {
        #[command(flatten)]
        signing: Signing,
        /// Serial number.
        serial: String,
        /// New location.
        location: String,
    },
    /// Retire a bar released from custody (vault staff).
    RetireBar {
        #[command(flatten)]
        signing: Signing,
        /// Serial number.
        serial: String,
    },
    /// Ask for a new allocated asset backed by bars (issuance admin).
    RequestIssuance {
        #[command(flatten)]
        signing: Signing,
        /// The new asset's code.
        code: String,
        /// Its precision (the mapping's).
        #[arg(long)]
        precision: u8,
        /// Who receives the tokens.
        #[arg(long)]
        issuer: String,
        /// The bars' serials, comma-separated.
        #[arg(long, value_delimiter = ',')]
        bars: Vec<String>,
        /// Later mappings may mint more.
        #[arg(long)]
        reissuable: bool,
    },
    /// Set a fee rule (fees admin).
    SetFee {
        #[command(flatten)]
        signing: Signing,
        /// Rule id.
        id: u32,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Smallest amount covered (base units).
        #[arg(long, default_value_t = 0)]
        min: u128,
        /// Largest amount covered (base units).
        #[arg(long, default_value_t = u128::MAX)]
        max: u128,
        /// Flat part (base units).
        #[arg(long, default_value_t = 0)]
        flat: u128,
        /// Percentage part, parts per million.
        #[arg(long, default_value_t = 0)]
        percent_ppm: u32,
        /// Who receives the fees.
        #[arg(long)]
        collector: String,
    },
    /// Remove a fee rule (fees admin).
    RemoveFee {
        #[command(flatten)]
        signing: Signing,
        /// Rule id.
        id: u32,
    },
    /// Set a limit rule (limits admin).
    SetLimit {
        #[command(flatten)]
        signing: Signing,
        /// Rule id.
        id: u32,
        #[command(flatten)]
        scope: ScopeArgs,
        /// daily, weekly, monthly or annual.
        #[arg(long)]
        period: String,
        /// Most per period (base units).
        #[arg(long)]
        max: u128,
        /// Most in one payment (base units).
        #[arg(long)]
        per_payment: Option<u128>,
    },
    /// Remove a limit rule (limits admin).
    RemoveLimit {
        #[command(flatten)]
        signing: Signing,
        /// Rule id.
        id: u32,
    },
    /// Submit a validator-set change whose approvals were collected with
    /// `signer approve-validators` (ADR 0016).
    ChangeValidators {
        #[command(flatten)]
        signing: Signing,
        /// The change file (`next`, `effective_height`, `approvals`).
        file: PathBuf,
    },
}

/// What a fee or limit rule applies to; omitted parts match anything.
#[derive(Args)]
struct ScopeArgs {
    /// issue, transfer, redemption, deposit or withdraw.
    #[arg(long)]
    operation: Option<String>,
    /// The asset (code or id).
    #[arg(long)]
    asset: Option<String>,
    /// One account.
    #[arg(long)]
    account: Option<String>,
    /// Accounts holding this role.
    #[arg(long)]
    role: Option<String>,
    /// Accounts in this KYC state: unverified, verified, corporate or banned.
    #[arg(long)]
    kyc: Option<String>,
}

/// How a command failed: exit 1 for a refusal, 2 for everything else.
enum Failure {
    Refused(String),
    Usage(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Usage(format!("{e:#}"))
    }
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure::Usage(message.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(message)) => {
            eprintln!("abt: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("abt: {message}");
            ExitCode::from(2)
        }
    }
}

fn password(cli: &Cli, purpose: &str) -> Result<SecretString, Failure> {
    if let Some(source) = &cli.password {
        return source.read().map_err(usage);
    }
    // rpassword reads the terminal itself, never stdin: with no terminal it fails, and nothing
    // waits for an answer that cannot come.
    rpassword::prompt_password(format!("keystore password ({purpose}): "))
        .map(SecretString::from)
        .map_err(|e| {
            usage(format!(
                "cannot ask for the keystore password ({e}); pass --password env:NAME or file:PATH"
            ))
        })
}

fn print(cli: &Cli, value: &Value, text: &str) -> Result<(), Failure> {
    if let Some(path) = &cli.field {
        // Dotted path; a number picks an array element (`receipt.events.0.type`).
        fn pick<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
            match (v, key.parse::<usize>()) {
                (Value::Array(items), Ok(i)) => items.get(i),
                _ => v.get(key),
            }
        }
        match path.split('.').try_fold(value, pick) {
            Some(Value::String(s)) => println!("{s}"),
            Some(other) => println!("{other}"),
            // Nothing is printed that a script could mistake for a value.
            None => return Err(usage(format!("the answer has no field {path}: {value}"))),
        }
    } else if cli.json {
        println!("{value}");
    } else {
        println!("{text}");
    }
    Ok(())
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Key(command) => key_command(cli, command),
        Command::Challenge(ChallengeCommand::New) => {
            let mut challenge = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut challenge);
            let challenge = Hash32(challenge);
            print(
                cli,
                &json!({ "challenge": challenge }),
                &challenge.to_string(),
            )?;
            Ok(())
        }
        Command::Challenge(ChallengeCommand::Sign {
            holder,
            asset_holder,
            challenge,
        }) => {
            let keystore = Keystore::open(&cli.keystore)?;
            let node = Node::new(&cli.node)?;
            let (binding, _) = node.chain()?;
            let asset_holder = resolve_account(&keystore, asset_holder)?;
            let key = keystore.unlock(holder, &password(cli, holder)?)?;
            let digest = registration_digest(&binding.chain_id, &asset_holder, challenge);
            let signature = key.sign_digest(digest.as_bytes())?;
            print(
                cli,
                &json!({ "public_key": key.public_key(), "challenge": challenge, "signature": signature }),
                &format!(
                    "public key {}\nsignature  {signature}\n(give both to your asset holder: abt register-holder --public-key ... --challenge {challenge} --signature ...; or save this command's --json output and give that: abt register-holder --reply FILE)",
                    key.public_key()
                ),
            )?;
            Ok(())
        }
        Command::Get { path } => {
            if !path.starts_with('/') {
                return Err(usage(format!(
                    "{path:?}: a route starts with / (/v1/chain)"
                )));
            }
            let node = Node::new(&cli.node)?;
            let answer = node.get(path)?;
            let text = serde_json::to_string_pretty(&answer)?;
            print(cli, &answer, &text)?;
            Ok(())
        }
        Command::Console(args) => console_command(cli, args),
        Command::Receipt { txid } => {
            let node = Node::new(&cli.node)?;
            show_receipt(cli, &node, txid)
        }
        Command::Operation(command) => {
            let keystore = Keystore::open(&cli.keystore)?;
            let node = Node::new(&cli.node)?;
            submit(cli, &keystore, &node, signing_of(command), |signer| {
                build(&node, &keystore, command, signer)
            })
        }
        Command::Mapping(MappingCommand::Draft { file }) => {
            let node = Node::new(&cli.node)?;
            let names = [
                "X-Mapping-Digest",
                "X-Mapping-Issuances",
                "X-Mapping-Redemptions",
                "X-Mapping-Released",
                "X-Mapping-Deferred",
            ];
            let answer = node.get_bytes("/v1/mapping/draft", &names)?;
            let header = |i: usize| answer.headers.get(i).cloned().flatten().unwrap_or_default();
            let (digest, issuances, redemptions, released, deferred) =
                (header(0), header(1), header(2), header(3), header(4));
            let bytes = mapping_answer(answer.status, answer.body)?;
            write_file(file, &bytes)?;
            let mut text = format!(
                "draft mapping written to {} (digest {digest}): review and sign it with `signer sign`",
                file.display()
            );
            for (what, list) in [
                ("issuance requests", &issuances),
                ("redemption requests", &redemptions),
                ("bars released", &released),
                ("deferred", &deferred),
            ] {
                if !list.is_empty() {
                    text.push_str(&format!("\n  {what}: {list}"));
                }
            }
            print(
                cli,
                &json!({
                    "file": file, "digest": digest, "issuances": issuances,
                    "redemptions": redemptions, "released": released, "deferred": deferred,
                }),
                &text,
            )?;
            Ok(())
        }
        Command::Mapping(MappingCommand::Current { file }) => {
            let node = Node::new(&cli.node)?;
            let current = node.get("/v1/mapping")?;
            let Some(sequence) = field(&current, "sequence").as_u64() else {
                return Err(usage(format!(
                    "the node's mapping answer has no sequence: {current}"
                )));
            };
            let answer = node.get_bytes(&format!("/v1/mappings/{sequence}"), &[])?;
            let bytes = mapping_answer(answer.status, answer.body)?;
            write_file(file, &bytes)?;
            print(
                cli,
                &json!({ "file": file, "sequence": sequence, "bytes": bytes.len() }),
                &format!("mapping {sequence} in force written to {}", file.display()),
            )?;
            Ok(())
        }
        Command::Mapping(MappingCommand::Post { file }) => {
            let node = Node::new(&cli.node)?;
            let bytes = std::fs::read(file)
                .map_err(|e| usage(format!("reading {}: {e}", file.display())))?;
            let answer = node.post_bytes(
                "/v1/mapping/draft",
                bytes,
                &["X-Mapping-Signatures", "X-Mapping-Required"],
            )?;
            if answer.status != 200 {
                // The node's JSON error: a stale draft or a bad signature is the node saying no.
                let error: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                let message = format!(
                    "refused by the node ({}): {}",
                    field(&error, "error").as_str().unwrap_or("unknown"),
                    field(&error, "message").as_str().map_or_else(
                        || String::from_utf8_lossy(&answer.body).into_owned(),
                        str::to_string
                    )
                );
                return Err(if (400..500).contains(&answer.status) {
                    Failure::Refused(message)
                } else {
                    usage(message)
                });
            }
            let (signed, required) = (header_count(&answer, 0), header_count(&answer, 1));
            let next = if signed >= required {
                "enough to submit: abt mapping submit --as ACCOUNT"
            } else {
                "more controllers must sign"
            };
            print(
                cli,
                &json!({ "signatures": signed, "required": required }),
                &format!(
                    "the draft now carries {signed} of the {required} controller signatures required ({next})"
                ),
            )?;
            Ok(())
        }
        Command::Mapping(MappingCommand::Submit {
            signing,
            signatures_wait,
        }) => {
            let keystore = Keystore::open(&cli.keystore)?;
            let node = Node::new(&cli.node)?;
            let started = std::time::Instant::now();
            let patience = Duration::from_secs(*signatures_wait);
            let bytes = loop {
                let answer = node.get_bytes(
                    "/v1/mapping/draft/signed",
                    &["X-Mapping-Signatures", "X-Mapping-Required"],
                )?;
                let (signed, required) = (header_count(&answer, 0), header_count(&answer, 1));
                let bytes = mapping_answer(answer.status, answer.body)?;
                if signed >= required {
                    break bytes;
                }
                if started.elapsed() >= patience {
                    return Err(Failure::Refused(format!(
                        "the draft carries {signed} controller signature(s) on this node; the policy requires {required}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(250));
            };
            submit(cli, &keystore, &node, signing, |_| {
                Ok(Operation::UpdateMapping { mapping: bytes })
            })
        }
    }
}

/// `abt console ...`: logs in with the signing key, then does the action.
fn console_command(cli: &Cli, args: &ConsoleArgs) -> Result<(), Failure> {
    use abt::console::{ConsoleClient, ConsoleClientError};
    let keystore = Keystore::open(&cli.keystore)?;
    let node = Node::new(&cli.node)?;
    let signing = match &args.action {
        ConsoleAction::Bars { signing }
        | ConsoleAction::Requests { signing }
        | ConsoleAction::History { signing, .. }
        | ConsoleAction::Watch { signing, .. } => signing,
        ConsoleAction::Operation(command) => signing_of(command),
    };
    let refused = |e: ConsoleClientError| match e {
        ConsoleClientError::Refused { .. } => Failure::Refused(e.to_string()),
        other => usage(other),
    };
    let (binding, _) = node.chain()?;
    let key = open_key(cli, &keystore, signing)?;
    let mut console = ConsoleClient::connect(&args.console).map_err(usage)?;
    console
        .login(binding.genesis_hash, key.public_key(), |digest| {
            key.sign(digest).map_err(|f| match f {
                Failure::Refused(m) | Failure::Usage(m) => m,
            })
        })
        .map_err(refused)?;
    match &args.action {
        ConsoleAction::Bars { .. } => {
            let answer = console.call("bars.list", &Value::Null).map_err(refused)?;
            let text = serde_json::to_string_pretty(&answer)?;
            print(cli, &answer, &text)
        }
        ConsoleAction::Requests { .. } => {
            let answer = console
                .call("requests.list", &Value::Null)
                .map_err(refused)?;
            let text = serde_json::to_string_pretty(&answer)?;
            print(cli, &answer, &text)
        }
        ConsoleAction::History { serial, .. } => {
            let answer = console
                .call("bars.history", &json!({ "serial": serial }))
                .map_err(refused)?;
            let lines: Vec<String> = field(&answer, "history")
                .as_array()
                .into_iter()
                .flatten()
                .map(describe_audit)
                .collect();
            print(cli, &answer, &lines.join("\n"))
        }
        ConsoleAction::Watch { topics, count, .. } => {
            for topic in topics {
                console
                    .call("subscribe", &json!({ "topic": topic }))
                    .map_err(refused)?;
            }
            let mut seen = 0u64;
            while count.is_none_or(|c| seen < c) {
                let message = console.notification().map_err(usage)?;
                if message.get("method") == Some(&json!("session_ended")) {
                    return Err(Failure::Refused(format!(
                        "the console ended the session: {}",
                        message.pointer("/params/message").unwrap_or(&Value::Null)
                    )));
                }
                let params = field(&message, "params");
                let entries = params.pointer("/event/entries").and_then(Value::as_array);
                let text: Vec<String> = entries
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        format!(
                            "{} {}",
                            field(params, "topic").as_str().unwrap_or("?"),
                            describe_audit(e)
                        )
                    })
                    .collect();
                print(cli, &message, &text.join("\n"))?;
                seen = seen.saturating_add(1);
            }
            Ok(())
        }
        ConsoleAction::Operation(command) => submit_via(
            cli,
            &keystore,
            &node,
            signing,
            |signer| build(&node, &keystore, command, signer),
            |tx| {
                let encoded = hex::encode(lightclient::encoding::Encode::to_bytes(tx));
                let answer = console
                    .call("tx.submit", &json!({ "encoded": encoded }))
                    .map_err(refused)?;
                Ok(field(&answer, "txid")
                    .as_str()
                    .unwrap_or_default()
                    .to_string())
            },
        ),
    }
}

/// One audit entry on a line.
fn describe_audit(entry: &Value) -> String {
    let text = |key: &str| field(entry, key).as_str().unwrap_or("").to_string();
    let detail = text("detail");
    format!(
        "height {}: {} by {} (txid {}){}",
        field(entry, "height"),
        text("action"),
        text("actor"),
        text("txid"),
        if detail.is_empty() {
            String::new()
        } else {
            format!(" — {detail}")
        }
    )
}

/// The `i`th header asked for, as a count (0 when absent).
fn header_count(answer: &abt::client::RawAnswer, i: usize) -> u64 {
    answer
        .headers
        .get(i)
        .cloned()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// A mapping answered as bytes: 200 is the mapping, 204 nothing to sign (a refusal).
fn mapping_answer(status: u16, body: Vec<u8>) -> Result<Vec<u8>, Failure> {
    match status {
        200 => Ok(body),
        204 => Err(Failure::Refused(
            "nothing to sign: the next mapping would equal the one in force".into(),
        )),
        other => Err(usage(format!(
            "the node answered {other}: {}",
            String::from_utf8_lossy(&body)
        ))),
    }
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| usage(format!("writing {}: {e}", path.display())))
}

fn key_command(cli: &Cli, command: &KeyCommand) -> Result<(), Failure> {
    let mut keystore = Keystore::open(&cli.keystore)?;
    match command {
        KeyCommand::New { name } => {
            let password = new_password(cli, name)?;
            let public_key = keystore.generate(name, &password)?;
            announce_key(cli, &keystore, name, &public_key)?;
        }
        KeyCommand::Import { name, secret, dev } => {
            let bytes = match (secret, dev) {
                (Some(source), _) => {
                    let text = source.read().map_err(usage)?;
                    let decoded = zeroize::Zeroizing::new(
                        hex::decode(secrecy::ExposeSecret::expose_secret(&text).trim())
                            .map_err(|_| usage("the secret is not hex"))?,
                    );
                    let array: [u8; 32] = decoded
                        .as_slice()
                        .try_into()
                        .map_err(|_| usage("the secret is not 32 bytes"))?;
                    zeroize::Zeroizing::new(array)
                }
                (None, Some(dev)) => {
                    zeroize::Zeroizing::new(lightclient::genesis::dev_account_secret(dev).0)
                }
                (None, None) => return Err(usage("give --secret or --dev")),
            };
            let password = new_password(cli, name)?;
            let public_key = keystore.import(name, &bytes, &password)?;
            announce_key(cli, &keystore, name, &public_key)?;
        }
        KeyCommand::List => {
            let keys: Vec<Value> = keystore
                .keys()
                .iter()
                .map(|(name, key)| json!({ "name": name, "public_key": key.public_key, "account_id": key.account_id() }))
                .collect();
            let text = keystore
                .keys()
                .iter()
                .map(|(name, key)| {
                    format!(
                        "{name}  account {}  key {}",
                        key.account_id(),
                        key.public_key
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(cli, &json!({ "keys": keys }), &text)?;
        }
        KeyCommand::Show { name } => {
            let key = keystore.get(name)?;
            let public_key = key.public_key;
            announce_key(cli, &keystore, name, &public_key)?;
        }
    }
    Ok(())
}

/// A password for a new key: from its source, or asked twice on the terminal.
fn new_password(cli: &Cli, name: &str) -> Result<SecretString, Failure> {
    if cli.password.is_some() {
        return password(cli, name);
    }
    let first = password(cli, name)?;
    let second = password(cli, &format!("{name}, again"))?;
    if secrecy::ExposeSecret::expose_secret(&first) != secrecy::ExposeSecret::expose_secret(&second)
    {
        return Err(usage("the two passwords differ"));
    }
    Ok(first)
}

fn announce_key(
    cli: &Cli,
    keystore: &Keystore,
    name: &str,
    public_key: &PublicKey,
) -> Result<(), Failure> {
    print(
        cli,
        &json!({ "name": name, "public_key": public_key, "account_id": public_key.account_id(), "keystore": keystore.path() }),
        &format!(
            "{name}: account {}\n  public key {public_key}\n  in {}",
            public_key.account_id(),
            keystore.path().display()
        ),
    )
}

fn resolve_account(keystore: &Keystore, given: &str) -> Result<AccountId, Failure> {
    Ok(args::account(given, |name| {
        keystore
            .get(name)
            .ok()
            .map(abt::keystore::SealedKey::account_id)
    })?)
}

/// An asset of the node's list, by code or id: its id and precision.
fn resolve_asset(node: &Node, given: &str) -> Result<(AssetId, u8), Failure> {
    let assets = node.get("/v1/assets")?;
    let list = assets.as_array().cloned().unwrap_or_default();
    let found = list.iter().find(|a| {
        field(a, "code").as_str() == Some(given) || field(a, "id").as_str() == Some(given)
    });
    let Some(asset) = found else {
        return Err(usage(format!("no asset {given:?} on this chain")));
    };
    let id: AssetId = serde_json::from_value(field(asset, "id").clone())?;
    let precision = field(asset, "precision")
        .as_u64()
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| usage("the node lists an asset without a precision"))?;
    Ok((id, precision))
}

/// An asset (code or id) and an amount of it (decimal, in its precision) in base units.
fn asset_amount(node: &Node, asset: &str, text: &str) -> Result<(AssetId, u128), Failure> {
    let (asset, precision) = resolve_asset(node, asset)?;
    Ok((asset, amount(text, precision)?))
}

fn amount(text: &str, precision: u8) -> Result<u128, Failure> {
    parse_amount(text, precision).map_err(|e| usage(format!("amount {text:?}: {e}")))
}

/// The fee for an operation: given, or quoted by the node from the rules in force.
fn fee(
    node: &Node,
    given: Option<&String>,
    precision: u8,
    quote: (AccountId, &str, AssetId, u128),
) -> Result<u128, Failure> {
    if let Some(text) = given {
        return amount(text, precision);
    }
    let (account, operation, asset, units) = quote;
    let answer = node.get(&format!(
        "/v1/fees/quote?account={account}&operation={operation}&asset={asset}&amount={units}"
    ))?;
    field(&answer, "fee")
        .as_str()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| usage("the node's fee quote is not a number"))
}

fn scope(node: &Node, keystore: &Keystore, scope: &ScopeArgs) -> Result<Scope, Failure> {
    Ok(Scope {
        operation: scope
            .operation
            .as_deref()
            .map(|o| args::name::<OperationKind>("operation", OPERATION_KINDS, o))
            .transpose()?,
        asset: scope
            .asset
            .as_deref()
            .map(|a| resolve_asset(node, a).map(|(id, _)| id))
            .transpose()?,
        account: scope
            .account
            .as_deref()
            .map(|a| resolve_account(keystore, a))
            .transpose()?,
        role: scope
            .role
            .as_deref()
            .map(|r| args::name::<Role>("role", ROLES, r))
            .transpose()?,
        kyc_state: scope
            .kyc
            .as_deref()
            .map(|k| args::name::<KycState>("KYC state", KYC_STATES, k))
            .transpose()?,
    })
}

fn signing_of(command: &OperationCommand) -> &Signing {
    match command {
        OperationCommand::RegisterHolder { signing, .. }
        | OperationCommand::SetKyc { signing, .. }
        | OperationCommand::Ban { signing, .. }
        | OperationCommand::Unban { signing, .. }
        | OperationCommand::RecoverKey { signing, .. }
        | OperationCommand::GrantRole { signing, .. }
        | OperationCommand::RevokeRole { signing, .. }
        | OperationCommand::CreateAsset { signing, .. }
        | OperationCommand::Deposit { signing, .. }
        | OperationCommand::Withdraw { signing, .. }
        | OperationCommand::Issue { signing, .. }
        | OperationCommand::Transfer { signing, .. }
        | OperationCommand::Redeem { signing, .. }
        | OperationCommand::Review { signing, .. }
        | OperationCommand::Settle { signing, .. }
        | OperationCommand::RegisterBar { signing, .. }
        | OperationCommand::MoveBar { signing, .. }
        | OperationCommand::RetireBar { signing, .. }
        | OperationCommand::RequestIssuance { signing, .. }
        | OperationCommand::SetFee { signing, .. }
        | OperationCommand::RemoveFee { signing, .. }
        | OperationCommand::SetLimit { signing, .. }
        | OperationCommand::RemoveLimit { signing, .. }
        | OperationCommand::ChangeValidators { signing, .. } => signing,
    }
}

/// The key that signs: opened from the keystore, or in its HSM.
enum Key {
    Keystore(OpenedKey),
    Hsm(Arc<dyn Signer>),
}

impl Key {
    fn public_key(&self) -> PublicKey {
        match self {
            Key::Keystore(key) => key.public_key(),
            Key::Hsm(signer) => signer.public_key(),
        }
    }

    fn sign(&self, digest: &Hash32) -> Result<Signature, Failure> {
        match self {
            Key::Keystore(key) => Ok(key.sign_digest(digest.as_bytes())?),
            Key::Hsm(signer) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(signer.sign_digest(digest.as_bytes()))?)
            }
        }
    }
}

fn open_key(cli: &Cli, keystore: &Keystore, signing: &Signing) -> Result<Key, Failure> {
    let Some(backend) = signing.backend else {
        // Checked before asking for a password, so a typo does not cost one.
        keystore.get(&signing.key)?;
        return Ok(Key::Keystore(
            keystore.unlock(&signing.key, &password(cli, &signing.key)?)?,
        ));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signer: Arc<dyn Signer> = match backend {
        Backend::Pkcs11 => Arc::new(runtime.block_on(signer::pkcs11::Pkcs11Signer::open(
            signer::pkcs11::Pkcs11Config {
                module: signing.module.clone(),
                token_label: signing.token.clone(),
                pin: signing.pin.clone(),
            },
            &signing.key,
        ))?),
        Backend::Yubihsm => Arc::new(runtime.block_on(signer::yubihsm::YubiHsmSigner::open(
            signer::yubihsm::YubiHsmConfig {
                addr: signing.connector.ip().to_string(),
                port: signing.connector.port(),
                auth_key_id: signing.auth_key_id,
                password: signing.pin.clone(),
                timeout_ms: 5_000,
            },
            &signing.key,
        ))?),
    };
    Ok(Key::Hsm(signer))
}

/// The operation a command asks for, built from its human arguments (`signer`: the account
/// that will sign, for fee quotes).
fn build(
    node: &Node,
    keystore: &Keystore,
    command: &OperationCommand,
    signer: AccountId,
) -> Result<Operation, Failure> {
    let account = |given: &str| resolve_account(keystore, given);
    Ok(match command {
        OperationCommand::RegisterHolder {
            reply,
            public_key,
            challenge,
            signature,
            ..
        } => {
            let reply = match (reply, public_key, challenge, signature) {
                (Some(path), ..) => {
                    let bytes = std::fs::read(path)
                        .map_err(|e| usage(format!("reading {}: {e}", path.display())))?;
                    serde_json::from_slice::<HolderReply>(&bytes).map_err(|e| {
                        usage(format!(
                            "{}: not a holder's reply (public_key, challenge, signature): {e}",
                            path.display()
                        ))
                    })?
                }
                (None, Some(public_key), Some(challenge), Some(signature)) => HolderReply {
                    public_key: *public_key,
                    challenge: *challenge,
                    signature: *signature,
                },
                _ => {
                    return Err(usage(
                        "give --reply FILE, or --public-key, --challenge and --signature",
                    ));
                }
            };
            Operation::RegisterHolder {
                public_key: reply.public_key,
                challenge: reply.challenge,
                holder_signature: reply.signature,
            }
        }
        OperationCommand::SetKyc {
            account: a, state, ..
        } => Operation::SetKycState {
            account: account(a)?,
            state: args::name::<KycState>("KYC state", KYC_STATES, state)?,
        },
        OperationCommand::Ban {
            account: a, reason, ..
        } => Operation::Ban {
            account: account(a)?,
            reason: reason.clone(),
        },
        OperationCommand::Unban { account: a, .. } => Operation::Unban {
            account: account(a)?,
        },
        OperationCommand::RecoverKey {
            account: a,
            new_public_key,
            ..
        } => Operation::RecoverKey {
            account: account(a)?,
            new_public_key: *new_public_key,
        },
        OperationCommand::GrantRole {
            account: a, role, ..
        } => Operation::GrantRole {
            account: account(a)?,
            role: args::name("role", ROLES, role)?,
        },
        OperationCommand::RevokeRole {
            account: a, role, ..
        } => Operation::RevokeRole {
            account: account(a)?,
            role: args::name("role", ROLES, role)?,
        },
        OperationCommand::CreateAsset {
            code,
            precision,
            maximum,
            ..
        } => Operation::CreateAsset {
            code: code.clone(),
            precision: *precision,
            backing: BackingKind::DepositBacked,
            maximum: amount(maximum, *precision)?,
        },
        OperationCommand::Deposit {
            asset_holder,
            asset,
            amount: a,
            ..
        } => {
            let (asset, amount) = asset_amount(node, asset, a)?;
            Operation::Deposit {
                asset_holder: account(asset_holder)?,
                asset,
                amount,
            }
        }
        OperationCommand::Withdraw {
            asset_holder,
            asset,
            amount: a,
            ..
        } => {
            let (asset, amount) = asset_amount(node, asset, a)?;
            Operation::Withdraw {
                asset_holder: account(asset_holder)?,
                asset,
                amount,
            }
        }
        OperationCommand::Issue {
            to,
            asset,
            amount: a,
            ..
        } => {
            let (asset, amount) = asset_amount(node, asset, a)?;
            Operation::Issue {
                to: account(to)?,
                asset,
                amount,
            }
        }
        OperationCommand::Transfer {
            to,
            asset,
            amount: a,
            fee: given,
            ..
        } => {
            let (asset, precision) = resolve_asset(node, asset)?;
            let units = amount(a, precision)?;
            Operation::Transfer {
                to: account(to)?,
                asset,
                amount: units,
                expected_fee: fee(
                    node,
                    given.as_ref(),
                    precision,
                    (signer, "transfer", asset, units),
                )?,
            }
        }
        OperationCommand::Redeem {
            asset,
            amount: a,
            fee: given,
            ..
        } => {
            let (asset, precision) = resolve_asset(node, asset)?;
            let units = amount(a, precision)?;
            Operation::RequestRedemption {
                asset,
                amount: units,
                expected_fee: fee(
                    node,
                    given.as_ref(),
                    precision,
                    (signer, "redemption", asset, units),
                )?,
            }
        }
        OperationCommand::Review {
            request,
            decision,
            reason,
            ..
        } => Operation::ReviewRequest {
            request_id: *request,
            decision: match decision.as_str() {
                "approve" => Decision::Approve {},
                "reject" => Decision::Reject {
                    reason: reason.clone(),
                },
                other => {
                    return Err(usage(format!(
                        "decision {other:?} is not approve or reject"
                    )));
                }
            },
        },
        OperationCommand::Settle { asset, .. } => Operation::RunSettlement {
            asset: resolve_asset(node, asset)?.0,
        },
        OperationCommand::RegisterBar {
            serial,
            refiner,
            mass,
            fineness,
            location,
            ..
        } => Operation::RegisterItem {
            serial: serial.clone(),
            refiner: refiner.clone(),
            mass: *mass,
            fineness: *fineness,
            location: location.clone(),
        },
        OperationCommand::MoveBar {
            serial, location, ..
        } => Operation::MoveItem {
            serial: serial.clone(),
            location: location.clone(),
        },
        OperationCommand::RetireBar { serial, .. } => Operation::RetireItem {
            serial: serial.clone(),
        },
        OperationCommand::RequestIssuance {
            code,
            precision,
            issuer,
            bars,
            reissuable,
            ..
        } => Operation::RequestIssuance {
            code: code.clone(),
            precision: *precision,
            issuer: account(issuer)?,
            serials: bars.clone(),
            reissuable: *reissuable,
        },
        OperationCommand::SetFee {
            id,
            scope: s,
            min,
            max,
            flat,
            percent_ppm,
            collector,
            ..
        } => Operation::SetFee {
            id: *id,
            rule: Some(FeeRule {
                scope: scope(node, keystore, s)?,
                min_amount: *min,
                max_amount: *max,
                flat: *flat,
                percent_ppm: *percent_ppm,
                collector: account(collector)?,
            }),
        },
        OperationCommand::RemoveFee { id, .. } => Operation::SetFee {
            id: *id,
            rule: None,
        },
        OperationCommand::SetLimit {
            id,
            scope: s,
            period,
            max,
            per_payment,
            ..
        } => Operation::SetLimit {
            id: *id,
            rule: Some(LimitRule {
                scope: scope(node, keystore, s)?,
                period: args::name::<LimitPeriod>("period", PERIODS, period)?,
                max_amount: *max,
                max_per_payment: *per_payment,
            }),
        },
        OperationCommand::RemoveLimit { id, .. } => Operation::SetLimit {
            id: *id,
            rule: None,
        },
        OperationCommand::ChangeValidators { file, .. } => {
            let bytes =
                std::fs::read(file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
            let change: Value = serde_json::from_slice(&bytes)
                .map_err(|e| usage(format!("{}: {e}", file.display())))?;
            Operation::ChangeValidatorSet {
                validators: serde_json::from_value(field(&change, "next").clone())
                    .map_err(|e| usage(format!("{}: next: {e}", file.display())))?,
                effective_height: field(&change, "effective_height")
                    .as_u64()
                    .ok_or_else(|| usage(format!("{}: no effective_height", file.display())))?,
                approvals: serde_json::from_value(field(&change, "approvals").clone())
                    .map_err(|e| usage(format!("{}: approvals: {e}", file.display())))?,
            }
        }
    })
}

/// Builds the operation (given the account that signs), signs it, submits it, and unless
/// `--no-wait` waits for its block and shows the receipt.
fn submit(
    cli: &Cli,
    keystore: &Keystore,
    node: &Node,
    signing: &Signing,
    operation: impl FnOnce(AccountId) -> Result<Operation, Failure>,
) -> Result<(), Failure> {
    submit_via(cli, keystore, node, signing, operation, |tx| {
        match node.submit(tx) {
            Ok(txid) => Ok(txid),
            Err(NodeError::Refused { kind, message, .. }) => Err(Failure::Refused(format!(
                "refused by the node ({kind}): {message}"
            ))),
            Err(e) => Err(e.into()),
        }
    })
}

/// Signs the operation and hands the transaction to `post` (the node's API, or the console);
/// then waits for its block through the node's API.
fn submit_via(
    cli: &Cli,
    keystore: &Keystore,
    node: &Node,
    signing: &Signing,
    operation: impl FnOnce(AccountId) -> Result<Operation, Failure>,
    post: impl FnOnce(&SignedTransaction) -> Result<String, Failure>,
) -> Result<(), Failure> {
    let (binding, height) = node.chain()?;
    let key = open_key(cli, keystore, signing)?;
    let public_key = key.public_key();
    // A recovered account keeps its id under a new key: the node knows which.
    let signer = match node.get(&format!("/v1/keys/{public_key}/account")) {
        Ok(answer) => serde_json::from_value(field(&answer, "account").clone())?,
        Err(NodeError::Refused { status: 404, .. }) => public_key.account_id(),
        Err(e) => return Err(e.into()),
    };
    let operation = operation(signer)?;
    let mut salt = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    let transaction = Transaction {
        version: TRANSACTION_VERSION,
        chain_id: binding.chain_id,
        genesis_hash: binding.genesis_hash,
        signer,
        public_key,
        salt: u64::from_le_bytes(salt),
        expires_at_height: height.saturating_add(signing.expires_in),
        operation,
    };
    let signature = key.sign(&transaction.txid())?;
    let tx = SignedTransaction {
        transaction,
        signature,
    };
    let txid = post(&tx)?;
    if signing.no_wait {
        print(
            cli,
            &json!({ "txid": txid, "status": "pending" }),
            &format!("txid {txid} (pending)"),
        )?;
        return Ok(());
    }
    if !cli.json {
        eprintln!("txid {txid}: submitted, waiting for its block");
    }
    node.wait(&txid, Duration::from_secs(signing.wait_secs))?;
    show_receipt(cli, node, &txid)
}

/// Prints a transaction's receipt; a refusal is exit 1.
fn show_receipt(cli: &Cli, node: &Node, txid: &str) -> Result<(), Failure> {
    let answer = node.get(&format!("/v1/transactions/{txid}/receipt"))?;
    let receipt = &field(&answer, "receipt");
    let code = field(receipt, "code").as_u64().unwrap_or(u64::MAX);
    let name = field(receipt, "code_name")
        .as_str()
        .unwrap_or("unknown_code");
    let mut text = format!(
        "txid {txid}: {name} ({code}) in block {}",
        field(&answer, "height")
    );
    if let Some(message) = field(receipt, "message").as_str().filter(|m| !m.is_empty()) {
        text.push_str(&format!("\n  {message}"));
    }
    for event in field(receipt, "events").as_array().into_iter().flatten() {
        text.push_str(&format!("\n  event: {}", describe(event)));
    }
    print(
        cli,
        &json!({ "txid": txid, "height": field(&answer, "height"), "receipt": receipt }),
        &text,
    )?;
    if code == 0 {
        Ok(())
    } else if cli.json {
        Err(Failure::Refused(name.to_string()))
    } else {
        Err(Failure::Refused(format!("refused by the ledger: {name}")))
    }
}

fn describe(event: &Value) -> String {
    let kind = field(event, "type").as_str().unwrap_or("event");
    let fields: Vec<String> = event
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            )
        })
        .collect();
    format!("{kind} {}", fields.join(" "))
}
