//! `broker-agent`: the per-host agent (`run`) and the broker process (`broker`, the
//! bundled engine).

mod agent;
mod broker_cmd;

use std::{io::IsTerminal, process::ExitCode};

use clap::{Parser, Subcommand};

/// Tideway broker agent.
#[derive(Debug, Parser)]
#[command(name = "broker-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Kafka-compatible broker (the bundled engine) on a data directory.
    Broker(Box<broker_cmd::BrokerArgs>),
    /// Run the host agent: register with the control plane and apply its desired state.
    Run(Box<agent::RunArgs>),
}

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Broker(args) => broker_cmd::run(*args),
        Command::Run(args) => agent::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broker-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}
