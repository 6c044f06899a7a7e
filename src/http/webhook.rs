//! `POST /telegram/webhook`: Telegram's updates.
//!
//! [`guard`] runs before the body is read: it checks the secret in constant time and takes one of
//! `server.max_updates_in_flight` permits, answering 503 + Retry-After when none is free. So
//! memory is bounded by permits × body limit, whatever arrives. The update is acknowledged only
//! after it was handled: a crash loses nothing, Telegram simply redelivers. Duplicate
//! `update_id`s are handled once.
//!
//! The "processing" mark names the process handling the update ([`crate::replica`]): a
//! redelivery finding the mark of a process that died mid-update (its liveness key expired,
//! within seconds) takes the update over. A request cancelled by the timeout in a live process
//! leaves its mark until the mark expires. Either way a handler may run twice for one update,
//! so handlers keep their side effects idempotent (money moves carry idempotency keys).

use std::time::Duration;

use std::sync::Arc;

use axum::{
    Extension,
    body::Bytes,
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;
use teloxide::types::{Update, UpdateKind};
use tokio::sync::OwnedSemaphorePermit;

use crate::{
    dispatch,
    http::error::ApiError,
    kv::{KvError, KvStore},
    state::AppState,
    telegram::{
        error::{HandlerError, Outcome},
        setup::ALLOWED_UPDATES,
    },
};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

const PROCESSING: &str = "processing";
const DONE: &str = "done";

/// Authenticates and bounds the work before anything else happens.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(state.webhook_secret.expose().as_bytes())) {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "secret").increment(1);
        return ApiError::Unauthorized.into_response();
    }
    let Ok(permit) = state.updates_in_flight.clone().try_acquire_owned() else {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "saturated").increment(1);
        return ApiError::Busy(state.settings.server.retry_after_secs).into_response();
    };
    // Shared with the task that handles the update: the permit is held until both the request
    // and the handling are over (the handling outlives a caller that went away).
    let permit = InFlight(Arc::new(permit));
    let mut request = request;
    request.extensions_mut().insert(permit.clone());
    let response = next.run(request).await;
    drop(permit);
    response
}

/// One of `server.max_updates_in_flight`, held by the request and by its handling task.
#[derive(Clone)]
pub struct InFlight(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// The update is handled in a task of its own, to the end, whatever the connection does: a
/// caller that disconnects (or the request timeout) cancels only the waiting for the answer,
/// never the handling halfway (a callback answered but its screen never edited).
pub async fn telegram(
    State(state): State<AppState>,
    in_flight: Option<Extension<InFlight>>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let permit = in_flight.map(|Extension(permit)| permit);
    let handling = tokio::spawn(async move {
        let _permit = permit;
        receive(&state, &body).await
    });
    match handling.await {
        Ok(answer) => answer,
        Err(panicked) => {
            tracing::error!(error = %panicked, "handling an update panicked");
            Err(ApiError::Unavailable {
                reason: "the update's handler panicked".into(),
                retry_after: 1,
            })
        }
    }
}

async fn receive(state: &AppState, body: &[u8]) -> Result<StatusCode, ApiError> {
    let state = state.clone();
    let update = parse(body).inspect_err(|_| {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "malformed").increment(1);
    })?;
    let retry_after = state.settings.server.retry_after_secs;

    let key = format!("update:{}", update.id.0);
    // Long enough to outlive the request timeout, short enough that an update whose handler
    // crashed is picked up again by Telegram's next redelivery.
    let processing_ttl = Duration::from_secs(
        state
            .settings
            .server
            .request_timeout_secs
            .saturating_mul(2)
            .saturating_add(5),
    );
    match take(&state, &key, processing_ttl)
        .await
        .map_err(|e| unavailable(&e, retry_after))?
    {
        Taken::Mine => {}
        Taken::Done => {
            metrics::counter!("telegram_updates_duplicate_total").increment(1);
            return Ok(StatusCode::OK);
        }
        // The first delivery is still being handled and may yet fail: ask for a redelivery
        // rather than acknowledging something that might be lost.
        Taken::Elsewhere => {
            metrics::counter!("telegram_updates_duplicate_total").increment(1);
            return Err(ApiError::Busy(retry_after));
        }
    }
    metrics::counter!("telegram_updates_total", "kind" => dispatch::kind_label(&update))
        .increment(1);

    let pays = carries_payment(&update);
    if let Err(err) = handle(&state, update).await {
        let token = state.bot.token();
        let outcome = match err.outcome() {
            // Stars were taken: a payment whose record the database refuses is never dropped.
            // It stays with Telegram (redelivered) and in the error log until someone fixes it.
            Outcome::Permanent if pays && err.is_integrity_violation() => Outcome::Transient,
            outcome => outcome,
        };
        match outcome {
            Outcome::Permanent => {
                tracing::warn!(error = %err.redacted(token), "update ended with a permanent error");
            }
            outcome => {
                // Forget the attempt so the redelivery is handled.
                if let Err(e) = state.kv.bot.del(&key).await {
                    tracing::warn!(error = %e, "could not release the update key");
                }
                let retry_after = match outcome {
                    Outcome::RetryAfter(secs) => secs,
                    _ => retry_after,
                };
                return Err(ApiError::Unavailable {
                    reason: err.redacted(token),
                    retry_after,
                });
            }
        }
    }
    let dedupe_ttl = Duration::from_secs(state.settings.cache.update_dedupe_ttl_secs);
    if let Err(e) = state.kv.bot.set(&key, DONE, dedupe_ttl).await {
        // Handled already; failing now would make Telegram deliver it a second time.
        tracing::warn!(error = %e, "could not mark the update as done");
    }
    Ok(StatusCode::OK)
}

