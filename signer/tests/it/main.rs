//! Integration tests of the signer backends against real SoftHSM2 tokens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::arithmetic_side_effects, missing_docs, unreachable_pub)]

mod cli;
mod pkcs11;
mod softhsm;
mod watermark;
