//! The outbox worker: claim due rows, send each within Telegram's limits, record the outcome.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use entity::delivery;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Statement, sea_query::Expr,
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
/// Bookkeeping after a successful send is retried in place this often: failing the attempt
/// instead would send the message again.
const BOOKKEEPING_TRIES: u32 = 5;

/// How one attempt ended.
enum Attempt {
    Done,
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
    // What an earlier run left waiting (a retry time, a claim of a worker that died) has no
    // timer in this process yet.
    match leftovers(&state).await {
        Ok(Some(at)) => state.outbox.wake_at(at),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "outbox: cannot read queued pushes"),
    }
    loop {
        while tasks.try_join_next().is_some() {}
        let limit = BATCH.min(permits.available_permits().max(1));
        let claimed = match claim(&state, limit).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "outbox: claim failed; retrying in 5 s");
                state
                    .outbox
                    .wake_at(std::time::Instant::now() + Duration::from_secs(5));
                Vec::new()
            }
        };
        let full = claimed.len() >= BATCH;
        // Rows may have been left for lack of a free slot: a finished send should look again.
        maybe_more.store(claimed.len() >= limit, Ordering::Relaxed);
        for row in claimed {
            if !state.outbox.start(row.id) {
                // Still being sent by this process (its claim ran out meanwhile).
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
        if full {
            continue;
        }
        let now = std::time::Instant::now();
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
}

/// When the earliest queued push becomes claimable (after its retry time and any claim).
async fn leftovers(state: &Worker) -> Result<Option<std::time::Instant>, DbErr> {
    let rows: Vec<(chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>)> =
        delivery::Entity::find()
            .select_only()
            .column(delivery::Column::NextAttemptAt)
            .column(delivery::Column::LockedUntil)
            .filter(delivery::Column::Status.eq(PENDING))
            .into_tuple()
            .all(&state.db)
            .await?;
    let earliest = rows
        .into_iter()
        .map(|(next, locked)| locked.map_or(next, |l| l.max(next)))
        .min();
    Ok(earliest.map(|at| {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        std::time::Instant::now() + wait
    }))
}

/// Claims up to `limit` due rows for `lease_secs`.
async fn claim(state: &Worker, limit: usize) -> Result<Vec<delivery::Model>, DbErr> {
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(state.settings.delivery.lease_secs as i64);
    let backend = state.db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "UPDATE deliveries SET locked_until = $1 WHERE id IN (\
               SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $2 \
               AND (locked_until IS NULL OR locked_until <= $2) \
               ORDER BY priority, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING *"
        }
        // SQLite runs one writer at a time (and Aisha gives it one connection): no row locks.
        _ => {
            "UPDATE deliveries SET locked_until = ?1 WHERE id IN (\
               SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?2 \
               AND (locked_until IS NULL OR locked_until <= ?2) \
               ORDER BY priority, id LIMIT ?3) RETURNING *"
        }
    };
    let statement = Statement::from_sql_and_values(
        backend,
        sql,
        [lease.into(), now.into(), (limit as i64).into()],
    );
    delivery::Entity::find()
        .from_raw_sql(statement)
        .all(&state.db)
        .await
}

/// One attempt at one claimed row, and its bookkeeping.
async fn process(state: &Worker, row: delivery::Model) {
    let attempt = match Push::decode(&row.payload) {
        Some(push) => send(state, &row, push).await,
        None => Attempt::Permanent("unreadable payload".into()),
    };
    if let Err(e) = record(state, &row, attempt).await {
        // The claim expires and the push is tried again.
        tracing::error!(delivery = row.id, error = %e, "outbox: could not record an attempt");
    }
}

