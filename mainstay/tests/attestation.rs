//! Pay-to-contract, staychain, inclusion and the whole evidence check, on published vectors and
//! on a synthetic regtest attestation built here (real transactions, a real block with regtest
//! proof of work), tampered one field at a time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use mainstay::bitcoin::block::{Header, Version};
use mainstay::bitcoin::blockdata::constants::genesis_block;
use mainstay::bitcoin::consensus::encode::serialize_hex;
use mainstay::bitcoin::hashes::Hash;
use mainstay::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use mainstay::bitcoin::{
    Amount, Block, BlockHash, CompactTarget, MerkleBlock, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness, absolute, transaction,
};
use mainstay::contract::derivation_path;
use mainstay::evidence::CHECKS;
use mainstay::slot::{display, internal_bytes};
use mainstay::{
    AttestationError, AttestationEvidence, Checkpoint, CommitmentTree, ContractError, ContractKey,
    ContractScheme, HeaderChain, HeaderChainError, InclusionError, SlotProofError, StaychainConfig,
    StaychainError,
};

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

fn key(public_key: &str, chain_code: &str) -> ContractKey {
    ContractKey {
        public_key: public_key.parse().unwrap(),
        chain_code: hex32(chain_code),
    }
}

// The reference service's tweak test (commerceblock/mainstay, crypto/tweaking_test.go): its
// expected extended key decodes to this public key and chain code.
#[test]
fn the_tweak_matches_the_reference_services_test_vector() {
    let base = key(
        "021037eb111561e14bcdfc0676af222041b2e4f4c2ac7309ec4763a1d7e61fa24f",
        "abcdef710e47968aee906804f211cf10cde9a11e14908ca0f78cc55dd190ceaa",
    );
    let root = internal_bytes(
        "root",
        "abcadae1214d9a1e6cdc3418b54aa57747106bc75e9e84426661f27f98ada3b7",
    )
    .unwrap();
    assert_eq!(
        derivation_path(&root),
        [
            47011, 44440, 32754, 24934, 17028, 40542, 51051, 4167, 30629, 19125, 6196, 56428, 7834,
            19745, 57818, 51883
        ]
    );
    let tweaked = base.tweak(&root).unwrap();
    assert_eq!(
        hex::encode(tweaked.public_key.serialize()),
        "0327733d386753d30b028ccad05ae244c41f21623dd47e1c883d0b35cf7a3f2c5a"
    );
    assert_eq!(
        hex::encode(tweaked.chain_code),
        "33d1da0add2a7f2853786940e74b727952a622a6a9fcf82da781a9f466ac59be"
    );
    assert_eq!(
        hex::encode(
            ContractScheme::P2wpkh(base)
                .script_pubkey(&root)
                .unwrap()
                .as_bytes()
        ),
        "001479a5b467796fcd191af5112e1ddb023259701823"
    );
}

// Mainnet slot 2 in November 2019 used the 2-of-3 P2SH form with pymainstay's published keys.
// The expected scripts were computed by an independent (Python) implementation of pymainstay's
// derivation; they could not be checked against the chain from this machine.
#[test]
fn the_older_multisig_form_gives_the_scripts_of_an_independent_implementation() {
    let scheme = ContractScheme::P2shMultisig {
        required: 2,
        keys: vec![
            key(
                "03639a65bfb3dd5a579e65231a4e70327aba358e956d6e10f7ea2e25dd631e4d66",
                "8c57ec95db9ddab3b17ea5ae8c1411bbc0859d1a5262ff67d475cc880e14cfd9",
            ),
            key(
                "024f714a1b93697c5a3865259ac3a865bb306e8b720c3bec46bae3298ef3fa7964",
                "087c28f8989d4a5e692127dbaeffc86b7d2d44b878b3a585b2c98967c854ed8d",
            ),
            key(
                "035ea174407b61b85fc83993084c471f78095779737a75adf2a2e52cdd2a36edd3",
                "2f94eeb596c3c7d9a5746b17150412a3c5f4f9f999ffb2395fc59a14bcfc4271",
            ),
        ],
    };
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/test_sequence_1.msp");
    let proofs: Vec<mainstay::SlotProof> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let expected = [
        "a9144f6ffaedcd5ecd8a267892bf0017bb2362ef6fa687",
        "a914f58de7edb0c32e24b22dd7e4ded0f24d13c5146687",
        "a914126e28fa2bc24c99c024296765f558cdbfd4345187",
        "a9146749dab4a88104d3e0bfca86efc3a4a1fc48712587",
        "a914834918355be4e827e2634b9bb774109ec68a1e9487",
        "a914119fd8814a19dddeff804127b9acd201bf649a7f87",
    ];
    for (proof, script) in proofs.iter().zip(expected) {
        let root = proof.root_internal().unwrap();
        assert_eq!(
            hex::encode(scheme.script_pubkey(&root).unwrap().as_bytes()),
            script
        );
    }
    assert_eq!(
        derivation_path(&proofs[0].root_internal().unwrap()),
        [
            2294, 45179, 26716, 50164, 45115, 55054, 57399, 23400, 30240, 2990, 58416, 41550, 9477,
            38787, 57103, 15012
        ]
    );
}

