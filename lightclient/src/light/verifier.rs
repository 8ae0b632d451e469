//! The pure checks of one step: is an untrusted light block certified, and does the trusted
//! state vouch for it? No I/O, no clock of its own: the caller passes the time.

use std::collections::BTreeSet;

use crate::certificate::{CertificateError, CommitCertificate};
use crate::genesis::{Genesis, GenesisError};
use crate::hash::Hash32;
use crate::header::{BlockHeader, ChainId};
use crate::validator::ValidatorSet;

/// What a provider serves for one height: the header, its certificate, the validator set that
/// certified it and the one the header names for the next height.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightBlock {
    /// The header.
    pub header: BlockHeader,
    /// Its commit certificate.
    pub certificate: CommitCertificate,
    /// The set whose hash is `header.validator_set_hash`.
    pub validators: ValidatorSet,
    /// The set whose hash is `header.next_validator_set_hash`.
    pub next_validators: ValidatorSet,
}

impl LightBlock {
    /// The header's height.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The block hash.
    pub fn hash(&self) -> Hash32 {
        self.header.hash()
    }
}

/// What the client trusts: the genesis, a checkpoint, or the last block it verified.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedState {
    /// The chain.
    pub chain_id: ChainId,
    /// The trusted height (0 for genesis).
    pub height: u64,
    /// The trusted block's hash (the genesis hash at height 0).
    pub hash: Hash32,
    /// Its time, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The set that certifies the next height.
    pub next_validators: ValidatorSet,
}

impl TrustedState {
    /// Trust from a genesis file: height 0, the genesis hash, the genesis validators.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, GenesisError> {
        Ok(TrustedState {
            chain_id: genesis.chain_id.clone(),
            height: 0,
            hash: genesis.hash()?,
            time_ms: genesis.genesis_time_ms,
            next_validators: genesis.validators.clone(),
        })
    }

    /// Trust from a checkpoint the user was given as (height, hash) out of band: the block must
    /// hash to it, belong to `chain_id` and be consistently certified by its own set.
    pub fn from_checkpoint(
        block: &LightBlock,
        chain_id: &ChainId,
        height: u64,
        hash: Hash32,
    ) -> Result<Self, VerificationError> {
        if block.height() != height || block.hash() != hash {
            return Err(VerificationError::NotTheCheckpoint {
                height,
                hash,
                found_height: block.height(),
                found_hash: block.hash(),
            });
        }
        check_consistency(block, chain_id)?;
        block
            .certificate
            .verify_header(&block.header, &block.validators)
            .map_err(VerificationError::Certificate)?;
        Ok(TrustedState::after(block))
    }

    /// The state a verified block leaves.
    pub fn after(block: &LightBlock) -> Self {
        TrustedState {
            chain_id: block.header.chain_id.clone(),
            height: block.height(),
            hash: block.hash(),
            time_ms: block.header.time_ms,
            next_validators: block.next_validators.clone(),
        }
    }
}

/// The fraction of the trusted set's power that must have signed a block the client skips to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrustThreshold {
    numerator: u64,
    denominator: u64,
}

/// Why a trust threshold is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a trust threshold must lie between 1/3 and 1, got {numerator}/{denominator}")]
pub struct TrustThresholdError {
    /// The numerator given.
    pub numerator: u64,
    /// The denominator given.
    pub denominator: u64,
}

impl TrustThreshold {
    /// One third: with fewer than a third of the power faulty, at least one honest validator of
    /// the trusted set vouches for the target.
    pub const ONE_THIRD: TrustThreshold = TrustThreshold {
        numerator: 1,
        denominator: 3,
    };

    /// A threshold from 1/3 to 1.
    pub fn new(numerator: u64, denominator: u64) -> Result<Self, TrustThresholdError> {
        let valid = denominator > 0
            && numerator <= denominator
            && u128::from(numerator) * 3 >= u128::from(denominator);
        if valid {
            Ok(TrustThreshold {
                numerator,
                denominator,
            })
        } else {
            Err(TrustThresholdError {
                numerator,
                denominator,
            })
        }
    }

    /// Whether `signed` of `total` is strictly more than the threshold.
    pub fn is_met(&self, signed: u64, total: u64) -> bool {
        // u64 × u64 fits in u128: the products are exact.
        u128::from(signed).saturating_mul(u128::from(self.denominator))
            > u128::from(total).saturating_mul(u128::from(self.numerator))
    }
}

/// How strictly the client verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The trusted set's share that must sign a block the client skips to (default 1/3).
    pub trust_threshold: TrustThreshold,
    /// How far past the verifier's clock a header's time may lie, milliseconds.
    pub clock_drift_ms: u64,
    /// How long a trusted block stays a valid starting point, milliseconds (`None`: forever,
    /// since custodians' keys do not unbond; set it when keys may be retired and leaked).
    pub trusting_period_ms: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trust_threshold: TrustThreshold::ONE_THIRD,
            clock_drift_ms: 10_000,
            trusting_period_ms: None,
        }
    }
}

