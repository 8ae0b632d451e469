//! Merkle trees over transactions and receipts, with inclusion proofs (RFC 9162 §2.1).
//!
//! Leaves are hashed as `SHA256(0x00 || leaf)` and interior nodes as `SHA256(0x01 || left ||
//! right)`, so a leaf can never be passed off as a node; an unbalanced tree splits at the largest
//! power of two below its size instead of duplicating the last node (Bitcoin's CVE-2012-2459).

use sha2::{Digest, Sha256};

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::Hash32;

/// The most levels a proof may have (trees of up to 2^64 leaves).
pub const MAX_PROOF_DEPTH: usize = 64;

/// Hash of one leaf.
pub fn leaf_hash(leaf: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    Hash32(h.finalize().into())
}

/// Hash of an interior node.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash32(h.finalize().into())
}

/// The root of the tree whose leaves are `leaves` (the empty tree's root is `SHA256("")`).
pub fn root<L: AsRef<[u8]>>(leaves: &[L]) -> Hash32 {
    let hashes: Vec<Hash32> = leaves.iter().map(|l| leaf_hash(l.as_ref())).collect();
    root_of_hashes(&hashes)
}

fn root_of_hashes(hashes: &[Hash32]) -> Hash32 {
    match hashes {
        [] => Hash32(Sha256::digest([]).into()),
        [one] => *one,
        _ => {
            let (left, right) = hashes.split_at(split_point(hashes.len()));
            node_hash(&root_of_hashes(left), &root_of_hashes(right))
        }
    }
}

/// The largest power of two strictly below `n` (for `n >= 2`).
fn split_point(n: usize) -> usize {
    let mut k = 1usize;
    while k.saturating_mul(2) < n {
        k = k.saturating_mul(2);
    }
    k
}

/// Proof that one leaf sits at `leaf_index` of a tree of `tree_size` leaves.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InclusionProof {
    /// Position of the leaf, from 0.
    pub leaf_index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up to the root.
    pub path: Vec<Hash32>,
}

/// Why an inclusion proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// The index is not below the tree size.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path has more or fewer hashes than the tree shape needs.
    #[error("proof path has the wrong length for this tree")]
    WrongPathLength,
    /// The path leads to a different root.
    #[error("proof leads to root {computed}, not {expected}")]
    RootMismatch {
        /// The root the proof computes.
        computed: Hash32,
        /// The root it was checked against.
        expected: Hash32,
    },
}

impl InclusionProof {
    /// Builds the proof for `index` in the tree over `leaves`.
    pub fn build<L: AsRef<[u8]>>(leaves: &[L], index: usize) -> Result<Self, MerkleError> {
        let size = leaves.len();
        if index >= size {
            return Err(MerkleError::IndexOutOfRange {
                index: index as u64,
                size: size as u64,
            });
        }
        let hashes: Vec<Hash32> = leaves.iter().map(|l| leaf_hash(l.as_ref())).collect();
        let mut path = Vec::new();
        collect_path(&hashes, index, &mut path);
        Ok(InclusionProof {
            leaf_index: index as u64,
            tree_size: size as u64,
            path,
        })
    }

    /// Checks that `leaf` is included under `expected_root` (RFC 9162 §2.1.3.2).
    pub fn verify(&self, leaf: &[u8], expected_root: &Hash32) -> Result<(), MerkleError> {
        let computed = self.root_for(leaf)?;
        if computed == *expected_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch {
                computed,
                expected: *expected_root,
            })
        }
    }

    /// The root that `leaf` and this path lead to.
    pub fn root_for(&self, leaf: &[u8]) -> Result<Hash32, MerkleError> {
        if self.leaf_index >= self.tree_size {
            return Err(MerkleError::IndexOutOfRange {
                index: self.leaf_index,
                size: self.tree_size,
            });
        }
        let mut fn_ = self.leaf_index;
        let mut sn = self.tree_size.saturating_sub(1);
        let mut r = leaf_hash(leaf);
        for p in &self.path {
            if sn == 0 {
                return Err(MerkleError::WrongPathLength);
            }
            if fn_ & 1 == 1 || fn_ == sn {
                r = node_hash(p, &r);
                if fn_ & 1 == 0 {
                    while fn_ & 1 == 0 && fn_ != 0 {
                        fn_ >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, p);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        if sn != 0 {
            return Err(MerkleError::WrongPathLength);
        }
        Ok(r)
    }
}

fn collect_path(hashes: &[Hash32], index: usize, path: &mut Vec<Hash32>) {
    if hashes.len() <= 1 {
        return;
    }
    let k = split_point(hashes.len());
    let (left, right) = hashes.split_at(k);
    if index < k {
        collect_path(left, index, path);
        path.push(root_of_hashes(right));
    } else {
        collect_path(right, index.saturating_sub(k), path);
        path.push(root_of_hashes(left));
    }
}

impl Encode for InclusionProof {
    fn encode(&self, out: &mut Vec<u8>) {
        self.leaf_index.encode(out);
        self.tree_size.encode(out);
        self.path.encode(out);
    }
}

impl Decode for InclusionProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let leaf_index = u64::decode(reader)?;
        let tree_size = u64::decode(reader)?;
        let path = Vec::<Hash32>::decode(reader)?;
        if path.len() > MAX_PROOF_DEPTH {
            return Err(DecodeError::TooLong {
                what: "proof path",
                len: path.len(),
                max: MAX_PROOF_DEPTH,
            });
        }
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    #[test]
    fn empty_and_single_leaf_roots_follow_rfc_9162() {
        let empty: [&[u8]; 0] = [];
        assert_eq!(root(&empty), sha256(b""));
        assert_eq!(root(&[b"a"]), leaf_hash(b"a"));
        assert_ne!(root(&[b"a"]), sha256(b"a"));
    }

    #[test]
    fn three_leaf_tree_splits_two_and_one() {
        let leaves = [b"a", b"b", b"c"];
        let expected = node_hash(
            &node_hash(&leaf_hash(b"a"), &leaf_hash(b"b")),
            &leaf_hash(b"c"),
        );
        assert_eq!(root(&leaves), expected);
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves_and_no_other_leaf_does() {
        for size in 1..=17usize {
            let leaves: Vec<Vec<u8>> = (0..size).map(|i| vec![i as u8; 3]).collect();
            let r = root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = InclusionProof::build(&leaves, i).unwrap();
                assert_eq!(proof.verify(leaf, &r), Ok(()), "size {size} index {i}");
                assert!(proof.verify(b"other", &r).is_err());
                assert_eq!(InclusionProof::from_bytes(&proof.to_bytes()), Ok(proof));
            }
        }
    }

    #[test]
    fn out_of_range_and_wrong_length_are_refused() {
        let leaves = [b"a", b"b", b"c"];
        let r = root(&leaves);
        assert_eq!(
            InclusionProof::build(&leaves, 3),
            Err(MerkleError::IndexOutOfRange { index: 3, size: 3 })
        );
        let mut proof = InclusionProof::build(&leaves, 0).unwrap();
        proof.path.push(Hash32::ZERO);
        assert_eq!(proof.verify(b"a", &r), Err(MerkleError::WrongPathLength));
        proof.path.truncate(1);
        assert_eq!(proof.verify(b"a", &r), Err(MerkleError::WrongPathLength));
    }
}
