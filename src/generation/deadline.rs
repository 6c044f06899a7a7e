//! The single deadline timer. One task sleeps until the earliest deadline of the pending
//! generations it knows (no loop per job, no polling); when one passes without a callback, the
//! provider is asked once: finished → settled as if the callback came, otherwise failed and
//! refunded. Pending generations are loaded at start-up, so a restart loses none.
//!
//! With Redis (several replicas), every replica watches every generation: a new deadline and a
//! settled generation are broadcast on a pub/sub channel, and a short lock lets one replica ask
//! the provider. So a replica that goes away for good leaves no generation unwatched.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::Duration,
};

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use entity::{avatar, generation};
use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::GenerationStatus,
    generation::{FailReason, PipelineError, fail, settle},
    provider::{ProviderError, Status},
    state::AppState,
};

/// When the provider can't be reached at the deadline, ask again this much later...
const RETRY: Duration = Duration::from_secs(60);
/// ...at most this many times before giving up.
const MAX_RETRIES: u32 = 5;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Job {
    Generation(i64),
    /// An avatar's training.
    Training(i64),
}

impl Job {
    fn encode(self) -> String {
        match self {
            Self::Generation(id) => id.to_string(),
            Self::Training(id) => format!("t{id}"),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.strip_prefix('t') {
            Some(id) => id.parse().ok().map(Self::Training),
            None => s.parse().ok().map(Self::Generation),
        }
    }
}

#[derive(Default)]
struct Set {
    by_time: BTreeSet<(DateTime<Utc>, Job)>,
    by_id: HashMap<Job, (DateTime<Utc>, u32)>,
}

#[derive(Default)]
pub struct Deadlines {
    set: Mutex<Set>,
    changed: Notify,
}

impl Deadlines {
    fn lock(&self) -> std::sync::MutexGuard<'_, Set> {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Watches a job until `at`.
    pub fn schedule(&self, id: Job, at: DateTime<Utc>) {
        self.schedule_retry(id, at, 0);
    }

    fn schedule_retry(&self, id: Job, at: DateTime<Utc>, retries: u32) {
        let mut set = self.lock();
        if let Some((old, _)) = set.by_id.insert(id, (at, retries)) {
            set.by_time.remove(&(old, id));
        }
        set.by_time.insert((at, id));
        drop(set);
        self.changed.notify_one();
    }

    /// Stops watching (the job settled).
    pub fn forget(&self, id: Job) {
        let mut set = self.lock();
        if let Some((at, _)) = set.by_id.remove(&id) {
            set.by_time.remove(&(at, id));
        }
    }

    /// How many generations are watched.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn next(&self) -> Option<DateTime<Utc>> {
        self.lock().by_time.first().map(|(at, _)| *at)
    }

    fn take_due(&self, now: DateTime<Utc>) -> Vec<(Job, u32)> {
        let mut set = self.lock();
        let mut due = Vec::new();
        while let Some(&(at, id)) = set.by_time.first() {
            if at > now {
                break;
            }
            set.by_time.remove(&(at, id));
            let retries = set.by_id.remove(&id).map_or(0, |(_, r)| r);
            due.push((id, retries));
        }
        due
    }
}

const CHANNEL: &str = "deadlines";
/// How long one replica holds a generation's check for itself.
const CHECK_LOCK: Duration = Duration::from_secs(120);

/// Watches a job here and on the other replicas.
pub async fn watch(state: &AppState, id: Job, at: DateTime<Utc>) {
    state.deadlines.schedule(id, at);
    broadcast(state, &format!("watch:{}:{}", id.encode(), at.timestamp())).await;
}

/// Stops watching a settled job here and on the other replicas.
pub async fn settled(state: &AppState, id: Job) {
    state.deadlines.forget(id);
    broadcast(state, &format!("settled:{}", id.encode())).await;
}

async fn broadcast(state: &AppState, message: &str) {
    if !state.kv.db.is_redis() {
        return;
    }
    if let Err(e) = state.kv.db.publish(CHANNEL, message).await {
        // The other replicas then learn of it only at their next start: not lost, only later.
        tracing::warn!(error = %e, "could not broadcast a deadline change");
    }
}

fn apply(deadlines: &Deadlines, message: &str) {
    let mut parts = message.split(':');
    match (parts.next(), parts.next().and_then(Job::parse)) {
        (Some("watch"), Some(id)) => {
            if let Some(at) = parts
                .next()
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|t| DateTime::from_timestamp(t, 0))
            {
                deadlines.schedule(id, at);
            }
        }
        (Some("settled"), Some(id)) => deadlines.forget(id),
        _ => tracing::debug!(message, "ignoring an unknown deadline message"),
    }
}

