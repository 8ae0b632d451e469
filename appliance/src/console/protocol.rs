//! The vault console's wire protocol: JSON-RPC 2.0 over websocket text frames
//! (`docs/console-protocol.md`). Every frame a stranger sends is decoded here, once: into a
//! [`Call`] with typed parameters, or into a [`ConsoleError`] with a stable code and name. No
//! I/O; the server (`console::server`) and the fuzz target use the same function.

use lightclient::hash::Hash32;
use lightclient::keys::{PublicKey, Signature};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest text frame the console reads; a larger one is refused unread.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// A request's id: a JSON-RPC id is a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A number.
    Number(i64),
    /// A string.
    Text(String),
}

/// A topic a session can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Topic {
    /// Bars registered, moved, retired, mapped.
    Bars,
    /// Reviewable requests created and decided.
    Requests,
    /// The mapping draft and new mapping versions.
    Mapping,
    /// Settlement events.
    Settlements,
}

/// A method with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `console.challenge`: a login challenge bound to this connection.
    Challenge,
    /// `console.login`: the challenge signed by a staff key.
    Login {
        /// The staff member's key.
        public_key: PublicKey,
        /// Its signature over [`lightclient::console::LoginChallenge::digest`].
        signature: Signature,
    },
    /// `console.logout`.
    Logout,
    /// `console.session`: who is logged in, until when.
    Session,
    /// `tx.submit`: a signed transaction's canonical encoding (hex), made by the staff member's
    /// own key (the console holds none).
    Submit {
        /// Hex of the canonical bytes.
        encoded: String,
    },
    /// `bars.list`.
    Bars,
    /// `bars.history`: the audit trail of one bar.
    BarHistory {
        /// Its serial.
        serial: String,
    },
    /// `requests.list`: pending requests (approvals waiting included).
    Requests,
    /// `subscribe`: follow a topic; notifications carry the subscription id.
    Subscribe {
        /// What to follow.
        topic: Topic,
    },
    /// `unsubscribe`.
    Unsubscribe {
        /// The subscription.
        subscription: u64,
    },
}

impl Method {
    /// Whether the method needs a logged-in session.
    pub fn needs_session(&self) -> bool {
        !matches!(self, Method::Challenge | Method::Login { .. })
    }
}

/// One decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Its id (the answer carries it).
    pub id: RequestId,
    /// What it asks.
    pub method: Method,
}

