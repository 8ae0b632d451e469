//! End-to-end tests: they start real binaries (appliances, hsm-sim, SoftHSM tokens, IPFS, the
//! Mainstay service) on loopback. Helpers for starting them live here; tests under `tests/`.
//!
//! No process exists to start yet: the first end-to-end tests arrive with the federation issue.