#[test]
fn an_all_zero_root_leaves_the_key_untweaked() {
    let base = key(
        "03e31877426407458858948993f6af1fc70dd2928a328dec6cdf5c215770e40ed2",
        "14df7ece79e83f0f479a37832d770294014edc6884b0c8bfa2e0aaf51fb00229",
    );
    let tweaked = base.tweak(&[0u8; 32]).unwrap();
    assert_eq!(tweaked.public_key, base.public_key);
    assert!(tweaked.step_tweaks.is_empty());
}

#[test]
fn a_multisig_that_cannot_be_scripted_is_refused() {
    let one = key(
        "03e31877426407458858948993f6af1fc70dd2928a328dec6cdf5c215770e40ed2",
        "14df7ece79e83f0f479a37832d770294014edc6884b0c8bfa2e0aaf51fb00229",
    );
    let scheme = ContractScheme::P2shMultisig {
        required: 3,
        keys: vec![one, one],
    };
    assert_eq!(
        scheme.script_pubkey(&[1u8; 32]),
        Err(ContractError::BadMultisig {
            required: 3,
            keys: 2
        })
    );
}

mod independent_derivation {
    //! BIP32 public derivation written out from the BIP with k256 + HMAC-SHA512, to cross-check
    //! the crate (which uses rust-bitcoin's bip32).
    use hmac::{Hmac, Mac};
    use k256::elliptic_curve::PrimeField;
    use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
    use k256::{AffinePoint, EncodedPoint, ProjectivePoint, Scalar};
    use mainstay::bitcoin::secp256k1::PublicKey as BitcoinKey;
    use proptest::prelude::*;

    fn ckd_pub(point: [u8; 33], chain: [u8; 32], index: u16) -> ([u8; 33], [u8; 32]) {
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(&chain).unwrap();
        mac.update(&point);
        mac.update(&u32::from(index).to_be_bytes());
        let out = mac.finalize().into_bytes();
        let il: [u8; 32] = out[..32].try_into().unwrap();
        let ir: [u8; 32] = out[32..].try_into().unwrap();
        let tweak = Scalar::from_repr(il.into()).unwrap();
        let parent =
            AffinePoint::from_encoded_point(&EncodedPoint::from_bytes(point).unwrap()).unwrap();
        let child =
            (ProjectivePoint::GENERATOR * tweak + ProjectivePoint::from(parent)).to_affine();
        let encoded: [u8; 33] = child.to_encoded_point(true).as_bytes().try_into().unwrap();
        (encoded, ir)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn the_crate_and_the_bip_agree(secret in any::<[u8; 32]>(), chain in any::<[u8; 32]>(), root in any::<[u8; 32]>()) {
            let Ok(sk) = k256::SecretKey::from_slice(&secret) else { return Ok(()) };
            prop_assume!(root != [0u8; 32]);
            let base: [u8; 33] = sk.public_key().to_encoded_point(true).as_bytes().try_into().unwrap();
            let (mut point, mut code) = (base, chain);
            for index in mainstay::contract::derivation_path(&root) {
                (point, code) = ckd_pub(point, code, index);
            }
            let crate_key = mainstay::ContractKey {
                public_key: BitcoinKey::from_slice(&base).unwrap(),
                chain_code: chain,
            }.tweak(&root).unwrap();
            prop_assert_eq!(crate_key.public_key.serialize(), point);
            prop_assert_eq!(crate_key.chain_code, code);
            // The step tweaks summed onto the secret give the tweaked key's private half.
            let mut scalar = *sk.to_nonzero_scalar().as_ref();
            for t in &crate_key.step_tweaks {
                scalar += Scalar::from_repr((*t).into()).unwrap();
            }
            let derived = (ProjectivePoint::GENERATOR * scalar).to_affine();
            let derived = derived.to_encoded_point(true);
            prop_assert_eq!(derived.as_bytes(), &point[..]);
        }
    }
}

