//! Every input parser of the node refuses garbage with a typed error and never panics.

use appliance::node::api::parse_submission;
use appliance::node::config::NodeConfig;
use lightclient::encoding::Encode;
use lightclient::tx::Operation;
use proptest::prelude::*;

use crate::world::*;

#[test]
fn a_submission_is_a_json_transaction_or_its_hex_encoding() {
    let mut w = World::new();
    let tx = w.signed(
        20,
        Operation::Transfer {
            to: id(21),
            asset: usdx(),
            amount: 5,
            expected_fee: 0,
        },
        10,
    );
    assert_eq!(
        parse_submission(serde_json::to_string(&tx).unwrap().as_bytes()),
        Ok(tx.clone())
    );
    let encoded = format!("{{\"encoded\":\"{}\"}}", hex::encode(tx.to_bytes()));
    assert_eq!(parse_submission(encoded.as_bytes()), Ok(tx));
    assert_eq!(
        parse_submission(b"{\"encoded\":\"zz\"}").unwrap_err().0,
        "bad_request"
    );
    assert_eq!(
        parse_submission(b"{\"encoded\":\"0001\"}").unwrap_err().0,
        "bad_encoding"
    );
    assert_eq!(parse_submission(b"[]").unwrap_err().0, "bad_request");
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
        let mut w = World::new();
        let tx = w.signed(20, Operation::Transfer { to: id(21), asset: usdx(), amount: 5, expected_fee: 0 }, 10);
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
}
