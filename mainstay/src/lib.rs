//! Mainstay attestation to Bitcoin, verified the way the reference client (pymainstay) does.
//!
//! Built so far: [`slot`], the slot-proof check — a client's commitment sits under the Mainstay
//! commitment tree's root. No I/O here: the light client uses this crate directly. Pay-to-contract
//! key derivation, staychain continuity, Bitcoin inclusion, the API client and the self-hosted
//! service arrive with the rest of the Mainstay issue.

pub mod slot;

pub use slot::{SlotProof, SlotProofError};