/// Why an untrusted block is refused. Each names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {
    /// The block is of another chain.
    #[error("the block is of chain {found}, not {expected}")]
    WrongChain {
        /// The trusted chain.
        expected: ChainId,
        /// The block's.
        found: ChainId,
    },
    /// The block is not above the trusted height.
    #[error("block {target} is not above the trusted height {trusted}")]
    NotNewer {
        /// The trusted height.
        trusted: u64,
        /// The block's.
        target: u64,
    },
    /// The validators served are not the set the header names.
    #[error("the header names validator set {expected}, the validators served hash to {served}")]
    ValidatorSetMismatch {
        /// `validator_set_hash` in the header.
        expected: Hash32,
        /// The served set's hash.
        served: Hash32,
    },
    /// The next validators served are not the set the header names for the next height.
    #[error(
        "the header names next validator set {expected}, the next validators served hash to {served}"
    )]
    NextValidatorSetMismatch {
        /// `next_validator_set_hash` in the header.
        expected: Hash32,
        /// The served set's hash.
        served: Hash32,
    },
    /// The block's time is not after the trusted block's.
    #[error("block time {target_ms} ms is not after the trusted time {trusted_ms} ms")]
    TimeNotIncreasing {
        /// The trusted block's time.
        trusted_ms: u64,
        /// The block's.
        target_ms: u64,
    },
    /// The block's time is beyond the verifier's clock plus the allowed drift.
    #[error("block time {target_ms} ms is later than {latest_ms} ms (the clock plus the drift)")]
    TimeInFuture {
        /// The block's time.
        target_ms: u64,
        /// The latest time accepted.
        latest_ms: u64,
    },
    /// The trusted block is older than the trusting period.
    #[error(
        "the trusted block of {trusted_ms} ms is past its trusting period of {period_ms} ms at {now_ms} ms"
    )]
    TrustExpired {
        /// The trusted block's time.
        trusted_ms: u64,
        /// The trusting period.
        period_ms: u64,
        /// The verifier's clock.
        now_ms: u64,
    },
    /// The block after the trusted one does not name it as its parent.
    #[error("block {height} names parent {found}, but the trusted block is {expected}")]
    NotLinked {
        /// The block's height.
        height: u64,
        /// The trusted hash.
        expected: Hash32,
        /// The block's `previous_block_hash`.
        found: Hash32,
    },
    /// The block after the trusted one is certified by another set than the trusted block named.
    #[error(
        "block {height} is certified by validator set {found}, but the trusted block named {expected}"
    )]
    UnexpectedValidatorSet {
        /// The block's height.
        height: u64,
        /// The trusted block's `next_validator_set_hash`.
        expected: Hash32,
        /// The block's `validator_set_hash`.
        found: Hash32,
    },
    /// The certificate does not certify the header by more than 2/3 of its own set.
    #[error("certificate: {0}")]
    Certificate(CertificateError),
    /// A checkpoint block is not the one the user trusted.
    #[error(
        "the checkpoint is block {hash} at {height}, the provider served {found_hash} at {found_height}"
    )]
    NotTheCheckpoint {
        /// The trusted height.
        height: u64,
        /// The trusted hash.
        hash: Hash32,
        /// The served block's height.
        found_height: u64,
        /// The served block's hash.
        found_hash: Hash32,
    },
}

impl VerificationError {
    /// The check that failed, for people and programs (`--json`).
    pub fn check(&self) -> &'static str {
        match self {
            VerificationError::WrongChain { .. } => "chain_id",
            VerificationError::NotNewer { .. } => "height",
            VerificationError::ValidatorSetMismatch { .. } => "validator_set_hash",
            VerificationError::NextValidatorSetMismatch { .. } => "next_validator_set_hash",
            VerificationError::TimeNotIncreasing { .. } => "time_increasing",
            VerificationError::TimeInFuture { .. } => "time_not_in_future",
            VerificationError::TrustExpired { .. } => "trusting_period",
            VerificationError::NotLinked { .. } => "previous_block_hash",
            VerificationError::UnexpectedValidatorSet { .. } => "validator_set_transition",
            VerificationError::Certificate(_) => "certificate",
            VerificationError::NotTheCheckpoint { .. } => "checkpoint",
        }
    }
}

/// The outcome of verifying one block against the trusted state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The block is verified.
    Success,
    /// The block is certified by its own set, but too little of the trusted set signed it to
    /// skip to it: verify a block in between first.
    NotEnoughTrust {
        /// Power of the trusted set that signed.
        signed: u64,
        /// The trusted set's total power.
        total: u64,
    },
    /// The block is refused.
    Invalid(VerificationError),
}

