//! The flags the broker benchmarks share: `--dir DIR` (their data goes in a new directory
//! inside it; /var/tmp/tideway-bench by default) and `--scale F` (record counts times F,
//! never below 1000); `arg` reads any other `--name VALUE`.

use std::path::PathBuf;

/// The value after `--name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A new directory for this run's data under `--dir`, removed when dropped.
pub fn data_dir() -> anyhow::Result<tempfile::TempDir> {
    let base = PathBuf::from(arg("--dir").unwrap_or_else(|| "/var/tmp/tideway-bench".into()));
    std::fs::create_dir_all(&base)?;
    Ok(tempfile::tempdir_in(&base)?)
}

/// Record counts scaled by `--scale`.
#[derive(Clone, Copy)]
pub struct Scale(f64);

impl Scale {
    pub fn from_args() -> anyhow::Result<Scale> {
        Ok(Scale(
            arg("--scale")
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(1.0),
        ))
    }

    /// `records` at this scale, at least 1000.
    pub fn records(self, records: f64) -> u64 {
        (records * self.0).max(1000.0) as u64
    }
}
