//! The axum router: one file per endpoint family, and the tower-http layers every request passes
//! (request id, tracing, panic catching, timeout, body limit, metrics).

pub mod error;
pub mod health;
pub mod provider_webhook;
pub mod webhook;

use std::time::Duration;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{Request, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{metrics, state::AppState};

/// The application's routes. `extra` (the sandbox Telegram, when enabled) is merged in with its
/// own body limit; everything else is capped at `server.body_limit_bytes`.
pub fn router(state: AppState, extra: Option<Router>) -> Router {
    let server = &state.settings.server;
    let limit = server.body_limit_bytes;
    let timeout = Duration::from_secs(server.request_timeout_secs);
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/telegram/webhook",
            post(webhook::telegram).route_layer(middleware::from_fn_with_state(
                state.clone(),
                webhook::guard,
            )),
        )
        .route(
            "/webhooks/{provider}/{generation_id}/{token}",
            post(provider_webhook::receive),
        )
        .route(
            "/webhooks/{provider}/avatars/{avatar_id}/{token}",
            post(provider_webhook::receive_training),
        )
        .route(
            "/avatar-archives/{avatar_id}/{expires}/{signature}",
            get(crate::avatar::archive::serve),
        )
        .route_layer(middleware::from_fn(metrics::track_http))
        // One limit, enforced while the body streams in (also without a Content-Length).
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limit))
        .with_state(state);
    let routes = match extra {
        Some(extra) => routes.merge(extra),
        None => routes,
    };
    routes.fallback(not_found).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: query strings may carry tokens.
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            )),
    )
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" })))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "internal error" })),
    )
        .into_response()
}
