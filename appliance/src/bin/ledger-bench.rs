//! `ledger-bench`: applies synthetic transfer-heavy blocks to a real store and reports block
//! application throughput. Also the writer the crash test kills: with `--forever` it commits
//! blocks until stopped, printing `committed <height>` after each fsynced commit.
//!
//! Keys here are software keys derived from an index: this is a load generator, not a wallet.
#![allow(clippy::print_stdout, clippy::print_stderr)]
// a command-line program reports to the terminal
// A load generator: its counters and synthetic amounts are small by construction.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use appliance::chain::{BlockInput, Chain};
use appliance::ledger::SignatureCheck;
use clap::Parser;
use k256::ecdsa::SigningKey;
use lightclient::genesis::{Genesis, GenesisAccount, GenesisAsset, asset_id_for_code};
use lightclient::hash::sha256;
use lightclient::header::ChainId;
use lightclient::keys::{PublicKey, Signature, ValidatorAddress};
use lightclient::mapping::ControllerPolicy;
use lightclient::tx::{
    BackingKind, ChainBinding, KycState, Operation, Role, SignedTransaction, TRANSACTION_VERSION,
    Transaction,
};
use lightclient::validator::{Validator, ValidatorSet};

#[derive(Parser)]
#[command(about = "Block application throughput on a real fjall store (synthetic transfers)")]
struct Args {
    /// Store directory (created if missing; reused to continue a chain).
    #[arg(long)]
    store: PathBuf,
    /// Token holders.
    #[arg(long, default_value_t = 1_000)]
    holders: u32,
    /// Transactions per block.
    #[arg(long, default_value_t = 500)]
    block_size: usize,
    /// Blocks to apply (after the funding blocks).
    #[arg(long, default_value_t = 10)]
    blocks: u64,
    /// Skip signature verification (as when the mempool verified on entry).
    #[arg(long)]
    no_verify: bool,
    /// Ledger snapshot interval, in blocks.
    #[arg(long, default_value_t = 100)]
    snapshot_every: u64,
    /// Commit blocks until killed, printing each committed height.
    #[arg(long)]
    forever: bool,
    /// Print the genesis file this tool uses for `--holders` and exit.
    #[arg(long)]
    print_genesis: bool,
}

fn key(index: u32) -> anyhow::Result<SigningKey> {
    let secret = sha256(&index.to_be_bytes());
    Ok(SigningKey::from_bytes(&secret.0.into())?)
}

fn public(key: &SigningKey) -> anyhow::Result<PublicKey> {
    let point = key.verifying_key().to_encoded_point(true);
    Ok(PublicKey::from_compressed(point.as_bytes().try_into()?)?)
}

const SETTLEMENT: u32 = 0;
const BANK: u32 = 1;
const FIRST_HOLDER: u32 = 10;

fn genesis(holders: u32) -> anyhow::Result<Genesis> {
    let bank = public(&key(BANK)?)?.account_id();
    let mut accounts = vec![
        GenesisAccount {
            public_key: public(&key(SETTLEMENT)?)?,
            roles: vec![Role::SuperAdmin, Role::SettlementInstitution],
            kyc_state: KycState::Corporate,
            asset_holder: None,
        },
        GenesisAccount {
            public_key: public(&key(BANK)?)?,
            roles: vec![Role::AssetHolder],
            kyc_state: KycState::Corporate,
            asset_holder: None,
        },
    ];
    for i in 0..holders {
        accounts.push(GenesisAccount {
            public_key: public(&key(FIRST_HOLDER + i)?)?,
            roles: vec![],
            kyc_state: KycState::Verified,
            asset_holder: Some(bank),
        });
    }
    let genesis = Genesis {
        chain_id: ChainId::new("abt-bench-1")?,
        genesis_time_ms: 1_795_000_000_000,
        validators: ValidatorSet::new(vec![Validator {
            public_key: public(&key(2)?)?,
            voting_power: 1,
        }])?,
        controllers: ControllerPolicy {
            threshold: 1,
            public_keys: vec![public(&key(3)?)?],
            precision: 3,
        },
        accounts,
        assets: vec![GenesisAsset {
            code: "USDX".into(),
            precision: 2,
            backing: BackingKind::DepositBacked,
            maximum: u128::MAX / 4,
        }],
    };
    genesis.validate()?;
    Ok(genesis)
}

struct Signer {
    keys: Vec<(SigningKey, PublicKey)>,
    chain: ChainBinding,
    salt: u64,
}

