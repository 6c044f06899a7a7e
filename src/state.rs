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
    delivery::{self, Push},
    jobs::{JobId, PipelineError, Signer, deadline::Deadlines, estimate::Estimate},
    kv::KvScopes,
    llm::Llm,
    provider::ImageProvider,
    replica::Replica,
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
    /// Signs our webhook and archive URLs (the provider webhook secret).
    pub signer: Signer,
    /// Wakes the delivery worker and paces sends; the queue itself is the `deliveries` table.
    pub outbox: Arc<Outbox>,
    /// This process among the replicas (its id tags what it claims; see `replica`).
    pub replica: Replica,
    /// The jobs this process watches for a missed callback.
    pub deadlines: Arc<Deadlines>,
    /// Recent generation durations, for the progress message.
    pub estimate: Arc<Estimate>,
    /// Prompt help (translation, ✨, 📷); `None` when no LLM is configured.
    pub llm: Option<Arc<Llm>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("provider", &self.provider.name())
            .field("kv", &self.kv)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A settled job's one message: queued in the transaction that settled it, committed with
    /// it; then the worker is woken and the deadline timer (here and on the other replicas)
    /// forgets the job.
    pub async fn announce(
        &self,
        txn: sea_orm::DatabaseTransaction,
        job: JobId,
        chat: Option<i64>,
        push: &Push,
    ) -> Result<(), PipelineError> {
        if let Some(chat) = chat {
            delivery::enqueue(&txn, &job.delivery_key(), chat, push).await?;
        }
        txn.commit().await?;
        self.outbox.queued().await;
        self.deadlines.settled(job).await;
        Ok(())
    }
}
