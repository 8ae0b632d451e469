use lightclient::ChainId;
use lightclient::amount::AmountError;
use lightclient::jcs::CanonicalError;
use lightclient::mapping::{Mapping, MappingError, MappingSignature, published_hash};

use crate::common::*;

#[test]
fn mapping_signed_two_of_three_verifies() {
    let (mapping, policy) = signed_mapping(5, &[0, 2]);
    let bytes = mapping.to_json_bytes().unwrap();
    let (parsed, signers) = policy.parse_and_verify(&bytes, &chain(), Some(4)).unwrap();
    assert_eq!(parsed, mapping);
    assert_eq!(signers.len(), 2);
    assert!(signers.contains(&policy.public_keys[0]) && signers.contains(&policy.public_keys[2]));
}

#[test]
fn the_authkey_is_the_controllers_position_in_the_policy_counted_from_one() {
    let (mapping, policy) = signed_mapping(5, &[0, 2]);
    let authkeys: Vec<u64> = mapping.signatures.iter().map(|s| s.authkey).collect();
    assert_eq!(authkeys, [1, 3]);
    // The published JSON carries the number, as the Ocean asset-mapping note's example does.
    let json: serde_json::Value =
        serde_json::from_slice(&mapping.to_json_bytes().unwrap()).unwrap();
    assert_eq!(json["signatures"][0]["authkey"], serde_json::json!(1));
    assert_eq!(policy.authkey_of(&policy.public_keys[2]), Some(3));
    assert_eq!(policy.key_of(3), Some(&policy.public_keys[2]));
    assert_eq!(policy.key_of(0), None);
    assert_eq!(policy.authkey_of(&public_key(&signing_key(77))), None);
    // A key in another form than a number is refused by the decoder.
    let mut text = String::from_utf8(mapping.to_json_bytes().unwrap()).unwrap();
    text = text.replacen(
        "\"authkey\":1",
        &format!("\"authkey\":\"{}\"", policy.public_keys[0]),
        1,
    );
    assert!(matches!(
        Mapping::parse(text.as_bytes(), policy.precision),
        Err(MappingError::Json(_))
    ));
}

#[test]
fn one_signature_copied_under_a_second_authkey_is_bad() {
    let (mut mapping, policy) = signed_mapping(5, &[0]);
    let copy = MappingSignature {
        authkey: 2,
        r: mapping.signatures[0].r.clone(),
        s: mapping.signatures[0].s.clone(),
    };
    mapping.signatures.push(copy.clone());
    let bad = Err(MappingError::BadSignature {
        authkey: 2,
        key: policy.public_keys[1],
        r: copy.r.clone(),
        s: copy.s,
    });
    assert_eq!(policy.verify(&mapping, &chain(), Some(4)), bad);
    // The verdict does not depend on which entry comes first.
    mapping.signatures.reverse();
    assert_eq!(policy.verify(&mapping, &chain(), Some(4)), bad);
}

#[test]
fn a_controller_named_twice_is_refused() {
    let (keys, policy) = controllers();
    let (mut mapping, _) = signed_mapping(5, &[1]);
    let digest = mapping.signing_digest().unwrap();
    // A second, different and valid signature by the same key (another nonce).
    use k256::ecdsa::hazmat::SignPrimitive;
    let secret: &k256::Scalar = keys[1].as_nonzero_scalar().as_ref();
    let (again, _) = secret
        .try_sign_prehashed(k256::Scalar::from(12_345u64), &(*digest.as_bytes()).into())
        .unwrap();
    let again = lightclient::Signature::from(again).normalize_s().unwrap();
    assert_ne!(
        format!("{}{}", mapping.signatures[0].r, mapping.signatures[0].s),
        again.to_string()
    );
    mapping.add_signature(2, &again);
    assert_eq!(
        policy.verify(&mapping, &chain(), None),
        Err(MappingError::RepeatedAuthkey {
            index: 1,
            authkey: 2
        })
    );
    // An exact repeat of one entry is refused the same way.
    let (mut mapping, _) = signed_mapping(5, &[0, 1]);
    mapping.signatures.push(mapping.signatures[0].clone());
    assert_eq!(
        policy.verify(&mapping, &chain(), None),
        Err(MappingError::RepeatedAuthkey {
            index: 2,
            authkey: 1
        })
    );
}

