//! The outbox worker: claim due rows, send each within Telegram's limits, record the outcome.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use entity::delivery;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, Statement, sea_query::Expr,
};
use teloxide::{
    RequestError,
    payloads::{SendMessageSetters, SendPhotoSetters},
    prelude::Requester,
    types::{ChatId, InputFile, InputMedia, InputMediaPhoto, Message, MessageId, ParseMode},
};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    bot_api::{self, Outcome},
    delivery::{
        DONE, FAILED, PENDING, Worker,
        image::{self, FetchError, Stored},
        push::{Buttons, Push, keyboard},
    },
};

/// Rows claimed per round.
const BATCH: usize = 32;
/// How long shutdown waits for sends under way.
const DRAIN: Duration = Duration::from_secs(10);
/// A failed claim round is tried again after this.
const CLAIM_RETRY: Duration = Duration::from_secs(2);
/// The earliest the worker looks again at a row it saw but could not claim (another replica was
/// claiming it at the same moment).
const MIN_WAIT: Duration = Duration::from_millis(500);
/// The longest pause between tries of recording a send.
const PERSIST_PAUSE: Duration = Duration::from_secs(2);

/// How one attempt ended.
enum Attempt {
    /// Telegram took it: record that, then pace the chat and delete the progress message
    /// (`replaces`) — in that order, so the window in which a crash repeats a send is as short
    /// as the code allows. `files`: the file ids of a single photo just sent, recorded in the
    /// same write as the outcome.
    Done {
        replaces: Option<i64>,
        files: Option<Files>,
    },
    /// Telegram said slow down: try again after this, without counting a failure.
    RetryAfter(Duration),
    /// Network, 5xx, disk: try again with backoff.
    Transient(String),
    /// Retrying can't help (blocked by the user, chat gone): record and stop.
    Permanent(String),
}

impl From<RequestError> for Attempt {
    fn from(e: RequestError) -> Self {
        // teloxide keeps the token out of its errors' text.
        let said = format!("bot api: {e}");
        match bot_api::outcome(&e) {
            Outcome::RetryAfter(secs) => Self::RetryAfter(Duration::from_secs(secs.max(1))),
            Outcome::Transient => Self::Transient(said),
            Outcome::Permanent => Self::Permanent(said),
        }
    }
}

impl From<DbErr> for Attempt {
    fn from(e: DbErr) -> Self {
        Self::Transient(format!("database: {e}"))
    }
}

