//! The one error type HTTP handlers return. It logs the cause and never sends it to the caller.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized,
    /// Too much work in flight, or a duplicate still being handled: come back later.
    #[error("busy, retry after {0} s")]
    Busy(u64),
    /// A dependency (database, cache, Telegram) failed; the caller should retry. The text is
    /// already redacted and is logged, not returned.
    #[error("temporarily unavailable: {reason}")]
    Unavailable { reason: String, retry_after: u64 },
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message, retry_after) = match &self {
            Self::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone(), None),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized".into(), None),
            Self::Busy(secs) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy, retry later".into(),
                Some(*secs),
            ),
            Self::Unavailable {
                reason,
                retry_after,
            } => {
                tracing::error!(%reason, "request failed, asking the caller to retry");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily unavailable, retry later".into(),
                    Some(*retry_after),
                )
            }
        };
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
