//! Development accounts for local federations: admin, settlement-institution and bank keys
//! derived from public names, so the launcher and the load generator can sign as them.
//! **Anyone can derive these keys**: a genesis that contains them is for a laptop, never for a
//! chain that holds value. Validator and controller keys are never made here; they come from HSMs.

use k256::ecdsa::SigningKey;
use lightclient::genesis::{Genesis, GenesisAccount, GenesisAsset};
use lightclient::keys::{PublicKey, Signature};
use lightclient::mapping::ControllerPolicy;
use lightclient::tx::{
    BackingKind, ChainBinding, KycState, Operation, Role, SignedTransaction, TRANSACTION_VERSION,
    Transaction,
};
use lightclient::validator::{Validator, ValidatorSet};

/// The named development accounts and their roles.
pub const DEV_ACCOUNTS: [(&str, &[Role]); 6] = [
    (
        "super-admin",
        &[
            Role::SuperAdmin,
            Role::FeesAdmin,
            Role::LimitsAdmin,
            Role::SecurityAdmin,
        ],
    ),
    ("kyc-admin", &[Role::KycAdmin]),
    ("issuance-admin", &[Role::IssuanceAdmin]),
    ("settlement", &[Role::SettlementInstitution]),
    ("bank", &[Role::AssetHolder]),
    ("vault", &[Role::VaultStaff]),
];

/// Why a development key or genesis could not be made.
#[derive(Debug, thiserror::Error)]
#[error("development genesis: {0}")]
pub struct DevError(String);

/// The development key called `name` (for example `bank`, or `holder-17`).
pub fn dev_key(name: &str) -> Result<SigningKey, DevError> {
    let secret = lightclient::genesis::dev_account_secret(name);
    SigningKey::from_bytes(&secret.0.into()).map_err(|e| DevError(e.to_string()))
}

/// Its public key.
pub fn dev_public(name: &str) -> Result<PublicKey, DevError> {
    let key = dev_key(name)?;
    let point = key.verifying_key().to_encoded_point(true);
    let bytes: [u8; 33] = point
        .as_bytes()
        .try_into()
        .map_err(|_| DevError("not a compressed point".into()))?;
    PublicKey::from_compressed(bytes).map_err(|e| DevError(e.to_string()))
}

/// Signs `operation` as development account `name`.
pub fn dev_sign(
    name: &str,
    chain: &ChainBinding,
    operation: Operation,
    salt: u64,
    expires_at_height: u64,
) -> Result<SignedTransaction, DevError> {
    let key = dev_key(name)?;
    let public_key = dev_public(name)?;
    let transaction = Transaction {
        version: TRANSACTION_VERSION,
        chain_id: chain.chain_id.clone(),
        genesis_hash: chain.genesis_hash,
        signer: public_key.account_id(),
        public_key,
        salt,
        expires_at_height,
        operation,
    };
    let (signature, _) = key
        .sign_prehash_recoverable(transaction.txid().as_bytes())
        .map_err(|e| DevError(e.to_string()))?;
    let signature = Signature::from(signature)
        .normalize_s()
        .map_err(|e| DevError(e.to_string()))?;
    Ok(SignedTransaction {
        transaction,
        signature,
    })
}

/// A development genesis: the given HSM validator and controller keys, the development accounts
/// and one deposit-backed asset `USDX`.
pub fn dev_genesis(
    chain_id: &str,
    genesis_time_ms: u64,
    validators: &[PublicKey],
    controllers: &[PublicKey],
    threshold: usize,
) -> Result<Genesis, DevError> {
    let validators = ValidatorSet::new(
        validators
            .iter()
            .map(|k| Validator {
                public_key: *k,
                voting_power: 1,
            })
            .collect(),
    )
    .map_err(|e| DevError(e.to_string()))?;
    let mut accounts = Vec::new();
    for (name, roles) in DEV_ACCOUNTS {
        accounts.push(GenesisAccount {
            public_key: dev_public(name)?,
            roles: roles.to_vec(),
            kyc_state: KycState::Corporate,
            asset_holder: None,
        });
    }
    let genesis = Genesis {
        chain_id: lightclient::header::ChainId::new(chain_id)
            .map_err(|e| DevError(e.to_string()))?,
        genesis_time_ms,
        validators,
        controllers: ControllerPolicy {
            threshold,
            public_keys: controllers.to_vec(),
            precision: 3,
        },
        accounts,
        assets: vec![GenesisAsset {
            code: "USDX".into(),
            precision: 2,
            backing: BackingKind::DepositBacked,
            maximum: 10u128.pow(24),
        }],
    };
    genesis.validate().map_err(|e| DevError(e.to_string()))?;
    Ok(genesis)
}