/// Runs until `stop`: claims due pushes and sends them, `concurrency` at a time.
pub async fn run(state: Worker, stop: CancellationToken) {
    let permits = Arc::new(Semaphore::new(state.settings.delivery.concurrency));
    let mut tasks = JoinSet::new();
    let maybe_more = Arc::new(AtomicBool::new(false));
    let renewing = CancellationToken::new();
    let renewals = tokio::spawn(renew(state.clone(), renewing.clone()));
    // Processes found gone: their expired claims are free to take.
    let mut dead: HashSet<String> = HashSet::new();
    // The first round also picks up what an earlier run (or a replica that died) left.
    loop {
        while tasks.try_join_next().is_some() {}
        let limit = BATCH.min(permits.available_permits().max(1));
        let round = match claim(&state, limit, &dead).await {
            Ok(round) => round,
            Err(e) => {
                tracing::error!(error = %e, "outbox: claim failed; retrying in 2 s");
                state
                    .outbox
                    .schedule(std::time::Instant::now() + CLAIM_RETRY);
                Round::default()
            }
        };
        let full = round.rows.len() >= BATCH;
        // Rows may have been left for lack of a free slot: a finished send should look again.
        maybe_more.store(round.rows.len() >= limit, Ordering::Relaxed);
        for row in round.rows {
            if !state.outbox.start(row.id) {
                // Still being sent by this process (its lease ran out meanwhile).
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (state, maybe_more) = (state.clone(), maybe_more.clone());
            tasks.spawn(async move {
                let id = row.id;
                process(&state, row).await;
                state.outbox.finish(id);
                drop(permit);
                if maybe_more.load(Ordering::Relaxed) {
                    state.outbox.nudge();
                }
            });
        }
        let now = std::time::Instant::now();
        // Claims whose lease ran out: taken over once their holder is gone; a holder that is
        // alive (or can't be asked about) is asked about again shortly.
        let mut found_dead = false;
        for owner in round.expired_owners {
            if dead.contains(&owner) {
                continue;
            }
            match state.replica.alive(&owner).await {
                Ok(false) => {
                    tracing::info!(replica = %owner, "outbox: taking over the pushes of a replica that is gone");
                    dead.insert(owner);
                    found_dead = true;
                }
                Ok(true) | Err(_) => state.outbox.schedule(now + crate::replica::BEAT * 2),
            }
        }
        if let Some(at) = round.next_due {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            state.outbox.schedule(now + wait.max(MIN_WAIT));
        }
        if full || found_dead {
            continue;
        }
        let timer = state.outbox.next_timer(now);
        let sleep = timer.map_or(Duration::from_secs(86_400), |at| at - now);
        tokio::select! {
            () = stop.cancelled() => break,
            () = state.outbox.wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
    // Sends under way may finish (an album cut off halfway would be sent again after the claim
    // expires); what doesn't finish in time stays queued for the next run.
    let drained =
        tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("outbox: stopping with sends still under way; they will be retried");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    renewing.cancel();
    let _ = renewals.await;
}

/// One claim round: the rows claimed, when the next row becomes due (a retry time, the end of
/// someone's lease), and which processes hold claims that ran out.
#[derive(Default)]
struct Round {
    rows: Vec<delivery::Model>,
    next_due: Option<chrono::DateTime<Utc>>,
    expired_owners: Vec<String>,
}

/// Claims up to `limit` due rows for `lease_secs`: unclaimed ones, this process's own whose
/// lease ran out, and those of processes in `dead`.
async fn claim(state: &Worker, limit: usize, dead: &HashSet<String>) -> Result<Round, DbErr> {
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(state.settings.delivery.lease_secs as i64);
    let me = state.replica.id().to_owned();
    let backend = state.db.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        // One statement: claim, and look at what stays (its snapshot predates the claim, so
        // the claimed rows are left out by id).
        let sql = "WITH picked AS (\
               SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $2 \
               AND (locked_until IS NULL OR (locked_until <= $2 AND (locked_by IS NULL \
                 OR locked_by = $4 OR locked_by = ANY(string_to_array($5, ','))))) \
               ORDER BY priority, id LIMIT $3 FOR UPDATE SKIP LOCKED), \
             claimed AS (\
               UPDATE deliveries d SET locked_until = $1, locked_by = $4 FROM picked \
               WHERE d.id = picked.id RETURNING d.*), \
             waiting AS (\
               SELECT min(CASE WHEN locked_until IS NULL THEN next_attempt_at \
                   ELSE GREATEST(locked_until, next_attempt_at) END) AS next_due, \
                 string_agg(DISTINCT locked_by, ',') FILTER (WHERE locked_until <= $2 \
                   AND locked_by <> $4) AS expired_owners \
               FROM deliveries WHERE status = 'pending' \
               AND id NOT IN (SELECT id FROM picked) \
               AND NOT (locked_by IS NOT NULL AND locked_by = $4 AND locked_until > $2)) \
             SELECT claimed.*, waiting.next_due, waiting.expired_owners \
             FROM waiting LEFT JOIN claimed ON true";
        let dead = dead.iter().cloned().collect::<Vec<_>>().join(",");
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [
                lease.into(),
                now.into(),
                (limit as i64).into(),
                me.into(),
                dead.into(),
            ],
        );
        let mut round = Round::default();
        for row in state.db.query_all_raw(statement).await? {
            if round.next_due.is_none() && round.expired_owners.is_empty() {
                round.next_due = row.try_get("", "next_due")?;
                let owners: Option<String> = row.try_get("", "expired_owners")?;
                round.expired_owners = owners
                    .map(|o| o.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
            }
            if row.try_get::<Option<i64>>("", "id")?.is_some() {
                round
                    .rows
                    .push(delivery::Model::from_query_result(&row, "")?);
            }
        }
        return Ok(round);
    }
    // SQLite: one process, one connection, one writer at a time: no row locks, and any claim
    // that is not this process's was left by an earlier run.
    let claim = Statement::from_sql_and_values(
        backend,
        "UPDATE deliveries SET locked_until = ?1, locked_by = ?4 WHERE id IN (\
           SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?2 \
           AND (locked_until IS NULL OR locked_until <= ?2) \
           ORDER BY priority, id LIMIT ?3) RETURNING *",
        [
            lease.into(),
            now.into(),
            (limit as i64).into(),
            me.clone().into(),
        ],
    );
    let rows = delivery::Entity::find()
        .from_raw_sql(claim)
        .all(&state.db)
        .await?;
    let next = Statement::from_sql_and_values(
        backend,
        "SELECT min(CASE WHEN locked_until IS NULL THEN next_attempt_at \
           ELSE max(locked_until, next_attempt_at) END) AS next_due \
         FROM deliveries WHERE status = 'pending' AND (locked_by IS NULL OR locked_by <> ?1)",
        [me.into()],
    );
    let next_due = match state.db.query_one_raw(next).await? {
        Some(row) => row.try_get("", "next_due")?,
        None => None,
    };
    Ok(Round {
        rows,
        next_due,
        expired_owners: Vec::new(),
    })
}

/// Extends the leases of the rows this process is sending, every third of a lease, until
/// `stop`. A send that takes long (a slow upload, a database that is down) keeps its claim.
async fn renew(state: Worker, stop: CancellationToken) {
    let lease = Duration::from_secs(state.settings.delivery.lease_secs);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(lease / 3) => {}
        }
        let ids = state.outbox.sending();
        if ids.is_empty() {
            continue;
        }
        let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
        let renewed = delivery::Entity::update_many()
            .col_expr(delivery::Column::LockedUntil, Expr::val(until))
            .filter(delivery::Column::Id.is_in(ids))
            .filter(delivery::Column::LockedBy.eq(state.replica.id()))
            .filter(delivery::Column::Status.eq(PENDING))
            .exec(&state.db)
            .await;
        if let Err(e) = renewed {
            // Nobody takes them over while this process is alive (see `replica`).
            tracing::warn!(error = %e, "outbox: could not renew leases");
        }
    }
}

