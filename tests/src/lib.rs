//! End-to-end tests: they start real binaries (appliances with SoftHSM2 validator keys, the
//! js-ipfs daemon and the Mainstay service) on loopback. The tests live under `tests/`; they
//! expect the workspace's binaries to be built, which `cargo test --workspace` does first.

pub mod federation;
pub mod ipfs_daemon;
