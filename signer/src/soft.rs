//! A software signer for other crates' tests (feature `dev`). Its private key is in process
//! memory: never use it for a real validator or controller.

use k256::ecdsa::SigningKey;

use crate::{PublicKey, Signature, Signer, SignerError, compress_point, finish_signature};

/// An in-memory secp256k1 key.
pub struct SoftSigner {
    key: SigningKey,
    public_key: PublicKey,
    label: String,
}

impl std::fmt::Debug for SoftSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftSigner")
            .field("label", &self.label)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl SoftSigner {
    /// A key from 32 secret bytes.
    pub fn from_secret(secret: [u8; 32], label: &str) -> Result<Self, SignerError> {
        let key = SigningKey::from_bytes(&secret.into())
            .map_err(|e| SignerError::BadPublicKey(format!("secret is not a valid scalar: {e}")))?;
        let public_key = compress_point(key.verifying_key().to_encoded_point(false).as_bytes())?;
        Ok(SoftSigner {
            key,
            public_key,
            label: label.to_string(),
        })
    }

    /// The key plus `tweak` (mod the group order): the private half of a BIP32 public derivation
    /// step or a pay-to-contract tweak, whose public half anyone can compute.
    pub fn tweaked(&self, tweak: &[u8; 32]) -> Result<Self, SignerError> {
        use k256::elliptic_curve::PrimeField;
        let addend = Option::<k256::Scalar>::from(k256::Scalar::from_repr((*tweak).into()))
            .ok_or_else(|| {
                SignerError::BadPublicKey("tweak is not below the group order".into())
            })?;
        // Scalar addition is modulo the group order: it cannot overflow.
        #[allow(clippy::arithmetic_side_effects)]
        let sum = *self.key.as_nonzero_scalar().as_ref() + addend;
        SoftSigner::from_secret(sum.to_repr().into(), &self.label)
    }
}

#[async_trait::async_trait]
impl Signer for SoftSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn label(&self) -> &str {
        &self.label
    }

    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        let (signature, _) = self
            .key
            .sign_prehash_recoverable(digest)
            .map_err(|e| SignerError::BadSignatureFromHsm(e.to_string()))?;
        finish_signature(&self.public_key, digest, &signature.to_bytes())
    }
}
