use lightclient::genesis::{Genesis, GenesisAccount, GenesisAsset, GenesisError};
use lightclient::mapping::PolicyError;
use lightclient::tx::{BackingKind, KycState, Role};

use crate::common::*;

pub fn genesis() -> Genesis {
    let (_, validators) = validators();
    let (_, controllers) = controllers();
    Genesis {
        chain_id: chain(),
        genesis_time_ms: 1_795_000_000_000,
        validators,
        controllers,
        accounts: vec![GenesisAccount {
            public_key: public_key(&signing_key(31)),
            roles: vec![Role::SuperAdmin],
            kyc_state: KycState::Corporate,
            asset_holder: None,
        }],
        assets: vec![GenesisAsset {
            code: "USDX".into(),
            precision: 2,
            backing: BackingKind::DepositBacked,
            maximum: 10u128.pow(30),
        }],
    }
}

#[test]
fn genesis_round_trips_through_json_and_its_hash_ignores_formatting() {
    let genesis = genesis();
    let pretty = serde_json::to_vec_pretty(&genesis).unwrap();
    let parsed = Genesis::from_json(&pretty).unwrap();
    assert_eq!(parsed, genesis);
    assert_eq!(
        parsed.hash().unwrap(),
        Genesis::from_json(&genesis.canonical_bytes().unwrap())
            .unwrap()
            .hash()
            .unwrap()
    );
    let mut other = genesis.clone();
    other.genesis_time_ms += 1;
    assert_ne!(other.hash().unwrap(), genesis.hash().unwrap());
}

#[test]
fn genesis_rules_are_enforced() {
    let mut g = genesis();
    g.controllers.threshold = 4;
    assert_eq!(
        g.validate(),
        Err(GenesisError::Policy(PolicyError::BadThreshold {
            threshold: 4,
            keys: 3
        }))
    );

    let mut g = genesis();
    g.accounts[0].roles.clear();
    assert_eq!(g.validate(), Err(GenesisError::NoSuperAdmin));

    let mut g = genesis();
    g.accounts.push(g.accounts[0].clone());
    assert_eq!(
        g.validate(),
        Err(GenesisError::DuplicateAccount(g.accounts[0].public_key))
    );

    let mut g = genesis();
    g.assets[0].code = "usd".into();
    assert_eq!(g.validate(), Err(GenesisError::BadAssetCode("usd".into())));

    let mut g = genesis();
    g.assets.push(g.assets[0].clone());
    assert_eq!(
        g.validate(),
        Err(GenesisError::DuplicateAsset("USDX".into()))
    );

    let mut g = genesis();
    g.controllers.public_keys[1] = g.controllers.public_keys[0];
    assert_eq!(
        g.validate(),
        Err(GenesisError::Policy(PolicyError::DuplicateKey(
            g.controllers.public_keys[0]
        )))
    );
}

#[test]
fn validator_set_in_genesis_json_is_validated() {
    let text = serde_json::to_string(&genesis()).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["validators"] = serde_json::json!([]);
    match Genesis::from_json(value.to_string().as_bytes()) {
        Err(GenesisError::Json(message)) => {
            assert!(message.contains("validator set is empty"), "{message}");
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn initial_mapping_is_sequence_zero_and_empty() {
    let mapping = genesis().initial_mapping().unwrap();
    assert_eq!(mapping.sequence, 0);
    assert!(mapping.assets.is_empty());
    assert_eq!(mapping.chain, chain());
}