#[test]
fn an_authkey_outside_the_policy_is_out_of_range() {
    let (mut mapping, policy) = signed_mapping(5, &[0, 1]);
    let outsider = signing_key(77);
    let digest = mapping.signing_digest().unwrap();
    for authkey in [0, 4, u64::from(u32::MAX)] {
        let mut tampered = mapping.clone();
        tampered.add_signature(authkey, &sign(&outsider, &digest));
        assert_eq!(
            policy.verify(&tampered, &chain(), None),
            Err(MappingError::AuthkeyOutOfRange {
                index: 2,
                authkey,
                keys: 3
            })
        );
    }
    // Beyond JSON's exact integers the number cannot even be read back.
    mapping.add_signature(1 << 53, &sign(&outsider, &digest));
    let bytes = serde_json::to_vec(&serde_json::json!({
        "date": mapping.date, "chain": mapping.chain, "sequence": 5, "height": mapping.height,
        "assets": mapping.assets, "signatures": mapping.signatures,
    }))
    .unwrap();
    assert!(matches!(
        Mapping::parse(&bytes, policy.precision),
        Err(MappingError::Canonical(CanonicalError::UnsupportedNumber(
            _
        )))
    ));
}

#[test]
fn a_signature_over_other_content_is_bad() {
    let (keys, policy) = controllers();
    let (mut mapping, _) = signed_mapping(5, &[0]);
    let wrong = sign(&keys[1], &lightclient::hash::sha256(b"something else"));
    mapping.add_signature(2, &wrong);
    assert_eq!(
        policy.verify(&mapping, &chain(), None),
        Err(MappingError::BadSignature {
            authkey: 2,
            key: policy.public_keys[1],
            r: hex::encode(wrong.r()),
            s: hex::encode(wrong.s()),
        })
    );
}

#[test]
fn a_high_s_signature_is_bad() {
    let (mut mapping, policy) = signed_mapping(5, &[0, 1]);
    let sig = k256::ecdsa::Signature::from_slice(
        &hex::decode(format!(
            "{}{}",
            mapping.signatures[1].r, mapping.signatures[1].s
        ))
        .unwrap(),
    )
    .unwrap();
    let high = k256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
    let high = lightclient::Signature::from(high);
    mapping.signatures[1].s = hex::encode(high.s());
    assert!(matches!(
        policy.verify(&mapping, &chain(), None),
        Err(MappingError::BadSignature { authkey: 2, key, .. }) if key == policy.public_keys[1]
    ));
}

#[test]
fn an_older_or_equal_sequence_is_stale() {
    let (mapping, policy) = signed_mapping(5, &[0, 1]);
    for current in [5, 6] {
        assert_eq!(
            policy.verify(&mapping, &chain(), Some(current)),
            Err(MappingError::StaleSequence {
                sequence: 5,
                current
            })
        );
    }
}

#[test]
fn a_mapping_for_another_chain_is_refused() {
    let (mapping, policy) = signed_mapping(5, &[0, 1]);
    let other = ChainId::new("abt-other-1").unwrap();
    assert_eq!(
        policy.verify(&mapping, &other, None),
        Err(MappingError::WrongChain {
            expected: other.clone(),
            found: chain()
        })
    );
}

#[test]
fn signatures_are_not_part_of_the_signed_digest_but_are_published() {
    let unsigned = unsigned_mapping(5);
    let (signed, _) = signed_mapping(5, &[0, 1]);
    assert_eq!(unsigned.signing_digest(), signed.signing_digest());
    assert_ne!(
        published_hash(&unsigned.to_json_bytes().unwrap()),
        published_hash(&signed.to_json_bytes().unwrap())
    );
}

