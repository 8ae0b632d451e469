//! One function per fuzz target. Each decodes the input the way the system does and then checks
//! what must hold of whatever decodes: encode ∘ decode is the identity, a verified object
//! verifies again after a round trip, and two decoders of one thing agree. A panic is a finding.

use std::fmt::Debug;
use std::sync::OnceLock;

use appliance::admission::{decode_encoded, decode_submission};
use appliance::consensus::codec::{Wire, from_wire, to_wire};
use appliance::consensus::context::{Ctx, ProposalPart};
use appliance::consensus::parts::{MAX_BLOCK_BYTES, MAX_STREAMS_PER_PUBLISHER, Reassembly};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash as _;
use lightclient::certificate::{CommitCertificate, Proposal, Vote};
use lightclient::encoding::{Decode, Encode, Reader};
use lightclient::genesis::Genesis;
use lightclient::hash::{tagged_hash, tags};
use lightclient::header::BlockHeader;
use lightclient::mapping::{ControllerPolicy, Mapping};
use lightclient::merkle::{self, InclusionProof};
use lightclient::tx::{SignedTransaction, Transaction};
use lightclient::validator::ValidatorSet;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::core::{PolkaCertificate, ValidatorProof};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{Request, Response, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fixtures::{chain, controllers, validators};

/// Decodes a value that must span `data`, and checks it encodes back to exactly `data`.
fn canonical<T: Decode + Encode + Debug>(data: &[u8]) -> Option<T> {
    let value = T::from_bytes(data).ok()?;
    assert_eq!(
        value.to_bytes(),
        data,
        "decode then encode is not the identity for {value:?}"
    );
    Some(value)
}

/// A value serialises to JSON that parses back to the same value.
fn json_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let json = serde_json::to_vec(value).expect("a decoded value serialises");
    let again: T = serde_json::from_slice(&json).expect("its own JSON parses");
    assert_eq!(&again, value, "JSON round trip changed the value");
}

/// Splits `data` into length-prefixed pieces (u16 big-endian lengths), the last piece taking the
/// rest: how targets with several inputs cut one fuzz input.
fn pieces(data: &[u8], count: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(count);
    let mut rest = data;
    for _ in 1..count {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (piece, tail) = tail.split_at(len);
        out.push(piece);
        rest = tail;
    }
    out.push(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// lightclient

/// A signed transaction in its canonical binary encoding (what blocks carry).
pub fn lc_signed_transaction(data: &[u8]) {
    let Some(tx) = canonical::<SignedTransaction>(data) else {
        return;
    };
    assert_eq!(
        Transaction::from_bytes(&tx.transaction.to_bytes()).as_ref(),
        Ok(&tx.transaction)
    );
    json_round_trip(&tx);
    // What a block carries, admission takes in either form as the same transaction.
    let json = serde_json::to_vec(&tx).expect("serialises");
    assert_eq!(decode_submission(&json), Ok(tx.clone()));
    assert_eq!(decode_encoded(&hex::encode(data)), Ok(tx.clone()));
    assert_eq!(tx.txid(), tx.transaction.txid());
    let _ = tx.verify_signature();
}

/// A signed transaction as JSON: the binary decoder and admission agree with the JSON decoder.
pub fn lc_transaction_json(data: &[u8]) {
    let admitted = decode_submission(data);
    if let Ok(tx) = &admitted {
        assert_eq!(
            SignedTransaction::from_bytes(&tx.to_bytes()).as_ref(),
            Ok(tx)
        );
    }
    let Ok(tx) = serde_json::from_slice::<SignedTransaction>(data) else {
        return;
    };
    json_round_trip(&tx);
    match SignedTransaction::from_bytes(&tx.to_bytes()) {
        Ok(binary) => {
            assert_eq!(binary, tx, "the binary decoder reads another transaction");
            assert_eq!(
                admitted,
                Ok(tx),
                "admission refuses what both decoders read"
            );
        }
        Err(error) => assert!(
            admitted.is_err(),
            "admission takes a transaction the binary decoder refuses: {error}"
        ),
    }
}

/// A block header.
pub fn lc_block_header(data: &[u8]) {
    let Some(header) = canonical::<BlockHeader>(data) else {
        return;
    };
    json_round_trip(&header);
    assert_eq!(header.hash(), tagged_hash(tags::BLOCK_HEADER, data));
}

/// The verifier's clock of the light-block target: after every vector header.
const LIGHT_NOW_MS: u64 = 1_900_000_000_000;

/// Two trusted states of the vectors' chain and validators: the block before the certificate
/// vector's header (so it is checked by linkage), and height 1 (so it is skipped to).
fn light_roots() -> &'static [lightclient::light::TrustedState; 2] {
    static ROOTS: OnceLock<[lightclient::light::TrustedState; 2]> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let (_, set) = validators();
        let header = crate::seeds::certificate_vector_header();
        let before = lightclient::light::TrustedState {
            chain_id: chain(),
            height: header.height - 1,
            hash: header.previous_block_hash,
            time_ms: header.time_ms - 1,
            next_validators: set.clone(),
        };
        let early = lightclient::light::TrustedState {
            height: 1,
            hash: tagged_hash("ABT/test/fuzz", b"height 1"),
            time_ms: 0,
            ..before.clone()
        };
        [before, early]
    })
}