/// Who handles an update.
enum Taken {
    /// This request: the mark is ours.
    Mine,
    /// Handled already.
    Done,
    /// Being handled by a process that is alive (this one, or another replica).
    Elsewhere,
}

/// Marks the update as being handled by this process. A mark left by a process that is gone
/// (killed mid-update) is taken over at once rather than after its TTL, so Telegram's next
/// redelivery is handled.
async fn take(state: &AppState, key: &str, ttl: Duration) -> Result<Taken, KvError> {
    let mark = format!("{PROCESSING}:{}", state.replica.id());
    if state.kv.bot.set_nx(key, &mark, ttl).await? {
        return Ok(Taken::Mine);
    }
    let Some(seen) = state.kv.bot.get(key).await? else {
        // Released meanwhile (the handler failed): this delivery may take it.
        return Ok(if state.kv.bot.set_nx(key, &mark, ttl).await? {
            Taken::Mine
        } else {
            Taken::Elsewhere
        });
    };
    if seen == DONE {
        return Ok(Taken::Done);
    }
    let owner = seen
        .strip_prefix(PROCESSING)
        .and_then(|rest| rest.strip_prefix(':'));
    match owner {
        Some(owner) if !state.replica.alive(owner).await? => {
            // Only if the mark is still the dead process's: two redeliveries can't both win.
            if state.kv.bot.del_if_eq(key, &seen).await?
                && state.kv.bot.set_nx(key, &mark, ttl).await?
            {
                tracing::info!(replica = owner, "taking over an update whose handler died");
                metrics::counter!("telegram_updates_taken_over_total").increment(1);
                Ok(Taken::Mine)
            } else {
                Ok(Taken::Elsewhere)
            }
        }
        _ => Ok(Taken::Elsewhere),
    }
}

/// Handles the update; when the database refuses its data (a constraint), tries once more from
/// the start (the user's row is read again, so a row deleted or replaced meanwhile is fixed by
/// then), and if it is refused again tells the user: such an update is answered, not redelivered
/// for a day.
async fn handle(state: &AppState, update: Update) -> Result<(), HandlerError> {
    let first = dispatch::handle(state, update.clone()).await;
    let Err(err) = first else {
        return Ok(());
    };
    if !err.is_integrity_violation() || carries_payment(&update) {
        return Err(err);
    }
    let token = state.bot.token();
    tracing::warn!(error = %err.redacted(token), "the database refused an update's data; trying once more");
    metrics::counter!("telegram_updates_retried_total", "reason" => "integrity").increment(1);
    let second = dispatch::handle(state, update.clone()).await;
    if let Err(err) = &second
        && err.is_integrity_violation()
    {
        tracing::error!(error = %err.redacted(token), "the database refused an update's data twice; answered, not retried");
        metrics::counter!("telegram_updates_failed_total", "reason" => "integrity").increment(1);
        dispatch::report_failure(state, &update).await;
    }
    second
}

/// A successful Stars payment: money already moved on Telegram's side.
fn carries_payment(update: &Update) -> bool {
    matches!(&update.kind, UpdateKind::Message(m) if m.successful_payment().is_some())
}

/// An Update, or a 400. teloxide turns an update whose payload fails to parse into
/// `UpdateKind::Error` (so newer Bot API kinds don't break old bots); a kind we subscribe to that
/// fails to parse is a malformed body, not a newer kind.
fn parse(body: &[u8]) -> Result<Update, ApiError> {
    let update: Update = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("body is not a Telegram Update: {e}")))?;
    if let UpdateKind::Error(_) = update.kind {
        let raw: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let broken = ALLOWED_UPDATES.iter().find_map(|kind| {
            let name = serde_json::to_value(kind).ok()?;
            let name = name.as_str()?;
            raw.get(name).is_some().then(|| name.to_owned())
        });
        if let Some(name) = broken {
            return Err(ApiError::BadRequest(format!(
                "body is not a Telegram Update: malformed \"{name}\""
            )));
        }
    }
    Ok(update)
}

fn unavailable(err: &KvError, retry_after: u64) -> ApiError {
    ApiError::Unavailable {
        reason: err.to_string(),
        retry_after,
    }
}
