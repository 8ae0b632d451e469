//! The authenticated state: a Jellyfish Merkle Tree (the `jmt` crate, as used by Diem/Aptos and
//! Penumbra) over accounts, balances, assets, asset-holder positions, physical items and the
//! mapping record. Its root goes into every header; a proof against it shows one entry — a
//! balance, an asset's supply — to a light client.

use std::collections::BTreeMap;

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};
use lightclient::encoding::Encode;
use lightclient::hash::Hash32;
use lightclient::keys::{AccountId, AssetId};
use sha2::Sha256;

use super::state::LedgerState;

/// Format version prefixed to every state value.
pub const STATE_VALUE_VERSION: u8 = 1;

/// A key of the authenticated state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum StateKey {
    /// An account.
    Account(AccountId),
    /// A holder's balance of an asset.
    Balance(AccountId, AssetId),
    /// An asset (its supply and maximum).
    Asset(AssetId),
    /// An asset holder's position in an asset.
    Position(AccountId, AssetId),
    /// A physical item, by serial.
    Item(String),
    /// The mapping in force (sequence and hash).
    Mapping,
}

impl StateKey {
    /// Canonical bytes: a table tag, then the key's fields.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            StateKey::Account(a) => {
                out.push(1);
                a.encode(&mut out);
            }
            StateKey::Balance(a, s) => {
                out.push(2);
                a.encode(&mut out);
                s.encode(&mut out);
            }
            StateKey::Asset(s) => {
                out.push(3);
                s.encode(&mut out);
            }
            StateKey::Position(a, s) => {
                out.push(4);
                a.encode(&mut out);
                s.encode(&mut out);
            }
            StateKey::Item(serial) => {
                out.push(5);
                serial.encode(&mut out);
            }
            StateKey::Mapping => out.push(6),
        }
        out
    }

    /// Where the key sits in the tree: SHA-256 of its bytes.
    pub fn key_hash(&self) -> KeyHash {
        KeyHash::with::<Sha256>(self.to_bytes())
    }
}

impl LedgerState {
    /// The canonical value stored under `key`, or `None` if there is no such entry.
    pub fn state_value(&self, key: &StateKey) -> Option<Vec<u8>> {
        let mut out = vec![STATE_VALUE_VERSION];
        match key {
            StateKey::Account(id) => {
                let account = self.accounts.get(id)?;
                account.public_key.encode(&mut out);
                account.kyc.encode(&mut out);
                account
                    .roles
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
                    .encode(&mut out);
                account.asset_holder.encode(&mut out);
            }
            StateKey::Balance(account, asset) => {
                let balance = self.balances.get(&(*account, *asset))?;
                balance.available.encode(&mut out);
                balance.locked.encode(&mut out);
            }
            StateKey::Asset(id) => {
                let asset = self.assets.get(id)?;
                asset.code.encode(&mut out);
                asset.precision.encode(&mut out);
                asset.backing.encode(&mut out);
                asset.issued.encode(&mut out);
                asset.maximum.encode(&mut out);
            }
            StateKey::Position(holder, asset) => {
                let position = self.positions.get(&(*holder, *asset))?;
                position.settled.encode(&mut out);
                out.extend_from_slice(&position.unsettled.to_be_bytes());
                position.issued.encode(&mut out);
            }
            StateKey::Item(serial) => {
                let item = self.items.get(serial)?;
                item.refiner.encode(&mut out);
                item.mass.encode(&mut out);
                item.fineness.encode(&mut out);
                item.location.encode(&mut out);
                item.retired.encode(&mut out);
            }
            StateKey::Mapping => {
                self.mapping.sequence.encode(&mut out);
                self.mapping.hash.encode(&mut out);
            }
        }
        Some(out)
    }

    /// Every entry of the authenticated state with its value, for building the tree from scratch
    /// (genesis, and tests that check the incremental root).
    pub fn all_state_entries(&self) -> Vec<(StateKey, Option<Vec<u8>>)> {
        let mut keys: Vec<StateKey> = self
            .accounts
            .keys()
            .map(|a| StateKey::Account(*a))
            .collect();
        keys.extend(self.balances.keys().map(|(a, s)| StateKey::Balance(*a, *s)));
        keys.extend(self.assets.keys().map(|s| StateKey::Asset(*s)));
        keys.extend(
            self.positions
                .keys()
                .map(|(a, s)| StateKey::Position(*a, *s)),
        );
        keys.extend(self.items.keys().map(|s| StateKey::Item(s.clone())));
        keys.push(StateKey::Mapping);
        keys.into_iter()
            .map(|key| {
                let value = self.state_value(&key);
                (key, value)
            })
            .collect()
    }