#[test]
fn totals_sum_entries_per_asset() {
    let totals = unsigned_mapping(1).totals();
    assert_eq!(totals[&asset_id(1)], 412_625);
    assert_eq!(totals[&asset_id(2)], 1_000);
}

fn json_with_amount(amount: &str) -> Vec<u8> {
    format!(
        r#"{{"date":"d","chain":"abt-test-1","sequence":1,"height":1,"assets":[{{"assetid":"{}","amount":{amount},"vref":"B1","location":"L","issuer":"I","refiner":"R","fineness":"999.9"}}],"signatures":[]}}"#,
        "01".repeat(32)
    )
    .into_bytes()
}

#[test]
fn amounts_must_be_decimal_strings_within_precision() {
    assert!(Mapping::parse(&json_with_amount("\"1.5\""), 3).is_ok());
    assert_eq!(
        Mapping::parse(&json_with_amount("1.5"), 3),
        Err(MappingError::AmountNotString {
            index: 0,
            found: "1.5".into()
        })
    );
    assert_eq!(
        Mapping::parse(&json_with_amount("15"), 3),
        Err(MappingError::AmountNotString {
            index: 0,
            found: "15".into()
        })
    );
    assert_eq!(
        Mapping::parse(&json_with_amount("\"1e3\""), 3),
        Err(MappingError::Amount {
            index: 0,
            source: AmountError::Exponent("1e3".into())
        })
    );
    assert_eq!(
        Mapping::parse(&json_with_amount("\"-2\""), 3),
        Err(MappingError::Amount {
            index: 0,
            source: AmountError::Negative("-2".into())
        })
    );
    assert_eq!(
        Mapping::parse(&json_with_amount("\"1.2345\""), 3),
        Err(MappingError::Amount {
            index: 0,
            source: AmountError::TooManyDecimals {
                amount: "1.2345".into(),
                decimals: 4,
                precision: 3
            }
        })
    );
    assert_eq!(
        Mapping::parse(&json_with_amount("\"0.000\""), 3),
        Err(MappingError::ZeroAmount { index: 0 })
    );
}

#[test]
fn unknown_repeated_or_missing_fields_are_refused() {
    let good = String::from_utf8(json_with_amount("\"1\"")).unwrap();
    let unknown = good.replacen("\"date\":\"d\"", "\"date\":\"d\",\"extra\":1", 1);
    let repeated = good.replacen("\"date\":\"d\"", "\"date\":\"d\",\"date\":\"e\"", 1);
    let missing = good.replacen("\"height\":1,", "", 1);
    for (text, needle) in [
        (unknown, "unknown field `extra`"),
        (repeated, "duplicate field `date`"),
        (missing, "missing field `height`"),
    ] {
        match Mapping::parse(text.as_bytes(), 3) {
            Err(MappingError::Json(message)) => assert!(message.contains(needle), "{message}"),
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }
}

#[test]
fn sequence_beyond_two_to_the_53_is_refused() {
    let text = String::from_utf8(json_with_amount("\"1\""))
        .unwrap()
        .replacen("\"sequence\":1", "\"sequence\":9007199254740992", 1);
    assert_eq!(
        Mapping::parse(text.as_bytes(), 3),
        Err(MappingError::Canonical(CanonicalError::UnsupportedNumber(
            "9007199254740992".into()
        )))
    );
}

#[test]
fn the_same_bar_twice_for_one_asset_is_refused() {
    let result = Mapping::new(
        chain(),
        1,
        1,
        "d".into(),
        vec![bar(1, "1", "X"), bar(1, "2", "X")],
        3,
    );
    assert_eq!(
        result,
        Err(MappingError::DuplicateEntry {
            index: 1,
            assetid: asset_id(1),
            vref: "X".into()
        })
    );
}

#[test]
fn uppercase_hex_is_not_canonical() {
    let (mut mapping, policy) = signed_mapping(5, &[0, 1]);
    mapping.signatures[0].r = mapping.signatures[0].r.to_uppercase();
    assert!(matches!(
        policy.verify(&mapping, &chain(), None),
        Err(MappingError::MalformedSignature { index: 0, .. })
    ));
}
