//! The node process: configuration, actors, HTTP API, mempool relay, attestor, publisher.

pub mod actors;
pub mod api;
pub mod attestor;
pub mod config;
pub mod publisher;
pub mod relay;
