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

/// Malachite re-derives earlier rounds' votes when it replays its log after a restart, and the
/// ones it signed while replaying are not in that log: the identical vote must be signed again
/// (a refusal halted the engine for good), while anything else earlier is still refused.
#[test]
fn an_identical_vote_at_an_earlier_position_of_the_height_is_signed_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wm");
    let key = lightclient::PublicKey::from_compressed(
        hex::decode("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
            .unwrap()
            .try_into()
            .unwrap(),
    )
    .unwrap();
    let round0 = sha256(b"prevote for block A in round 0");
    let round1 = sha256(b"prevote for block B in round 1");
    let mut mark = Watermark::open(&path, key).unwrap();
    mark.advance(at(47, 0, Step::Propose), sha256(b"proposal"))
        .unwrap();
    mark.advance(at(47, 0, Step::Prevote), round0).unwrap();
    mark.advance(at(47, 1, Step::Prevote), round1).unwrap();
    drop(mark);

    let mut mark = Watermark::open(&path, key).unwrap();
    assert_eq!(mark.last(), Some(at(47, 1, Step::Prevote)));
    mark.advance(at(47, 0, Step::Prevote), round0).unwrap();
    mark.advance(at(47, 0, Step::Propose), sha256(b"proposal"))
        .unwrap();
    assert_eq!(
        mark.last(),
        Some(at(47, 1, Step::Prevote)),
        "re-signing moves nothing"
    );
    let other = sha256(b"prevote for block C in round 0");
    assert!(
        matches!(
            mark.advance(at(47, 0, Step::Prevote), other),
            Err(WatermarkError::Equivocation { position, signed })
                if position == at(47, 0, Step::Prevote) && signed == round0
        ),
        "a different vote at a recorded position is an equivocation"
    );
    assert!(
        matches!(
            mark.advance(at(47, 0, Step::Precommit), other),
            Err(WatermarkError::Regression { requested, last })
                if requested == at(47, 0, Step::Precommit) && last == at(47, 1, Step::Prevote)
        ),
        "a position never signed before the last is refused"
    );

    // A new height forgets the old one's positions.
    mark.advance(at(48, 0, Step::Prevote), round0).unwrap();
    assert!(matches!(
        mark.advance(at(47, 1, Step::Prevote), round1),
        Err(WatermarkError::Regression { .. })
    ));
}

#[test]
fn a_version_1_record_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wm");
    let key = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let digest = sha256(b"x");
    std::fs::write(
        &path,
        format!(
            r#"{{"format_version":1,"public_key":"{key}","position":{{"height":3,"round":0,"step":"prevote"}},"digest":"{}"}}"#,
            hex::encode(digest.as_bytes())
        ),
    )
    .unwrap();
    let public_key =
        lightclient::PublicKey::from_compressed(hex::decode(key).unwrap().try_into().unwrap())
            .unwrap();
    let mut mark = Watermark::open(&path, public_key).unwrap();
    assert_eq!(mark.last(), Some(at(3, 0, Step::Prevote)));
    assert!(matches!(
        mark.advance(at(3, 0, Step::Prevote), sha256(b"y")),
        Err(WatermarkError::Equivocation { .. })
    ));
    mark.advance(at(3, 0, Step::Precommit), digest).unwrap();
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