// ---- the commitment tree ----

fn leaf(n: u8) -> [u8; 32] {
    let mut display_order = [0u8; 32];
    display_order[31] = n;
    display_order.reverse();
    display_order
}

// Roots computed by an independent reimplementation of the reference service's tree
// (docs/dev/mainstay-reference.md §2): leaves are display hex 00…01, 00…02, …
#[test]
fn the_tree_gives_the_reference_roots_and_proofs_that_verify_at_their_slot() {
    let expected = [
        (
            1,
            "7df1e74f582856260be3ed19d79a8a799616609f21d3910f8ddf977a9824b295",
        ),
        (
            2,
            "ff8f6e7ac7aa0bfc98af8be24ed6ae1ab243f64aaa065366b2215e697fddb64b",
        ),
        (
            3,
            "e9ffb584c62449f157c8be88257bd1eebb2d8ef824f5c86b43c4f8fd9e800d6a",
        ),
        (
            5,
            "e7e9205d77c0805f01f5824f6c0d90b9bd268a395350e5e5328e68889f644027",
        ),
    ];
    for (n, root) in expected {
        let leaves: Vec<[u8; 32]> = (1..=n).map(leaf).collect();
        let tree = CommitmentTree::build(&leaves).unwrap();
        assert_eq!(display(&tree.root()), root, "{n} leaves");
        for position in 0..usize::from(n) {
            let proof = tree.proof(position, &"00".repeat(32)).unwrap();
            assert_eq!(
                proof.verify_at(position as u64),
                Ok(()),
                "{n} leaves, slot {position}"
            );
            assert_eq!(proof.verify(), Ok(()));
        }
    }
    // A 3-slot tree's slot 2 has the shape of the mainnet proofs: itself, then a left sibling.
    let tree = CommitmentTree::build(&[leaf(1), leaf(2), leaf(3)]).unwrap();
    let proof = tree.proof(2, "").unwrap();
    assert!(proof.ops[0].append && proof.ops[0].commitment == proof.commitment);
    assert!(!proof.ops[1].append);
    assert_eq!(
        tree.proof(4, ""),
        Err(mainstay::TreeError::NoSuchSlot {
            position: 4,
            slots: 4
        })
    );
    assert_eq!(CommitmentTree::build(&[]), Err(mainstay::TreeError::Empty));
}

// ---- a synthetic regtest attestation ----

/// Verifies as a light client does: a header chain followed from the network's genesis, extended
/// by the evidence's own headers under the difficulty rules.
fn check(
    evidence: &AttestationEvidence,
    config: &StaychainConfig,
    commitment: Option<&str>,
) -> Result<mainstay::AttestationReport, AttestationError> {
    let genesis = genesis_block(config.network);
    let mut chain = HeaderChain::new(
        config.network,
        Checkpoint::genesis(config.network),
        genesis.header,
    )
    .unwrap();
    evidence
        .verify_extending(config, &mut chain, 1_800_000_000, commitment)
        .map(|(report, _)| report)
}

struct Fixture {
    config: StaychainConfig,
    evidence: AttestationEvidence,
    chain: Vec<Transaction>,
    block: Block,
    confirmations: Vec<Header>,
    commitment: String,
}

