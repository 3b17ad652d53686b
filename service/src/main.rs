//! `wallet-backup-service`: the command line.
//!
//! - `serve` runs the HTTP service (creating the data directory, SQLite
//!   database and KMS key file on first start) and prints
//!   `listening on http://ADDR` on stdout once it accepts connections;
//! - `create-client` creates a client and prints its API key, alone on one
//!   stdout line (the only time it is shown);
//! - `kms rotate` adds a new current master key; `kms rewrap` re-wraps every
//!   stored data key under the current master key.
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};
use wallet_backup_service::{open_backend, start, Backend, RateLimit, ServeConfig, Statics};

#[derive(Parser)]
#[command(name = "wallet-backup-service", version, about = "Backup service for wallet-backup")]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct BackendArgs {
    /// Directory for the SQLite database and the KMS key file (created on first start).
    #[arg(long, global = true, default_value = "./data", env = "WALLET_BACKUP_DATA_DIR")]
    data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://user:pass@host/db`); default: the SQLite file in --data-dir.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// KMS master key file; default `<data-dir>/kms-master-keys.json`.
    #[arg(long, global = true, env = "WALLET_BACKUP_KMS_FILE")]
    kms_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Address to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Serve this directory's files at / (the demo page).
        #[arg(long)]
        www: Option<PathBuf>,
        /// Serve this directory's files at /pkg/ (needs --www).
        #[arg(long, requires = "www")]
        pkg: Option<PathBuf>,
        /// Sustained requests per second per API key (0: no limit).
        #[arg(long, default_value_t = 20.0)]
        rate_limit: f64,
        /// Requests per API key allowed at once.
        #[arg(long, default_value_t = 40)]
        rate_burst: u32,
    },
    /// Create a client and print its API key (shown only this once).
    CreateClient {
        /// A name for the client.
        #[arg(long)]
        name: String,
        /// Whether the service keeps the client's cipherTexts.
        #[arg(long, default_value_t = true, action = ArgAction::Set)]
        managed_backups: bool,
    },
    /// Manage the local KMS.
    Kms {
        #[command(subcommand)]
        command: KmsCommand,
    },
}

#[derive(Subcommand)]
enum KmsCommand {
    /// Add a new master key and make it current (old keys stay, so old records still open).
    Rotate,
    /// Re-wrap every stored data key under the current master key.
    Rewrap,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

async fn run(cli: Cli) -> Result<(), BoxError> {
    let backend = Backend {
        data_dir: cli.backend.data_dir,
        database_url: cli.backend.database_url,
        kms_file: cli.backend.kms_file,
    };
    match cli.command {
        Command::Serve { listen, www, pkg, rate_limit, rate_burst } => {
            if !(rate_limit.is_finite() && rate_limit >= 0.0) {
                return Err("--rate-limit must be a number >= 0".into());
            }
            let statics = www.map(|www| Statics { www, pkg });
            let config = ServeConfig {
                listen,
                backend,
                statics,
                rate_limit: RateLimit { per_second: rate_limit, burst: rate_burst },
            };
            let mut running = start(config).await?;
            println!("listening on http://{}", running.addr());
            shutdown_signal().await;
            tracing::info!("shutting down");
            running.signal_shutdown();
            running.wait().await?;
            Ok(())
        }
        Command::CreateClient { name, managed_backups } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err("--name must be 1 to 200 characters, without control characters".into());
            }
            let (store, _kms) = open_backend(&backend).await?;
            let (client, key) = store.create_client(name, managed_backups).await?;
            store.close().await;
            eprintln!("created client {} ({}), managed backups {}", client.id, client.name, client.managed_backups);
            println!("{}", key.expose());
            Ok(())
        }
        Command::Kms { command: KmsCommand::Rotate } => {
            let (store, kms) = open_backend(&backend).await?;
            store.close().await;
            let id = kms.rotate()?;
            eprintln!(
                "new current master key {id} in {}; run `kms rewrap` to move stored records to it",
                kms.path().display()
            );
            println!("{id}");
            Ok(())
        }
        Command::Kms { command: KmsCommand::Rewrap } => {
            let (store, kms) = open_backend(&backend).await?;
            let report = store.rewrap_all(&kms).await;
            let counts = store.key_id_counts().await;
            store.close().await;
            let report = report?;
            eprintln!("re-wrapped {} record(s) under {}", report.rewrapped, report.key_id);
            for (key_id, n) in counts? {
                eprintln!("  {key_id}: {n} record(s)");
            }
            if !report.failed.is_empty() {
                return Err(format!(
                    "{} record(s) could not be unwrapped and were left as they were: {}",
                    report.failed.len(),
                    report.failed.join(", ")
                )
                .into());
            }
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