    pub(crate) fn touch(&mut self, key: StateKey) {
        self.dirty.insert(key);
    }

    /// The entries changed since the last call, with their new values (`None`: deleted).
    pub fn take_state_changes(&mut self) -> Vec<(StateKey, Option<Vec<u8>>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|key| {
                let value = self.state_value(&key);
                (key, value)
            })
            .collect()
    }
}

/// Why the state tree failed (a storage fault, never a user error).
#[derive(Debug, thiserror::Error)]
#[error("state tree: {0}")]
pub struct StateTreeError(String);

impl StateTreeError {
    pub(crate) fn from_message(message: String) -> Self {
        StateTreeError(message)
    }
}

/// Computes the new root and the nodes to store after applying `changes` at `version`.
pub fn update_tree<R: TreeReader>(
    reader: &R,
    version: Version,
    changes: &[(StateKey, Option<Vec<u8>>)],
) -> Result<(Hash32, TreeUpdateBatch), StateTreeError> {
    let tree = JellyfishMerkleTree::<R, Sha256>::new(reader);
    let set = changes.iter().map(|(k, v)| (k.key_hash(), v.clone()));
    let (root, batch) = tree
        .put_value_set(set, version)
        .map_err(|e| StateTreeError(e.to_string()))?;
    Ok((Hash32(root.0), batch))
}

/// The tree's nodes and values held in memory (tests, benchmarks, and a node's overlay before
/// its batch reaches the store).
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    nodes: BTreeMap<NodeKey, Node>,
    values: BTreeMap<KeyHash, BTreeMap<Version, Option<OwnedValue>>>,
    /// Per block height that changed the state: the tree version written and the root. Tree
    /// versions are contiguous (JMT builds version v on v − 1); a block that changes nothing
    /// writes no version, and its root is the previous block's.
    roots: BTreeMap<u64, (Version, Hash32)>,
}

impl MemoryTree {
    /// Applies the changes of the block at `height` (heights must not decrease) and returns the
    /// new root.
    pub fn commit(
        &mut self,
        height: u64,
        changes: &[(StateKey, Option<Vec<u8>>)],
    ) -> Result<Hash32, StateTreeError> {
        let last = self.roots.last_key_value().map(|(h, (v, r))| (*h, *v, *r));
        if let Some((last_height, _, root)) = last {
            if height < last_height {
                return Err(StateTreeError(format!(
                    "height {height} is below the last committed {last_height}"
                )));
            }
            if changes.is_empty() {
                return Ok(root);
            }
        }
        let version = last.map_or(0, |(_, v, _)| v.saturating_add(1));
        let (root, batch) = update_tree(&*self, version, changes)?;
        for (key, node) in batch.node_batch.nodes() {
            self.nodes.insert(key.clone(), node.clone());
        }
        for ((version, key_hash), value) in batch.node_batch.values() {
            self.values
                .entry(*key_hash)
                .or_default()
                .insert(*version, value.clone());
        }
        self.roots.insert(height, (version, root));
        Ok(root)
    }

    /// The tree version and root of the state as of block `height`.
    fn written_at(&self, height: u64) -> Result<(Version, Hash32), StateTreeError> {
        self.roots
            .range(..=height)
            .next_back()
            .map(|(_, entry)| *entry)
            .ok_or_else(|| StateTreeError(format!("no state at or before height {height}")))
    }

    /// The root of the state as of block `height`.
    pub fn root_at(&self, height: u64) -> Result<Hash32, StateTreeError> {
        self.written_at(height).map(|(_, root)| root)
    }

    /// The value under `key` as of block `height`, with its proof against that root.
    pub fn prove(
        &self,
        key: &StateKey,
        height: u64,
    ) -> Result<(Option<Vec<u8>>, jmt::proof::SparseMerkleProof<Sha256>), StateTreeError> {
        let (written, _) = self.written_at(height)?;
        JellyfishMerkleTree::<Self, Sha256>::new(self)
            .get_with_proof(key.key_hash(), written)
            .map_err(|e| StateTreeError(e.to_string()))
    }
}

impl TreeReader for MemoryTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .values
            .get(&key_hash)
            .and_then(|history| history.range(..=max_version).next_back())
            .and_then(|(_, value)| value.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for (key, node) in &self.nodes {
            if let Node::Leaf(leaf) = node
                && best
                    .as_ref()
                    .is_none_or(|(_, b)| leaf.key_hash() > b.key_hash())
            {
                best = Some((key.clone(), leaf.clone()));
            }
        }
        Ok(best)
    }
}
