//! The mapping object: the signed JSON that links on-chain asset ids to physical items.
//!
//! Controllers sign SHA-256 of the RFC 8785 canonical form of the object without `signatures`
//! (ADR 0002). The object is published as its canonical form with signatures; headers commit to
//! SHA-256 of those exact bytes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::amount::{AmountError, MAX_PRECISION, parse_amount};
use crate::hash::{Hash32, parse_hex_array, sha256};
use crate::header::ChainId;
use crate::jcs::{CanonicalError, MAX_SAFE_INTEGER, canonicalize};
use crate::keys::{AssetId, PublicKey, Signature};

/// One mapped holding: `amount` of asset `assetid` is backed by item `vref`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappedAsset {
    /// The on-chain asset.
    pub assetid: AssetId,
    /// Token amount as signed (decimal string).
    pub amount: String,
    /// The physical item's reference (bar serial).
    pub vref: String,
    /// Vault location.
    pub location: String,
    /// Issuer.
    pub issuer: String,
    /// Refiner.
    pub refiner: String,
    /// Fineness as printed on the item, e.g. `999.9`.
    pub fineness: String,
}

/// One controller signature.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSignature {
    /// The controller's key as its 1-based position in the controller policy's `public_keys`
    /// (the Ocean asset-mapping note's form: `"authkey": 1`).
    pub authkey: u64,
    /// `r`, 64 hex characters.
    pub r: String,
    /// `s`, 64 hex characters (low-S).
    pub s: String,
}

/// The JSON as received, before amounts are checked.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    date: String,
    chain: ChainId,
    sequence: u64,
    height: u64,
    assets: Vec<RawMappedAsset>,
    #[serde(default)]
    signatures: Vec<MappingSignature>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMappedAsset {
    assetid: AssetId,
    amount: Value,
    vref: String,
    location: String,
    issuer: String,
    refiner: String,
    fineness: String,
}

/// A parsed mapping object whose amounts are valid for the policy's precision.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mapping {
    /// When it was drafted (free text, conventionally RFC 3339).
    pub date: String,
    /// The chain it belongs to.
    pub chain: ChainId,
    /// Strictly increasing version number.
    pub sequence: u64,
    /// Ledger height it was drafted at.
    pub height: u64,
    /// Holdings.
    pub assets: Vec<MappedAsset>,
    /// Controller signatures.
    pub signatures: Vec<MappingSignature>,
    #[serde(skip)]
    units: Vec<u128>,
}

