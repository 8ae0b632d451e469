//! Protocol core of the asset-backed token ledger.
//!
//! Everything a node and a wallet must agree on lives here, and nothing else: the canonical binary
//! encoding ([`encoding`]), hashing ([`hash`]), keys and signatures ([`keys`]), block headers
//! ([`header`]), validator sets and commit certificates ([`validator`], [`certificate`]),
//! transactions ([`tx`]), the signed mapping object ([`mapping`]), Merkle proofs ([`merkle`]),
//! state proofs ([`state`]) and the genesis file ([`genesis`]). This crate does no I/O: it builds
//! without an async runtime, a database or a network stack, so a wallet can verify the
//! federation's output on its own.

#![cfg_attr(
    test,
    allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

pub mod amount;
pub mod backing;
pub mod certificate;
pub mod cid;
pub mod console;
pub mod encoding;
pub mod genesis;
pub mod hash;
pub mod header;
pub mod jcs;
pub mod keys;
pub mod light;
pub mod mapping;
pub mod merkle;
pub mod state;
pub mod tx;
pub mod validator;

pub use certificate::{CertificateError, CommitCertificate, CommitSignature, Vote, VoteKind};
pub use encoding::{Decode, DecodeError, Encode};
pub use genesis::{Genesis, GenesisError};
pub use hash::Hash32;
pub use header::{BlockHeader, ChainId, Event, Receipt};
pub use keys::{AccountId, AssetId, KeyError, PublicKey, Signature, ValidatorAddress};
pub use mapping::{ControllerPolicy, Mapping, MappingError};
pub use merkle::{InclusionProof, MerkleError};
pub use tx::{Operation, SignedTransaction, Transaction};
pub use validator::{Validator, ValidatorSet};
