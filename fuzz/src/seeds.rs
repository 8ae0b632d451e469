//! The seed inputs of every target, built from the test vectors and from the objects the system
//! really exchanges. `UPDATE_CORPUS=1 cargo test -p abt-fuzz seeds` writes them to
//! `corpus/TARGET/seed-NAME`; without it the test checks the committed seeds are current.

use std::sync::OnceLock;

use appliance::consensus::codec::to_wire;
use appliance::consensus::context::{
    Address, BlockValue, Ctx, Height, Proposal as EngineProposal, ProposalPart, Vote as EngineVote,
};
use appliance::consensus::parts::{BlockProposal, StreamHeader, split};
use base64::Engine as _;
use bytes::Bytes;
use lightclient::certificate::{Proposal, Vote, VoteKind};
use lightclient::encoding::Encode;
use lightclient::hash::Hash32;
use lightclient::header::BlockHeader;
use lightclient::keys::ValidatorAddress;
use lightclient::merkle::InclusionProof;
use lightclient::tx::SignedTransaction;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    self as mc, NilOrVal, PolkaCertificate, PolkaSignature, Round, SignedMessage, VoteType,
};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{RawDecidedValue, Request, Response, Status, ValueRequest, ValueResponse};
use serde_json::Value;

use crate::fixtures::{chain, controllers, public_key, sign, signing_key, validators};

/// One seed: the target, a name, the bytes.
pub type Seed = (&'static str, String, Vec<u8>);

fn vector(name: &str) -> Value {
    let text = match name {
        "transactions" => include_str!("../../lightclient/tests/vectors/transactions.json"),
        "header" => include_str!("../../lightclient/tests/vectors/header.json"),
        "certificate" => include_str!("../../lightclient/tests/vectors/certificate.json"),
        "genesis" => include_str!("../../lightclient/tests/vectors/genesis.json"),
        "mapping" => include_str!("../../lightclient/tests/vectors/mapping.json"),
        "merkle" => include_str!("../../lightclient/tests/vectors/merkle.json"),
        "state-proofs" => include_str!("../../lightclient/tests/vectors/state-proofs.json"),
        "receipts" => include_str!("../../lightclient/tests/vectors/receipts.json"),
        other => panic!("no vector {other}"),
    };
    serde_json::from_str(text).expect("vectors are JSON")
}

fn hex_field(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("a hex string")).expect("hex")
}

fn transactions() -> &'static Vec<SignedTransaction> {
    static TXS: OnceLock<Vec<SignedTransaction>> = OnceLock::new();
    TXS.get_or_init(|| {
        vector("transactions")["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|case| {
                lightclient::encoding::Decode::from_bytes(&hex_field(&case["signed_encoding"]))
                    .expect("vector transactions decode")
            })
            .collect()
    })
}

fn header() -> BlockHeader {
    lightclient::encoding::Decode::from_bytes(&hex_field(&vector("header")["encoding"]))
        .expect("the header vector decodes")
}

fn with_kind(kind: u8, bytes: &[u8]) -> Vec<u8> {
    [&[kind][..], bytes].concat()
}

fn peer(seed: u8) -> PeerId {
    let keypair = malachitebft_app_channel::app::types::Keypair::ed25519_from_bytes([seed; 32])
        .expect("32 bytes");
    PeerId::from_bytes(&keypair.public().to_peer_id().to_bytes()).expect("a peer id")
}

