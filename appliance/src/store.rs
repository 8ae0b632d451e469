//! fjall storage: blocks, receipts, the audit trail, ledger snapshots and the state tree.
//!
//! Each block is written as one atomic fjall batch and fsynced (`PersistMode::SyncAll`) before
//! `commit_block` returns, so after a crash the store holds whole blocks only. Every record starts
//! with a format byte ([`STORE_FORMAT`]); an unknown one is refused, never guessed at.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, Version};
use lightclient::certificate::CommitCertificate;
use lightclient::encoding::{Decode, Encode, Reader};
use lightclient::hash::Hash32;
use lightclient::header::{BlockHeader, Receipt};
use lightclient::tx::SignedTransaction;
use lightclient::validator::ValidatorSet;

use crate::ledger::{AuditEntry, LedgerState};

/// Format byte of every record this code writes. Format 2: the state root covers the whole
/// consensus state (rules, requests, the replay window, the controller policy and validator
/// set), so a format-1 store's roots cannot be re-derived and it is refused.
pub const STORE_FORMAT: u8 = 2;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed (I/O, or a poisoned database after a failed fsync).
    #[error("storage engine: {0}")]
    Engine(#[from] fjall::Error),
    /// A record that cannot be decoded.
    #[error("corrupt {what} record: {reason}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A record of a format this code does not know.
    #[error("{what} record has format {found}; this build reads format {STORE_FORMAT}")]
    UnknownFormat {
        /// Which record.
        what: &'static str,
        /// Its format byte.
        found: u8,
    },
    /// The store belongs to another chain.
    #[error("the store holds chain {stored}, the genesis given is {given}")]
    GenesisMismatch {
        /// Genesis hash in the store.
        stored: Hash32,
        /// Genesis hash given.
        given: Hash32,
    },
}

/// A committed block as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// Its header.
    pub header: BlockHeader,
    /// Its transactions, in order.
    pub transactions: Vec<SignedTransaction>,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// The commit certificate, once consensus supplies one.
    pub certificate: Option<CommitCertificate>,
}

impl StoredBlock {
    fn to_record(&self) -> Vec<u8> {
        let mut out = vec![STORE_FORMAT];
        self.header.encode(&mut out);
        self.transactions.encode(&mut out);
        self.receipts.encode(&mut out);
        self.certificate.encode(&mut out);
        out
    }

    fn from_record(bytes: &[u8]) -> Result<Self, StoreError> {
        let body = format_body("block", bytes)?;
        let corrupt = |e: lightclient::DecodeError| StoreError::Corrupt {
            what: "block",
            reason: e.to_string(),
        };
        let mut reader = Reader::new(body);
        let block = StoredBlock {
            header: Decode::decode(&mut reader).map_err(corrupt)?,
            transactions: Decode::decode(&mut reader).map_err(corrupt)?,
            receipts: Decode::decode(&mut reader).map_err(corrupt)?,
            certificate: Decode::decode(&mut reader).map_err(corrupt)?,
        };
        reader.finish().map_err(corrupt)?;
        Ok(block)
    }
}

fn format_body<'a>(what: &'static str, bytes: &'a [u8]) -> Result<&'a [u8], StoreError> {
    match bytes.split_first() {
        Some((&STORE_FORMAT, body)) => Ok(body),
        Some((&found, _)) => Err(StoreError::UnknownFormat { what, found }),
        None => Err(StoreError::Corrupt {
            what,
            reason: "empty record".into(),
        }),
    }
}

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

/// What one block writes, besides the block itself.
#[derive(Debug, Default)]
pub struct BlockWrites<'a> {
    /// Audit entries of the block.
    pub audit: Vec<AuditEntry>,
    /// State-tree nodes and values, and the (tree version, root) they produce.
    pub tree: Option<(&'a TreeUpdateBatch, Version, Hash32)>,
    /// A ledger snapshot to keep at this height.
    pub snapshot: Option<&'a LedgerState>,
    /// The mapping this block put in force, if it changed it.
    pub mapping: Option<MappingVersion>,
    /// A validator set this block approved (ADR 0016), kept by its hash for light blocks.
    pub validator_set: Option<&'a ValidatorSet>,
}

/// One version of the mapping object, as published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MappingVersion {
    /// Its sequence.
    pub sequence: u64,
    /// The height of the block that put it in force (0: genesis).
    pub height: u64,
    /// SHA-256 of the bytes: what headers commit to.
    pub hash: Hash32,
    /// The IPFS `CIDv0` of the bytes (computed here; the daemon's answer must match it).
    pub cid: String,
    /// The exact published bytes.
    #[serde(with = "serde_bytes_as_hex")]
    pub bytes: Vec<u8>,
}

