use std::sync::Arc;

use lightclient::hash::sha256;
use signer::pkcs11::Pkcs11Signer;
use signer::watermark::{Position, Step, Watermark, WatermarkError, WatermarkedSigner};
use signer::{Signer, SignerError};

use crate::softhsm::new_token;

fn at(height: u64, round: u32, step: Step) -> Position {
    Position {
        height,
        round,
        step,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watermark_refuses_a_double_sign_and_still_does_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator-1.watermark");
    let hsm: Arc<dyn Signer> = Arc::new(
        Pkcs11Signer::generate(new_token("wm"), "validator-1")
            .await
            .unwrap(),
    );

    let signer = WatermarkedSigner::new(Arc::clone(&hsm), &path).unwrap();
    let first = sha256(b"block A");
    let sig = signer
        .sign_at(at(5, 0, Step::Prevote), &first)
        .await
        .unwrap();
    assert_eq!(
        hsm.public_key().verify_digest(first.as_bytes(), &sig),
        Ok(())
    );
    // Same digest again at the same position: a retry, allowed.
    signer
        .sign_at(at(5, 0, Step::Prevote), &first)
        .await
        .unwrap();

    let second = sha256(b"block B");
    let err = signer
        .sign_at(at(5, 0, Step::Prevote), &second)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SignerError::Watermark(WatermarkError::Equivocation { signed, .. }) if signed == first),
        "{err:?}"
    );
    drop(signer);

    // A new process: the record on disk still refuses.
    let restarted = WatermarkedSigner::new(Arc::clone(&hsm), &path).unwrap();
    assert_eq!(restarted.last(), Some(at(5, 0, Step::Prevote)));
    let err = restarted
        .sign_at(at(5, 0, Step::Prevote), &second)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignerError::Watermark(WatermarkError::Equivocation { .. })
        ),
        "{err:?}"
    );
    let err = restarted
        .sign_at(at(4, 9, Step::Precommit), &second)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SignerError::Watermark(WatermarkError::Regression { last, .. }) if last == at(5, 0, Step::Prevote)),
        "{err:?}"
    );
    // Later positions are fine.
    restarted
        .sign_at(at(5, 0, Step::Precommit), &second)
        .await
        .unwrap();
    restarted
        .sign_at(at(5, 1, Step::Propose), &first)
        .await
        .unwrap();
}

#[test]
fn positions_order_by_height_round_then_step() {
    assert!(at(1, 0, Step::Precommit) < at(2, 0, Step::Propose));
    assert!(at(2, 0, Step::Precommit) < at(2, 1, Step::Propose));
    assert!(at(2, 1, Step::Propose) < at(2, 1, Step::Prevote));
    assert!(at(2, 1, Step::Prevote) < at(2, 1, Step::Precommit));
}

#[test]
fn a_corrupt_or_foreign_record_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wm");
    let key_a = lightclient::PublicKey::from_compressed(
        hex::decode("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
            .unwrap()
            .try_into()
            .unwrap(),
    )
    .unwrap();
    let key_b = lightclient::PublicKey::from_compressed(
        hex::decode("02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
            .unwrap()
            .try_into()
            .unwrap(),
    )
    .unwrap();
    let mut mark = Watermark::open(&path, key_a).unwrap();
    mark.advance(at(1, 0, Step::Prevote), sha256(b"x")).unwrap();
    assert!(matches!(
        Watermark::open(&path, key_b),
        Err(WatermarkError::WrongKey { .. })
    ));

    std::fs::write(&path, b"{ not json").unwrap();
    assert!(matches!(
        Watermark::open(&path, key_a),
        Err(WatermarkError::Corrupt { .. })
    ));
}
