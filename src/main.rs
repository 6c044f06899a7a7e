//! The `aisha` command line: serve (the default), migrate, set-webhook, delete-webhook.

use std::{path::PathBuf, process::ExitCode};

use aisha::{Application, Settings, db, telegram::setup};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "aisha", version, about = "Aisha: AI avatar Telegram bot")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Register PUBLIC_URL/telegram/webhook and the command list with Telegram.
    SetWebhook,
    /// Remove the webhook from Telegram.
    DeleteWebhook,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_dir =
        std::env::var_os("AISHA_CONFIG_DIR").map_or_else(|| PathBuf::from("config"), PathBuf::from);
    let env = std::env::var("AISHA_ENV").unwrap_or_else(|_| "development".into());
    let settings = match Settings::load(&config_dir, &env, std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("aisha: {e}");
            return ExitCode::FAILURE;
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aisha: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("aisha: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(addr = %app.local_addr(), "listening");
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate => {
            let conn = db::connect(&settings).await?;
            db::migrate(&conn).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::SetWebhook => {
            let url = setup::set_webhook(&settings).await?;
            println!("webhook set to {url}; commands registered");
            Ok(())
        }
        Command::DeleteWebhook => {
            setup::delete_webhook(&settings).await?;
            println!("webhook deleted");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
