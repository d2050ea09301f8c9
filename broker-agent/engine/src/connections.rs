//! What one client, or all of them together, may hold of a broker: connections in total
//! and per address (`max.connections`, `max.connections.per.ip`), how long a connection may
//! sit idle (`connections.max.idle.ms`) or take to send a frame it started, how large a
//! frame may be before the client has logged in (`sasl.server.max.receive.size`), and how
//! many request bytes all connections may hold in memory at once
//! (`queued.max.request.bytes`). The decisions are pure and tested below; the server asks
//! them for every connection and frame.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest frame before authentication, as Kafka's `sasl.server.max.receive.size`.
pub const MAX_FRAME_BEFORE_LOGIN: usize = 512 * 1024;
/// Default `max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default `max-connections-per-ip`.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1_000;
/// Default `connections-max-idle` (Kafka: 10 minutes).
pub const DEFAULT_IDLE: Duration = Duration::from_secs(600);
/// Default `frame-read-timeout`: a started frame must arrive whole within this.
pub const DEFAULT_FRAME_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `queued-max-request-bytes`.
pub const DEFAULT_QUEUED_MAX_REQUEST_BYTES: usize = 512 * 1024 * 1024;

/// The `[connections]` section of the broker's file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConnectionsSection {
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    #[serde(default, with = "crate::config::humantime_serde_opt")]
    pub connections_max_idle: Option<Duration>,
    #[serde(default, with = "crate::config::humantime_serde_opt")]
    pub frame_read_timeout: Option<Duration>,
    pub queued_max_request_bytes: Option<usize>,
}

/// Connection limits, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub idle: Duration,
    pub frame_read_timeout: Duration,
    pub queued_max_request_bytes: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            idle: DEFAULT_IDLE,
            frame_read_timeout: DEFAULT_FRAME_READ_TIMEOUT,
            queued_max_request_bytes: DEFAULT_QUEUED_MAX_REQUEST_BYTES,
        }
    }
}

impl ConnectionsSection {
    /// The limits, with every request frame (`max_request_bytes`) able to fit the queue.
    pub fn config(&self, max_request_bytes: usize) -> Result<ConnectionConfig, String> {
        let d = ConnectionConfig::default();
        let c = ConnectionConfig {
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_connections_per_ip: self
                .max_connections_per_ip
                .unwrap_or(d.max_connections_per_ip),
            idle: self.connections_max_idle.unwrap_or(d.idle),
            frame_read_timeout: self.frame_read_timeout.unwrap_or(d.frame_read_timeout),
            queued_max_request_bytes: self
                .queued_max_request_bytes
                .unwrap_or(d.queued_max_request_bytes.max(max_request_bytes)),
        };
        if c.max_connections == 0 || c.max_connections_per_ip == 0 {
            return Err(
                "[connections] max-connections and max-connections-per-ip must be at least 1"
                    .into(),
            );
        }
        if c.idle.is_zero() || c.frame_read_timeout.is_zero() {
            return Err(
                "[connections] connections-max-idle and frame-read-timeout must be above zero"
                    .into(),
            );
        }
        if c.queued_max_request_bytes < max_request_bytes {
            return Err(format!(
                "[connections] queued-max-request-bytes ({}) must hold at least one largest request (max-request-bytes, {max_request_bytes})",
                c.queued_max_request_bytes
            ));
        }
        if c.queued_max_request_bytes > u32::MAX as usize {
            return Err("[connections] queued-max-request-bytes must be below 4 GiB".into());
        }
        Ok(c)
    }
}

/// Why a connection is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the broker already has its maximum of {0} connections")]
    Total(usize),
    #[error("this address already has its maximum of {0} connections")]
    PerAddress(usize),
}

/// Why a frame's length is refused, before any of it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameRefusal {
    #[error("frame of {0} bytes has a negative length")]
    Negative(i32),
    #[error("frame of {len} bytes before login exceeds {max} bytes")]
    BeforeLogin { len: usize, max: usize },
    #[error("frame of {len} bytes exceeds max-request-bytes ({max})")]
    TooLarge { len: usize, max: usize },
}

