//! `signer`: the controller's tool. Key ceremony in the HSM, review of mapping proposals, n-of-m
//! signing and verification. Private keys never leave the HSM; PINs come from an environment
//! variable or a file and are never printed.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program reports to the terminal

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use lightclient::genesis::Genesis;
use lightclient::mapping::Mapping;
use secrecy::SecretString;
use signer::Signer;
use signer::pin::PinSource;
use signer::pkcs11::{DEFAULT_MODULE, Pkcs11Config, Pkcs11Signer};
use signer::review::{ReviewInput, ReviewInputError};
use signer::statement::KeyStatement;
use signer::yubihsm::{YubiHsmConfig, YubiHsmSigner};

#[derive(Parser)]
#[command(
    version,
    about = "Controller tool: HSM key ceremony, mapping review, n-of-m signing and verification"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Key ceremony: create a secp256k1 key inside the HSM, print its public key and a statement
    /// signed by it.
    Keygen {
        #[command(flatten)]
        hsm: HsmArgs,
        /// Also write the signed statement to this file.
        #[arg(long)]
        statement: Option<PathBuf>,
    },
    /// Print the public key of an existing HSM key.
    Pubkey {
        #[command(flatten)]
        hsm: HsmArgs,
    },
    /// Check a key-ceremony statement's signature.
    VerifyStatement {
        /// The statement file.
        file: PathBuf,
    },
    /// Show a mapping proposal as a diff against the current mapping: bars added and removed,
    /// changes per asset, supply impact, who has signed.
    Review {
        /// The proposal (mapping JSON).
        file: PathBuf,
        #[command(flatten)]
        context: MappingContext,
    },
    /// Review a proposal, ask for confirmation, sign its digest in the HSM, and add the signature
    /// to the file.
    Sign {
        /// The proposal (mapping JSON); rewritten with the signature added.
        file: PathBuf,
        #[command(flatten)]
        context: MappingContext,
        #[command(flatten)]
        hsm: HsmArgs,
        /// Do not ask; for scripts that have reviewed the proposal by other means.
        #[arg(long)]
        yes: bool,
    },
    /// Validators' side of a validator-set change (ADR 0016): show the change, ask for
    /// confirmation, sign the approval with this validator's HSM key and add it to the file.
    ApproveValidators {
        /// The change: `{"next": SET, "effective_height": H}`, with `"current": SET` when the set
        /// in force is not the genesis set, and the `"approvals"` collected so far.
        file: PathBuf,
        /// The genesis file (chain id, genesis hash, and the genesis validator set).
        #[arg(long)]
        genesis: PathBuf,
        #[command(flatten)]
        hsm: HsmArgs,
        /// Do not ask; for scripts that have reviewed the change by other means.
        #[arg(long)]
        yes: bool,
    },
    /// Verify a signed mapping with the light-client rules: n-of-m controllers of the genesis
    /// policy, chain, and a sequence above the current mapping's.
    Verify {
        /// The signed mapping JSON.
        file: PathBuf,
        /// The genesis file holding the controller policy.
        #[arg(long)]
        genesis: PathBuf,
        /// The mapping currently in force, if any.
        #[arg(long)]
        current: Option<PathBuf>,
    },
    /// Development helper: create a SoftHSM2 token store in DIR with one initialised token.
    SoftHsmInit {
        /// Directory for `softhsm2.conf` and the tokens.
        #[arg(long)]
        dir: PathBuf,
        /// Token label.
        #[arg(long)]
        token: String,
        /// Security-officer PIN source (`env:NAME` or `file:PATH`).
        #[arg(long)]
        so_pin: PinSource,
        /// User PIN source.
        #[arg(long)]
        pin: PinSource,
        /// PKCS#11 module.
        #[arg(long, default_value = DEFAULT_MODULE)]
        module: PathBuf,
    },
    /// Internal: initialise the token inside the new store (runs with `SOFTHSM2_CONF` set).
    #[command(hide = true)]
    InitTokenInStore {
        #[arg(long)]
        token: String,
        #[arg(long)]
        so_pin: PinSource,
        #[arg(long)]
        pin: PinSource,
        #[arg(long)]
        module: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Pkcs11,
    Yubihsm,
}