fn spend(previous: OutPoint, script_pubkey: ScriptBuf) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: previous,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(90_000),
            script_pubkey,
        }],
    }
}

fn mine(prev: BlockHash, txdata: Vec<Transaction>, time: u32) -> Block {
    let mut block = Block {
        header: Header {
            version: Version::TWO,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    };
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    while block.header.validate_pow(block.header.target()).is_err() {
        block.header.nonce += 1;
    }
    block
}

fn fixture() -> Fixture {
    let secp = Secp256k1::new();
    let secret = SecretKey::from_slice(&[7u8; 32]).unwrap();
    let base = ContractKey {
        public_key: PublicKey::from_secret_key(&secp, &secret),
        chain_code: [9u8; 32],
    };
    let scheme = ContractScheme::P2wpkh(base);
    let initial = spend(OutPoint::null(), scheme.script_pubkey(&[0u8; 32]).unwrap());
    let initial_txid = initial.compute_txid();

    let first_tree = CommitmentTree::build(&[leaf(1), leaf(2), leaf(3)]).unwrap();
    let first = spend(
        OutPoint::new(initial_txid, 0),
        scheme.script_pubkey(&first_tree.root()).unwrap(),
    );
    let commitment_leaf = [0x5a; 32];
    let tree = CommitmentTree::build(&[leaf(4), leaf(5), commitment_leaf]).unwrap();
    let second = spend(
        OutPoint::new(first.compute_txid(), 0),
        scheme.script_pubkey(&tree.root()).unwrap(),
    );
    let coinbase = spend(OutPoint::null(), ScriptBuf::new());
    let filler: Vec<Transaction> = (0..4)
        .map(|i| spend(OutPoint::new(Txid::all_zeros(), i), ScriptBuf::new()))
        .collect();
    let mut txdata = vec![coinbase];
    txdata.extend(filler);
    txdata.insert(2, second.clone());
    let genesis = genesis_block(Network::Regtest);
    let block = mine(genesis.block_hash(), txdata, 1_700_000_000);
    let mut confirmations = Vec::new();
    let mut prev = block.block_hash();
    for i in 0..2 {
        let next = mine(
            prev,
            vec![spend(OutPoint::null(), ScriptBuf::new())],
            1_700_000_600 + i,
        );
        prev = next.block_hash();
        confirmations.push(next.header);
    }
    let second_txid = second.compute_txid();
    let merkle_block = MerkleBlock::from_block_with_predicate(&block, |t| *t == second_txid);
    let chain = vec![first, second];
    let evidence = AttestationEvidence {
        position: 2,
        slot_proof: tree.proof(2, &second_txid.to_string()).unwrap(),
        staychain: chain.iter().map(serialize_hex).collect(),
        merkle_block: serialize_hex(&merkle_block),
        confirmations: confirmations.iter().map(serialize_hex).collect(),
    };
    Fixture {
        config: StaychainConfig {
            scheme,
            initial_txid,
            network: Network::Regtest,
            min_confirmations: 3,
        },
        commitment: display(&commitment_leaf),
        evidence,
        chain,
        block,
        confirmations,
    }
}

/// The fuzz target `ms_evidence` starts from this fixture: the seed is the fixture's evidence with
/// its staychain configuration, as `mainstay verify` reads them. `UPDATE_CORPUS=1` rewrites it.
#[test]
fn the_fuzz_seed_is_this_fixture() {
    let f = fixture();
    let ContractScheme::P2wpkh(key) = &f.config.scheme else {
        panic!("the fixture is P2WPKH")
    };
    let spec = mainstay::StaychainSpec {
        network: "regtest".into(),
        initial_txid: f.config.initial_txid.to_string(),
        keys: vec![mainstay::evidence::ContractKeySpec {
            public_key: key.public_key.to_string(),
            chain_code: hex::encode(key.chain_code),
        }],
        required: None,
        min_confirmations: 3,
    };
    assert_eq!(spec.to_config().unwrap(), f.config);
    let seed = serde_json::to_vec_pretty(&serde_json::json!({
        "config": spec,
        "evidence": f.evidence,
        "commitment": f.commitment,
    }))
    .unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/ms_evidence/seed-regtest");
    if std::env::var_os("UPDATE_CORPUS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &seed).unwrap();
    }
    assert!(
        std::fs::read(&path).unwrap() == seed,
        "{} is stale: run UPDATE_CORPUS=1 cargo test -p mainstay --test attestation",
        path.display()
    );
}

fn flip_hex(hex: &str, at: usize) -> String {
    let mut chars: Vec<char> = hex.chars().collect();
    chars[at] = if chars[at] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

#[test]
fn a_genuine_attestation_passes_every_check() {
    let f = fixture();
    let report = check(&f.evidence, &f.config, Some(&f.commitment)).unwrap();
    assert_eq!(report.txid, f.chain[1].compute_txid());
    assert_eq!(report.block, f.block.block_hash());
    assert_eq!(report.confirmations, 3);
    assert_eq!(report.staychain_length, 2);
    assert_eq!(report.slot_path_length, 2);
    // The evidence survives its JSON form.
    let json = serde_json::to_string(&f.evidence).unwrap();
    let back: AttestationEvidence = serde_json::from_str(&json).unwrap();
    assert_eq!(check(&back, &f.config, None), Ok(report));
}

#[test]
fn another_commitment_is_refused_before_anything_else() {
    let f = fixture();
    let other = "11".repeat(32);
    assert_eq!(
        check(&f.evidence, &f.config, Some(&other)),
        Err(AttestationError::CommitmentMismatch {
            expected: other.clone(),
            found: f.commitment.clone()
        })
    );
}

#[test]
fn one_byte_of_the_root_fails_the_slot_proof_with_the_true_root_computed() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    let true_root = evidence.slot_proof.merkle_root.clone();
    evidence.slot_proof.merkle_root = flip_hex(&true_root, 10);
    let error = check(&evidence, &f.config, None).unwrap_err();
    assert_eq!(
        error,
        AttestationError::Slot(SlotProofError::RootMismatch {
            computed: true_root,
            expected: evidence.slot_proof.merkle_root
        })
    );
    assert_eq!(error.check(), "slot proof");
}

#[test]
fn one_byte_of_the_path_fails_the_slot_proof_against_the_attested_root() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    evidence.slot_proof.ops[1].commitment = flip_hex(&evidence.slot_proof.ops[1].commitment, 3);
    match check(&evidence, &f.config, None) {
        Err(AttestationError::Slot(SlotProofError::RootMismatch { computed, expected })) => {
            assert_eq!(expected, f.evidence.slot_proof.merkle_root);
            assert_ne!(computed, expected);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_byte_of_the_txid_fails_the_txid_check() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    evidence.slot_proof.txid = flip_hex(&evidence.slot_proof.txid, 0);
    assert_eq!(
        check(&evidence, &f.config, None),
        Err(AttestationError::TxidMismatch {
            proof: evidence.slot_proof.txid,
            transaction: f.chain[1].compute_txid()
        })
    );
}

#[test]
fn one_byte_of_the_output_script_fails_pay_to_contract() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    let mut tampered = f.chain[1].clone();
    let mut script = tampered.output[0].script_pubkey.to_bytes();
    let expected = hex::encode(&script);
    script[5] ^= 1;
    tampered.output[0].script_pubkey = ScriptBuf::from_bytes(script.clone());
    evidence.staychain[1] = serialize_hex(&tampered);
    // A forger also rewrites the txid in the proof; the output still gives it away.
    evidence.slot_proof.txid = tampered.compute_txid().to_string();
    let error = check(&evidence, &f.config, None).unwrap_err();
    assert_eq!(
        error,
        AttestationError::Contract(ContractError::OutputScriptMismatch {
            expected,
            found: hex::encode(&script)
        })
    );
    assert_eq!(error.check(), "pay-to-contract");
}

#[test]
fn a_second_output_fails_pay_to_contract() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    let mut tampered = f.chain[1].clone();
    tampered.output.push(tampered.output[0].clone());
    evidence.staychain[1] = serialize_hex(&tampered);
    evidence.slot_proof.txid = tampered.compute_txid().to_string();
    assert_eq!(
        check(&evidence, &f.config, None),
        Err(AttestationError::Contract(ContractError::NotSingleOutput {
            count: 2
        }))
    );
}

