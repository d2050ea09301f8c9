//! `broker-agent`: the per-host agent (`run`) and the broker process (`broker`).
//! The foundation ships only the binary's frame; the engine and agent issues fill it.

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "--version" | "version" => {
            println!(
                "broker-agent {} (engine {})",
                env!("CARGO_PKG_VERSION"),
                tideway_engine::VERSION
            );
            ExitCode::SUCCESS
        }
        other => {
            eprintln!(
                "broker-agent: command {other:?} is not available in this build yet; try --version"
            );
            ExitCode::from(2)
        }
    }
}
