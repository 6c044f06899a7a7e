//! Probes: `/healthz` (the process answers), `/readyz` (its dependencies answer), `/metrics`.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header::CONTENT_TYPE},
    response::IntoResponse,
};
use serde_json::{Map, Value, json};

use crate::{kv::KvStore, state::AppState};

/// How long a dependency may take to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// 200 when the database (and Redis, when configured) answer; 503 naming what failed otherwise.
/// Names the replica that answered.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let mut checks = Map::new();
    let mut failed = Vec::new();

    let db = tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()).await;
    record(
        &mut checks,
        &mut failed,
        "database",
        db.map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string())),
    );
    if state.kv.db.is_redis() {
        let redis = tokio::time::timeout(CHECK_TIMEOUT, state.kv.db.ping()).await;
        record(
            &mut checks,
            &mut failed,
            "redis",
            redis
                .map_err(|_| "timed out".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string())),
        );
    }

    let status = if failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if failed.is_empty() { "ok" } else { "unavailable" },
        "checks": checks,
        "failed": failed,
        // Which process answered (the id that tags its claims; see `replica`).
        "replica": state.replica.id(),
    });
    (status, Json(body))
}

fn record(
    checks: &mut Map<String, Value>,
    failed: &mut Vec<&'static str>,
    name: &'static str,
    result: Result<(), String>,
) {
    match result {
        Ok(()) => {
            checks.insert(name.into(), "ok".into());
        }
        Err(detail) => {
            // The detail may name hosts: log it, answer with the component name only.
            tracing::warn!(component = name, %detail, "readiness check failed");
            checks.insert(name.into(), "unavailable".into());
            failed.push(name);
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
