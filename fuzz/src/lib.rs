//! Fuzz targets for every decoder and every input a stranger can send (issue 14).
//!
//! Each target is a function in [`targets`]; `fuzz_targets/NAME.rs` hands it to libFuzzer, and
//! the replay test below runs it over the committed corpus (`corpus/NAME/`) on the stable
//! toolchain, so every seed and every past crash is checked by `cargo test` too.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::missing_panics_doc
)]

pub mod fixtures;
pub mod seeds;
pub mod targets;

/// A target: its name (the binary's and the corpus directory's) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("lc_signed_transaction", targets::lc_signed_transaction),
    ("lc_transaction_json", targets::lc_transaction_json),
    ("lc_block_header", targets::lc_block_header),
    ("lc_commit_certificate", targets::lc_commit_certificate),
    ("lc_light_block", targets::lc_light_block),
    ("lc_vote_proposal", targets::lc_vote_proposal),
    ("lc_validator_set", targets::lc_validator_set),
    ("lc_genesis_json", targets::lc_genesis_json),
    ("lc_mapping", targets::lc_mapping),
    ("lc_merkle_proof", targets::lc_merkle_proof),
    ("lc_state_proof", targets::lc_state_proof),
    ("lc_receipt", targets::lc_receipt),
    ("lc_cid", targets::lc_cid),
    ("ap_submission", targets::ap_submission),
    ("ap_consensus_frame", targets::ap_consensus_frame),
    ("ap_block_parts", targets::ap_block_parts),
    ("ap_node_config", targets::ap_node_config),
    ("ap_kubo_reply", targets::ap_kubo_reply),
    ("ap_draft_post", targets::ap_draft_post),
    ("ap_console_frame", targets::ap_console_frame),
    ("ms_slot_proof", targets::ms_slot_proof),
    ("ms_evidence", targets::ms_evidence),
    ("ms_merkle_block", targets::ms_merkle_block),
    ("ms_bitcoin_headers", targets::ms_bitcoin_headers),
    ("ms_service_request", targets::ms_service_request),
    ("signer_review", targets::signer_review),
    ("signer_key_statement", targets::signer_key_statement),
];

#[cfg(test)]
mod replay {
    use std::path::{Path, PathBuf};

    fn corpus(target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target)
    }

    /// Every committed input of every target runs without a finding; every target has seeds.
    #[test]
    fn every_target_passes_over_its_committed_corpus() {
        for (name, run) in super::TARGETS {
            let dir = corpus(name);
            let mut inputs = 0;
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                let path = entry.unwrap().path();
                run(&std::fs::read(&path).unwrap());
                inputs += 1;
            }
            assert!(inputs > 0, "{name} has no corpus");
        }
    }

    /// Every target has a binary, and every binary is a target.
    #[test]
    fn every_target_has_a_binary() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets");
        let mut binaries: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        binaries.sort();
        let mut names: Vec<String> = super::TARGETS
            .iter()
            .map(|(n, _)| (*n).to_string())
            .collect();
        names.sort();
        assert_eq!(binaries, names);
    }
}
