//! A SoftHSM2 token store for tests, at the path `.cargo/config.toml` puts in `SOFTHSM2_CONF`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use signer::pin::PinSource;
use signer::pkcs11::{DEFAULT_MODULE, Pkcs11Config, init_token};

fn store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let conf = PathBuf::from(
            std::env::var("SOFTHSM2_CONF").expect("SOFTHSM2_CONF is set by .cargo/config.toml"),
        );
        let dir = conf.parent().unwrap().to_path_buf();
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Tokens of earlier runs: remove those older than an hour (parallel runs keep theirs).
        let cutoff = SystemTime::now() - Duration::from_secs(3600);
        for entry in std::fs::read_dir(&tokens).unwrap().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t < cutoff)
                .unwrap_or(false);
            if old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        tokens
    })
}

/// A fresh token with a unique label; its user PIN is in a file beside the store.
pub fn new_token(name: &str) -> Pkcs11Config {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let tokens = store();
    let label = format!(
        "t{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        name
    );
    let label: String = label.chars().take(32).collect();
    let pin_file = tokens.parent().unwrap().join(format!("{label}.pin"));
    std::fs::write(&pin_file, "1234\n").unwrap();
    init_token(
        Path::new(DEFAULT_MODULE),
        &label,
        &SecretString::from("5678"),
        &SecretString::from("1234"),
    )
    .unwrap();
    Pkcs11Config {
        module: DEFAULT_MODULE.into(),
        token_label: label,
        pin: PinSource::File(pin_file),
    }
}
