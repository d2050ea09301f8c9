//! Tideway control plane: REST API, web UI, approvals and quotas over PostgreSQL.

pub mod auth;
pub mod canary;
pub mod cluster_pki;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod kafka_admin;
pub mod leader;
pub mod monitoring;
pub mod openapi;
pub mod reconciler;
pub mod secrets;
pub mod service;
pub mod state;

pub use http::app;
pub use state::AppState;