/// A light block as a provider serves it (JSON), verified from two trusted states.
pub fn lc_light_block(data: &[u8]) {
    use lightclient::light::{LightBlock, Options, Verdict, verify};
    let Ok(block) = serde_json::from_slice::<LightBlock>(data) else {
        return;
    };
    json_round_trip(&block);
    for trusted in light_roots() {
        let verdict = verify(&block, trusted, &Options::default(), LIGHT_NOW_MS);
        let again: LightBlock =
            serde_json::from_slice(&serde_json::to_vec(&block).expect("serialises"))
                .expect("parses");
        assert_eq!(
            verify(&again, trusted, &Options::default(), LIGHT_NOW_MS),
            verdict
        );
        if verdict == Verdict::Success {
            assert_eq!(block.header.chain_id, trusted.chain_id);
            assert!(block.height() > trusted.height);
            assert_eq!(block.validators.hash(), block.header.validator_set_hash);
            assert_eq!(
                block.next_validators.hash(),
                block.header.next_validator_set_hash
            );
            let power = block
                .certificate
                .verify_header(&block.header, &block.validators)
                .expect("a verified block's certificate verifies");
            assert!(block.validators.is_quorum(power));
            if block.height() == trusted.height + 1 {
                assert_eq!(block.header.previous_block_hash, trusted.hash);
            }
        }
    }
}

/// A header followed by its commit certificate, verified against the vectors' validator set.
pub fn lc_commit_certificate(data: &[u8]) {
    let mut reader = Reader::new(data);
    let (Ok(header), Ok(cert)) = (
        BlockHeader::decode(&mut reader),
        CommitCertificate::decode(&mut reader),
    ) else {
        return;
    };
    if reader.finish().is_err() {
        return;
    }
    assert_eq!([header.to_bytes(), cert.to_bytes()].concat(), data);
    json_round_trip(&cert);
    let (_, set) = validators();
    let verdict = cert.verify_header(&header, set);
    let again = CommitCertificate::from_bytes(&cert.to_bytes()).expect("round trip");
    assert_eq!(again.verify_header(&header, set), verdict);
    if let Ok(power) = verdict {
        assert!(set.is_quorum(power), "verified with {power}, not a quorum");
        // One validator's signatures alone are never a quorum of four.
        let mut alone = cert;
        let first = alone.signatures.first().map(|s| s.validator);
        alone.signatures.retain(|s| Some(s.validator) == first);
        assert!(alone.verify_header(&header, set).is_err());
    }
}

