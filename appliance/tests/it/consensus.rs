//! The consensus glue without the network: wire frames round-trip and refuse damage with typed
//! errors, proposal streams reassemble from any arrival order, HSM signatures go through the
//! watermark, and a certificate Malachite accepts is one the light client accepts.

use std::sync::Arc;

use appliance::consensus::codec::{WIRE_VERSION, Wire, WireCodec, from_wire, to_wire};
use appliance::consensus::context::{
    Address, BlockValue, Ctx, Height, Proposal, ProposalPart, ValidatorSet, Vote,
};
use appliance::consensus::parts::{
    BlockProposal, CHUNK, MAX_BLOCK_BYTES, MAX_PARTS, MAX_STREAMS_PER_PUBLISHER, Reassembly,
    StreamError, StreamHeader, split,
};
use appliance::consensus::signing::{HsmSigner, SignatureVerifier};
use bytes::Bytes;
use lightclient::certificate::{CERTIFICATE_VERSION, CommitCertificate, CommitSignature};
use lightclient::encoding::{DecodeError, Encode};
use lightclient::hash::Hash32;
use lightclient::header::{BlockHeader, ChainId};
use lightclient::validator::Validator;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{
    self as mc, NilOrVal, PolkaCertificate, PolkaSignature, Round, SignedMessage, ThresholdParams,
    VoteType,
};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_signing::{Signer as _, VerifierExt};
use malachitebft_sync::{RawDecidedValue, Request, Response, Status, ValueRequest, ValueResponse};
use proptest::prelude::*;
use signer::soft::SoftSigner;
use signer::watermark::WatermarkedSigner;

use crate::world::World;

/// A real libp2p peer id, as the engine hands them over.
fn peer(seed: u8) -> PeerId {
    let keypair =
        malachitebft_app_channel::app::types::Keypair::ed25519_from_bytes([seed; 32]).unwrap();
    PeerId::from_bytes(&keypair.public().to_peer_id().to_bytes()).unwrap()
}

fn chain_id() -> ChainId {
    ChainId::new("abt-consensus-test").unwrap()
}

fn vote(kind: VoteType, height: u64, round: u32, value: Option<Hash32>, voter: Address) -> Vote {
    Vote {
        vote_type: kind,
        height: Height(height),
        round: Round::new(round),
        value: value.map_or(NilOrVal::Nil, NilOrVal::Val),
        voter,
        extension: None,
    }
}

struct Validators {
    signers: Vec<(HsmSigner, Address)>,
    set: lightclient::validator::ValidatorSet,
    _dir: tempfile::TempDir,
}