#[derive(Args)]
struct HsmArgs {
    /// Which HSM backend holds the key.
    #[arg(long, value_enum)]
    backend: Backend,
    /// Key label.
    #[arg(long)]
    label: String,
    /// PKCS#11 module path.
    #[arg(long, default_value = DEFAULT_MODULE)]
    module: PathBuf,
    /// PKCS#11 token label.
    #[arg(long, default_value = "abt")]
    token: String,
    /// PKCS#11 user PIN source.
    #[arg(long, default_value = "env:ABT_HSM_PIN")]
    pin: PinSource,
    /// YubiHSM connector address.
    #[arg(long, default_value = "127.0.0.1:12345")]
    connector: std::net::SocketAddr,
    /// YubiHSM authentication key id.
    #[arg(long, default_value_t = 1)]
    auth_key_id: u16,
    /// YubiHSM authentication key password source.
    #[arg(long, default_value = "env:ABT_HSM_PASSWORD")]
    password: PinSource,
}

impl HsmArgs {
    fn describe(&self) -> (String, String) {
        match self.backend {
            Backend::Pkcs11 => (
                "pkcs11".into(),
                format!("token {:?} via {}", self.token, self.module.display()),
            ),
            Backend::Yubihsm => (
                "yubihsm".into(),
                format!("connector http://{}", self.connector),
            ),
        }
    }

    fn pkcs11(&self) -> Pkcs11Config {
        Pkcs11Config {
            module: self.module.clone(),
            token_label: self.token.clone(),
            pin: self.pin.clone(),
        }
    }

    fn yubihsm(&self) -> YubiHsmConfig {
        YubiHsmConfig {
            addr: self.connector.ip().to_string(),
            port: self.connector.port(),
            auth_key_id: self.auth_key_id,
            password: self.password.clone(),
            timeout_ms: 5_000,
        }
    }

    async fn open(&self) -> anyhow::Result<Arc<dyn Signer>> {
        Ok(match self.backend {
            Backend::Pkcs11 => Arc::new(Pkcs11Signer::open(self.pkcs11(), &self.label).await?),
            Backend::Yubihsm => Arc::new(YubiHsmSigner::open(self.yubihsm(), &self.label).await?),
        })
    }

    async fn generate(&self) -> anyhow::Result<Arc<dyn Signer>> {
        Ok(match self.backend {
            Backend::Pkcs11 => Arc::new(Pkcs11Signer::generate(self.pkcs11(), &self.label).await?),
            Backend::Yubihsm => {
                Arc::new(YubiHsmSigner::generate(self.yubihsm(), &self.label).await?)
            }
        })
    }
}

