//! State proofs: one entry of the ledger state — a balance, an asset's supply, an asset holder's
//! position — shown present with its value, or shown absent, under a header's state root.
//!
//! The tree is a Jellyfish Merkle Tree over SHA-256 (ADR 0006; format in ADR 0015). A key's place
//! in the tree is `SHA-256(key bytes)`; a value is hashed as `SHA-256(value bytes)`; a leaf as
//! `SHA-256("JMT::LeafNode" ‖ key hash ‖ value hash)`; an inner node as
//! `SHA-256("JMT::IntrnalNode" ‖ left ‖ right)`; an empty subtree is the 32 ASCII bytes
//! `SPARSE_MERKLE_PLACEHOLDER_HASH__`. A proof holds the leaf found on the key's path (if any) and
//! the siblings from the bottom up; bit `i` of the key hash (most significant first) says whether
//! the path goes right at depth `i`.

use sha2::{Digest, Sha256};

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::Hash32;
use crate::keys::{AccountId, AssetId, PublicKey};
use crate::tx::{BackingKind, KycState, Role};

/// Table tags: the first byte of a key's canonical bytes.
pub mod tag {
    /// [`super::StateKey::Account`].
    pub const ACCOUNT: u8 = 1;
    /// [`super::StateKey::Balance`].
    pub const BALANCE: u8 = 2;
    /// [`super::StateKey::Asset`].
    pub const ASSET: u8 = 3;
    /// [`super::StateKey::Position`].
    pub const POSITION: u8 = 4;
    /// [`super::StateKey::Item`].
    pub const ITEM: u8 = 5;
    /// [`super::StateKey::Mapping`].
    pub const MAPPING: u8 = 6;
    /// [`super::StateKey::Controllers`].
    pub const CONTROLLERS: u8 = 7;
    /// [`super::StateKey::Validators`].
    pub const VALIDATORS: u8 = 8;
    /// [`super::StateKey::Fee`].
    pub const FEE: u8 = 9;
    /// [`super::StateKey::Limit`].
    pub const LIMIT: u8 = 10;
    /// [`super::StateKey::LimitUsage`].
    pub const LIMIT_USAGE: u8 = 11;
    /// [`super::StateKey::Request`].
    pub const REQUEST: u8 = 12;
    /// [`super::StateKey::NextRequestId`].
    pub const NEXT_REQUEST_ID: u8 = 13;
    /// [`super::StateKey::Txid`].
    pub const TXID: u8 = 14;
    /// [`super::StateKey::AllocatedIssuer`].
    pub const ALLOCATED_ISSUER: u8 = 15;
    /// [`super::StateKey::PendingValidators`].
    pub const PENDING_VALIDATORS: u8 = 16;
}

/// The format byte every state value starts with.
pub const STATE_VALUE_VERSION: u8 = 1;
/// The format byte of an encoded [`StateProof`].
pub const STATE_PROOF_VERSION: u8 = 1;
/// A path is at most 256 levels deep.
pub const MAX_SIBLINGS: usize = 256;

const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// The hash of an empty subtree.
pub const EMPTY_SUBTREE: Hash32 = Hash32(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");

/// A key of the ledger state. Every part of the state that decides a future block has one.
///
/// Deliberately exhaustive: a new table is a protocol change, and the ledger's value encoder must
/// fail to compile until it handles it rather than fall into a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateKey {
    /// An account: key, KYC state, roles, asset holder.
    Account(AccountId),
    /// A holder's balance of an asset.
    Balance(AccountId, AssetId),
    /// An asset: code, precision, backing kind, supply and maximum.
    Asset(AssetId),
    /// An asset holder's position in an asset: settled, unsettled, issued.
    Position(AccountId, AssetId),
    /// A physical item, by serial.
    Item(String),
    /// The mapping in force (sequence and hash).
    Mapping,
    /// The controller policy: who signs mappings, and how many must.
    Controllers,
    /// The validator set in force.
    Validators,
    /// A fee rule, by id.
    Fee(u32),
    /// A limit rule, by id.
    Limit(u32),
    /// What an account has used of a limit rule in one period.
    LimitUsage(u32, AccountId, u64),
    /// A reviewable request, by id.
    Request(u64),
    /// The id the next request gets.
    NextRequestId,
    /// A remembered txid (the replay window), with the height it expires after.
    Txid(Hash32),
    /// Who issues an allocated asset, and whether it may issue more.
    AllocatedIssuer(AssetId),
    /// The approved validator set waiting for its effective height (ADR 0016); absent when no
    /// change is pending.
    PendingValidators,
}