/// A vote (first byte even) or a proposal (odd), as signed by validators.
pub fn lc_vote_proposal(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        if let Some(vote) = canonical::<Vote>(rest) {
            json_round_trip(&vote);
            assert_eq!(vote.signing_digest(), tagged_hash(tags::VOTE, rest));
        }
    } else if let Some(proposal) = canonical::<Proposal>(rest) {
        json_round_trip(&proposal);
        assert_eq!(proposal.signing_digest(), tagged_hash(tags::PROPOSAL, rest));
    }
}

/// A validator set in binary; the JSON decoder reads the same set from its JSON.
pub fn lc_validator_set(data: &[u8]) {
    if let Ok(set) = serde_json::from_slice::<ValidatorSet>(data) {
        assert_eq!(ValidatorSet::from_bytes(&set.to_bytes()).as_ref(), Ok(&set));
    }
    let Some(set) = canonical::<ValidatorSet>(data) else {
        return;
    };
    json_round_trip(&set);
    assert!(set.is_quorum(set.total_power()));
    let quorum = usize::try_from(set.quorum_size()).expect("small");
    assert!(quorum >= 1 && quorum <= set.validators().len());
}

/// A genesis file: its canonical bytes parse to the same genesis with the same hash.
pub fn lc_genesis_json(data: &[u8]) {
    let Ok(genesis) = Genesis::from_json(data) else {
        return;
    };
    let canonical = genesis
        .canonical_bytes()
        .expect("a parsed genesis has canonical bytes");
    let again = Genesis::from_json(&canonical).expect("canonical bytes parse");
    assert_eq!(again, genesis);
    assert_eq!(again.canonical_bytes().as_ref(), Ok(&canonical));
    assert_eq!(again.hash(), genesis.hash());
    let _ = genesis.binding();
    let _ = genesis.initial_mapping();
}

/// A mapping object, parsed and verified n-of-m under the vectors' controller policy.
pub fn lc_mapping(data: &[u8]) {
    let (_, policy) = controllers();
    let Ok(mapping) = Mapping::parse(data, policy.precision) else {
        return;
    };
    let bytes = mapping
        .to_json_bytes()
        .expect("a parsed mapping serialises");
    let again = Mapping::parse(&bytes, policy.precision).expect("its own bytes parse");
    assert_eq!(again, mapping);
    assert_eq!(again.to_json_bytes().as_ref(), Ok(&bytes));
    assert_eq!(again.signing_digest(), mapping.signing_digest());
    let _ = mapping.totals();
    let verdict = policy.verify(&mapping, &mapping.chain, None);
    assert_eq!(policy.verify(&again, &again.chain, None), verdict);
    let mut reversed = mapping.clone();
    reversed.signatures.reverse();
    let reversed = policy.verify(&reversed, &reversed.chain, None);
    assert_eq!(reversed.is_ok(), verdict.is_ok(), "signature order matters");
    if let Ok(signers) = verdict {
        assert_eq!(reversed.ok(), Some(signers.clone()));
        assert!(signers.len() >= policy.threshold);
        assert!(signers.iter().all(|k| policy.public_keys.contains(k)));
        // One signature fewer than the credited controllers' is not enough at threshold.
        let strict = ControllerPolicy {
            threshold: signers.len().saturating_add(1),
            ..policy.clone()
        };
        if strict.validate().is_ok() {
            assert!(strict.verify(&mapping, &mapping.chain, None).is_err());
        }
    }
}

