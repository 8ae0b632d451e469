//! Test vectors in `tests/vectors/`, for a second implementation to check itself against.
//!
//! Each test rebuilds its vector from deterministic test keys (RFC 6979 signatures) and compares
//! it with the committed file, then re-checks the file on its own terms: decode each hex encoding,
//! compare with the JSON form, recompute each hash, re-run each verification. Set
//! `UPDATE_VECTORS=1` to rewrite the files after a deliberate format change (and bump a version).

use std::path::PathBuf;

use lightclient::certificate::{CertificateError, CommitCertificate};
use lightclient::encoding::{Decode, Encode};
use lightclient::genesis::Genesis;
use lightclient::hash::{Hash32, sha256};
use lightclient::header::BlockHeader;
use lightclient::jcs::canonicalize;
use lightclient::mapping::{ControllerPolicy, published_hash};
use lightclient::merkle::{InclusionProof, root};
use lightclient::tx::{SignedTransaction, Transaction};
use lightclient::validator::ValidatorSet;
use serde_json::{Value, json};

use crate::common::*;

fn check_or_update(name: &str, built: &Value) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        let mut text = serde_json::to_string_pretty(built).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(&file, built, "{name} differs from what this code produces");
    file
}

fn hex_of(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn hash_of(value: &Value) -> Hash32 {
    value.as_str().unwrap().parse().unwrap()
}

#[test]
fn header_encoding_and_block_hash() {
    let (_, set) = validators();
    let header = header(&set);
    let built = json!({
        "description": "block header v1: canonical encoding and block hash = tagged_hash(\"ABT/block-header/v1\", encoding)",
        "header": header,
        "encoding": hex::encode(header.to_bytes()),
        "block_hash": header.hash(),
    });
    let file = check_or_update("header.json", &built);
    let decoded = BlockHeader::from_bytes(&hex_of(&file["encoding"])).unwrap();
    assert_eq!(
        decoded,
        serde_json::from_value::<BlockHeader>(file["header"].clone()).unwrap()
    );
    assert_eq!(decoded.hash(), hash_of(&file["block_hash"]));
}

#[test]
fn transaction_encodings_txids_and_signatures() {
    let cases: Vec<Value> = crate::properties::sample_operations()
        .into_iter()
        .map(|operation| {
            let tx = transaction(operation);
            json!({
                "transaction": tx,
                "unsigned_encoding": hex::encode(tx.transaction.to_bytes()),
                "txid": tx.txid(),
                "signed_encoding": hex::encode(tx.to_bytes()),
            })
        })
        .collect();
    let built = json!({
        "description": "every operation once; txid = tagged_hash(\"ABT/transaction/v1\", unsigned encoding), signed by the test key below with RFC 6979 low-S ECDSA over the txid",
        "test_secret_key": hex::encode(signing_key(21).to_bytes()),
        "cases": cases,
    });
    let file = check_or_update("transactions.json", &built);
    for case in file["cases"].as_array().unwrap() {
        let from_json: SignedTransaction =
            serde_json::from_value(case["transaction"].clone()).unwrap();
        let unsigned = Transaction::from_bytes(&hex_of(&case["unsigned_encoding"])).unwrap();
        let signed = SignedTransaction::from_bytes(&hex_of(&case["signed_encoding"])).unwrap();
        assert_eq!(unsigned, from_json.transaction);
        assert_eq!(signed, from_json);
        assert_eq!(signed.txid(), hash_of(&case["txid"]));
        assert_eq!(signed.verify_signature(), Ok(()));
    }
}

#[test]
fn mapping_digest_and_published_hash() {
    let (mapping, policy) = signed_mapping(5, &[0, 2]);
    let mut unsigned = serde_json::to_value(&mapping).unwrap();
    unsigned.as_object_mut().unwrap().remove("signatures");
    let preimage = String::from_utf8(canonicalize(&unsigned).unwrap()).unwrap();
    let published = String::from_utf8(mapping.to_json_bytes().unwrap()).unwrap();
    let built = json!({
        "description": "mapping signing digest = SHA-256(RFC 8785 JSON without signatures); header mapping hash = SHA-256(published bytes); 2-of-3 policy, signed by controllers 0 and 2",
        "policy": policy,
        "current_sequence": 4,
        "signing_preimage": preimage,
        "signing_digest": mapping.signing_digest().unwrap(),
        "published": published,
        "published_hash": published_hash(published.as_bytes()),
    });
    let file = check_or_update("mapping.json", &built);
    let policy: ControllerPolicy = serde_json::from_value(file["policy"].clone()).unwrap();
    let published = file["published"].as_str().unwrap().as_bytes();
    let (parsed, signers) = policy
        .parse_and_verify(published, &chain(), file["current_sequence"].as_u64())
        .unwrap();
    assert_eq!(signers.len(), 2);
    assert_eq!(
        sha256(file["signing_preimage"].as_str().unwrap().as_bytes()),
        hash_of(&file["signing_digest"])
    );
    assert_eq!(
        parsed.signing_digest().unwrap(),
        hash_of(&file["signing_digest"])
    );
    assert_eq!(published_hash(published), hash_of(&file["published_hash"]));
}

#[test]
fn certificate_that_verifies_and_one_that_must_not() {
    let (keys, set) = validators();
    let header = header(&set);
    let good = certify(&header, &keys, &set, &[0, 1, 3]);
    let short = certify(&header, &keys, &set, &[0, 3]);
    let mut forged = certify(&header, &keys, &set, &[0, 1, 2]);
    forged.signatures[2].signature = forged.signatures[1].signature;
    let digests: Vec<Value> = good
        .signatures
        .iter()
        .map(|s| json!({"validator": s.validator, "precommit_digest": good.precommit(&header.chain_id, s.validator).signing_digest()}))
        .collect();
    let built = json!({
        "description": "commit certificates over the header below, 4 validators of power 1; precommit digest = tagged_hash(\"ABT/vote/v1\", vote encoding)",
        "validator_set": set,
        "validator_set_hash": set.hash(),
        "validator_set_encoding": hex::encode(set.to_bytes()),
        "header": header,
        "valid": {
            "certificate": good,
            "encoding": hex::encode(good.to_bytes()),
            "precommits": digests,
            "signed_power": 3,
        },
        "invalid": [
            {
                "why": "two of four signers is not more than two thirds",
                "certificate": short,
                "encoding": hex::encode(short.to_bytes()),
                "expected_error": CertificateError::InsufficientVotingPower { signed: 2, total: 4 }.to_string(),
            },
            {
                "why": "third signature is the second validator's, presented for the third",
                "certificate": forged,
                "encoding": hex::encode(forged.to_bytes()),
                "expected_error": CertificateError::InvalidSignature {
                    validator: forged.signatures[2].validator,
                    reason: lightclient::KeyError::BadSignature,
                }.to_string(),
            },
        ],
    });
    let file = check_or_update("certificate.json", &built);
    let set = ValidatorSet::from_bytes(&hex_of(&file["validator_set_encoding"])).unwrap();
    assert_eq!(set.hash(), hash_of(&file["validator_set_hash"]));
    let header: BlockHeader = serde_json::from_value(file["header"].clone()).unwrap();
    let good = CommitCertificate::from_bytes(&hex_of(&file["valid"]["encoding"])).unwrap();
    assert_eq!(good.verify_header(&header, &set), Ok(3));
    for case in file["invalid"].as_array().unwrap() {
        let cert = CommitCertificate::from_bytes(&hex_of(&case["encoding"])).unwrap();
        let error = cert.verify_header(&header, &set).unwrap_err();
        assert_eq!(error.to_string(), case["expected_error"].as_str().unwrap());
    }
}

#[test]
fn merkle_roots_and_inclusion_proofs() {
    let leaves: Vec<Vec<u8>> = (0u8..5).map(|i| vec![i; i as usize + 1]).collect();
    let proofs: Vec<Value> = (0..leaves.len())
        .map(|i| json!(InclusionProof::build(&leaves, i).unwrap()))
        .collect();
    let built = json!({
        "description": "RFC 9162 Merkle tree: leaf = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left || right)",
        "leaves": leaves.iter().map(hex::encode).collect::<Vec<_>>(),
        "root": root(&leaves),
        "proofs": proofs,
    });
    let file = check_or_update("merkle.json", &built);
    let root = hash_of(&file["root"]);
    for (leaf, proof) in file["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .zip(file["proofs"].as_array().unwrap())
    {
        let proof: InclusionProof = serde_json::from_value(proof.clone()).unwrap();
        assert_eq!(proof.verify(&hex_of(leaf), &root), Ok(()));
    }
}

#[test]
fn receipts_with_every_kind_of_event_and_their_root() {
    use lightclient::header::{Event, Receipt};
    use lightclient::keys::{AccountId, AssetId};
    let (asset, alice, bob) = (AssetId([7; 32]), AccountId([1; 20]), AccountId([2; 20]));
    let receipts = vec![
        Receipt {
            txid: sha256(b"transfer"),
            code: 0,
            code_name: "applied".into(),
            message: String::new(),
            events: vec![
                Event::Transfer {
                    asset,
                    from: alice,
                    to: bob,
                    amount: 120,
                },
                Event::FeeCharged {
                    asset,
                    payer: alice,
                    collector: bob,
                    amount: 2,
                },
            ],
        },
        Receipt {
            txid: sha256(b"refused"),
            code: 24,
            code_name: "insufficient_balance".into(),
            message: "not enough".into(),
            events: vec![],
        },
        Receipt {
            txid: sha256(b"everything else"),
            code: 0,
            code_name: "applied".into(),
            message: String::new(),
            events: vec![
                Event::Mint {
                    asset,
                    to: alice,
                    amount: 1_000,
                },
                Event::Burn {
                    asset,
                    from: bob,
                    amount: 5,
                },
                Event::Settlement {
                    asset,
                    asset_holder: alice,
                    amount: -120,
                },
                Event::BarRegistered {
                    serial: "AB-1".into(),
                    location: "London vault 1".into(),
                },
                Event::BarMoved {
                    serial: "AB-1".into(),
                    location: "Zurich vault 2".into(),
                },
                Event::BarReleased {
                    serial: "AB-1".into(),
                },
                Event::MappingVersion {
                    sequence: 3,
                    hash: sha256(b"mapping"),
                },
                Event::ValidatorSetChanged {
                    hash: sha256(b"set"),
                    effective_height: 100,
                },
            ],
        },
    ];
    let encodings: Vec<Vec<u8>> = receipts.iter().map(Encode::to_bytes).collect();
    let built = json!({
        "description": "receipt v2: 0x02 || txid || code u32 || code name || message || events (u32 count; each a tag byte 1-10 then its fields; i128 as 16 bytes two's complement big-endian); receipts root = RFC 9162 Merkle root of the encodings",
        "receipts": receipts,
        "encodings": encodings.iter().map(hex::encode).collect::<Vec<_>>(),
        "receipts_root": root(&encodings),
    });
    let file = check_or_update("receipts.json", &built);
    let mut leaves = Vec::new();
    for (json, encoding) in file["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(file["encodings"].as_array().unwrap())
    {
        let bytes = hex_of(encoding);
        let decoded = Receipt::from_bytes(&bytes).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), *json);
        assert_eq!(decoded.to_bytes(), bytes);
        leaves.push(bytes);
    }
    assert_eq!(root(&leaves), hash_of(&file["receipts_root"]));
}

#[test]
fn genesis_hash() {
    let genesis = crate::genesis::genesis();
    let canonical = String::from_utf8(genesis.canonical_bytes().unwrap()).unwrap();
    let built = json!({
        "description": "genesis hash = tagged_hash(\"ABT/genesis/v1\", RFC 8785 canonical genesis JSON)",
        "genesis": genesis,
        "canonical": canonical,
        "genesis_hash": genesis.hash().unwrap(),
    });
    let file = check_or_update("genesis.json", &built);
    let parsed = Genesis::from_json(file["canonical"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(parsed.hash().unwrap(), hash_of(&file["genesis_hash"]));
}
