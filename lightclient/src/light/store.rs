//! Where the light client keeps the blocks it has seen, with how far it trusts each. The trait
//! lets a wallet keep them on disk (a file store lives outside this crate, which does no I/O);
//! [`MemoryStore`] is the in-memory one.

use std::collections::BTreeMap;

use super::verifier::LightBlock;

/// How far a stored block is trusted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Fetched, not checked yet.
    Unverified,
    /// Refused by a check.
    Failed,
    /// Verified from the trusted state through certificates.
    Verified,
    /// Verified, and the same block was confirmed by at least one witness.
    Trusted,
}

impl Status {
    /// Whether a block with this status may be verified from.
    pub fn is_trusted_enough(self) -> bool {
        matches!(self, Status::Verified | Status::Trusted)
    }
}

/// A store failed to read or write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("light store: {0}")]
pub struct StoreError(pub String);

/// Blocks by height, each with its status.
pub trait LightStore {
    /// The block at `height`, with its status.
    fn get(&self, height: u64) -> Option<(LightBlock, Status)>;
    /// Stores `block` with `status`, replacing what was at its height.
    fn insert(&mut self, block: LightBlock, status: Status) -> Result<(), StoreError>;
    /// The highest block that is at least [`Status::Verified`] and below `below`.
    fn highest_verified_below(&self, below: u64) -> Option<(LightBlock, Status)>;
    /// The highest block that is at least [`Status::Verified`].
    fn highest_verified(&self) -> Option<(LightBlock, Status)> {
        self.highest_verified_below(u64::MAX)
    }
}

/// Blocks in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    blocks: BTreeMap<u64, (LightBlock, Status)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Every stored block, lowest first.
    pub fn all(&self) -> impl Iterator<Item = (&LightBlock, Status)> {
        self.blocks.values().map(|(b, s)| (b, *s))
    }
}

impl LightStore for MemoryStore {
    fn get(&self, height: u64) -> Option<(LightBlock, Status)> {
        self.blocks.get(&height).cloned()
    }

    fn insert(&mut self, block: LightBlock, status: Status) -> Result<(), StoreError> {
        self.blocks.insert(block.height(), (block, status));
        Ok(())
    }

    fn highest_verified_below(&self, below: u64) -> Option<(LightBlock, Status)> {
        self.blocks
            .range(..below)
            .rev()
            .find(|(_, (_, status))| status.is_trusted_enough())
            .map(|(_, entry)| entry.clone())
    }
}