/// Follows the other replicas' deadline changes until `stop` (Redis only). After a lost
/// connection the pending generations are read again, so nothing missed stays unwatched.
pub async fn listen(state: AppState, stop: CancellationToken) {
    let Some(url) = state
        .settings
        .redis_url
        .as_ref()
        .map(|u| u.expose().to_owned())
    else {
        return;
    };
    let channel = state.kv.db.channel(CHANNEL);
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            if let Err(e) = load(&state).await {
                tracing::warn!(error = %e, "deadline timer: cannot reload pending generations");
            }
        }
        first = false;
        let subscribed = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let mut pubsub = match subscribed {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "deadline timer: cannot subscribe to Redis; retrying");
                continue;
            }
        };
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                message = messages.next() => match message {
                    Some(message) => {
                        if let Ok(text) = message.get_payload::<String>() {
                            apply(&state.deadlines, &text);
                        }
                    }
                    None => break,
                },
            }
        }
    }
}

/// Loads the pending generations, then sleeps until each deadline until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    loop {
        match load(&state).await {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "deadline timer: cannot load pending generations; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    }
    loop {
        let wait = state
            .deadlines
            .next()
            .map_or(Duration::from_secs(86_400), |at| {
                (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
            });
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.deadlines.changed.notified() => continue,
            () = tokio::time::sleep(wait) => {}
        }
        for (id, retries) in state.deadlines.take_due(Utc::now()) {
            let state = state.clone();
            // Each check may wait on the provider; none holds up the others or the timer.
            tokio::spawn(async move {
                if let Err(e) = check(&state, id, retries).await {
                    tracing::error!(job = ?id, error = %e, "deadline check failed; retrying later");
                    state
                        .deadlines
                        .schedule_retry(id, Utc::now() + RETRY, retries + 1);
                }
            });
        }
    }
}

async fn load(state: &AppState) -> Result<(), sea_orm::DbErr> {
    let pending: Vec<(i64, DateTime<Utc>)> = generation::Entity::find()
        .select_only()
        .column(generation::Column::Id)
        .column(generation::Column::DeadlineAt)
        .filter(generation::Column::Status.eq(GenerationStatus::Pending))
        .into_tuple()
        .all(&state.db)
        .await?;
    for (id, at) in pending {
        state.deadlines.schedule(Job::Generation(id), at);
    }
    let training: Vec<(i64, Option<DateTime<Utc>>)> = avatar::Entity::find()
        .select_only()
        .column(avatar::Column::Id)
        .column(avatar::Column::DeadlineAt)
        .filter(avatar::Column::Status.eq(crate::domain::AvatarStatus::Training))
        .into_tuple()
        .all(&state.db)
        .await?;
    for (id, at) in training {
        state
            .deadlines
            .schedule(Job::Training(id), at.unwrap_or_else(Utc::now));
    }
    Ok(())
}

/// The one question to the provider for an overdue job.
async fn check(state: &AppState, id: Job, retries: u32) -> Result<(), PipelineError> {
    // Every replica watches every job; one of them asks.
    let lock = match state
        .kv
        .db
        .try_lock(&format!("deadline:{}", id.encode()), CHECK_LOCK)
        .await
    {
        Ok(Some(lock)) => Some(lock),
        Ok(None) => return Ok(()),
        // Without the cache, asking twice is harmless (settling is conditional): go ahead.
        Err(e) => {
            tracing::warn!(error = %e, "deadline lock unavailable; checking anyway");
            None
        }
    };
    let checked = match id {
        Job::Generation(id) => check_once(state, id, retries).await,
        Job::Training(id) => crate::avatar::training::check(state, id, retries).await,
    };
    if let Some(lock) = lock
        && let Err(e) = state.kv.db.unlock(lock).await
    {
        tracing::warn!(error = %e, "could not release a deadline lock (it expires)");
    }
    checked
}

async fn check_once(state: &AppState, id: i64, retries: u32) -> Result<(), PipelineError> {
    let Some(generation) = generation::Entity::find_by_id(id).one(&state.db).await? else {
        return Ok(());
    };
    if generation.status != GenerationStatus::Pending {
        return Ok(());
    }
    let Some(request_id) = generation.request_id.as_deref() else {
        // The provider never confirmed the job: there is nothing to ask about.
        fail(state, id, &FailReason::Submit, None).await?;
        return Ok(());
    };
    match state.provider.status(&generation.model, request_id).await {
        Ok(Status::Done(outcome)) => {
            settle(state, id, outcome).await?;
        }
        Ok(Status::Pending) => {
            fail(state, id, &FailReason::Timeout, None).await?;
        }
        Err(ProviderError::Unavailable(e)) if retries < MAX_RETRIES => {
            tracing::warn!(generation = id, error = %e, "provider unreachable at the deadline; asking again later");
            retry_later(state, Job::Generation(id), retries);
        }
        Err(e) => {
            tracing::warn!(generation = id, error = %e, "deadline check: giving up");
            fail(state, id, &FailReason::Timeout, None).await?;
        }
    }
    Ok(())
}

/// Asks about the job again a minute later (the provider was unreachable).
pub fn retry_later(state: &AppState, id: Job, retries: u32) {
    state
        .deadlines
        .schedule_retry(id, Utc::now() + RETRY, retries + 1);
}

/// Whether a check may still be retried.
#[must_use]
pub fn may_retry(retries: u32) -> bool {
    retries < MAX_RETRIES
}
