//! Monitoring of clusters and their consumers: the sampler that stores what brokers,
//! topics and consumer groups look like over time, the Burrow-style lag evaluator, the
//! series and verdicts the API and dashboards show, and alerts.

pub mod alerts;
pub mod collector;
pub mod consumer_groups;
pub mod export;
pub mod fleet;
pub mod lag;
pub mod offsets;
pub mod series;
pub mod webhook;
pub mod webhook_guard;
