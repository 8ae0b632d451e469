//! The node process: configuration, actors, HTTP API.

pub mod actors;
pub mod api;
pub mod attestor;
pub mod config;
pub mod publisher;
