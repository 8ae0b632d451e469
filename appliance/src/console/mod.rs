//! The vault console: JSON-RPC 2.0 over a websocket for vault staff (`docs/console-protocol.md`).
//! `protocol` decodes every frame (pure), `session` holds a connection's login, idle logout and
//! rate limit (pure, time passed in), `server` is the tokio-tungstenite service on the node.

pub mod protocol;
pub mod server;
pub mod session;
