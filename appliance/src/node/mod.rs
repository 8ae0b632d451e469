//! The node process: configuration, actors, HTTP API, mempool relay, attestor, publisher.

pub mod actors;
pub mod api;
pub mod attestor;
pub mod config;
pub mod openapi;
pub mod publisher;
pub mod relay;
pub mod views;

/// The wall clock, in milliseconds since the Unix epoch (0 before it, saturating far after).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
