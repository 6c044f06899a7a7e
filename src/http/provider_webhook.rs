//! `POST /webhooks/{provider}/{generation id}/{token}`: where image providers report finished
//! jobs. The token (an HMAC of the provider and id, see `jobs::Signer::webhook_token`) makes the
//! URL ours: a callback signed by the provider for another customer's job can't be aimed at it.
//!
//! The signature is checked before anything else (401 and nothing changed when it fails); then
//! the outcome is applied in one transaction (see `generation::settle`). Duplicates answer 200
//! and change nothing, so the provider stops retrying.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use entity::generation as generation_row;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::{
    domain::{AvatarId, GenerationId},
    generation::{self, Settled},
    http::error::ApiError,
    jobs::JobId,
    provider::{ProviderError, fal_signature::SignatureError},
    state::AppState,
};

/// The job a webhook URL names, when it is one we handed out: our provider, and the token made
/// for that very job.
fn our_job(
    state: &AppState,
    provider: &str,
    id: &str,
    token: &str,
    job: fn(i64) -> JobId,
) -> Option<i64> {
    let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    (provider == state.provider.name() && state.signer.webhook_token_ok(provider, job(id), token))
        .then_some(id)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" }))).into_response()
}

pub async fn receive(
    State(state): State<AppState>,
    Path((provider, id, token)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(id) = our_job(&state, &provider, &id, &token, |id| {
        JobId::Generation(GenerationId(id))
    }) else {
        return Ok(not_found());
    };
    let now = chrono::Utc::now().timestamp();
    let outcome = match state.provider.callback(&headers, &body, now).await {
        Err(ProviderError::NotFinal(status)) => return Ok(not_final(id, &status)),
        outcome => outcome.map_err(refused)?,
    };
    let unavailable = |e: &dyn std::fmt::Display| ApiError::Unavailable {
        reason: e.to_string(),
        retry_after: 5,
    };
    let settled = generation::settle(&state, id, outcome)
        .await
        .map_err(|e| unavailable(&e))?;
    if settled == Settled::AlreadySettled {
        let known = generation_row::Entity::find_by_id(id)
            .one(&state.db)
            .await
            .map_err(|e| unavailable(&e))?;
        if known.is_none() {
            return Ok((
                StatusCode::NOT_FOUND,
                Json(json!({ "error": "no such generation" })),
            )
                .into_response());
        }
    }
    let status = match settled {
        Settled::Completed => "completed",
        Settled::Failed => "failed",
        Settled::AlreadySettled => "already settled",
    };
    Ok(Json(json!({ "status": status })).into_response())
}

/// A signed callback with a status that does not end the job: acknowledged (the provider need
/// not send it again), logged, and nothing changes, so progress events can't cancel paid work.
fn not_final(job: i64, status: &str) -> Response {
    tracing::info!(
        job,
        status,
        "provider callback with a status that is not final: ignored"
    );
    metrics::counter!("provider_callbacks_not_final_total").increment(1);
    Json(json!({ "status": "ignored: not final" })).into_response()
}

/// Why a callback is not taken: the provider's keys unavailable → 503 (it retries), a bad
/// signature → 401, a body that is not a provider webhook → 400.
fn refused(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Signature(SignatureError::Keys(reason)) => ApiError::Unavailable {
            reason: format!("provider keys: {reason}"),
            retry_after: 30,
        },
        ProviderError::Signature(e) => {
            tracing::warn!(error = %e, "provider callback refused");
            ApiError::Unauthorized
        }
        ProviderError::Malformed(e) => ApiError::BadRequest(e),
        e => ApiError::Unavailable {
            reason: e.to_string(),
            retry_after: 30,
        },
    }
}

/// `POST /webhooks/{provider}/avatars/{avatar id}/{token}`: a finished (or failed) avatar
/// training, checked and applied like a generation's callback.
pub async fn receive_training(
    State(state): State<AppState>,
    Path((provider, id, token)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(id) = our_job(&state, &provider, &id, &token, |id| {
        JobId::Training(AvatarId(id))
    }) else {
        return Ok(not_found());
    };
    let now = chrono::Utc::now().timestamp();
    let outcome = match state.provider.training_callback(&headers, &body, now).await {
        Err(ProviderError::NotFinal(status)) => return Ok(not_final(id, &status)),
        outcome => outcome.map_err(refused)?,
    };
    let settled = crate::avatar::training::settle(&state, id, outcome)
        .await
        .map_err(|e| ApiError::Unavailable {
            reason: e.to_string(),
            retry_after: 5,
        })?;
    let status = match settled {
        crate::avatar::training::Settled::Ready => "ready",
        crate::avatar::training::Settled::Failed => "failed",
        crate::avatar::training::Settled::AlreadySettled => "already settled",
    };
    Ok(Json(json!({ "status": status })).into_response())
}