impl MappingVersion {
    /// The version for `bytes`.
    pub fn new(sequence: u64, height: u64, bytes: Vec<u8>) -> Self {
        MappingVersion {
            sequence,
            height,
            hash: lightclient::mapping::published_hash(&bytes),
            cid: lightclient::cid::cid_v0(&bytes),
            bytes,
        }
    }
}

/// CBOR stores the bytes as a byte string either way; hex keeps the JSON form readable.
mod serde_bytes_as_hex {
    pub(super) fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

/// Where a mapping version stands on IPFS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// Not yet added and pinned.
    Pending,
    /// Added and pinned on the configured daemon at this time (ms since the Unix epoch).
    Pinned(u64),
}

/// The node's store.
#[derive(Clone)]
pub struct Store {
    db: Database,
    meta: Keyspace,
    blocks: Keyspace,
    audit: Keyspace,
    snapshots: Keyspace,
    roots: Keyspace,
    nodes: Keyspace,
    values: Keyspace,
    txindex: Keyspace,
    attestations: Keyspace,
    mappings: Keyspace,
    mapping_index: Keyspace,
    mapping_pins: Keyspace,
    validator_sets: Keyspace,
    draft_signatures: Keyspace,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

const GENESIS_KEY: &[u8] = b"genesis_hash";

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::builder(path).open()?;
        let keyspace = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        Ok(Store {
            meta: keyspace("meta")?,
            blocks: keyspace("blocks")?,
            audit: keyspace("audit")?,
            snapshots: keyspace("snapshots")?,
            roots: keyspace("roots")?,
            nodes: keyspace("jmt_nodes")?,
            values: keyspace("jmt_values")?,
            txindex: keyspace("txindex")?,
            attestations: keyspace("attestations")?,
            mappings: keyspace("mappings")?,
            mapping_index: keyspace("mapping_index")?,
            mapping_pins: keyspace("mapping_pins")?,
            validator_sets: keyspace("validator_sets")?,
            draft_signatures: keyspace("draft_signatures")?,
            db,
        })
    }

    /// The genesis hash the store was created for, if any.
    pub fn genesis_hash(&self) -> Result<Option<Hash32>, StoreError> {
        match self.meta.get(GENESIS_KEY)? {
            None => Ok(None),
            Some(bytes) => {
                let body = format_body("genesis hash", &bytes)?;
                let hash: [u8; 32] = body.try_into().map_err(|_| StoreError::Corrupt {
                    what: "genesis hash",
                    reason: format!("{} bytes", body.len()),
                })?;
                Ok(Some(Hash32(hash)))
            }
        }
    }

    /// Records the genesis state (height 0): its hash, the tree of its state and a snapshot, in
    /// one fsynced batch.
    pub fn init_genesis(
        &self,
        genesis_hash: &Hash32,
        tree: (&TreeUpdateBatch, Version, Hash32),
        state: &LedgerState,
    ) -> Result<(), StoreError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mapping = state.mapping();
        self.stage_mapping(
            &mut batch,
            &MappingVersion::new(mapping.sequence, 0, mapping.bytes.clone()),
        )?;
        let mut record = vec![STORE_FORMAT];
        record.extend_from_slice(genesis_hash.as_bytes());
        batch.insert(&self.meta, GENESIS_KEY, record);
        self.stage_tree(&mut batch, 0, tree)?;
        batch.insert(&self.snapshots, height_key(0), snapshot_record(state)?);
        self.stage_validator_set(&mut batch, state.validators());
        batch.commit()?;
        Ok(())
    }

    fn stage_validator_set(&self, batch: &mut fjall::OwnedWriteBatch, set: &ValidatorSet) {
        let mut record = vec![STORE_FORMAT];
        set.encode(&mut record);
        batch.insert(&self.validator_sets, set.hash().0, record);
    }

    /// The controller signatures collected for the draft mapping with signing digest `digest`.
    pub fn draft_signatures(
        &self,
        digest: &Hash32,
    ) -> Result<Vec<lightclient::mapping::MappingSignature>, StoreError> {
        let Some(value) = self.draft_signatures.get(digest.0)? else {
            return Ok(Vec::new());
        };
        let body = format_body("draft signatures", &value)?;
        serde_json::from_slice(body).map_err(|e| StoreError::Corrupt {
            what: "draft signatures",
            reason: e.to_string(),
        })
    }

    /// Records the signatures collected for the draft with `digest` (fsynced), dropping those
    /// of older drafts: once the draft changes they can never count again.
    pub fn put_draft_signatures(
        &self,
        digest: &Hash32,
        signatures: &[lightclient::mapping::MappingSignature],
    ) -> Result<(), StoreError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for entry in self.draft_signatures.iter() {
            let key = entry.key()?;
            if key.as_ref() != digest.0.as_slice() {
                batch.remove(&self.draft_signatures, key);
            }
        }
        let mut record = vec![STORE_FORMAT];
        record.extend(
            serde_json::to_vec(signatures).map_err(|e| StoreError::Corrupt {
                what: "draft signatures",
                reason: e.to_string(),
            })?,
        );
        batch.insert(&self.draft_signatures, digest.0, record);
        batch.commit()?;
        Ok(())
    }

    /// The validator set with `hash`, if one was ever approved (or is the genesis set).
    pub fn validator_set(&self, hash: &Hash32) -> Result<Option<ValidatorSet>, StoreError> {
        let Some(value) = self.validator_sets.get(hash.0)? else {
            return Ok(None);
        };
        let body = format_body("validator set", &value)?;
        ValidatorSet::from_bytes(body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: "validator set",
                reason: e.to_string(),
            })
    }

    /// Writes one block and everything it changed as one atomic, fsynced batch.
    pub fn commit_block(
        &self,
        block: &StoredBlock,
        writes: &BlockWrites<'_>,
    ) -> Result<(), StoreError> {
        let height = block.header.height;
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.blocks, height_key(height), block.to_record());
        for (index, tx) in block.transactions.iter().enumerate() {
            // A txid keeps its first inclusion: a later copy is only ever refused as a replay.
            if self.txindex.get(tx.txid().0)?.is_some() {
                continue;
            }
            let mut record = vec![STORE_FORMAT];
            record.extend_from_slice(&height_key(height));
            record.extend_from_slice(&u32::try_from(index).unwrap_or(u32::MAX).to_be_bytes());
            batch.insert(&self.txindex, tx.txid().0, record);
        }
        for (i, entry) in writes.audit.iter().enumerate() {
            let mut key = height_key(height).to_vec();
            key.extend_from_slice(&u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes());
            let mut value = vec![STORE_FORMAT];
            ciborium::into_writer(entry, &mut value).map_err(|e| StoreError::Corrupt {
                what: "audit",
                reason: e.to_string(),
            })?;
            batch.insert(&self.audit, key, value);
        }
        if let Some(tree) = writes.tree {
            self.stage_tree(&mut batch, height, tree)?;
        }
        if let Some(state) = writes.snapshot {
            batch.insert(&self.snapshots, height_key(height), snapshot_record(state)?);
        }
        if let Some(mapping) = &writes.mapping {
            self.stage_mapping(&mut batch, mapping)?;
        }
        if let Some(set) = writes.validator_set {
            self.stage_validator_set(&mut batch, set);
        }
        batch.commit()?;
        Ok(())
    }

    fn stage_mapping(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        version: &MappingVersion,
    ) -> Result<(), StoreError> {
        let mut record = vec![STORE_FORMAT];
        ciborium::into_writer(version, &mut record).map_err(|e| StoreError::Corrupt {
            what: "mapping version",
            reason: e.to_string(),
        })?;
        let sequence = version.sequence.to_be_bytes();
        batch.insert(&self.mappings, sequence, record);
        let mut by_hash = b"h".to_vec();
        by_hash.extend_from_slice(version.hash.as_bytes());
        batch.insert(&self.mapping_index, by_hash, sequence);
        let mut by_cid = b"c".to_vec();
        by_cid.extend_from_slice(version.cid.as_bytes());
        batch.insert(&self.mapping_index, by_cid, sequence);
        Ok(())
    }

    /// The mapping version with this sequence.
    pub fn mapping_version(&self, sequence: u64) -> Result<Option<MappingVersion>, StoreError> {
        let Some(value) = self.mappings.get(sequence.to_be_bytes())? else {
            return Ok(None);
        };
        let body = format_body("mapping version", &value)?;
        ciborium::from_reader(body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: "mapping version",
                reason: e.to_string(),
            })
    }

    fn mapping_by_index(&self, key: &[u8]) -> Result<Option<MappingVersion>, StoreError> {
        let Some(value) = self.mapping_index.get(key)? else {
            return Ok(None);
        };
        let sequence: [u8; 8] = value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            what: "mapping index",
            reason: "not 8 bytes".into(),
        })?;
        self.mapping_version(u64::from_be_bytes(sequence))
    }

    /// The mapping version whose bytes hash to `hash`.
    pub fn mapping_by_hash(&self, hash: &Hash32) -> Result<Option<MappingVersion>, StoreError> {
        let mut key = b"h".to_vec();
        key.extend_from_slice(hash.as_bytes());
        self.mapping_by_index(&key)
    }

    /// The mapping version with this CID.
    pub fn mapping_by_cid(&self, cid: &str) -> Result<Option<MappingVersion>, StoreError> {
        let mut key = b"c".to_vec();
        key.extend_from_slice(cid.as_bytes());
        self.mapping_by_index(&key)
    }

    /// Every mapping version's sequence, oldest first.
    pub fn mapping_sequences(&self) -> Result<Vec<u64>, StoreError> {
        let mut sequences = Vec::new();
        for guard in self.mappings.iter() {
            let key = guard.key()?;
            let bytes: [u8; 8] = key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                what: "mapping key",
                reason: "not 8 bytes".into(),
            })?;
            sequences.push(u64::from_be_bytes(bytes));
        }
        Ok(sequences)
    }

    /// Where the mapping version `sequence` stands on IPFS.
    pub fn publication(&self, sequence: u64) -> Result<Publication, StoreError> {
        let Some(value) = self.mapping_pins.get(sequence.to_be_bytes())? else {
            return Ok(Publication::Pending);
        };
        let body = format_body("mapping pin", &value)?;
        let at: [u8; 8] = body.try_into().map_err(|_| StoreError::Corrupt {
            what: "mapping pin",
            reason: "not 8 bytes".into(),
        })?;
        Ok(Publication::Pinned(u64::from_be_bytes(at)))
    }

    /// Records that mapping version `sequence` is added and pinned on IPFS, fsynced.
    pub fn put_publication(&self, sequence: u64, at_ms: u64) -> Result<(), StoreError> {
        let mut record = vec![STORE_FORMAT];
        record.extend_from_slice(&at_ms.to_be_bytes());
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.mapping_pins, sequence.to_be_bytes(), record);
        batch.commit()?;
        Ok(())
    }

    fn stage_tree(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        height: u64,
        (update, version, root): (&TreeUpdateBatch, Version, Hash32),
    ) -> Result<(), StoreError> {
        for (key, node) in update.node_batch.nodes() {
            let key = borsh::to_vec(key).map_err(|e| StoreError::Corrupt {
                what: "tree node key",
                reason: e.to_string(),
            })?;
            let mut value = vec![STORE_FORMAT];
            value.extend(borsh::to_vec(node).map_err(|e| StoreError::Corrupt {
                what: "tree node",
                reason: e.to_string(),
            })?);
            batch.insert(&self.nodes, key, value);
        }
        for ((value_version, key_hash), value) in update.node_batch.values() {
            let mut key = key_hash.0.to_vec();
            key.extend_from_slice(&value_version.to_be_bytes());
            let mut record = vec![STORE_FORMAT];
            value.encode(&mut record);
            batch.insert(&self.values, key, record);
        }
        let mut record = vec![STORE_FORMAT];
        version.encode(&mut record);
        root.encode(&mut record);
        batch.insert(&self.roots, height_key(height), record);
        Ok(())
    }

    /// The highest committed block height (0: only genesis).
    pub fn tip_height(&self) -> Result<u64, StoreError> {
        match self.blocks.last_key_value() {
            None => Ok(0),
            Some(guard) => {
                let key = guard.key()?;
                let bytes: [u8; 8] = key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "block key",
                    reason: "not 8 bytes".into(),
                })?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        self.blocks
            .get(height_key(height))?
            .map(|bytes| StoredBlock::from_record(&bytes))
            .transpose()
    }

    /// The (tree version, root) in force at `height`: that of the last block at or below it that
    /// changed the state.
    pub fn root_at(&self, height: u64) -> Result<Option<(Version, Hash32)>, StoreError> {
        let Some(guard) = self.roots.range(..=height_key(height)).next_back() else {
            return Ok(None);
        };
        let value = guard.value()?;
        let body = format_body("root", &value)?;
        let corrupt = |e: lightclient::DecodeError| StoreError::Corrupt {
            what: "root",
            reason: e.to_string(),
        };
        let mut reader = Reader::new(body);
        let version = u64::decode(&mut reader).map_err(corrupt)?;
        let root = Hash32::decode(&mut reader).map_err(corrupt)?;
        Ok(Some((version, root)))
    }

    /// The latest snapshot at or below `height`.
    pub fn snapshot_at_or_below(
        &self,
        height: u64,
    ) -> Result<Option<(u64, LedgerState)>, StoreError> {
        let Some(guard) = self.snapshots.range(..=height_key(height)).next_back() else {
            return Ok(None);
        };
        let (key, value) = guard.into_inner()?;
        let at: [u8; 8] = key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            what: "snapshot key",
            reason: "not 8 bytes".into(),
        })?;
        let body = format_body("snapshot", &value)?;
        let state: LedgerState = ciborium::from_reader(body).map_err(|e| StoreError::Corrupt {
            what: "snapshot",
            reason: e.to_string(),
        })?;
        Ok(Some((u64::from_be_bytes(at), state)))
    }

    /// Records the Bitcoin attestation evidence (JSON) of the block at `height`, fsynced.
    pub fn put_attestation(&self, height: u64, evidence_json: &[u8]) -> Result<(), StoreError> {
        let mut record = Vec::with_capacity(evidence_json.len().saturating_add(1));
        record.push(STORE_FORMAT);
        record.extend_from_slice(evidence_json);
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.attestations, height_key(height), record);
        batch.commit()?;
        Ok(())
    }

    /// The first attested block at or above `height`: (its height, evidence JSON).
    pub fn attestation_at_or_above(
        &self,
        height: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(guard) = self.attestations.range(height_key(height)..).next() else {
            return Ok(None);
        };
        Self::attestation_entry(guard)
    }

    /// The latest attested block: (its height, evidence JSON).
    pub fn latest_attestation(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(guard) = self.attestations.last_key_value() else {
            return Ok(None);
        };
        Self::attestation_entry(guard)
    }

    fn attestation_entry(guard: fjall::Guard) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let (key, value) = guard.into_inner()?;
        let height: [u8; 8] = key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            what: "attestation key",
            reason: "not 8 bytes".into(),
        })?;
        let body = format_body("attestation", &value)?;
        Ok(Some((u64::from_be_bytes(height), body.to_vec())))
    }

    /// Where a transaction was included: (height, index in the block).
    pub fn find_transaction(&self, txid: &Hash32) -> Result<Option<(u64, u32)>, StoreError> {
        let Some(bytes) = self.txindex.get(txid.0)? else {
            return Ok(None);
        };
        let body = format_body("tx index", &bytes)?;
        let corrupt = |e: lightclient::DecodeError| StoreError::Corrupt {
            what: "tx index",
            reason: e.to_string(),
        };
        let mut reader = Reader::new(body);
        let height = u64::decode(&mut reader).map_err(corrupt)?;
        let index = u32::decode(&mut reader).map_err(corrupt)?;
        reader.finish().map_err(corrupt)?;
        Ok(Some((height, index)))
    }

    /// Audit entries of the blocks from `from` to `to` (inclusive), oldest first.
    pub fn audit_between(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        if from > to {
            return Ok(entries);
        }
        for guard in self
            .audit
            .range(height_key(from)..height_key(to.saturating_add(1)))
        {
            let value = guard.value()?;
            let body = format_body("audit", &value)?;
            entries.push(
                ciborium::from_reader(body).map_err(|e| StoreError::Corrupt {
                    what: "audit",
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(entries)
    }

    /// Audit entries of the block at `height`.
    pub fn audit_of(&self, height: u64) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_between(height, height)
    }
}

fn snapshot_record(state: &LedgerState) -> Result<Vec<u8>, StoreError> {
    let mut record = vec![STORE_FORMAT];
    ciborium::into_writer(state, &mut record).map_err(|e| StoreError::Corrupt {
        what: "snapshot",
        reason: e.to_string(),
    })?;
    Ok(record)
}

impl TreeReader for Store {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let key = borsh::to_vec(node_key)?;
        match self.nodes.get(key)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(borsh::from_slice(format_body("tree node", &bytes)?)?)),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let mut low = key_hash.0.to_vec();
        low.extend_from_slice(&0u64.to_be_bytes());
        let mut high = key_hash.0.to_vec();
        high.extend_from_slice(&max_version.to_be_bytes());
        let Some(guard) = self.values.range(low..=high).next_back() else {
            return Ok(None);
        };
        let value = guard.value()?;
        let body = format_body("tree value", &value)?;
        Ok(Option::<Vec<u8>>::from_bytes(body)?)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only state-sync restore asks for this; this store does not restore from chunks.
        Err(anyhow::anyhow!(
            "restoring the state tree from chunks is not supported"
        ))
    }
}