/// One frame of every kind the network, sync and the WAL carry, with its kind byte.
fn consensus_frames() -> Vec<(String, Vec<u8>)> {
    let a = Address(ValidatorAddress([1; 20]));
    let sig = lightclient::Signature([2; 64]);
    let value = BlockValue(Hash32([3; 32]));
    let vote = |vote_type, nil: bool| EngineVote {
        vote_type,
        height: Height(4),
        round: Round::new(1),
        value: if nil {
            NilOrVal::Nil
        } else {
            NilOrVal::Val(value.0)
        },
        voter: a,
        extension: None,
    };
    let proposal = EngineProposal {
        height: Height(4),
        round: Round::new(1),
        value,
        pol_round: Round::new(0),
        proposer: a,
    };
    let polka = PolkaCertificate::<Ctx> {
        height: Height(4),
        round: Round::new(1),
        value_id: value.0,
        polka_signatures: vec![PolkaSignature::new(a, sig)],
    };
    let extended = mc::ExtendedCommitCertificate::<Ctx> {
        height: Height(4),
        round: Round::new(1),
        value_id: value.0,
        commit_signatures: vec![mc::ExtendedCommitSignature::new(a, sig, None)],
    };
    let proposed = ProposedValue::<Ctx> {
        height: Height(4),
        round: Round::new(1),
        valid_round: Round::Nil,
        proposer: a,
        value,
        validity: mc::Validity::Valid,
    };
    let init = ProposalPart::Init {
        height: Height(4),
        round: Round::new(1),
        pol_round: Round::Nil,
        proposer: a,
        block_hash: value.0,
        length: 5,
    };
    let stream = StreamMessage::new(
        StreamId::new(Bytes::from_static(b"s")),
        0,
        StreamContent::Data(init.clone()),
    );
    let proof = mc::ValidatorProof::<Ctx>::new(vec![3; 33], vec![4; 38], sig);
    vec![
        (
            "precommit".into(),
            with_kind(
                0,
                &to_wire(&SignedConsensusMsg::<Ctx>::Vote(SignedMessage::new(
                    vote(VoteType::Precommit, false),
                    sig,
                ))),
            ),
        ),
        (
            "proposal".into(),
            with_kind(
                0,
                &to_wire(&SignedConsensusMsg::<Ctx>::Proposal(SignedMessage::new(
                    proposal, sig,
                ))),
            ),
        ),
        (
            "liveness-vote".into(),
            with_kind(
                1,
                &to_wire(&LivenessMsg::<Ctx>::Vote(SignedMessage::new(
                    vote(VoteType::Prevote, true),
                    sig,
                ))),
            ),
        ),
        (
            "liveness-polka".into(),
            with_kind(
                1,
                &to_wire(&LivenessMsg::<Ctx>::PolkaCertificate(polka.clone())),
            ),
        ),
        ("stream-init".into(), with_kind(2, &to_wire(&stream))),
        (
            "part-data".into(),
            with_kind(
                3,
                &to_wire(&ProposalPart::Data(Bytes::from_static(b"block"))),
            ),
        ),
        ("part-init".into(), with_kind(3, &to_wire(&init))),
        ("validator-proof".into(), with_kind(4, &to_wire(&proof))),
        (
            "status".into(),
            with_kind(
                5,
                &to_wire(&Status::<Ctx> {
                    peer_id: peer(3),
                    tip_height: Height(9),
                    history_min_height: Height(1),
                }),
            ),
        ),
        (
            "request".into(),
            with_kind(
                6,
                &to_wire(&Request::<Ctx>::ValueRequest(ValueRequest::new(
                    Height(2)..=Height(6),
                ))),
            ),
        ),
        (
            "response".into(),
            with_kind(
                7,
                &to_wire(&Response::<Ctx>::ValueResponse(ValueResponse::new(
                    Height(2),
                    vec![RawDecidedValue::new(Bytes::from_static(b"block"), extended)],
                ))),
            ),
        ),
        ("proposed-value".into(), with_kind(8, &to_wire(&proposed))),
        ("polka".into(), with_kind(9, &to_wire(&polka))),
    ]
}

