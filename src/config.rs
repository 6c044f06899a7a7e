//! Settings: the built-in defaults (`config/default.toml` and `config/<AISHA_ENV>.toml`, compiled
//! into the binary), then the same two files from `AISHA_CONFIG_DIR` when it is set, then
//! environment variables. The binary therefore runs from any folder with nothing configured.
//!
//! The top-level keys are overridden by the plain variable names operators already use
//! (`LISTEN_ADDR`, `DATABASE_URL`, `TELEGRAM_BOT_TOKEN`, ...); nested keys by
//! `AISHA_<SECTION>__<KEY>`. Secrets are accepted from the environment only, and are wrapped in
//! [`Secret`] so they never reach a log line or an error message.

use std::{fmt, net::SocketAddr, path::Path};

use figment::{
    Figment, Metadata, Profile, Provider,
    providers::{Format, Toml},
    value::{Dict, Map, Value},
};
use serde::{Deserialize, Deserializer};
use url::Url;

/// Top-level keys and the environment variables that override them, exactly as operators spell them.
pub const TOP_LEVEL_VARS: [&str; 16] = [
    "LISTEN_ADDR",
    "PUBLIC_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "IMAGE_PROVIDER",
    "FAL_KEY",
    "FAL_QUEUE_URL",
    "FAL_JWKS_URL",
    "PROVIDER_WEBHOOK_SECRET",
    "LLM_BASE_URL",
    "LLM_API_KEY",
    "LLM_MODEL",
    "LLM_VISION_MODEL",
];

/// Keys that may only come from the environment: a config file is committed, a secret must not be.
const SECRET_KEYS: [&str; 5] = [
    "telegram_bot_token",
    "telegram_webhook_secret",
    "fal_key",
    "provider_webhook_secret",
    "llm_api_key",
];

/// Seconds an update that waits for the LLM keeps for everything else (a photo's download, the
/// screens) within `server.request_timeout_secs`.
const LLM_MARGIN_SECS: u64 = 10;

/// Packages fit one keyboard, and one index digit in callback data.
const MAX_PACKAGES: usize = 8;
/// Telegram's limit on one Stars invoice.
const MAX_STARS: i64 = 10_000;

/// The committed defaults, compiled in so that the binary needs no files to start.
const BUILT_IN_DEFAULT: &str = include_str!("../config/default.toml");
const BUILT_IN_ENVS: [(&str, &str); 3] = [
    ("development", include_str!("../config/development.toml")),
    ("production", include_str!("../config/production.toml")),
    ("test", include_str!("../config/test.toml")),
];

/// Prefix for nested overrides: `AISHA_SERVER__BODY_LIMIT_BYTES` sets `server.body_limit_bytes`.
const NESTED_PREFIX: &str = "AISHA_";

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub listen_addr: SocketAddr,
    /// Externally reachable base URL; webhook URLs given to Telegram and providers hang off it.
    pub public_url: Url,
    /// Secret because a PostgreSQL URL may carry a password.
    pub database_url: Secret,
    /// Unset means the in-process cache, which is only correct for a single instance.
    #[serde(default)]
    pub redis_url: Option<Secret>,
    /// Unset means the built-in sandbox Telegram.
    #[serde(default)]
    pub telegram_bot_token: Option<Secret>,
    pub telegram_api_url: Url,
    #[serde(default)]
    pub telegram_webhook_secret: Option<Secret>,
    pub image_provider: ProviderKind,
    /// fal.ai API key; required when `IMAGE_PROVIDER=fal`.
    #[serde(default)]
    pub fal_key: Option<Secret>,
    pub fal_queue_url: Url,
    /// Where fal publishes the keys its webhooks are signed with.
    pub fal_jwks_url: Url,
    /// Keys the token in each provider webhook URL (fal signs every customer's callbacks with
    /// the same keys, so the signature alone does not say the callback is for *our* job). Unset:
    /// derived from the Telegram webhook secret. Replicas must share it.
    #[serde(default)]
    pub provider_webhook_secret: Option<Secret>,
    /// Prompt help (translation, ✨, 📷) through an OpenAI-compatible Chat Completions API at
    /// this base (`https://api.openai.com/v1`, `http://localhost:11434/v1`, ...). Unset: off.
    #[serde(default)]
    pub llm_base_url: Option<Url>,
    /// Sent as `Authorization: Bearer`; a local server may need none.
    #[serde(default)]
    pub llm_api_key: Option<Secret>,
    /// The model that translates and improves prompts.
    pub llm_model: String,
    /// The model that describes photos; unset: `llm_model`.
    #[serde(default)]
    pub llm_vision_model: Option<String>,
    pub llm: LlmSettings,
    pub fal: FalSettings,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub cache: CacheSettings,
    pub telegram: TelegramSettings,
    pub log: LogSettings,
    pub prices: PriceSettings,
    pub payments: PaymentSettings,
    pub sandbox: SandboxSettings,
    /// Style presets offered in 🎨 (`[[styles]]`), in display order.
    #[serde(default)]
    pub styles: Vec<StyleSettings>,
    pub ui: UiSettings,
    pub generation: GenerationSettings,
    pub local_provider: LocalProviderSettings,
    pub delivery: DeliverySettings,
    pub avatar: AvatarSettings,
}

