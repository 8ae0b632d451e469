//! Anti-equivocation watermark: a validator must never sign two different things for the same
//! consensus position, nor anything at an earlier one, even across restarts.
//!
//! The record of the last signed (height, round, step) and digest is written (temporary file,
//! fsync, rename, fsync of the directory) *before* the HSM is asked to sign, so a crash between the
//! two can only make the signer more conservative, never let it sign twice.
//!
//! The record also keeps every position signed at the last height, with its digest. Malachite
//! replays its write-ahead log after a restart and re-derives the votes of earlier rounds; a
//! vote it signed while replaying is not in that log, so the next replay asks for it again. A
//! signer that knew only its last position refused that identical vote as a regression, the
//! engine halted for good ("WAL replay entry cannot be applied"), and the validator never came
//! back. The same digest at a recorded position is signed again; anything else earlier is still
//! refused.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lightclient::Hash32;

use crate::{PublicKey, Signature, Signer, SignerError};

/// Consensus steps, in the order they happen within a round.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// Signing a proposal.
    Propose,
    /// Signing a prevote.
    Prevote,
    /// Signing a precommit.
    Precommit,
}

/// A position in consensus, ordered by height, then round, then step.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Position {
    /// Block height.
    pub height: u64,
    /// Round within the height.
    pub round: u32,
    /// Step within the round.
    pub step: Step,
}

/// The record format version written by this code. Version 1 (no `earlier`) is still read.
pub const WATERMARK_FORMAT: u16 = 2;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    format_version: u16,
    public_key: PublicKey,
    position: Position,
    digest: Hash32,
    /// The positions signed before `position` at the same height, in order.
    #[serde(default)]
    earlier: Vec<Signed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Signed {
    position: Position,
    digest: Hash32,
}

impl Record {
    /// The digest signed at `position`, if this record knows it.
    fn signed_at(&self, position: Position) -> Option<Hash32> {
        if position == self.position {
            return Some(self.digest);
        }
        self.earlier
            .iter()
            .find(|s| s.position == position)
            .map(|s| s.digest)
    }
}

/// Why the watermark refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatermarkError {
    /// A different digest at the position already signed.
    #[error("refusing to sign a second, different digest at {position:?} (signed {signed})")]
    Equivocation {
        /// The position.
        position: Position,
        /// The digest signed there before.
        signed: Hash32,
    },
    /// A position before the last one signed.
    #[error("refusing to sign at {requested:?}, before the last signed position {last:?}")]
    Regression {
        /// The position asked for.
        requested: Position,
        /// The last position signed.
        last: Position,
    },
    /// The record belongs to another key.
    #[error("watermark file {path} belongs to key {found}, not {expected}")]
    WrongKey {
        /// The file.
        path: PathBuf,
        /// Its key.
        found: PublicKey,
        /// The signer's key.
        expected: PublicKey,
    },
    /// The record cannot be read.
    #[error(
        "watermark file {path} is unreadable ({reason}); refusing to sign until an operator restores it"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Writing the record failed; nothing was signed.
    #[error("cannot persist watermark {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// The persisted record for one key.
#[derive(Debug)]
pub struct Watermark {
    path: PathBuf,
    public_key: PublicKey,
    last: Option<Record>,
}

impl Watermark {
    /// Opens (or starts) the watermark file at `path` for `public_key`.
    pub fn open(path: impl Into<PathBuf>, public_key: PublicKey) -> Result<Self, WatermarkError> {
        let path = path.into();
        let last = match fs::read(&path) {
            Ok(bytes) => {
                let record: Record =
                    serde_json::from_slice(&bytes).map_err(|e| WatermarkError::Corrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if !(1..=WATERMARK_FORMAT).contains(&record.format_version) {
                    return Err(WatermarkError::Corrupt {
                        path,
                        reason: format!("unknown format version {}", record.format_version),
                    });
                }
                if record.public_key != public_key {
                    return Err(WatermarkError::WrongKey {
                        path,
                        found: record.public_key,
                        expected: public_key,
                    });
                }
                Some(record)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(WatermarkError::Io { path, source }),
        };
        Ok(Watermark {
            path,
            public_key,
            last,
        })
    }

    /// The last position signed, if any.
    pub fn last(&self) -> Option<Position> {
        self.last.as_ref().map(|r| r.position)
    }

    /// Checks that `digest` may be signed at `position` and persists the new mark. Re-signing the
    /// same digest at a position already signed at the last height is allowed (a retry after a
    /// crash or HSM error, or the engine replaying its log); a different digest there, or any
    /// position before the last that was never signed, is refused.
    pub fn advance(&mut self, position: Position, digest: Hash32) -> Result<(), WatermarkError> {
        let mut earlier = Vec::new();
        if let Some(last) = &self.last {
            if let Some(signed) = last.signed_at(position) {
                return if digest == signed {
                    Ok(())
                } else {
                    Err(WatermarkError::Equivocation { position, signed })
                };
            }
            if position < last.position {
                return Err(WatermarkError::Regression {
                    requested: position,
                    last: last.position,
                });
            }
            if position.height == last.position.height {
                earlier.clone_from(&last.earlier);
                earlier.push(Signed {
                    position: last.position,
                    digest: last.digest,
                });
            }
        }
        let record = Record {
            format_version: WATERMARK_FORMAT,
            public_key: self.public_key,
            position,
            digest,
            earlier,
        };
        write_durably(&self.path, &record).map_err(|source| WatermarkError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.last = Some(record);
        Ok(())
    }
}

fn write_durably(path: &Path, record: &Record) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// A signer that consults a [`Watermark`] before every consensus signature.
pub struct WatermarkedSigner {
    signer: Arc<dyn Signer>,
    watermark: Arc<Mutex<Watermark>>,
}

impl std::fmt::Debug for WatermarkedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatermarkedSigner")
            .field("label", &self.signer.label())
            .finish_non_exhaustive()
    }
}

impl WatermarkedSigner {
    /// Wraps `signer`, keeping its watermark at `path`.
    pub fn new(signer: Arc<dyn Signer>, path: impl Into<PathBuf>) -> Result<Self, SignerError> {
        let watermark = Watermark::open(path, signer.public_key())?;
        Ok(WatermarkedSigner {
            signer,
            watermark: Arc::new(Mutex::new(watermark)),
        })
    }

    /// The wrapped signer's public key.
    pub fn public_key(&self) -> PublicKey {
        self.signer.public_key()
    }

    /// The last position signed.
    pub fn last(&self) -> Option<Position> {
        self.watermark.lock().ok().and_then(|w| w.last())
    }

    /// Signs `digest` at `position` if the watermark allows it.
    pub async fn sign_at(
        &self,
        position: Position,
        digest: &Hash32,
    ) -> Result<Signature, SignerError> {
        let watermark = Arc::clone(&self.watermark);
        let digest_copy = *digest;
        tokio::task::spawn_blocking(move || {
            let mut guard = watermark.lock().map_err(|_| WatermarkError::Corrupt {
                path: PathBuf::new(),
                reason: "watermark lock poisoned".into(),
            })?;
            guard.advance(position, digest_copy)
        })
        .await
        .map_err(|e| SignerError::Task(e.to_string()))??;
        self.signer.sign_digest(digest.as_bytes()).await
    }
}
