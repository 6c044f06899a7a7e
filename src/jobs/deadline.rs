//! The single deadline timer. One task sleeps until the earliest deadline of the pending jobs
//! it knows (no loop per job, no polling); when one passes without a callback, the job's owner
//! (a [`DueJobs`] the app builder injects: this module knows no feature) asks the provider once.
//! Pending jobs are loaded at start-up, so a restart loses none.
//!
//! With Redis (several replicas), every replica watches every job: a new deadline and a settled
//! job are broadcast on a pub/sub channel, and a short lock lets one replica ask the provider.
//! So a replica that goes away for good leaves no job unwatched.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{JobId as Job, PipelineError};
use crate::kv::Kv;

/// When the provider can't be reached at the deadline, ask again this much later...
const RETRY: Duration = Duration::from_secs(60);
/// ...at most this many times before giving up.
const MAX_RETRIES: u32 = 5;

#[derive(Default)]
struct Set {
    by_time: BTreeSet<(DateTime<Utc>, Job)>,
    by_id: HashMap<Job, (DateTime<Utc>, u32)>,
}

/// The jobs this process watches, and how it tells the other replicas.
pub struct Deadlines {
    set: Mutex<Set>,
    changed: Notify,
    /// The database's scope of the shared store: broadcasts and the check lock.
    kv: Kv,
}

impl std::fmt::Debug for Deadlines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadlines")
            .field("watched", &self.len())
            .finish_non_exhaustive()
    }
}

/// What the timer asks of the jobs' owners.
#[async_trait::async_trait]
pub trait DueJobs: Send + Sync {
    /// Every job still waiting for its provider, with its deadline.
    async fn pending(&self) -> Result<Vec<(Job, DateTime<Utc>)>, sea_orm::DbErr>;

    /// The deadline passed without a callback: ask the provider once and settle or fail the
    /// job. `retries`: how often it was unreachable before. [`Checked::AskAgain`] puts the job
    /// back a minute later.
    async fn check(&self, job: Job, retries: u32) -> Result<Checked, PipelineError>;
}

/// How a deadline check ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Done,
    /// The provider could not be reached: ask again later.
    AskAgain,
    /// The job's deadline moved (it was submitted meanwhile; this timer heard late): wait.
    Later(DateTime<Utc>),
}

impl Deadlines {
    /// `kv`: the database's scope (the jobs it names are that database's rows).
    #[must_use]
    pub fn new(kv: Kv) -> Self {
        Self {
            set: Mutex::new(Set::default()),
            changed: Notify::new(),
            kv,
        }
    }

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

impl Deadlines {
    /// Watches a job here and on the other replicas.
    pub async fn watch(&self, id: Job, at: DateTime<Utc>) {
        self.schedule(id, at);
        self.broadcast(&format!("watch:{}:{}", id.encode(), at.timestamp()))
            .await;
    }

    /// Stops watching a settled job here and on the other replicas.
    pub async fn settled(&self, id: Job) {
        self.forget(id);
        self.broadcast(&format!("settled:{}", id.encode())).await;
    }

    async fn broadcast(&self, message: &str) {
        if !self.kv.is_redis() {
            return;
        }
        if let Err(e) = self.kv.publish(CHANNEL, message).await {
            // The other replicas then learn of it only at their next start: not lost, only later.
            tracing::warn!(error = %e, "could not broadcast a deadline change");
        }
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

/// Follows the other replicas' deadline changes until `stop` (Redis only: `redis_url`). After a
/// lost connection the pending jobs are read again, so nothing missed stays unwatched.
pub async fn listen(
    deadlines: Arc<Deadlines>,
    jobs: Arc<dyn DueJobs>,
    redis_url: Option<String>,
    stop: CancellationToken,
) {
    let Some(url) = redis_url else {
        return;
    };
    let channel = deadlines.kv.channel(CHANNEL);
    crate::kv::listen(
        &url,
        &channel,
        &stop,
        |text| apply(&deadlines, text),
        || async {
            if let Err(e) = load(&deadlines, jobs.as_ref()).await {
                tracing::warn!(error = %e, "deadline timer: cannot reload pending jobs");
            }
        },
    )
    .await;
}

/// Loads the pending jobs, then sleeps until each deadline until `stop`.
pub async fn run(deadlines: Arc<Deadlines>, jobs: Arc<dyn DueJobs>, stop: CancellationToken) {
    loop {
        match load(&deadlines, jobs.as_ref()).await {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "deadline timer: cannot load pending jobs; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    }
    loop {
        let wait = deadlines.next().map_or(Duration::from_secs(86_400), |at| {
            (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
        });
        tokio::select! {
            () = stop.cancelled() => return,
            () = deadlines.changed.notified() => continue,
            () = tokio::time::sleep(wait) => {}
        }
        for (id, retries) in deadlines.take_due(Utc::now()) {
            let (deadlines, jobs) = (deadlines.clone(), jobs.clone());
            // Each check may wait on the provider; none holds up the others or the timer.
            tokio::spawn(async move {
                match check(&deadlines, jobs.as_ref(), id, retries).await {
                    Ok(Checked::Done) => {}
                    Ok(Checked::Later(at)) => deadlines.schedule(id, at),
                    Ok(Checked::AskAgain) => {
                        deadlines.schedule_retry(id, Utc::now() + RETRY, retries + 1);
                    }
                    Err(e) => {
                        tracing::error!(job = ?id, error = %e, "deadline check failed; retrying later");
                        deadlines.schedule_retry(id, Utc::now() + RETRY, retries + 1);
                    }
                }
            });
        }
    }
}

async fn load(deadlines: &Deadlines, jobs: &dyn DueJobs) -> Result<(), sea_orm::DbErr> {
    for (id, at) in jobs.pending().await? {
        deadlines.schedule(id, at);
    }
    Ok(())
}

/// The one question to the provider for an overdue job.
async fn check(
    deadlines: &Deadlines,
    jobs: &dyn DueJobs,
    id: Job,
    retries: u32,
) -> Result<Checked, PipelineError> {
    // Every replica watches every job; one of them asks.
    let lock = match deadlines
        .kv
        .try_lock(&format!("deadline:{}", id.encode()), CHECK_LOCK)
        .await
    {
        Ok(Some(lock)) => Some(lock),
        Ok(None) => return Ok(Checked::Done),
        // Without the cache, asking twice is harmless (settling is conditional): go ahead.
        Err(e) => {
            tracing::warn!(error = %e, "deadline lock unavailable; checking anyway");
            None
        }
    };
    let checked = jobs.check(id, retries).await;
    if let Some(lock) = lock
        && let Err(e) = deadlines.kv.unlock(lock).await
    {
        tracing::warn!(error = %e, "could not release a deadline lock (it expires)");
    }
    checked
}

/// Whether a check may still be retried.
#[must_use]
pub fn may_retry(retries: u32) -> bool {
    retries < MAX_RETRIES
}
