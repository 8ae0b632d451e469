//! The bytes of everything the engine sends between nodes or writes to its WAL: the same strict
//! canonical encoding as the light client's objects (ADR 0001), one version byte in front. A
//! frame that does not decode exactly, with nothing left over, is refused with a typed error.

use std::ops::RangeInclusive;

use bytes::Bytes;
use lightclient::encoding::{Decode, DecodeError, Encode, Reader};
use lightclient::hash::Hash32;
use lightclient::keys::{Signature, ValidatorAddress};
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature,
    Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof,
    Validity, VoteType,
};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{RawDecidedValue, Request, Response, Status, ValueRequest, ValueResponse};

use super::context::{Address, BlockValue, Ctx, Height, Proposal, ProposalPart, Vote};

/// The wire format version this build writes and reads.
pub const WIRE_VERSION: u8 = 1;

/// Longest byte string accepted in any field (a proposal chunk, a synced block).
const MAX_FIELD: usize = 64 * 1024 * 1024;

/// The codec handed to the engine for the network, sync and WAL.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireCodec;

/// A value with a wire form. Local so it can cover the engine's generic types.
pub trait Wire: Sized {
    /// Appends the encoding.
    fn put(&self, out: &mut Vec<u8>);
    /// Reads one value.
    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Encodes with the version byte.
pub fn to_wire<T: Wire>(value: &T) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    value.put(&mut out);
    out
}

/// Decodes a whole frame: version byte, one value, nothing after it.
pub fn from_wire<T: Wire>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = Reader::new(bytes);
    let version = reader.tag("wire version")?;
    if version != WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what: "consensus frame",
            version: u16::from(version),
        });
    }
    let value = T::take(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

macro_rules! wire_via_encoding {
    ($($ty:ty),*) => {$(
        impl Wire for $ty {
            fn put(&self, out: &mut Vec<u8>) {
                self.encode(out);
            }
            fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Decode::decode(reader)
            }
        }
    )*};
}
wire_via_encoding!(u64, u32, bool, Hash32, Signature, ValidatorAddress);

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) {
        u32::try_from(self.len()).unwrap_or(u32::MAX).put(out);
        for item in self {
            item.put(out);
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = reader.count("sequence")?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::take(reader)?);
        }
        Ok(items)
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.put(out);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("option")? {
            0 => Ok(None),
            1 => T::take(reader).map(Some),
            tag => Err(DecodeError::UnknownTag {
                what: "option",
                tag,
            }),
        }
    }
}

impl Wire for Bytes {
    fn put(&self, out: &mut Vec<u8>) {
        u32::try_from(self.len()).unwrap_or(u32::MAX).put(out);
        out.extend_from_slice(self);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.bytes("byte string", MAX_FIELD).map(Bytes::from)
    }
}

impl Wire for Height {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        u64::take(reader).map(Height)
    }
}

impl Wire for Address {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        ValidatorAddress::take(reader).map(Address)
    }
}

impl Wire for BlockValue {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Hash32::take(reader).map(BlockValue)
    }
}

/// Rounds are `-1` (nil) or a round number; on the wire, an option of a `u32`.
impl Wire for Round {
    fn put(&self, out: &mut Vec<u8>) {
        self.as_u32().put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(<Option<u32> as Wire>::take(reader)?.map_or(Round::Nil, Round::new))
    }
}

impl Wire for NilOrVal<Hash32> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            NilOrVal::Nil => None::<Hash32>.put(out),
            NilOrVal::Val(hash) => Some(*hash).put(out),
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(<Option<Hash32> as Wire>::take(reader)?.map_or(NilOrVal::Nil, NilOrVal::Val))
    }
}

impl Wire for VoteType {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(match self {
            VoteType::Prevote => 1,
            VoteType::Precommit => 2,
        });
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("vote type")? {
            1 => Ok(VoteType::Prevote),
            2 => Ok(VoteType::Precommit),
            tag => Err(DecodeError::UnknownTag {
                what: "vote type",
                tag,
            }),
        }
    }
}

impl Wire for Validity {
    fn put(&self, out: &mut Vec<u8>) {
        self.is_valid().put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        bool::take(reader).map(Validity::from_bool)
    }
}

/// Extensions are disabled and carry nothing, so a signed extension is its signature alone.
impl Wire for () {
    fn put(&self, _out: &mut Vec<u8>) {}

    fn take(_reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(())
    }
}

/// A signed vote, proposal or extension: the message, then its signature.
impl<M: Wire> Wire for SignedMessage<Ctx, M> {
    fn put(&self, out: &mut Vec<u8>) {
        self.message.put(out);
        self.signature.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let message = M::take(reader)?;
        Ok(SignedMessage::new(message, Signature::take(reader)?))
    }
}