impl StateKey {
    /// Canonical bytes: a table tag, then the key's fields (ADR 0001 encoding).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            StateKey::Account(a) => {
                out.push(tag::ACCOUNT);
                a.encode(&mut out);
            }
            StateKey::Balance(a, s) => {
                out.push(tag::BALANCE);
                a.encode(&mut out);
                s.encode(&mut out);
            }
            StateKey::Asset(s) => {
                out.push(tag::ASSET);
                s.encode(&mut out);
            }
            StateKey::Position(a, s) => {
                out.push(tag::POSITION);
                a.encode(&mut out);
                s.encode(&mut out);
            }
            StateKey::Item(serial) => {
                out.push(tag::ITEM);
                serial.encode(&mut out);
            }
            StateKey::Mapping => out.push(tag::MAPPING),
            StateKey::Controllers => out.push(tag::CONTROLLERS),
            StateKey::Validators => out.push(tag::VALIDATORS),
            StateKey::Fee(id) => {
                out.push(tag::FEE);
                id.encode(&mut out);
            }
            StateKey::Limit(id) => {
                out.push(tag::LIMIT);
                id.encode(&mut out);
            }
            StateKey::LimitUsage(rule, account, period) => {
                out.push(tag::LIMIT_USAGE);
                rule.encode(&mut out);
                account.encode(&mut out);
                period.encode(&mut out);
            }
            StateKey::Request(id) => {
                out.push(tag::REQUEST);
                id.encode(&mut out);
            }
            StateKey::NextRequestId => out.push(tag::NEXT_REQUEST_ID),
            StateKey::Txid(txid) => {
                out.push(tag::TXID);
                txid.encode(&mut out);
            }
            StateKey::AllocatedIssuer(asset) => {
                out.push(tag::ALLOCATED_ISSUER);
                asset.encode(&mut out);
            }
            StateKey::PendingValidators => out.push(tag::PENDING_VALIDATORS),
        }
        out
    }

    /// Where the key sits in the tree: SHA-256 of its bytes.
    pub fn hash(&self) -> Hash32 {
        Hash32(Sha256::digest(self.to_bytes()).into())
    }
}

/// The leaf a proof found on the key's path.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProofLeaf {
    /// The leaf's key hash: the proven key's for inclusion, another key's for absence.
    pub key_hash: Hash32,
    /// SHA-256 of the leaf's value.
    pub value_hash: Hash32,
}

impl ProofLeaf {
    /// The leaf's node hash: `SHA-256("JMT::LeafNode" ‖ key hash ‖ value hash)`.
    pub fn hash(&self) -> Hash32 {
        let mut h = Sha256::new();
        h.update(LEAF_DOMAIN);
        h.update(self.key_hash.as_bytes());
        h.update(self.value_hash.as_bytes());
        Hash32(h.finalize().into())
    }
}

/// A proof that a key holds a value, or holds none, under a state root.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateProof {
    /// The leaf on the key's path: the key's own (inclusion), another key's alone in the
    /// subtree the key would fall into (absence), or none (absence: that subtree is empty).
    pub leaf: Option<ProofLeaf>,
    /// The sibling hashes from the bottom of the path up to the root.
    pub siblings: Vec<Hash32>,
}

/// Why a state proof does not prove what it is offered for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateProofError {
    /// More siblings than the tree has levels.
    #[error("the proof has {0} siblings; a path has at most 256")]
    TooManySiblings(usize),
    /// A value was claimed, but the proof shows the key absent.
    #[error("a value is claimed but the proof shows the key absent")]
    ExpectedInclusion,
    /// The proof's leaf is another key's, but a value for this key was claimed.
    #[error("the proof's leaf is key hash {found}, not the claimed key's {expected}")]
    KeyMismatch {
        /// The claimed key's hash.
        expected: Hash32,
        /// The leaf's key hash.
        found: Hash32,
    },
    /// The claimed value is not the leaf's.
    #[error("the claimed value hashes to {claimed}, the leaf holds {proven}")]
    ValueMismatch {
        /// SHA-256 of the claimed value.
        claimed: Hash32,
        /// The leaf's value hash.
        proven: Hash32,
    },
    /// Absence was claimed, but the proof's leaf is the key's own.
    #[error("absence is claimed but the proof's leaf is the key itself")]
    NotAbsent,
    /// Absence was claimed, but the key would not fall into the leaf's subtree.
    #[error("the proof's leaf does not share the key's path, so it says nothing of the key")]
    WrongSubtree,
    /// The path does not hash to the root.
    #[error("the proof hashes to root {computed}, not the header's {expected}")]
    RootMismatch {
        /// The header's state root.
        expected: Hash32,
        /// The root the proof gives.
        computed: Hash32,
    },
}