/// An inclusion proof followed by its leaf; and proofs built over leaves cut from the input.
pub fn lc_merkle_proof(data: &[u8]) {
    let mut reader = Reader::new(data);
    if let Ok(proof) = InclusionProof::decode(&mut reader) {
        let consumed = data.len().saturating_sub(reader.remaining());
        let (encoded, leaf) = data.split_at(consumed);
        assert_eq!(proof.to_bytes(), encoded);
        if let Ok(root) = proof.root_for(leaf) {
            assert_eq!(proof.verify(leaf, &root), Ok(()));
            let other = [leaf, &[0]].concat();
            assert!(proof.verify(&other, &root).is_err());
        }
    }
    let leaves: Vec<&[u8]> = data.split(|b| *b == 0xff).take(17).collect();
    let root = merkle::root(&leaves);
    for (index, leaf) in leaves.iter().enumerate() {
        let proof = InclusionProof::build(&leaves, index).expect("index in range");
        assert_eq!(proof.verify(leaf, &root), Ok(()));
        assert_eq!(
            InclusionProof::from_bytes(&proof.to_bytes()).as_ref(),
            Ok(&proof)
        );
    }
}

/// A receipt as a wallet receives it (the leaf of a receipts-root proof): decoding round-trips,
/// and a decoded receipt's JSON form decodes back to it.
pub fn lc_receipt(data: &[u8]) {
    use lightclient::header::Receipt;
    if let Ok(receipt) = Receipt::from_bytes(data) {
        assert_eq!(receipt.to_bytes(), data);
        let json = serde_json::to_vec(&receipt).expect("a receipt serialises");
        let back: Receipt = serde_json::from_slice(&json).expect("its JSON decodes");
        assert_eq!(back, receipt);
    }
}