/// Why a mapping object is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// Not JSON of the mapping's shape (syntax, a missing, unknown or repeated field, a wrong type).
    #[error("mapping is not valid mapping JSON: {0}")]
    Json(String),
    /// An amount given as a JSON number (floats lose value; amounts are decimal strings).
    #[error("assets[{index}].amount must be a decimal string, not {found}")]
    AmountNotString {
        /// Entry index.
        index: usize,
        /// What was there.
        found: String,
    },
    /// An amount string that is not a valid amount.
    #[error("assets[{index}].amount: {source}")]
    Amount {
        /// Entry index.
        index: usize,
        /// What is wrong with it.
        source: AmountError,
    },
    /// An amount of zero.
    #[error("assets[{index}].amount is zero")]
    ZeroAmount {
        /// Entry index.
        index: usize,
    },
    /// A required text field is empty.
    #[error("assets[{index}].{field} is empty")]
    EmptyField {
        /// Entry index.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// The same (assetid, vref) twice.
    #[error("assets[{index}] repeats asset {assetid} on item {vref}")]
    DuplicateEntry {
        /// Entry index.
        index: usize,
        /// The asset.
        assetid: AssetId,
        /// The item.
        vref: String,
    },
    /// Mapped amounts of one asset sum beyond u128.
    #[error("mapped amounts of asset {0} overflow")]
    TotalOverflow(AssetId),
    /// A number JCS cannot represent exactly.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// A signature entry whose key or scalars are not well-formed hex.
    #[error("signatures[{index}] is malformed: {reason}")]
    MalformedSignature {
        /// Entry index.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The mapping names another chain.
    #[error("mapping is for chain {found}, expected {expected}")]
    WrongChain {
        /// The chain verified against.
        expected: ChainId,
        /// The mapping's chain.
        found: ChainId,
    },
    /// `sequence` is not above the current mapping's.
    #[error("mapping sequence {sequence} is not above the current sequence {current}")]
    StaleSequence {
        /// The mapping's sequence.
        sequence: u64,
        /// The current one.
        current: u64,
    },
    /// An `authkey` that is no position in the controller policy (they count from 1).
    #[error(
        "signature {index} names authkey {authkey}, but the policy has controller keys 1 to {keys}"
    )]
    AuthkeyOutOfRange {
        /// The signature's position in `signatures`.
        index: usize,
        /// The `authkey` it names.
        authkey: u64,
        /// How many controller keys the policy has.
        keys: usize,
    },
    /// Two signatures name the same controller.
    #[error("signature {index} names authkey {authkey}, which an earlier signature names too")]
    RepeatedAuthkey {
        /// The later signature's position in `signatures`.
        index: usize,
        /// The controller named twice.
        authkey: u64,
    },
    /// A signature that does not verify under the key its `authkey` names.
    #[error("signature ({r}, {s}) by authkey {authkey} ({key}) does not verify")]
    BadSignature {
        /// The `authkey` it names.
        authkey: u64,
        /// That controller's key.
        key: PublicKey,
        /// `r`, hex.
        r: String,
        /// `s`, hex.
        s: String,
    },
    /// Fewer distinct controllers signed than the threshold.
    #[error("{valid} distinct controllers signed; {required} are required")]
    NotEnoughSignatures {
        /// Distinct valid signers.
        valid: usize,
        /// The threshold n.
        required: usize,
    },
}

impl Mapping {
    /// Parses the JSON bytes of a mapping whose amounts have at most `precision` decimals.
    pub fn parse(bytes: &[u8], precision: u8) -> Result<Self, MappingError> {
        let raw: RawMapping =
            serde_json::from_slice(bytes).map_err(|e| MappingError::Json(e.to_string()))?;
        let authkeys = raw.signatures.iter().map(|s| s.authkey);
        for n in [raw.sequence, raw.height].into_iter().chain(authkeys) {
            if n > MAX_SAFE_INTEGER {
                return Err(CanonicalError::UnsupportedNumber(n.to_string()).into());
            }
        }
        let mut assets = Vec::with_capacity(raw.assets.len());
        let mut units = Vec::with_capacity(raw.assets.len());
        let mut seen = BTreeSet::new();
        let mut totals: BTreeMap<AssetId, u128> = BTreeMap::new();
        for (index, entry) in raw.assets.into_iter().enumerate() {
            let amount = match entry.amount {
                Value::String(s) => s,
                other => {
                    return Err(MappingError::AmountNotString {
                        index,
                        found: other.to_string(),
                    });
                }
            };
            let value = parse_amount(&amount, precision)
                .map_err(|source| MappingError::Amount { index, source })?;
            if value == 0 {
                return Err(MappingError::ZeroAmount { index });
            }
            for (field, text) in [("vref", &entry.vref), ("issuer", &entry.issuer)] {
                if text.is_empty() {
                    return Err(MappingError::EmptyField { index, field });
                }
            }
            if !seen.insert((entry.assetid, entry.vref.clone())) {
                return Err(MappingError::DuplicateEntry {
                    index,
                    assetid: entry.assetid,
                    vref: entry.vref,
                });
            }
            let total = totals.entry(entry.assetid).or_insert(0);
            *total = total
                .checked_add(value)
                .ok_or(MappingError::TotalOverflow(entry.assetid))?;
            units.push(value);
            assets.push(MappedAsset {
                assetid: entry.assetid,
                amount,
                vref: entry.vref,
                location: entry.location,
                issuer: entry.issuer,
                refiner: entry.refiner,
                fineness: entry.fineness,
            });
        }
        Ok(Mapping {
            date: raw.date,
            chain: raw.chain,
            sequence: raw.sequence,
            height: raw.height,
            assets,
            signatures: raw.signatures,
            units,
        })
    }

