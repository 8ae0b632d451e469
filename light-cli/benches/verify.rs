//! What a wallet's verification costs: `cargo bench -p lightclient-cli --bench verify`.
//! A synthetic chain of 10,000 blocks certified by four validators (software keys, made here),
//! the 2-of-3 mapping vector of `lightclient/tests/vectors/mapping.json`, and the regtest
//! attestation evidence of `fuzz/corpus/ms_evidence/seed-regtest`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::hint::black_box;
use std::time::Instant;

use k256::ecdsa::SigningKey;
use lightclient::certificate::{CERTIFICATE_VERSION, CommitCertificate, CommitSignature};
use lightclient::hash::{Hash32, sha256};
use lightclient::header::{BlockHeader, ChainId, HEADER_VERSION};
use lightclient::keys::{PublicKey, Signature};
use lightclient::light::{
    LightBlock, LightClient, MemoryStore, Options, Provider, ProviderError, TrustedState, verify,
};
use lightclient::mapping::ControllerPolicy;
use lightclient::validator::{Validator, ValidatorSet};

const BLOCKS: u64 = 10_000;
const GENESIS_MS: u64 = 1_700_000_000_000;
const NOW_MS: u64 = 1_800_000_000_000;

fn key(seed: u8) -> SigningKey {
    let mut secret = [0u8; 32];
    secret[0] = 0x22;
    secret[31] = seed;
    SigningKey::from_bytes(&secret.into()).unwrap()
}

fn public(key: &SigningKey) -> PublicKey {
    let point = key.verifying_key().to_encoded_point(true);
    PublicKey::from_compressed(point.as_bytes().try_into().unwrap()).unwrap()
}

fn sign(key: &SigningKey, digest: &Hash32) -> Signature {
    let (sig, _) = key.sign_prehash_recoverable(digest.as_bytes()).unwrap();
    Signature::from(sig).normalize_s().unwrap()
}

fn chain() -> (TrustedState, Vec<LightBlock>) {
    let chain_id = ChainId::new("abt-bench-1").unwrap();
    let keys: Vec<SigningKey> = (1..=4).map(key).collect();
    let set = ValidatorSet::new(
        keys.iter()
            .map(|k| Validator {
                public_key: public(k),
                voting_power: 1,
            })
            .collect(),
    )
    .unwrap();
    let root = TrustedState {
        chain_id: chain_id.clone(),
        height: 0,
        hash: sha256(b"genesis"),
        time_ms: GENESIS_MS,
        next_validators: set.clone(),
    };
    let mut blocks: Vec<LightBlock> = Vec::new();
    for height in 1..=BLOCKS {
        let header = BlockHeader {
            version: HEADER_VERSION,
            chain_id: chain_id.clone(),
            height,
            time_ms: GENESIS_MS + height * 1_000,
            previous_block_hash: blocks.last().map_or(root.hash, LightBlock::hash),
            proposer: set.validators()[0].address(),
            transactions_root: sha256(b"transactions"),
            transaction_count: 0,
            receipts_root: sha256(b"receipts"),
            state_root: sha256(&height.to_be_bytes()),
            mapping_hash: sha256(b"mapping"),
            validator_set_hash: set.hash(),
            next_validator_set_hash: set.hash(),
        };
        let mut certificate = CommitCertificate {
            version: CERTIFICATE_VERSION,
            height,
            round: 0,
            block_hash: header.hash(),
            signatures: Vec::new(),
        };
        // Three of four: a quorum, as most heights have.
        for key in &keys[..3] {
            let validator = public(key).validator_address();
            let digest = certificate.precommit(&chain_id, validator).signing_digest();
            certificate.signatures.push(CommitSignature {
                validator,
                signature: sign(key, &digest),
            });
        }
        blocks.push(LightBlock {
            header,
            certificate,
            validators: set.clone(),
            next_validators: set.clone(),
        });
    }
    (root, blocks)
}

struct InMemory(Vec<LightBlock>);

impl Provider for InMemory {
    fn id(&self) -> String {
        "memory".into()
    }
    fn light_block(&mut self, height: Option<u64>) -> Result<LightBlock, ProviderError> {
        let height = height.unwrap_or(self.0.len() as u64);
        self.0
            .get(height as usize - 1)
            .cloned()
            .ok_or(ProviderError::NotFound(height))
    }
}