/// A state proof as a wallet receives it: a root (32 bytes), a key hash (32), the proof, then the
/// claimed value (none if nothing follows). What verifies for a value must not verify for
/// another value or for absence; the value decoders never panic.
pub fn lc_state_proof(data: &[u8]) {
    use lightclient::hash::Hash32;
    use lightclient::state::{
        AccountEntry, AssetEntry, BalanceEntry, MappingEntry, PositionEntry, StateProof,
    };
    let Some((root, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let Some((key_hash, rest)) = rest.split_first_chunk::<32>() else {
        return;
    };
    let (root, key_hash) = (Hash32(*root), Hash32(*key_hash));
    let mut reader = Reader::new(rest);
    let Ok(proof) = StateProof::decode(&mut reader) else {
        return;
    };
    let consumed = rest.len().saturating_sub(reader.remaining());
    let (encoded, value) = rest.split_at(consumed);
    assert_eq!(proof.to_bytes(), encoded);
    let value = (!value.is_empty()).then_some(value);
    if proof.verify_key_hash(&root, &key_hash, value).is_ok() {
        match value {
            Some(v) => {
                assert!(proof.verify_key_hash(&root, &key_hash, None).is_err());
                let other = [v, &[0]].concat();
                assert!(
                    proof
                        .verify_key_hash(&root, &key_hash, Some(&other))
                        .is_err()
                );
            }
            None => assert!(proof.verify_key_hash(&root, &key_hash, Some(&[1])).is_err()),
        }
    }
    if let Some(v) = value {
        let _ = AccountEntry::from_value(v);
        let _ = BalanceEntry::from_value(v);
        let _ = AssetEntry::from_value(v);
        let _ = PositionEntry::from_value(v).map(|p| p.is_covered());
        let _ = MappingEntry::from_value(v);
    }
}

/// A CID as text (a lookup key), and the CID computed for the input's bytes.
pub fn lc_cid(data: &[u8]) {
    use lightclient::cid::{cid_v0, cid_v0_text, parse_v0};
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(digest) = parse_v0(text)
    {
        assert_eq!(
            cid_v0_text(&digest),
            text,
            "a CID parses from non-canonical text"
        );
    }
    let cid = cid_v0(data);
    let digest = parse_v0(&cid).expect("a computed CID parses");
    assert_eq!(cid_v0_text(&digest), cid);
}

// ---------------------------------------------------------------------------------------------
// appliance

/// The body of `POST /v1/transactions`: whatever is admitted is what a validator decodes.
pub fn ap_submission(data: &[u8]) {
    let Ok(tx) = decode_submission(data) else {
        return;
    };
    let bytes = tx.to_bytes();
    assert_eq!(SignedTransaction::from_bytes(&bytes).as_ref(), Ok(&tx));
    let json = serde_json::to_vec(&tx).expect("serialises");
    assert_eq!(decode_submission(&json).as_ref(), Ok(&tx));
    let encoded = serde_json::to_vec(&serde_json::json!({ "encoded": hex::encode(&bytes) }))
        .expect("serialises");
    assert_eq!(decode_submission(&encoded).as_ref(), Ok(&tx));
}

fn frame<T: Wire>(bytes: &[u8]) {
    if let Ok(value) = from_wire::<T>(bytes) {
        assert_eq!(
            to_wire(&value),
            bytes,
            "a frame decodes from non-canonical bytes"
        );
    }
}

/// A consensus frame of the kind the first byte picks: every type the network, sync and WAL carry.
pub fn ap_consensus_frame(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 10 {
        0 => frame::<SignedConsensusMsg<Ctx>>(bytes),
        1 => frame::<LivenessMsg<Ctx>>(bytes),
        2 => frame::<StreamMessage<ProposalPart>>(bytes),
        3 => frame::<ProposalPart>(bytes),
        4 => frame::<ValidatorProof<Ctx>>(bytes),
        5 => frame::<Status<Ctx>>(bytes),
        6 => frame::<Request<Ctx>>(bytes),
        7 => frame::<Response<Ctx>>(bytes),
        8 => frame::<ProposedValue<Ctx>>(bytes),
        _ => frame::<PolkaCertificate<Ctx>>(bytes),
    }
}

fn peers() -> &'static [PeerId; 3] {
    static PEERS: OnceLock<[PeerId; 3]> = OnceLock::new();
    PEERS.get_or_init(|| {
        [1u8, 2, 3].map(|seed| {
            let keypair =
                malachitebft_app_channel::app::types::Keypair::ed25519_from_bytes([seed; 32])
                    .expect("32 bytes");
            PeerId::from_bytes(&keypair.public().to_peer_id().to_bytes()).expect("a peer id")
        })
    })
}

/// Proposal-part streams from three publishers, parts in any order: each record is a publisher
/// byte, a u32 big-endian length, and a wire frame of one stream message.
pub fn ap_block_parts(data: &[u8]) {
    let mut reassembly = Reassembly::default();
    let mut rest = data;
    while let Some((&publisher, tail)) = rest.split_first() {
        let Some((len, tail)) = tail.split_first_chunk::<4>() else {
            return;
        };
        let len = usize::try_from(u32::from_be_bytes(*len))
            .unwrap_or(usize::MAX)
            .min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;
        let Ok(message) = from_wire::<StreamMessage<ProposalPart>>(bytes) else {
            continue;
        };
        let publisher = peers()[usize::from(publisher % 3)];
        if let Some(Ok((header, block))) = reassembly.insert(publisher, message) {
            assert_eq!(block.header.hash(), header.block_hash);
        }
        let bound = 3 * MAX_STREAMS_PER_PUBLISHER;
        assert!(reassembly.open_streams() <= bound);
        assert!(reassembly.buffered_bytes() <= (bound as u64) * MAX_BLOCK_BYTES);
    }
}

/// A node configuration file.
pub fn ap_node_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = appliance::node::config::NodeConfig::parse(text);
    }
}

/// Replies of the IPFS daemon's RPC API (Kubo or js-ipfs): the first byte picks the endpoint.
pub fn ap_kubo_reply(data: &[u8]) {
    use appliance::ipfs::{
        parse_add_reply, parse_error_reply, parse_pin_reply, parse_version_reply,
    };
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => {
            if let Ok(added) = parse_add_reply(body) {
                let again = serde_json::to_vec(
                    &serde_json::json!({ "Name": "mapping.json", "Hash": added.cid, "Size": added.size.to_string() }),
                )
                .expect("serialises");
                let back = parse_add_reply(&again).expect("its own reply parses");
                assert_eq!((back.cid, back.size), (added.cid, added.size));
            }
        }
        1 => {
            let _ = parse_pin_reply(body);
        }
        2 => {
            let _ = parse_version_reply(body);
        }
        _ => {
            let _ = parse_error_reply(body);
        }
    }
}

