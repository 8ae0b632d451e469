//! State proofs (ADR 0015) checked on their own terms from `tests/vectors/state-proofs.json`,
//! which the ledger's tree produced: key hashes recompute, every proof verifies against the
//! root with its value (or absent), values decode to what the file says, and any change to a
//! value, a proof byte or the root is refused.

use std::path::PathBuf;

use lightclient::encoding::{Decode, Encode};
use lightclient::hash::{Hash32, sha256};
use lightclient::keys::{AccountId, AssetId};
use lightclient::state::{
    AssetEntry, BalanceEntry, PositionEntry, STATE_PROOF_VERSION, StateKey, StateProof,
    StateProofError,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/state-proofs.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_of(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

#[test]
fn every_vector_verifies_and_every_change_is_refused() {
    let file = vectors();
    let root: Hash32 = file["state_root"].as_str().unwrap().parse().unwrap();
    let proofs = file["proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 6);
    for case in proofs {
        let name = case["description"].as_str().unwrap();
        let key = hex_of(&case["key"]);
        let key_hash = sha256(&key);
        assert_eq!(
            key_hash.to_string(),
            case["key_hash"].as_str().unwrap(),
            "{name}"
        );
        let value = case["value"].as_str().map(|v| hex::decode(v).unwrap());
        let bytes = hex_of(&case["proof"]);
        let proof = StateProof::from_bytes(&bytes).unwrap();
        assert_eq!(proof.to_bytes(), bytes, "{name}: the encoding is canonical");
        assert_eq!(
            proof.verify_key_hash(&root, &key_hash, value.as_deref()),
            Ok(()),
            "{name}"
        );

        let mut other_root = root;
        other_root.0[0] ^= 1;
        assert!(matches!(
            proof.verify_key_hash(&other_root, &key_hash, value.as_deref()),
            Err(StateProofError::RootMismatch { .. })
        ));
        match &value {
            Some(v) => {
                let mut changed = v.clone();
                *changed.last_mut().unwrap() ^= 1;
                assert!(
                    matches!(
                        proof.verify_key_hash(&root, &key_hash, Some(&changed)),
                        Err(StateProofError::ValueMismatch { .. })
                    ),
                    "{name}"
                );
                assert_eq!(
                    proof.verify_key_hash(&root, &key_hash, None),
                    Err(StateProofError::NotAbsent),
                    "{name}"
                );
            }
            None => assert!(
                proof
                    .verify_key_hash(&root, &key_hash, Some(b"\x01"))
                    .is_err(),
                "{name}"
            ),
        }
        for i in 1..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x40;
            if let Ok(tampered) = StateProof::from_bytes(&tampered) {
                assert!(
                    tampered
                        .verify_key_hash(&root, &key_hash, value.as_deref())
                        .is_err(),
                    "{name}: byte {i} changed and the proof still verified"
                );
            }
        }
    }
}

#[test]
fn the_vectors_values_decode_to_what_the_file_says() {
    let file = vectors();
    let proofs = file["proofs"].as_array().unwrap();
    let value = |i: usize| hex_of(&proofs[i]["value"]);
    let balance = BalanceEntry::from_value(&value(0)).unwrap();
    assert_eq!(serde_json::to_value(balance).unwrap(), proofs[0]["decoded"]);
    assert_eq!(balance.available, 20_250);
    assert!(
        proofs[1]["value"].is_null(),
        "a never-credited balance is proven absent"
    );
    let asset = AssetEntry::from_value(&value(2)).unwrap();
    assert_eq!(asset.code, "USDX");
    assert_eq!(serde_json::to_value(&asset).unwrap(), proofs[2]["decoded"]);
    let position = PositionEntry::from_value(&value(3)).unwrap();
    assert_eq!(
        serde_json::to_value(position).unwrap(),
        proofs[3]["decoded"]
    );
    assert!(position.is_covered());
    // The key bytes are the documented layout: tag 2, account id, asset id.
    let key = hex_of(&proofs[0]["key"]);
    assert_eq!(key[0], 2);
    let account = AccountId(key[1..21].try_into().unwrap());
    let asset_id = AssetId(key[21..53].try_into().unwrap());
    assert_eq!(StateKey::Balance(account, asset_id).to_bytes(), key);
}

#[test]
fn a_proof_of_an_unknown_version_or_too_deep_is_refused_by_name() {
    let proof = StateProof {
        leaf: None,
        siblings: vec![Hash32([1; 32]); 257],
    };
    assert_eq!(
        proof.verify_key_hash(&Hash32([0; 32]), &Hash32([0; 32]), None),
        Err(StateProofError::TooManySiblings(257))
    );
    let mut bytes = proof.to_bytes();
    assert!(
        StateProof::from_bytes(&bytes).is_err(),
        "257 siblings do not decode"
    );
    bytes[0] = STATE_PROOF_VERSION + 1;
    assert!(matches!(
        StateProof::from_bytes(&bytes),
        Err(lightclient::DecodeError::UnsupportedVersion {
            what: "state proof",
            version: 2
        })
    ));
    // A value with another format byte is refused too.
    assert!(BalanceEntry::from_value(&[2; 33]).is_err());
}
