//! Validators and validator sets.

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::{Hash32, tagged_hash, tags};
use crate::keys::{PublicKey, Signature, ValidatorAddress};

/// One consensus validator.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// Its consensus key (held in its custodian's HSM).
    pub public_key: PublicKey,
    /// Its voting power.
    pub voting_power: u64,
}

impl Validator {
    /// Its consensus address.
    pub fn address(&self) -> ValidatorAddress {
        self.public_key.validator_address()
    }
}

crate::encoding::struct_codec!(Validator {
    public_key,
    voting_power
});

/// Why a validator set is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidatorSetError {
    /// No validators.
    #[error("validator set is empty")]
    Empty,
    /// A validator with zero power.
    #[error("validator {0} has zero voting power")]
    ZeroPower(ValidatorAddress),
    /// Two entries with the same key.
    #[error("validator {0} appears twice")]
    Duplicate(ValidatorAddress),
    /// Powers sum beyond u64.
    #[error("total voting power overflows u64")]
    PowerOverflow,
    /// More validators than [`MAX_VALIDATORS`].
    #[error("{count} validators; at most {MAX_VALIDATORS} are allowed")]
    TooMany {
        /// How many were given.
        count: usize,
    },
}

/// The most validators a set may hold: every validator connects to every other (ADR 0016).
pub const MAX_VALIDATORS: usize = 100;

/// A set of validators in canonical order (ascending address), with distinct keys and a total
/// power that fits in `u64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_power: u64,
}

impl ValidatorSet {
    /// Validates and sorts `validators` into canonical order.
    pub fn new(mut validators: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if validators.len() > MAX_VALIDATORS {
            return Err(ValidatorSetError::TooMany {
                count: validators.len(),
            });
        }
        validators.sort_by_key(Validator::address);
        let mut total: u64 = 0;
        for pair in validators.windows(2) {
            if let [a, b] = pair
                && a.address() == b.address()
            {
                return Err(ValidatorSetError::Duplicate(b.address()));
            }
        }
        for v in &validators {
            if v.voting_power == 0 {
                return Err(ValidatorSetError::ZeroPower(v.address()));
            }
            total = total
                .checked_add(v.voting_power)
                .ok_or(ValidatorSetError::PowerOverflow)?;
        }
        Ok(ValidatorSet {
            validators,
            total_power: total,
        })
    }

    /// The validators, in ascending address order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// The validator with `address`.
    pub fn get(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(address, Validator::address)
            .ok()
            .and_then(|i| self.validators.get(i))
    }

    /// Whether `power` is more than two thirds of the total.
    pub fn is_quorum(&self, power: u64) -> bool {
        u128::from(power) * 3 > u128::from(self.total_power) * 2
    }

    /// The fewest validators whose power together is a quorum (the most powerful first): how
    /// many must be up and connected for blocks to be made.
    pub fn quorum_size(&self) -> u64 {
        let mut powers: Vec<u64> = self.validators.iter().map(|v| v.voting_power).collect();
        powers.sort_unstable_by(|a, b| b.cmp(a));
        let mut power = 0u64;
        let mut count = 0u64;
        for p in powers {
            if self.is_quorum(power) {
                break;
            }
            power = power.saturating_add(p);
            count = count.saturating_add(1);
        }
        count
    }

    /// The tagged hash of the canonical encoding; headers commit to it.
    pub fn hash(&self) -> Hash32 {
        tagged_hash(tags::VALIDATOR_SET, &self.to_bytes())
    }
}

impl Encode for ValidatorSet {
    fn encode(&self, out: &mut Vec<u8>) {
        self.validators.encode(out);
    }
}

impl Decode for ValidatorSet {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let validators = Vec::<Validator>::decode(reader)?;
        let set = ValidatorSet::new(validators.clone()).map_err(|e| DecodeError::InvalidValue {
            what: "validator set",
            reason: e.to_string(),
        })?;
        // Only the canonical order is a valid encoding.
        if set.validators != validators {
            return Err(DecodeError::InvalidValue {
                what: "validator set",
                reason: "validators are not in ascending address order".into(),
            });
        }
        Ok(set)
    }
}

