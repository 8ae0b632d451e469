//! The service's durable state in fjall: slot commitments, attestations, and the staychain start.
//! Every write is fsynced before the caller goes on, so an acknowledged commitment or a sent
//! attestation survives a crash.

use std::collections::BTreeMap;
use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

/// Format version of every record.
const RECORD_VERSION: u8 = 1;
const INITIAL_TXID: &[u8] = b"initial_txid";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed.
    #[error("storage: {0}")]
    Engine(#[from] fjall::Error),
    /// A record cannot be read.
    #[error("corrupt {what} record: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
}

/// One attestation as the service keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredAttestation {
    /// Record format.
    pub version: u8,
    /// The attestation transaction (display hex).
    pub txid: String,
    /// The root it commits (display hex).
    pub merkle_root: String,
    /// The tree's leaves (display hex), so every slot's proof can be rebuilt.
    pub leaves: Vec<String>,
    /// The signed transaction (hex).
    pub transaction: String,
    /// Whether it is in a block.
    pub confirmed: bool,
    /// The block holding it.
    #[serde(default)]
    pub blockhash: Option<String>,
    /// Seconds since the Unix epoch when it was made.
    pub inserted_at: u64,
    /// The fee paid (satoshi).
    pub fee_sat: u64,
}

impl StoredAttestation {
    /// A new unconfirmed record.
    pub fn new(
        txid: String,
        merkle_root: String,
        leaves: Vec<String>,
        transaction: String,
        inserted_at: u64,
        fee_sat: u64,
    ) -> Self {
        StoredAttestation {
            version: RECORD_VERSION,
            txid,
            merkle_root,
            leaves,
            transaction,
            confirmed: false,
            blockhash: None,
            inserted_at,
            fee_sat,
        }
    }
}

/// The store.
pub struct ServiceStore {
    db: Database,
    meta: Keyspace,
    commitments: Keyspace,
    attestations: Keyspace,
}

impl std::fmt::Debug for ServiceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceStore").finish_non_exhaustive()
    }
}

fn corrupt(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

impl ServiceStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = Database::builder(dir).open()?;
        let keyspace = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        Ok(ServiceStore {
            meta: keyspace("meta")?,
            commitments: keyspace("commitments")?,
            attestations: keyspace("attestations")?,
            db,
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    /// The staychain's initial transaction, once known.
    pub fn initial_txid(&self) -> Result<Option<String>, StoreError> {
        self.meta
            .get(INITIAL_TXID)?
            .map(|v| String::from_utf8(v.to_vec()).map_err(|e| corrupt("initial txid", e)))
            .transpose()
    }

    /// Records the staychain's initial transaction.
    pub fn set_initial_txid(&self, txid: &str) -> Result<(), StoreError> {
        self.meta.insert(INITIAL_TXID, txid.as_bytes())?;
        self.sync()
    }

    /// Every slot's current commitment (internal byte order).
    pub fn commitments(&self) -> Result<BTreeMap<u64, [u8; 32]>, StoreError> {
        let mut out = BTreeMap::new();
        for item in self.commitments.iter() {
            let (key, value) = item.into_inner()?;
            let position = <[u8; 8]>::try_from(key.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("commitment key", "not 8 bytes"))?;
            let commitment = <[u8; 32]>::try_from(value.as_ref())
                .map_err(|_| corrupt("commitment", "not 32 bytes"))?;
            out.insert(position, commitment);
        }
        Ok(out)
    }

    /// Sets a slot's commitment.
    pub fn set_commitment(&self, position: u64, commitment: &[u8; 32]) -> Result<(), StoreError> {
        self.commitments
            .insert(position.to_be_bytes(), commitment.as_slice())?;
        self.sync()
    }

    /// Every attestation, oldest first.
    pub fn attestations(&self) -> Result<Vec<StoredAttestation>, StoreError> {
        let mut out = Vec::new();
        for item in self.attestations.iter() {
            let (_, value) = item.into_inner()?;
            let record: StoredAttestation =
                serde_json::from_slice(&value).map_err(|e| corrupt("attestation", e))?;
            if record.version != RECORD_VERSION {
                return Err(corrupt(
                    "attestation",
                    format!("format version {} is not {RECORD_VERSION}", record.version),
                ));
            }
            out.push(record);
        }
        Ok(out)
    }

    /// Writes attestation number `index` (0 = first).
    pub fn put_attestation(
        &self,
        index: u64,
        record: &StoredAttestation,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| corrupt("attestation", e))?;
        self.attestations.insert(index.to_be_bytes(), bytes)?;
        self.sync()
    }
}
