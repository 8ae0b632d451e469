//! Slot proofs: the path from a client's commitment to the Mainstay commitment-tree root.
//!
//! Hashes are SHA256d over *internal* byte order, which is the byte-reversed form of the hex the
//! Mainstay API shows (as with Bitcoin txids). Each step hashes the current node with a sibling:
//! `append: true` means `SHA256d(current ‖ sibling)`, `false` means `SHA256d(sibling ‖ current)`.
//! The walk starts from the commitment and applies every step, as pymainstay does.

use sha2::{Digest, Sha256};

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathStep {
    /// Whether the sibling goes to the right of the current node.
    pub append: bool,
    /// The sibling, display hex (byte-reversed).
    pub commitment: String,
}

/// A slot proof, in the JSON shape of the Mainstay API and of pymainstay's `.msp` files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlotProof {
    /// The client's commitment, display hex.
    pub commitment: String,
    /// The commitment-tree root the attestation committed to, display hex.
    pub merkle_root: String,
    /// The path.
    pub ops: Vec<PathStep>,
    /// The attestation transaction, display hex.
    pub txid: String,
    /// Bitcoin block height of the attestation, when given.
    #[serde(default)]
    pub height: Option<String>,
    /// Date of the attestation, when given.
    #[serde(default)]
    pub date: Option<String>,
}

/// Why a slot proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotProofError {
    /// A field is not 32 bytes of hex.
    #[error("{field} is not 64 hex characters: {value:?}")]
    BadHex {
        /// Which field.
        field: String,
        /// What it held (shortened).
        value: String,
    },
    /// The path is empty.
    #[error("the proof has no path")]
    EmptyPath,
    /// The path leads to another root.
    #[error("the path leads to root {computed}, not to the attested root {expected}")]
    RootMismatch {
        /// Where the path leads (display hex).
        computed: String,
        /// The root in the proof (display hex).
        expected: String,
    },
}

/// Parses display hex into internal byte order.
fn internal(field: &str, display_hex: &str) -> Result<[u8; 32], SlotProofError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(display_hex, &mut bytes).map_err(|_| SlotProofError::BadHex {
        field: field.to_string(),
        value: display_hex.chars().take(80).collect(),
    })?;
    bytes.reverse();
    Ok(bytes)
}

fn sha256d(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let first = Sha256::new()
        .chain_update(left)
        .chain_update(right)
        .finalize();
    Sha256::digest(first).into()
}

fn display(internal: &[u8; 32]) -> String {
    let mut bytes = *internal;
    bytes.reverse();
    hex::encode(bytes)
}

impl SlotProof {
    /// Parses one proof from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The root the path leads to from the commitment (display hex).
    pub fn computed_root(&self) -> Result<String, SlotProofError> {
        if self.ops.is_empty() {
            return Err(SlotProofError::EmptyPath);
        }
        let mut current = internal("commitment", &self.commitment)?;
        for (i, step) in self.ops.iter().enumerate() {
            let sibling = internal(&format!("ops[{i}].commitment"), &step.commitment)?;
            current = if step.append {
                sha256d(&current, &sibling)
            } else {
                sha256d(&sibling, &current)
            };
        }
        Ok(display(&current))
    }

    /// Checks that the commitment is under the attested root.
    pub fn verify(&self) -> Result<(), SlotProofError> {
        let expected = display(&internal("merkle_root", &self.merkle_root)?);
        let computed = self.computed_root()?;
        if computed == expected {
            Ok(())
        } else {
            Err(SlotProofError::RootMismatch { computed, expected })
        }
    }
}
