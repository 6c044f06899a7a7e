//! The single deadline timer. One task sleeps until the earliest deadline of the pending
//! generations it knows (no loop per job, no polling); when one passes without a callback, the
//! provider is asked once: finished → settled as if the callback came, otherwise failed and
//! refunded. Pending generations are loaded at start-up, so a restart loses none.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::generation;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    app::AppState,
    generation::{FailReason, PENDING, PipelineError, fail, settle},
    provider::{ProviderError, Status},
};

/// When the provider can't be reached at the deadline, ask again this much later...
const RETRY: Duration = Duration::from_secs(60);
/// ...at most this many times before giving up.
const MAX_RETRIES: u32 = 5;

#[derive(Default)]
struct Set {
    by_time: BTreeSet<(DateTime<Utc>, i64)>,
    by_id: HashMap<i64, (DateTime<Utc>, u32)>,
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

    /// Watches a generation until `at`.
    pub fn schedule(&self, id: i64, at: DateTime<Utc>) {
        self.schedule_retry(id, at, 0);
    }

    fn schedule_retry(&self, id: i64, at: DateTime<Utc>, retries: u32) {
        let mut set = self.lock();
        if let Some((old, _)) = set.by_id.insert(id, (at, retries)) {
            set.by_time.remove(&(old, id));
        }
        set.by_time.insert((at, id));
        drop(set);
        self.changed.notify_one();
    }

    /// Stops watching (the generation settled).
    pub fn forget(&self, id: i64) {
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

    fn take_due(&self, now: DateTime<Utc>) -> Vec<(i64, u32)> {
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
                    tracing::error!(generation = id, error = %e, "deadline check failed; retrying later");
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
        .filter(generation::Column::Status.eq(PENDING))
        .into_tuple()
        .all(&state.db)
        .await?;
    for (id, at) in pending {
        state.deadlines.schedule(id, at);
    }
    Ok(())
}

/// The one question to the provider for an overdue generation.
async fn check(state: &AppState, id: i64, retries: u32) -> Result<(), PipelineError> {
    let Some(generation) = generation::Entity::find_by_id(id).one(&state.db).await? else {
        return Ok(());
    };
    if generation.status != PENDING {
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
            state
                .deadlines
                .schedule_retry(id, Utc::now() + RETRY, retries + 1);
        }
        Err(e) => {
            tracing::warn!(generation = id, error = %e, "deadline check: giving up");
            fail(state, id, &FailReason::Timeout, None).await?;
        }
    }
    Ok(())
}