/// One attempt at one claimed row, and its bookkeeping. Whatever the attempt did is recorded,
/// however long the database takes to come back: a message Telegram took is never sent again
/// by this process, and no other takes the row over while this one lives.
async fn process(state: &Worker, row: delivery::Model) {
    let mut attempt = match Push::decode(&row.payload) {
        Some(push) => send(state, &row, push).await,
        None => Attempt::Permanent("unreadable payload".into()),
    };
    let (cleanup, files) = match &mut attempt {
        Attempt::Done { replaces, files } => (Some(*replaces), files.take()),
        _ => (None, None),
    };
    let outcome = outcome(state, &row, attempt);
    match files {
        Some(files) => persist(|| record_with_files(state, &row, &outcome, &files)).await,
        None => persist(|| record(state, &row, &outcome)).await,
    }
    if let Some(replaces) = cleanup {
        state.outbox.limiter.sent(row.chat_id).await;
        remove_progress(state, ChatId(row.chat_id), replaces).await;
    }
}

/// What the row becomes after an attempt.
struct Recorded {
    status: &'static str,
    attempts: i32,
    error: Option<String>,
    next_attempt_at: Option<chrono::DateTime<Utc>>,
    finished_at: Option<chrono::DateTime<Utc>>,
}

/// Decides what an attempt means for the row (counted and logged once, however often the
/// write is retried).
fn outcome(state: &Worker, row: &delivery::Model, attempt: Attempt) -> Recorded {
    let settings = &state.settings.delivery;
    let label = match &attempt {
        Attempt::Done { .. } => "done",
        Attempt::RetryAfter(_) => "retry_after",
        Attempt::Transient(_) if row.attempts + 1 < settings.max_attempts => "retry",
        _ => "failed",
    };
    metrics::counter!("deliveries_total", "outcome" => label).increment(1);
    let now = Utc::now();
    let later = |wait: Duration| now + chrono::Duration::from_std(wait).unwrap_or_default();
    match attempt {
        Attempt::Done { .. } => {
            let waited = (now - row.created_at).to_std().unwrap_or_default();
            metrics::histogram!("delivery_latency_seconds").record(waited.as_secs_f64());
            Recorded {
                status: DONE,
                attempts: row.attempts,
                error: row.last_error.clone(),
                next_attempt_at: None,
                finished_at: Some(now),
            }
        }
        Attempt::RetryAfter(wait) => {
            tracing::info!(delivery = row.id, ?wait, "outbox: Telegram asked to wait");
            state.outbox.wake_at(std::time::Instant::now() + wait);
            Recorded {
                status: PENDING,
                attempts: row.attempts,
                error: row.last_error.clone(),
                next_attempt_at: Some(later(wait)),
                finished_at: None,
            }
        }
        Attempt::Transient(error) if row.attempts + 1 < settings.max_attempts => {
            let wait = backoff(row.attempts, settings.max_backoff_secs);
            tracing::warn!(delivery = row.id, attempt = row.attempts + 1, ?wait, %error, "outbox: will retry");
            state.outbox.wake_at(std::time::Instant::now() + wait);
            Recorded {
                status: PENDING,
                attempts: row.attempts + 1,
                error: Some(error),
                next_attempt_at: Some(later(wait)),
                finished_at: None,
            }
        }
        Attempt::Transient(error) | Attempt::Permanent(error) => {
            tracing::warn!(delivery = row.id, chat = row.chat_id, %error, "outbox: giving up on a push");
            Recorded {
                status: FAILED,
                attempts: row.attempts + 1,
                error: Some(error),
                next_attempt_at: None,
                finished_at: Some(now),
            }
        }
    }
}

