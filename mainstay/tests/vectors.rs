//! Conformance with pymainstay on real Bitcoin-mainnet slot proofs (`tests/vectors`, see its README).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::path::PathBuf;

use mainstay::{CommitmentListError, SlotProof, SlotProofError, match_commitment_list};

fn sequence(n: u8) -> Vec<SlotProof> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/vectors/test_sequence_{n}.msp"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn every_proof_of_sequence_1_verifies() {
    let proofs = sequence(1);
    assert_eq!(proofs.len(), 6);
    for (i, proof) in proofs.iter().enumerate() {
        assert_eq!(proof.verify(), Ok(()), "entry {i}");
    }
}

#[test]
fn every_proof_of_sequence_1_verifies_at_slot_2_and_at_no_other() {
    for (i, proof) in sequence(1).iter().enumerate() {
        assert_eq!(proof.verify_at(2), Ok(()), "entry {i}");
        // Slot 0 takes the second step from the other side: the flags disagree with its bits.
        assert_eq!(
            proof.verify_at(0),
            Err(SlotProofError::SideMismatch {
                step: 1,
                position: 0,
                flag: "left",
                bit: "right"
            }),
            "entry {i}"
        );
        assert_eq!(
            proof.verify_at(4),
            Err(SlotProofError::PositionOutsideTree {
                position: 4,
                depth: 2
            })
        );
    }
}

fn listed(items: &[&str]) -> Vec<String> {
    let full = |prefix: &str| {
        sequence(1)
            .into_iter()
            .map(|p| p.commitment)
            .find(|c| c.starts_with(prefix))
            .unwrap()
    };
    items.iter().map(|p| full(p)).collect()
}

#[test]
fn the_commitment_list_check_accepts_the_sequence_in_order_as_pymainstay_test_validlist() {
    let proofs = sequence(1);
    assert_eq!(
        match_commitment_list(&proofs, &listed(&["2ec9", "2e93", "5027"])),
        Ok(())
    );
}

#[test]
fn an_unordered_list_fails_at_entry_3_as_pymainstay_test_unorderedlist() {
    let proofs = sequence(1);
    let list = listed(&["2e93", "2ec9", "5027"]);
    assert_eq!(
        match_commitment_list(&proofs, &list),
        Err(CommitmentListError::NotMatched {
            entry: 3,
            found: proofs[3].commitment.clone(),
            expected: list[1].clone(),
        })
    );
}

#[test]
fn sequence_2_fails_the_list_check_at_entry_2_as_pymainstay_test_invalidlistproof() {
    let proofs = sequence(2);
    let list = listed(&["2ec9", "2e93", "5027"]);
    assert_eq!(
        match_commitment_list(&proofs, &list),
        Err(CommitmentListError::NotMatched {
            entry: 2,
            found: proofs[2].commitment.clone(),
            expected: list[0].clone(),
        })
    );
    // And its slot proof fails there too: the changed commitment is not under the root.
    assert!(matches!(
        proofs[2].verify_at(2),
        Err(SlotProofError::RootMismatch { .. })
    ));
}

#[test]
fn sequence_3_fails_the_slot_proof_at_entry_1_as_pymainstay_test_invalidproof() {
    let proofs = sequence(3);
    assert_eq!(proofs[0].verify_at(2), Ok(()));
    let entry = &proofs[1];
    match entry.verify_at(2) {
        Err(SlotProofError::RootMismatch { computed, expected }) => {
            assert_eq!(expected, entry.merkle_root);
            assert_ne!(computed, entry.merkle_root);
        }
        other => panic!("{other:?}"),
    }
    // Its commitments still match the list: only the proof is broken.
    assert_eq!(
        match_commitment_list(&proofs, &listed(&["2ec9", "2e93", "5027"])),
        Ok(())
    );
}

#[test]
fn sequence_2_fails_at_entry_2_because_its_path_leads_elsewhere() {
    let proofs = sequence(2);
    for (i, proof) in proofs.iter().enumerate() {
        let result = proof.verify();
        if i == 2 {
            assert!(
                matches!(&result, Err(SlotProofError::RootMismatch { expected, .. }) if *expected == proof.merkle_root),
                "{result:?}"
            );
            // The tampering is in the path: its first step does not start from the commitment.
            assert_ne!(proof.ops[0].commitment, proof.commitment);
        } else {
            assert_eq!(result, Ok(()), "entry {i}");
        }
    }
}

#[test]
fn sequence_3_fails_at_entry_1_because_the_root_does_not_match() {
    let proofs = sequence(3);
    for (i, proof) in proofs.iter().enumerate() {
        let result = proof.verify();
        if i == 1 {
            assert!(
                matches!(&result, Err(SlotProofError::RootMismatch { expected, .. }) if *expected == proof.merkle_root),
                "{result:?}"
            );
        } else {
            assert_eq!(result, Ok(()), "entry {i}");
        }
    }
}

