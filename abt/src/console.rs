//! A client of a node's vault console (`docs/console-protocol.md`): JSON-RPC 2.0 over a
//! websocket, logged in by signing the node's challenge. The digest is computed here from the
//! challenge's parts, never taken from the server.

use std::net::TcpStream;
use std::time::Duration;

use lightclient::console::LoginChallenge;
use lightclient::hash::Hash32;
use lightclient::keys::{PublicKey, Signature};
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Why a console request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleClientError {
    /// The console could not be reached, or the connection broke.
    #[error("console {url}: {reason}")]
    Network {
        /// The console's address.
        url: String,
        /// Why.
        reason: String,
    },
    /// The console answered with a JSON-RPC error.
    #[error("the console refused ({name}): {message}")]
    Refused {
        /// Its stable name (`role_missing`, `rate_limited`, ...).
        name: String,
        /// Its message.
        message: String,
    },
    /// The answer is not what the protocol says.
    #[error("the console answered something unexpected: {0}")]
    Protocol(String),
}

/// A connection to a console.
pub struct ConsoleClient {
    url: String,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Notifications that arrived while waiting for an answer.
    pending: Vec<Value>,
}

impl ConsoleClient {
    /// Connects to `url` (`ws://127.0.0.1:19080`).
    pub fn connect(url: &str) -> Result<Self, ConsoleClientError> {
        let network = |reason: String| ConsoleClientError::Network {
            url: url.to_string(),
            reason,
        };
        let (socket, _) = tungstenite::connect(url).map_err(|e| network(e.to_string()))?;
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .map_err(|e| network(e.to_string()))?;
        }
        Ok(ConsoleClient {
            url: url.to_string(),
            socket,
            next_id: 1,
            pending: Vec::new(),
        })
    }

    fn network(&self, reason: impl std::fmt::Display) -> ConsoleClientError {
        ConsoleClientError::Network {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// The next JSON text frame.
    fn read(&mut self) -> Result<Value, ConsoleClientError> {
        loop {
            match self.socket.read().map_err(|e| self.network(e))? {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| ConsoleClientError::Protocol(e.to_string()));
                }
                Message::Close(_) => return Err(self.network("the console closed the connection")),
                _ => {}
            }
        }
    }

    /// Calls `method`; its result, or the console's refusal by name.
    pub fn call(&mut self, method: &str, params: &Value) -> Result<Value, ConsoleClientError> {
        let id = self.next_id;
        self.next_id = id.saturating_add(1);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(request.to_string()))
            .map_err(|e| self.network(e))?;
        loop {
            let mut frame = self.read()?;
            if frame.get("id") != Some(&json!(id)) {
                self.pending.push(frame);
                continue;
            }
            if let Some(error) = frame.get("error") {
                let text = |key: &str| {
                    error
                        .pointer(key)
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string()
                };
                return Err(ConsoleClientError::Refused {
                    name: text("/data/name"),
                    message: text("/message"),
                });
            }
            return frame
                .get_mut("result")
                .map(Value::take)
                .ok_or_else(|| ConsoleClientError::Protocol(frame.to_string()));
        }
    }

    /// Logs in: asks for a challenge, checks it is for `genesis_hash`, and signs its digest with
    /// `sign` (the staff member's key).
    pub fn login<E: std::fmt::Display>(
        &mut self,
        genesis_hash: Hash32,
        public_key: PublicKey,
        sign: impl FnOnce(&Hash32) -> Result<Signature, E>,
    ) -> Result<Value, ConsoleClientError> {
        let challenge: LoginChallenge =
            serde_json::from_value(self.call("console.challenge", &Value::Null)?)
                .map_err(|e| ConsoleClientError::Protocol(e.to_string()))?;
        // A challenge for another chain is a console that is not the one we think it is.
        if challenge.genesis_hash != genesis_hash {
            return Err(ConsoleClientError::Protocol(format!(
                "the console's challenge is for chain {}, not {genesis_hash}",
                challenge.genesis_hash
            )));
        }
        let signature = sign(&challenge.digest())
            .map_err(|e| ConsoleClientError::Protocol(format!("signing the login: {e}")))?;
        self.call(
            "console.login",
            &json!({ "public_key": public_key, "signature": signature }),
        )
    }

    /// The next notification (a subscription event, or the end of the session).
    pub fn notification(&mut self) -> Result<Value, ConsoleClientError> {
        if !self.pending.is_empty() {
            return Ok(self.pending.remove(0));
        }
        self.read()
    }
}