/// Avatar creation and training.
#[derive(Clone, Debug, Deserialize)]
pub struct AvatarSettings {
    /// How many photos an avatar is trained on.
    pub min_photos: u32,
    pub max_photos: u32,
    /// Larger photos are refused (Telegram lets bots download up to 20 MB).
    pub max_photo_bytes: u64,
    /// Photos whose shorter side is below this are refused.
    pub min_side: u32,
    /// Uploaded photos and the training archives live here (created if missing).
    pub photos_dir: std::path::PathBuf,
    /// A training whose callback has not come by then is checked once with the provider.
    pub training_deadline_secs: u64,
    /// How long the provider may fetch the photo archive through its signed URL.
    pub archive_ttl_secs: u64,
    /// Trainings one user may have running at once (more are refused, nothing charged).
    pub max_trainings_in_flight: u32,
}

/// The generation pipeline.
#[derive(Clone, Debug, Deserialize)]
pub struct GenerationSettings {
    /// A job whose callback has not come by then is checked once with the provider.
    pub deadline_secs: u64,
    /// Taps on one 🔄 within this many seconds are one request (a double tap).
    pub repeat_guard_secs: u64,
    /// Generations one user may have running at once (more are refused, nothing charged).
    pub max_in_flight: u32,
}

/// The offline provider `cargo run` uses.
#[derive(Clone, Debug, Deserialize)]
pub struct LocalProviderSettings {
    /// How long a "render" takes before the callback is posted.
    pub delay_ms: u64,
}

/// The outbox worker that pushes results to chats.
#[derive(Clone, Debug, Deserialize)]
pub struct DeliverySettings {
    /// Downloaded images live here (created if missing).
    pub images_dir: std::path::PathBuf,
    /// Larger provider images are refused (Telegram takes photos up to 10 MB).
    pub max_image_bytes: u64,
    /// Pushes sent at once.
    pub concurrency: usize,
    /// Telegram's limits: one message per chat per this many ms, and this many per second overall.
    pub per_chat_interval_ms: u64,
    pub per_second: u32,
    /// After this many failed attempts (network, 5xx) a push is given up and recorded.
    pub max_attempts: i32,
    /// Longest wait between two attempts.
    pub max_backoff_secs: u64,
    /// How long a claimed push stays reserved for the worker that claimed it.
    pub lease_secs: u64,
    /// Result images are fetched over https from these domains (and names under them) when
    /// every address they resolve to is public.
    pub image_hosts: Vec<String>,
    /// ... and from these exact origins as they are (a self-hosted provider); the local
    /// provider's own is added by itself.
    #[serde(default)]
    pub image_origins: Vec<Url>,
}

/// Limits of prompt help (the LLM itself is chosen by the top-level `LLM_*` variables).
#[derive(Clone, Debug, Deserialize)]
pub struct LlmSettings {
    /// One request, retries included; past it the generation goes on without the LLM's help.
    pub timeout_secs: u64,
    /// LLM requests one user may cause per UTC day (translations, ✨ and 📷 together).
    pub daily_cap: u32,
    /// A 429 asking to wait longer than this is not waited for.
    pub max_retry_after_secs: u64,
}

/// fal.ai models and generation parameters.
#[derive(Clone, Debug, Deserialize)]
pub struct FalSettings {
    /// Used with an avatar: takes `loras`.
    pub lora_model: String,
    /// Used without an avatar.
    pub base_model: String,
    pub lora_scale: f64,
    pub num_inference_steps: u32,
    pub guidance_scale: f64,
    /// `portrait` (fal-ai/flux-lora-portrait-trainer, takes `trigger_phrase`) or `fast`
    /// (fal-ai/flux-lora-fast-training, takes `trigger_word`).
    pub trainer: Trainer,
    /// Training steps; unset: the trainer's own default.
    #[serde(default)]
    pub training_steps: Option<u32>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Trainer {
    Portrait,
    Fast,
}

impl Trainer {
    /// The fal model id.
    #[must_use]
    pub fn model(self) -> &'static str {
        match self {
            Self::Portrait => "fal-ai/flux-lora-portrait-trainer",
            Self::Fast => "fal-ai/flux-lora-fast-training",
        }
    }
}

