//! The appliance node.
//!
//! [`ledger`] is the deterministic state machine every node runs over each block; it does no
//! I/O. Around it: [`chain`] and [`store`] (fjall), [`admission`] and [`mempool`] (what a node
//! accepts from strangers, durably), [`consensus`] (Malachite), and [`node`] (the HTTP API,
//! the mempool relay, the Mainstay attestor and the IPFS publisher).
// The OpenAPI document is one `json!` literal, deeper than the default limit allows.
#![recursion_limit = "256"]

pub mod admission;
pub mod chain;
pub mod consensus;
pub mod console;
pub mod dev;
pub mod ipfs;
pub mod ledger;
pub mod mempool;
pub mod node;
pub mod store;
