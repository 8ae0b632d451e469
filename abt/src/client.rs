//! The node's HTTP API as `abt` uses it: the chain it serves, submitting a transaction, waiting
//! for it, and reading receipts and state. Nothing here is verified; the light client
//! (`lightclient`) is the tool that trusts no node.

use std::time::{Duration, Instant};

use lightclient::tx::{ChainBinding, SignedTransaction};
use serde_json::Value;

/// `value[key]`, or null: a JSON answer's field without indexing.
pub fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or(&Value::Null)
}

/// Answers larger than this are refused.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why a request to the node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node could not be reached, or its answer could not be read.
    #[error("node {url}: {reason}")]
    Network {
        /// What was asked.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The node answered with an error (its JSON error `kind` and message).
    #[error("the node refused ({status} {kind}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error's kind (`bad_signature`, `unknown_account`, ...).
        kind: String,
        /// Its message.
        message: String,
    },
    /// Waiting for a transaction gave up.
    #[error("transaction {txid} was not committed within {seconds} s (still {status})")]
    Timeout {
        /// The transaction.
        txid: String,
        /// How long we waited.
        seconds: u64,
        /// Its last status.
        status: String,
    },
}

/// An answer read as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// The headers asked for, in the order asked (`None`: absent).
    pub headers: Vec<Option<String>>,
    /// The body.
    pub body: Vec<u8>,
}

/// A node.
#[derive(Debug, Clone)]
pub struct Node {
    base: String,
    http: reqwest::blocking::Client,
}

impl Node {
    /// The node whose API is at `base` (`http://127.0.0.1:18080`).
    pub fn new(base: &str) -> Result<Self, NodeError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| NodeError::Network {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Node {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    fn answer(&self, url: &str, response: reqwest::blocking::Response) -> Result<Value, NodeError> {
        let status = response.status().as_u16();
        let network = |reason: String| NodeError::Network {
            url: url.to_string(),
            reason,
        };
        let bytes = response.bytes().map_err(|e| network(e.to_string()))?;
        if bytes.len() > MAX_BODY {
            return Err(network(format!("answer of {} bytes", bytes.len())));
        }
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| network(format!("not JSON: {e}")))?
        };
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(NodeError::Refused {
            status,
            kind: field(&body, "error")
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            message: field(&body, "message")
                .as_str()
                .map_or_else(|| body.to_string(), str::to_string),
        })
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, NodeError> {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).send().map_err(|e| NodeError::Network {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        self.answer(&url, response)
    }

    /// `GET path` answered with bytes rather than JSON: the status, the answer's headers named
    /// in `headers`, and the body.
    pub fn get_bytes(&self, path: &str, headers: &[&str]) -> Result<RawAnswer, NodeError> {
        let url = format!("{}{path}", self.base);
        self.raw(&url, self.http.get(&url), headers)
    }

    /// `POST path` with a body of bytes, answered with bytes (see [`Node::get_bytes`]).
    pub fn post_bytes(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[&str],
    ) -> Result<RawAnswer, NodeError> {
        let url = format!("{}{path}", self.base);
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.raw(&url, request, headers)
    }

    fn raw(
        &self,
        url: &str,
        request: reqwest::blocking::RequestBuilder,
        headers: &[&str],
    ) -> Result<RawAnswer, NodeError> {
        let network = |reason: String| NodeError::Network {
            url: url.to_string(),
            reason,
        };
        let response = request.send().map_err(|e| network(e.to_string()))?;
        let status = response.status().as_u16();
        let named = headers
            .iter()
            .map(|name| {
                response
                    .headers()
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .collect();
        let bytes = response.bytes().map_err(|e| network(e.to_string()))?;
        if bytes.len() > MAX_BODY {
            return Err(network(format!("answer of {} bytes", bytes.len())));
        }
        Ok(RawAnswer {
            status,
            headers: named,
            body: bytes.to_vec(),
        })
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, NodeError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .post(&url)
            .json(body)
            .send()
            .map_err(|e| NodeError::Network {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        self.answer(&url, response)
    }

    /// The chain the node serves and its height.
    pub fn chain(&self) -> Result<(ChainBinding, u64), NodeError> {
        let answer = self.get("/v1/chain")?;
        let bad = |what: &str| NodeError::Network {
            url: format!("{}/v1/chain", self.base),
            reason: format!("answer without a valid {what}"),
        };
        let binding = ChainBinding {
            chain_id: serde_json::from_value(field(&answer, "chain_id").clone())
                .map_err(|_| bad("chain_id"))?,
            genesis_hash: serde_json::from_value(field(&answer, "genesis_hash").clone())
                .map_err(|_| bad("genesis_hash"))?,
        };
        let height = field(&answer, "height")
            .as_u64()
            .ok_or_else(|| bad("height"))?;
        Ok((binding, height))
    }

    /// Submits a signed transaction; its txid.
    pub fn submit(&self, tx: &SignedTransaction) -> Result<String, NodeError> {
        let body = serde_json::json!({ "encoded": hex::encode(lightclient::encoding::Encode::to_bytes(tx)) });
        let answer = self.post("/v1/transactions", &body)?;
        Ok(field(&answer, "txid")
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Waits until `txid` is in a block (applied or refused there); its status answer.
    pub fn wait(&self, txid: &str, limit: Duration) -> Result<Value, NodeError> {
        let started = Instant::now();
        loop {
            let status = self.get(&format!("/v1/transactions/{txid}"))?;
            if field(&status, "height").is_u64() {
                return Ok(status);
            }
            if started.elapsed() >= limit {
                return Err(NodeError::Timeout {
                    txid: txid.to_string(),
                    seconds: limit.as_secs(),
                    status: field(&status, "status")
                        .as_str()
                        .unwrap_or("unknown")
                        .to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
