//! The fixed keys and objects the targets verify against: the same seeds as the light client's
//! test vectors, so a vector is a valid seed and the fuzzer starts from inputs that verify.

use std::sync::OnceLock;

use k256::ecdsa::SigningKey;
use lightclient::hash::Hash32;
use lightclient::header::ChainId;
use lightclient::keys::{PublicKey, Signature};
use lightclient::mapping::ControllerPolicy;
use lightclient::validator::{Validator, ValidatorSet};

/// A software key from a one-byte seed (fixtures only; real keys live in HSMs).
pub fn signing_key(seed: u8) -> SigningKey {
    let mut secret = [0u8; 32];
    secret[31] = seed;
    secret[0] = 0x11;
    SigningKey::from_bytes(&secret.into()).expect("a fixed valid scalar")
}

/// The compressed public key of `key`.
pub fn public_key(key: &SigningKey) -> PublicKey {
    let point = key.verifying_key().to_encoded_point(true);
    PublicKey::from_compressed(point.as_bytes().try_into().expect("33 bytes"))
        .expect("a valid point")
}

/// RFC 6979, low-S: the same inputs give the same bytes every run.
pub fn sign(key: &SigningKey, digest: &Hash32) -> Signature {
    let (sig, _) = key
        .sign_prehash_recoverable(digest.as_bytes())
        .expect("a 32-byte digest");
    Signature::from(sig)
        .normalize_s()
        .expect("a valid signature")
}

/// The chain of the vectors.
pub fn chain() -> ChainId {
    ChainId::new("abt-test-1").expect("a valid chain id")
}

/// Four validators of power 1 seeded 1..=4, keys in validator-set order.
pub fn validators() -> &'static (Vec<SigningKey>, ValidatorSet) {
    static SET: OnceLock<(Vec<SigningKey>, ValidatorSet)> = OnceLock::new();
    SET.get_or_init(|| {
        let keys: Vec<SigningKey> = (1..=4).map(signing_key).collect();
        let set = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator {
                    public_key: public_key(k),
                    voting_power: 1,
                })
                .collect(),
        )
        .expect("four distinct validators");
        let ordered = set
            .validators()
            .iter()
            .filter_map(|v| keys.iter().find(|k| public_key(k) == v.public_key).cloned())
            .collect();
        (ordered, set)
    })
}

/// Controllers seeded 11..=13, 2-of-3 at precision 3 (the mapping vector's policy).
pub fn controllers() -> &'static (Vec<SigningKey>, ControllerPolicy) {
    static POLICY: OnceLock<(Vec<SigningKey>, ControllerPolicy)> = OnceLock::new();
    POLICY.get_or_init(|| {
        let keys: Vec<SigningKey> = (11..=13).map(signing_key).collect();
        let policy = ControllerPolicy {
            threshold: 2,
            public_keys: keys.iter().map(public_key).collect(),
            precision: 3,
        };
        (keys, policy)
    })
}
