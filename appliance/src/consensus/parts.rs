//! A proposed block on the wire: its header and transactions (receipts and certificate are
//! re-derived or arrive with the decision), cut into proposal parts and put back together from
//! parts that may arrive twice, late or out of order.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use lightclient::encoding::{Decode, DecodeError, Encode, Reader};
use lightclient::hash::Hash32;
use lightclient::header::BlockHeader;
use lightclient::tx::SignedTransaction;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::core::Round;

use super::context::{Address, Height, ProposalPart};

/// Bytes per data part: well under the engine's 4 MiB gossip limit.
pub const CHUNK: usize = 512 * 1024;

/// Largest block accepted from a stream (the proposer's limit is smaller).
pub const MAX_BLOCK_BYTES: u64 = 32 * 1024 * 1024;

/// Streams kept open at once across all publishers; past it the oldest is dropped.
const MAX_OPEN_STREAMS: usize = 64;

/// Streams kept open per publisher: a publisher that opens more loses its own oldest, so one
/// peer cannot push an honest proposer's stream out.
pub const MAX_STREAMS_PER_PUBLISHER: usize = 4;

/// Most parts a stream can have: `Init`, the largest block in [`CHUNK`]-sized data parts, `Fin`.
pub const MAX_PARTS: u64 = MAX_BLOCK_BYTES.div_ceil(CHUNK as u64) + 2;

/// What a proposer sends: the header and the transactions it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockProposal {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in order.
    pub transactions: Vec<SignedTransaction>,
}

impl Encode for BlockProposal {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        self.transactions.encode(out);
    }
}

impl Decode for BlockProposal {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockProposal {
            header: Decode::decode(reader)?,
            transactions: Decode::decode(reader)?,
        })
    }
}

/// The parts header of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Proof-of-lock round.
    pub pol_round: Round,
    /// Proposer.
    pub proposer: Address,
    /// Hash of the block.
    pub block_hash: Hash32,
}

/// Cuts an encoded block into a stream: `Init`, data chunks, `Fin`.
pub fn split(
    stream_id: &StreamId,
    header: &StreamHeader,
    block: &[u8],
) -> Vec<StreamMessage<ProposalPart>> {
    let mut messages = Vec::with_capacity(block.len().div_ceil(CHUNK).saturating_add(2));
    messages.push(StreamMessage::new(
        stream_id.clone(),
        0,
        StreamContent::Data(ProposalPart::Init {
            height: header.height,
            round: header.round,
            pol_round: header.pol_round,
            proposer: header.proposer,
            block_hash: header.block_hash,
            length: block.len() as u64,
        }),
    ));
    let mut sequence: u64 = 1;
    for chunk in block.chunks(CHUNK) {
        messages.push(StreamMessage::new(
            stream_id.clone(),
            sequence,
            StreamContent::Data(ProposalPart::Data(Bytes::copy_from_slice(chunk))),
        ));
        sequence = sequence.saturating_add(1);
    }
    messages.push(StreamMessage::new(
        stream_id.clone(),
        sequence,
        StreamContent::Fin,
    ));
    messages
}