#[test]
fn an_attestation_that_does_not_spend_its_predecessor_breaks_the_staychain() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    let mut tampered = f.chain[1].clone();
    let wrong = OutPoint::new(f.chain[0].compute_txid(), 1);
    tampered.input[0].previous_output = wrong;
    evidence.staychain[1] = serialize_hex(&tampered);
    evidence.slot_proof.txid = tampered.compute_txid().to_string();
    assert_eq!(
        check(&evidence, &f.config, None),
        Err(AttestationError::Staychain(StaychainError::BrokenLink {
            index: 1,
            txid: tampered.compute_txid(),
            expected: OutPoint::new(f.chain[0].compute_txid(), 0),
            found: wrong
        }))
    );
    // Another service's initial transaction is not where this chain starts.
    let mut config = f.config.clone();
    config.initial_txid = Txid::all_zeros();
    assert!(matches!(
        check(&f.evidence, &config, None),
        Err(AttestationError::Staychain(StaychainError::BrokenLink {
            index: 0,
            ..
        }))
    ));
}

#[test]
fn a_merkle_proof_for_another_transaction_fails_inclusion() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    let other = f.block.txdata[3].compute_txid();
    evidence.merkle_block = serialize_hex(&MerkleBlock::from_block_with_predicate(&f.block, |t| {
        *t == other
    }));
    assert_eq!(
        check(&evidence, &f.config, None),
        Err(AttestationError::Inclusion(InclusionError::NotIncluded(
            f.chain[1].compute_txid()
        )))
    );
}

