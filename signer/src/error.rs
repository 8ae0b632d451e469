use crate::watermark::WatermarkError;

/// Why a key could not be created, found or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The HSM refused the PIN or password.
    #[error("the HSM refused the PIN or password; check the PIN source and the token or auth key")]
    WrongPin,
    /// The HSM cannot be reached now; the call may succeed once it is back.
    #[error("HSM unavailable: {reason}")]
    Unavailable {
        /// What failed.
        reason: String,
    },
    /// No token with this label in any slot.
    #[error(
        "no PKCS#11 token labelled {0:?}; create it first (signer softhsm-init) or check the module path"
    )]
    TokenNotFound(String),
    /// No key with this label.
    #[error("no key labelled {0:?} in the HSM; create it with `signer keygen`")]
    KeyNotFound(String),
    /// Key generation refused because the label is taken.
    #[error("a key labelled {0:?} already exists; keys are never overwritten")]
    KeyExists(String),
    /// A label the HSM cannot store.
    #[error("invalid key label {0:?}: 1 to 40 printable ASCII characters")]
    BadLabel(String),
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {0}")]
    Pkcs11(String),
    /// Any other YubiHSM failure.
    #[error("YubiHSM: {0}")]
    YubiHsm(String),
    /// The HSM's public key is not a secp256k1 point.
    #[error("HSM returned an unusable public key: {0}")]
    BadPublicKey(String),
    /// The HSM's signature does not verify under its own key.
    #[error("HSM returned a signature that does not verify: {0}")]
    BadSignatureFromHsm(String),
    /// The PIN could not be read from its source.
    #[error("cannot read the PIN: {0}")]
    Pin(String),
    /// The watermark refused or failed.
    #[error(transparent)]
    Watermark(#[from] WatermarkError),
    /// The blocking HSM task panicked or was cancelled.
    #[error("HSM task failed: {0}")]
    Task(String),
}

impl SignerError {
    /// Whether retrying later may succeed (the HSM was away), as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        matches!(self, SignerError::Unavailable { .. })
    }
}
