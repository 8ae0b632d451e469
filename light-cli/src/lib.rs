//! The I/O half of the light client, kept out of the `lightclient` library: a node's API as a
//! [`lightclient::light::Provider`] and a [`lightclient::light::LightStore`] on disk. The
//! `lightclient` binary is built on them.

pub mod provider;
pub mod store;