/// The served sets must be the ones the header names, and the header must be of the chain.
fn check_consistency(block: &LightBlock, chain_id: &ChainId) -> Result<(), VerificationError> {
    let header = &block.header;
    if header.chain_id != *chain_id {
        return Err(VerificationError::WrongChain {
            expected: chain_id.clone(),
            found: header.chain_id.clone(),
        });
    }
    let served = block.validators.hash();
    if served != header.validator_set_hash {
        return Err(VerificationError::ValidatorSetMismatch {
            expected: header.validator_set_hash,
            served,
        });
    }
    let served = block.next_validators.hash();
    if served != header.next_validator_set_hash {
        return Err(VerificationError::NextValidatorSetMismatch {
            expected: header.next_validator_set_hash,
            served,
        });
    }
    Ok(())
}

/// Verifies `untrusted` against `trusted` at the verifier's clock `now_ms`.
///
/// Every block must be of the trusted chain, above the trusted height, later than the trusted
/// block and not beyond the clock plus the drift, carry the validator sets its header names, and
/// be certified by more than 2/3 of its own set. The block right after the trusted one must
/// also name it as parent and be certified by the set the trusted block named; a later block
/// must be signed by more than the trust threshold of the trusted block's next set (else
/// [`Verdict::NotEnoughTrust`]: the client verifies a block in between first).
pub fn verify(
    untrusted: &LightBlock,
    trusted: &TrustedState,
    options: &Options,
    now_ms: u64,
) -> Verdict {
    match checked(untrusted, trusted, options, now_ms) {
        Ok(verdict) => verdict,
        Err(error) => Verdict::Invalid(error),
    }
}

fn checked(
    untrusted: &LightBlock,
    trusted: &TrustedState,
    options: &Options,
    now_ms: u64,
) -> Result<Verdict, VerificationError> {
    if let Some(period_ms) = options.trusting_period_ms
        && trusted.time_ms.saturating_add(period_ms) <= now_ms
    {
        return Err(VerificationError::TrustExpired {
            trusted_ms: trusted.time_ms,
            period_ms,
            now_ms,
        });
    }
    check_consistency(untrusted, &trusted.chain_id)?;
    let header = &untrusted.header;
    if header.height <= trusted.height {
        return Err(VerificationError::NotNewer {
            trusted: trusted.height,
            target: header.height,
        });
    }
    if header.time_ms <= trusted.time_ms {
        return Err(VerificationError::TimeNotIncreasing {
            trusted_ms: trusted.time_ms,
            target_ms: header.time_ms,
        });
    }
    let latest_ms = now_ms.saturating_add(options.clock_drift_ms);
    if header.time_ms > latest_ms {
        return Err(VerificationError::TimeInFuture {
            target_ms: header.time_ms,
            latest_ms,
        });
    }
    let adjacent = trusted.height.checked_add(1) == Some(header.height);
    if adjacent {
        if header.previous_block_hash != trusted.hash {
            return Err(VerificationError::NotLinked {
                height: header.height,
                expected: trusted.hash,
                found: header.previous_block_hash,
            });
        }
        let expected = trusted.next_validators.hash();
        if header.validator_set_hash != expected {
            return Err(VerificationError::UnexpectedValidatorSet {
                height: header.height,
                expected,
                found: header.validator_set_hash,
            });
        }
    }
    untrusted
        .certificate
        .verify_header(header, &untrusted.validators)
        .map_err(VerificationError::Certificate)?;
    if adjacent {
        return Ok(Verdict::Success);
    }
    // Every signature already verified under the target's set, and an address is the hash of
    // its key, so a signer found in the trusted set signed with the key that set holds.
    let trusted_set = &trusted.next_validators;
    let mut counted = BTreeSet::new();
    let mut signed: u64 = 0;
    for entry in &untrusted.certificate.signatures {
        if let Some(validator) = trusted_set.get(&entry.validator)
            && counted.insert(entry.validator)
        {
            signed = signed.saturating_add(validator.voting_power);
        }
    }
    let total = trusted_set.total_power();
    if options.trust_threshold.is_met(signed, total) {
        Ok(Verdict::Success)
    } else {
        Ok(Verdict::NotEnoughTrust { signed, total })
    }
}

/// The validators who signed both certificates (of one height, for different blocks): each made
/// conflicting precommits.
pub fn double_signers(
    a: &CommitCertificate,
    b: &CommitCertificate,
) -> Vec<crate::keys::ValidatorAddress> {
    let first: BTreeSet<_> = a.signatures.iter().map(|s| s.validator).collect();
    let both: BTreeSet<_> = b
        .signatures
        .iter()
        .map(|s| s.validator)
        .filter(|v| first.contains(v))
        .collect();
    both.into_iter().collect()
}
