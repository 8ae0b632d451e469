//! The genesis file: the chain's root of trust.

use std::collections::BTreeSet;

use crate::amount::{MAX_PRECISION, u128_string};
use crate::hash::{Hash32, tagged_hash, tags};
use crate::header::ChainId;
use crate::jcs::{CanonicalError, canonicalize};
use crate::keys::{AccountId, AssetId, PublicKey};
use crate::mapping::{ControllerPolicy, Mapping, MappingError, PolicyError};
use crate::tx::{BackingKind, KycState, Role};
use crate::validator::ValidatorSet;

/// An account that exists from the start.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Its key; the account id is derived from it.
    pub public_key: PublicKey,
    /// Its roles.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Its KYC state.
    pub kyc_state: KycState,
    /// The asset holder it banks with, for token holders.
    #[serde(default)]
    pub asset_holder: Option<AccountId>,
}

/// An asset that exists from the start.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAsset {
    /// Unique code; the asset id is [`asset_id_for_code`] of it.
    pub code: String,
    /// Decimals.
    pub precision: u8,
    /// What backs it.
    pub backing: BackingKind,
    /// Most base units ever in supply.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "u128_string")]
    pub maximum: u128,
}

/// The genesis document.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain.
    pub chain_id: ChainId,
    /// Genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// The validators that certify block 1.
    pub validators: ValidatorSet,
    /// Who signs mapping objects.
    pub controllers: ControllerPolicy,
    /// Initial accounts.
    pub accounts: Vec<GenesisAccount>,
    /// Initial assets.
    pub assets: Vec<GenesisAsset>,
}

/// Why a genesis file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    /// Not JSON of the genesis shape.
    #[error("genesis is not valid genesis JSON: {0}")]
    Json(String),
    /// The controller policy is unusable.
    #[error("controller policy: {0}")]
    Policy(#[from] PolicyError),
    /// Two accounts with one key.
    #[error("account {0} is listed twice")]
    DuplicateAccount(PublicKey),
    /// Nobody can grant roles.
    #[error("no account holds the super_admin role")]
    NoSuperAdmin,
    /// An asset code that is not 1 to 16 characters of A-Z, 0-9.
    #[error("asset code {0:?} must be 1 to 16 characters of A-Z and 0-9")]
    BadAssetCode(String),
    /// Two assets with one code.
    #[error("asset code {0} is listed twice")]
    DuplicateAsset(String),
    /// An asset precision beyond the maximum.
    #[error("asset {code} has precision {precision}, more than {MAX_PRECISION}")]
    Precision {
        /// The asset.
        code: String,
        /// Its precision.
        precision: u8,
    },
    /// A number that canonical JSON cannot carry.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// Whether `code` is an acceptable asset code.
pub fn is_valid_asset_code(code: &str) -> bool {
    (1..=16).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The asset id of a deposit-backed asset with `code`.
pub fn asset_id_for_code(code: &str) -> AssetId {
    AssetId(tagged_hash(tags::ASSET_CODE, code.as_bytes()).0)
}

impl Genesis {
    /// Parses and validates a genesis file.
    pub fn from_json(bytes: &[u8]) -> Result<Self, GenesisError> {
        let genesis: Genesis =
            serde_json::from_slice(bytes).map_err(|e| GenesisError::Json(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Checks the rules serde cannot.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.controllers.validate()?;
        let mut keys = BTreeSet::new();
        for account in &self.accounts {
            if !keys.insert(account.public_key) {
                return Err(GenesisError::DuplicateAccount(account.public_key));
            }
        }
        if !self
            .accounts
            .iter()
            .any(|a| a.roles.contains(&Role::SuperAdmin))
        {
            return Err(GenesisError::NoSuperAdmin);
        }
        let mut codes = BTreeSet::new();
        for asset in &self.assets {
            if !is_valid_asset_code(&asset.code) {
                return Err(GenesisError::BadAssetCode(asset.code.clone()));
            }
            if !codes.insert(asset.code.as_str()) {
                return Err(GenesisError::DuplicateAsset(asset.code.clone()));
            }
            if asset.precision > MAX_PRECISION {
                return Err(GenesisError::Precision {
                    code: asset.code.clone(),
                    precision: asset.precision,
                });
            }
        }
        // The hash must be computable.
        self.canonical_bytes()?;
        Ok(())
    }

    /// RFC 8785 canonical JSON of the genesis document.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, GenesisError> {
        let value = serde_json::to_value(self).map_err(|e| GenesisError::Json(e.to_string()))?;
        Ok(canonicalize(&value)?)
    }

    /// The genesis hash: the tagged hash of the canonical JSON. Block 1's previous block hash.
    pub fn hash(&self) -> Result<Hash32, GenesisError> {
        Ok(tagged_hash(tags::GENESIS, &self.canonical_bytes()?))
    }

    /// The chain binding every transaction of this chain carries.
    pub fn binding(&self) -> Result<crate::tx::ChainBinding, GenesisError> {
        Ok(crate::tx::ChainBinding {
            chain_id: self.chain_id.clone(),
            genesis_hash: self.hash()?,
        })
    }

    /// The mapping in force before any update: sequence 0, no holdings, no signatures (genesis
    /// itself is trusted).
    pub fn initial_mapping(&self) -> Result<Mapping, MappingError> {
        Mapping::new(
            self.chain_id.clone(),
            0,
            0,
            String::new(),
            Vec::new(),
            self.controllers.precision,
        )
    }
}

/// The secret of development account `name` (`bank`, `holder-17`, ...): a tagged hash of the
/// name. **Anyone can derive it**: the development genesis that holds these accounts is for a
/// laptop, never for value. Tools use it to sign as the development accounts.
pub fn dev_account_secret(name: &str) -> Hash32 {
    tagged_hash("ABT/dev-key/v1 (public, never for value)", name.as_bytes())
}
