//! HSM signing for validators and controllers.
//!
//! One [`Signer`] trait — public key, label, and `sign_digest` producing a 64-byte compact low-S
//! ECDSA secp256k1 signature over a 32-byte digest — with backends whose private keys never leave
//! the HSM: [`pkcs11`] (any PKCS#11 module; SoftHSM2 in development and CI) and [`yubihsm`]
//! (YubiHSM 2 over the connector HTTP protocol). The [`soft`] backend keeps its key in memory and
//! exists only with the `dev` feature, for other crates' tests. [`watermark`] wraps any signer
//! with a persisted record that refuses to sign two different things at one consensus position.

mod error;
pub mod pin;
pub mod pkcs11;
pub mod review;
#[cfg(feature = "dev")]
pub mod soft;
pub mod statement;
pub mod watermark;
pub mod yubihsm;

pub use error::SignerError;
pub use lightclient::keys::{PublicKey, Signature};

/// A secp256k1 signing key held by some backend.
#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// The key's compressed SEC1 public key.
    fn public_key(&self) -> PublicKey;

    /// The key's label in its HSM.
    fn label(&self) -> &str;

    /// Signs a 32-byte digest: compact `r || s`, low-S, checked against the public key before it
    /// is returned.
    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError>;
}

/// Normalises an HSM's raw `r || s` to low-S and checks it verifies, so no backend can return a
/// signature the protocol would refuse.
pub(crate) fn finish_signature(
    public_key: &PublicKey,
    digest: &[u8; 32],
    raw: &[u8],
) -> Result<Signature, SignerError> {
    let bytes: [u8; 64] = raw
        .try_into()
        .map_err(|_| SignerError::BadSignatureFromHsm(format!("{} bytes, not 64", raw.len())))?;
    let signature = Signature(bytes)
        .normalize_s()
        .map_err(|e| SignerError::BadSignatureFromHsm(e.to_string()))?;
    public_key
        .verify_digest(digest, &signature)
        .map_err(|e| SignerError::BadSignatureFromHsm(e.to_string()))?;
    Ok(signature)
}

/// Compresses an uncompressed (`04 || X || Y`) or compressed SEC1 point.
pub(crate) fn compress_point(point: &[u8]) -> Result<PublicKey, SignerError> {
    let key = k256::PublicKey::from_sec1_bytes(point)
        .map_err(|e| SignerError::BadPublicKey(format!("not a secp256k1 point: {e}")))?;
    let compressed = k256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, true);
    let bytes: [u8; 33] = compressed
        .as_bytes()
        .try_into()
        .map_err(|_| SignerError::BadPublicKey("compressed point is not 33 bytes".into()))?;
    PublicKey::from_compressed(bytes).map_err(|e| SignerError::BadPublicKey(e.to_string()))
}

/// Runs a blocking HSM call on tokio's blocking pool, off the async executor.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SignerError> + Send + 'static,
) -> Result<T, SignerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SignerError::Task(e.to_string()))?
}

/// Key labels both backends can store: 1 to 40 printable ASCII characters, no spaces.
pub(crate) fn check_label(label: &str) -> Result<(), SignerError> {
    let ok = (1..=40).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(SignerError::BadLabel(label.to_string()))
    }
}
