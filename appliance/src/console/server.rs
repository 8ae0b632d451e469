//! The console's websocket server (tokio-tungstenite) on its own listen address: the Origin
//! allow-list at the handshake, frame limits, per-connection rate limits, ping/pong keep-alive,
//! staff sessions that idle out, and the methods of `docs/console-protocol.md`. It holds no
//! staff key: every change is a transaction the staff member signed, admitted by the same rule
//! as the HTTP API's (`api::admit`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lightclient::hash::Hash32;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame, http};

use super::protocol::{self, Call, ConsoleError, MAX_FRAME_BYTES, Method, Topic};
use super::session::{Connection, Limits, StaffAccount};
use crate::admission::decode_encoded;
use crate::node::api::{ApiState, admit, read};
use crate::node::now_ms;
use crate::node::views::AuditView;

/// The console's settings (`[console]` in the node's configuration).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Where the websocket listens.
    pub listen: SocketAddr,
    /// This node's name in login challenges (so a login cannot be replayed to another node).
    pub name: String,
    /// The pages allowed to connect (their `Origin`, e.g. `http://127.0.0.1:18080`). A client
    /// that sends no Origin (a terminal client) is let through; a browser always sends one.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// A session with no request for this long is logged out, seconds (default 600).
    #[serde(default = "default_idle")]
    pub idle_logout_secs: u64,
    /// A session ends this long after login, seconds (default 8 hours).
    #[serde(default = "default_lifetime")]
    pub session_lifetime_secs: u64,
    /// Requests a connection may make per second after a burst of twice as many (default 20).
    #[serde(default = "default_rate")]
    pub requests_per_second: u64,
}

fn default_idle() -> u64 {
    600
}
fn default_lifetime() -> u64 {
    8 * 3600
}
fn default_rate() -> u64 {
    20
}

impl ConsoleSettings {
    fn limits(&self) -> Limits {
        Limits {
            idle_ms: self.idle_logout_secs.saturating_mul(1000),
            lifetime_ms: self.session_lifetime_secs.saturating_mul(1000),
            burst: self.requests_per_second.saturating_mul(2),
            per_second: self.requests_per_second,
            ..Limits::default()
        }
    }
}

/// How often a connection is pinged; one that has not answered two pings is closed.
const PING_EVERY: Duration = Duration::from_secs(15);
/// How often subscriptions look for new blocks.
const POLL_EVERY: Duration = Duration::from_millis(300);