fn validators(count: u8) -> Validators {
    let dir = tempfile::tempdir().unwrap();
    let mut signers = Vec::new();
    let mut members = Vec::new();
    for i in 0..count {
        let soft: Arc<dyn signer::Signer> =
            Arc::new(SoftSigner::from_secret([i + 1; 32], &format!("v{i}")).unwrap());
        let public_key = soft.public_key();
        let watermarked = Arc::new(
            WatermarkedSigner::new(Arc::clone(&soft), dir.path().join(format!("wm-{i}.json")))
                .unwrap(),
        );
        members.push(Validator {
            public_key,
            voting_power: 1,
        });
        signers.push((
            HsmSigner::new(chain_id(), watermarked, soft, Arc::default()),
            Address(public_key.validator_address()),
        ));
    }
    Validators {
        signers,
        set: lightclient::validator::ValidatorSet::new(members).unwrap(),
        _dir: dir,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_certificate_malachite_accepts_is_one_the_light_client_accepts() {
    let v = validators(4);
    let block = Hash32([7; 32]);
    let rt = runtime();
    let signed: Vec<_> = v.signers[..3]
        .iter()
        .map(|(signer, address)| {
            rt.block_on(signer.sign_vote(vote(VoteType::Precommit, 5, 1, Some(block), *address)))
                .unwrap()
        })
        .collect();
    let certificate = mc::CommitCertificate::<Ctx>::new(Height(5), Round::new(1), block, signed);
    let engine_set = ValidatorSet::from_light_client(&v.set);
    let verifier = SignatureVerifier::new(chain_id());
    rt.block_on(verifier.verify_commit_certificate(
        &Ctx,
        &certificate,
        &engine_set,
        ThresholdParams::default(),
    ))
    .unwrap();

    let ours = CommitCertificate {
        version: CERTIFICATE_VERSION,
        height: 5,
        round: 1,
        block_hash: block,
        signatures: certificate
            .commit_signatures
            .iter()
            .map(|s| CommitSignature {
                validator: s.address.0,
                signature: s.signature,
            })
            .collect(),
    };
    assert_eq!(ours.verify(&chain_id(), &v.set).unwrap(), 3);
    // Another chain's verifier refuses the same signatures.
    let foreign = SignatureVerifier::new(ChainId::new("another-chain").unwrap());
    assert!(
        rt.block_on(foreign.verify_commit_certificate(
            &Ctx,
            &certificate,
            &engine_set,
            ThresholdParams::default()
        ))
        .is_err()
    );
}

#[test]
fn the_watermark_refuses_a_second_vote_at_one_position() {
    let v = validators(1);
    let (signer, address) = &v.signers[0];
    let rt = runtime();
    let first = vote(VoteType::Prevote, 3, 0, Some(Hash32([1; 32])), *address);
    rt.block_on(signer.sign_vote(first.clone())).unwrap();
    // The same vote again (a retry) is fine; a different one at the same step is not.
    rt.block_on(signer.sign_vote(first)).unwrap();
    let other = vote(VoteType::Prevote, 3, 0, Some(Hash32([2; 32])), *address);
    let err = rt.block_on(signer.sign_vote(other)).unwrap_err();
    assert!(
        err.to_string()
            .contains("refusing to sign a second, different digest"),
        "{err}"
    );
    // Going back a height is refused too.
    let earlier = vote(VoteType::Precommit, 2, 9, None, *address);
    let err = rt.block_on(signer.sign_vote(earlier)).unwrap_err();
    assert!(
        err.to_string().contains("before the last signed position"),
        "{err}"
    );
}

#[test]
fn the_validator_proof_binds_a_peer_id_and_verifies() {
    let v = validators(1);
    let (signer, _) = &v.signers[0];
    let rt = runtime();
    let key = v.set.validators()[0].public_key;
    let peer_id = peer(1).to_bytes();
    let proof = rt
        .block_on(signer.sign_validator_proof(key.as_bytes().to_vec(), peer_id))
        .unwrap();
    let verifier = SignatureVerifier::new(chain_id());
    use malachitebft_signing::Verifier as _;
    assert!(
        rt.block_on(verifier.verify_validator_proof(&proof))
            .unwrap()
            .is_valid()
    );
    let mut moved = proof.clone();
    moved.peer_id = peer(2).to_bytes();
    assert!(
        rt.block_on(verifier.verify_validator_proof(&moved))
            .unwrap()
            .is_invalid()
    );
    let bytes = WireCodec.encode(&proof).unwrap();
    let back: mc::ValidatorProof<Ctx> = WireCodec.decode(bytes).unwrap();
    assert_eq!(back, proof);
}

fn sample_block() -> BlockProposal {
    let mut w = World::new();
    let tx = w.signed(
        crate::world::SETTLEMENT,
        lightclient::tx::Operation::Deposit {
            asset_holder: crate::world::id(crate::world::BANK_A),
            asset: crate::world::usdx(),
            amount: 10,
        },
        50,
    );
    BlockProposal {
        header: BlockHeader {
            version: 1,
            chain_id: chain_id(),
            height: 9,
            time_ms: 1_700_000_000_000,
            previous_block_hash: Hash32([3; 32]),
            proposer: lightclient::keys::ValidatorAddress([4; 20]),
            transactions_root: Hash32([5; 32]),
            transaction_count: 1,
            receipts_root: Hash32([6; 32]),
            state_root: Hash32([7; 32]),
            mapping_hash: Hash32([8; 32]),
            validator_set_hash: Hash32([9; 32]),
            next_validator_set_hash: Hash32([9; 32]),
        },
        transactions: vec![tx; 3000],
    }
}

fn stream_header(block: &BlockProposal) -> StreamHeader {
    StreamHeader {
        height: Height(9),
        round: Round::new(2),
        pol_round: Round::Nil,
        proposer: Address(block.header.proposer),
        block_hash: block.header.hash(),
    }
}

#[test]
fn a_stream_reassembles_from_any_order_with_duplicates() {
    let block = sample_block();
    let bytes = block.to_bytes();
    let id = StreamId::new(Bytes::from_static(b"s1"));
    let mut parts = split(&id, &stream_header(&block), &bytes);
    assert!(parts.len() > 3, "the block must span several chunks");
    parts.reverse();
    let dup = parts[1].clone();
    parts.insert(2, dup);
    let peer = peer(3);
    let mut reassembly = Reassembly::default();
    let mut done = None;
    for (i, part) in parts.into_iter().enumerate() {
        // Each part also travels the wire.
        let part: StreamMessage<ProposalPart> =
            WireCodec.decode(WireCodec.encode(&part).unwrap()).unwrap();
        if let Some(result) = reassembly.insert(peer, part) {
            assert!(done.is_none(), "completed twice (part {i})");
            done = Some(result.unwrap());
        }
    }
    let (header, back) = done.expect("stream completes");
    assert_eq!(header, stream_header(&block));
    assert_eq!(back, block);
}

#[test]
fn a_stream_whose_data_is_not_the_named_block_is_refused() {
    let block = sample_block();
    let mut header = stream_header(&block);
    header.block_hash = Hash32([0xee; 32]);
    let id = StreamId::new(Bytes::from_static(b"s2"));
    let mut reassembly = Reassembly::default();
    let peer = peer(3);
    let result = split(&id, &header, &block.to_bytes())
        .into_iter()
        .find_map(|p| reassembly.insert(peer, p))
        .unwrap();
    assert_eq!(
        result.unwrap_err(),
        StreamError::HashMismatch {
            announced: Hash32([0xee; 32]),
            carried: block.header.hash()
        }
    );

    // A stream that announces more bytes than it carries.
    let id = StreamId::new(Bytes::from_static(b"s3"));
    let mut parts = split(&id, &stream_header(&block), &block.to_bytes());
    let StreamContent::Data(ProposalPart::Init { length, .. }) = &mut parts[0].content else {
        unreachable!()
    };
    let announced = *length + 1;
    *length = announced;
    let result = parts
        .into_iter()
        .find_map(|p| reassembly.insert(peer, p))
        .unwrap();
    assert_eq!(
        result.unwrap_err(),
        StreamError::Length {
            announced,
            got: announced - 1
        }
    );

    // Data without an Init part.
    let id = StreamId::new(Bytes::from_static(b"s4"));
    let mut parts = split(&id, &stream_header(&block), &block.to_bytes());
    parts.remove(0);
    for (i, p) in parts.iter_mut().enumerate() {
        p.sequence = i as u64;
    }
    let result = parts
        .into_iter()
        .find_map(|p| reassembly.insert(peer, p))
        .unwrap();
    assert_eq!(
        result.unwrap_err(),
        StreamError::Malformed("the first part is not an Init part")
    );
}

/// Finding (issue 14): streams were bounded only in number, 64 in all, the oldest dropped first.
/// One peer opening 64 streams pushed an honest proposer's stream out, and a stream with no
/// `Fin` held any number of parts and bytes.
#[test]
fn one_publisher_can_neither_evict_anothers_stream_nor_buffer_without_bound() {
    let block = sample_block();
    let bytes = block.to_bytes();
    let honest = peer(3);
    let flooder = peer(4);
    let mut reassembly = Reassembly::default();
    let mut parts = split(
        &StreamId::new(Bytes::from_static(b"honest")),
        &stream_header(&block),
        &bytes,
    );
    let fin = parts.pop().unwrap();
    for part in parts {
        assert!(reassembly.insert(honest, part).is_none());
    }
    for i in 0..200u32 {
        let id = StreamId::new(Bytes::from(i.to_be_bytes().to_vec()));
        let junk = StreamMessage::new(
            id,
            1,
            StreamContent::Data(ProposalPart::Data(Bytes::from_static(b"x"))),
        );
        assert!(reassembly.insert(flooder, junk).is_none());
    }
    assert_eq!(reassembly.open_streams(), 1 + MAX_STREAMS_PER_PUBLISHER);
    let (_, back) = reassembly.insert(honest, fin).unwrap().unwrap();
    assert_eq!(back, block);

    // A part numbered past the largest block's parts drops the stream.
    let id = StreamId::new(Bytes::from_static(b"far"));
    let far = StreamMessage::new(id, MAX_PARTS, StreamContent::Fin);
    assert_eq!(
        reassembly.insert(flooder, far).unwrap().unwrap_err(),
        StreamError::TooManyParts(MAX_PARTS)
    );

    // Data past the largest block drops the stream, before any Fin.
    let id = StreamId::new(Bytes::from_static(b"big"));
    let chunk = Bytes::from(vec![0u8; CHUNK]);
    let mut outcome = None;
    for sequence in 1..MAX_PARTS {
        let part = StreamMessage::new(
            id.clone(),
            sequence,
            StreamContent::Data(ProposalPart::Data(chunk.clone())),
        );
        if let Some(result) = reassembly.insert(flooder, part) {
            outcome = Some((sequence, result));
            break;
        }
    }
    let (sequence, result) = outcome.expect("the stream is dropped");
    assert_eq!(sequence, MAX_BLOCK_BYTES / CHUNK as u64 + 1);
    assert_eq!(
        result.unwrap_err(),
        StreamError::Overfull(MAX_BLOCK_BYTES + CHUNK as u64)
    );
    assert!(reassembly.buffered_bytes() <= (MAX_STREAMS_PER_PUBLISHER as u64) * MAX_BLOCK_BYTES);
}

type Reencode = fn(&[u8]) -> Result<Vec<u8>, DecodeError>;

fn reencode<T: Wire>(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    from_wire::<T>(bytes).map(|value| to_wire(&value))
}

/// One frame of every kind the network and the WAL carry, with its own re-encoder.
fn frames() -> Vec<(Vec<u8>, Reencode)> {
    let a = Address(lightclient::keys::ValidatorAddress([1; 20]));
    let sig = lightclient::Signature([2; 64]);
    let v = vote(VoteType::Precommit, 4, 1, Some(Hash32([3; 32])), a);
    let p = Proposal {
        height: Height(4),
        round: Round::new(1),
        value: BlockValue(Hash32([3; 32])),
        pol_round: Round::new(0),
        proposer: a,
    };
    let polka = PolkaCertificate::<Ctx> {
        height: Height(4),
        round: Round::new(1),
        value_id: Hash32([3; 32]),
        polka_signatures: vec![PolkaSignature::new(a, sig)],
    };
    let extended = mc::ExtendedCommitCertificate::<Ctx> {
        height: Height(4),
        round: Round::new(1),
        value_id: Hash32([3; 32]),
        commit_signatures: vec![mc::ExtendedCommitSignature::new(a, sig, None)],
    };
    let proposed = ProposedValue::<Ctx> {
        height: Height(4),
        round: Round::new(1),
        valid_round: Round::Nil,
        proposer: a,
        value: BlockValue(Hash32([3; 32])),
        validity: mc::Validity::Valid,
    };
    vec![
        (
            to_wire(&SignedConsensusMsg::<Ctx>::Vote(SignedMessage::new(v, sig))),
            reencode::<SignedConsensusMsg<Ctx>>,
        ),
        (
            to_wire(&SignedConsensusMsg::<Ctx>::Proposal(SignedMessage::new(
                p, sig,
            ))),
            reencode::<SignedConsensusMsg<Ctx>>,
        ),
        (
            to_wire(&LivenessMsg::<Ctx>::Vote(SignedMessage::new(
                vote(VoteType::Prevote, 4, 0, None, a),
                sig,
            ))),
            reencode::<LivenessMsg<Ctx>>,
        ),
        (
            to_wire(&LivenessMsg::<Ctx>::PolkaCertificate(polka.clone())),
            reencode::<LivenessMsg<Ctx>>,
        ),
        (to_wire(&polka), reencode::<PolkaCertificate<Ctx>>),
        (to_wire(&proposed), reencode::<ProposedValue<Ctx>>),
        (
            to_wire(&Status::<Ctx> {
                peer_id: peer(3),
                tip_height: Height(9),
                history_min_height: Height(1),
            }),
            reencode::<Status<Ctx>>,
        ),
        (
            to_wire(&Request::<Ctx>::ValueRequest(ValueRequest::new(
                Height(2)..=Height(6),
            ))),
            reencode::<Request<Ctx>>,
        ),
        (
            to_wire(&Response::<Ctx>::ValueResponse(ValueResponse::new(
                Height(2),
                vec![RawDecidedValue::new(Bytes::from_static(b"block"), extended)],
            ))),
            reencode::<Response<Ctx>>,
        ),
    ]
}

#[test]
fn every_frame_round_trips_and_damage_gets_a_typed_error() {
    for (frame, again) in frames() {
        assert_eq!(again(&frame), Ok(frame.clone()));
    }
    let vote_frame = &frames()[0].0;
    let mut trailing = vote_frame.clone();
    trailing.push(0);
    assert_eq!(
        from_wire::<SignedConsensusMsg<Ctx>>(&trailing).unwrap_err(),
        DecodeError::TrailingBytes(1)
    );
    let mut version = vote_frame.clone();
    version[0] = WIRE_VERSION + 1;
    assert_eq!(
        from_wire::<SignedConsensusMsg<Ctx>>(&version).unwrap_err(),
        DecodeError::UnsupportedVersion {
            what: "consensus frame",
            version: u16::from(WIRE_VERSION + 1)
        }
    );
    let mut tag = vote_frame.clone();
    tag[1] = 9;
    assert_eq!(
        from_wire::<SignedConsensusMsg<Ctx>>(&tag).unwrap_err(),
        DecodeError::UnknownTag {
            what: "consensus message",
            tag: 9
        }
    );
    assert!(matches!(
        from_wire::<SignedConsensusMsg<Ctx>>(&vote_frame[..vote_frame.len() - 1]).unwrap_err(),
        DecodeError::UnexpectedEnd {
            what: "signature",
            ..
        }
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let b = Bytes::from(bytes);
        let _ = Codec::<SignedConsensusMsg<Ctx>>::decode(&WireCodec, b.clone());
        let _ = Codec::<LivenessMsg<Ctx>>::decode(&WireCodec, b.clone());
        let _ = Codec::<StreamMessage<ProposalPart>>::decode(&WireCodec, b.clone());
        let _ = Codec::<Status<Ctx>>::decode(&WireCodec, b.clone());
        let _ = Codec::<Request<Ctx>>::decode(&WireCodec, b.clone());
        let _ = Codec::<Response<Ctx>>::decode(&WireCodec, b.clone());
        let _ = Codec::<mc::ValidatorProof<Ctx>>::decode(&WireCodec, b.clone());
        let _ = Codec::<PolkaCertificate<Ctx>>::decode(&WireCodec, b);
    }

    /// Real frames of every kind, damaged in place and cut: whatever still decodes is canonical
    /// (it encodes back to the damaged bytes), and the undamaged frame is the control.
    #[test]
    fn damaged_frames_of_every_kind_decode_canonically_or_not_at_all(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        for (frame, again) in frames() {
            let mut bytes = frame.clone();
            for (at, value) in &edits {
                let len = bytes.len();
                bytes[at % len] = *value;
            }
            bytes.truncate(cut % (frame.len() + 1));
            match again(&bytes) {
                Ok(encoded) => prop_assert_eq!(encoded, bytes),
                Err(e) => prop_assert!(bytes != frame, "a valid frame does not decode: {e}"),
            }
        }
    }

    #[test]
    fn a_flipped_byte_never_decodes_to_the_same_vote(index in 0usize..120, flip in 1u8..=255) {
        let frame = &frames()[0].0;
        let index = index % frame.len();
        let mut damaged = frame.clone();
        damaged[index] ^= flip;
        match from_wire::<SignedConsensusMsg<Ctx>>(&damaged) {
            Err(_) => {}
            Ok(decoded) => prop_assert_ne!(to_wire(&decoded), frame.clone()),
        }
    }
}
