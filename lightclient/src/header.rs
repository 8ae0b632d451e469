//! Block headers, chain ids and receipts.

use std::fmt;
use std::str::FromStr;

use crate::encoding::{Decode, DecodeError, Encode, Reader, expect_version};
use crate::hash::{Hash32, serde_as_display_fromstr, tagged_hash, tags};
use crate::keys::ValidatorAddress;

/// The longest chain id.
pub const MAX_CHAIN_ID_LEN: usize = 64;

/// A chain's name, such as `abt-local-1`: 1 to 64 characters of `a-z`, `0-9`, `-` and `.`.
/// It is bound into every transaction and vote, so nothing signed for one chain is valid on
/// another; the genesis hash binds it to the chain's validators and policy.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId(String);

/// Why a chain id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain id {0:?} must be 1 to 64 characters of a-z, 0-9, '-' and '.'")]
pub struct ChainIdError(pub String);

impl ChainId {
    /// Checks the character set and length.
    pub fn new(text: &str) -> Result<Self, ChainIdError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_CHAIN_ID_LEN
            && text
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.'));
        if ok {
            Ok(ChainId(text.to_string()))
        } else {
            Err(ChainIdError(text.to_string()))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

impl FromStr for ChainId {
    type Err = ChainIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChainId::new(s)
    }
}
serde_as_display_fromstr!(ChainId, "chain id");

impl Encode for ChainId {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl Decode for ChainId {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let text = reader.string("chain id", MAX_CHAIN_ID_LEN)?;
        ChainId::new(&text).map_err(|e| DecodeError::InvalidValue {
            what: "chain id",
            reason: e.to_string(),
        })
    }
}

/// The header version this code writes and accepts.
pub const HEADER_VERSION: u16 = 1;

/// A block header. The block hash is the tagged hash of its canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// Encoding version, [`HEADER_VERSION`].
    pub version: u16,
    /// The chain.
    pub chain_id: ChainId,
    /// Height, from 1 for the first block after genesis.
    pub height: u64,
    /// Proposer's clock, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Hash of the previous block; for height 1, the genesis hash.
    pub previous_block_hash: Hash32,
    /// The validator that proposed the block.
    pub proposer: ValidatorAddress,
    /// Merkle root of the block's signed transactions, in order.
    pub transactions_root: Hash32,
    /// Number of transactions.
    pub transaction_count: u32,
    /// Merkle root of the receipts of the block's transactions, in the same order.
    pub receipts_root: Hash32,
    /// Root of the authenticated state after executing the block.
    pub state_root: Hash32,
    /// SHA-256 of the exact published bytes of the mapping object in force after the block.
    pub mapping_hash: Hash32,
    /// Hash of the validator set that certifies this block.
    pub validator_set_hash: Hash32,
    /// Hash of the validator set that certifies the next block.
    pub next_validator_set_hash: Hash32,
}

impl Encode for BlockHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.chain_id.encode(out);
        self.height.encode(out);
        self.time_ms.encode(out);
        self.previous_block_hash.encode(out);
        self.proposer.encode(out);
        self.transactions_root.encode(out);
        self.transaction_count.encode(out);
        self.receipts_root.encode(out);
        self.state_root.encode(out);
        self.mapping_hash.encode(out);
        self.validator_set_hash.encode(out);
        self.next_validator_set_hash.encode(out);
    }
}

impl Decode for BlockHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            version: expect_version(reader, "block header", HEADER_VERSION)?,
            chain_id: Decode::decode(reader)?,
            height: Decode::decode(reader)?,
            time_ms: Decode::decode(reader)?,
            previous_block_hash: Decode::decode(reader)?,
            proposer: Decode::decode(reader)?,
            transactions_root: Decode::decode(reader)?,
            transaction_count: Decode::decode(reader)?,
            receipts_root: Decode::decode(reader)?,
            state_root: Decode::decode(reader)?,
            mapping_hash: Decode::decode(reader)?,
            validator_set_hash: Decode::decode(reader)?,
            next_validator_set_hash: Decode::decode(reader)?,
        })
    }
}

impl BlockHeader {
    /// The block hash.
    pub fn hash(&self) -> Hash32 {
        tagged_hash(tags::BLOCK_HEADER, &self.to_bytes())
    }
}

/// The outcome of one transaction in a block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The transaction.
    pub txid: Hash32,
    /// 0 when applied; otherwise the ledger's error code for why it was rejected.
    pub code: u32,
}

crate::encoding::struct_codec!(Receipt { txid, code });

impl Receipt {
    /// Whether the transaction was applied.
    pub fn applied(&self) -> bool {
        self.code == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_character_set_is_enforced() {
        assert!(ChainId::new("abt-local-1").is_ok());
        for bad in ["", "ABT", "a b", "a/b", &"x".repeat(65)] {
            assert_eq!(ChainId::new(bad), Err(ChainIdError(bad.to_string())));
        }
    }
}
