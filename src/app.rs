//! Building and running the application: `Application::build(settings)` binds the listener,
//! connects storage, runs migrations and returns the bound port; `run_until_stopped` serves
//! until the shutdown future resolves, then lets in-flight requests finish.

use std::{future::IntoFuture, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use rand::{Rng, distr::Alphanumeric};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::{
    config::{ProviderKind, Secret, Settings},
    db, delivery,
    delivery::Outbox,
    http,
    jobs::{
        JobId, PipelineError, Signer,
        deadline::{self, Checked, Deadlines, DueJobs},
        estimate::Estimate,
    },
    kv::{Kv, KvScopes},
    llm::Llm,
    metrics,
    provider::{ImageProvider, fal::FalClient, fal_signature::FalVerifier, local::LocalProvider},
    replica::Replica,
    sandbox::{Sandbox, SandboxConfig},
    state::AppState,
    telegram,
};

/// The token the bot uses with the built-in sandbox. Not a real token: the sandbox accepts only it.
pub const SANDBOX_TOKEN: &str = "1:SANDBOX";

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    sandbox: Option<Sandbox>,
    local_provider: Option<LocalProvider>,
}

impl Application {
    /// Binds `LISTEN_ADDR` and builds everything behind it.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("LISTEN_ADDR: cannot bind {}", settings.listen_addr))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Builds on an already bound listener (tests bind port 0 first to learn their URL).
    pub async fn build_with_listener(
        mut settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let local_addr = listener.local_addr()?;
        if settings.telegram_bot_token.is_none() {
            // Only the sandbox's users get coins to try things: a real bot never does by default.
            settings.prices.welcome_bonus = settings
                .prices
                .welcome_bonus
                .max(settings.sandbox.welcome_bonus);
        }
        if settings.telegram_bot_token.is_none() && settings.image_provider == ProviderKind::Local {
            // Entirely offline (sandbox Telegram, local provider): every callback and archive
            // link comes back to this process, so they use the address actually bound, whatever
            // port LISTEN_ADDR picked.
            settings.public_url = Url::parse(&format!("http://{}", loopback(local_addr)))?;
        }
        let db = db::connect(&settings)
            .await
            .context("DATABASE_URL: cannot connect to the database")?;
        db::migrate(&db)
            .await
            .context("database migrations failed")?;
        let identity = db::identity(&db)
            .await
            .context("reading the database identity")?;
        let kv = KvScopes::new(
            &Kv::from_settings(&settings).context("REDIS_URL")?,
            settings.bot_id(),
            &identity,
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.telegram.request_timeout_secs))
            .build()
            .context("HTTP client")?;

        let (bot, webhook_secret, sandbox) = telegram_side(&settings, local_addr, client)?;

        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("HTTP client")?;
        let (provider, local_provider) = image_provider(&settings, &http, local_addr)?;
        let estimate = Estimate::default();
        estimate
            .load(&db)
            .await
            .context("reading recent generation times")?;
        let replica = Replica::new(kv.bot.clone());
        let outbox = Outbox::new(
            Duration::from_millis(settings.delivery.per_chat_interval_ms),
            settings.delivery.per_second,
            kv.db.clone(),
            kv.bot.clone(),
            replica.id(),
        );

