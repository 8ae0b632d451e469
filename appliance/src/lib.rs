//! The appliance node.
//!
//! Built so far: [`ledger`], the deterministic state machine every node runs over each block. It
//! does no I/O; storage, consensus and the API drive it from outside. The node itself (fjall
//! storage, Malachite consensus, HTTP API, console, attestor, IPFS publisher) arrives with the
//! ledger-storage and federation issues.

pub mod chain;
pub mod consensus;
pub mod dev;
pub mod ipfs;
pub mod ledger;
pub mod mempool;
pub mod node;
pub mod store;
