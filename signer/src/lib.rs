//! HSM signing: one `Signer` trait with PKCS#11 and YubiHSM backends, the persistent
//! anti-equivocation watermark, and the controllers' `signer` command.
//!
//! Not built yet: the backends and the command arrive with the HSM signing issue.