#[test]
fn one_changed_byte_anywhere_breaks_a_good_proof() {
    let good = sequence(1).remove(0);
    let flip = |hex: &str, at: usize| {
        let mut chars: Vec<char> = hex.chars().collect();
        chars[at] = if chars[at] == '0' { '1' } else { '0' };
        chars.into_iter().collect::<String>()
    };
    let mut root = good.clone();
    root.merkle_root = flip(&root.merkle_root, 5);
    assert!(matches!(
        root.verify(),
        Err(SlotProofError::RootMismatch { .. })
    ));
    let mut commitment = good.clone();
    commitment.commitment = flip(&commitment.commitment, 63);
    assert!(matches!(
        commitment.verify(),
        Err(SlotProofError::RootMismatch { .. })
    ));
    for step in 0..good.ops.len() {
        let mut path = good.clone();
        path.ops[step].commitment = flip(&path.ops[step].commitment, 10);
        assert!(
            matches!(path.verify(), Err(SlotProofError::RootMismatch { .. })),
            "step {step}"
        );
        let mut side = good.clone();
        side.ops[step].append = !side.ops[step].append;
        // Swapping sides changes the hash unless both halves are equal.
        if side.ops[step].commitment != good.commitment || step > 0 {
            assert!(side.verify().is_err(), "step {step}");
        }
    }
}

#[test]
fn malformed_hex_and_empty_paths_are_typed_errors() {
    let mut proof = sequence(1).remove(0);
    proof.merkle_root = "zz".into();
    assert_eq!(
        proof.verify(),
        Err(SlotProofError::BadHex {
            field: "merkle_root".into(),
            value: "zz".into()
        })
    );
    let mut proof = sequence(1).remove(0);
    proof.ops[1].commitment = "abc".into();
    assert_eq!(
        proof.verify(),
        Err(SlotProofError::BadHex {
            field: "ops[1].commitment".into(),
            value: "abc".into()
        })
    );
    let mut proof = sequence(1).remove(0);
    proof.ops.clear();
    assert_eq!(proof.verify(), Err(SlotProofError::EmptyPath));
}

#[test]
fn the_cli_gives_an_account_of_each_check_and_fails_on_a_bad_proof() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_mainstay"))
        .args(["verify", "--slot", "2"])
        .arg(dir.join("test_sequence_1.msp"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert_eq!(
        text.matches("slot proof at slot 2: OK").count(),
        6,
        "{text}"
    );
    assert!(text.contains("pay-to-contract, staychain, Bitcoin inclusion: not checked here"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_mainstay"))
        .arg("verify")
        .arg(dir.join("test_sequence_3.msp"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("[1] commitment")
            && text.contains(
                "slot proof (sides from the append flags): FAILED: the path leads to root"
            ),
        "{text}"
    );
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_mainstay"))
        .args(["verify", "--slot", "2", "--list"])
        .arg(listed(&["2ec9", "2e93", "5027"]).join(","))
        .arg(dir.join("test_sequence_2.msp"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.status.code(), Some(1), "{text}");
    assert!(
        text.contains("slot proof at slot 2: OK")
            && text.contains("commitment list: FAILED: entry 2 commits 7ccac731")
            && text.contains("2 check(s) failed"),
        "{text}"
    );
}

mod parsing {
    use mainstay::SlotProof;
    use proptest::prelude::*;

    proptest! {
        /// A real mainnet proof's JSON, damaged and cut: refused by the parser or by the check
        /// unless the damage left the proof itself unchanged; undamaged, it verifies.
        #[test]
        fn damaged_mainnet_proofs_are_refused(entry in 0usize..6, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in any::<usize>()) {
            let entries: Vec<serde_json::Value> = serde_json::from_str(include_str!("vectors/test_sequence_1.msp")).unwrap();
            let e = &entries[entry];
            let valid = serde_json::to_vec(&serde_json::json!({
                "commitment": e["commitment"], "merkle_root": e["merkle_root"], "ops": e["ops"], "txid": e["txid"],
            })).unwrap();
            let genuine = SlotProof::from_json(&valid).unwrap();
            let mut bytes = valid.clone();
            for (at, value) in &edits {
                let len = bytes.len();
                bytes[at % len] = *value;
            }
            bytes.truncate(cut % (valid.len() + 1));
            match SlotProof::from_json(&bytes) {
                Err(e) => prop_assert!(bytes != valid, "{e}"),
                Ok(proof) => {
                    let verified = proof.verify().is_ok();
                    if bytes == valid {
                        prop_assert!(verified);
                    }
                    // Hex is read case-insensitively and the txid is not under the path (the
                    // evidence check ties it to the transaction): anything else damaged fails.
                    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
                    let unchanged = same(&proof.commitment, &genuine.commitment)
                        && same(&proof.merkle_root, &genuine.merkle_root)
                        && proof.ops.len() == genuine.ops.len()
                        && proof.ops.iter().zip(&genuine.ops).all(|(a, b)| a.append == b.append && same(&a.commitment, &b.commitment));
                    prop_assert_eq!(verified, unchanged, "a damaged proof's verdict");
                }
            }
        }

        #[test]
        fn any_hex_strings_give_a_verdict_not_a_panic(c in "[0-9a-fA-F]{0,70}", r in "[0-9a-f]{64}", s in "[0-9a-zA-Z]{0,70}", append in any::<bool>()) {
            let json = format!(r#"{{"commitment":"{c}","merkle_root":"{r}","ops":[{{"append":{append},"commitment":"{s}"}}],"txid":"{r}"}}"#);
            let proof = SlotProof::from_json(json.as_bytes()).unwrap();
            let _ = proof.verify();
        }
    }
}