    /// Builds an unsigned mapping from parts, checking amounts as [`Mapping::parse`] does.
    pub fn new(
        chain: ChainId,
        sequence: u64,
        height: u64,
        date: String,
        assets: Vec<MappedAsset>,
        precision: u8,
    ) -> Result<Self, MappingError> {
        let draft = Mapping {
            date,
            chain,
            sequence,
            height,
            assets,
            signatures: Vec::new(),
            units: Vec::new(),
        };
        Mapping::parse(&draft.to_json_bytes()?, precision)
    }

    /// Each entry's amount in base units, in entry order.
    pub fn amounts(&self) -> impl Iterator<Item = (&MappedAsset, u128)> {
        self.assets.iter().zip(self.units.iter().copied())
    }

    /// Mapped amount per asset, in base units.
    pub fn totals(&self) -> BTreeMap<AssetId, u128> {
        let mut totals = BTreeMap::new();
        for (entry, units) in self.amounts() {
            let total: &mut u128 = totals.entry(entry.assetid).or_insert(0);
            // Checked when parsed.
            *total = total.saturating_add(units);
        }
        totals
    }

    fn to_value(&self, with_signatures: bool) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("date".into(), Value::String(self.date.clone()));
        object.insert("chain".into(), Value::String(self.chain.to_string()));
        object.insert("sequence".into(), Value::from(self.sequence));
        object.insert("height".into(), Value::from(self.height));
        let assets = self
            .assets
            .iter()
            .map(|a| serde_json::to_value(a).unwrap_or(Value::Null));
        object.insert("assets".into(), Value::Array(assets.collect()));
        if with_signatures {
            let sigs = self
                .signatures
                .iter()
                .map(|s| serde_json::to_value(s).unwrap_or(Value::Null));
            object.insert("signatures".into(), Value::Array(sigs.collect()));
        }
        Value::Object(object)
    }

    /// The digest controllers sign: SHA-256 of the canonical JSON without `signatures`.
    pub fn signing_digest(&self) -> Result<Hash32, MappingError> {
        Ok(sha256(&canonicalize(&self.to_value(false))?))
    }

    /// The canonical JSON with signatures: the bytes to publish.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, MappingError> {
        Ok(canonicalize(&self.to_value(true))?)
    }

    /// Appends the signature of the controller at 1-based position `authkey` of the policy
    /// (see [`ControllerPolicy::authkey_of`]).
    pub fn add_signature(&mut self, authkey: u64, signature: &Signature) {
        self.signatures.push(MappingSignature {
            authkey,
            r: hex::encode(signature.r()),
            s: hex::encode(signature.s()),
        });
    }
}

/// The hash a header commits to: SHA-256 of the exact published bytes.
pub fn published_hash(bytes: &[u8]) -> Hash32 {
    sha256(bytes)
}

/// Who may sign mappings, and how many must.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerPolicy {
    /// n: distinct controller signatures required.
    pub threshold: usize,
    /// The m controller keys.
    pub public_keys: Vec<PublicKey>,
    /// Decimals of mapped amounts.
    pub precision: u8,
}

/// Why a controller policy is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// n is 0 or above m.
    #[error("threshold {threshold} must be between 1 and the {keys} controller keys")]
    BadThreshold {
        /// n.
        threshold: usize,
        /// m.
        keys: usize,
    },
    /// A key listed twice.
    #[error("controller key {0} is listed twice")]
    DuplicateKey(PublicKey),
    /// Precision beyond the maximum.
    #[error("precision {0} is more than {MAX_PRECISION}")]
    Precision(u8),
}

