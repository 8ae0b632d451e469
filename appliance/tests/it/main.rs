//! Ledger tests: each operation's success and errors, and the asset-backed token process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    missing_docs,
    unreachable_pub
)]

mod chain;
mod consensus;
mod console;
mod crash;
mod ledger;
mod mempool;
mod node;
mod openapi;
mod parsers;
mod properties;
mod rules;
mod validators;
mod vault;
mod world;