/// What things cost, in coins.
#[derive(Clone, Debug, Deserialize)]
pub struct PriceSettings {
    /// Coins a new user gets on /start (0 = none, like the Python bot).
    pub welcome_bonus: i64,
    pub generation_per_image: i64,
    pub avatar_training: i64,
}

/// Settings that apply only with the built-in sandbox Telegram (no `TELEGRAM_BOT_TOKEN`).
#[derive(Clone, Debug, Deserialize)]
pub struct SandboxSettings {
    /// The least welcome bonus a sandbox user gets (over `prices.welcome_bonus`).
    pub welcome_bonus: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PaymentSettings {
    /// Stars packages offered by ⭐ top up, in display order.
    pub packages: Vec<StarsPackage>,
}

/// A style preset: how a user's prompt is dressed for the model.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct StyleSettings {
    /// Stored with each generation and put in buttons: 1–16 of `a-z`, `0-9`, `_`.
    pub id: String,
    pub emoji: String,
    pub name_ru: String,
    pub name_en: String,
    /// The prompt sent to the model, with `{prompt}` (exactly once) where the user's words go.
    pub template: String,
    /// Overrides `fal.guidance_scale` for this style.
    #[serde(default)]
    pub guidance_scale: Option<f64>,
    /// Overrides `fal.num_inference_steps` for this style.
    #[serde(default)]
    pub num_inference_steps: Option<u32>,
    /// `false` hides the style from new generations (past ones keep their name and 🔄).
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

impl StyleSettings {
    /// "🎬 Cinematic" for language code `en`, the Russian name otherwise.
    #[must_use]
    pub fn label(&self, lang: &str) -> String {
        let name = if lang == "en" {
            &self.name_en
        } else {
            &self.name_ru
        };
        format!("{} {name}", self.emoji)
    }

    /// The user's prompt dressed in this style.
    #[must_use]
    pub fn apply(&self, prompt: &str) -> String {
        self.template.replacen("{prompt}", prompt, 1)
    }
}

/// Most styles one keyboard offers (two a row).
const MAX_STYLES: usize = 16;
/// Most styles configured, switched-off ones included (the gallery filter lists them all).
const MAX_CONFIGURED_STYLES: usize = 64;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct StarsPackage {
    pub stars: i64,
    pub coins: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct UiSettings {
    /// Times in chats (ledger history) are shown at this offset from UTC.
    pub utc_offset_minutes: i32,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Fal,
    Local,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub max_updates_in_flight: usize,
    pub retry_after_secs: u64,
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CacheSettings {
    pub key_prefix: String,
    pub update_dedupe_ttl_secs: u64,
    pub in_process_max_entries: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TelegramSettings {
    pub request_timeout_secs: u64,
    /// Dead letters kept (the oldest go first).
    pub dead_letters_max: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub filter: String,
}

/// The bot id of a token `<digits>:<secret>`; `None` when it is not shaped so.
fn bot_id_of(token: &str) -> Option<u64> {
    let (id, secret) = token.split_once(':')?;
    if secret.is_empty() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// Why the settings could not be loaded; the message always names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: AISHA_CONFIG_DIR={0}: no such folder")]
    NoDir(String),
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("configuration: {key} {problem}")]
    Invalid { key: &'static str, problem: String },
}

fn invalid(key: &'static str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.to_owned(),
    }
}

impl Settings {
    /// Loads from `config_dir` for environment `aisha_env` with the given environment variables.
    /// The binary passes `std::env::vars()`; tests pass their own list instead of mutating the process.
    /// `config_dir` (`AISHA_CONFIG_DIR`) is optional: without it only the built-in files apply.
    pub fn load(
        config_dir: Option<&Path>,
        aisha_env: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let files = match config_dir {
            Some(dir) if !dir.is_dir() => {
                return Err(ConfigError::NoDir(dir.display().to_string()));
            }
            Some(dir) => Self::files(dir, aisha_env),
            None => Self::built_in(aisha_env),
        };
        for key in SECRET_KEYS {
            if files.find_value(key).is_ok() {
                return Err(ConfigError::Invalid {
                    key: env_name(key),
                    problem: "is a secret: set it in the environment, not in a config file".into(),
                });
            }
        }
        for key in ["database_url", "redis_url"] {
            let with_password = files
                .find_value(key)
                .ok()
                .and_then(|v| v.into_string())
                .and_then(|v| Url::parse(&v).ok())
                .is_some_and(|url| url.password().is_some());
            if with_password {
                return Err(ConfigError::Invalid {
                    key: env_name(key),
                    problem: "carries a password: set it in the environment, not in a config file"
                        .into(),
                });
            }
        }
        Self::from_figment(files.merge(EnvVars::new(vars)))
    }

    /// The defaults compiled into the binary: `config/default.toml`, then the shipped file of
    /// `aisha_env` (development, production or test) if there is one.
    #[must_use]
    pub fn built_in(aisha_env: &str) -> Figment {
        let figment = Figment::from(Toml::string(BUILT_IN_DEFAULT));
        match BUILT_IN_ENVS.iter().find(|(name, _)| *name == aisha_env) {
            Some((_, text)) => figment.merge(Toml::string(text)),
            None => figment,
        }
    }

    /// The built-in defaults overridden by `config_dir`'s `default.toml` and `<aisha_env>.toml`
    /// (each optional), for callers that add their own overrides (tests).
    #[must_use]
    pub fn files(config_dir: &Path, aisha_env: &str) -> Figment {
        Self::built_in(aisha_env)
            .merge(Toml::file(config_dir.join("default.toml")))
            .merge(Toml::file(config_dir.join(format!("{aisha_env}.toml"))))
    }

    /// Extracts and validates; every failure names the key an operator has to fix.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Self = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_styles()?;
        self.validate_telegram()?;
        self.validate_connections()?;
        self.validate_money()?;
        self.validate_bounds()
    }

    /// The bot token and the webhook secret.
    fn validate_telegram(&self) -> Result<(), ConfigError> {
        if self.telegram_bot_token.is_some() {
            let Some(secret) = &self.telegram_webhook_secret else {
                return Err(invalid(
                    "TELEGRAM_WEBHOOK_SECRET",
                    "is required when TELEGRAM_BOT_TOKEN is set",
                ));
            };
            let s = secret.expose();
            let well_formed = (1..=256).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !well_formed {
                return Err(invalid(
                    "TELEGRAM_WEBHOOK_SECRET",
                    "must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
                ));
            }
        }
        if let Some(token) = &self.telegram_bot_token
            && (token.expose().contains(['/', ' ']) || bot_id_of(token.expose()).is_none())
        {
            return Err(invalid(
                "TELEGRAM_BOT_TOKEN",
                "is not a bot token (<bot id>:<secret>, as @BotFather gives it)",
            ));
        }
        Ok(())
    }

    /// The URLs of what the bot talks to.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        if !matches!(self.public_url.scheme(), "http" | "https") {
            return Err(invalid("PUBLIC_URL", "must be an http(s) URL"));
        }
        let db = self.database_url.expose();
        if !(db.starts_with("postgres://")
            || db.starts_with("postgresql://")
            || db.starts_with("sqlite:"))
        {
            return Err(invalid(
                "DATABASE_URL",
                "must be a postgres:// or sqlite: URL",
            ));
        }
        if let Some(redis) = &self.redis_url
            && !(redis.expose().starts_with("redis://") || redis.expose().starts_with("rediss://"))
        {
            return Err(invalid("REDIS_URL", "must be a redis:// or rediss:// URL"));
        }
        self.validate_llm()
    }

