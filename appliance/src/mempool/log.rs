//! The mempool's durable log: every admitted transaction is written here, and fsynced, before
//! the node answers 202; on restart the mempool is rebuilt from it.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use lightclient::encoding::{Decode, Encode};
use lightclient::tx::SignedTransaction;

/// Format byte of every record the log writes.
pub const LOG_FORMAT: u8 = 1;

/// Why the log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MempoolLogError {
    /// The storage engine failed (I/O, a full disk, or a poisoned database after a failed fsync).
    #[error("mempool log: {0}")]
    Engine(#[from] fjall::Error),
    /// A record that cannot be read back.
    #[error("mempool log record {seq} is corrupt: {reason}")]
    Corrupt {
        /// Its position.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

/// One logged transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its position in arrival order.
    pub seq: u64,
    /// Whether it came from a client (not a peer).
    pub local: bool,
    /// The transaction.
    pub tx: SignedTransaction,
}

/// Where admitted transactions are kept across restarts.
pub trait MempoolLog: Send {
    /// Writes `tx` at position `seq` (`local`: it came from a client, not a peer); when this
    /// returns `Ok`, the record survives a crash.
    fn append(
        &mut self,
        seq: u64,
        local: bool,
        tx: &SignedTransaction,
    ) -> Result<(), MempoolLogError>;
    /// Forgets these positions (durability not required: restoring re-checks every record).
    fn remove(&mut self, seqs: &[u64]) -> Result<(), MempoolLogError>;
    /// Every record, in position order.
    fn load(&self) -> Result<Vec<LogRecord>, MempoolLogError>;
}

/// The log in a fjall database of its own (so that its fsyncs never wait on a block commit).
pub struct FjallMempoolLog {
    db: Database,
    records: Keyspace,
}

impl std::fmt::Debug for FjallMempoolLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallMempoolLog").finish_non_exhaustive()
    }
}

impl FjallMempoolLog {
    /// Opens (or creates) the log in `path`.
    pub fn open(path: &Path) -> Result<Self, MempoolLogError> {
        let db = Database::builder(path).open()?;
        let records = db.keyspace("pending", KeyspaceCreateOptions::default)?;
        Ok(FjallMempoolLog { db, records })
    }
}

impl MempoolLog for FjallMempoolLog {
    fn append(
        &mut self,
        seq: u64,
        local: bool,
        tx: &SignedTransaction,
    ) -> Result<(), MempoolLogError> {
        let mut record = vec![LOG_FORMAT, u8::from(local)];
        tx.encode(&mut record);
        self.records.insert(seq.to_be_bytes(), record)?;
        self.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn remove(&mut self, seqs: &[u64]) -> Result<(), MempoolLogError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut batch = self.db.batch();
        for seq in seqs {
            batch.remove(&self.records, seq.to_be_bytes());
        }
        batch.commit()?;
        Ok(())
    }

    fn load(&self) -> Result<Vec<LogRecord>, MempoolLogError> {
        let mut out = Vec::new();
        for item in self.records.iter() {
            let (key, value) = item.into_inner()?;
            let seq = u64::from_be_bytes(key.as_ref().try_into().map_err(|_| {
                MempoolLogError::Corrupt {
                    seq: 0,
                    reason: format!("key of {} bytes", key.len()),
                }
            })?);
            let (local, tx) = match value.split_first() {
                Some((&LOG_FORMAT, body)) => {
                    let (local, tx) = match body.split_first() {
                        Some((0, tx)) => (false, tx),
                        Some((1, tx)) => (true, tx),
                        _ => {
                            return Err(MempoolLogError::Corrupt {
                                seq,
                                reason: "bad origin byte".into(),
                            });
                        }
                    };
                    let tx = SignedTransaction::from_bytes(tx).map_err(|e| {
                        MempoolLogError::Corrupt {
                            seq,
                            reason: e.to_string(),
                        }
                    })?;
                    (local, tx)
                }
                Some((format, _)) => {
                    return Err(MempoolLogError::Corrupt {
                        seq,
                        reason: format!("format {format}, this build reads {LOG_FORMAT}"),
                    });
                }
                None => {
                    return Err(MempoolLogError::Corrupt {
                        seq,
                        reason: "empty record".into(),
                    });
                }
            };
            out.push(LogRecord { seq, local, tx });
        }
        Ok(out)
    }
}
