//! Mainstay attestation to Bitcoin, verified the way the reference client (pymainstay) does, plus
//! the Bitcoin inclusion it leaves to a block explorer.
//!
//! The default build has no I/O — the light client depends on it:
//! - [`slot`]: the commitment is under the commitment-tree root;
//! - [`contract`]: the attestation pays to the key(s) tweaked by that root (pay-to-contract);
//! - [`staychain`]: each attestation spends the previous one, back to the initial transaction;
//! - [`inclusion`]: the transaction is in a block followed by headers with valid proof of work;
//! - [`evidence`]: all of the above from one bundle, each check with its own error;
//! - [`tree`]: the commitment tree a service builds, by the reference service's rules.
//!
//! Feature `client` adds the HTTP client of the Mainstay API and of Bitcoin Core's JSON-RPC;
//! feature `service` adds the self-hosted service and the regtest Bitcoin double its tests use.

pub mod api;
pub mod contract;
pub mod evidence;
pub mod headers;
pub mod inclusion;
pub mod slot;
pub mod staychain;
pub mod tree;

pub use bitcoin;
pub use contract::{ContractError, ContractKey, ContractScheme, TweakedKey};
pub use evidence::{
    AttestationError, AttestationEvidence, AttestationReport, StaychainConfig, StaychainSpec,
};
pub use headers::{Checkpoint, HeaderChain, HeaderChainError};
pub use inclusion::{Inclusion, InclusionError};
pub use slot::{CommitmentListError, SlotProof, SlotProofError, match_commitment_list};
pub use staychain::StaychainError;
pub use tree::{CommitmentTree, TreeError};

#[cfg(feature = "client")]
pub mod bitcoin_rpc;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod collect;
#[cfg(feature = "service")]
pub mod regtest_double;
#[cfg(feature = "service")]
pub mod service;
