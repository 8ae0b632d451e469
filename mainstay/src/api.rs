//! The JSON of the Mainstay HTTP API (`/api/v1`), shared by the client and the service. No I/O.
//!
//! Every answer is an envelope `{"response": …, "timestamp": ms, "allowance": {"cost": ns}}`, and
//! errors come back *with HTTP 200* as `{"error": "…", "timestamp": …, "allowance": …}`; a client
//! must look inside before trusting the status.

use serde::de::DeserializeOwned;

use crate::slot::{PathStep, SlotProof};

/// The send request's body keys (the reference server reads them from the JSON body).
pub const PAYLOAD_KEY: &str = "X-MAINSTAY-PAYLOAD";
/// The signature key of the send request.
pub const SIGNATURE_KEY: &str = "X-MAINSTAY-SIGNATURE";
/// The reference server's answer to an accepted commitment.
pub const COMMITMENT_ADDED: &str = "Commitment added";
/// The reference server's "nothing attested for this yet".
pub const NOT_FOUND: &str = "Not found";

/// The decoded payload of `commitment/send`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendPayload {
    /// 64 hex characters.
    pub commitment: String,
    /// The slot; the reference clients send a number or a numeric string.
    #[serde(deserialize_with = "number_or_string")]
    pub position: u64,
    /// The slot's auth token.
    pub token: String,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}
use serde::Deserialize as _;

/// An attestation as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttestationRecord {
    /// Display hex.
    pub merkle_root: String,
    /// Display hex.
    pub txid: String,
    /// Whether it is in a block.
    pub confirmed: bool,
    /// When it was made (the reference server's format varies; kept as text).
    #[serde(default)]
    pub inserted_at: String,
}

/// `commitment/commitment`: where a commitment was attested.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitmentInfo {
    /// The attestation holding it.
    pub attestation: AttestationRecord,
    /// Its proof.
    pub merkleproof: MerkleProofRecord,
}

/// A slot proof without the txid, as `commitment/commitment` gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MerkleProofRecord {
    /// The slot.
    pub position: u64,
    /// Display hex.
    pub merkle_root: String,
    /// Display hex.
    pub commitment: String,
    /// The path.
    pub ops: Vec<PathStep>,
}

impl CommitmentInfo {
    /// The slot proof with the attestation's txid.
    pub fn slot_proof(&self) -> SlotProof {
        SlotProof {
            commitment: self.merkleproof.commitment.clone(),
            merkle_root: self.merkleproof.merkle_root.clone(),
            ops: self.merkleproof.ops.clone(),
            txid: self.attestation.txid.clone(),
            height: None,
            date: Some(self.attestation.inserted_at.clone()),
        }
    }
}

/// `attestation?txid=`: the attestation and its Bitcoin facts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttestationInfo {
    /// The attestation.
    pub attestation: AttestationRecord,
    /// Amount, block hash and time, or empty strings when not known yet.
    #[serde(rename = "attestationInfo")]
    pub info: serde_json::Value,
}

/// `latestattestation`: `{}` when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct LatestAttestation {
    /// Display hex.
    #[serde(default)]
    pub merkle_root: Option<String>,
    /// Display hex.
    #[serde(default)]
    pub txid: Option<String>,
}

/// Why an answer's body is not a successful envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The service answered with an error (whatever the HTTP status).
    #[error("the service says: {0}")]
    Api(String),
    /// The body is not an envelope, or the response has another shape.
    #[error("unexpected answer: {0}")]
    Malformed(String),
}

/// Reads an envelope: its `error` if it has one, else its `response` as `T`.
pub fn parse_envelope<T: DeserializeOwned>(body: &[u8]) -> Result<T, EnvelopeError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| EnvelopeError::Malformed(format!("not JSON: {e}")))?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(EnvelopeError::Malformed("not a JSON object".into()));
    };
    if let Some(error) = object.remove("error") {
        return Err(EnvelopeError::Api(match error {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }));
    }
    let response = object
        .remove("response")
        .ok_or_else(|| EnvelopeError::Malformed("neither `response` nor `error`".into()))?;
    serde_json::from_value(response).map_err(|e| EnvelopeError::Malformed(e.to_string()))
}

/// Builds an envelope the way the reference server does.
pub fn envelope(
    response: Result<serde_json::Value, String>,
    timestamp_ms: u64,
    cost_ns: u64,
) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    match response {
        Ok(value) => object.insert("response".into(), value),
        Err(message) => object.insert("error".into(), serde_json::Value::String(message)),
    };
    object.insert("timestamp".into(), timestamp_ms.into());
    object.insert("allowance".into(), serde_json::json!({ "cost": cost_ns }));
    serde_json::Value::Object(object)
}

/// The DER form of a compact `r ‖ s` signature, as `commitment/send` wants it.
pub fn der_signature(compact: &[u8; 64]) -> Result<Vec<u8>, EnvelopeError> {
    bitcoin::secp256k1::ecdsa::Signature::from_compact(compact)
        .map(|s| s.serialize_der().to_vec())
        .map_err(|e| EnvelopeError::Malformed(format!("not a signature: {e}")))
}