impl serde::Serialize for ValidatorSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.validators.serialize(s)
    }
}

/// Serialised as its list of validators.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ValidatorSet {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Vec<Validator> as utoipa::PartialSchema>::schema()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ValidatorSet {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            <Validator as utoipa::ToSchema>::name().into_owned(),
            <Validator as utoipa::PartialSchema>::schema(),
        ));
        <Validator as utoipa::ToSchema>::schemas(schemas);
    }
}

impl<'de> serde::Deserialize<'de> for ValidatorSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ValidatorSet::new(Vec::<Validator>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One current validator's approval of a validator-set change, signed in its HSM (ADR 0016).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetApproval {
    /// The approving validator.
    pub validator: ValidatorAddress,
    /// Its signature over [`set_change_digest`].
    pub signature: Signature,
}

crate::encoding::struct_codec!(SetApproval {
    validator,
    signature
});

/// What current validators sign to approve `next` taking over from `current` at
/// `effective_height` on this chain (ADR 0016). Naming the current set makes an approval
/// single-use: after any change it no longer matches.
pub fn set_change_digest(
    chain_id: &crate::header::ChainId,
    genesis_hash: &Hash32,
    current: &ValidatorSet,
    next: &ValidatorSet,
    effective_height: u64,
) -> Hash32 {
    let mut bytes = Vec::new();
    chain_id.encode(&mut bytes);
    genesis_hash.encode(&mut bytes);
    current.hash().encode(&mut bytes);
    next.encode(&mut bytes);
    effective_height.encode(&mut bytes);
    tagged_hash(tags::VALIDATOR_SET_CHANGE, &bytes)
}

/// Why a validator-set change is not approved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetChangeError {
    /// The new set is the current one.
    #[error("the new validator set is the current one")]
    Unchanged,
    /// An approval from a key outside the current set.
    #[error("approval by {0}, which is not a current validator")]
    UnknownValidator(ValidatorAddress),
    /// Two approvals from one validator.
    #[error("validator {0} approved twice")]
    RepeatedApproval(ValidatorAddress),
    /// A signature that does not verify under the validator's key.
    #[error("the approval of {0} does not verify")]
    BadSignature(ValidatorAddress),
    /// Not more than 2/3 of the current power approved.
    #[error("approvals carry {approved} of {total} voting power; more than 2/3 is needed")]
    Insufficient {
        /// Power that approved.
        approved: u64,
        /// The current set's total power.
        total: u64,
    },
}

/// Checks that distinct current validators holding more than 2/3 of the current power approved
/// `next` at `effective_height`; returns the approving power.
pub fn verify_set_change(
    chain_id: &crate::header::ChainId,
    genesis_hash: &Hash32,
    current: &ValidatorSet,
    next: &ValidatorSet,
    effective_height: u64,
    approvals: &[SetApproval],
) -> Result<u64, SetChangeError> {
    if current == next {
        return Err(SetChangeError::Unchanged);
    }
    let digest = set_change_digest(chain_id, genesis_hash, current, next, effective_height);
    let mut seen = std::collections::BTreeSet::new();
    let mut approved = 0u64;
    for approval in approvals {
        let validator = current
            .get(&approval.validator)
            .ok_or(SetChangeError::UnknownValidator(approval.validator))?;
        if !seen.insert(approval.validator) {
            return Err(SetChangeError::RepeatedApproval(approval.validator));
        }
        validator
            .public_key
            .verify_digest(digest.as_bytes(), &approval.signature)
            .map_err(|_| SetChangeError::BadSignature(approval.validator))?;
        approved = approved.saturating_add(validator.voting_power);
    }
    if current.is_quorum(approved) {
        Ok(approved)
    } else {
        Err(SetChangeError::Insufficient {
            approved,
            total: current.total_power(),
        })
    }
}