async fn record(state: &Worker, row: &delivery::Model, attempt: Attempt) -> Result<(), DbErr> {
    let settings = &state.settings.delivery;
    let update = delivery::Entity::update_many().col_expr(
        delivery::Column::LockedUntil,
        Expr::val(None::<chrono::DateTime<Utc>>),
    );
    let outcome = match &attempt {
        Attempt::Done => "done",
        Attempt::RetryAfter(_) => "retry_after",
        Attempt::Transient(_) if row.attempts + 1 < settings.max_attempts => "retry",
        _ => "failed",
    };
    metrics::counter!("deliveries_total", "outcome" => outcome).increment(1);
    if matches!(attempt, Attempt::Done) {
        let waited = (Utc::now() - row.created_at).to_std().unwrap_or_default();
        metrics::histogram!("delivery_latency_seconds").record(waited.as_secs_f64());
    }
    let update = match attempt {
        Attempt::Done => update
            .col_expr(delivery::Column::Status, Expr::val(DONE))
            .col_expr(delivery::Column::FinishedAt, Expr::val(Utc::now())),
        Attempt::RetryAfter(wait) => {
            tracing::info!(delivery = row.id, ?wait, "outbox: Telegram asked to wait");
            state.outbox.wake_at(std::time::Instant::now() + wait);
            update.col_expr(
                delivery::Column::NextAttemptAt,
                Expr::val(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()),
            )
        }
        Attempt::Transient(error) if row.attempts + 1 < settings.max_attempts => {
            let wait = backoff(row.attempts, settings.max_backoff_secs);
            tracing::warn!(delivery = row.id, attempt = row.attempts + 1, ?wait, %error, "outbox: will retry");
            state.outbox.wake_at(std::time::Instant::now() + wait);
            update
                .col_expr(delivery::Column::Attempts, Expr::val(row.attempts + 1))
                .col_expr(delivery::Column::LastError, Expr::val(error))
                .col_expr(
                    delivery::Column::NextAttemptAt,
                    Expr::val(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()),
                )
        }
        Attempt::Transient(error) | Attempt::Permanent(error) => {
            tracing::warn!(delivery = row.id, chat = row.chat_id, %error, "outbox: giving up on a push");
            update
                .col_expr(delivery::Column::Status, Expr::val(FAILED))
                .col_expr(delivery::Column::Attempts, Expr::val(row.attempts + 1))
                .col_expr(delivery::Column::LastError, Expr::val(error))
                .col_expr(delivery::Column::FinishedAt, Expr::val(Utc::now()))
        }
    };
    update
        .filter(delivery::Column::Id.eq(row.id))
        .filter(delivery::Column::Status.eq(PENDING))
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
                state.outbox.limiter.sent(row.chat_id);
                let messages = match messages {
                    Ok(m) => m,
                    Err(e) => return e.into(),
                };
                let saved = persist(|| save_files(state, generation_id, &stored, &messages)).await;
                if let Err(e) = saved {
                    return e.into();
                }
                if stored.len() == 1 {
                    remove_progress(state, chat, replaces).await;
                    return Attempt::Done;
                }
                // The album is out: a retry from here must not send it again.
                if let Err(e) = persist(|| set_stage(state, row.id, 1)).await {
                    return e.into();
                }
            }
            final_message(state, row, album_text, None, &buttons, replaces).await
        }
    }
}

/// The last message of a push (the one with the buttons), then the progress message goes.
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
    let sent = request.await;
    state.outbox.limiter.sent(row.chat_id);
    if let Err(e) = sent {
        return e.into();
    }
    remove_progress(state, chat, replaces).await;
    Attempt::Done
}

/// Retries a database write that records something Telegram already has.
async fn persist<F, Fut>(write: F) -> Result<(), DbErr>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), DbErr>>,
{
    let mut pause = Duration::from_millis(200);
    let mut tries = 1;
    loop {
        match write().await {
            Ok(()) => return Ok(()),
            Err(e) if tries >= BOOKKEEPING_TRIES => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, tries, "outbox: recording a sent message failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
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

/// Keeps each image's Telegram file_id and stored path, in one statement.
async fn save_files(
    state: &Worker,
    generation_id: i64,
    stored: &[(i32, Stored)],
    messages: &[Message],
) -> Result<(), DbErr> {
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
    state
        .db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
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
