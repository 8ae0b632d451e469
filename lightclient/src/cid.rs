//! The IPFS content identifier of published bytes, computed without a daemon.
//!
//! A mapping is published to IPFS as one file. Anyone holding the bytes can recompute its CID
//! here and compare it with the CID a node serves, so a wallet never has to trust the daemon that
//! answered. The options are Kubo's defaults for `ipfs add` (ADR 0008): `CIDv0` (dag-pb, sha2-256,
//! base58btc), fixed-size chunks of 262 144 bytes, leaves wrapped as `UnixFS` `File` nodes (no raw
//! leaves), the balanced layout with at most 174 links per node, and a file of one chunk is its
//! own root.

use sha2::{Digest, Sha256};

/// Kubo's default chunk size (`size-262144`).
pub const CHUNK_SIZE: usize = 262_144;
/// Kubo's default maximum links per node of the balanced layout.
pub const MAX_LINKS: usize = 174;

/// multihash prefix: sha2-256 (0x12), 32 bytes (0x20).
const SHA2_256_PREFIX: [u8; 2] = [0x12, 0x20];
/// `UnixFS` `Data.DataType.File`.
const UNIXFS_FILE: u64 = 2;

/// One node of the DAG as its parent links to it.
struct Child {
    /// sha2-256 multihash of the node's block.
    multihash: Vec<u8>,
    /// File bytes below the node.
    file_size: u64,
    /// The block's size plus every block below it (the link's `Tsize`).
    cumulative_size: u64,
}

/// The `CIDv0` (`Qm…`) that `ipfs add --cid-version=0` gives `bytes` with the default chunker and
/// the balanced layout.
pub fn cid_v0(bytes: &[u8]) -> String {
    let mut level: Vec<Child> = if bytes.is_empty() {
        vec![leaf(&[])]
    } else {
        bytes.chunks(CHUNK_SIZE).map(leaf).collect()
    };
    while level.len() > 1 {
        level = level.chunks(MAX_LINKS).map(parent).collect();
    }
    let root = level.pop().map(|c| c.multihash).unwrap_or_default();
    bs58::encode(root).into_string()
}

/// Why text is not a `CIDv0`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidError {
    /// Not base58btc.
    #[error("a CIDv0 is base58btc: {0}")]
    NotBase58(String),
    /// Decodes, but not to a sha2-256 multihash of 32 bytes (`0x12 0x20` and the digest).
    #[error("a CIDv0 is a sha2-256 multihash of 34 bytes; this one decodes to {0} bytes")]
    NotSha256Multihash(usize),
}

/// Parses a `CIDv0` (`Qm…`) into the sha2-256 digest of its root block. Only the canonical text
/// is accepted: [`cid_v0_text`] of the digest gives `text` back.
pub fn parse_v0(text: &str) -> Result<[u8; 32], CidError> {
    // 34 bytes are 46 base58 characters; anything much longer cannot be a CIDv0, so its decoding
    // is not attempted.
    if text.len() > 64 {
        return Err(CidError::NotSha256Multihash(text.len()));
    }
    let bytes = bs58::decode(text)
        .into_vec()
        .map_err(|e| CidError::NotBase58(e.to_string()))?;
    match bytes.split_first_chunk::<2>() {
        Some((prefix, digest)) if *prefix == SHA2_256_PREFIX && digest.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(digest);
            Ok(out)
        }
        _ => Err(CidError::NotSha256Multihash(bytes.len())),
    }
}

/// The `CIDv0` text of a root block's sha2-256 digest.
pub fn cid_v0_text(digest: &[u8; 32]) -> String {
    let mut multihash = SHA2_256_PREFIX.to_vec();
    multihash.extend_from_slice(digest);
    bs58::encode(multihash).into_string()
}

fn leaf(chunk: &[u8]) -> Child {
    let size = chunk.len() as u64;
    let mut unixfs = Vec::with_capacity(chunk.len().saturating_add(16));
    put_varint_field(&mut unixfs, 1, UNIXFS_FILE);
    if !chunk.is_empty() {
        put_bytes_field(&mut unixfs, 2, chunk);
    }
    put_varint_field(&mut unixfs, 3, size);
    let mut block = Vec::with_capacity(unixfs.len().saturating_add(8));
    put_bytes_field(&mut block, 1, &unixfs);
    child(&block, size, 0)
}

fn parent(children: &[Child]) -> Child {
    let file_size = children.iter().map(|c| c.file_size).sum();
    let mut unixfs = Vec::new();
    put_varint_field(&mut unixfs, 1, UNIXFS_FILE);
    put_varint_field(&mut unixfs, 3, file_size);
    for c in children {
        put_varint_field(&mut unixfs, 4, c.file_size);
    }
    // dag-pb's canonical order: every link (field 2) before the data (field 1).
    let mut block = Vec::new();
    for c in children {
        let mut link = Vec::new();
        put_bytes_field(&mut link, 1, &c.multihash);
        // Kubo and js-ipfs both write the empty name of a file chunk's link.
        put_bytes_field(&mut link, 2, b"");
        put_varint_field(&mut link, 3, c.cumulative_size);
        put_bytes_field(&mut block, 2, &link);
    }
    put_bytes_field(&mut block, 1, &unixfs);
    let below = children.iter().map(|c| c.cumulative_size).sum();
    child(&block, file_size, below)
}

fn child(block: &[u8], file_size: u64, below: u64) -> Child {
    let mut multihash = SHA2_256_PREFIX.to_vec();
    multihash.extend_from_slice(&Sha256::digest(block));
    Child {
        multihash,
        file_size,
        cumulative_size: (block.len() as u64).saturating_add(below),
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = value.to_le_bytes()[0] & 0x7f;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    put_varint(out, field << 3);
    put_varint(out, value);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    // CIDs `ipfs add` prints for these contents; they appear throughout IPFS documentation.
    #[test]
    fn empty_file_has_kubos_cid() {
        assert_eq!(
            cid_v0(b""),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
    }

    #[test]
    fn hello_world_has_kubos_cid() {
        assert_eq!(
            cid_v0(b"hello world\n"),
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
        );
    }

    #[test]
    fn a_cid_parses_to_its_digest_and_back() {
        let text = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
        let digest = parse_v0(text).unwrap();
        assert_eq!(cid_v0_text(&digest), text);
        assert_eq!(
            parse_v0("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5"),
            Err(CidError::NotSha256Multihash(33))
        );
        assert!(matches!(parse_v0("0OIl"), Err(CidError::NotBase58(_))));
        assert_eq!(parse_v0(""), Err(CidError::NotSha256Multihash(0)));
        // A CIDv1 (base32, `b…`) is not a CIDv0.
        assert!(matches!(
            parse_v0("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"),
            Err(CidError::NotBase58(_))
        ));
    }

    #[test]
    fn one_changed_byte_changes_the_cid() {
        let a = vec![7u8; CHUNK_SIZE + 10];
        let mut b = a.clone();
        b[CHUNK_SIZE + 3] = 8;
        assert_ne!(cid_v0(&a), cid_v0(&b));
    }

    #[test]
    fn a_file_of_exactly_one_chunk_is_its_own_root() {
        let one = vec![1u8; CHUNK_SIZE];
        let two = vec![1u8; CHUNK_SIZE + 1];
        // One chunk: the leaf's own hash; one byte more: a parent over two leaves.
        assert_eq!(
            cid_v0(&one),
            bs58::encode(leaf(&one).multihash).into_string()
        );
        assert_ne!(cid_v0(&two), cid_v0(&one));
    }
}
