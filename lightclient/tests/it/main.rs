//! Integration tests of the protocol core: one binary, one module per area.
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

mod certificate;
mod common;
mod genesis;
mod light;
mod mapping;
mod properties;
mod state;
mod transaction;
mod vectors;