/// Writes the outcome and releases the claim (only a claim this process still holds).
async fn record(state: &Worker, row: &delivery::Model, recorded: &Recorded) -> Result<(), DbErr> {
    let mut update = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::LockedUntil,
            Expr::val(None::<chrono::DateTime<Utc>>),
        )
        .col_expr(delivery::Column::LockedBy, Expr::val(None::<String>))
        .col_expr(delivery::Column::Status, Expr::val(recorded.status))
        .col_expr(delivery::Column::Attempts, Expr::val(recorded.attempts))
        .col_expr(
            delivery::Column::LastError,
            Expr::val(recorded.error.clone()),
        )
        .col_expr(
            delivery::Column::FinishedAt,
            Expr::val(recorded.finished_at),
        );
    if let Some(at) = recorded.next_attempt_at {
        update = update.col_expr(delivery::Column::NextAttemptAt, Expr::val(at));
    }
    update
        .filter(delivery::Column::Id.eq(row.id))
        .filter(delivery::Column::Status.eq(PENDING))
        .filter(delivery::Column::LockedBy.eq(state.replica.id()))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// 2, 4, 8 ... seconds, capped, with up to a quarter of jitter so retries spread out.
fn backoff(attempts: i32, max_secs: u64) -> Duration {
    let base = 2u64.saturating_pow(u32::try_from(attempts + 1).unwrap_or(30).min(30));
    let secs = base.min(max_secs.max(1));
    let jitter = rand::random::<u64>() % (secs * 250 + 1);
    Duration::from_secs(secs) + Duration::from_millis(jitter)
}