impl Wire for Vote {
    fn put(&self, out: &mut Vec<u8>) {
        self.vote_type.put(out);
        self.height.put(out);
        self.round.put(out);
        self.value.put(out);
        self.voter.put(out);
        self.extension.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Vote {
            vote_type: Wire::take(reader)?,
            height: Wire::take(reader)?,
            round: Wire::take(reader)?,
            value: Wire::take(reader)?,
            voter: Wire::take(reader)?,
            extension: Wire::take(reader)?,
        })
    }
}

impl Wire for Proposal {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value.put(out);
        self.pol_round.put(out);
        self.proposer.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Proposal {
            height: Wire::take(reader)?,
            round: Wire::take(reader)?,
            value: Wire::take(reader)?,
            pol_round: Wire::take(reader)?,
            proposer: Wire::take(reader)?,
        })
    }
}

impl Wire for ProposalPart {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            ProposalPart::Init {
                height,
                round,
                pol_round,
                proposer,
                block_hash,
                length,
            } => {
                out.push(1);
                height.put(out);
                round.put(out);
                pol_round.put(out);
                proposer.put(out);
                block_hash.put(out);
                length.put(out);
            }
            ProposalPart::Data(chunk) => {
                out.push(2);
                chunk.put(out);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("proposal part")? {
            1 => Ok(ProposalPart::Init {
                height: Wire::take(reader)?,
                round: Wire::take(reader)?,
                pol_round: Wire::take(reader)?,
                proposer: Wire::take(reader)?,
                block_hash: Wire::take(reader)?,
                length: Wire::take(reader)?,
            }),
            2 => Ok(ProposalPart::Data(Wire::take(reader)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "proposal part",
                tag,
            }),
        }
    }
}

impl Wire for StreamMessage<ProposalPart> {
    fn put(&self, out: &mut Vec<u8>) {
        self.stream_id.to_bytes().put(out);
        self.sequence.put(out);
        match &self.content {
            StreamContent::Data(part) => {
                out.push(1);
                part.put(out);
            }
            StreamContent::Fin => out.push(2),
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let stream_id = StreamId::new(Bytes::take(reader)?);
        let sequence = u64::take(reader)?;
        let content = match reader.tag("stream content")? {
            1 => StreamContent::Data(ProposalPart::take(reader)?),
            2 => StreamContent::Fin,
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "stream content",
                    tag,
                });
            }
        };
        Ok(StreamMessage::new(stream_id, sequence, content))
    }
}

impl Wire for SignedConsensusMsg<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            SignedConsensusMsg::Vote(vote) => {
                out.push(1);
                vote.put(out);
            }
            SignedConsensusMsg::Proposal(proposal) => {
                out.push(2);
                proposal.put(out);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("consensus message")? {
            1 => Ok(SignedConsensusMsg::Vote(Wire::take(reader)?)),
            2 => Ok(SignedConsensusMsg::Proposal(Wire::take(reader)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "consensus message",
                tag,
            }),
        }
    }
}

impl Wire for PolkaSignature<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.address.put(out);
        self.signature.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let address = Address::take(reader)?;
        Ok(PolkaSignature::new(address, Signature::take(reader)?))
    }
}

impl Wire for PolkaCertificate<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value_id.put(out);
        self.polka_signatures.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PolkaCertificate {
            height: Wire::take(reader)?,
            round: Wire::take(reader)?,
            value_id: Wire::take(reader)?,
            polka_signatures: Wire::take(reader)?,
        })
    }
}

impl Wire for RoundSignature<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.vote_type.put(out);
        self.value_id.put(out);
        self.address.put(out);
        self.signature.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RoundSignature::new(
            Wire::take(reader)?,
            Wire::take(reader)?,
            Wire::take(reader)?,
            Wire::take(reader)?,
        ))
    }
}

impl Wire for RoundCertificate<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        out.push(match self.cert_type {
            RoundCertificateType::Skip => 1,
            RoundCertificateType::Precommit => 2,
        });
        self.round_signatures.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let height = Wire::take(reader)?;
        let round = Wire::take(reader)?;
        let cert_type = match reader.tag("round certificate type")? {
            1 => RoundCertificateType::Skip,
            2 => RoundCertificateType::Precommit,
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "round certificate type",
                    tag,
                });
            }
        };
        Ok(RoundCertificate {
            height,
            round,
            cert_type,
            round_signatures: Wire::take(reader)?,
        })
    }
}

impl Wire for LivenessMsg<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            LivenessMsg::Vote(vote) => {
                out.push(1);
                vote.put(out);
            }
            LivenessMsg::PolkaCertificate(certificate) => {
                out.push(2);
                certificate.put(out);
            }
            LivenessMsg::SkipRoundCertificate(certificate) => {
                out.push(3);
                certificate.put(out);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("liveness message")? {
            1 => Ok(LivenessMsg::Vote(Wire::take(reader)?)),
            2 => Ok(LivenessMsg::PolkaCertificate(Wire::take(reader)?)),
            3 => Ok(LivenessMsg::SkipRoundCertificate(Wire::take(reader)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "liveness message",
                tag,
            }),
        }
    }
}

