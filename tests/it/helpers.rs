//! The one test harness: spawns the app and a standalone sandbox Telegram, and acts as users.

use std::{path::Path, time::Duration};

use aisha::{
    Application, Settings,
    kv::{Kv, KvStore},
    sandbox::{Sandbox, SandboxConfig},
    telegram::setup,
};
use figment::{Figment, providers::Serialized};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "123456:TEST-TOKEN";
pub const SECRET: &str = "test_webhook-secret";

/// Which storage a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// SQLite file + in-process cache: what `cargo run` uses.
    Embedded,
    /// PostgreSQL + Redis on this machine.
    Production,
}

/// Runs an `async fn(Storage)` test on both storage paths.
#[macro_export]
macro_rules! both_storages {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Storage::Embedded).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Storage::Production).await;
            }
        }
    )+};
}

fn pg_admin_url() -> String {
    std::env::var("AISHA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("AISHA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Production-path services are required in CI; on a laptop without them the test is skipped.
fn unavailable(what: &str, err: &dyn std::fmt::Display) -> Option<TestApp> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is unreachable and CI is set: production-path tests must run ({err})"
    );
    eprintln!("SKIPPED: {what} unreachable ({err})");
    None
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A PostgreSQL database created for one test.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Result<Self, String> {
        let admin = tokio::time::timeout(Duration::from_secs(5), Database::connect(pg_admin_url()))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let name = format!("aisha_t_{}", unique());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| e.to_string())?;
        let base = pg_admin_url();
        let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
        Ok(Self {
            url: format!("{root}/{name}"),
            name,
        })
    }

    /// Drops the database, closing whatever still uses it (also how tests simulate an outage).
    pub async fn drop_database(&self) {
        if let Ok(admin) = Database::connect(pg_admin_url()).await {
            let _ = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the app.
    pub url: String,
    /// The sandbox's base, `http://127.0.0.1:<port>/sandbox`.
    pub sandbox: String,
    pub http: reqwest::Client,
    /// A connection of the test's own to the app's database.
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub pg: Option<PgDatabase>,
    stop: CancellationToken,
    sandbox_stop: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(storage: Storage) -> Option<Self> {
        Self::spawn_with(storage, |f| f).await
    }

    /// Spawns with settings adjusted by `tweak` (applied last).
    pub async fn spawn_with(
        storage: Storage,
        tweak: impl FnOnce(Figment) -> Figment,
    ) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (database_url, redis, pg) = match storage {
            Storage::Embedded => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("aisha.db").display()
                ),
                None,
                None,
            ),
            Storage::Production => {
                let pg = match PgDatabase::create().await {
                    Ok(pg) => pg,
                    Err(e) => return unavailable("PostgreSQL", &e),
                };
                let probe = Kv::from_settings(&base_settings(
                    Figment::new().merge(Serialized::default("redis_url", redis_url())),
                ))
                .expect("redis config");
                if let Err(e) = tokio::time::timeout(Duration::from_secs(3), probe.ping())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                {
                    pg.drop_database().await;
                    return unavailable("Redis", &e);
                }
                (pg.url.clone(), Some(redis_url()), Some(pg))
            }
        };

        let stop = CancellationToken::new();
        let sandbox_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let sandbox_addr = sandbox_listener.local_addr().expect("sandbox addr");
        let sandbox = Sandbox::new(SandboxConfig {
            token: TOKEN.into(),
            rate_limits: false,
        });
        // The sandbox outlives the app's own shutdown, so tests can inspect the chat afterwards.
        let sandbox_stop = CancellationToken::new();
        tokio::spawn(sandbox.serve(sandbox_listener, sandbox_stop.clone().cancelled_owned()));
        let sandbox_url = format!("http://{sandbox_addr}/sandbox");

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut figment = Figment::new()
            .merge(Serialized::default("listen_addr", "127.0.0.1:0"))
            .merge(Serialized::default("public_url", &url))
            .merge(Serialized::default("database_url", &database_url))
            .merge(Serialized::default("telegram_bot_token", TOKEN))
            .merge(Serialized::default("telegram_api_url", &sandbox_url))
            .merge(Serialized::default("telegram_webhook_secret", SECRET))
            .merge(Serialized::default(
                "cache.key_prefix",
                format!("test:{}:", unique()),
            ))
            .merge(Serialized::default(
                "delivery.images_dir",
                dir.path().join("images"),
            ))
            .merge(Serialized::default(
                "avatar.photos_dir",
                dir.path().join("avatars"),
            ))
            .merge(Serialized::default("local_provider.delay_ms", 100));
        if let Some(redis) = redis {
            figment = figment.merge(Serialized::default("redis_url", redis));
        }
        let settings = base_settings(tweak(figment));
        let server = start_server(&settings, listener, &stop).await;
        let db = Database::connect(&database_url)
            .await
            .expect("test's own db connection");
        Some(Self {
            url,
            sandbox: sandbox_url,
            http: reqwest::Client::new(),
            db,
            settings,
            pg,
            stop,
            sandbox_stop,
            server: Some(server),
            _dir: dir,
        })
    }

    /// Like [`spawn`](Self::spawn), with a request timeout that outlasts teloxide's 10 s pause
    /// after a Bot API 5xx (tests that make Telegram fail need it).
    pub async fn spawn_patient(storage: Storage) -> Option<Self> {
        Self::spawn_with(storage, |f| {
            f.merge(Serialized::default("server.request_timeout_secs", 30))
        })
        .await
    }

    /// Posts an update with the right secret from a task of its own (for requests that should
    /// still be in flight while the test does something else); yields the HTTP status.
    pub fn post_webhook_in_background(&self, update: &Value) -> JoinHandle<u16> {
        let (url, body) = (format!("{}/telegram/webhook", self.url), update.to_string());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header("x-telegram-bot-api-secret-token", SECRET)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        })
    }

    /// Stops the app the way SIGTERM would and waits for it; then removes the test database.
    pub async fn stop(mut self) {
        self.stop_server().await;
        self.sandbox_stop.cancel();
        if let Some(pg) = &self.pg {
            pg.drop_database().await;
        }
    }

    /// The user opens a chat with the bot (says hello), so the sandbox knows the chat and raw
    /// updates for this user can be answered. Returns the bot's messages so far.
    pub async fn open_chat(&self, user: i64) -> usize {
        self.send_text(user, "hello").await;
        self.bot_messages(user).await.len()
    }

    /// A pool configured exactly like the app's (a single connection on SQLite), for tests that
    /// call the library's services concurrently.
    pub async fn app_pool(&self) -> DatabaseConnection {
        aisha::db::connect(&self.settings)
            .await
            .expect("app-like pool")
    }

    /// The `users.id` of a Telegram user who has written to the bot.
    pub async fn user_id(&self, telegram_id: i64) -> i64 {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::user::Entity::find()
            .filter(entity::user::Column::TelegramId.eq(telegram_id))
            .one(&self.db)
            .await
            .unwrap()
            .expect("user registered")
            .id
    }

    /// Signals shutdown and waits until the server has drained and stopped.
    async fn stop_server(&mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Stops the app and starts a new one on the same database, cache and sandbox (a deploy).
    pub async fn restart(&mut self) {
        self.stop_server().await;
        self.stop = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
        self.url = format!("http://{}", listener.local_addr().expect("addr"));
        self.settings.public_url = self.url.parse().expect("url");
        self.server = Some(start_server(&self.settings, listener, &self.stop).await);
    }

    /// Runs the real `aisha` binary against this app's database and sandbox Telegram.
    pub async fn run_cli(&self, args: &[&str]) -> (bool, String, String) {
        self.run_cli_with(args, &[]).await
    }

    /// Like [`run_cli`](Self::run_cli), with this app's Redis and cache prefix too.
    pub async fn run_cli_with_cache(&self, args: &[&str]) -> (bool, String, String) {
        let redis = self
            .settings
            .redis_url
            .as_ref()
            .map(|u| u.expose().to_owned());
        let mut env = vec![(
            "AISHA_CACHE__KEY_PREFIX",
            self.settings.cache.key_prefix.clone(),
        )];
        if let Some(redis) = redis {
            env.push(("REDIS_URL", redis));
        }
        self.run_cli_with(args, &env).await
    }

    async fn run_cli_with(&self, args: &[&str], env: &[(&str, String)]) -> (bool, String, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_aisha"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("DATABASE_URL", self.settings.database_url.expose())
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_WEBHOOK_SECRET", SECRET)
            .env("TELEGRAM_API_URL", self.settings.telegram_api_url.as_str())
            .env(
                "AISHA_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env("AISHA_ENV", "test")
            .env("RUST_LOG", "error")
            .args(args)
            .output()
            .await
            .expect("the aisha binary runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Signals shutdown without waiting (for tests that watch in-flight work finish).
    pub fn trigger_shutdown(&self) {
        self.stop.cancel();
    }

    pub fn take_server(&mut self) -> Option<JoinHandle<anyhow::Result<()>>> {
        self.server.take()
    }

    async fn sandbox_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.sandbox))
            .json(&body)
            .send()
            .await
            .expect("sandbox reachable");
        let status = response.status();
        let body: Value = response.json().await.expect("sandbox answers JSON");
        assert!(status.is_success(), "sandbox {path}: {status} {body}");
        body
    }

    pub async fn sandbox_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sandbox))
            .send()
            .await
            .expect("sandbox reachable")
            .json()
            .await
            .expect("sandbox answers JSON")
    }

    /// The user writes `text`; returns the sandbox's report (update_id, webhook_status, ...).
    pub async fn send_text(&self, user: i64, text: &str) -> Value {
        self.sandbox_post(&format!("/users/{user}/messages"), json!({ "text": text }))
            .await
    }

    /// The user writes `text` with this Telegram language.
    pub async fn send_text_lang(&self, user: i64, text: &str, lang: &str) -> Value {
        self.sandbox_post(
            &format!("/users/{user}/messages"),
            json!({ "text": text, "language_code": lang, "first_name": "Ada" }),
        )
        .await
    }

    /// The user presses a button (or sends forged callback data) on a bot message.
    pub async fn press(&self, user: i64, message_id: i64, data: &str) -> Value {
        self.sandbox_post(
            &format!("/users/{user}/press"),
            json!({ "message_id": message_id, "callback_data": data }),
        )
        .await
    }

    /// Telegram redelivers an update it already sent.
    pub async fn redeliver(&self, update_id: i64) -> Value {
        self.sandbox_post(&format!("/updates/{update_id}/redeliver"), json!({}))
            .await
    }

    /// Queues a Bot API fault in the sandbox.
    pub async fn fault(&self, fault: Value) {
        self.sandbox_post("/faults", fault).await;
    }

    /// The chat as the user sees it.
    pub async fn chat(&self, user: i64) -> Value {
        self.sandbox_get(&format!("/users/{user}/chat")).await
    }

    /// Messages the bot sent to this user (visible ones).
    pub async fn bot_messages(&self, user: i64) -> Vec<Value> {
        let chat = self.chat(user).await;
        chat["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter(|m| m["from_bot"] == true)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every Bot API call the sandbox received.
    pub async fn calls(&self) -> Vec<Value> {
        self.sandbox_get("/calls")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Posts a raw body to the webhook with the given secret header (None = no header).
    pub async fn post_webhook(
        &self,
        body: impl Into<reqwest::Body>,
        secret: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/telegram/webhook", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.header("x-telegram-bot-api-secret-token", secret);
        }
        request.send().await.expect("app reachable")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("app reachable")
    }
}

/// Builds the app on `listener`, serves it until `stop`, and registers its webhook with the
/// sandbox (as `aisha set-webhook` would).
async fn start_server(
    settings: &Settings,
    listener: TcpListener,
    stop: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    let app = Application::build_with_listener(settings.clone(), listener)
        .await
        .expect("app builds");
    let server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    if settings.telegram_bot_token.is_some() {
        setup::set_webhook(settings)
            .await
            .expect("set-webhook against the sandbox");
    }
    server
}

/// A key-value store on the given storage path with a key prefix of its own; `None` = skipped.
pub async fn kv_for(storage: Storage) -> Option<Kv> {
    let mut overrides = Figment::new();
    if storage == Storage::Production {
        overrides = overrides.merge(Serialized::default("redis_url", redis_url()));
    }
    let kv = Kv::from_settings(&base_settings(overrides)).expect("kv config");
    match tokio::time::timeout(Duration::from_secs(3), kv.ping()).await {
        Ok(Ok(())) => Some(kv),
        Ok(Err(e)) => unavailable("Redis", &e).map(|_| kv),
        Err(e) => unavailable("Redis", &e).map(|_| kv),
    }
}

/// Test settings: the committed config files for AISHA_ENV=test plus the given overrides.
pub fn base_settings(overrides: Figment) -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::from_figment(
        Settings::files(&dir, "test")
            .merge(Serialized::default(
                "cache.key_prefix",
                format!("test:{}:", unique()),
            ))
            .merge(overrides),
    )
    .expect("test settings are valid")
}

/// A Telegram text-message update from a private chat, as Telegram sends it.
pub fn message_update(update_id: i64, user: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": { "id": user, "type": "private", "first_name": "Test" },
            "from": { "id": user, "is_bot": false, "first_name": "Test" },
            "text": text
        }
    })
}

/// Button texts and payloads of a message, row by row.
pub fn buttons(message: &Value) -> Vec<(String, String)> {
    message["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["text"].as_str().unwrap_or_default().to_owned(),
                b["callback_data"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
