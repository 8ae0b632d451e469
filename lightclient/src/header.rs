//! Block headers, chain ids and receipts.

use std::fmt;
use std::str::FromStr;

use crate::encoding::{Decode, DecodeError, Encode, Reader, expect_version};
use crate::hash::{Hash32, serde_as_display_fromstr, tagged_hash, tags};
use crate::keys::{AccountId, AssetId, ValidatorAddress};

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
crate::hash::string_schema!(ChainId, "a chain id");

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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The format byte every receipt starts with (version 2: code name, message and events).
pub const RECEIPT_VERSION: u8 = 2;

/// The outcome of one transaction in a block: whether it applied, why not, and what it did.
/// The block's receipts root commits to each receipt's canonical bytes (an RFC 6962 Merkle
/// tree, as the transactions root), so a light client can prove an event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The transaction.
    pub txid: Hash32,
    /// 0 when applied; otherwise the ledger's error code for why it was rejected.
    pub code: u32,
    /// The code's stable name (`ok` when applied).
    pub code_name: String,
    /// What went wrong, for people (empty when applied).
    pub message: String,
    /// What the transaction did, in order (none when refused).
    pub events: Vec<Event>,
}

impl Encode for Receipt {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(RECEIPT_VERSION);
        self.txid.encode(out);
        self.code.encode(out);
        self.code_name.encode(out);
        self.message.encode(out);
        self.events.encode(out);
    }
}

impl Decode for Receipt {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.tag("receipt version")?;
        if version != RECEIPT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "receipt",
                version: u16::from(version),
            });
        }
        Ok(Receipt {
            txid: Hash32::decode(reader)?,
            code: u32::decode(reader)?,
            code_name: String::decode(reader)?,
            message: String::decode(reader)?,
            events: Vec::decode(reader)?,
        })
    }
}

impl Receipt {
    /// Whether the transaction was applied.
    pub fn applied(&self) -> bool {
        self.code == 0
    }
}

/// Something a transaction did, as its receipt records it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Event {
    /// Tokens moved from one holder to another.
    Transfer {
        /// The asset.
        asset: AssetId,
        /// Who paid.
        from: AccountId,
        /// Who received.
        to: AccountId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "crate::amount::u128_string")]
        amount: u128,
    },
    /// A fee moved to its collector.
    FeeCharged {
        /// The asset.
        asset: AssetId,
        /// Who paid.
        payer: AccountId,
        /// Who received.
        collector: AccountId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "crate::amount::u128_string")]
        amount: u128,
    },
    /// Tokens created.
    Mint {
        /// The asset.
        asset: AssetId,
        /// Who received them.
        to: AccountId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "crate::amount::u128_string")]
        amount: u128,
    },
    /// Tokens destroyed.
    Burn {
        /// The asset.
        asset: AssetId,
        /// Whose they were.
        from: AccountId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "crate::amount::u128_string")]
        amount: u128,
    },
    /// One asset holder's unsettled amount moved to settled (negative: paid out).
    Settlement {
        /// The asset.
        asset: AssetId,
        /// The asset holder.
        asset_holder: AccountId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "crate::amount::i128_string")]
        amount: i128,
    },
    /// A bar entered the vault's register.
    BarRegistered {
        /// Its serial.
        serial: String,
        /// Its location.
        location: String,
    },
    /// A bar moved within the vault.
    BarMoved {
        /// Its serial.
        serial: String,
        /// Its new location.
        location: String,
    },
    /// A bar left custody.
    BarReleased {
        /// Its serial.
        serial: String,
    },
    /// A new mapping is in force.
    MappingVersion {
        /// Its sequence.
        sequence: u64,
        /// SHA-256 of its exact bytes.
        hash: Hash32,
    },
    /// The validator set changes from a later height on.
    ValidatorSetChanged {
        /// The new set's hash.
        hash: Hash32,
        /// The first height it certifies.
        effective_height: u64,
    },
}

crate::encoding::struct_enum_codec!(Event {
    Transfer = 1 { asset, from, to, amount },
    FeeCharged = 2 { asset, payer, collector, amount },
    Mint = 3 { asset, to, amount },
    Burn = 4 { asset, from, amount },
    Settlement = 5 { asset, asset_holder, amount },
    BarRegistered = 6 { serial, location },
    BarMoved = 7 { serial, location },
    BarReleased = 8 { serial },
    MappingVersion = 9 { sequence, hash },
    ValidatorSetChanged = 10 { hash, effective_height },
});

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