/// Checks a frame length the client announced.
pub fn check_frame(
    len: i32,
    logged_in: bool,
    max_request_bytes: usize,
) -> Result<usize, FrameRefusal> {
    let Ok(len) = usize::try_from(len) else {
        return Err(FrameRefusal::Negative(len));
    };
    if !logged_in && len > MAX_FRAME_BEFORE_LOGIN {
        return Err(FrameRefusal::BeforeLogin {
            len,
            max: MAX_FRAME_BEFORE_LOGIN,
        });
    }
    if len > max_request_bytes {
        return Err(FrameRefusal::TooLarge {
            len,
            max: max_request_bytes,
        });
    }
    Ok(len)
}

/// Open connections, counted in total and per address.
#[derive(Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The broker's connection limits and what they have handed out.
pub struct Connections {
    pub config: ConnectionConfig,
    open: Arc<Mutex<Open>>,
    queued: Arc<Semaphore>,
}

/// A connection's place; dropping it frees the place.
pub struct Admitted {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

impl Connections {
    pub fn new(config: ConnectionConfig) -> Connections {
        let queued = Arc::new(Semaphore::new(config.queued_max_request_bytes));
        Connections {
            config,
            open: Arc::default(),
            queued,
        }
    }

    /// Admits a connection from `ip`, or says which limit it would break.
    pub fn admit(&self, ip: IpAddr) -> Result<Admitted, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.config.max_connections {
            return Err(Refusal::Total(self.config.max_connections));
        }
        let mine = open.per_ip.entry(ip).or_insert(0);
        if *mine >= self.config.max_connections_per_ip {
            return Err(Refusal::PerAddress(self.config.max_connections_per_ip));
        }
        *mine += 1;
        open.total += 1;
        Ok(Admitted {
            open: self.open.clone(),
            ip,
        })
    }

    /// Reserves room for a frame of `len` bytes in the shared request budget, waiting while
    /// other connections hold it (the client is simply not read from meanwhile).
    pub async fn reserve(&self, len: usize) -> OwnedSemaphorePermit {
        // `len` is at most max-request-bytes, which validation keeps within the budget
        // and below u32::MAX; the semaphore is never closed.
        self.queued
            .clone()
            .acquire_many_owned(len as u32)
            .await
            .expect("the request budget is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Connections {
        Connections::new(ConnectionConfig {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..ConnectionConfig::default()
        })
    }

    #[test]
    fn connections_are_capped_per_address_and_in_total_and_freed_on_drop() {
        let c = limits(3, 2);
        let (a, b): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        let a1 = c.admit(a).expect("first");
        let _a2 = c.admit(a).expect("second");
        assert_eq!(c.admit(a).err(), Some(Refusal::PerAddress(2)));
        let _b1 = c.admit(b).expect("another address");
        assert_eq!(c.admit(b).err(), Some(Refusal::Total(3)));
        drop(a1);
        assert!(c.admit(b).is_ok(), "a freed place is reused");
    }

    #[test]
    fn frames_are_checked_before_they_are_read() {
        let max = 1 << 20;
        for (len, logged_in, want) in [
            (100, false, Ok(100)),
            (512 * 1024, false, Ok(512 * 1024)),
            (
                512 * 1024 + 1,
                false,
                Err(FrameRefusal::BeforeLogin {
                    len: 512 * 1024 + 1,
                    max: MAX_FRAME_BEFORE_LOGIN,
                }),
            ),
            (512 * 1024 + 1, true, Ok(512 * 1024 + 1)),
            (
                (1 << 20) + 1,
                true,
                Err(FrameRefusal::TooLarge {
                    len: (1 << 20) + 1,
                    max,
                }),
            ),
            (-1, true, Err(FrameRefusal::Negative(-1))),
        ] {
            assert_eq!(check_frame(len, logged_in, max), want, "{len} {logged_in}");
        }
    }

    #[test]
    fn the_request_budget_must_hold_the_largest_request() {
        let section = ConnectionsSection {
            queued_max_request_bytes: Some(1000),
            ..Default::default()
        };
        assert!(section
            .config(2000)
            .expect_err("too small")
            .contains("must hold at least one largest request"));
        assert_eq!(
            section.config(1000).expect("fits").queued_max_request_bytes,
            1000
        );
        let default = ConnectionsSection::default()
            .config(100 << 20)
            .expect("defaults");
        assert_eq!(default, ConnectionConfig::default());
        let zero = ConnectionsSection {
            max_connections_per_ip: Some(0),
            ..Default::default()
        };
        assert!(zero.config(1).is_err());
    }
}