/// Why a request is refused: each has a stable JSON-RPC code and name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC 2.0 request.
    #[error("not a JSON-RPC 2.0 request: {0}")]
    InvalidRequest(String),
    /// No such method.
    #[error("no method {0:?}")]
    MethodNotFound(String),
    /// The method's parameters are wrong.
    #[error("{method}: {reason}")]
    InvalidParams {
        /// The method.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// A frame above [`MAX_FRAME_BYTES`], or not text.
    #[error("frame of {size} bytes; the console reads text frames of at most {max} bytes")]
    FrameTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A binary frame.
    #[error("the console reads text frames (JSON), not binary ones")]
    BinaryFrame,
    /// The method needs a login.
    #[error("log in first (console.challenge, then console.login)")]
    NotLoggedIn,
    /// `console.login` without a challenge on this connection.
    #[error("no login challenge was issued on this connection (call console.challenge)")]
    NoChallenge,
    /// The challenge expired.
    #[error("the login challenge expired; ask for a new one")]
    ChallengeExpired,
    /// The challenge was already used (a replayed login).
    #[error("this login challenge was already used; ask for a new one")]
    ChallengeUsed,
    /// The signature does not verify under the key.
    #[error("the signature is not the key's signature over this connection's challenge")]
    BadLoginSignature,
    /// The key is no account's current key.
    #[error("no account has this key")]
    UnknownKey,
    /// The account lacks the roles the console needs.
    #[error("account {0} holds neither the vault-staff nor the issuance-admin role")]
    RoleMissing(String),
    /// The account is banned.
    #[error("account {0} is banned")]
    Banned(String),
    /// Too many requests.
    #[error("too many requests; wait {retry_after_ms} ms")]
    RateLimited {
        /// When to retry.
        retry_after_ms: u64,
    },
    /// The session ended: idle too long, or past its lifetime.
    #[error("the session ended ({0}); log in again")]
    SessionExpired(&'static str),
    /// The transaction was refused at the door (admission rule); `kind` is the API's error name.
    #[error("refused ({kind}): {message}")]
    Refused {
        /// The API's error name (`bad_signature`, `unknown_signer`, ...).
        kind: String,
        /// Why.
        message: String,
    },
    /// No such item.
    #[error("{0}")]
    NotFound(String),
    /// The node could not answer.
    #[error("the node could not answer: {0}")]
    Internal(String),
}

impl ConsoleError {
    /// Its JSON-RPC code: the standard ones, then -32001.. for the console's own.
    pub fn code(&self) -> i64 {
        match self {
            ConsoleError::Parse(_) => -32700,
            ConsoleError::InvalidRequest(_) => -32600,
            ConsoleError::MethodNotFound(_) => -32601,
            ConsoleError::InvalidParams { .. } => -32602,
            ConsoleError::Internal(_) => -32603,
            ConsoleError::NotLoggedIn => -32001,
            ConsoleError::NoChallenge => -32002,
            ConsoleError::ChallengeExpired => -32003,
            ConsoleError::ChallengeUsed => -32004,
            ConsoleError::BadLoginSignature => -32005,
            ConsoleError::UnknownKey => -32006,
            ConsoleError::RoleMissing(_) => -32007,
            ConsoleError::Banned(_) => -32008,
            ConsoleError::RateLimited { .. } => -32009,
            ConsoleError::SessionExpired(_) => -32010,
            ConsoleError::FrameTooLarge { .. } => -32011,
            ConsoleError::BinaryFrame => -32012,
            ConsoleError::Refused { .. } => -32013,
            ConsoleError::NotFound(_) => -32014,
        }
    }

    /// Its stable name (in the error's `data.name`).
    pub fn name(&self) -> &'static str {
        match self {
            ConsoleError::Parse(_) => "parse_error",
            ConsoleError::InvalidRequest(_) => "invalid_request",
            ConsoleError::MethodNotFound(_) => "method_not_found",
            ConsoleError::InvalidParams { .. } => "invalid_params",
            ConsoleError::Internal(_) => "internal",
            ConsoleError::NotLoggedIn => "not_logged_in",
            ConsoleError::NoChallenge => "no_challenge",
            ConsoleError::ChallengeExpired => "challenge_expired",
            ConsoleError::ChallengeUsed => "challenge_used",
            ConsoleError::BadLoginSignature => "bad_login_signature",
            ConsoleError::UnknownKey => "unknown_key",
            ConsoleError::RoleMissing(_) => "role_missing",
            ConsoleError::Banned(_) => "banned",
            ConsoleError::RateLimited { .. } => "rate_limited",
            ConsoleError::SessionExpired(_) => "session_expired",
            ConsoleError::FrameTooLarge { .. } => "frame_too_large",
            ConsoleError::BinaryFrame => "binary_frame",
            ConsoleError::Refused { .. } => "refused",
            ConsoleError::NotFound(_) => "not_found",
        }
    }

    /// The JSON-RPC error answer to request `id` (null when the request had none readable).
    pub fn answer(&self, id: Option<&RequestId>) -> Value {
        let mut data = serde_json::Map::new();
        data.insert("name".into(), json!(self.name()));
        match self {
            ConsoleError::RateLimited { retry_after_ms } => {
                data.insert("retry_after_ms".into(), json!(retry_after_ms));
            }
            ConsoleError::Refused { kind, .. } => {
                data.insert("refused".into(), json!(kind));
            }
            _ => {}
        }
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": self.code(), "message": self.to_string(), "data": data },
        })
    }
}

/// The JSON-RPC result answer to request `id`.
pub fn result(id: &RequestId, result: Value) -> Value {
    let mut answer = serde_json::Map::new();
    answer.insert("jsonrpc".into(), json!("2.0"));
    answer.insert("id".into(), json!(id));
    answer.insert("result".into(), result);
    Value::Object(answer)
}