        // The provider webhook secret signs our URLs; without one, the Telegram secret does.
        let signer = Signer::new(
            settings
                .provider_webhook_secret
                .clone()
                .unwrap_or_else(|| webhook_secret.clone()),
        );
        let deadlines = Arc::new(Deadlines::new(kv.db.clone()));
        let llm = Llm::from_settings(&settings, http.clone()).map(Arc::new);
        match &llm {
            Some(llm) => tracing::info!(?llm, "prompt help on"),
            None => tracing::info!("prompt help off (no LLM_BASE_URL)"),
        }
        let state = AppState {
            updates_in_flight: Arc::new(Semaphore::new(settings.server.max_updates_in_flight)),
            settings: Arc::new(settings),
            db,
            kv,
            bot,
            webhook_secret: Arc::new(webhook_secret),
            metrics: metrics::handle(),
            http,
            provider,
            signer,
            outbox: Arc::new(outbox),
            replica,
            deadlines,
            estimate: Arc::new(estimate),
            llm,
        };
        Ok(Self {
            listener,
            local_addr,
            state,
            sandbox,
            local_provider,
        })
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests finish
    /// (up to `server.shutdown_grace_secs`) and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        if self.sandbox.is_some() {
            log_sandbox_hint(self.local_addr);
            // The page's command menu shows what the bot registers, as with a real token after
            // `aisha set-webhook`. The listener is bound, so the call waits for the server.
            let bot = self.state.bot.clone();
            tokio::spawn(async move {
                if let Err(e) = telegram::setup::register_commands(&bot, SANDBOX_TOKEN).await {
                    tracing::warn!(error = %e, "sandbox: cannot register the command menu");
                }
            });
        }
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        let extra = [
            self.sandbox.map(|s| s.router()),
            self.local_provider.map(|p| p.router()),
        ]
        .into_iter()
        .flatten()
        .reduce(axum::Router::merge);
        let workers = CancellationToken::new();
        let settings = &self.state.settings;
        let mut sources = delivery::sources::ImageSources::new(
            &settings.delivery.image_hosts,
            &settings.delivery.image_origins,
        );
        if settings.image_provider == ProviderKind::Local {
            let own = Url::parse(&format!("http://{}", loopback(self.local_addr)))?;
            sources = sources.with_origin(&own);
        }
        let worker = delivery::Worker {
            settings: self.state.settings.clone(),
            db: self.state.db.clone(),
            bot: self.state.bot.clone(),
            http: delivery::image_client(&sources).context("image HTTP client")?,
            sources,
            outbox: self.state.outbox.clone(),
            unusable: Arc::new(crate::generation::UnusableImages(self.state.clone())),
            replica: self.state.replica.clone(),
        };
        // Says "alive" until the workers have stopped: nobody takes over a send still under way.
        let alive = CancellationToken::new();
        let liveness = tokio::spawn(self.state.replica.clone().run(alive.clone()));
        let redis_url = self
            .state
            .settings
            .redis_url
            .as_ref()
            .map(|u| u.expose().to_owned());
        let outbox = tokio::spawn(delivery::run(worker, workers.clone()));
        let queued_elsewhere = tokio::spawn(delivery::listen(
            self.state.outbox.clone(),
            redis_url.clone(),
            workers.clone(),
        ));
        let due: Arc<dyn DueJobs> = Arc::new(Due(self.state.clone()));
        let deadlines = tokio::spawn(deadline::run(
            self.state.deadlines.clone(),
            due.clone(),
            workers.clone(),
        ));
        let replicas = tokio::spawn(deadline::listen(
            self.state.deadlines.clone(),
            due,
            redis_url,
            workers.clone(),
        ));
        let permits =
            u32::try_from(self.state.settings.server.max_updates_in_flight).unwrap_or(u32::MAX);
        let handling = self.state.updates_in_flight.clone();
        let router = http::router(self.state, extra);
        let stop = CancellationToken::new();
        let trigger = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        let graceful = stop.clone();
        let server = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { graceful.cancelled().await })
            .into_future();
        let served = tokio::select! {
            result = server => result.context("HTTP server"),
            () = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "in-flight requests did not finish in time; stopping anyway");
                Ok(())
            }
        };
        // Updates whose callers went away are still being handled (they are never cut off
        // halfway): they finish, within the grace period, before the workers stop.
        if tokio::time::timeout(grace, handling.acquire_many_owned(permits))
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "updates still being handled at shutdown; stopping anyway"
            );
        }
        // The background workers stop with the server; unsent pushes stay queued for the next run.
        workers.cancel();
        let _ = tokio::join!(outbox, deadlines, replicas, queued_elsewhere);
        alive.cancel();
        let _ = liveness.await;
        tracing::info!("stopped");
        served
    }
}

