//! `control-plane`: serve the platform, reseal its secrets, or write the OpenAPI document.

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use control_plane::{
    config::{Cli, Command, ServeConfig},
    db, http, monitoring, openapi, reconciler, service, AppState,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Reseal(config) => reseal(*config).await,
        Command::Openapi { out } => openapi::write(&out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("control-plane: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// Rewrites sealed secrets with the newest sealing key.
async fn reseal(config: ServeConfig) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !config.seal_keys.is_empty(),
        "set TIDEWAY_SEAL_KEYS (the new key first) before resealing"
    );
    let metrics = http::metrics::install()?;
    let pool = db::connect_and_migrate(&config.database_url, 2).await?;
    let state = AppState::new(config, pool, metrics).map_err(anyhow::Error::msg)?;
    let n = service::security::reseal_all(&state).await?;
    println!("resealed {n} secrets with the newest sealing key");
    Ok(())
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let metrics = http::metrics::install()?;
    let pool = db::connect_and_migrate(&config.database_url, config.db_connections).await?;
    let admin_username = config.admin_username.clone();
    let admin_password = config.admin_password.clone();
    let listen = config.listen;
    if config.seal_keys.is_empty() {
        tracing::warn!(
            "TIDEWAY_SEAL_KEYS is not set: secrets are sealed with a key derived from the \
             signing secret; set a sealing key of its own and run `control-plane reseal`"
        );
    }
    let state = AppState::new(config, pool, metrics).map_err(anyhow::Error::msg)?;
    service::users::bootstrap_admin(&state, &admin_username, admin_password.as_deref()).await?;
    reconciler::spawn(state.clone(), state.config.reconcile_interval);
    monitoring::collector::spawn(state.clone());

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("failed to listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    // The harness and the launcher read this line to learn the port.
    println!("tideway control plane listening on http://{addr}");
    tracing::info!(%addr, "listening");
    if let Some(ops) = state.config.ops_listen {
        let listener = tokio::net::TcpListener::bind(ops)
            .await
            .map_err(|e| anyhow::anyhow!("failed to listen on {ops} (--ops-listen): {e}"))?;
        let addr = listener.local_addr()?;
        println!("tideway operations endpoints on http://{addr}");
        let app = http::ops_app(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the operations listener failed");
            }
        });
    }
    axum::serve(
        listener,
        http::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| anyhow::anyhow!("server failed: {e}"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
