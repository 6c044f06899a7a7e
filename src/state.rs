//! The state every request handler and background task shares: settings, storage, the bot, the
//! provider and the in-process parts of the outbox and the deadline timer. Built once by
//! `app::Application::build`; cheap to clone.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use teloxide::Bot;
use tokio::sync::Semaphore;

use crate::{
    config::{Secret, Settings},
    delivery::Outbox,
    generation::{deadline::Deadlines, estimate::Estimate},
    kv::KvScopes,
    provider::ImageProvider,
};

/// Shared by every request handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    /// The shared key-value store, one handle per scope (bot / this database): see `kv`.
    pub kv: KvScopes,
    pub bot: Bot,
    /// The secret Telegram must present on the webhook: the configured one, or one generated
    /// for the sandbox.
    pub webhook_secret: Arc<Secret>,
    /// Bounds the updates handled at once; see `http::webhook`.
    pub updates_in_flight: Arc<Semaphore>,
    pub metrics: PrometheusHandle,
    /// For providers and image downloads (Telegram has its own, with its own timeout).
    pub http: reqwest::Client,
    pub provider: Arc<dyn ImageProvider>,
    pub outbox: Arc<Outbox>,
    pub deadlines: Arc<Deadlines>,
    pub estimate: Arc<Estimate>,
}