impl StateProofError {
    /// A stable name for the check that failed.
    pub fn check(&self) -> &'static str {
        match self {
            StateProofError::TooManySiblings(_) => "proof depth",
            StateProofError::ExpectedInclusion => "inclusion",
            StateProofError::KeyMismatch { .. } => "proof key",
            StateProofError::ValueMismatch { .. } => "proof value",
            StateProofError::NotAbsent => "absence",
            StateProofError::WrongSubtree => "absence subtree",
            StateProofError::RootMismatch { .. } => "state root",
        }
    }
}

fn bit(hash: &Hash32, index: usize) -> bool {
    let byte = hash.as_bytes().get(index / 8).copied().unwrap_or(0);
    byte & (0x80 >> (index % 8)) != 0
}

fn common_prefix_bits(a: &Hash32, b: &Hash32) -> usize {
    (0..256).take_while(|&i| bit(a, i) == bit(b, i)).count()
}

/// An inner node's hash: `SHA-256("JMT::IntrnalNode" ‖ left ‖ right)`.
pub fn internal_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update(INTERNAL_DOMAIN);
    h.update(left.as_bytes());
    h.update(right.as_bytes());
    Hash32(h.finalize().into())
}

impl StateProof {
    /// Checks that `key` holds `value` (or, with `None`, holds nothing) in the state whose root is
    /// `root`.
    pub fn verify(
        &self,
        root: &Hash32,
        key: &StateKey,
        value: Option<&[u8]>,
    ) -> Result<(), StateProofError> {
        self.verify_key_hash(root, &key.hash(), value)
    }

    /// [`StateProof::verify`] for a key given by its hash (SHA-256 of its canonical bytes).
    pub fn verify_key_hash(
        &self,
        root: &Hash32,
        key_hash: &Hash32,
        value: Option<&[u8]>,
    ) -> Result<(), StateProofError> {
        if self.siblings.len() > MAX_SIBLINGS {
            return Err(StateProofError::TooManySiblings(self.siblings.len()));
        }
        let key_hash = *key_hash;
        match (value, &self.leaf) {
            (Some(value), Some(leaf)) => {
                if leaf.key_hash != key_hash {
                    return Err(StateProofError::KeyMismatch {
                        expected: key_hash,
                        found: leaf.key_hash,
                    });
                }
                let claimed = Hash32(Sha256::digest(value).into());
                if claimed != leaf.value_hash {
                    return Err(StateProofError::ValueMismatch {
                        claimed,
                        proven: leaf.value_hash,
                    });
                }
            }
            (Some(_), None) => return Err(StateProofError::ExpectedInclusion),
            (None, Some(leaf)) => {
                if leaf.key_hash == key_hash {
                    return Err(StateProofError::NotAbsent);
                }
                if common_prefix_bits(&key_hash, &leaf.key_hash) < self.siblings.len() {
                    return Err(StateProofError::WrongSubtree);
                }
            }
            (None, None) => {}
        }
        let mut hash = self.leaf.as_ref().map_or(EMPTY_SUBTREE, ProofLeaf::hash);
        let depth = self.siblings.len();
        for (level, sibling) in self.siblings.iter().enumerate() {
            // The bottom sibling pairs with the deepest bit of the path.
            let index = depth.saturating_sub(level).saturating_sub(1);
            hash = if bit(&key_hash, index) {
                internal_hash(sibling, &hash)
            } else {
                internal_hash(&hash, sibling)
            };
        }
        if hash != *root {
            return Err(StateProofError::RootMismatch {
                expected: *root,
                computed: hash,
            });
        }
        Ok(())
    }
}

impl Encode for StateProof {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(STATE_PROOF_VERSION);
        match &self.leaf {
            None => out.push(0),
            Some(leaf) => {
                out.push(1);
                leaf.key_hash.encode(out);
                leaf.value_hash.encode(out);
            }
        }
        self.siblings.encode(out);
    }
}

impl Decode for StateProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.tag("state proof version")?;
        if version != STATE_PROOF_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "state proof",
                version: u16::from(version),
            });
        }
        let leaf = match reader.tag("state proof leaf")? {
            0 => None,
            1 => Some(ProofLeaf {
                key_hash: Hash32::decode(reader)?,
                value_hash: Hash32::decode(reader)?,
            }),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "state proof leaf",
                    tag,
                });
            }
        };
        let count = reader.length("state proof siblings", MAX_SIBLINGS)?;
        let mut siblings = Vec::with_capacity(count);
        for _ in 0..count {
            siblings.push(Hash32::decode(reader)?);
        }
        Ok(StateProof { leaf, siblings })
    }
}

fn value_reader<'a>(bytes: &'a [u8], what: &'static str) -> Result<Reader<'a>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let version = reader.tag(what)?;
    if version != STATE_VALUE_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what,
            version: u16::from(version),
        });
    }
    Ok(reader)
}