#[test]
fn a_header_without_its_work_or_link_fails_inclusion() {
    let f = fixture();
    // The block's merkle root changed: its hash changes, so the work no longer holds — or, if
    // the new hash happens to meet the easy regtest target, the root no longer matches the proof.
    let mut evidence = f.evidence.clone();
    let mut merkle_block =
        MerkleBlock::from_block_with_predicate(&f.block, |t| *t == f.chain[1].compute_txid());
    let mut root = merkle_block.header.merkle_root.to_byte_array();
    root[0] ^= 1;
    merkle_block.header.merkle_root = TxMerkleNode::from_byte_array(root);
    evidence.merkle_block = serialize_hex(&merkle_block);
    let block = merkle_block.header.block_hash();
    match check(&evidence, &f.config, None).unwrap_err() {
        AttestationError::HeaderChain(HeaderChainError::InvalidProofOfWork {
            height: 1,
            block: b,
        }) => {
            assert_eq!(b, block);
        }
        // The new hash met the easy regtest target: the next header does not build on it.
        AttestationError::HeaderChain(HeaderChainError::NotLinked {
            height: 2,
            expected,
            found,
        }) => {
            assert_eq!((expected, found), (block, f.block.block_hash()));
        }
        other => panic!("{other:?}"),
    }
    // A confirmation that builds on another block.
    let mut evidence = f.evidence.clone();
    let mut stray = f.confirmations[1];
    stray.prev_blockhash = BlockHash::all_zeros();
    let stray = mine(
        stray.prev_blockhash,
        vec![spend(OutPoint::null(), ScriptBuf::new())],
        stray.time,
    )
    .header;
    evidence.confirmations[1] = serialize_hex(&stray);
    assert_eq!(
        check(&evidence, &f.config, None),
        Err(AttestationError::HeaderChain(HeaderChainError::NotLinked {
            height: 3,
            expected: f.confirmations[0].block_hash(),
            found: BlockHash::all_zeros()
        }))
    );
    // Regtest blocks are on no mainnet chain.
    let mut config = f.config.clone();
    config.network = Network::Bitcoin;
    assert_eq!(
        check(&f.evidence, &config, None),
        Err(AttestationError::HeaderChain(
            HeaderChainError::Unconnected {
                block: f.block.block_hash(),
                parent: genesis_block(Network::Regtest).block_hash()
            }
        ))
    );
    // Fewer confirmations than the verifier requires.
    let mut config = f.config.clone();
    config.min_confirmations = 4;
    assert_eq!(
        check(&f.evidence, &config, None),
        Err(AttestationError::Inclusion(
            InclusionError::TooFewConfirmations {
                block: f.block.block_hash(),
                confirmations: 3,
                required: 4
            }
        ))
    );
}

