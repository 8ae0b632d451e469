//! The key-ceremony statement: a record that a key was generated in an HSM, signed by that key
//! (proof that the HSM holds the private half of the public key it reported).

use lightclient::hash::{Hash32, tagged_hash};
use lightclient::jcs::canonicalize;
use lightclient::{PublicKey, Signature};

use crate::{Signer, SignerError};

/// Tag of the statement signing digest.
pub const KEY_STATEMENT_TAG: &str = "ABT/key-statement/v1";

/// What the statement asserts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStatement {
    /// Always "generated in HSM".
    pub statement: String,
    /// Backend name (`pkcs11`, `yubihsm`).
    pub backend: String,
    /// Which HSM (token label, connector address).
    pub hsm: String,
    /// The key's label.
    pub label: String,
    /// The key.
    pub public_key: PublicKey,
    /// When, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Signature by `public_key` over [`KeyStatement::digest`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

/// Why a statement does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// Not a statement.
    #[error("not a key statement: {0}")]
    Json(String),
    /// Unsigned.
    #[error("the statement is not signed")]
    Unsigned,
    /// The signature does not verify under the stated key.
    #[error("the statement's signature does not verify: {0}")]
    BadSignature(lightclient::KeyError),
}

impl KeyStatement {
    /// The digest signed: tagged hash of the RFC 8785 form without `signature`.
    pub fn digest(&self) -> Result<Hash32, StatementError> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        let value =
            serde_json::to_value(&unsigned).map_err(|e| StatementError::Json(e.to_string()))?;
        let bytes = canonicalize(&value).map_err(|e| StatementError::Json(e.to_string()))?;
        Ok(tagged_hash(KEY_STATEMENT_TAG, &bytes))
    }

    /// Creates and signs a statement with `signer`.
    pub async fn sign(
        signer: &dyn Signer,
        backend: &str,
        hsm: &str,
        created_at_ms: u64,
    ) -> Result<KeyStatement, SignerError> {
        let mut statement = KeyStatement {
            statement: "generated in HSM".into(),
            backend: backend.into(),
            hsm: hsm.into(),
            label: signer.label().into(),
            public_key: signer.public_key(),
            created_at_ms,
            signature: None,
        };
        let digest = statement
            .digest()
            .map_err(|e| SignerError::BadPublicKey(e.to_string()))?;
        statement.signature = Some(signer.sign_digest(digest.as_bytes()).await?);
        Ok(statement)
    }

    /// Parses and checks a statement.
    pub fn verify_json(bytes: &[u8]) -> Result<KeyStatement, StatementError> {
        let statement: KeyStatement =
            serde_json::from_slice(bytes).map_err(|e| StatementError::Json(e.to_string()))?;
        let signature = statement.signature.ok_or(StatementError::Unsigned)?;
        statement
            .public_key
            .verify_digest(statement.digest()?.as_bytes(), &signature)
            .map_err(StatementError::BadSignature)?;
        Ok(statement)
    }
}
