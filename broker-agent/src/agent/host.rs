//! Facts about this host the agent reports: CPUs and memory at registration (storage
//! capacity comes from the volume drivers), and with every heartbeat how busy the CPUs
//! were since the last one and how much memory is in use.

use std::path::Path;

use tideway_api::agents::{HostCapacity, HostMetrics};

/// CPUs and memory of this host.
pub fn capacity() -> HostCapacity {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    HostCapacity {
        cpus,
        memory_bytes: meminfo_bytes(Path::new("/proc/meminfo"), "MemTotal:").unwrap_or(0),
    }
}

fn meminfo_bytes(meminfo: &Path, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(meminfo).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// (busy, total) jiffies of all CPUs from `/proc/stat`.
fn cpu_jiffies(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait are not busy.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Measures CPU use between calls.
#[derive(Default)]
pub struct HostSampler {
    last: Option<(u64, u64)>,
}

impl HostSampler {
    /// CPU use since the previous call (0 on the first), memory in use, and the running
    /// brokers.
    pub fn sample(&mut self, brokers_running: u32) -> HostMetrics {
        let now = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| cpu_jiffies(&s));
        let cpu_percent = match (self.last, now) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                (b1.saturating_sub(b0) as f32 / (t1 - t0) as f32 * 100.0).clamp(0.0, 100.0)
            }
            _ => 0.0,
        };
        self.last = now.or(self.last);
        let meminfo = Path::new("/proc/meminfo");
        let total = meminfo_bytes(meminfo, "MemTotal:").unwrap_or(0);
        let available = meminfo_bytes(meminfo, "MemAvailable:").unwrap_or(total);
        HostMetrics {
            cpu_percent,
            memory_used_bytes: total.saturating_sub(available),
            memory_total_bytes: total,
            brokers_running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_are_read() {
        assert!(capacity().cpus >= 1);
        assert!(capacity().memory_bytes > 0);
        let mut sampler = HostSampler::default();
        sampler.sample(0);
        let m = sampler.sample(2);
        assert!((0.0..=100.0).contains(&m.cpu_percent));
        assert!(m.memory_used_bytes > 0 && m.memory_used_bytes <= m.memory_total_bytes);
        assert_eq!(m.brokers_running, 2);
    }

    #[test]
    fn busy_share_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(cpu_jiffies(stat), Some((200, 1000)));
    }
}
