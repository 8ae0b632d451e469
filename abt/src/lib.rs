//! `abt`: the command line of every role but the controllers (who keep `signer`). This library
//! holds its parts that tests use directly: the encrypted keystore, the node client and the
//! parsing of human arguments into ledger values.

pub mod args;
pub mod client;
pub mod console;
pub mod keystore;