/// A real block of the vector transactions, cut into parts: in order, reversed with a
/// duplicate, and interleaved with a second publisher's stream.
fn block_part_streams() -> Vec<(String, Vec<u8>)> {
    let block = BlockProposal {
        header: header(),
        transactions: transactions().clone(),
    };
    let stream_header = StreamHeader {
        height: Height(block.header.height),
        round: Round::new(0),
        pol_round: Round::Nil,
        proposer: Address(block.header.proposer),
        block_hash: block.header.hash(),
    };
    let parts = split(
        &StreamId::new(Bytes::from_static(b"p1")),
        &stream_header,
        &block.to_bytes(),
    );
    let record = |publisher: u8, part: &StreamMessage<ProposalPart>| {
        let frame = to_wire(part);
        let mut out = vec![publisher];
        out.extend_from_slice(&u32::try_from(frame.len()).expect("small").to_be_bytes());
        out.extend_from_slice(&frame);
        out
    };
    let in_order: Vec<u8> = parts.iter().flat_map(|p| record(0, p)).collect();
    let mut reversed: Vec<&StreamMessage<ProposalPart>> = parts.iter().rev().collect();
    reversed.insert(1, &parts[1]);
    let reversed: Vec<u8> = reversed.into_iter().flat_map(|p| record(1, p)).collect();
    let other = split(
        &StreamId::new(Bytes::from_static(b"p2")),
        &stream_header,
        &block.to_bytes(),
    );
    let interleaved: Vec<u8> = parts
        .iter()
        .zip(other.iter())
        .flat_map(|(a, b)| [record(0, a), record(2, b)].concat())
        .collect();
    vec![
        ("in-order".into(), in_order),
        ("reversed-duplicate".into(), reversed),
        ("two-publishers".into(), interleaved),
    ]
}

fn genesis_seeds() -> Vec<(String, Vec<u8>)> {
    let g = vector("genesis");
    let (_, policy) = controllers();
    let validator_keys: Vec<_> = validators()
        .1
        .validators()
        .iter()
        .map(|v| v.public_key)
        .collect();
    let dev = appliance::dev::dev_genesis(
        "abt-dev-1",
        1_795_000_000_000,
        &validator_keys,
        &policy.public_keys,
        policy.threshold,
    );
    let mut out = vec![
        (
            "vector".into(),
            serde_json::to_vec_pretty(&g["genesis"]).expect("json"),
        ),
        (
            "vector-canonical".into(),
            g["canonical"].as_str().expect("text").as_bytes().to_vec(),
        ),
    ];
    if let Ok(dev) = dev {
        out.push(("dev".into(), serde_json::to_vec_pretty(&dev).expect("json")));
    }
    out
}

/// A commitment request to the Mainstay service, signed by the slot key 1·G, and unsigned.
fn service_requests() -> Vec<(String, Vec<u8>)> {
    let commitment = [0x5au8; 32];
    let payload = serde_json::json!({
        "commitment": hex::encode(commitment),
        "position": 0,
        "token": "4c8c006d-4cee-4fef-8e06-bb8112db6314",
    });
    let payload = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&payload).expect("json"));
    let mut secret = [0u8; 32];
    secret[31] = 1;
    let key = k256::ecdsa::SigningKey::from_bytes(&secret.into()).expect("1 is a scalar");
    let (signature, _) = key.sign_prehash_recoverable(&commitment).expect("32 bytes");
    let der = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    vec![
        (
            "signed".into(),
            serde_json::to_vec(
                &serde_json::json!({ "X-MAINSTAY-PAYLOAD": payload, "X-MAINSTAY-SIGNATURE": der }),
            )
            .expect("json"),
        ),
        (
            "unsigned".into(),
            serde_json::to_vec(&serde_json::json!({ "X-MAINSTAY-PAYLOAD": payload }))
                .expect("json"),
        ),
    ]
}

fn key_statement() -> Vec<u8> {
    let key = signing_key(11);
    let mut statement = signer::statement::KeyStatement {
        statement: "generated in HSM".into(),
        backend: "pkcs11".into(),
        hsm: "SoftHSM slot 0".into(),
        label: "controller-1".into(),
        public_key: public_key(&key),
        created_at_ms: 1_795_000_000_000,
        signature: None,
    };
    let digest = statement.digest().expect("digest");
    statement.signature = Some(sign(&key, &digest));
    serde_json::to_vec_pretty(&statement).expect("json")
}

