//! Slot proofs: the path from a client's commitment to the Mainstay commitment-tree root.
//!
//! Hashes are SHA256d over *internal* byte order, which is the byte-reversed form of the hex the
//! Mainstay API shows (as with Bitcoin txids). Each step hashes the current node with a sibling:
//! `append: true` means `SHA256d(current ‖ sibling)`, `false` means `SHA256d(sibling ‖ current)`.
//! The walk starts from the commitment and applies every step. A verifier that knows the slot
//! (pymainstay does) takes each side from the slot's bits instead — bit `i` set means the node is
//! a right child — and [`SlotProof::verify_at`] also requires the flags to agree with the bits.

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
    /// The slot does not fit in a tree as deep as the path.
    #[error("slot {position} is outside a tree of depth {depth}")]
    PositionOutsideTree {
        /// The slot.
        position: u64,
        /// The path length.
        depth: usize,
    },
    /// A step's `append` flag puts the sibling on the other side than the slot's bit does.
    #[error(
        "step {step}: the append flag says the sibling is on the {flag} but slot {position} puts it on the {bit}"
    )]
    SideMismatch {
        /// The step (0 = leaf level).
        step: usize,
        /// The slot.
        position: u64,
        /// The side the flag gives.
        flag: &'static str,
        /// The side the slot's bit gives.
        bit: &'static str,
    },
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

/// Parses 64 hex characters in display order (as the API shows them) into internal byte order.
pub fn internal_bytes(field: &str, display_hex: &str) -> Result<[u8; 32], SlotProofError> {
    internal(field, display_hex)
}

/// SHA256d of the concatenation of two internal-order nodes.
pub fn sha256d(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let first = Sha256::new()
        .chain_update(left)
        .chain_update(right)
        .finalize();
    Sha256::digest(first).into()
}

/// The display hex (byte-reversed) of an internal-order hash.
pub fn display(internal: &[u8; 32]) -> String {
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

    /// The attested root in internal byte order.
    pub fn root_internal(&self) -> Result<[u8; 32], SlotProofError> {
        internal("merkle_root", &self.merkle_root)
    }

    /// The commitment in internal byte order.
    pub fn commitment_internal(&self) -> Result<[u8; 32], SlotProofError> {
        internal("commitment", &self.commitment)
    }

    /// Checks that the commitment is under the attested root, taking sides from the flags.
    pub fn verify(&self) -> Result<(), SlotProofError> {
        let computed = self.computed_root()?;
        self.compare(computed)
    }

    /// Checks that the commitment is under the attested root at slot `position`: sides come from
    /// the slot's bits, and every `append` flag must agree with them.
    pub fn verify_at(&self, position: u64) -> Result<(), SlotProofError> {
        if self.ops.is_empty() {
            return Err(SlotProofError::EmptyPath);
        }
        let depth = self.ops.len();
        if u32::try_from(depth).is_ok_and(|d| d < 64 && position >> d != 0) {
            return Err(SlotProofError::PositionOutsideTree { position, depth });
        }
        let side = |right: bool| if right { "right" } else { "left" };
        let mut current = internal("commitment", &self.commitment)?;
        for (i, step) in self.ops.iter().enumerate() {
            let node_is_right_child = u32::try_from(i)
                .ok()
                .and_then(|shift| position.checked_shr(shift))
                .is_some_and(|bits| bits & 1 == 1);
            if step.append == node_is_right_child {
                return Err(SlotProofError::SideMismatch {
                    step: i,
                    position,
                    flag: side(step.append),
                    bit: side(!node_is_right_child),
                });
            }
            let sibling = internal(&format!("ops[{i}].commitment"), &step.commitment)?;
            current = if node_is_right_child {
                sha256d(&sibling, &current)
            } else {
                sha256d(&current, &sibling)
            };
        }
        self.compare(display(&current))
    }

    fn compare(&self, computed: String) -> Result<(), SlotProofError> {
        let expected = display(&internal("merkle_root", &self.merkle_root)?);
        if computed == expected {
            Ok(())
        } else {
            Err(SlotProofError::RootMismatch { computed, expected })
        }
    }
}

/// Why a sequence of proofs does not show the expected commitments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentListError {
    /// The list is empty.
    #[error("the list of expected commitments is empty")]
    EmptyList,
    /// An entry's commitment is neither the current nor the next expected one.
    #[error("entry {entry} commits {found}, but the list expects {expected} or the one after it")]
    NotMatched {
        /// The entry (in sequence order).
        entry: usize,
        /// Its commitment.
        found: String,
        /// The expected commitment at that point.
        expected: String,
    },
    /// The sequence ended before reaching the list's last commitment.
    #[error("the sequence ends at list item {reached}; the list has {len} items")]
    Incomplete {
        /// Index of the last list item matched.
        reached: usize,
        /// List length.
        len: usize,
    },
}

/// Checks that a sequence of slot proofs commits the `expected` commitments in the same order
/// (pymainstay's list check): an entry may repeat the current commitment or move on to the next
/// one; empty-slot entries (all zeros) are skipped; the walk must reach the last item.
pub fn match_commitment_list(
    proofs: &[SlotProof],
    expected: &[String],
) -> Result<(), CommitmentListError> {
    let Some(first) = expected.first() else {
        return Err(CommitmentListError::EmptyList);
    };
    let mut at = 0usize;
    let mut current = first;
    for (entry, proof) in proofs.iter().enumerate() {
        if proof.commitment.bytes().all(|b| b == b'0') {
            continue;
        }
        if proof.commitment.eq_ignore_ascii_case(current) {
            continue;
        }
        match expected.get(at.saturating_add(1)) {
            Some(next) if proof.commitment.eq_ignore_ascii_case(next) => {
                at = at.saturating_add(1);
                current = next;
            }
            _ => {
                return Err(CommitmentListError::NotMatched {
                    entry,
                    found: proof.commitment.clone(),
                    expected: current.clone(),
                });
            }
        }
    }
    if at.saturating_add(1) == expected.len() {
        Ok(())
    } else {
        Err(CommitmentListError::Incomplete {
            reached: at,
            len: expected.len(),
        })
    }
}
