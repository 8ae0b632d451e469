//! SHA-256, tagged hashes and the 32-byte hash type.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Domain tags. Every hash or signature of this protocol is taken under exactly one of them, so a
/// value signed or hashed for one purpose can never be replayed as another.
pub mod tags {
    /// Block hash: tagged hash of the canonical header bytes.
    pub const BLOCK_HEADER: &str = "ABT/block-header/v1";
    /// Transaction id and signing digest: tagged hash of the canonical unsigned transaction.
    pub const TRANSACTION: &str = "ABT/transaction/v1";
    /// Consensus vote signing digest.
    pub const VOTE: &str = "ABT/vote/v1";
    /// Consensus proposal signing digest.
    pub const PROPOSAL: &str = "ABT/proposal/v1";
    /// Validator set hash.
    pub const VALIDATOR_SET: &str = "ABT/validator-set/v1";
    /// Validator address derivation from its public key.
    pub const VALIDATOR_ADDRESS: &str = "ABT/validator-address/v1";
    /// Account id derivation from the holder's first public key.
    pub const ACCOUNT_ID: &str = "ABT/account-id/v1";
    /// Holder registration: the holder's signature over the asset holder's challenge.
    pub const REGISTRATION_CHALLENGE: &str = "ABT/registration-challenge/v1";
    /// Genesis hash: tagged hash of the RFC 8785 canonical genesis JSON.
    pub const GENESIS: &str = "ABT/genesis/v1";
    /// Asset id of a deposit-backed asset, from its code.
    pub const ASSET_CODE: &str = "ABT/asset-code/v1";
    /// Receipt list commitment leaf.
    pub const RECEIPT: &str = "ABT/receipt/v1";
    /// A validator's binding of its network (libp2p) identity to its consensus key.
    pub const PEER_PROOF: &str = "ABT/peer-proof/v1";
    /// A current validator's approval of a validator-set change (ADR 0016).
    pub const VALIDATOR_SET_CHANGE: &str = "ABT/validator-set-change/v1";
    /// A vault-staff member's login to a node's console.
    pub const CONSOLE_LOGIN: &str = "ABT/console-login/v1";
}

/// A 32-byte hash. Displayed and serialised as 64 lowercase hex characters in the byte order it was
/// computed (no byte reversal, unlike Bitcoin's txid display).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The all-zero hash, used where a field has no predecessor (the genesis block's parent).
    pub const ZERO: Hash32 = Hash32([0u8; 32]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

/// A hex string that does not hold exactly the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} bytes of hex, got {found:?}")]
pub struct HexError {
    /// How many bytes were expected.
    pub expected: usize,
    /// The offending text, shortened to at most 80 characters.
    pub found: String,
}

/// Parses exactly `N` bytes of lowercase hex. Uppercase is refused so that every value has one
/// textual form: a signed JSON document cannot be altered by changing the case of a digit.
pub fn parse_hex_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let mut out = [0u8; N];
    let lowercase = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match hex::decode_to_slice(text, &mut out) {
        Ok(()) if lowercase => Ok(out),
        _ => Err(HexError {
            expected: N,
            found: text.chars().take(80).collect(),
        }),
    }
}

impl FromStr for Hash32 {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_array(s).map(Hash32)
    }
}

/// Implements `Serialize`/`Deserialize` as a fixed-length hex string for a newtype whose
/// `FromStr` parses that hex and whose `Display` prints it.
macro_rules! serde_as_display_fromstr {
    ($ty:ty, $what:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(|e| {
                    <D::Error as serde::de::Error>::custom(format_args!("invalid {}: {}", $what, e))
                })
            }
        }
    };
}
pub(crate) use serde_as_display_fromstr;

/// The OpenAPI schema of a type serialised as a string (`serde_as_display_fromstr!`): `$what`
/// as its description, and with `hex = N`, exactly N lowercase hex digits.
#[cfg(feature = "openapi")]
macro_rules! string_schema {
    ($ty:ty, $what:literal) => {
        $crate::hash::string_schema!($ty, $what, None::<String>);
    };
    ($ty:ty, $what:literal, hex = $digits:expr) => {
        $crate::hash::string_schema!($ty, $what, Some(format!("^[0-9a-f]{{{}}}$", $digits)));
    };
    ($ty:ty, $what:literal, $pattern:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($what))
                    .pattern($pattern)
                    .into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}
#[cfg(feature = "openapi")]
pub(crate) use string_schema;
#[cfg(not(feature = "openapi"))]
macro_rules! string_schema {
    ($($anything:tt)*) => {};
}
#[cfg(not(feature = "openapi"))]
pub(crate) use string_schema;

serde_as_display_fromstr!(Hash32, "hash");
string_schema!(Hash32, "a SHA-256 hash, hex", hex = 64);

/// Plain SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(data).into())
}

/// BIP-340 style tagged hash: `SHA256(SHA256(tag) || SHA256(tag) || data)`.
pub fn tagged_hash(tag: &str, data: &[u8]) -> Hash32 {
    let tag_hash = Sha256::digest(tag.as_bytes());
    let mut hasher = Sha256::new();
    hasher.update(tag_hash);
    hasher.update(tag_hash);
    hasher.update(data);
    Hash32(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_matches_fips_180_vector() {
        assert_eq!(
            sha256(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tagged_hash_matches_bip340_construction() {
        // BIP-340's "BIP0340/challenge" tag prefix is SHA256(tag) twice; check the construction
        // against a manual computation.
        let tag = Sha256::digest(b"BIP0340/challenge");
        let mut manual = Vec::new();
        manual.extend_from_slice(&tag);
        manual.extend_from_slice(&tag);
        manual.extend_from_slice(b"msg");
        assert_eq!(tagged_hash("BIP0340/challenge", b"msg"), sha256(&manual));
        assert_ne!(
            tagged_hash(tags::TRANSACTION, b"x"),
            tagged_hash(tags::VOTE, b"x")
        );
    }

    #[test]
    fn hash_hex_round_trips_and_rejects_wrong_length() {
        let h = sha256(b"abc");
        assert_eq!(h.to_hex().parse::<Hash32>(), Ok(h));
        let err = "abcd".parse::<Hash32>().unwrap_err();
        assert_eq!(
            err,
            HexError {
                expected: 32,
                found: "abcd".into()
            }
        );
    }
}