impl Signer {
    fn tx(
        &mut self,
        index: u32,
        operation: Operation,
        height: u64,
    ) -> anyhow::Result<SignedTransaction> {
        let (key, public_key) = self
            .keys
            .get(usize::try_from(index)?)
            .context("no such key")?;
        self.salt += 1;
        let transaction = Transaction {
            version: TRANSACTION_VERSION,
            chain_id: self.chain.chain_id.clone(),
            genesis_hash: self.chain.genesis_hash,
            signer: public_key.account_id(),
            public_key: *public_key,
            salt: self.salt,
            expires_at_height: height + 100,
            operation,
        };
        let (sig, _) = key.sign_prehash_recoverable(transaction.txid().as_bytes())?;
        Ok(SignedTransaction {
            transaction,
            signature: Signature::from(sig).normalize_s()?,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let genesis = genesis(args.holders)?;
    if args.print_genesis {
        println!("{}", serde_json::to_string_pretty(&genesis)?);
        return Ok(());
    }
    let usdx = asset_id_for_code("USDX");
    let mut signer = Signer {
        keys: (0..FIRST_HOLDER + args.holders)
            .map(|i| Ok((key(i)?, public(&key(i)?)?)))
            .collect::<anyhow::Result<_>>()?,
        chain: genesis.binding()?,
        salt: 0,
    };
    let check = if args.no_verify {
        SignatureCheck::AlreadyVerified
    } else {
        SignatureCheck::Verify
    };
    let mut chain = Chain::open(&args.store, genesis, args.snapshot_every)?;
    // Salts must not repeat across runs on one store: start past every earlier run.
    signer.salt = chain.height() * 1_000_000;
    let proposer = ValidatorAddress([0; 20]);
    let time = |h: u64| 1_795_000_000_000 + h * 1_000;

    if chain.height() == 0 {
        let funding = u128::from(args.holders) * 1_000_000;
        let deposit = signer.tx(
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: public(&key(BANK)?)?.account_id(),
                asset: usdx,
                amount: funding,
            },
            1,
        )?;
        chain.execute(
            BlockInput {
                time_ms: time(1),
                proposer,
                transactions: vec![deposit],
            },
            check,
        )?;
        let issues = (0..args.holders)
            .map(|i| {
                signer.tx(
                    BANK,
                    Operation::Issue {
                        to: signer.keys[usize::try_from(FIRST_HOLDER + i)?]
                            .1
                            .account_id(),
                        asset: usdx,
                        amount: 1_000_000,
                    },
                    2,
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        chain.execute(
            BlockInput {
                time_ms: time(2),
                proposer,
                transactions: issues,
            },
            check,
        )?;
    }

    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ chain.height();
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut applied = 0u64;
    let mut busy = std::time::Duration::ZERO;
    let mut block = 0u64;
    while args.forever || block < args.blocks {
        let height = chain.height() + 1;
        let transactions = (0..args.block_size)
            .map(|_| {
                let from = u32::try_from(next() % u64::from(args.holders))?;
                let to = u32::try_from(next() % u64::from(args.holders))?;
                let to = if to == from {
                    (to + 1) % args.holders
                } else {
                    to
                };
                let receiver = signer.keys[usize::try_from(FIRST_HOLDER + to)?]
                    .1
                    .account_id();
                signer.tx(
                    FIRST_HOLDER + from,
                    Operation::Transfer {
                        to: receiver,
                        asset: usdx,
                        amount: u128::from(1 + next() % 100),
                        expected_fee: 0,
                    },
                    height,
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let started = Instant::now();
        let (_, outcomes) = chain.execute(
            BlockInput {
                time_ms: time(height),
                proposer,
                transactions,
            },
            check,
        )?;
        busy += started.elapsed();
        applied += outcomes.iter().filter(|o| o.error.is_none()).count() as u64;
        block += 1;
        if args.forever {
            println!("committed {height}");
            std::io::stdout().flush()?;
        }
    }
    let seconds = busy.as_secs_f64();
    println!(
        "block size {:>5}, signatures {}: {} blocks, {} transfers applied in {:.2} s of block application: {:.0} tx/s, {:.1} ms per block",
        args.block_size,
        if args.no_verify {
            "pre-verified"
        } else {
            "verified   "
        },
        block,
        applied,
        seconds,
        applied as f64 / seconds,
        seconds * 1_000.0 / block as f64
    );
    Ok(())
}
