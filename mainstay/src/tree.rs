//! The commitment tree a Mainstay service builds over its slots, by the reference service's rules:
//! one leaf per slot (an empty slot is the zero hash), leaves padded with absent nodes to the next
//! power of two (at least two), a node with an absent right child hashed with itself, and an
//! absent left child making an absent parent. Nodes are SHA256d over internal byte order.

use crate::slot::{PathStep, SlotProof, display, sha256d};

/// A built commitment tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentTree {
    /// Level 0 is the leaves; the last level holds the root.
    levels: Vec<Vec<Option<[u8; 32]>>>,
}

/// Why a tree cannot be built or a proof made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// No slots.
    #[error("a commitment tree needs at least one slot")]
    Empty,
    /// A proof was asked for a slot outside the tree.
    #[error("slot {position} is not in a tree of {slots} slots")]
    NoSuchSlot {
        /// The slot asked for.
        position: usize,
        /// Slots in the tree.
        slots: usize,
    },
}

impl CommitmentTree {
    /// Builds the tree over `leaves` (internal byte order), slot `i` at index `i`.
    pub fn build(leaves: &[[u8; 32]]) -> Result<Self, TreeError> {
        if leaves.is_empty() {
            return Err(TreeError::Empty);
        }
        let width = leaves.len().next_power_of_two().max(2);
        let mut level: Vec<Option<[u8; 32]>> = leaves.iter().copied().map(Some).collect();
        level.resize(width, None);
        let mut levels = vec![level];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [Some(left), Some(right)] => Some(sha256d(left, right)),
                    [Some(left), None] | [Some(left)] => Some(sha256d(left, left)),
                    _ => None,
                })
                .collect();
            levels.push(above);
        }
        Ok(CommitmentTree { levels })
    }

    /// Number of slots the tree was built over (including trailing padding slots).
    pub fn width(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// The root, internal byte order.
    pub fn root(&self) -> [u8; 32] {
        self.levels
            .last()
            .and_then(|top| top.first().copied().flatten())
            .unwrap_or([0u8; 32])
    }

    /// The slot proof of `position`, for the attestation `txid` (display hex).
    pub fn proof(&self, position: usize, txid: &str) -> Result<SlotProof, TreeError> {
        let leaf = self
            .levels
            .first()
            .and_then(|leaves| leaves.get(position).copied().flatten())
            .ok_or(TreeError::NoSuchSlot {
                position,
                slots: self.width(),
            })?;
        let mut ops = Vec::new();
        let mut index = position;
        for level in self.levels.iter().take(self.levels.len().saturating_sub(1)) {
            let node = level.get(index).copied().flatten().unwrap_or([0u8; 32]);
            let step = if index.is_multiple_of(2) {
                let sibling = level
                    .get(index.saturating_add(1))
                    .copied()
                    .flatten()
                    .unwrap_or(node);
                PathStep {
                    append: true,
                    commitment: display(&sibling),
                }
            } else {
                let sibling = level
                    .get(index.saturating_sub(1))
                    .copied()
                    .flatten()
                    .unwrap_or([0u8; 32]);
                PathStep {
                    append: false,
                    commitment: display(&sibling),
                }
            };
            ops.push(step);
            index /= 2;
        }
        Ok(SlotProof {
            commitment: display(&leaf),
            merkle_root: display(&self.root()),
            ops,
            txid: txid.to_string(),
            height: None,
            date: None,
        })
    }
}