/// The fixed draft controllers post signatures for: the vectors' mapping, unsigned.
fn draft() -> &'static Mapping {
    static DRAFT: OnceLock<Mapping> = OnceLock::new();
    DRAFT.get_or_init(|| {
        let vector: serde_json::Value =
            serde_json::from_str(include_str!("../../lightclient/tests/vectors/mapping.json"))
                .expect("the mapping vector is JSON");
        let published = vector["published"].as_str().expect("a published mapping");
        let mut mapping =
            Mapping::parse(published.as_bytes(), 3).expect("the vector mapping parses");
        mapping.signatures.clear();
        mapping
    })
}

/// The body of `POST /v1/mapping/draft/signatures`: what is accepted is the draft, signed by
/// controllers.
pub fn ap_draft_post(data: &[u8]) {
    let (_, policy) = controllers();
    let Ok((posted, digest)) = appliance::ledger::draft::check_posted_draft(draft(), policy, data)
    else {
        return;
    };
    assert_eq!(draft().signing_digest().as_ref(), Ok(&digest));
    assert_eq!(posted.signing_digest(), Ok(digest));
    let each = ControllerPolicy {
        threshold: 1,
        ..policy.clone()
    };
    let credited = each
        .verify(&posted, &posted.chain, None)
        .expect("accepted signatures verify");
    assert!(!credited.is_empty());
}

