//! A YubiHSM 2 connector-compatible HTTP server backed by the yubihsm crate's mock HSM, with fault
//! injection, used as the quick start's default HSM.
//!
//! Not built yet: it arrives with the HSM signing issue.
