//! secp256k1 keys, compact ECDSA signatures and the identifiers derived from keys.

use std::fmt;
use std::str::FromStr;

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{Signature as EcdsaSignature, VerifyingKey};

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::{HexError, parse_hex_array, serde_as_display_fromstr, tagged_hash, tags};

/// A compressed SEC1 secp256k1 public key (33 bytes), checked to be a point on the curve.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 33]);

/// Why a public key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not hex of the right length.
    #[error(transparent)]
    Hex(#[from] HexError),
    /// 33 bytes that are not a compressed point on secp256k1.
    #[error("not a compressed secp256k1 public key")]
    NotOnCurve,
    /// r or s is zero or not below the group order.
    #[error("signature scalar out of range")]
    MalformedSignature,
    /// s is in the upper half of the group order; only the low-S form is accepted.
    #[error("signature is not in low-S form")]
    HighS,
    /// The signature does not verify for this key and digest.
    #[error("signature does not verify")]
    BadSignature,
}

impl PublicKey {
    /// Checks that `bytes` are a compressed point on the curve.
    pub fn from_compressed(bytes: [u8; 33]) -> Result<Self, KeyError> {
        if !matches!(bytes[0], 2 | 3) {
            return Err(KeyError::NotOnCurve);
        }
        VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| KeyError::NotOnCurve)?;
        Ok(PublicKey(bytes))
    }

    /// The compressed encoding.
    pub fn as_bytes(&self) -> &[u8; 33] {
        &self.0
    }

    /// The key as k256 sees it.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_sec1_bytes(&self.0).map_err(|_| KeyError::NotOnCurve)
    }

    /// Checks a low-S ECDSA signature over a 32-byte digest.
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &Signature) -> Result<(), KeyError> {
        let key = self.verifying_key()?;
        let sig = signature.to_ecdsa()?;
        key.verify_prehash(digest, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// The account id this key founds when it registers (see [`AccountId`]).
    pub fn account_id(&self) -> AccountId {
        let hash = tagged_hash(tags::ACCOUNT_ID, &self.0);
        AccountId(first_20(hash.as_bytes()))
    }

    /// The consensus address of a validator holding this key.
    pub fn validator_address(&self) -> ValidatorAddress {
        let hash = tagged_hash(tags::VALIDATOR_ADDRESS, &self.0);
        ValidatorAddress(first_20(hash.as_bytes()))
    }
}

fn first_20(bytes: &[u8; 32]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(bytes.get(..20).unwrap_or(&[0u8; 20]));
    out
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::from_compressed(parse_hex_array(s)?)
    }
}
serde_as_display_fromstr!(PublicKey, "public key");
crate::hash::string_schema!(
    PublicKey,
    "a compressed secp256k1 public key, hex",
    hex = 66
);

impl Encode for PublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for PublicKey {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        PublicKey::from_compressed(reader.array("public key")?).map_err(|e| {
            DecodeError::InvalidValue {
                what: "public key",
                reason: e.to_string(),
            }
        })
    }
}

/// A compact ECDSA signature `r || s` (64 bytes, big-endian scalars). Accepted only in low-S form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Builds from separate `r` and `s` scalars.
    pub fn from_scalars(r: [u8; 32], s: [u8; 32]) -> Self {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&r);
        out[32..].copy_from_slice(&s);
        Signature(out)
    }

    /// The `r` scalar.
    pub fn r(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0[..32]);
        out
    }

    /// The `s` scalar.
    pub fn s(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0[32..]);
        out
    }

    fn to_ecdsa(self) -> Result<EcdsaSignature, KeyError> {
        let sig = EcdsaSignature::from_slice(&self.0).map_err(|_| KeyError::MalformedSignature)?;
        if sig.normalize_s().is_some() {
            return Err(KeyError::HighS);
        }
        Ok(sig)
    }

    /// Returns the low-S form of a signature (HSMs such as `SoftHSM` return either half).
    pub fn normalize_s(self) -> Result<Self, KeyError> {
        let sig = EcdsaSignature::from_slice(&self.0).map_err(|_| KeyError::MalformedSignature)?;
        let low = sig.normalize_s().unwrap_or(sig);
        let mut out = [0u8; 64];
        out.copy_from_slice(&low.to_bytes());
        Ok(Signature(out))
    }
}

