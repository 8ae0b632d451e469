//! Every input parser of the node refuses garbage with a typed error and never panics.

use appliance::admission::{SubmissionError, decode_submission as parse_submission};
use appliance::node::config::NodeConfig;
use lightclient::encoding::DecodeError;
use lightclient::encoding::Encode;
use lightclient::tx::Operation;
use proptest::prelude::*;

use crate::world::*;

/// A transfer of 5 from holder 20 to holder 21.
fn transfer() -> lightclient::tx::SignedTransaction {
    World::new().signed(
        20,
        Operation::Transfer {
            to: id(21),
            asset: usdx(),
            amount: 5,
            expected_fee: 0,
        },
        10,
    )
}

#[test]
fn a_submission_is_a_json_transaction_or_its_hex_encoding() {
    let tx = transfer();
    assert_eq!(
        parse_submission(serde_json::to_string(&tx).unwrap().as_bytes()),
        Ok(tx.clone())
    );
    let encoded = format!("{{\"encoded\":\"{}\"}}", hex::encode(tx.to_bytes()));
    assert_eq!(parse_submission(encoded.as_bytes()), Ok(tx));
    assert!(matches!(
        parse_submission(b"{\"encoded\":\"zz\"}"),
        Err(SubmissionError::BadHex(_))
    ));
    assert_eq!(
        parse_submission(b"{\"encoded\":\"0002\"}"),
        Err(SubmissionError::BadEncoding {
            field: "encoded".into(),
            source: DecodeError::UnexpectedEnd {
                what: "chain id",
                needed: 4,
                remaining: 0
            }
        })
    );
    assert!(matches!(
        parse_submission(b"[]"),
        Err(SubmissionError::BadField { .. })
    ));
    assert!(matches!(
        parse_submission(b"{\"encoded\":\"00\",\"extra\":1}"),
        Err(SubmissionError::BadField { field, .. }) if field == "extra"
    ));
}

/// Finding: a JSON transaction with `"version": 2` was admitted (202) and then halted the chain,
/// because validators decode a block's transactions with the binary decoder, which refuses it.
/// Both forms now go through that decoder.
#[test]
fn a_json_transaction_of_an_unknown_version_is_refused_like_its_encoding() {
    let mut tx = transfer();
    tx.transaction.version = 3;
    tx.signature = sign(&key(20), &tx.txid());
    let expected = DecodeError::UnsupportedVersion {
        what: "transaction",
        version: 3,
    };
    assert_eq!(
        parse_submission(serde_json::to_string(&tx).unwrap().as_bytes()),
        Err(SubmissionError::BadEncoding {
            field: "transaction.version".into(),
            source: expected.clone(),
        })
    );
    let encoded = format!("{{\"encoded\":\"{}\"}}", hex::encode(tx.to_bytes()));
    assert_eq!(
        parse_submission(encoded.as_bytes()),
        Err(SubmissionError::BadEncoding {
            field: "encoded".into(),
            source: expected,
        })
    );
}

/// Finding: a bad field answered "data did not match any variant of untagged enum `SubmitBody`".
#[test]
fn a_bad_field_in_a_json_transaction_is_named() {
    let tx = transfer();
    let mut value = serde_json::to_value(&tx).unwrap();
    value["transaction"]["operation"]["amount"] = serde_json::json!("five");
    let Err(SubmissionError::BadField { field, message }) =
        parse_submission(value.to_string().as_bytes())
    else {
        panic!("a bad amount must be a BadField");
    };
    // Operations are internally tagged (`"type"`), so the path stops at the operation; the
    // message names the amount.
    assert_eq!(field, "transaction.operation", "{message}");
    assert!(message.contains("\"five\""), "{message}");
    let mut value = serde_json::to_value(&tx).unwrap();
    value["transaction"]["salt"] = serde_json::json!(-1);
    let Err(SubmissionError::BadField { field, .. }) =
        parse_submission(value.to_string().as_bytes())
    else {
        panic!("a negative salt must be a BadField");
    };
    assert_eq!(field, "transaction.salt");
}

#[test]
fn a_config_with_an_unknown_key_is_refused_with_its_position() {
    let err = NodeConfig::parse(
        "data_dir = \"/d\"\ngenesis = \"/g\"\nsurprise = 1\n[api]\nlisten = \"127.0.0.1:1\"\n",
    )
    .unwrap_err();
    assert!(err.contains("surprise"), "{err}");
    let err = NodeConfig::parse("data_dir = \"/d\"\ngenesis = \"/g\"\n[api]\nlisten = \"not an address\"\n[hsm]\nbackend = \"pkcs11\"\n").unwrap_err();
    assert!(err.contains("listen") || err.contains("address"), "{err}");
}

proptest! {
    #[test]
    fn submissions_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_submission(&bytes);
    }

    #[test]
    fn damaged_json_submissions_never_panic(cut in 0usize..2_000, flip in any::<(usize, u8)>()) {
        let tx = transfer();
        let mut bytes = serde_json::to_vec(&tx).unwrap();
        let at = flip.0 % bytes.len();
        bytes[at] = flip.1;
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = parse_submission(&bytes);
    }

    #[test]
    fn configs_never_panic(text in "\\PC{0,300}") {
        let _ = NodeConfig::parse(&text);
    }

    /// The example configuration, damaged: the undamaged file is the control and parses.
    #[test]
    fn damaged_example_configs_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in any::<usize>()) {
        let example = include_str!("../../../deploy/examples/node.toml").as_bytes();
        let mut bytes = example.to_vec();
        for (at, value) in &edits {
            let len = bytes.len();
            bytes[at % len] = *value;
        }
        bytes.truncate(cut % (example.len() + 1));
        match std::str::from_utf8(&bytes) {
            Ok(text) => {
                let parsed = NodeConfig::parse(text);
                if bytes == example {
                    prop_assert!(parsed.is_ok(), "{parsed:?}");
                }
            }
            Err(_) => prop_assert!(bytes != example),
        }
    }
}
