//! The delivery outbox: every push to a chat that must not be lost (a result, a failure notice)
//! is a row, written in the same transaction as the change it announces. A worker claims due
//! rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never take the same row), sends
//! them within Telegram's limits, and records the outcome: done, retried later (429 after
//! `retry_after`, network/5xx with backoff), or failed for good (the user blocked the bot).
//!
//! The worker never polls: it sleeps until a push is queued (on this process, or on another
//! replica, which says so on the `outbox` channel), or until the next due time: a retry it
//! scheduled, or the end of another process's lease. A claim is a short lease tagged with the
//! claiming process ([`crate::replica`]) and renewed while its send is under way; when a lease
//! runs out and its holder is gone, any replica takes the row over. So a crash delays a push by
//! seconds, and a process that is alive never has its sends repeated by another.

mod image;
mod limiter;
pub mod push;
pub mod sources;
mod worker;

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::Utc;
use entity::delivery;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::kv::Kv;

pub use limiter::Limiter;
pub use push::{Buttons, Push, PushImage};
pub use worker::run;

pub const PENDING: &str = "pending";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// What the worker needs, handed in by the app builder (the outbox sits below the app's state
/// and knows no feature).
#[derive(Clone)]
pub struct Worker {
    pub settings: std::sync::Arc<crate::config::Settings>,
    pub db: sea_orm::DatabaseConnection,
    pub bot: teloxide::Bot,
    /// For downloading result images from the provider (see [`image_client`]).
    pub http: reqwest::Client,
    /// Where result images may come from.
    pub sources: sources::ImageSources,
    pub outbox: std::sync::Arc<Outbox>,
    /// The feature whose result images turned out unusable.
    pub unusable: std::sync::Arc<dyn UnusableImages>,
    /// This process: claims carry its id; others' claims are taken over when they are gone.
    pub replica: crate::replica::Replica,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

/// A result whose images can't be fetched for good (gone, not images, too big).
#[async_trait::async_trait]
pub trait UnusableImages: Send + Sync {
    /// Fails and refunds the generation, and returns the push to send in its place (its
    /// failure notice, already stored on `row`); `None` when the generation is no longer
    /// completed.
    async fn replace(
        &self,
        row: &delivery::Model,
        generation_id: i64,
    ) -> Result<Option<Push>, String>;
}

/// Results and failure notices: what the user is waiting for.
pub const PRIORITY_RESULT: i32 = 0;

/// This instance's side of the outbox: how the worker is woken and paced.
#[derive(Debug)]
pub struct Outbox {
    wake: Notify,
    /// Retry times this worker scheduled, earliest first.
    timers: Mutex<BinaryHeap<Reverse<Instant>>>,
    /// Rows this process is sending now: a claim that expires mid-send is not taken twice here.
    in_flight: Mutex<HashSet<i64>>,
    pub limiter: Limiter,
    /// The database's scope of the shared store: tells the other replicas a push was queued.
    kv: Kv,
    /// This process's replica id, so it ignores its own announcements.
    me: String,
}

/// The pub/sub channel on which replicas say "a push was queued".
const CHANNEL: &str = "outbox";

impl Outbox {
    #[must_use]
    /// `kv` is the database's scope (announcements), `budget` the bot's (the send budget).
    pub fn new(per_chat: Duration, per_second: u32, kv: Kv, budget: Kv, me: &str) -> Self {
        Self {
            wake: Notify::new(),
            timers: Mutex::new(BinaryHeap::new()),
            in_flight: Mutex::new(HashSet::new()),
            limiter: Limiter::new(per_chat, per_second, budget),
            kv,
            me: me.to_owned(),
        }
    }

    /// The worker looks now.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Something was queued and committed: this worker looks now, and so do the other
    /// replicas' (so the push goes out even if this process dies before it claims it).
    pub async fn queued(&self) {
        self.nudge();
        if self.kv.is_redis()
            && let Err(e) = self.kv.publish(CHANNEL, &self.me).await
        {
            // This process still sends it; only a crash before that would wait for a restart.
            tracing::warn!(error = %e, "could not tell the other replicas about a queued push");
        }
    }