#[derive(Args)]
struct MappingContext {
    /// The mapping currently in force (omit for the first mapping).
    #[arg(long)]
    current: Option<PathBuf>,
    /// Genesis file: controller policy and amount precision.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Amount precision when no genesis is given.
    #[arg(long, default_value_t = lightclient::amount::MAX_PRECISION)]
    precision: u8,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn load_genesis(path: &Path) -> anyhow::Result<Genesis> {
    Genesis::from_json(&read(path)?).with_context(|| format!("genesis {}", path.display()))
}

impl MappingContext {
    fn load(&self, file: &Path) -> anyhow::Result<ReviewInput> {
        let genesis = self.genesis.as_deref().map(read).transpose()?;
        let proposal = read(file)?;
        let current = self.current.as_deref().map(read).transpose()?;
        ReviewInput::parse(
            genesis.as_deref(),
            &proposal,
            current.as_deref(),
            self.precision,
        )
        .map_err(|e| {
            let file = match &e {
                ReviewInputError::Genesis(_) => self.genesis.as_deref(),
                ReviewInputError::Current(_) => self.current.as_deref(),
                _ => Some(file),
            };
            match file {
                Some(path) => anyhow::anyhow!("{}: {e}", path.display()),
                None => anyhow::anyhow!("{e}"),
            }
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Writes `bytes` to `path` atomically: a crash leaves the old file or the new one, never half.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("signing.tmp");
    {
        let mut file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// A validator-set change as the validators pass it around for approvals (ADR 0016).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SetChangeFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<lightclient::validator::ValidatorSet>,
    next: lightclient::validator::ValidatorSet,
    effective_height: u64,
    #[serde(default)]
    approvals: Vec<lightclient::validator::SetApproval>,
}

/// What a set change does, for the operator to read before approving it.
fn describe_set_change(
    current: &lightclient::validator::ValidatorSet,
    change: &SetChangeFile,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "validator-set change taking effect at height {}",
        change.effective_height
    );
    for v in change.next.validators() {
        match current.get(&v.address()) {
            None => {
                let _ = writeln!(out, "  + {} (power {})", v.public_key, v.voting_power);
            }
            Some(old) if old.voting_power != v.voting_power => {
                let _ = writeln!(
                    out,
                    "  ~ {} power {} -> {}",
                    v.public_key, old.voting_power, v.voting_power
                );
            }
            Some(_) => {}
        }
    }
    for v in current.validators() {
        if change.next.get(&v.address()).is_none() {
            let _ = writeln!(out, "  - {} (power {})", v.public_key, v.voting_power);
        }
    }
    let _ = writeln!(
        out,
        "  {} -> {} validators, total power {} -> {}; {} approval(s) so far",
        current.validators().len(),
        change.next.validators().len(),
        current.total_power(),
        change.next.total_power(),
        change.approvals.len()
    );
    out
}

fn confirm_text(expected: &str, what: &str) -> anyhow::Result<()> {
    print!("Type \"{expected}\" to sign {what} in the HSM: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer)? == 0 {
        bail!(
            "no confirmation (standard input is closed); review it and pass --yes to sign non-interactively"
        );
    }
    if answer.trim() != expected {
        bail!("not confirmed; nothing was signed");
    }
    Ok(())
}

fn confirm(proposal: &Mapping) -> anyhow::Result<()> {
    confirm_text(&format!("sign {}", proposal.sequence), "this proposal")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen { hsm, statement } => {
            let signer = hsm.generate().await?;
            let (backend, where_) = hsm.describe();
            let signed = KeyStatement::sign(signer.as_ref(), &backend, &where_, now_ms()).await?;
            let json = serde_json::to_string_pretty(&signed)?;
            if let Some(path) = statement {
                write_atomically(&path, format!("{json}\n").as_bytes())?;
            }
            eprintln!("created key {:?} in {where_}", hsm.label);
            println!("{json}");
        }
        Command::Pubkey { hsm } => {
            println!("{}", hsm.open().await?.public_key());
        }
        Command::VerifyStatement { file } => {
            let statement = KeyStatement::verify_json(&read(&file)?)?;
            println!(
                "OK: key {} ({:?}, {}) signed its statement",
                statement.public_key, statement.label, statement.hsm
            );
        }
        Command::Review { file, context } => {
            let loaded = context.load(&file)?;
            let review = loaded.review();
            print!("{review}");
        }
        Command::Sign {
            file,
            context,
            hsm,
            yes,
        } => {
            let mut loaded = context.load(&file)?;
            let review = loaded.review();
            print!("{review}");
            let signer = hsm.open().await?;
            let key = signer.public_key();
            // A signature names its controller by position in the genesis policy (`authkey`).
            let Some(policy) = &loaded.policy else {
                bail!(
                    "signing needs --genesis: the signature names this key by its position in the genesis controller policy"
                );
            };
            let Some(authkey) = policy.authkey_of(&key) else {
                bail!(
                    "key {key} ({:?}) is not a controller in the genesis policy; not signing",
                    hsm.label
                );
            };
            if !yes {
                confirm(&loaded.proposal)?;
            }
            let digest = loaded.proposal.signing_digest()?;
            let signature = signer.sign_digest(digest.as_bytes()).await?;
            loaded.proposal.add_signature(authkey, &signature);
            write_atomically(&file, &loaded.proposal.to_json_bytes()?)?;
            println!(
                "signed by {key} (authkey {authkey}); signature added to {}",
                file.display()
            );
        }
        Command::ApproveValidators {
            file,
            genesis,
            hsm,
            yes,
        } => {
            let genesis = load_genesis(&genesis)?;
            let genesis_hash = genesis.hash()?;
            let mut change: SetChangeFile = serde_json::from_slice(&read(&file)?)
                .with_context(|| format!("validator-set change {}", file.display()))?;
            let current = change
                .current
                .clone()
                .unwrap_or_else(|| genesis.validators.clone());
            print!("{}", describe_set_change(&current, &change));
            let signer = hsm.open().await?;
            let key = signer.public_key();
            let validator = key.validator_address();
            if current.get(&validator).is_none() {
                bail!(
                    "key {key} ({:?}) is not in the validator set in force; its approval would not count",
                    hsm.label
                );
            }
            if !yes {
                confirm_text(
                    &format!("approve {}", change.effective_height),
                    "this approval",
                )?;
            }
            let digest = lightclient::validator::set_change_digest(
                &genesis.chain_id,
                &genesis_hash,
                &current,
                &change.next,
                change.effective_height,
            );
            let signature = signer.sign_digest(digest.as_bytes()).await?;
            change.approvals.retain(|a| a.validator != validator);
            change.approvals.push(lightclient::validator::SetApproval {
                validator,
                signature,
            });
            write_atomically(&file, &serde_json::to_vec_pretty(&change)?)?;
            println!(
                "approved by {key} (validator {validator}); approval added to {}",
                file.display()
            );
        }
        Command::Verify {
            file,
            genesis,
            current,
        } => {
            let genesis = load_genesis(&genesis)?;
            let policy = &genesis.controllers;
            let current_sequence = match current {
                Some(path) => Some(Mapping::parse(&read(&path)?, policy.precision)?.sequence),
                None => None,
            };
            match policy.parse_and_verify(&read(&file)?, &genesis.chain_id, current_sequence) {
                Ok((mapping, signers)) => {
                    println!(
                        "OK: mapping sequence {} on {} signed by {} of {} controllers (threshold {})",
                        mapping.sequence,
                        mapping.chain,
                        signers.len(),
                        policy.public_keys.len(),
                        policy.threshold
                    );
                    for key in signers {
                        println!("  {key}");
                    }
                }
                Err(e) => {
                    eprintln!("REJECTED: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::SoftHsmInit {
            dir,
            token,
            so_pin,
            pin,
            module,
        } => {
            let tokens = dir.join("tokens");
            std::fs::create_dir_all(&tokens)
                .with_context(|| format!("creating {}", tokens.display()))?;
            let conf = dir.join("softhsm2.conf");
            let text = format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                std::fs::canonicalize(&tokens)?.display()
            );
            std::fs::write(&conf, text)?;
            // SoftHSM reads SOFTHSM2_CONF once, when the module initialises; run the token setup
            // in a child process that has it.
            let status = std::process::Command::new(std::env::current_exe()?)
                .arg("init-token-in-store")
                .args([
                    "--token",
                    &token,
                    "--so-pin",
                    &pin_arg(&so_pin),
                    "--pin",
                    &pin_arg(&pin),
                ])
                .arg("--module")
                .arg(&module)
                .env("SOFTHSM2_CONF", &conf)
                .status()?;
            if !status.success() {
                bail!("token initialisation failed");
            }
            println!(
                "export SOFTHSM2_CONF={}",
                std::fs::canonicalize(&conf)?.display()
            );
        }
        Command::InitTokenInStore {
            token,
            so_pin,
            pin,
            module,
        } => {
            let so: SecretString = so_pin.read()?;
            let user: SecretString = pin.read()?;
            signer::pkcs11::init_token(&module, &token, &so, &user)?;
            eprintln!("initialised token {token:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pin_arg(source: &PinSource) -> String {
    match source {
        PinSource::Env(name) => format!("env:{name}"),
        PinSource::File(path) => format!("file:{}", path.display()),
        _ => String::new(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