/// A notification on subscription `subscription`.
pub fn notification(subscription: u64, topic: Topic, event: Value) -> Value {
    let mut params = serde_json::Map::new();
    params.insert("subscription".into(), json!(subscription));
    params.insert("topic".into(), json!(topic));
    params.insert("event".into(), event);
    json!({ "jsonrpc": "2.0", "method": "subscription", "params": Value::Object(params) })
}

/// The envelope, before the method's parameters are read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    jsonrpc: String,
    id: Option<RequestId>,
    method: String,
    #[serde(default)]
    params: Option<Value>,
}

/// Decodes one text frame. On error, the id is returned too when it could be read, so the
/// answer names the request it refuses.
pub fn decode(frame: &str) -> Result<Call, (Option<RequestId>, ConsoleError)> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err((
            None,
            ConsoleError::FrameTooLarge {
                size: frame.len(),
                max: MAX_FRAME_BYTES,
            },
        ));
    }
    let value: Value =
        serde_json::from_str(frame).map_err(|e| (None, ConsoleError::Parse(e.to_string())))?;
    // The id first, so a request with a bad envelope still gets an answer it can match.
    let id = value
        .get("id")
        .and_then(|v| serde_json::from_value::<RequestId>(v.clone()).ok());
    let envelope: Envelope = serde_json::from_value(value)
        .map_err(|e| (id.clone(), ConsoleError::InvalidRequest(e.to_string())))?;
    if envelope.jsonrpc != "2.0" {
        return Err((
            id,
            ConsoleError::InvalidRequest(format!(
                "jsonrpc must be \"2.0\", not {:?}",
                envelope.jsonrpc
            )),
        ));
    }
    // Notifications (no id) are not part of this protocol: every request is answered.
    let Some(id) = envelope.id else {
        return Err((
            None,
            ConsoleError::InvalidRequest("a request needs an id".into()),
        ));
    };
    let params = envelope.params.unwrap_or(Value::Null);
    let method = method(&envelope.method, params).map_err(|e| (Some(id.clone()), e))?;
    Ok(Call { id, method })
}

fn method(name: &str, params: Value) -> Result<Method, ConsoleError> {
    fn read<T: serde::de::DeserializeOwned>(name: &str, params: Value) -> Result<T, ConsoleError> {
        serde_json::from_value(params).map_err(|e| ConsoleError::InvalidParams {
            method: name.to_string(),
            reason: e.to_string(),
        })
    }
    fn none(name: &str, params: &Value) -> Result<(), ConsoleError> {
        match params {
            Value::Null => Ok(()),
            Value::Object(map) if map.is_empty() => Ok(()),
            Value::Array(items) if items.is_empty() => Ok(()),
            _ => Err(ConsoleError::InvalidParams {
                method: name.to_string(),
                reason: "takes no parameters".into(),
            }),
        }
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        public_key: PublicKey,
        signature: Signature,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Submit {
        encoded: String,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Serial {
        serial: String,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Subscribe {
        topic: Topic,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Unsubscribe {
        subscription: u64,
    }
    Ok(match name {
        "console.challenge" => none(name, &params).map(|()| Method::Challenge)?,
        "console.login" => {
            let Login {
                public_key,
                signature,
            } = read(name, params)?;
            Method::Login {
                public_key,
                signature,
            }
        }
        "console.logout" => none(name, &params).map(|()| Method::Logout)?,
        "console.session" => none(name, &params).map(|()| Method::Session)?,
        "tx.submit" => {
            let Submit { encoded } = read(name, params)?;
            Method::Submit { encoded }
        }
        "bars.list" => none(name, &params).map(|()| Method::Bars)?,
        "bars.history" => {
            let Serial { serial } = read(name, params)?;
            Method::BarHistory { serial }
        }
        "requests.list" => none(name, &params).map(|()| Method::Requests)?,
        "subscribe" => {
            let Subscribe { topic } = read(name, params)?;
            Method::Subscribe { topic }
        }
        "unsubscribe" => {
            let Unsubscribe { subscription } = read(name, params)?;
            Method::Unsubscribe { subscription }
        }
        other => return Err(ConsoleError::MethodNotFound(other.to_string())),
    })
}

/// A login challenge's nonce, from the operating system's generator.
pub fn nonce() -> Hash32 {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    Hash32(bytes)
}