/// A vault console frame (JSON-RPC 2.0 text): decoded into a call or a named error, whose
/// answer always serialises with the request's id when it had a readable one.
pub fn ap_console_frame(data: &[u8]) {
    use appliance::console::protocol;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match protocol::decode(text) {
        Ok(call) => {
            let answer = protocol::result(&call.id, serde_json::Value::Null);
            assert_eq!(answer["id"], serde_json::json!(call.id));
        }
        Err((id, error)) => {
            let answer = error.answer(id.as_ref());
            assert_eq!(answer["error"]["code"], error.code());
            assert_eq!(answer["error"]["data"]["name"], error.name());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// mainstay

/// A Mainstay slot proof (the service's and pymainstay's JSON).
pub fn ms_slot_proof(data: &[u8]) {
    let Ok(proof) = mainstay::SlotProof::from_json(data) else {
        return;
    };
    let json = serde_json::to_vec(&proof).expect("serialises");
    let again = mainstay::SlotProof::from_json(&json).expect("its own JSON parses");
    assert_eq!(again, proof);
    let verdict = proof.verify();
    assert_eq!(again.verify(), verdict);
    for position in 0..4 {
        if proof.verify_at(position).is_ok() {
            assert_eq!(
                verdict,
                Ok(()),
                "verifies at slot {position} but not by its flags"
            );
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceCase {
    config: mainstay::evidence::StaychainSpec,
    evidence: mainstay::evidence::AttestationEvidence,
    #[serde(default)]
    commitment: Option<String>,
}

/// The verifier's clock in the Bitcoin targets: later than every vector header.
const BITCOIN_NOW: u32 = 1_800_000_000;

/// A header chain at the network's genesis, as a verifier without a later checkpoint starts.
fn chain_from_genesis(network: bitcoin::Network) -> Option<mainstay::HeaderChain> {
    let genesis = bitcoin::constants::genesis_block(network).header;
    mainstay::HeaderChain::new(network, mainstay::Checkpoint::genesis(network), genesis).ok()
}

/// Attestation evidence with the staychain configuration it is checked under (what the
/// `mainstay verify` command and a light client are given), its headers offered to a chain
/// followed from the network's genesis.
pub fn ms_evidence(data: &[u8]) {
    let Ok(case) = serde_json::from_slice::<EvidenceCase>(data) else {
        return;
    };
    let Ok(config) = case.config.to_config() else {
        return;
    };
    let Some(base) = chain_from_genesis(config.network) else {
        return;
    };
    let mut chain = base.clone();
    let verdict = case.evidence.verify_extending(
        &config,
        &mut chain,
        BITCOIN_NOW,
        case.commitment.as_deref(),
    );
    json_round_trip(&case.evidence);
    let json = serde_json::to_vec(&case.evidence).expect("serialises");
    let again: mainstay::evidence::AttestationEvidence =
        serde_json::from_slice(&json).expect("parses");
    let mut fresh = base;
    assert_eq!(
        again.verify_extending(&config, &mut fresh, BITCOIN_NOW, case.commitment.as_deref()),
        verdict
    );
    if let Ok((report, _)) = verdict {
        // Verified once, it verifies on the chain it extended without extending it again.
        assert_eq!(
            case.evidence
                .verify(&config, &chain, case.commitment.as_deref()),
            Ok(report.clone())
        );
        assert!(report.confirmations >= config.min_confirmations);
    }
}

/// A BIP 37 merkle block (`gettxoutproof`), checked for each transaction it matches.
pub fn ms_merkle_block(data: &[u8]) {
    let Ok(block) = deserialize::<bitcoin::MerkleBlock>(data) else {
        return;
    };
    assert_eq!(serialize(&block), data);
    let mut matches = Vec::new();
    let mut indexes = Vec::new();
    let extracted = block.txn.extract_matches(&mut matches, &mut indexes).ok();
    for txid in matches.iter().take(8) {
        if mainstay::inclusion::verify_merkle_block(*txid, &block).is_ok() {
            assert_eq!(extracted, Some(block.header.merkle_root));
        }
    }
    let absent = bitcoin::Txid::from_byte_array([0xa5; 32]);
    if !matches.contains(&absent) {
        assert!(mainstay::inclusion::verify_merkle_block(absent, &block).is_err());
    }
}

/// Mainnet's difficulty period 822,528–824,543 (from the vectors): the chain the headers of
/// `ms_bitcoin_headers` are offered to.
fn mainnet_period() -> &'static mainstay::HeaderChain {
    static CHAIN: OnceLock<mainstay::HeaderChain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let bytes = include_bytes!(
            "../../mainstay/tests/vectors/bitcoin/mainnet-headers-822528-830592.bin"
        );
        let headers: Vec<bitcoin::block::Header> = bytes[..2016 * 80]
            .chunks(80)
            .map(|c| deserialize(c).expect("a vector header"))
            .collect();
        let checkpoint = mainstay::Checkpoint {
            height: 822_528,
            hash: headers[0].block_hash(),
        };
        let mut chain =
            mainstay::HeaderChain::new(bitcoin::Network::Bitcoin, checkpoint, headers[0])
                .expect("the checkpoint");
        chain
            .extend(&headers[1..], BITCOIN_NOW)
            .expect("the vector period");
        chain
    })
}

/// 80-byte headers offered to a mainnet chain holding one whole difficulty period (822,528 to
/// 824,543): they may extend it across the retarget at 824,544 or branch from any of its
/// headers. Whatever is accepted links, meets the rules' bits and has the work.
pub fn ms_bitcoin_headers(data: &[u8]) {
    let mut headers = Vec::new();
    for chunk in data.chunks(80) {
        let Ok(header) = deserialize::<bitcoin::block::Header>(chunk) else {
            return;
        };
        headers.push(header);
    }
    let mut chain = mainnet_period().clone();
    let verdict = chain.extend(&headers, BITCOIN_NOW);
    let Ok(extension) = verdict else {
        assert_eq!(
            chain.tip_hash(),
            mainnet_period().tip_hash(),
            "a refusal changes nothing"
        );
        return;
    };
    let limit = bitcoin::params::Params::new(bitcoin::Network::Bitcoin).max_attainable_target;
    for height in extension.fork_height + 1..=extension.new_tip.0 {
        let header = chain.header_at(height).expect("held");
        let parent = chain.header_at(height - 1).expect("held");
        assert_eq!(header.prev_blockhash, parent.block_hash());
        assert!(header.target() <= limit && header.validate_pow(header.target()).is_ok());
        if height % 2016 != 0 {
            assert_eq!(header.bits, parent.bits, "bits changed inside a period");
        }
    }
    // A verified block of the chain is included with its confirmations.
    let tip = *chain.header_at(extension.new_tip.0).expect("tip");
    let txid = bitcoin::Txid::from_byte_array(tip.merkle_root.to_byte_array());
    let block = bitcoin::MerkleBlock {
        header: tip,
        txn: bitcoin::merkle_tree::PartialMerkleTree::from_txids(&[txid], &[true]),
    };
    let inclusion = mainstay::inclusion::verify_inclusion(txid, &block, &chain, 1);
    assert_eq!(
        inclusion.map(|i| (i.height, i.confirmations)),
        Ok((extension.new_tip.0, 1))
    );
}

/// The fixed slot key of the service target (the secp256k1 generator point, 1·G).
const SLOT_PUBLIC_KEY: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

/// The body of the Mainstay service's `POST /api/v1/commitment/send`.
pub fn ms_service_request(data: &[u8]) {
    use mainstay::service::http::{check_send_request, parse_send_request};
    let Ok(request) = parse_send_request(data) else {
        return;
    };
    let token = request.payload.token.clone();
    assert!(
        check_send_request(&request, "another token", None).is_err() || token == "another token"
    );
    let unsigned = check_send_request(&request, &token, None);
    if let Ok(signed) = check_send_request(&request, &token, Some(SLOT_PUBLIC_KEY)) {
        assert_eq!(
            unsigned,
            Ok(signed),
            "a signature check changed the commitment"
        );
    }
    if let Ok(commitment) = unsigned {
        let mut display = commitment;
        display.reverse();
        assert!(
            request
                .payload
                .commitment
                .eq_ignore_ascii_case(&hex::encode(display))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// signer

/// What `signer review` reads: a genesis (optional), the proposal, the current mapping
/// (optional), as three length-prefixed pieces; an empty piece is an absent file.
pub fn signer_review(data: &[u8]) {
    use signer::review::ReviewInput;
    let [genesis, proposal, current] = pieces(data, 3)[..] else {
        return;
    };
    let genesis = (!genesis.is_empty()).then_some(genesis);
    let current = (!current.is_empty()).then_some(current);
    let Ok(input) = ReviewInput::parse(genesis, proposal, current, 3) else {
        return;
    };
    let text = input.review().to_string();
    assert!(!text.is_empty());
}

/// A controller's key statement (proof the HSM holds the key it reported).
pub fn signer_key_statement(data: &[u8]) {
    use signer::statement::KeyStatement;
    let Ok(statement) = KeyStatement::verify_json(data) else {
        return;
    };
    let json = serde_json::to_vec(&statement).expect("serialises");
    let again = KeyStatement::verify_json(&json).expect("its own JSON verifies");
    assert_eq!(again, statement);
}

#[cfg(test)]
mod light_seed {
    use lightclient::light::{LightBlock, Options, Verdict, verify};

    /// The committed seed reaches the target's checks of a verified block from both roots.
    #[test]
    fn the_light_block_seed_verifies_from_both_roots() {
        let seed = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/corpus/lc_light_block/seed-valid"
        ))
        .expect("the seed");
        let block: LightBlock = serde_json::from_slice(&seed).expect("a light block");
        for trusted in super::light_roots() {
            assert_eq!(
                verify(&block, trusted, &Options::default(), super::LIGHT_NOW_MS),
                Verdict::Success
            );
        }
    }
}
