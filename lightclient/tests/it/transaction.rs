use lightclient::ChainId;
use lightclient::encoding::{Decode, DecodeError, Encode};
use lightclient::hash::sha256;
use lightclient::keys::KeyError;
use lightclient::tx::{Operation, SignedTransaction, registration_digest};

use crate::common::*;

fn transfer() -> Operation {
    Operation::Transfer {
        to: public_key(&signing_key(22)).account_id(),
        asset: asset_id(1),
        amount: 1_000,
        expected_fee: 3,
    }
}

#[test]
fn a_signed_transaction_verifies_and_any_change_breaks_it() {
    let tx = transaction(transfer());
    assert_eq!(tx.verify_signature(), Ok(()));

    let mut changed = tx.clone();
    changed.transaction.salt += 1;
    assert_eq!(changed.verify_signature(), Err(KeyError::BadSignature));

    let mut other_key = tx;
    other_key.transaction.public_key = public_key(&signing_key(23));
    assert_eq!(other_key.verify_signature(), Err(KeyError::BadSignature));
}

#[test]
fn txid_covers_the_transaction_not_the_signature() {
    let tx = transaction(transfer());
    let mut resigned = tx.clone();
    resigned.signature = sign(&signing_key(21), &sha256(b"x"));
    assert_eq!(tx.txid(), resigned.txid());
    let mut salted = tx.clone();
    salted.transaction.salt = 8;
    assert_ne!(tx.txid(), salted.txid());
}

#[test]
fn unknown_operation_tag_and_version_are_refused() {
    let tx = transaction(transfer());
    let mut bytes = tx.to_bytes();
    bytes[1] = 1; // version 1, before the genesis binding
    assert_eq!(
        SignedTransaction::from_bytes(&bytes),
        Err(DecodeError::UnsupportedVersion {
            what: "transaction",
            version: 1
        })
    );
    bytes[1] = 3;
    assert_eq!(
        SignedTransaction::from_bytes(&bytes),
        Err(DecodeError::UnsupportedVersion {
            what: "transaction",
            version: 3
        })
    );
    let mut bytes = tx.to_bytes();
    // version(2) + chain id (4 + 10) + genesis hash (32) + signer(20) + key(33) + salt(8) +
    // expiry(8) = 117: the tag.
    assert_eq!(bytes[117], 12);
    bytes[117] = 200;
    assert_eq!(
        SignedTransaction::from_bytes(&bytes),
        Err(DecodeError::UnknownTag {
            what: "Operation",
            tag: 200
        })
    );
}

#[test]
fn registration_digest_binds_chain_and_asset_holder() {
    let challenge = sha256(b"challenge");
    let holder = public_key(&signing_key(40)).account_id();
    let other_holder = public_key(&signing_key(41)).account_id();
    let base = registration_digest(&chain(), &holder, &challenge);
    assert_ne!(
        base,
        registration_digest(&ChainId::new("abt-other-1").unwrap(), &holder, &challenge)
    );
    assert_ne!(
        base,
        registration_digest(&chain(), &other_holder, &challenge)
    );
}

#[test]
fn every_operation_round_trips_through_binary_and_json() {
    for operation in crate::properties::sample_operations() {
        let tx = transaction(operation);
        assert_eq!(
            SignedTransaction::from_bytes(&tx.to_bytes()),
            Ok(tx.clone())
        );
        let json = serde_json::to_string(&tx).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedTransaction>(&json).unwrap(),
            tx,
            "{json}"
        );
    }
}

#[test]
fn a_transaction_is_bound_to_one_genesis() {
    let tx = transaction(transfer());
    let mut elsewhere = tx.clone();
    elsewhere.transaction.genesis_hash = sha256(b"an earlier development genesis");
    // Same chain id, other genesis: another txid, so the signature does not carry over.
    assert_eq!(elsewhere.transaction.chain_id, tx.transaction.chain_id);
    assert_ne!(elsewhere.txid(), tx.txid());
    assert_eq!(elsewhere.verify_signature(), Err(KeyError::BadSignature));
    assert_eq!(
        tx.transaction.binding().genesis_hash,
        tx.transaction.genesis_hash
    );
}