async fn send(state: &Worker, row: &delivery::Model, push: Push) -> Attempt {
    let chat = ChatId(row.chat_id);
    match push {
        Push::Text {
            text,
            buttons,
            replaces,
        } => final_message(state, row, text, Some(ParseMode::Html), &buttons, replaces).await,
        Push::Images {
            generation_id,
            caption,
            images,
            album_text,
            buttons,
            replaces,
        } => {
            if row.stage == 0 {
                let mut stored = Vec::with_capacity(images.len());
                for image in &images {
                    let fetched = image::fetch(
                        &state.http,
                        &state.sources,
                        &state.settings.delivery.images_dir,
                        generation_id,
                        image.position,
                        &image.url,
                        state.settings.delivery.max_image_bytes,
                    )
                    .await;
                    match fetched {
                        Ok(s) => stored.push((image.position, s)),
                        Err(FetchError::Transient(e)) => return Attempt::Transient(e),
                        Err(FetchError::Permanent(e)) => {
                            tracing::warn!(generation = generation_id, error = %e, "result image unusable; refunding");
                            return undeliverable(state, row, generation_id).await;
                        }
                    }
                }
                state.outbox.limiter.acquire(row.chat_id).await;
                let messages = match stored.len() {
                    1 => state
                        .bot
                        .send_photo(chat, upload(&stored[0].1))
                        .caption(caption)
                        .parse_mode(ParseMode::Html)
                        .reply_markup(keyboard(&buttons))
                        .await
                        .map(|m| vec![m]),
                    _ => {
                        let media = stored.iter().enumerate().map(|(i, (_, s))| {
                            let photo = InputMediaPhoto::new(upload(s));
                            InputMedia::Photo(if i == 0 {
                                photo.caption(caption.clone()).parse_mode(ParseMode::Html)
                            } else {
                                photo
                            })
                        });
                        state.bot.send_media_group(chat, media).await
                    }
                };
                let messages = match messages {
                    Ok(m) => m,
                    Err(e) => {
                        state.outbox.limiter.sent(row.chat_id).await;
                        return e.into();
                    }
                };
                // Recorded first thing: the window in which a crash sends it twice is this. A
                // single photo is its whole push: its file id goes with the outcome.
                let files = files_update(state, generation_id, &stored, &messages);
                if stored.len() == 1 {
                    return Attempt::Done {
                        replaces,
                        files: Some(files),
                    };
                }
                persist(|| save_files(state, &files)).await;
                state.outbox.limiter.sent(row.chat_id).await;
                // The album is out: a retry from here must not send it again.
                persist(|| set_stage(state, row.id, 1)).await;
            }
            final_message(state, row, album_text, None, &buttons, replaces).await
        }
    }
}

/// The last message of a push (the one with the buttons); the progress message goes once that
/// is recorded.
async fn final_message(
    state: &Worker,
    row: &delivery::Model,
    text: String,
    mode: Option<ParseMode>,
    buttons: &Buttons,
    replaces: Option<i64>,
) -> Attempt {
    let chat = ChatId(row.chat_id);
    state.outbox.limiter.acquire(row.chat_id).await;
    let mut request = state
        .bot
        .send_message(chat, text)
        .reply_markup(keyboard(buttons));
    if let Some(mode) = mode {
        request = request.parse_mode(mode);
    }
    if let Err(e) = request.await {
        state.outbox.limiter.sent(row.chat_id).await;
        return e.into();
    }
    Attempt::Done {
        replaces,
        files: None,
    }
}

/// Retries a database write that records something Telegram already has (or an outcome) until
/// it lands: failing instead would send the message again while this process still runs.
/// Shutdown stops it with the worker's tasks (what is unrecorded then is sent again after the
/// restart: a send in flight at a stop).
async fn persist<F, Fut>(write: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), DbErr>>,
{
    let mut pause = Duration::from_millis(100);
    let mut tries: u32 = 1;
    loop {
        match write().await {
            Ok(()) => {
                if tries > 1 {
                    tracing::info!(tries, "outbox: recorded after the database came back");
                }
                return;
            }
            Err(e) => {
                if tries == 1 || tries.is_multiple_of(30) {
                    tracing::warn!(error = %e, tries, "outbox: cannot record a send yet; keeping it and retrying");
                }
                metrics::counter!("delivery_bookkeeping_retries_total").increment(1);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(PERSIST_PAUSE);
                tries += 1;
            }
        }
    }
}

/// Uploads from the image store (streamed from disk, not held in memory).
fn upload(stored: &Stored) -> InputFile {
    InputFile::file(stored.path.clone()).file_name(stored.file_name.clone())
}