#[test]
fn undecodable_bitcoin_data_is_a_decode_error_naming_the_field() {
    let f = fixture();
    let mut evidence = f.evidence.clone();
    evidence.confirmations[0] = "00ff".into();
    match check(&evidence, &f.config, None) {
        Err(AttestationError::Decode { what, .. }) => assert_eq!(what, "confirmations[0]"),
        other => panic!("{other:?}"),
    }
    let mut evidence = f.evidence.clone();
    evidence.staychain.clear();
    assert_eq!(
        check(&evidence, &f.config, None),
        Err(AttestationError::EmptyStaychain)
    );
    assert_eq!(
        check(&evidence, &f.config, None).unwrap_err().check(),
        "attestation txid"
    );
    let mut evidence = f.evidence.clone();
    evidence.confirmations[0] = "00ff".into();
    assert_eq!(
        check(&evidence, &f.config, None).unwrap_err().check(),
        "bitcoin header chain"
    );
    assert_eq!(CHECKS.len(), 7);
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The genuine evidence's JSON, damaged in place and cut: it is refused by the decoder
        /// or by a check, never accepted and never a panic; undamaged, it verifies.
        #[test]
        fn damaged_evidence_json_is_refused(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in any::<usize>()) {
            let valid = serde_json::to_vec(&fixture_cached()).unwrap();
            let mut bytes = valid.clone();
            for (at, value) in &edits {
                let len = bytes.len();
                bytes[at % len] = *value;
            }
            bytes.truncate(cut % (valid.len() + 1));
            let verdict = serde_json::from_slice::<AttestationEvidence>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|evidence| {
                    // Hex is read case-insensitively.
                    let lower = |e: &AttestationEvidence| serde_json::to_string(e).unwrap().to_ascii_lowercase();
                    let same = lower(&evidence) == lower(&fixture_cached());
                    check(&evidence, &fixture_config(), None).map(|_| same).map_err(|e| e.to_string())
                });
            match verdict {
                // Only evidence equal to the genuine one (up to whitespace and hex case) verifies.
                Ok(same) => prop_assert!(same, "damaged evidence verifies"),
                Err(e) => prop_assert!(bytes != valid, "the genuine evidence is refused: {e}"),
            }
        }

        /// One hex digit changed in any Bitcoin field of the genuine evidence: refused.
        #[test]
        fn a_changed_hex_digit_in_the_bitcoin_data_is_refused(field in 0usize..3, at in any::<usize>()) {
            let mut evidence = fixture_cached();
            let text = match field {
                0 => &mut evidence.staychain[1],
                1 => &mut evidence.merkle_block,
                _ => &mut evidence.confirmations[0],
            };
            let at = at % text.len();
            *text = flip_hex(text, at);
            prop_assert!(check(&evidence, &fixture_config(), None).is_err(), "field {field} digit {at}");
        }

        #[test]
        fn arbitrary_hex_in_every_bitcoin_field_gives_a_verdict(tx in "[0-9a-f]{0,300}", mb in "[0-9a-f]{0,400}", h in "[0-9a-f]{0,200}") {
            let f = fixture_cached();
            let mut evidence = f;
            evidence.staychain = vec![tx];
            evidence.merkle_block = mb;
            evidence.confirmations = vec![h];
            prop_assert!(check(&evidence, &fixture_config(), None).is_err());
        }
    }

    fn fixture_config() -> StaychainConfig {
        fixture().config
    }

    fn fixture_cached() -> AttestationEvidence {
        static CACHE: std::sync::OnceLock<AttestationEvidence> = std::sync::OnceLock::new();
        CACHE.get_or_init(|| fixture().evidence).clone()
    }
}
