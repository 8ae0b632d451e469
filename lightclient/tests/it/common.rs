//! Deterministic keys and objects shared by the tests.

use k256::ecdsa::SigningKey;
use lightclient::certificate::{CommitCertificate, CommitSignature};
use lightclient::hash::{Hash32, sha256};
use lightclient::header::{BlockHeader, ChainId, HEADER_VERSION};
use lightclient::keys::{AssetId, PublicKey, Signature};
use lightclient::mapping::{ControllerPolicy, MappedAsset, Mapping};
use lightclient::tx::{Operation, SignedTransaction, TRANSACTION_VERSION, Transaction};
use lightclient::validator::{Validator, ValidatorSet};

/// A software key from a one-byte seed (tests only; real keys live in HSMs).
pub fn signing_key(seed: u8) -> SigningKey {
    let mut secret = [0u8; 32];
    secret[31] = seed;
    secret[0] = 0x11;
    SigningKey::from_bytes(&secret.into()).unwrap()
}

pub fn public_key(key: &SigningKey) -> PublicKey {
    let point = key.verifying_key().to_encoded_point(true);
    PublicKey::from_compressed(point.as_bytes().try_into().unwrap()).unwrap()
}

/// RFC 6979 deterministic, low-S: the same inputs give the same vector bytes every run.
pub fn sign(key: &SigningKey, digest: &Hash32) -> Signature {
    let (sig, _) = key.sign_prehash_recoverable(digest.as_bytes()).unwrap();
    Signature::from(sig).normalize_s().unwrap()
}

/// A fixed stand-in for a genesis hash, so transaction vectors do not depend on a genesis file.
pub fn test_genesis_hash() -> Hash32 {
    lightclient::hash::tagged_hash("ABT/test/genesis", b"vectors")
}

pub fn chain() -> ChainId {
    ChainId::new("abt-test-1").unwrap()
}

/// Four validators of power 1 with keys seeded 1..=4, in validator-set order.
pub fn validators() -> (Vec<SigningKey>, ValidatorSet) {
    set_of(&[1, 2, 3, 4])
}

/// Validators of power 1 with the keys seeded by `seeds`, keys in validator-set order.
pub fn set_of(seeds: &[u8]) -> (Vec<SigningKey>, ValidatorSet) {
    let keys: Vec<SigningKey> = seeds.iter().map(|s| signing_key(*s)).collect();
    let set = ValidatorSet::new(
        keys.iter()
            .map(|k| Validator {
                public_key: public_key(k),
                voting_power: 1,
            })
            .collect(),
    )
    .unwrap();
    let ordered = set
        .validators()
        .iter()
        .map(|v| {
            keys.iter()
                .find(|k| public_key(k) == v.public_key)
                .unwrap()
                .clone()
        })
        .collect();
    (ordered, set)
}

pub fn header(set: &ValidatorSet) -> BlockHeader {
    BlockHeader {
        version: HEADER_VERSION,
        chain_id: chain(),
        height: 42,
        time_ms: 1_795_000_000_000,
        previous_block_hash: sha256(b"block 41"),
        proposer: set.validators()[0].address(),
        transactions_root: sha256(b"transactions"),
        transaction_count: 3,
        receipts_root: sha256(b"receipts"),
        state_root: sha256(b"state"),
        mapping_hash: sha256(b"mapping"),
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
    }
}

/// A certificate for `header` signed by the validators at `signers` (indices into the set).
pub fn certify(
    header: &BlockHeader,
    keys: &[SigningKey],
    set: &ValidatorSet,
    signers: &[usize],
) -> CommitCertificate {
    let mut cert = CommitCertificate {
        version: 1,
        height: header.height,
        round: 0,
        block_hash: header.hash(),
        signatures: Vec::new(),
    };
    for &i in signers {
        let validator = set.validators()[i].address();
        let digest = cert.precommit(&header.chain_id, validator).signing_digest();
        cert.signatures.push(CommitSignature {
            validator,
            signature: sign(&keys[i], &digest),
        });
    }
    cert
}

/// Controllers seeded 11..=13 with a 2-of-3 policy at precision 3.
pub fn controllers() -> (Vec<SigningKey>, ControllerPolicy) {
    let keys: Vec<SigningKey> = (11..=13).map(signing_key).collect();
    let policy = ControllerPolicy {
        threshold: 2,
        public_keys: keys.iter().map(public_key).collect(),
        precision: 3,
    };
    (keys, policy)
}

pub fn asset_id(byte: u8) -> AssetId {
    AssetId([byte; 32])
}

pub fn bar(asset: u8, amount: &str, vref: &str) -> MappedAsset {
    MappedAsset {
        assetid: asset_id(asset),
        amount: amount.into(),
        vref: vref.into(),
        location: "London vault 1, shelf 4".into(),
        issuer: "issuer-1".into(),
        refiner: "Valcambi".into(),
        fineness: "999.9".into(),
    }
}

pub fn unsigned_mapping(sequence: u64) -> Mapping {
    Mapping::new(
        chain(),
        sequence,
        100,
        "2026-11-21T12:00:00Z".into(),
        vec![
            bar(1, "400.125", "AB-1001"),
            bar(1, "12.5", "AB-1002"),
            bar(2, "1", "CD-77"),
        ],
        3,
    )
    .unwrap()
}

/// The mapping signed by the controllers at `signers`.
pub fn signed_mapping(sequence: u64, signers: &[usize]) -> (Mapping, ControllerPolicy) {
    let (keys, policy) = controllers();
    let mut mapping = unsigned_mapping(sequence);
    let digest = mapping.signing_digest().unwrap();
    for &i in signers {
        mapping.add_signature(u64::try_from(i).unwrap() + 1, &sign(&keys[i], &digest));
    }
    (mapping, policy)
}

pub fn transaction(operation: Operation) -> SignedTransaction {
    let key = signing_key(21);
    let public_key = public_key(&key);
    let transaction = Transaction {
        version: TRANSACTION_VERSION,
        chain_id: chain(),
        genesis_hash: test_genesis_hash(),
        signer: public_key.account_id(),
        public_key,
        salt: 7,
        expires_at_height: 1_000,
        operation,
    };
    let signature = sign(&key, &transaction.txid());
    SignedTransaction {
        transaction,
        signature,
    }
}