impl ControllerPolicy {
    /// Checks 1 <= n <= m, distinct keys and the precision.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let keys = self.public_keys.len();
        if self.threshold == 0 || self.threshold > keys {
            return Err(PolicyError::BadThreshold {
                threshold: self.threshold,
                keys,
            });
        }
        let mut seen = BTreeSet::new();
        for key in &self.public_keys {
            if !seen.insert(key) {
                return Err(PolicyError::DuplicateKey(*key));
            }
        }
        if self.precision > MAX_PRECISION {
            return Err(PolicyError::Precision(self.precision));
        }
        Ok(())
    }

    /// The `authkey` of `key`: its 1-based position in `public_keys`.
    pub fn authkey_of(&self, key: &PublicKey) -> Option<u64> {
        let position = self.public_keys.iter().position(|k| k == key)?;
        u64::try_from(position).ok()?.checked_add(1)
    }

    /// The key at 1-based position `authkey`.
    pub fn key_of(&self, authkey: u64) -> Option<&PublicKey> {
        let position = usize::try_from(authkey.checked_sub(1)?).ok()?;
        self.public_keys.get(position)
    }

    /// Parses and verifies a mapping in one step.
    pub fn parse_and_verify(
        &self,
        bytes: &[u8],
        chain: &ChainId,
        current_sequence: Option<u64>,
    ) -> Result<(Mapping, BTreeSet<PublicKey>), MappingError> {
        let mapping = Mapping::parse(bytes, self.precision)?;
        let signers = self.verify(&mapping, chain, current_sequence)?;
        Ok((mapping, signers))
    }

    /// Verifies that `mapping` belongs to `chain`, is newer than `current_sequence`, and carries
    /// signatures of at least n distinct controllers. Returns the controllers credited.
    ///
    /// Each signature names its controller by `authkey`, the key's 1-based position in the
    /// policy; a position outside the policy, a controller named twice, and a signature that does
    /// not verify under the named key are each an error. Whether it verifies does not depend on
    /// the order of `signatures`.
    pub fn verify(
        &self,
        mapping: &Mapping,
        chain: &ChainId,
        current_sequence: Option<u64>,
    ) -> Result<BTreeSet<PublicKey>, MappingError> {
        if mapping.chain != *chain {
            return Err(MappingError::WrongChain {
                expected: chain.clone(),
                found: mapping.chain.clone(),
            });
        }
        if let Some(current) = current_sequence
            && mapping.sequence <= current
        {
            return Err(MappingError::StaleSequence {
                sequence: mapping.sequence,
                current,
            });
        }
        let digest = mapping.signing_digest()?;
        let mut named = BTreeSet::new();
        let mut credited = BTreeSet::new();
        for (index, entry) in mapping.signatures.iter().enumerate() {
            let malformed = |reason: String| MappingError::MalformedSignature { index, reason };
            let key = self
                .key_of(entry.authkey)
                .ok_or(MappingError::AuthkeyOutOfRange {
                    index,
                    authkey: entry.authkey,
                    keys: self.public_keys.len(),
                })?;
            if !named.insert(entry.authkey) {
                return Err(MappingError::RepeatedAuthkey {
                    index,
                    authkey: entry.authkey,
                });
            }
            let r = parse_hex_array::<32>(&entry.r).map_err(|e| malformed(format!("r: {e}")))?;
            let s = parse_hex_array::<32>(&entry.s).map_err(|e| malformed(format!("s: {e}")))?;
            let signature = Signature::from_scalars(r, s);
            if key.verify_digest(digest.as_bytes(), &signature).is_err() {
                return Err(MappingError::BadSignature {
                    authkey: entry.authkey,
                    key: *key,
                    r: entry.r.clone(),
                    s: entry.s.clone(),
                });
            }
            credited.insert(*key);
        }
        if credited.len() < self.threshold {
            return Err(MappingError::NotEnoughSignatures {
                valid: credited.len(),
                required: self.threshold,
            });
        }
        Ok(credited)
    }
}