/// The Telegram the bot talks to: the configured bot, or the built-in sandbox (with a webhook
/// secret of its own) when no token is set.
fn telegram_side(
    settings: &Settings,
    local_addr: SocketAddr,
    client: reqwest::Client,
) -> anyhow::Result<(teloxide::Bot, Secret, Option<Sandbox>)> {
    Ok(match &settings.telegram_bot_token {
        Some(token) => {
            let secret = settings
                .telegram_webhook_secret
                .clone()
                .context("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_BOT_TOKEN is set")?;
            let bot = telegram::bot(token.expose(), &settings.telegram_api_url, client);
            (bot, secret, None)
        }
        None => {
            let secret = settings
                .telegram_webhook_secret
                .clone()
                .unwrap_or_else(random_secret);
            let sandbox = Sandbox::new(SandboxConfig {
                token: SANDBOX_TOKEN.into(),
                rate_limits: false,
            });
            let here = loopback(local_addr);
            sandbox.set_webhook(
                format!("http://{here}/telegram/webhook"),
                Some(secret.expose().to_owned()),
            );
            let api = Url::parse(&format!("http://{here}/sandbox"))?;
            (
                telegram::bot(SANDBOX_TOKEN, &api, client),
                secret,
                Some(sandbox),
            )
        }
    })
}

/// The image provider: fal, or the local one (which serves its own routes on our listener).
fn image_provider(
    settings: &Settings,
    http: &reqwest::Client,
    local_addr: SocketAddr,
) -> anyhow::Result<(Arc<dyn ImageProvider>, Option<LocalProvider>)> {
    Ok(match settings.image_provider {
        ProviderKind::Local => {
            let base = Url::parse(&format!("http://{}", loopback(local_addr)))?;
            let local = LocalProvider::new(
                http.clone(),
                base,
                Duration::from_millis(settings.local_provider.delay_ms),
            );
            (Arc::new(local.clone()), Some(local))
        }
        ProviderKind::Fal => {
            let key = settings
                .fal_key
                .clone()
                .context("FAL_KEY is required when IMAGE_PROVIDER=fal")?;
            let verifier = FalVerifier::new(http.clone(), settings.fal_jwks_url.clone());
            let fal = FalClient::new(
                http.clone(),
                settings.fal_queue_url.clone(),
                key,
                settings.fal.clone(),
                verifier,
            );
            (Arc::new(fal), None)
        }
    })
}

/// The deadline timer's view of the features that own jobs: which jobs wait, and how to check
/// one whose callback is overdue.
struct Due(AppState);

#[async_trait::async_trait]
impl DueJobs for Due {
    async fn pending(&self) -> Result<Vec<(JobId, chrono::DateTime<chrono::Utc>)>, sea_orm::DbErr> {
        let mut pending = crate::generation::pending(&self.0.db).await?;
        pending.extend(crate::avatar::training::pending(&self.0.db).await?);
        Ok(pending)
    }

    async fn check(&self, job: JobId, retries: u32) -> Result<Checked, PipelineError> {
        match job {
            JobId::Generation(id) => crate::generation::check(&self.0, id.0, retries).await,
            JobId::Training(id) => crate::avatar::training::check(&self.0, id.0, retries).await,
        }
    }
}

/// An address on this machine that reaches the listener (0.0.0.0 is not one you can connect to).
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], addr.port())),
        _ => addr,
    }
}

fn random_secret() -> Secret {
    let secret: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    Secret::new(secret)
}

fn log_sandbox_hint(addr: SocketAddr) {
    tracing::info!(
        "No TELEGRAM_BOT_TOKEN: the bot talks to the built-in sandbox Telegram. \
         Open {} in a browser to chat with it (JSON API under /sandbox/, see the README).",
        browser_url(addr)
    );
}

/// Where a person on this machine opens the playground: `localhost` for a wildcard or loopback
/// address, the address itself otherwise.
fn browser_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() || addr.ip().is_loopback() {
        format!("http://localhost:{}/", addr.port())
    } else {
        format!("http://{addr}/")
    }
}
