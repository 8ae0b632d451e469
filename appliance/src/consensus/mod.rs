//! Byzantine-fault-tolerant agreement on blocks with Malachite (ADR 0003): the context types the
//! engine decides over, the HSM-backed signer, the wire codec, block streaming, and the
//! application loop that executes, commits and serves blocks.

pub mod app;
pub mod codec;
pub mod context;
pub mod engine;
pub mod parts;
pub mod signing;
