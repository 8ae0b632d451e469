use lightclient::hash::sha256;
use signer::pin::PinSource;
use signer::pkcs11::Pkcs11Signer;
use signer::{Signer, SignerError};

use crate::softhsm::new_token;

#[tokio::test(flavor = "multi_thread")]
async fn keygen_sign_verify_with_k256() {
    let config = new_token("sign");
    let signer = Pkcs11Signer::generate(config.clone(), "validator-1")
        .await
        .unwrap();
    let public_key = signer.public_key();
    // SoftHSM's nonces are random and about half its signatures are high-S; sign enough digests
    // that the normalisation path is certainly taken.
    for i in 0u8..16 {
        let digest = sha256(&[i]);
        let signature = signer.sign_digest(digest.as_bytes()).await.unwrap();
        assert_eq!(
            public_key.verify_digest(digest.as_bytes(), &signature),
            Ok(())
        );
    }
    // Reopening by label finds the same key.
    let reopened = Pkcs11Signer::open(config, "validator-1").await.unwrap();
    assert_eq!(reopened.public_key(), public_key);
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_is_sensitive_and_never_extractable() {
    let signer = Pkcs11Signer::generate(new_token("protect"), "controller-1")
        .await
        .unwrap();
    let protection = signer.protection().await.unwrap();
    assert!(protection.sensitive, "{protection:?}");
    assert!(!protection.extractable, "{protection:?}");
    assert!(protection.always_sensitive, "{protection:?}");
    assert!(protection.never_extractable, "{protection:?}");
    assert!(!protection.derive, "{protection:?}");
    assert!(
        !protection.value_readable,
        "CKA_VALUE returned key bytes: {protection:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_label_is_never_overwritten() {
    let config = new_token("exists");
    Pkcs11Signer::generate(config.clone(), "k").await.unwrap();
    let err = Pkcs11Signer::generate(config, "k").await.unwrap_err();
    assert!(
        matches!(err, SignerError::KeyExists(ref label) if label == "k"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_pin_missing_key_and_missing_token_are_typed() {
    let config = new_token("pin");
    Pkcs11Signer::generate(config.clone(), "k").await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.pin");
    std::fs::write(&wrong, "0000\n").unwrap();
    let mut bad = config.clone();
    bad.pin = PinSource::File(wrong);
    let err = Pkcs11Signer::open(bad, "k").await.unwrap_err();
    assert!(matches!(err, SignerError::WrongPin), "{err:?}");

    let err = Pkcs11Signer::open(config.clone(), "absent")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SignerError::KeyNotFound(ref l) if l == "absent"),
        "{err:?}"
    );

    let mut missing = config;
    missing.token_label = "no-such-token".into();
    let err = Pkcs11Signer::open(missing, "k").await.unwrap_err();
    assert!(
        matches!(err, SignerError::TokenNotFound(ref l) if l == "no-such-token"),
        "{err:?}"
    );

    let err = Pkcs11Signer::open(new_token("pin2"), "bad label")
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::BadLabel(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_recovers_after_the_token_drops_its_login() {
    let signer = Pkcs11Signer::generate(new_token("relogin"), "k")
        .await
        .unwrap();
    let digest = sha256(b"before");
    signer.sign_digest(digest.as_bytes()).await.unwrap();
    signer.logout_token().await.unwrap();
    let digest = sha256(b"after");
    let signature = signer.sign_digest(digest.as_bytes()).await.unwrap();
    assert_eq!(
        signer
            .public_key()
            .verify_digest(digest.as_bytes(), &signature),
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pin_from_an_unset_variable_is_a_typed_error() {
    let mut config = new_token("envpin");
    config.pin = PinSource::Env("ABT_TEST_PIN_THAT_IS_NOT_SET".into());
    let err = Pkcs11Signer::open(config, "k").await.unwrap_err();
    match err {
        SignerError::Pin(message) => assert!(message.contains("ABT_TEST_PIN_THAT_IS_NOT_SET")),
        other => panic!("expected a PIN error, got {other:?}"),
    }
}