    /// Prompt help: an http(s) base, a model, a timeout a user can wait for.
    fn validate_llm(&self) -> Result<(), ConfigError> {
        if let Some(base) = &self.llm_base_url
            && !matches!(base.scheme(), "http" | "https")
        {
            return Err(invalid("LLM_BASE_URL", "must be an http(s) URL"));
        }
        if self.llm_base_url.is_some() && self.llm_model.trim().is_empty() {
            return Err(invalid("LLM_MODEL", "is required when LLM_BASE_URL is set"));
        }
        // The update that waits for the LLM (and for a photo's download) must end well inside
        // the request's own timeout, or it is cut off and redelivered.
        if self.llm_base_url.is_some()
            && (self.llm.timeout_secs == 0
                || self.llm.timeout_secs + LLM_MARGIN_SECS > self.server.request_timeout_secs)
        {
            return Err(invalid(
                "AISHA_LLM__TIMEOUT_SECS",
                &format!(
                    "must be at least 1 and at most AISHA_SERVER__REQUEST_TIMEOUT_SECS - {LLM_MARGIN_SECS} ({})",
                    self.server
                        .request_timeout_secs
                        .saturating_sub(LLM_MARGIN_SECS)
                ),
            ));
        }
        Ok(())
    }

    /// Prices and the Stars packages.
    fn validate_money(&self) -> Result<(), ConfigError> {
        if self.prices.welcome_bonus < 0 || self.sandbox.welcome_bonus < 0 {
            return Err(invalid(
                "AISHA_PRICES__WELCOME_BONUS",
                "must not be negative",
            ));
        }
        if self.prices.generation_per_image <= 0 || self.prices.avatar_training <= 0 {
            return Err(invalid(
                "AISHA_PRICES__GENERATION_PER_IMAGE",
                "and AISHA_PRICES__AVATAR_TRAINING must be positive",
            ));
        }
        let packages = &self.payments.packages;
        if packages.is_empty()
            || packages.len() > MAX_PACKAGES
            || packages
                .iter()
                .any(|p| !(1..=MAX_STARS).contains(&p.stars) || p.coins <= 0)
        {
            return Err(invalid(
                "payments.packages",
                "must list 1-8 packages, each with 1-10000 stars and a positive number of coins",
            ));
        }
        Ok(())
    }

