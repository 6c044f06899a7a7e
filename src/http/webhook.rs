//! `POST /telegram/webhook`: Telegram's updates.
//!
//! The update is acknowledged only after it was handled: a crash loses nothing, Telegram simply
//! redelivers. Work in flight is bounded by a semaphore; when it is full the answer is 503 with
//! Retry-After instead of an ever-growing queue. Duplicate `update_id`s are handled once.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use subtle::ConstantTimeEq;
use teloxide::types::Update;

use crate::{
    app::AppState,
    http::error::ApiError,
    kv::{KvError, KvStore},
    telegram::{dispatch, error::Outcome},
};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

const PROCESSING: &str = "processing";
const DONE: &str = "done";

pub async fn telegram(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = state.webhook_secret.expose().as_bytes();
    if !bool::from(given.ct_eq(expected)) {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "secret").increment(1);
        return Err(ApiError::Unauthorized);
    }
    let update: Update = serde_json::from_slice(&body).map_err(|e| {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "malformed").increment(1);
        ApiError::BadRequest(format!("body is not a Telegram Update: {e}"))
    })?;
    let retry_after = state.settings.server.retry_after_secs;
    let Ok(_permit) = state.updates_in_flight.clone().try_acquire_owned() else {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "saturated").increment(1);
        return Err(ApiError::Busy(retry_after));
    };
    metrics::counter!("telegram_updates_total", "kind" => dispatch::kind_label(&update))
        .increment(1);

    let key = format!("update:{}", update.id.0);
    // Long enough to outlive the request timeout, short enough that an update whose handler
    // crashed is picked up again by Telegram's next redelivery.
    let processing_ttl = Duration::from_secs(2 * state.settings.server.request_timeout_secs + 5);
    if !state
        .kv
        .set_nx(&key, PROCESSING, processing_ttl)
        .await
        .map_err(|e| unavailable(&e, retry_after))?
    {
        metrics::counter!("telegram_updates_duplicate_total").increment(1);
        let seen = state
            .kv
            .get(&key)
            .await
            .map_err(|e| unavailable(&e, retry_after))?;
        return match seen.as_deref() {
            Some(DONE) => Ok(StatusCode::OK),
            // The first delivery is still being handled and may yet fail: ask for a redelivery
            // rather than acknowledging something that might be lost.
            _ => Err(ApiError::Busy(retry_after)),
        };
    }

    if let Err(err) = dispatch::handle(&state, update).await {
        let token = state.bot.token();
        match err.outcome() {
            Outcome::Permanent => {
                tracing::warn!(error = %err.redacted(token), "update ended with a permanent Bot API error");
            }
            outcome => {
                // Forget the attempt so the redelivery is handled.
                if let Err(e) = state.kv.del(&key).await {
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
    if let Err(e) = state.kv.set(&key, DONE, dedupe_ttl).await {
        // Handled already; failing now would make Telegram deliver it a second time.
        tracing::warn!(error = %e, "could not mark the update as done");
    }
    Ok(StatusCode::OK)
}

fn unavailable(err: &KvError, retry_after: u64) -> ApiError {
    ApiError::Unavailable {
        reason: err.to_string(),
        retry_after,
    }
}