impl From<EcdsaSignature> for Signature {
    fn from(sig: EcdsaSignature) -> Self {
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Signature(out)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_array(s).map(Signature)
    }
}
serde_as_display_fromstr!(Signature, "signature");
crate::hash::string_schema!(Signature, "a low-S ECDSA signature r || s, hex", hex = 128);

impl Encode for Signature {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Signature {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array("signature").map(Signature)
    }
}

/// Defines a fixed-length byte identifier shown and serialised as hex.
macro_rules! fixed_id {
    ($(#[$doc:meta])* $name:ident, $len:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex_array(s).map($name)
            }
        }
        serde_as_display_fromstr!($name, $what);
        crate::hash::string_schema!($name, $what, hex = $len * 2);
        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
        }
        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.array($what).map($name)
            }
        }
    };
}

fixed_id!(
    /// A ledger account: the first 20 bytes of the tagged hash of the key it was registered with.
    /// It stays the same when the key is rotated by recovery.
    AccountId,
    20,
    "account id"
);
impl AccountId {
    /// The redemption account: holders send allocated tokens here to redeem them, and the signed
    /// mapping update that removes their backing burns them. No key can found it (it is not the
    /// prefix of any known hash), so nobody can move tokens out of it by signing.
    pub const REDEMPTION: AccountId = AccountId([0u8; 20]);
}

fixed_id!(
    /// A validator's consensus address: the first 20 bytes of the tagged hash of its public key.
    ValidatorAddress,
    20,
    "validator address"
);
fixed_id!(
    /// An asset (token type). Deposit-backed assets take it from their code; allocated physical
    /// assets from on-chain entropy when their issuance request commits.
    AssetId,
    32,
    "asset id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32].into()).unwrap()
    }

    fn public(sk: &SigningKey) -> PublicKey {
        let point = sk.verifying_key().to_encoded_point(true);
        PublicKey::from_compressed(point.as_bytes().try_into().unwrap()).unwrap()
    }

    #[test]
    fn low_s_signature_verifies_and_high_s_twin_is_refused() {
        let sk = key(7);
        let digest = [9u8; 32];
        let (sig, _) = sk.sign_prehash_recoverable(&digest).unwrap();
        let sig = Signature::from(sig);
        let pk = public(&sk);
        assert_eq!(pk.verify_digest(&digest, &sig), Ok(()));

        // s' = n - s verifies mathematically but is the malleated twin.
        let ecdsa = EcdsaSignature::from_slice(&sig.0).unwrap();
        let high = EcdsaSignature::from_scalars(ecdsa.r(), -*ecdsa.s()).unwrap();
        let high = Signature::from(high);
        assert_eq!(pk.verify_digest(&digest, &high), Err(KeyError::HighS));
        assert_eq!(high.normalize_s(), Ok(sig));
    }

    #[test]
    fn wrong_digest_is_bad_signature() {
        let sk = key(7);
        let (sig, _) = sk.sign_prehash_recoverable(&[1u8; 32]).unwrap();
        assert_eq!(
            public(&sk).verify_digest(&[2u8; 32], &sig.into()),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn zero_scalars_are_malformed() {
        let pk = public(&key(3));
        assert_eq!(
            pk.verify_digest(&[0u8; 32], &Signature([0u8; 64])),
            Err(KeyError::MalformedSignature)
        );
    }

    #[test]
    fn public_key_must_be_compressed_point_on_curve() {
        let mut bytes = *public(&key(5)).as_bytes();
        bytes[0] = 4;
        assert_eq!(PublicKey::from_compressed(bytes), Err(KeyError::NotOnCurve));
        // x = 5 has no square root of x^3 + 7 on secp256k1.
        let mut off_curve = [0u8; 33];
        off_curve[0] = 2;
        off_curve[32] = 5;
        assert_eq!(
            PublicKey::from_compressed(off_curve),
            Err(KeyError::NotOnCurve)
        );
    }

    #[test]
    fn account_and_validator_ids_differ_for_the_same_key() {
        let pk = public(&key(1));
        assert_ne!(pk.account_id().0, pk.validator_address().0);
    }
}