fn per(elapsed: std::time::Duration, n: u64) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let made = Instant::now();
    let (root, blocks) = chain();
    println!(
        "(made {BLOCKS} certified blocks in {:.1} s)",
        made.elapsed().as_secs_f64()
    );
    let options = Options::default();

    // Sequential: every block from the one before it.
    let begun = Instant::now();
    let mut trusted = root.clone();
    for block in &blocks {
        assert_eq!(
            verify(block, &trusted, &options, NOW_MS),
            lightclient::light::Verdict::Success
        );
        trusted = TrustedState::after(block);
    }
    let elapsed = begun.elapsed();
    println!(
        "sync {BLOCKS} headers sequentially: {:.0} ms ({:.1} µs a header step: linkage, sets, 3 signatures)",
        elapsed.as_secs_f64() * 1e3,
        per(elapsed, BLOCKS)
    );

    // Skipping: the last block straight from the genesis root.
    let rounds = 2_000;
    let last = blocks.last().unwrap();
    let begun = Instant::now();
    for _ in 0..rounds {
        black_box(verify(last, &root, &options, NOW_MS));
    }
    println!(
        "one skipping step (genesis to height {BLOCKS}: 2/3 of its set, 1/3 of the trusted set): {:.1} µs",
        per(begun.elapsed(), rounds)
    );

    // The state machine with its store, skipping to the tip from genesis.
    let mut client = LightClient::new(
        root,
        options,
        MemoryStore::new(),
        InMemory(blocks.clone()),
        vec![InMemory(blocks.clone())],
    );
    let begun = Instant::now();
    let verified = client.verify_to_target(BLOCKS, NOW_MS).unwrap();
    println!(
        "LightClient::verify_to_target({BLOCKS}) from genesis with one witness: {:.1} µs ({} step(s))",
        per(begun.elapsed(), 1),
        verified.steps.len()
    );

    // The mapping (2-of-3) and its Bitcoin attestation (regtest evidence, headers from genesis).
    let mapping: serde_json::Value =
        serde_json::from_str(include_str!("../../lightclient/tests/vectors/mapping.json")).unwrap();
    let policy: ControllerPolicy = serde_json::from_value(mapping["policy"].clone()).unwrap();
    let published = mapping["published"].as_str().unwrap().as_bytes().to_vec();
    let chain_id = ChainId::new("abt-test-1").unwrap();
    let case: serde_json::Value =
        serde_json::from_slice(include_bytes!("../../fuzz/corpus/ms_evidence/seed-regtest"))
            .unwrap();
    let spec: mainstay::StaychainSpec = serde_json::from_value(case["config"].clone()).unwrap();
    let config = spec.to_config().unwrap();
    let evidence: mainstay::AttestationEvidence =
        serde_json::from_value(case["evidence"].clone()).unwrap();
    let commitment = case["commitment"].as_str().unwrap().to_string();
    let network = mainstay::bitcoin::Network::Regtest;
    let genesis = mainstay::bitcoin::blockdata::constants::genesis_block(network).header;
    let rounds = 500;
    let begun = Instant::now();
    for _ in 0..rounds {
        black_box(
            policy
                .parse_and_verify(&published, &chain_id, Some(4))
                .unwrap(),
        );
        let mut headers =
            mainstay::HeaderChain::new(network, mainstay::Checkpoint::genesis(network), genesis)
                .unwrap();
        black_box(
            evidence
                .verify_extending(&config, &mut headers, 1_800_000_000, Some(&commitment))
                .unwrap(),
        );
    }
    println!(
        "a mapping (2-of-3) with its attestation (slot proof, pay-to-contract, staychain of 2, 3 headers, inclusion): {:.0} µs",
        per(begun.elapsed(), rounds)
    );

    // A balance proof (ADR 0015) from the ledger's own tree: decode the proof, hash the path,
    // decode the value.
    let vectors: serde_json::Value = serde_json::from_str(include_str!(
        "../../lightclient/tests/vectors/state-proofs.json"
    ))
    .unwrap();
    let state_root: Hash32 = vectors["state_root"].as_str().unwrap().parse().unwrap();
    let case = &vectors["proofs"][0];
    let hex_of = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
    let (key, value, proof) = (
        hex_of(&case["key"]),
        hex_of(&case["value"]),
        hex_of(&case["proof"]),
    );
    let key_hash = sha256(&key);
    let rounds = 20_000;
    let begun = Instant::now();
    for _ in 0..rounds {
        use lightclient::encoding::Decode;
        let proof = lightclient::state::StateProof::from_bytes(black_box(&proof)).unwrap();
        proof
            .verify_key_hash(&state_root, &key_hash, Some(black_box(&value)))
            .unwrap();
        black_box(lightclient::state::BalanceEntry::from_value(&value).unwrap());
    }
    let siblings =
        <lightclient::state::StateProof as lightclient::encoding::Decode>::from_bytes(&proof)
            .unwrap()
            .siblings
            .len();
    println!(
        "a balance proof ({siblings} siblings): {:.1} µs",
        per(begun.elapsed(), rounds)
    );
}