    /// Makes the worker look again at `at`.
    pub fn wake_at(&self, at: Instant) {
        self.schedule(at);
        self.wake.notify_one();
    }

    /// Makes the worker look again at `at`, without waking it now (the worker itself).
    fn schedule(&self, at: Instant) {
        let mut timers = self
            .timers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if timers.peek().is_none_or(|Reverse(first)| *first != at) {
            timers.push(Reverse(at));
        }
    }

    /// The rows this process is sending now.
    fn sending(&self) -> Vec<i64> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    /// Marks a row as being sent here; false when it already is.
    fn start(&self, id: i64) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id)
    }

    fn finish(&self, id: i64) {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }

    /// The earliest scheduled wake-up, dropping the ones that have passed.
    fn next_timer(&self, now: Instant) -> Option<Instant> {
        let mut timers = self
            .timers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(Reverse(at)) = timers.peek() {
            if *at <= now {
                timers.pop();
            } else {
                return Some(*at);
            }
        }
        None
    }
}

/// Wakes this worker whenever another replica queues a push, until `stop` (Redis only).
pub async fn listen(
    outbox: std::sync::Arc<Outbox>,
    redis_url: Option<String>,
    stop: CancellationToken,
) {
    let Some(url) = redis_url else {
        return;
    };
    let channel = outbox.kv.channel(CHANNEL);
    crate::kv::listen(
        &url,
        &channel,
        &stop,
        |from| {
            if from != outbox.me {
                outbox.nudge();
            }
        },
        // Whatever was queued while the connection was down: look now.
        || async { outbox.nudge() },
    )
    .await;
}

/// Queues a push (in the caller's transaction); a second push with the same key is ignored.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    dedupe_key: &str,
    chat_id: i64,
    push: &Push,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let row = delivery::ActiveModel {
        dedupe_key: Set(dedupe_key.to_owned()),
        chat_id: Set(chat_id),
        kind: Set(push.kind().to_owned()),
        payload: Set(push.encode()),
        priority: Set(PRIORITY_RESULT),
        status: Set(PENDING.to_owned()),
        stage: Set(0),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        finished_at: Set(None),
        ..Default::default()
    };
    delivery::Entity::insert(row)
        .on_conflict(
            OnConflict::column(delivery::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Swaps what a queued push sends (a result that became a failure notice), from the first step.
pub async fn replace_payload<C: ConnectionTrait>(
    db: &C,
    delivery_id: i64,
    push: &Push,
) -> Result<(), DbErr> {
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Payload, Expr::val(push.encode()))
        .col_expr(delivery::Column::Kind, Expr::val(push.kind()))
        .col_expr(delivery::Column::Stage, Expr::val(0))
        .filter(delivery::Column::Id.eq(delivery_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a push that was given up (say, the user had blocked the bot) another go from the first
/// step. True when there was one.
pub async fn retry_failed<C: ConnectionTrait>(db: &C, dedupe_key: &str) -> Result<bool, DbErr> {
    let result = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::val(PENDING))
        .col_expr(delivery::Column::Attempts, Expr::val(0))
        .col_expr(delivery::Column::NextAttemptAt, Expr::val(Utc::now()))
        .col_expr(
            delivery::Column::FinishedAt,
            Expr::val(None::<chrono::DateTime<Utc>>),
        )
        .filter(delivery::Column::DedupeKey.eq(dedupe_key))
        .filter(delivery::Column::Status.eq(FAILED))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The client result images are downloaded with: names resolve only to public addresses (but
/// for the named origins' hosts), and a redirect is followed only to a URL `sources` allows, at
/// most five times.
pub fn image_client(sources: &sources::ImageSources) -> reqwest::Result<reqwest::Client> {
    let policy_sources = sources.clone();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        // A proxy would resolve the names itself, past the resolver below.
        .no_proxy()
        .dns_resolver(sources.resolver())
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if let Err(why) = policy_sources.check(attempt.url()) {
                attempt.error(format!("redirect refused: {why}"))
            } else {
                attempt.follow()
            }
        }))
        .build()
}
