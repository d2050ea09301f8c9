//! Kafka's own Java client as a test driver: `tests/java-client/*.java` (`Scenarios` is the
//! entry point), compiled with `javac` against the pinned reference jars into a cache
//! directory named by the sources' hash (so an edit recompiles and concurrent tests share
//! the classes), and run
//! against any bootstrap address. A scenario prints what the client saw, one fact a line.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::reference_kafka::libs_dir;

/// The Java sources, in name order.
fn sources() -> anyhow::Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("java-client");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    sources.retain(|p| p.extension().is_some_and(|e| e == "java"));
    sources.sort();
    Ok(sources)
}

/// The directory holding the compiled scenarios, compiling them if these sources have not
/// been compiled yet.
fn classes() -> anyhow::Result<PathBuf> {
    let sources = sources()?;
    let mut digest = Sha256::new();
    for source in &sources {
        digest.update(std::fs::read(source).with_context(|| format!("{}", source.display()))?);
    }
    let hash = hex(&digest.finalize()[..8]);
    let libs = libs_dir()?;
    let dir = libs
        .parent()
        .context("the libs directory has no parent")?
        .join(format!("scenarios-{hash}"));
    if dir.join("Scenarios.class").exists() {
        return Ok(dir);
    }
    // Compiled beside the final directory and renamed into place, so a concurrent test
    // never sees half the classes.
    let staging = tempfile::tempdir_in(dir.parent().context("no parent")?)?;
    let out = Command::new("javac")
        .args(["-d"])
        .arg(staging.path())
        .args(["-cp", &format!("{}/*", libs.display())])
        .args(&sources)
        .output()
        .context("cannot run javac")?;
    if !out.status.success() {
        bail!(
            "javac failed on {sources:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    match std::fs::rename(staging.keep(), &dir) {
        Ok(()) => Ok(dir),
        Err(_) if dir.join("Scenarios.class").exists() => Ok(dir),
        Err(e) => Err(e).context("cannot move the compiled scenarios into place"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `scenario` against `bootstrap`, with the client properties in `properties` if
/// given: its output lines. Fails with the client's stderr when the scenario failed.
pub fn run(
    scenario: &str,
    bootstrap: &str,
    properties: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    let classpath = format!("{}/*:{}", libs_dir()?.display(), classes()?.display());
    let mut cmd = Command::new("java");
    // The client logs to stdout by default; the output is only what the scenario prints.
    cmd.args([
        "-Dlog4j2.level=OFF",
        "-cp",
        &classpath,
        "Scenarios",
        scenario,
        bootstrap,
    ]);
    if let Some(p) = properties {
        cmd.arg(p);
    }
    let out = cmd.output().context("cannot run java")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "scenario {scenario} against {bootstrap} failed ({}) after:\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout.lines().map(str::to_owned).collect())
}
