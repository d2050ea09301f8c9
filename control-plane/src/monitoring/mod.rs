//! Monitoring of clusters and their consumers. So far: the consumer-lag evaluator, which
//! turns windows of offsets into Burrow-style verdicts.

pub mod lag;
