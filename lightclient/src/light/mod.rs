//! The light client: it verifies the federation's blocks without trusting any one node.
//!
//! Trust starts from the genesis file or from a checkpoint (a height and hash the user got out
//! of band). [`verifier`] holds the checks of one step; [`client`] walks from the trusted state
//! to a target, sequentially or skipping (more than 1/3 of the trusted set's power must have
//! signed a skipped-to block, and more than 2/3 of its own set), follows validator-set changes
//! through `next_validator_set_hash`, and cross-checks the target with witnesses: two certified
//! blocks of one height are [`client::AttackEvidence`] and the client halts. Blocks move from
//! Unverified to Verified to Trusted ([`store::Status`]).
//!
//! Like the rest of this crate it does no I/O: the caller supplies [`client::Provider`]s (an
//! HTTP one lives outside this crate), a [`store::LightStore`] and the time.

pub mod client;
pub mod store;
pub mod verifier;

pub use client::{
    AttackEvidence, LightClient, LightClientError, Provider, ProviderError, SetChange, Verified,
};
pub use store::{LightStore, MemoryStore, Status, StoreError};
pub use verifier::{
    LightBlock, Options, TrustThreshold, TrustedState, Verdict, VerificationError, verify,
};
