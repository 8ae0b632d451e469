//! A small chain to test the ledger on: admins, a settlement institution, two banks, one
//! deposit-backed asset.

use appliance::ledger::{BlockContext, LedgerError, LedgerState, Outcome, SignatureCheck};
use k256::ecdsa::SigningKey;
use lightclient::genesis::{Genesis, GenesisAccount, GenesisAsset, asset_id_for_code};
use lightclient::hash::{Hash32, sha256};
use lightclient::header::ChainId;
use lightclient::keys::{AccountId, AssetId, PublicKey, Signature};
use lightclient::mapping::ControllerPolicy;
use lightclient::tx::{
    BackingKind, KycState, Operation, Role, SignedTransaction, TRANSACTION_VERSION, Transaction,
    registration_digest,
};
use lightclient::validator::{Validator, ValidatorSet};

pub fn key(seed: u8) -> SigningKey {
    let mut secret = [0x22u8; 32];
    secret[31] = seed;
    SigningKey::from_bytes(&secret.into()).unwrap()
}

pub fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from_compressed(
        key.verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .try_into()
            .unwrap(),
    )
    .unwrap()
}

pub fn sign(key: &SigningKey, digest: &Hash32) -> Signature {
    let (sig, _) = key.sign_prehash_recoverable(digest.as_bytes()).unwrap();
    Signature::from(sig).normalize_s().unwrap()
}

pub const SUPER: u8 = 1;
pub const KYC: u8 = 2;
pub const SECURITY: u8 = 3;
pub const ISSUANCE: u8 = 4;
pub const SETTLEMENT: u8 = 5;
pub const BANK_A: u8 = 6;
pub const BANK_B: u8 = 7;
pub const VAULT: u8 = 8;
pub const CONTROLLERS: [u8; 3] = [91, 92, 93];

pub struct World {
    pub state: LedgerState,
    pub height: u64,
    salt: u64,
    /// The genesis hash its transactions are bound to.
    pub genesis_hash: Hash32,
}

pub fn id(seed: u8) -> AccountId {
    public(&key(seed)).account_id()
}

pub fn usdx() -> AssetId {
    asset_id_for_code("USDX")
}

pub fn chain() -> ChainId {
    ChainId::new("abt-ledger-1").unwrap()
}

pub fn genesis() -> Genesis {
    let account = |seed: u8, roles: Vec<Role>| GenesisAccount {
        public_key: public(&key(seed)),
        roles,
        kyc_state: KycState::Corporate,
        asset_holder: None,
    };
    let genesis = Genesis {
        chain_id: chain(),
        genesis_time_ms: 1_795_000_000_000,
        validators: ValidatorSet::new(vec![Validator {
            public_key: public(&key(90)),
            voting_power: 1,
        }])
        .unwrap(),
        controllers: ControllerPolicy {
            threshold: 2,
            public_keys: CONTROLLERS.iter().map(|c| public(&key(*c))).collect(),
            precision: 3,
        },
        accounts: vec![
            account(SUPER, vec![Role::SuperAdmin]),
            account(KYC, vec![Role::KycAdmin]),
            account(SECURITY, vec![Role::SecurityAdmin]),
            account(ISSUANCE, vec![Role::IssuanceAdmin]),
            account(SETTLEMENT, vec![Role::SettlementInstitution]),
            account(BANK_A, vec![Role::AssetHolder]),
            account(BANK_B, vec![Role::AssetHolder]),
            account(VAULT, vec![Role::VaultStaff]),
        ],
        assets: vec![GenesisAsset {
            code: "USDX".into(),
            precision: 2,
            backing: BackingKind::DepositBacked,
            maximum: 1_000_000_000,
        }],
    };
    genesis.validate().unwrap();
    genesis
}

/// The hash of [`genesis`], computed once.
pub fn genesis_hash() -> Hash32 {
    static HASH: std::sync::OnceLock<Hash32> = std::sync::OnceLock::new();
    *HASH.get_or_init(|| genesis().hash().unwrap())
}

impl World {
    pub fn new() -> World {
        Self::with_genesis(&genesis())
    }

    /// The world of another genesis (other validators, say).
    pub fn with_genesis(genesis: &Genesis) -> World {
        genesis.validate().unwrap();
        let hash = genesis.hash().unwrap();
        World {
            state: LedgerState::from_genesis(genesis, hash),
            height: 1,
            salt: 0,
            genesis_hash: hash,
        }
    }

