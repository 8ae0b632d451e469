//! The one decoding rule for transactions a stranger sends (ADR 0010).
//!
//! A submission is JSON: either the transaction itself or `{"encoded": hex}` of its canonical
//! encoding. Whichever form it takes, the transaction the node goes on with is the one the
//! canonical *binary* decoder — the decoder every validator runs over a block's transactions —
//! returns for its encoding. A JSON transaction whose encoding does not decode (an unknown
//! version, say) is refused here, so a proposer can never put into a block a transaction that its
//! peers cannot read.

use lightclient::encoding::{Decode, DecodeError, Encode};
use lightclient::tx::SignedTransaction;
use serde_json::Value;

/// Why a submission body is not a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmissionError {
    /// The body is not JSON at all.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// A field of a JSON transaction is missing, unknown or malformed.
    #[error("{field}: {message}")]
    BadField {
        /// Where, as a path (`transaction.operation.amount`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `encoded` is not hex.
    #[error("encoded: not hex: {0}")]
    BadHex(String),
    /// The canonical encoding does not decode (from `encoded`, or re-encoded from JSON).
    #[error("{field}: {source}")]
    BadEncoding {
        /// The field to blame: `encoded`, or the JSON field the decoder stopped at.
        field: String,
        /// What the decoder said.
        source: DecodeError,
    },
}

impl SubmissionError {
    /// The stable error name the API answers with.
    pub fn kind(&self) -> &'static str {
        match self {
            SubmissionError::NotJson(_) => "bad_json",
            SubmissionError::BadField { .. } => "bad_field",
            SubmissionError::BadHex(_) | SubmissionError::BadEncoding { .. } => "bad_encoding",
        }
    }

    /// The field to blame, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            SubmissionError::NotJson(_) => None,
            SubmissionError::BadField { field, .. }
            | SubmissionError::BadEncoding { field, .. } => Some(field),
            SubmissionError::BadHex(_) => Some("encoded"),
        }
    }
}

/// Decodes a submission body into the transaction a validator would decode from its canonical
/// encoding.
pub fn decode_submission(body: &[u8]) -> Result<SignedTransaction, SubmissionError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| SubmissionError::NotJson(e.to_string()))?;
    match value.as_object() {
        Some(object) if object.contains_key("encoded") => {
            if let Some(other) = object.keys().find(|k| k.as_str() != "encoded") {
                return Err(SubmissionError::BadField {
                    field: other.clone(),
                    message: "unknown field beside `encoded`".into(),
                });
            }
            let Some(Value::String(text)) = object.get("encoded") else {
                return Err(SubmissionError::BadField {
                    field: "encoded".into(),
                    message: "must be a hex string".into(),
                });
            };
            decode_encoded(text)
        }
        _ => {
            let tx: SignedTransaction = serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                SubmissionError::BadField {
                    field: if path == "." { String::new() } else { path },
                    message: e.into_inner().to_string(),
                }
            })?;
            canonical(&tx)
        }
    }
}

/// Decodes the hex of a canonical encoding (the `encoded` form, and what peers relay).
pub fn decode_encoded(text: &str) -> Result<SignedTransaction, SubmissionError> {
    let bytes = hex::decode(text).map_err(|e| SubmissionError::BadHex(e.to_string()))?;
    SignedTransaction::from_bytes(&bytes).map_err(|source| SubmissionError::BadEncoding {
        field: "encoded".into(),
        source,
    })
}

/// The transaction the binary decoder reads from `tx`'s encoding: refuses what encodes but
/// does not decode, and what decodes to something else.
fn canonical(tx: &SignedTransaction) -> Result<SignedTransaction, SubmissionError> {
    let decoded = SignedTransaction::from_bytes(&tx.to_bytes()).map_err(|source| {
        SubmissionError::BadEncoding {
            field: blame(&source).into(),
            source,
        }
    })?;
    if decoded != *tx {
        return Err(SubmissionError::BadEncoding {
            field: "transaction".into(),
            source: DecodeError::InvalidValue {
                what: "transaction",
                reason: "its canonical encoding decodes to another transaction".into(),
            },
        });
    }
    Ok(decoded)
}

fn blame(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::UnsupportedVersion {
            what: "transaction",
            ..
        } => "transaction.version",
        _ => "transaction",
    }
}