impl Wire for ValidatorProof<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        Bytes::copy_from_slice(&self.public_key).put(out);
        Bytes::copy_from_slice(&self.peer_id).put(out);
        self.signature.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let public_key = reader.bytes("validator proof key", 33)?;
        let peer_id = reader.bytes("validator proof peer id", 128)?;
        Ok(ValidatorProof::new(
            public_key,
            peer_id,
            Signature::take(reader)?,
        ))
    }
}

impl Wire for PeerId {
    fn put(&self, out: &mut Vec<u8>) {
        Bytes::from(self.to_bytes()).put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = reader.bytes("peer id", 128)?;
        PeerId::from_bytes(&bytes).map_err(|e| DecodeError::InvalidValue {
            what: "peer id",
            reason: e.to_string(),
        })
    }
}

impl Wire for Status<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.peer_id.put(out);
        self.tip_height.put(out);
        self.history_min_height.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Status {
            peer_id: Wire::take(reader)?,
            tip_height: Wire::take(reader)?,
            history_min_height: Wire::take(reader)?,
        })
    }
}

impl Wire for RangeInclusive<Height> {
    fn put(&self, out: &mut Vec<u8>) {
        self.start().put(out);
        self.end().put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = Height::take(reader)?;
        Ok(start..=Height::take(reader)?)
    }
}

impl Wire for Request<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Request::ValueRequest(request) => {
                out.push(1);
                request.range.put(out);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("sync request")? {
            1 => Ok(Request::ValueRequest(ValueRequest::new(Wire::take(
                reader,
            )?))),
            tag => Err(DecodeError::UnknownTag {
                what: "sync request",
                tag,
            }),
        }
    }
}

impl Wire for ExtendedCommitSignature<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.address.put(out);
        self.signature.put(out);
        self.extension.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ExtendedCommitSignature {
            address: Wire::take(reader)?,
            signature: Wire::take(reader)?,
            extension: Wire::take(reader)?,
        })
    }
}

impl Wire for ExtendedCommitCertificate<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value_id.put(out);
        self.commit_signatures.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ExtendedCommitCertificate {
            height: Wire::take(reader)?,
            round: Wire::take(reader)?,
            value_id: Wire::take(reader)?,
            commit_signatures: Wire::take(reader)?,
        })
    }
}

impl Wire for RawDecidedValue<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.value_bytes.put(out);
        self.certificate.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let value_bytes = Bytes::take(reader)?;
        Ok(RawDecidedValue::new(value_bytes, Wire::take(reader)?))
    }
}

impl Wire for Response<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Response::ValueResponse(response) => {
                out.push(1);
                response.start_height.put(out);
                response.values.put(out);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("sync response")? {
            1 => {
                let start_height = Height::take(reader)?;
                Ok(Response::ValueResponse(ValueResponse::new(
                    start_height,
                    Wire::take(reader)?,
                )))
            }
            tag => Err(DecodeError::UnknownTag {
                what: "sync response",
                tag,
            }),
        }
    }
}

impl Wire for ProposedValue<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.valid_round.put(out);
        self.proposer.put(out);
        self.value.put(out);
        self.validity.put(out);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ProposedValue {
            height: Wire::take(reader)?,
            round: Wire::take(reader)?,
            valid_round: Wire::take(reader)?,
            proposer: Wire::take(reader)?,
            value: Wire::take(reader)?,
            validity: Wire::take(reader)?,
        })
    }
}

macro_rules! engine_codec {
    ($($ty:ty),*) => {$(
        impl Codec<$ty> for WireCodec {
            type Error = DecodeError;

            fn decode(&self, bytes: Bytes) -> Result<$ty, DecodeError> {
                from_wire(&bytes)
            }

            fn encode(&self, message: &$ty) -> Result<Bytes, DecodeError> {
                Ok(Bytes::from(to_wire(message)))
            }
        }
    )*};
}
engine_codec!(
    ProposalPart,
    SignedConsensusMsg<Ctx>,
    LivenessMsg<Ctx>,
    StreamMessage<ProposalPart>,
    ValidatorProof<Ctx>,
    Status<Ctx>,
    Request<Ctx>,
    Response<Ctx>,
    ProposedValue<Ctx>,
    PolkaCertificate<Ctx>
);

impl HasEncodedLen<Response<Ctx>> for WireCodec {
    fn encoded_len(&self, message: &Response<Ctx>) -> Result<usize, DecodeError> {
        let mut out = vec![WIRE_VERSION];
        message.put(&mut out);
        Ok(out.len())
    }
}
