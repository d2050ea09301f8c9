//! Facts about this host the agent reports: CPUs and memory (storage capacity comes
//! from the volume drivers).

use std::path::Path;

use tideway_api::agents::HostCapacity;

/// CPUs and memory of this host.
pub fn capacity() -> HostCapacity {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    HostCapacity {
        cpus,
        memory_bytes: memory_bytes(Path::new("/proc/meminfo")).unwrap_or(0),
    }
}

fn memory_bytes(meminfo: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(meminfo).ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_are_read() {
        assert!(capacity().cpus >= 1);
        assert!(capacity().memory_bytes > 0);
    }
}