fn length_prefixed(pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let (last, init) = pieces.split_last().expect("pieces");
    for piece in init {
        out.extend_from_slice(&u16::try_from(piece.len()).expect("small").to_be_bytes());
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(last);
    out
}

/// The header the certificate vector certifies.
pub fn certificate_vector_header() -> BlockHeader {
    serde_json::from_value(vector("certificate")["header"].clone()).expect("header")
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = Vec::new();
    let mut add =
        |target: &'static str, name: String, bytes: Vec<u8>| seeds.push((target, name, bytes));

    for (i, tx) in transactions().iter().enumerate() {
        let kind = serde_json::to_value(&tx.transaction.operation).expect("json")["type"]
            .as_str()
            .unwrap_or("operation")
            .to_string();
        let name = format!("{i:02}-{kind}");
        add("lc_signed_transaction", name.clone(), tx.to_bytes());
        let json = serde_json::to_vec(tx).expect("json");
        add("lc_transaction_json", name.clone(), json.clone());
        add("ap_submission", format!("{name}-json"), json);
        add(
            "ap_submission",
            format!("{name}-encoded"),
            serde_json::to_vec(&serde_json::json!({ "encoded": hex::encode(tx.to_bytes()) }))
                .expect("json"),
        );
    }

    let header = header();
    add("lc_block_header", "vector".into(), header.to_bytes());
    let certificate = vector("certificate");
    let cert_header = certificate_vector_header();
    let (_, set) = validators();
    let light_block = lightclient::light::LightBlock {
        header: cert_header.clone(),
        certificate: <lightclient::CommitCertificate as lightclient::Decode>::from_bytes(
            &hex_field(&certificate["valid"]["encoding"]),
        )
        .expect("the vector certificate"),
        validators: set.clone(),
        next_validators: set.clone(),
    };
    add(
        "lc_light_block",
        "valid".into(),
        serde_json::to_vec_pretty(&light_block).expect("json"),
    );
    add(
        "lc_commit_certificate",
        "valid".into(),
        [
            cert_header.to_bytes(),
            hex_field(&certificate["valid"]["encoding"]),
        ]
        .concat(),
    );
    for (i, invalid) in certificate["invalid"]
        .as_array()
        .expect("cases")
        .iter()
        .enumerate()
    {
        add(
            "lc_commit_certificate",
            format!("invalid-{i}"),
            [cert_header.to_bytes(), hex_field(&invalid["encoding"])].concat(),
        );
    }
    let vote = Vote {
        chain_id: chain(),
        height: 42,
        round: 1,
        kind: VoteKind::Precommit,
        block_hash: Some(header.hash()),
        validator: validators().1.validators()[0].address(),
    };
    add(
        "lc_vote_proposal",
        "precommit".into(),
        with_kind(0, &vote.to_bytes()),
    );
    let nil = Vote {
        block_hash: None,
        kind: VoteKind::Prevote,
        ..vote
    };
    add(
        "lc_vote_proposal",
        "prevote-nil".into(),
        with_kind(0, &nil.to_bytes()),
    );
    let proposal = Proposal {
        chain_id: chain(),
        height: 42,
        round: 2,
        pol_round: Some(1),
        block_hash: header.hash(),
        proposer: validators().1.validators()[1].address(),
    };
    add(
        "lc_vote_proposal",
        "proposal".into(),
        with_kind(1, &proposal.to_bytes()),
    );
    add(
        "lc_validator_set",
        "vector".into(),
        hex_field(&certificate["validator_set_encoding"]),
    );
    add(
        "lc_validator_set",
        "vector-json".into(),
        serde_json::to_vec(&certificate["validator_set"]).expect("json"),
    );
    for (name, bytes) in genesis_seeds() {
        add("lc_genesis_json", name.clone(), bytes.clone());
    }
    let mapping = vector("mapping");
    let published = mapping["published"]
        .as_str()
        .expect("text")
        .as_bytes()
        .to_vec();
    add("lc_mapping", "vector-2-of-3".into(), published.clone());
    add("ap_draft_post", "vector-2-of-3".into(), published.clone());
    for (name, frame) in [
        (
            "challenge",
            r#"{"jsonrpc":"2.0","id":1,"method":"console.challenge"}"#,
        ),
        (
            "login",
            r#"{"jsonrpc":"2.0","id":"l","method":"console.login","params":{"public_key":"02a69312c1db7ad27a0bad4b4e64a73070ec89c3a7303d0c08aeffbe4fcbc90ecd","signature":"4f5c66f347e53c6bac02765084b56c36194b55feee9d3866fb8a5c994e5602b370fe828a28fbdf242ab474c99e1e271dd63ef18ef3c2924d1e4a53ed21188bdc"}}"#,
        ),
        (
            "subscribe",
            r#"{"jsonrpc":"2.0","id":3,"method":"subscribe","params":{"topic":"bars"}}"#,
        ),
        (
            "history",
            r#"{"jsonrpc":"2.0","id":4,"method":"bars.history","params":{"serial":"AB-1"}}"#,
        ),
        (
            "submit",
            r#"{"jsonrpc":"2.0","id":5,"method":"tx.submit","params":{"encoded":"00"}}"#,
        ),
        ("no-id", r#"{"jsonrpc":"2.0","method":"console.logout"}"#),
    ] {
        add("ap_console_frame", name.into(), frame.as_bytes().to_vec());
    }
    let merkle = vector("merkle");
    let leaves: Vec<Vec<u8>> = merkle["leaves"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(hex_field)
        .collect();
    for (i, proof) in merkle["proofs"]
        .as_array()
        .expect("proofs")
        .iter()
        .enumerate()
    {
        let proof = InclusionProof {
            leaf_index: proof["leaf_index"].as_u64().expect("index"),
            tree_size: proof["tree_size"].as_u64().expect("size"),
            path: proof["path"]
                .as_array()
                .expect("path")
                .iter()
                .map(|h| Hash32(hex_field(h).try_into().expect("32 bytes")))
                .collect(),
        };
        let leaf = usize::try_from(proof.leaf_index)
            .ok()
            .and_then(|i| leaves.get(i))
            .cloned()
            .unwrap_or_default();
        add(
            "lc_merkle_proof",
            format!("vector-{i}"),
            [proof.to_bytes(), leaf].concat(),
        );
    }
    for (i, encoding) in vector("receipts")["encodings"]
        .as_array()
        .expect("encodings")
        .iter()
        .enumerate()
    {
        add("lc_receipt", format!("vector-{i}"), hex_field(encoding));
    }
    let state = vector("state-proofs");
    let root = hex_field(&state["state_root"]);
    for (i, case) in state["proofs"]
        .as_array()
        .expect("proofs")
        .iter()
        .enumerate()
    {
        let value = case["value"]
            .as_str()
            .map(|v| hex::decode(v).expect("hex"))
            .unwrap_or_default();
        add(
            "lc_state_proof",
            format!("vector-{i}"),
            [
                root.clone(),
                hex_field(&case["key_hash"]),
                hex_field(&case["proof"]),
                value,
            ]
            .concat(),
        );
    }
    add("lc_cid", "hello-world".into(), b"hello world\n".to_vec());
    add(
        "lc_cid",
        "cid-text".into(),
        b"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o".to_vec(),
    );
    add("lc_cid", "mapping".into(), published.clone());

    for (name, bytes) in consensus_frames() {
        add("ap_consensus_frame", name, bytes);
    }
    for (name, bytes) in block_part_streams() {
        add("ap_block_parts", name, bytes);
    }
    add(
        "ap_node_config",
        "example".into(),
        include_bytes!("../../deploy/examples/node.toml").to_vec(),
    );
    for (name, body) in kubo_replies() {
        add("ap_kubo_reply", name, body);
    }

    for (i, text) in [
        include_str!("../../mainstay/tests/vectors/test_sequence_1.msp"),
        include_str!("../../mainstay/tests/vectors/test_sequence_2.msp"),
        include_str!("../../mainstay/tests/vectors/test_sequence_3.msp"),
    ]
    .iter()
    .enumerate()
    {
        let entries: Vec<Value> = serde_json::from_str(text).expect("a JSON array");
        for (j, entry) in entries.iter().take(3).enumerate() {
            let proof = serde_json::json!({ "commitment": entry["commitment"], "merkle_root": entry["merkle_root"], "ops": entry["ops"], "txid": entry["txid"] });
            add(
                "ms_slot_proof",
                format!("mainnet-{}-{j}", i + 1),
                serde_json::to_vec(&proof).expect("json"),
            );
        }
    }
    macro_rules! txoutproof {
        ($name:literal) => {
            (
                $name,
                &include_bytes!(concat!(
                    "../../mainstay/tests/vectors/bitcoin/txoutproof-",
                    $name,
                    ".bin"
                ))[..],
            )
        };
    }
    for (name, bytes) in [
        txoutproof!("0830000-0"),
        txoutproof!("0830000-1000"),
        txoutproof!("0830000-1850"),
        txoutproof!("0831332-0_1_15_20_115_2019_2024"),
    ] {
        add("ms_merkle_block", format!("mainnet-{name}"), bytes.to_vec());
    }
    let headers =
        include_bytes!("../../mainstay/tests/vectors/bitcoin/mainnet-headers-822528-830592.bin");
    // The target's chain holds 822,528–824,543: six headers across the retarget at 824,544,
    // and the same run offered from two headers before it (known headers change nothing).
    add(
        "ms_bitcoin_headers",
        "mainnet-824544-retarget".into(),
        headers[2016 * 80..2022 * 80].to_vec(),
    );
    add(
        "ms_bitcoin_headers",
        "mainnet-824542-known-then-new".into(),
        headers[2014 * 80..2020 * 80].to_vec(),
    );
    for (name, bytes) in service_requests() {
        add("ms_service_request", name, bytes);
    }
    // ms_evidence's seed is the mainstay crate's regtest fixture: its test writes it (below the
    // corpus, as `seed-regtest`), since the fixture is built there.

    let genesis = serde_json::to_vec_pretty(&vector("genesis")["genesis"]).expect("json");
    add(
        "signer_review",
        "first-mapping".into(),
        length_prefixed(&[&genesis, &published, b""]),
    );
    add(
        "signer_review",
        "without-genesis".into(),
        length_prefixed(&[b"", &published, b""]),
    );
    add("signer_key_statement", "signed".into(), key_statement());
    seeds
}

/// Replies of the js-ipfs daemon the tests run, and Kubo's forms of the same replies.
fn kubo_replies() -> Vec<(String, Vec<u8>)> {
    let cid = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
    vec![
        ("add-js-ipfs".into(), with_kind(0, format!("{{\"Name\":\"mapping.json\",\"Hash\":\"{cid}\",\"Size\":20}}\n").as_bytes())),
        ("add-kubo".into(), with_kind(0, format!("{{\"Name\":\"mapping.json\",\"Hash\":\"{cid}\",\"Size\":\"20\"}}\n").as_bytes())),
        ("pin".into(), with_kind(1, format!("{{\"Pins\":[\"{cid}\"]}}").as_bytes())),
        ("version".into(), with_kind(2, b"{\"Version\":\"0.18.1\",\"Commit\":\"\",\"Repo\":\"12\",\"System\":\"x64/linux\",\"Golang\":\"\"}")),
        ("error".into(), with_kind(3, b"{\"Message\":\"invalid path\",\"Code\":0,\"Type\":\"error\"}")),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The committed seeds are the ones built here (`UPDATE_CORPUS=1` rewrites them).
    #[test]
    fn seeds_are_committed_and_current() {
        let update = std::env::var_os("UPDATE_CORPUS").is_some();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for (target, name, bytes) in super::all() {
            let dir = root.join(target);
            let path = dir.join(format!("seed-{name}"));
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            } else {
                let committed = std::fs::read(&path).unwrap_or_else(|e| {
                    panic!(
                        "{}: {e} (run UPDATE_CORPUS=1 cargo test -p abt-fuzz seeds)",
                        path.display()
                    )
                });
                assert!(
                    committed == bytes,
                    "{} is stale (run UPDATE_CORPUS=1 cargo test -p abt-fuzz seeds)",
                    path.display()
                );
            }
        }
    }
}