/// The images could not be fetched for good: refund, and send the failure notice instead.
async fn undeliverable(state: &Worker, row: &delivery::Model, generation_id: i64) -> Attempt {
    match state.unusable.replace(row, generation_id).await {
        Ok(Some(push)) => Box::pin(send(state, row, push)).await,
        Ok(None) => Attempt::Permanent("generation no longer completed".into()),
        Err(e) => Attempt::Transient(e.to_string()),
    }
}

/// The statement that keeps each image's Telegram file_id and stored path.
struct Files {
    sql: String,
    values: Vec<sea_orm::Value>,
}

async fn save_files(state: &Worker, files: &Files) -> Result<(), DbErr> {
    let backend = state.db.get_database_backend();
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            files.sql.clone(),
            files.values.clone(),
        ))
        .await?;
    Ok(())
}

/// A single photo's push is done: its file id and the outcome in one statement on PostgreSQL
/// (a data-modifying CTE), two on SQLite.
async fn record_with_files(
    state: &Worker,
    row: &delivery::Model,
    recorded: &Recorded,
    files: &Files,
) -> Result<(), DbErr> {
    let backend = state.db.get_database_backend();
    if backend != DatabaseBackend::Postgres || recorded.status != DONE {
        save_files(state, files).await?;
        return record(state, row, recorded).await;
    }
    let n = files.values.len();
    let sql = format!(
        "WITH files AS ({}) UPDATE deliveries SET locked_until = NULL, locked_by = NULL, \
         status = 'done', finished_at = ${} WHERE id = ${} AND status = 'pending' \
         AND locked_by = ${}",
        files.sql,
        n + 1,
        n + 2,
        n + 3
    );
    let mut values = files.values.clone();
    values.push(recorded.finished_at.unwrap_or_else(Utc::now).into());
    values.push(row.id.into());
    values.push(state.replica.id().to_owned().into());
    state
        .db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Builds the one statement that keeps each image's Telegram file_id and stored path.
fn files_update(
    state: &Worker,
    generation_id: i64,
    stored: &[(i32, Stored)],
    messages: &[Message],
) -> Files {
    let backend = state.db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut file_case = String::from("CASE position");
    let mut path_case = String::from("CASE position");
    let mut n = 0;
    let mut param = |values: &mut Vec<sea_orm::Value>, v: sea_orm::Value| {
        values.push(v);
        n += 1;
        match backend {
            DatabaseBackend::Postgres => format!("${n}"),
            _ => format!("?{n}"),
        }
    };
    for ((position, s), message) in stored.iter().zip(messages) {
        let file_id = message
            .photo()
            .and_then(|sizes| sizes.last())
            .map(|p| p.file.id.to_string());
        let p = param(&mut values, (*position).into());
        let f = param(&mut values, file_id.into());
        file_case.push_str(&format!(" WHEN {p} THEN {f}"));
        let p = param(&mut values, (*position).into());
        let r = param(&mut values, s.relative.clone().into());
        path_case.push_str(&format!(" WHEN {p} THEN {r}"));
    }
    let g = param(&mut values, generation_id.into());
    let sql = format!(
        "UPDATE generation_images SET telegram_file_id = {file_case} ELSE telegram_file_id END, \
         file_path = {path_case} ELSE file_path END WHERE generation_id = {g}"
    );
    Files { sql, values }
}

async fn set_stage(state: &Worker, id: i64, stage: i32) -> Result<(), DbErr> {
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Stage, Expr::val(stage))
        .filter(delivery::Column::Id.eq(id))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// Deletes the progress message the result replaces. Cosmetic: failures are only logged (a
/// message older than 48 hours can't be deleted, and then it simply stays).
async fn remove_progress(state: &Worker, chat: ChatId, replaces: Option<i64>) {
    let Some(id) = replaces.and_then(|id| i32::try_from(id).ok()) else {
        return;
    };
    if let Err(e) = state.bot.delete_message(chat, MessageId(id)).await {
        tracing::info!(error = %e, "could not delete a progress message");
    }
}
