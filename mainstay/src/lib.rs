//! Mainstay attestation to Bitcoin: slot-proof, pay-to-contract and staychain verification, a
//! client of the Mainstay HTTP API and a self-hosted service.
//!
//! Not built yet: its verification, client and service arrive with the Mainstay issue. The crate
//! is a workspace member now so that the dependency graph is fixed from the start.