    /// Executes `operation` signed by the account whose key is seeded `seed`.
    pub fn run(&mut self, seed: u8, operation: Operation) -> Result<(), LedgerError> {
        self.run_as(&key(seed), self.state_id(seed), operation)
    }

    fn state_id(&self, seed: u8) -> AccountId {
        // After key recovery an account keeps its id; tests name accounts by their first key.
        id(seed)
    }

    pub fn run_as(
        &mut self,
        signing: &SigningKey,
        signer: AccountId,
        operation: Operation,
    ) -> Result<(), LedgerError> {
        self.salt += 1;
        let tx = Transaction {
            version: TRANSACTION_VERSION,
            chain_id: chain(),
            genesis_hash: self.genesis_hash,
            signer,
            public_key: public(signing),
            salt: self.salt,
            expires_at_height: self.height + 100,
            operation,
        };
        let ctx = self.ctx();
        self.height += 1;
        let result = self.state.execute(&tx, ctx);
        self.state.check_invariants().unwrap();
        result
    }

    /// A transaction signed by account `seed`, expiring `lifetime` blocks from now.
    pub fn signed(&mut self, seed: u8, operation: Operation, lifetime: u64) -> SignedTransaction {
        self.salt += 1;
        let transaction = Transaction {
            version: TRANSACTION_VERSION,
            chain_id: chain(),
            genesis_hash: self.genesis_hash,
            signer: id(seed),
            public_key: public(&key(seed)),
            salt: self.salt,
            expires_at_height: self.height + lifetime,
            operation,
        };
        let signature = sign(&key(seed), &transaction.txid());
        SignedTransaction {
            transaction,
            signature,
        }
    }

    /// Applies a signed transaction through the full path (signature, expiry, replay, audit).
    pub fn apply(&mut self, tx: &SignedTransaction) -> Outcome {
        let ctx = self.ctx();
        self.height += 1;
        let outcome = self.state.apply(tx, ctx, SignatureCheck::Verify);
        self.state.check_invariants().unwrap();
        outcome
    }

    pub fn ctx(&self) -> BlockContext {
        BlockContext {
            height: self.height,
            time_ms: 1_795_000_000_000 + self.height * 1_000,
            entropy: sha256(&self.height.to_be_bytes()),
        }
    }

    /// Registers holder `seed` with bank `bank` and verifies its KYC.
    pub fn holder(&mut self, seed: u8, bank: u8) -> AccountId {
        let challenge = sha256(&[seed, bank]);
        let digest = registration_digest(&chain(), &id(bank), &challenge);
        self.run(
            bank,
            Operation::RegisterHolder {
                public_key: public(&key(seed)),
                challenge,
                holder_signature: sign(&key(seed), &digest),
            },
        )
        .unwrap();
        self.run(
            KYC,
            Operation::SetKycState {
                account: id(seed),
                state: KycState::Verified,
            },
        )
        .unwrap();
        id(seed)
    }
}

/// A mapping of `assets` at `sequence`, signed by the controllers at `signers`.
pub fn signed_mapping(
    sequence: u64,
    assets: Vec<lightclient::mapping::MappedAsset>,
    signers: &[usize],
) -> Vec<u8> {
    let mut mapping = lightclient::mapping::Mapping::new(
        chain(),
        sequence,
        1,
        "2026-11-21T12:00:00Z".into(),
        assets,
        3,
    )
    .unwrap();
    let digest = mapping.signing_digest().unwrap();
    for &i in signers {
        let controller = key(CONTROLLERS[i]);
        let authkey = u64::try_from(i).unwrap() + 1;
        mapping.add_signature(authkey, &sign(&controller, &digest));
    }
    mapping.to_json_bytes().unwrap()
}

pub fn entry(asset: AssetId, amount: &str, vref: &str) -> lightclient::mapping::MappedAsset {
    lightclient::mapping::MappedAsset {
        assetid: asset,
        amount: amount.into(),
        vref: vref.into(),
        location: "London vault 1".into(),
        issuer: "issuer".into(),
        refiner: "Valcambi".into(),
        fineness: "999.9".into(),
    }
}
