//! The types Malachite decides over. A value is a block hash: the block itself travels as
//! proposal parts and through sync, and every validator re-executes it before voting. Votes and
//! proposals sign the light client's [`lightclient::certificate::Vote`] and
//! [`lightclient::certificate::Proposal`] digests, so a Malachite commit certificate is, field for
//! field, the certificate light clients verify.

use std::fmt;

use lightclient::certificate::{self as lc, VoteKind};
use lightclient::hash::Hash32;
use lightclient::header::ChainId;
use lightclient::keys::{KeyError, PublicKey, Signature, ValidatorAddress};
use malachitebft_app_channel::app::types::core::{
    self as mc, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};

/// A block height as the engine counts it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's consensus address.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub ValidatorAddress);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Address for Address {}

/// The decided value: a block hash.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockValue(pub Hash32);

impl mc::Value for BlockValue {
    type Id = Hash32;

    fn id(&self) -> Hash32 {
        self.0
    }
}

/// One validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its address (derived from the key).
    pub address: Address,
    /// Its consensus key.
    pub public_key: PublicKey,
    /// Its voting power.
    pub power: VotingPower,
}

impl mc::Validator<Ctx> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// The validator set, ordered as Malachite requires: power descending, then address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    /// The engine's view of the light client's validator set.
    pub fn from_light_client(set: &lightclient::validator::ValidatorSet) -> Self {
        let mut validators: Vec<Validator> = set
            .validators()
            .iter()
            .map(|v| Validator {
                address: Address(v.address()),
                public_key: v.public_key,
                power: v.voting_power,
            })
            .collect();
        validators.sort_by(|a, b| b.power.cmp(&a.power).then(a.address.cmp(&b.address)));
        ValidatorSet { validators }
    }

    /// The validators in engine order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mc::ValidatorSet<Ctx> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.validators
            .iter()
            .fold(0u64, |sum, v| sum.saturating_add(v.power))
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A signed-over proposal: the proposer vouches that `value` is its block for the round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed block hash.
    pub value: BlockValue,
    /// Proof-of-lock round, when re-proposing a locked block.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl Proposal {
    /// The light client's form, whose digest the proposer's HSM signs.
    pub fn to_light_client(&self, chain_id: &ChainId) -> lc::Proposal {
        lc::Proposal {
            chain_id: chain_id.clone(),
            height: self.height.0,
            round: defined_round(self.round),
            pol_round: self.pol_round.as_u32(),
            block_hash: self.value.0,
            proposer: self.proposer.0,
        }
    }
}

impl mc::Proposal<Ctx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A prevote or precommit. Vote extensions are disabled, so `extension` is always `None`; it
/// takes no part in equality or in the signed digest, as Malachite requires.
#[derive(Clone, Debug)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<Hash32>,
    /// The voter.
    pub voter: Address,
    /// Unused (vote extensions are disabled).
    pub extension: Option<SignedExtension<Ctx>>,
}

impl PartialEq for Vote {
    fn eq(&self, other: &Self) -> bool {
        self.vote_type == other.vote_type
            && self.height == other.height
            && self.round == other.round
            && self.value == other.value
            && self.voter == other.voter
    }
}

impl Eq for Vote {}

impl Vote {
    /// The light client's form, whose digest the voter's HSM signs.
    pub fn to_light_client(&self, chain_id: &ChainId) -> lc::Vote {
        lc::Vote {
            chain_id: chain_id.clone(),
            height: self.height.0,
            round: defined_round(self.round),
            kind: match self.vote_type {
                VoteType::Prevote => VoteKind::Prevote,
                VoteType::Precommit => VoteKind::Precommit,
            },
            block_hash: match self.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(hash) => Some(hash),
            },
            validator: self.voter.0,
        }
    }
}

/// Votes and proposals always carry a defined round; should the engine ever hand over an
/// undefined one, it maps to a round no honest node signs at, so the signature cannot be
/// confused with a real vote's.
fn defined_round(round: Round) -> u32 {
    round.as_u32().unwrap_or(u32::MAX)
}

impl mc::Vote<Ctx> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<Hash32> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<Hash32> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.voter
    }

    fn extension(&self) -> Option<&SignedExtension<Ctx>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<Ctx>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<Ctx>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

/// A piece of a proposed block as it is streamed to the other validators.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProposalPart {
    /// Opens a stream: what the proposal is and how many bytes follow.
    Init {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Proof-of-lock round of a re-proposal.
        pol_round: Round,
        /// The proposer.
        proposer: Address,
        /// Hash of the block the data spells.
        block_hash: Hash32,
        /// Total length of the data parts.
        length: u64,
    },
    /// A chunk of the encoded block.
    Data(bytes::Bytes),
}

impl mc::ProposalPart<Ctx> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        false
    }
}

/// The secp256k1 scheme of the light client: 33-byte compressed keys, 64-byte low-S `r || s`
/// signatures over tagged SHA-256 digests. Private keys never reach this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secp256k1;

/// A private key type with no values: consensus keys live only in HSMs.
#[derive(Clone, Debug)]
pub enum NoPrivateKey {}

impl mc::SigningScheme for Secp256k1 {
    type DecodingError = KeyError;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = NoPrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, KeyError> {
        let array: [u8; 64] = bytes.try_into().map_err(|_| KeyError::MalformedSignature)?;
        Ok(Signature(array))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let array: [u8; 33] = bytes.try_into().map_err(|_| KeyError::NotOnCurve)?;
        PublicKey::from_compressed(array)
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.as_bytes().to_vec()
    }
}

/// The Malachite context of this ledger.
#[derive(Clone, Debug, Default)]
pub struct Ctx;

impl mc::Context for Ctx {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = mc::LinearTimeouts;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Secp256k1;

    /// Round-robin over the engine order, shifted by height so that a validator that is down
    /// costs each height at most one round.
    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let count = validator_set.validators.len() as u64;
        let round = u64::from(round.as_u32().unwrap_or(0));
        let index = height.0.wrapping_add(round).checked_rem(count).unwrap_or(0);
        let index = usize::try_from(index).unwrap_or(0);
        // Genesis refuses an empty validator set, so the index always exists.
        #[allow(clippy::indexing_slicing)]
        &validator_set.validators[index]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<Hash32>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            voter: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<Hash32>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            voter: address,
            extension: None,
        }
    }
}
