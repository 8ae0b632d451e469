//! The HTTP client of the Mainstay API (`/api/v1`), with retries and typed errors.
//!
//! Transport failures, 5xx and 429 answers are retried with exponential back-off; an error the
//! service states in its envelope (which arrives with HTTP 200) is returned at once, since asking
//! again gets the same answer.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;

use crate::api::{
    self, AttestationInfo, CommitmentInfo, EnvelopeError, LatestAttestation, SendPayload,
};
use crate::slot::SlotProof;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service answered with an error in its envelope.
    #[error("{endpoint}: the service says: {message}")]
    Api {
        /// Which endpoint.
        endpoint: String,
        /// The service's message.
        message: String,
    },
    /// A non-retryable HTTP status.
    #[error("{endpoint}: HTTP {status}: {body}")]
    Status {
        /// Which endpoint.
        endpoint: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Every attempt failed to reach the service (or it kept failing with 5xx).
    #[error("{endpoint}: unreachable after {attempts} attempt(s): {last}")]
    Unreachable {
        /// Which endpoint.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The answer has an unexpected shape.
    #[error("{endpoint}: unexpected answer: {reason}")]
    Decode {
        /// Which endpoint.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// The request could not be built.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ClientError {
    /// Whether the service says it has nothing (yet) for what was asked.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { message, .. }
            if message == api::NOT_FOUND || message.contains("could not be found")
                || message.contains("awating first attestation") || message.contains("No attestation found"))
    }
}

/// A client of one Mainstay service.
#[derive(Debug, Clone)]
pub struct MainstayClient {
    base: String,
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl MainstayClient {
    /// A client of the API at `base` (e.g. `https://mainstay.xyz/api/v1`).
    pub fn new(base: &str, timeout: Duration, retry: RetryPolicy) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ClientError::BadRequest(e.to_string()))?;
        Ok(MainstayClient {
            base: base.trim_end_matches('/').to_string(),
            http,
            retry,
        })
    }

    /// The API base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let url = format!("{}/{endpoint}", self.base);
        let attempts = self.retry.attempts.max(1);
        let mut delay = self.retry.first_delay;
        let mut last = String::new();
        for attempt in 1..=attempts {
            let request = match body {
                Some(json) => self.http.post(&url).json(json),
                None => self.http.get(&url).query(query),
            };
            match request.send().await {
                Ok(answer) => {
                    let status = answer.status();
                    let bytes = answer.bytes().await.map_err(|e| e.to_string());
                    if status.is_server_error() || status.as_u16() == 429 {
                        last = format!("HTTP {status}");
                    } else {
                        let bytes = match bytes {
                            Ok(b) => b,
                            Err(e) => {
                                last = e;
                                continue;
                            }
                        };
                        return match api::parse_envelope::<T>(&bytes) {
                            Ok(value) => Ok(value),
                            Err(EnvelopeError::Api(message)) => Err(ClientError::Api {
                                endpoint: endpoint.to_string(),
                                message,
                            }),
                            Err(EnvelopeError::Malformed(reason)) if status.is_success() => {
                                Err(ClientError::Decode {
                                    endpoint: endpoint.to_string(),
                                    reason,
                                })
                            }
                            Err(EnvelopeError::Malformed(_)) => Err(ClientError::Status {
                                endpoint: endpoint.to_string(),
                                status: status.as_u16(),
                                body: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                            }),
                        };
                    }
                }
                Err(e) => last = e.to_string(),
            }
            if attempt < attempts {
                tracing::debug!(endpoint, attempt, %last, "mainstay call failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(self.retry.max_delay);
            }
        }
        Err(ClientError::Unreachable {
            endpoint: endpoint.to_string(),
            attempts,
            last,
        })
    }

    /// `POST commitment/send`: sets the slot's commitment (64 hex characters, display order);
    /// `signature` is a DER signature over the commitment's 32 bytes as written, when the slot
    /// has a key.
    pub async fn send_commitment(
        &self,
        position: u64,
        token: &str,
        commitment: &str,
        signature: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let payload = SendPayload {
            commitment: commitment.to_string(),
            position,
            token: token.to_string(),
        };
        let payload =
            serde_json::to_vec(&payload).map_err(|e| ClientError::BadRequest(e.to_string()))?;
        let body = serde_json::json!({
            api::PAYLOAD_KEY: BASE64.encode(payload),
            api::SIGNATURE_KEY: signature.map(|s| BASE64.encode(s)).unwrap_or_default(),
        });
        let answer: serde_json::Value = self.call("commitment/send", &[], Some(&body)).await?;
        if answer.as_str() == Some(api::COMMITMENT_ADDED) {
            Ok(())
        } else {
            Err(ClientError::Decode {
                endpoint: "commitment/send".into(),
                reason: format!("expected {:?}, got {answer}", api::COMMITMENT_ADDED),
            })
        }
    }

    /// `GET commitment/latestproof?position=`: the slot's proof in the latest confirmed attestation.
    pub async fn latest_proof(&self, position: u64) -> Result<SlotProof, ClientError> {
        self.call(
            "commitment/latestproof",
            &[("position", position.to_string())],
            None,
        )
        .await
    }

    /// `GET commitment/commitment?commitment=`: the attestation holding a commitment, with its proof.
    pub async fn commitment(&self, commitment: &str) -> Result<CommitmentInfo, ClientError> {
        self.call(
            "commitment/commitment",
            &[("commitment", commitment.to_string())],
            None,
        )
        .await
    }

    /// `GET attestation?txid=`.
    pub async fn attestation(&self, txid: &str) -> Result<AttestationInfo, ClientError> {
        self.call("attestation", &[("txid", txid.to_string())], None)
            .await
    }

    /// `GET staychain`: how to verify the service's attestations (network, initial txid, keys).
    /// An extension of the self-hosted service; the public service documents these out of band.
    pub async fn staychain(&self) -> Result<crate::StaychainSpec, ClientError> {
        self.call("staychain", &[], None).await
    }

    /// `GET latestattestation`: the newest confirmed attestation, `None` before the first.
    pub async fn latest_attestation(&self) -> Result<Option<(String, String)>, ClientError> {
        let latest: LatestAttestation = self.call("latestattestation", &[], None).await?;
        Ok(latest.merkle_root.zip(latest.txid))
    }
}
