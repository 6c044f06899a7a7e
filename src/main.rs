//! The `aisha` command line: serve (the default), migrate, set-webhook, delete-webhook.

use std::{path::PathBuf, process::ExitCode};

use aisha::{Application, Settings, admin, db, telegram::setup};
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
    /// Operator commands on the configured database.
    #[command(subcommand)]
    Admin(Admin),
    /// Send the kept dead letters through the running bot's webhook again (after a fix): each
    /// one it answers 200 is removed (one that fails again is kept anew by the bot).
    ReplayDeadLetters {
        /// The running bot's base URL; default: http://127.0.0.1:<LISTEN_ADDR's port>.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Give a user coins.
    Grant {
        #[arg(long)]
        telegram_id: i64,
        /// Must be positive (negative input gets a clear error rather than a parse error).
        #[arg(long, allow_negative_numbers = true)]
        coins: i64,
        #[arg(long)]
        reason: Option<String>,
        /// Idempotency key: re-running with the same key grants nothing more.
        #[arg(long)]
        key: Option<String>,
    },
    /// A user's balance, ledger and counts.
    User { telegram_id: i64 },
    /// Check balance == sum(ledger) for every user; exits non-zero on any mismatch.
    Audit,
    /// Refund a Telegram Stars payment and take its coins back.
    RefundStars { charge_id: String },
    /// Promo codes.
    #[command(subcommand)]
    Promo(Promo),
    /// Drop this bot's cached database facts from Redis (locks and flags named after row ids).
    /// Run it after restoring the database from a backup; safe while the bot runs.
    DropCache {
        /// The built-in sandbox's bot (no TELEGRAM_BOT_TOKEN).
        #[arg(long)]
        sandbox: bool,
    },
    /// Give this database a new identity: run it on a copy of a database (a dump restored for
    /// staging) before a bot starts on it, so it shares nothing cached with the original.
    NewDatabaseIdentity,
}

#[derive(Subcommand)]
enum Promo {
    /// Create a code.
    Create {
        code: String,
        #[arg(long, allow_negative_numbers = true)]
        coins: i64,
        #[arg(long, allow_negative_numbers = true)]
        max_uses: Option<i64>,
        /// YYYY-MM-DD (end of that day, UTC) or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List codes with their uses and state.
    List,
    /// Stop a code from being redeemed.
    Disable { code: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The defaults are built in; AISHA_CONFIG_DIR (or a ./config folder where there is one)
    // adds files that override them.
    let config_dir = std::env::var_os("AISHA_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("config")).filter(|dir| dir.is_dir()));
    let env = std::env::var("AISHA_ENV").unwrap_or_else(|_| "development".into());
    let settings = match Settings::load(config_dir.as_deref(), &env, std::env::vars()) {
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
    match &config_dir {
        Some(dir) => tracing::info!(env = %env, folder = %dir.display(),
            "configuration: built-in defaults, overridden by the folder's files"),
        None => tracing::info!(env = %env, "configuration: built-in defaults"),
    }

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
        Command::ReplayDeadLetters { url } => {
            let conn = db::connect(&settings).await?;
            db::migrate(&conn).await?;
            println!(
                "{}",
                admin::replay_dead_letters(&conn, &settings, url).await?
            );
            Ok(())
        }
        Command::Admin(command) => {
            let conn = db::connect(&settings).await?;
            db::migrate(&conn).await?;
            let out = match command {
                Admin::Grant {
                    telegram_id,
                    coins,
                    reason,
                    key,
                } => {
                    admin::grant(&conn, telegram_id, coins, reason.as_deref(), key.as_deref())
                        .await?
                }
                Admin::User { telegram_id } => admin::user_report(&conn, telegram_id).await?,
                Admin::Audit => admin::audit(&conn).await?,
                Admin::RefundStars { charge_id } => {
                    let bot = setup::bot_from(&settings)?.0;
                    admin::refund_stars(&conn, &bot, &charge_id).await?
                }
                Admin::Promo(Promo::Create {
                    code,
                    coins,
                    max_uses,
                    expires,
                }) => {
                    admin::promo_create(&conn, &code, coins, max_uses, expires.as_deref()).await?
                }
                Admin::Promo(Promo::List) => admin::promo_list(&conn).await?,
                Admin::Promo(Promo::Disable { code }) => admin::promo_disable(&conn, &code).await?,
                Admin::DropCache { sandbox } => admin::drop_cache(&settings, sandbox).await?,
                Admin::NewDatabaseIdentity => admin::new_database_identity(&conn).await?,
            };
            println!("{}", out.trim_end());
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