/// An account entry (tag 1).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountEntry {
    /// Its current key.
    pub public_key: PublicKey,
    /// Its KYC state.
    pub kyc: KycState,
    /// Its roles.
    pub roles: Vec<Role>,
    /// The asset holder it banks with.
    pub asset_holder: Option<AccountId>,
    /// The KYC state an unban restores.
    pub kyc_before_ban: Option<KycState>,
}

impl AccountEntry {
    /// Decodes an account value.
    pub fn from_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = value_reader(bytes, "account entry")?;
        let entry = AccountEntry {
            public_key: PublicKey::decode(&mut r)?,
            kyc: KycState::decode(&mut r)?,
            roles: Vec::decode(&mut r)?,
            asset_holder: Option::decode(&mut r)?,
            kyc_before_ban: Option::decode(&mut r)?,
        };
        r.finish()?;
        Ok(entry)
    }
}

/// A balance entry (tag 2). An absent entry is a zero balance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct BalanceEntry {
    /// Spendable, base units.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub available: u128,
    /// Locked by pending requests, base units.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub locked: u128,
}

impl BalanceEntry {
    /// Decodes a balance value.
    pub fn from_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = value_reader(bytes, "balance entry")?;
        let entry = BalanceEntry {
            available: u128::decode(&mut r)?,
            locked: u128::decode(&mut r)?,
        };
        r.finish()?;
        Ok(entry)
    }
}

/// An asset entry (tag 3): its supply among other facts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AssetEntry {
    /// Its code.
    pub code: String,
    /// Decimals.
    pub precision: u8,
    /// What backs it.
    pub backing: BackingKind,
    /// Tokens in supply, base units.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub issued: u128,
    /// Most base units ever in supply.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub maximum: u128,
}

impl AssetEntry {
    /// Decodes an asset value.
    pub fn from_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = value_reader(bytes, "asset entry")?;
        let entry = AssetEntry {
            code: String::decode(&mut r)?,
            precision: u8::decode(&mut r)?,
            backing: BackingKind::decode(&mut r)?,
            issued: u128::decode(&mut r)?,
            maximum: u128::decode(&mut r)?,
        };
        r.finish()?;
        Ok(entry)
    }
}

/// An asset holder's position (tag 4). An absent entry is all zero.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PositionEntry {
    /// Assets settled at the settlement institution.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub settled: u128,
    /// Net owed to (+) or by (−) other asset holders since the last settlement.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::i128_string")]
    pub unsettled: i128,
    /// Tokens this asset holder's customers hold.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub issued: u128,
}

impl PositionEntry {
    /// Decodes a position value.
    pub fn from_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = value_reader(bytes, "position entry")?;
        let settled = u128::decode(&mut r)?;
        let unsettled = i128::from_be_bytes(r.array("unsettled")?);
        let issued = u128::decode(&mut r)?;
        r.finish()?;
        Ok(PositionEntry {
            settled,
            unsettled,
            issued,
        })
    }

    /// Settled plus unsettled: the assets behind the issued tokens (`None` on overflow).
    pub fn assets(&self) -> Option<i128> {
        i128::try_from(self.settled)
            .ok()?
            .checked_add(self.unsettled)
    }

    /// Whether the assets cover the issued tokens.
    pub fn is_covered(&self) -> bool {
        match (self.assets(), i128::try_from(self.issued)) {
            (Some(assets), Ok(issued)) => assets >= issued,
            _ => false,
        }
    }
}

/// The pending validator-set change (tag 16): the approved set and the first height it
/// certifies.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingValidatorsEntry {
    /// The approved set.
    pub validators: crate::validator::ValidatorSet,
    /// The first height it certifies.
    pub effective_height: u64,
}

impl PendingValidatorsEntry {
    /// Decodes the pending-change value.
    pub fn from_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = value_reader(bytes, "pending validators entry")?;
        let entry = PendingValidatorsEntry {
            validators: crate::validator::ValidatorSet::decode(&mut r)?,
            effective_height: u64::decode(&mut r)?,
        };
        r.finish()?;
        Ok(entry)
    }

    /// The value's canonical bytes (what the ledger stores under the key).
    pub fn to_value(&self) -> Vec<u8> {
        let mut out = vec![STATE_VALUE_VERSION];
        self.validators.encode(&mut out);
        self.effective_height.encode(&mut out);
        out
    }
}

/// The mapping entry (tag 6).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MappingEntry {
    /// The mapping's sequence.
    pub sequence: u64,
    /// SHA-256 of its exact bytes.
    pub hash: Hash32,
}

impl MappingEntry {
    /// Decodes the mapping value.
    pub fn from_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = value_reader(bytes, "mapping entry")?;
        let entry = MappingEntry {
            sequence: u64::decode(&mut r)?,
            hash: Hash32::decode(&mut r)?,
        };
        r.finish()?;
        Ok(entry)
    }
}
