//! Consensus votes and the commit certificate that light clients verify.

use std::collections::BTreeSet;

use crate::encoding::{Decode, DecodeError, Encode, Reader, expect_version, unit_enum_codec};
use crate::hash::{Hash32, tagged_hash, tags};
use crate::header::{BlockHeader, ChainId};
use crate::keys::{KeyError, Signature, ValidatorAddress};
use crate::validator::ValidatorSet;

/// The two voting steps of Tendermint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VoteKind {
    /// First voting step.
    Prevote,
    /// Second voting step; a quorum of precommits decides the block.
    Precommit,
}
unit_enum_codec!(VoteKind { Prevote = 1, Precommit = 2 });

/// A consensus vote. Its signing digest is the tagged hash of its canonical encoding.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vote {
    /// The chain.
    pub chain_id: ChainId,
    /// Height voted on.
    pub height: u64,
    /// Round voted in.
    pub round: u32,
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The block voted for; `None` is a vote for nil.
    pub block_hash: Option<Hash32>,
    /// The voter.
    pub validator: ValidatorAddress,
}
crate::encoding::struct_codec!(Vote {
    chain_id,
    height,
    round,
    kind,
    block_hash,
    validator
});

impl Vote {
    /// The digest the validator's HSM signs.
    pub fn signing_digest(&self) -> Hash32 {
        tagged_hash(tags::VOTE, &self.to_bytes())
    }
}

/// A block proposal as signed by its proposer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Proposal {
    /// The chain.
    pub chain_id: ChainId,
    /// Height proposed for.
    pub height: u64,
    /// Round proposed in.
    pub round: u32,
    /// Round of the proof of lock, if the proposer re-proposes a locked block.
    pub pol_round: Option<u32>,
    /// The proposed block.
    pub block_hash: Hash32,
    /// The proposer.
    pub proposer: ValidatorAddress,
}
crate::encoding::struct_codec!(Proposal {
    chain_id,
    height,
    round,
    pol_round,
    block_hash,
    proposer
});

impl Proposal {
    /// The digest the proposer's HSM signs.
    pub fn signing_digest(&self) -> Hash32 {
        tagged_hash(tags::PROPOSAL, &self.to_bytes())
    }
}

/// One validator's precommit signature in a certificate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitSignature {
    /// The validator.
    pub validator: ValidatorAddress,
    /// Its signature over the precommit [`Vote`] for the certified block.
    pub signature: Signature,
}
crate::encoding::struct_codec!(CommitSignature {
    validator,
    signature
});

/// The certificate version this code writes and accepts.
pub const CERTIFICATE_VERSION: u16 = 1;

/// Precommit signatures of more than two thirds of the voting power for one block.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitCertificate {
    /// Encoding version, [`CERTIFICATE_VERSION`].
    pub version: u16,
    /// Height of the block.
    pub height: u64,
    /// Round in which it was decided.
    pub round: u32,
    /// The block hash.
    pub block_hash: Hash32,
    /// Precommit signatures.
    pub signatures: Vec<CommitSignature>,
}

impl Encode for CommitCertificate {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.height.encode(out);
        self.round.encode(out);
        self.block_hash.encode(out);
        self.signatures.encode(out);
    }
}

impl Decode for CommitCertificate {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CommitCertificate {
            version: expect_version(reader, "commit certificate", CERTIFICATE_VERSION)?,
            height: Decode::decode(reader)?,
            round: Decode::decode(reader)?,
            block_hash: Decode::decode(reader)?,
            signatures: Decode::decode(reader)?,
        })
    }
}

/// Why a certificate does not certify a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// A signer that is not in the validator set.
    #[error("signer {0} is not in the validator set")]
    UnknownValidator(ValidatorAddress),
    /// A signature that does not verify as that validator's precommit.
    #[error("precommit signature of {validator} is invalid: {reason}")]
    InvalidSignature {
        /// The validator.
        validator: ValidatorAddress,
        /// What was wrong.
        reason: KeyError,
    },
    /// Valid signatures hold two thirds of the power or less.
    #[error("signers hold {signed} of {total} voting power; more than two thirds is required")]
    InsufficientVotingPower {
        /// Power of distinct valid signers.
        signed: u64,
        /// Total power of the set.
        total: u64,
    },
    /// The certificate is for another height or block than the header.
    #[error(
        "certificate is for height {cert_height} block {cert_hash}, header is height {header_height} block {header_hash}"
    )]
    HeaderMismatch {
        /// Height in the certificate.
        cert_height: u64,
        /// Block hash in the certificate.
        cert_hash: Hash32,
        /// Height of the header.
        header_height: u64,
        /// Hash of the header.
        header_hash: Hash32,
    },
    /// The header names another validator set than the one given.
    #[error("header expects validator set {expected}, verification used {given}")]
    ValidatorSetMismatch {
        /// The header's `validator_set_hash`.
        expected: Hash32,
        /// Hash of the set given.
        given: Hash32,
    },
}

impl CommitCertificate {
    /// The precommit vote that `validator` signed for this certificate.
    pub fn precommit(&self, chain_id: &ChainId, validator: ValidatorAddress) -> Vote {
        Vote {
            chain_id: chain_id.clone(),
            height: self.height,
            round: self.round,
            kind: VoteKind::Precommit,
            block_hash: Some(self.block_hash),
            validator,
        }
    }

    /// Checks every signature and that distinct signers hold more than two thirds of `set`'s
    /// power; returns that power. A signer listed twice counts once.
    pub fn verify(&self, chain_id: &ChainId, set: &ValidatorSet) -> Result<u64, CertificateError> {
        let mut counted = BTreeSet::new();
        let mut signed: u64 = 0;
        for entry in &self.signatures {
            let validator = set
                .get(&entry.validator)
                .ok_or(CertificateError::UnknownValidator(entry.validator))?;
            let digest = self.precommit(chain_id, entry.validator).signing_digest();
            validator
                .public_key
                .verify_digest(digest.as_bytes(), &entry.signature)
                .map_err(|reason| CertificateError::InvalidSignature {
                    validator: entry.validator,
                    reason,
                })?;
            if counted.insert(entry.validator) {
                // Cannot overflow: distinct members of a set whose total fits in u64.
                signed = signed.saturating_add(validator.voting_power);
            }
        }
        if set.is_quorum(signed) {
            Ok(signed)
        } else {
            Err(CertificateError::InsufficientVotingPower {
                signed,
                total: set.total_power(),
            })
        }
    }

    /// Checks that this certificate certifies `header` under `set`, the set the header names.
    pub fn verify_header(
        &self,
        header: &BlockHeader,
        set: &ValidatorSet,
    ) -> Result<u64, CertificateError> {
        let header_hash = header.hash();
        if self.height != header.height || self.block_hash != header_hash {
            return Err(CertificateError::HeaderMismatch {
                cert_height: self.height,
                cert_hash: self.block_hash,
                header_height: header.height,
                header_hash,
            });
        }
        let given = set.hash();
        if given != header.validator_set_hash {
            return Err(CertificateError::ValidatorSetMismatch {
                expected: header.validator_set_hash,
                given,
            });
        }
        self.verify(&header.chain_id, set)
    }
}