/// Why a finished stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The first message is not an `Init` part, or an `Init` part appears later.
    #[error("stream parts out of shape: {0}")]
    Malformed(&'static str),
    /// A part numbered at or beyond [`MAX_PARTS`].
    #[error("stream part {0} is beyond the {MAX_PARTS} parts of the largest block")]
    TooManyParts(u64),
    /// The data parts hold more than [`MAX_BLOCK_BYTES`] before the stream is complete.
    #[error("stream holds {0} data bytes, more than the largest block of {MAX_BLOCK_BYTES}")]
    Overfull(u64),
    /// The data is not the length the `Init` part announced.
    #[error("stream carries {got} bytes, its header announced {announced}")]
    Length {
        /// Announced.
        announced: u64,
        /// Received.
        got: u64,
    },
    /// The announced length is above [`MAX_BLOCK_BYTES`].
    #[error("stream announces {0} bytes, more than the maximum {MAX_BLOCK_BYTES}")]
    TooLarge(u64),
    /// The bytes are not a block.
    #[error("stream data is not a block: {0}")]
    Decode(#[from] DecodeError),
    /// The block is not the one the `Init` part names.
    #[error("stream names block {announced} but carries block {carried}")]
    HashMismatch {
        /// Named.
        announced: Hash32,
        /// Carried.
        carried: Hash32,
    },
}

#[derive(Debug, Default)]
struct OpenStream {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    fin: Option<u64>,
    opened: u64,
    /// Data bytes held.
    bytes: u64,
}

/// Streams being received, keyed by publisher and stream id.
#[derive(Debug, Default)]
pub struct Reassembly {
    open: HashMap<(PeerId, StreamId), OpenStream>,
    counter: u64,
}

impl Reassembly {
    /// Adds one message; returns the stream's header and block once every part is in, or why
    /// the stream was dropped. What is held stays bounded: at most
    /// [`MAX_STREAMS_PER_PUBLISHER`] streams per publisher and [`MAX_OPEN_STREAMS`] in all, each
    /// of at most [`MAX_PARTS`] parts and [`MAX_BLOCK_BYTES`] of data.
    pub fn insert(
        &mut self,
        publisher: PeerId,
        message: StreamMessage<ProposalPart>,
    ) -> Option<Result<(StreamHeader, BlockProposal), StreamError>> {
        let key = (publisher, message.stream_id.clone());
        if message.sequence >= MAX_PARTS {
            self.open.remove(&key);
            return Some(Err(StreamError::TooManyParts(message.sequence)));
        }
        if !self.open.contains_key(&key) {
            let publishers = self.open.keys().filter(|(p, _)| *p == publisher).count();
            if publishers >= MAX_STREAMS_PER_PUBLISHER {
                self.drop_oldest(|(p, _)| *p == publisher);
            }
            if self.open.len() >= MAX_OPEN_STREAMS {
                self.drop_oldest(|_| true);
            }
        }
        self.counter = self.counter.saturating_add(1);
        let counter = self.counter;
        let stream = self.open.entry(key.clone()).or_insert_with(|| OpenStream {
            opened: counter,
            ..OpenStream::default()
        });
        if matches!(message.content, StreamContent::Fin) {
            stream.fin = Some(message.sequence);
        }
        if let std::collections::btree_map::Entry::Vacant(slot) =
            stream.parts.entry(message.sequence)
        {
            if let StreamContent::Data(ProposalPart::Data(chunk)) = &message.content {
                stream.bytes = stream.bytes.saturating_add(chunk.len() as u64);
            }
            slot.insert(message.content);
        }
        if stream.bytes > MAX_BLOCK_BYTES {
            let bytes = stream.bytes;
            self.open.remove(&key);
            return Some(Err(StreamError::Overfull(bytes)));
        }
        let fin = stream.fin?;
        let complete = u64::try_from(stream.parts.len()).ok()? == fin.checked_add(1)?
            && stream.parts.keys().next_back() == Some(&fin);
        if !complete {
            return None;
        }
        let stream = self.open.remove(&key)?;
        Some(assemble(stream.parts))
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.open.len()
    }

    /// Data bytes held in open streams.
    pub fn buffered_bytes(&self) -> u64 {
        self.open.values().map(|s| s.bytes).sum()
    }

    fn drop_oldest(&mut self, which: impl Fn(&(PeerId, StreamId)) -> bool) {
        let oldest = self
            .open
            .iter()
            .filter(|(k, _)| which(k))
            .min_by_key(|(_, s)| s.opened)
            .map(|(k, _)| k.clone());
        if let Some(oldest) = oldest {
            self.open.remove(&oldest);
        }
    }

    /// Forgets every stream (at a new height).
    pub fn clear(&mut self) {
        self.open.clear();
    }
}

fn assemble(
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
) -> Result<(StreamHeader, BlockProposal), StreamError> {
    let mut parts = parts.into_values();
    let Some(StreamContent::Data(ProposalPart::Init {
        height,
        round,
        pol_round,
        proposer,
        block_hash,
        length,
    })) = parts.next()
    else {
        return Err(StreamError::Malformed("the first part is not an Init part"));
    };
    if length > MAX_BLOCK_BYTES {
        return Err(StreamError::TooLarge(length));
    }
    let mut data = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    for part in parts {
        match part {
            StreamContent::Data(ProposalPart::Data(chunk)) => {
                if (data.len() as u64).saturating_add(chunk.len() as u64) > length {
                    return Err(StreamError::Length {
                        announced: length,
                        got: (data.len() as u64).saturating_add(chunk.len() as u64),
                    });
                }
                data.extend_from_slice(&chunk);
            }
            StreamContent::Data(ProposalPart::Init { .. }) => {
                return Err(StreamError::Malformed("a second Init part"));
            }
            StreamContent::Fin => {}
        }
    }
    if data.len() as u64 != length {
        return Err(StreamError::Length {
            announced: length,
            got: data.len() as u64,
        });
    }
    let block = BlockProposal::from_bytes(&data)?;
    let carried = block.header.hash();
    if carried != block_hash {
        return Err(StreamError::HashMismatch {
            announced: block_hash,
            carried,
        });
    }
    Ok((
        StreamHeader {
            height,
            round,
            pol_round,
            proposer,
            block_hash,
        },
        block,
    ))
}