    /// Style ids fit a button and are unique; each template takes the prompt exactly once.
    fn validate_styles(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for style in &self.styles {
            let id_ok = (1..=16).contains(&style.id.len())
                && style
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !id_ok || !seen.insert(style.id.as_str()) {
                return Err(invalid(
                    "styles.id",
                    &format!("{:?}: must be unique, 1-16 of a-z, 0-9, _", style.id),
                ));
            }
            if style.template.matches("{prompt}").count() != 1 {
                return Err(invalid(
                    "styles.template",
                    &format!("of {:?} must contain {{prompt}} exactly once", style.id),
                ));
            }
            let names = [&style.name_ru, &style.name_en, &style.emoji];
            if names
                .iter()
                .any(|n| n.trim().is_empty() || n.chars().count() > 32)
            {
                return Err(invalid(
                    "styles.name_ru",
                    &format!(
                        "name_en and emoji of {:?} must be 1-32 characters",
                        style.id
                    ),
                ));
            }
        }
        if self.styles.iter().filter(|s| s.enabled).count() > MAX_STYLES {
            return Err(invalid("styles", "at most 16 may be enabled"));
        }
        if self.styles.len() > MAX_CONFIGURED_STYLES {
            return Err(invalid("styles", "at most 64 may be configured"));
        }
        for style in &self.styles {
            let guidance = style
                .guidance_scale
                .is_none_or(|g| (0.0..=20.0).contains(&g));
            let steps = style
                .num_inference_steps
                .is_none_or(|n| (1..=100).contains(&n));
            if !guidance || !steps {
                return Err(invalid(
                    "styles.guidance_scale",
                    &format!(
                        "of {:?} must be 0-20, and num_inference_steps 1-100",
                        style.id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A style by id, enabled or not (a past generation keeps its style's name and 🔄).
    #[must_use]
    pub fn style(&self, id: &str) -> Option<&StyleSettings> {
        self.styles.iter().find(|s| s.id == id)
    }

    /// The styles offered for new generations, in display order.
    pub fn offered_styles(&self) -> impl Iterator<Item = &StyleSettings> {
        self.styles.iter().filter(|s| s.enabled)
    }

    /// Limits, timeouts and sizes.
    fn validate_bounds(&self) -> Result<(), ConfigError> {
        if self.server.max_updates_in_flight == 0 {
            return Err(invalid(
                "AISHA_SERVER__MAX_UPDATES_IN_FLIGHT",
                "must be at least 1",
            ));
        }
        if self.cache.update_dedupe_ttl_secs < 24 * 3600 {
            return Err(invalid(
                "AISHA_CACHE__UPDATE_DEDUPE_TTL_SECS",
                "must be at least 86400: Telegram redelivers an update for up to 24 hours",
            ));
        }
        if self.image_provider == ProviderKind::Fal
            && self
                .fal_key
                .as_ref()
                .is_none_or(|k| k.expose().trim().is_empty())
        {
            return Err(invalid("FAL_KEY", "is required when IMAGE_PROVIDER=fal"));
        }
        if !(-14 * 60..=14 * 60).contains(&self.ui.utc_offset_minutes) {
            return Err(invalid(
                "AISHA_UI__UTC_OFFSET_MINUTES",
                "must be within ±840",
            ));
        }
        if self.generation.max_in_flight == 0 || self.avatar.max_trainings_in_flight == 0 {
            return Err(invalid(
                "AISHA_GENERATION__MAX_IN_FLIGHT / AISHA_AVATAR__MAX_TRAININGS_IN_FLIGHT",
                "must be at least 1",
            ));
        }
        if !(1..=86_400).contains(&self.generation.deadline_secs) {
            return Err(invalid(
                "AISHA_GENERATION__DEADLINE_SECS",
                "must be between 1 and 86400",
            ));
        }
        if self.delivery.concurrency == 0
            || self.delivery.per_second == 0
            || self.delivery.max_attempts <= 0
            || !(3..=600).contains(&self.delivery.lease_secs)
            || self.delivery.max_image_bytes == 0
        {
            return Err(invalid(
                "delivery",
                "needs concurrency, per_second, max_attempts and max_image_bytes above 0 and lease_secs between 3 and 600",
            ));
        }
        let avatar = &self.avatar;
        if avatar.min_photos == 0
            || avatar.max_photos < avatar.min_photos
            || avatar.max_photo_bytes == 0
            || !(1..=7 * 86_400).contains(&avatar.training_deadline_secs)
            || !(60..=7 * 86_400).contains(&avatar.archive_ttl_secs)
        {
            return Err(invalid(
                "avatar",
                "needs 0 < min_photos <= max_photos, max_photo_bytes above 0, training_deadline_secs within 1..=604800 and archive_ttl_secs within 60..=604800",
            ));
        }
        if self.cache.in_process_max_entries == 0 {
            return Err(invalid(
                "AISHA_CACHE__IN_PROCESS_MAX_ENTRIES",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The bot's Telegram user id: the number before the token's colon (public; it names the
    /// bot's keys in a shared cache). The sandbox's bot is 1.
    #[must_use]
    pub fn bot_id(&self) -> u64 {
        self.telegram_bot_token
            .as_ref()
            .and_then(|t| bot_id_of(t.expose()))
            .unwrap_or(1)
    }

    /// True when no bot token is configured and the built-in sandbox plays Telegram.
    #[must_use]
    pub fn sandbox_mode(&self) -> bool {
        self.telegram_bot_token.is_none()
    }

    /// The URL Telegram posts updates to.
    #[must_use]
    pub fn webhook_url(&self) -> String {
        format!(
            "{}/telegram/webhook",
            self.public_url.as_str().trim_end_matches('/')
        )
    }
}

fn env_name(key: &str) -> &'static str {
    TOP_LEVEL_VARS
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(key))
        .unwrap_or("(unknown key)")
}

/// A figment provider over an explicit list of environment variables.
///
/// Written here instead of using `figment::providers::Env` so tests can hand in variables without
/// touching the process environment (which is `unsafe` to mutate); values are parsed the same way.
#[derive(Debug)]
pub struct EnvVars(Vec<(String, String)>);

impl EnvVars {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(vars.into_iter().collect())
    }

    fn key_for(name: &str) -> Option<String> {
        if TOP_LEVEL_VARS.contains(&name) {
            return Some(name.to_ascii_lowercase());
        }
        let nested = name.strip_prefix(NESTED_PREFIX)?;
        if !nested.contains("__") {
            return None;
        }
        Some(nested.to_ascii_lowercase().replace("__", "."))
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_: &Profile, k: &[&str]| {
            let upper: Vec<_> = k.iter().map(|k| k.to_ascii_uppercase()).collect();
            match upper.as_slice() {
                [one] => one.clone(),
                more => format!("{NESTED_PREFIX}{}", more.join("__")),
            }
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (name, raw) in &self.0 {
            let Some(key) = Self::key_for(name) else {
                continue;
            };
            if raw.is_empty() {
                // An exported-but-empty variable means "unset", as shells and compose files use it.
                continue;
            }
            // Secrets and URLs stay strings; only plain numbers/bools are parsed.
            let value = if key.contains('.') {
                raw.parse::<Value>().unwrap_or_else(|never| match never {})
            } else {
                Value::from(raw.clone())
            };
            insert_path(&mut dict, &key, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Puts `value` at the dotted `path`, creating intermediate tables.
fn insert_path(dict: &mut Dict, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            dict.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if entry.as_dict().is_none() {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// A value that must never be printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The only way to read the value; grep for it to audit where secrets go.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
    where
        D: Deserializer<'de>,
    {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bot_id_is_the_number_before_the_colon() {
        assert_eq!(super::bot_id_of("123456:ABC-def"), Some(123_456));
        assert_eq!(super::bot_id_of("ABC"), None);
        assert_eq!(super::bot_id_of("12x:ABC"), None);
        assert_eq!(super::bot_id_of("123:"), None);
        assert_eq!(super::bot_id_of(":ABC"), None);
    }

    use super::*;

    fn dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_nothing_configured() {
        let s = Settings::load(Some(&dir()), "development", vars(&[])).expect("defaults load");
        assert_eq!(s.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(s.public_url.as_str(), "http://localhost:8080/");
        assert_eq!(s.database_url.expose(), "sqlite://data/aisha.db?mode=rwc");
        assert!(s.redis_url.is_none() && s.sandbox_mode());
        assert_eq!(s.telegram_api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(s.image_provider, ProviderKind::Local);
        assert_eq!(s.server.body_limit_bytes, 1024 * 1024);
    }

    #[test]
    fn every_documented_variable_overrides_its_key() {
        let s = Settings::load(
            Some(&dir()),
            "development",
            vars(&[
                ("LISTEN_ADDR", "127.0.0.1:9000"),
                ("PUBLIC_URL", "https://bot.example.com"),
                ("DATABASE_URL", "postgres://u:p@db/aisha"),
                ("REDIS_URL", "redis://cache:6379"),
                ("TELEGRAM_BOT_TOKEN", "123:ABC"),
                ("TELEGRAM_API_URL", "http://tg.local"),
                ("TELEGRAM_WEBHOOK_SECRET", "s3cr3t_-"),
                ("IMAGE_PROVIDER", "fal"),
                ("FAL_KEY", "fal-secret-key"),
                ("FAL_QUEUE_URL", "http://fal.local"),
                ("FAL_JWKS_URL", "http://fal.local/jwks"),
                ("AISHA_SERVER__MAX_UPDATES_IN_FLIGHT", "7"),
                ("LLM_BASE_URL", "http://localhost:11434/v1"),
                ("LLM_API_KEY", "sk-llm-secret"),
                ("LLM_MODEL", "qwen2.5:7b"),
                ("LLM_VISION_MODEL", "llava:13b"),
                ("AISHA_LLM__DAILY_CAP", "9"),
                (
                    "AISHA_DELIVERY__IMAGE_ORIGINS",
                    "[\"http://127.0.0.1:9000\", \"https://media.example\"]",
                ),
                ("UNRELATED", "x"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.listen_addr.to_string(), "127.0.0.1:9000");
        assert_eq!(s.webhook_url(), "https://bot.example.com/telegram/webhook");
        assert_eq!(s.database_url.expose(), "postgres://u:p@db/aisha");
        assert_eq!(
            s.redis_url.as_ref().map(Secret::expose),
            Some("redis://cache:6379")
        );
        assert_eq!(
            s.telegram_bot_token.as_ref().map(Secret::expose),
            Some("123:ABC")
        );
        assert_eq!(s.telegram_api_url.as_str(), "http://tg.local/");
        assert_eq!(s.image_provider, ProviderKind::Fal);
        assert_eq!(s.server.max_updates_in_flight, 7);
        assert_eq!(
            s.fal_key.as_ref().map(Secret::expose),
            Some("fal-secret-key")
        );
        assert_eq!(s.fal_queue_url.as_str(), "http://fal.local/");
        assert_eq!(s.fal_jwks_url.as_str(), "http://fal.local/jwks");
        assert!(!format!("{s:?}").contains("fal-secret-key"));
        assert!(
            !format!("{s:?}").contains("ABC"),
            "Debug must not print secrets"
        );
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert_eq!(
            s.llm_base_url.as_ref().map(Url::as_str),
            Some("http://localhost:11434/v1")
        );
        assert_eq!(
            (s.llm_model.as_str(), s.llm_vision_model.as_deref()),
            ("qwen2.5:7b", Some("llava:13b"))
        );
        assert_eq!(s.llm.daily_cap, 9);
        let origins: Vec<&str> = s.delivery.image_origins.iter().map(Url::as_str).collect();
        assert_eq!(
            origins,
            ["http://127.0.0.1:9000/", "https://media.example/"]
        );
        assert_eq!(s.delivery.image_hosts, ["fal.media"]);
        assert!(!format!("{s:?}").contains("sk-llm-secret"));
    }

    #[test]
    fn prompt_help_is_off_unless_an_llm_is_named() {
        let s = Settings::load(None, "development", vars(&[])).expect("loads");
        assert!(s.llm_base_url.is_none() && s.llm_api_key.is_none());
        let err = Settings::load(
            None,
            "development",
            vars(&[("LLM_BASE_URL", "ftp://llm"), ("LLM_MODEL", "m")]),
        )
        .expect_err("must fail")
        .to_string();
        assert!(err.contains("LLM_BASE_URL"), "{err}");
        let err = Settings::load(
            None,
            "development",
            vars(&[("LLM_BASE_URL", "http://llm/v1"), ("LLM_MODEL", " ")]),
        )
        .expect_err("must fail")
        .to_string();
        assert!(err.contains("LLM_MODEL"), "{err}");
        let err = Settings::load(
            None,
            "development",
            vars(&[
                ("LLM_BASE_URL", "http://llm/v1"),
                ("AISHA_LLM__TIMEOUT_SECS", "21"),
            ]),
        )
        .expect_err("must fail")
        .to_string();
        assert!(err.contains("AISHA_LLM__TIMEOUT_SECS"), "{err}");
    }

    #[test]
    fn bad_or_missing_values_name_the_key() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("IMAGE_PROVIDER", "fal")], "FAL_KEY"),
            (&[("LISTEN_ADDR", "nope")], "LISTEN_ADDR"),
            (&[("IMAGE_PROVIDER", "dalle")], "IMAGE_PROVIDER"),
            (&[("TELEGRAM_BOT_TOKEN", "1:A")], "TELEGRAM_WEBHOOK_SECRET"),
            (
                &[
                    ("TELEGRAM_BOT_TOKEN", "1:A"),
                    ("TELEGRAM_WEBHOOK_SECRET", "has space"),
                ],
                "TELEGRAM_WEBHOOK_SECRET",
            ),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (
                &[("AISHA_CACHE__UPDATE_DEDUPE_TTL_SECS", "60")],
                "UPDATE_DEDUPE_TTL_SECS",
            ),
        ];
        for (pairs, key) in cases {
            let err = Settings::load(Some(&dir()), "development", vars(pairs))
                .expect_err("must fail")
                .to_string();
            assert!(err.contains(key), "{err:?} should name {key}");
        }
    }

    #[test]
    fn the_built_in_defaults_need_no_files() {
        let s = Settings::load(None, "development", vars(&[])).expect("built-in defaults load");
        assert_eq!(s.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(s.image_provider, ProviderKind::Local);
        assert_eq!(
            s.prices.welcome_bonus, 0,
            "a real bot gives nothing unless configured"
        );
        assert_eq!(
            s.sandbox.welcome_bonus, 300,
            "the sandbox gives coins to try things"
        );
        let p = Settings::load(None, "production", vars(&[])).expect("production loads");
        assert_eq!(
            p.prices.welcome_bonus, 0,
            "production gives nothing unless configured"
        );
        assert_eq!(p.database.max_connections, 20);
        let custom = Settings::load(None, "staging", vars(&[])).expect("unknown env: defaults");
        assert_eq!(custom.prices.welcome_bonus, 0);
        assert_eq!(custom.database.max_connections, 10);
    }

    #[test]
    fn a_config_folder_overrides_the_built_in_defaults_and_bad_values_name_file_and_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            tmp.path().join("development.toml"),
            "[prices]\nwelcome_bonus = 7\n",
        )
        .expect("write");
        let s = Settings::load(Some(tmp.path()), "development", vars(&[])).expect("loads");
        assert_eq!(s.prices.welcome_bonus, 7);
        assert_eq!(s.delivery.per_second, 30, "the rest stays built in");

        std::fs::write(
            tmp.path().join("default.toml"),
            "[server]\nretry_after_secs = \"soon\"\n",
        )
        .expect("write");
        let err = Settings::load(Some(tmp.path()), "development", vars(&[]))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("retry_after_secs"), "{err}");
        assert!(err.contains("default.toml"), "{err}");

        let missing = tmp.path().join("nope");
        let err = Settings::load(Some(&missing), "development", vars(&[]))
            .expect_err("must fail")
            .to_string();
        assert!(
            err.contains("AISHA_CONFIG_DIR") && err.contains("nope"),
            "{err}"
        );
    }

    #[test]
    fn styles_ship_and_bad_ones_name_the_key() {
        let s = Settings::load(None, "production", vars(&[])).expect("loads");
        assert!(s.offered_styles().count() >= 8, "at least 8 presets ship");
        for style in &s.styles {
            assert_eq!(style.apply("X").matches('X').count(), 1, "{}", style.id);
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        for (toml, key) in [
            (
                "[[styles]]\nid = \"Bad Id\"\nemoji = \"x\"\nname_ru = \"x\"\nname_en = \"x\"\ntemplate = \"{prompt}\"\n",
                "styles.id",
            ),
            (
                "[[styles]]\nid = \"two\"\nemoji = \"x\"\nname_ru = \"x\"\nname_en = \"x\"\ntemplate = \"{prompt} {prompt}\"\n",
                "styles.template",
            ),
            (
                "[[styles]]\nid = \"none\"\nemoji = \"x\"\nname_ru = \"x\"\nname_en = \"x\"\ntemplate = \"no words\"\n",
                "styles.template",
            ),
        ] {
            std::fs::write(tmp.path().join("production.toml"), toml).expect("write");
            let err = Settings::load(Some(tmp.path()), "production", vars(&[]))
                .expect_err("must fail")
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn secrets_in_config_files_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::copy(dir().join("default.toml"), tmp.path().join("default.toml")).expect("copy");
        std::fs::write(
            tmp.path().join("leaky.toml"),
            "telegram_bot_token = \"1:A\"\n",
        )
        .expect("write");
        let err = Settings::load(Some(tmp.path()), "leaky", vars(&[]))
            .expect_err("must refuse")
            .to_string();
        assert!(err.contains("TELEGRAM_BOT_TOKEN"), "{err}");
        assert!(!err.contains("1:A"), "{err}");
        std::fs::write(tmp.path().join("leaky.toml"), "llm_api_key = \"sk-x\"\n").expect("write");
        let err = Settings::load(Some(tmp.path()), "leaky", vars(&[]))
            .expect_err("must refuse")
            .to_string();
        assert!(
            err.contains("LLM_API_KEY") && !err.contains("sk-x"),
            "{err}"
        );
    }
}