/// Serves the console on `listener` until the process ends.
pub async fn serve(listener: TcpListener, settings: Arc<ConsoleSettings>, api: ApiState) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (settings, api) = (Arc::clone(&settings), api.clone());
                actix_web::rt::spawn(async move {
                    if let Err(e) = connection(stream, settings, api).await {
                        tracing::debug!(%peer, error = %e, "console connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "console accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Refuses a handshake whose Origin is not allowed, by name.
#[allow(clippy::result_large_err)] // tungstenite's handshake callback answers with this type
fn check_origin(allowed: &[String], request: &Request) -> Result<(), ErrorResponse> {
    let Some(origin) = request.headers().get(http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    if allowed.iter().any(|a| a == origin) {
        return Ok(());
    }
    let mut refusal = ErrorResponse::new(Some(format!(
        "{{\"error\":\"origin_not_allowed\",\"message\":\"pages from {origin:?} may not use this console\"}}"
    )));
    *refusal.status_mut() = http::StatusCode::FORBIDDEN;
    Err(refusal)
}

async fn connection(
    stream: TcpStream,
    settings: Arc<ConsoleSettings>,
    api: ApiState,
) -> Result<(), WsError> {
    let allowed = settings.allowed_origins.clone();
    #[allow(clippy::result_large_err)] // tungstenite's handshake callback type
    let callback = move |request: &Request, response: Response| {
        check_origin(&allowed, request).map(|()| response)
    };
    // Frames up to four times the console's limit are read and refused with an answer; larger
    // ones close the connection (1009) before they are buffered.
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME_BYTES.saturating_mul(4)))
        .max_message_size(Some(MAX_FRAME_BYTES.saturating_mul(4)));
    let socket =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await?;
    let (mut sink, mut frames) = socket.split();
    let mut state = ConnectionState {
        connection: Connection::new(rand::random(), settings.limits(), now_ms()),
        settings,
        api,
        subscriptions: Vec::new(),
        next_subscription: 1,
        seen_height: 0,
    };
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut poll = tokio::time::interval(POLL_EVERY);
    let mut unanswered_pings = 0u32;
    loop {
        tokio::select! {
            frame = frames.next() => {
                let Some(frame) = frame else { return Ok(()) };
                let answer = match frame? {
                    Frame::Text(text) => Some(state.handle(text.as_str()).await),
                    Frame::Binary(_) => Some(ConsoleError::BinaryFrame.answer(None)),
                    Frame::Pong(_) => { unanswered_pings = 0; None }
                    Frame::Close(_) => return Ok(()),
                    _ => None,
                };
                if let Some(answer) = answer {
                    sink.send(Frame::text(answer.to_string())).await?;
                }
            }
            _ = ping.tick() => {
                if unanswered_pings >= 2 {
                    return Ok(());
                }
                unanswered_pings = unanswered_pings.saturating_add(1);
                sink.send(Frame::Ping(Vec::new().into())).await?;
            }
            _ = poll.tick() => {
                for message in state.expire_and_notify().await {
                    sink.send(Frame::text(message.to_string())).await?;
                }
            }
        }
    }
}

/// What one connection holds.
struct ConnectionState {
    connection: Connection,
    settings: Arc<ConsoleSettings>,
    api: ApiState,
    subscriptions: Vec<(u64, Topic)>,
    next_subscription: u64,
    /// The height up to which subscribers have been told.
    seen_height: u64,
}

impl ConnectionState {
    async fn handle(&mut self, frame: &str) -> Value {
        let now = now_ms();
        if let Err(e) = self.connection.admit_request(now) {
            return e.answer(None);
        }
        let call = match protocol::decode(frame) {
            Ok(call) => call,
            Err((id, e)) => return e.answer(id.as_ref()),
        };
        match self.dispatch(&call, now).await {
            Ok(result) => protocol::result(&call.id, result),
            Err(e) => e.answer(Some(&call.id)),
        }
    }

    async fn dispatch(&mut self, call: &Call, now: u64) -> Result<Value, ConsoleError> {
        if call.method.needs_session() {
            self.connection.active_session(now)?;
        }
        match &call.method {
            Method::Challenge => {
                let genesis = self.chain(|c| Ok(c.genesis_hash())).await?;
                let challenge =
                    self.connection
                        .challenge(genesis, &self.settings.name, protocol::nonce(), now);
                Ok(json!(challenge))
            }
            Method::Login {
                public_key,
                signature,
            } => {
                let key = *public_key;
                let account = self
                    .chain(move |c| {
                        let state = c.state();
                        Ok(state
                            .account_of_key(&key)
                            .and_then(|id| state.account(&id))
                            .map(|a| StaffAccount {
                                id: a.id,
                                roles: a.roles.iter().copied().collect(),
                                kyc: a.kyc,
                            }))
                    })
                    .await?;
                let session = self
                    .connection
                    .login(public_key, signature, now, |_| account)?;
                Ok(session_json(session))
            }
            Method::Logout => Ok(json!({ "logged_out": self.connection.logout() })),
            Method::Session => {
                let deadline = self.connection.session_deadline();
                let session = self.connection.active_session(now)?;
                let mut answer = session_json(session);
                if let Some(object) = answer.as_object_mut() {
                    object.insert("expires_at_ms".into(), json!(deadline));
                }
                Ok(answer)
            }
            Method::Submit { encoded } => {
                let account = self.connection.active_session(now)?.account;
                let tx = decode_encoded(encoded).map_err(|e| ConsoleError::Refused {
                    kind: e.kind().to_string(),
                    message: e.to_string(),
                })?;
                if tx.transaction.signer != account {
                    return Err(ConsoleError::Refused {
                        kind: "not_your_session".into(),
                        message: format!(
                            "the transaction is signed by {}, not by the logged-in account {account}",
                            tx.transaction.signer
                        ),
                    });
                }
                let txid = admit(&self.api, tx, true)
                    .await
                    .map_err(|r| ConsoleError::Refused {
                        kind: r.kind.to_string(),
                        message: r.message,
                    })?;
                Ok(json!({ "txid": txid, "status": "pending" }))
            }
            Method::Bars => {
                let bars = self
                    .chain(|c| Ok(crate::node::views::bar_views(c, |_, _| true)))
                    .await?;
                Ok(json!({ "bars": bars }))
            }
            Method::BarHistory { serial } => {
                let serial = serial.clone();
                let history = self.chain(move |c| bar_history(c, &serial)).await?;
                Ok(json!({ "history": history }))
            }
            Method::Requests => {
                let requests = self
                    .chain(|c| {
                        Ok(c.state()
                            .requests()
                            .filter(|r| r.status == crate::ledger::RequestStatus::Pending)
                            .map(crate::node::views::RequestView::of)
                            .collect::<Vec<_>>())
                    })
                    .await?;
                Ok(json!({ "requests": requests }))
            }
            Method::Subscribe { topic } => {
                let id = self.next_subscription;
                self.next_subscription = id.saturating_add(1);
                if self.seen_height == 0 {
                    self.seen_height = self.chain(|c| Ok(c.height())).await?;
                }
                self.subscriptions.push((id, *topic));
                Ok(json!({ "subscription": id, "topic": topic }))
            }
            Method::Unsubscribe { subscription } => {
                let before = self.subscriptions.len();
                self.subscriptions.retain(|(id, _)| id != subscription);
                if self.subscriptions.len() == before {
                    return Err(ConsoleError::NotFound(format!(
                        "no subscription {subscription}"
                    )));
                }
                Ok(json!({ "unsubscribed": subscription }))
            }
        }
    }

    /// Reads the chain; a chain that does not answer is `internal`.
    async fn chain<R: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::chain::Chain) -> Result<R, crate::chain::ChainError> + Send + 'static,
    ) -> Result<R, ConsoleError> {
        read(&self.api, f)
            .await
            .map_err(|_| ConsoleError::Internal("the chain is not answering".into()))
    }

    /// Ends a session that idled out (telling the client), and sends subscribers what the new
    /// blocks changed.
    async fn expire_and_notify(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        let now = now_ms();
        if self.connection.session_deadline().is_some_and(|d| now > d)
            && let Err(e) = self.connection.active_session(now)
        {
            out.push(json!({
                "jsonrpc": "2.0",
                "method": "session_ended",
                "params": { "name": e.name(), "message": e.to_string() },
            }));
            self.subscriptions.clear();
        }
        if self.subscriptions.is_empty() {
            return out;
        }
        let from = self.seen_height;
        let Ok((height, entries)) = self
            .chain(move |c| {
                let to = c.height();
                let entries = if to > from {
                    c.store().audit_between(from.saturating_add(1), to)?
                } else {
                    Vec::new()
                };
                Ok((to, entries))
            })
            .await
        else {
            return out;
        };
        self.seen_height = height.max(self.seen_height);
        for (id, topic) in &self.subscriptions {
            let events: Vec<AuditView> = entries
                .iter()
                .filter(|e| topic_of(&e.action) == Some(*topic))
                .cloned()
                .map(AuditView::from)
                .collect();
            if !events.is_empty() {
                out.push(protocol::notification(
                    *id,
                    *topic,
                    json!({ "height": height, "entries": events }),
                ));
            }
        }
        out
    }
}

fn session_json(session: &super::session::Session) -> Value {
    json!({
        "account": session.account,
        "public_key": session.public_key,
        "roles": session.roles,
        "started_ms": session.started_ms,
    })
}

/// The topic an audit action belongs to.
fn topic_of(action: &str) -> Option<Topic> {
    match action {
        "register_item" | "move_item" | "retire_item" | "release_item" => Some(Topic::Bars),
        "request_issuance" | "request_redemption" | "review_request" => Some(Topic::Requests),
        "update_mapping" => Some(Topic::Mapping),
        "settle" => Some(Topic::Settlements),
        _ => None,
    }
}

/// Who registered, moved, mapped and released a bar, at which heights: the audit entries of the
/// transactions that name it.
fn bar_history(
    chain: &crate::chain::Chain,
    serial: &str,
) -> Result<Vec<AuditView>, crate::chain::ChainError> {
    use lightclient::tx::Operation;
    let store = chain.store();
    let mut history = Vec::new();
    for entry in store.audit_between(0, chain.height())? {
        let names_it = match entry.action.as_str() {
            "release_item" => entry.detail.contains(serial),
            "register_item" | "move_item" | "retire_item" | "request_issuance"
            | "update_mapping" => transaction_names_bar(chain, &entry.txid, |op| match op {
                Operation::RegisterItem { serial: s, .. }
                | Operation::MoveItem { serial: s, .. }
                | Operation::RetireItem { serial: s } => s == serial,
                Operation::RequestIssuance { serials, .. } => serials.iter().any(|s| s == serial),
                Operation::UpdateMapping { mapping } => {
                    String::from_utf8_lossy(mapping).contains(&format!("\"vref\":\"{serial}\""))
                }
                _ => false,
            })?,
            _ => false,
        };
        if names_it {
            history.push(AuditView::from(entry));
        }
    }
    Ok(history)
}

fn transaction_names_bar(
    chain: &crate::chain::Chain,
    txid: &Hash32,
    names: impl Fn(&lightclient::tx::Operation) -> bool,
) -> Result<bool, crate::chain::ChainError> {
    let store = chain.store();
    let Some((height, index)) = store.find_transaction(txid)? else {
        return Ok(false);
    };
    let Some(block) = store.block(height)? else {
        return Ok(false);
    };
    Ok(usize::try_from(index)
        .ok()
        .and_then(|i| block.transactions.get(i))
        .is_some_and(|tx| names(&tx.transaction.operation)))
}
