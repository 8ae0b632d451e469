//! SoftHSM2 tokens for tests, in the store `.cargo/config.toml` points `SOFTHSM2_CONF` at.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use signer::pkcs11::{Pkcs11Config, dev_test_token};

/// Once per process, before SoftHSM initialises: removes tokens of runs older than an hour
/// (tests running in parallel keep theirs).
fn prune_old_tokens() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(conf) = std::env::var_os("SOFTHSM2_CONF") else {
            return;
        };
        let tokens = std::path::Path::new(&conf).with_file_name("tokens");
        let cutoff = SystemTime::now() - Duration::from_secs(3600);
        for entry in std::fs::read_dir(&tokens).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t < cutoff)
                .unwrap_or(false);
            if old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// A fresh token with a unique label; its user PIN is in a file beside the store.
pub fn new_token(name: &str) -> Pkcs11Config {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    prune_old_tokens();
    let label = format!(
        "t{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        name
    );
    let label: String = label.chars().take(32).collect();
    dev_test_token(&label).unwrap()
}
