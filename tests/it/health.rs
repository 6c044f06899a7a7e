//! Probes, metrics, and the embedded sandbox that `cargo run` uses.

use figment::{Figment, providers::Serialized};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    both_storages,
    helpers::{Storage, TestApp, base_settings},
};

both_storages!(probes_answer, metrics_count_requests_and_updates);

async fn probes_answer(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "request id is propagated"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"], "ok");
    if storage == Storage::Production {
        assert_eq!(body["checks"]["redis"], "ok");
    }
    let missing = app.get("/nope").await;
    assert_eq!(missing.status(), 404);
    // With a real token the sandbox routes do not exist: they let a caller act as any user.
    assert_eq!(app.get("/sandbox/users/1/chat").await.status(), 404);
    for page in [
        "/",
        "/sandbox/ui/app.js",
        "/sandbox/events",
        "/sandbox/users",
    ] {
        assert_eq!(app.get(page).await.status(), 404, "{page}: no playground");
    }
    app.stop().await;
}

async fn metrics_count_requests_and_updates(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text(2001, "/start").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("route=\"/telegram/webhook\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("telegram_updates_total") && l.contains("kind=\"message\""))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_when_the_database_is_unreachable() {
    let Some(app) = TestApp::spawn(Storage::Production).await else {
        return;
    };
    app.pg.as_ref().unwrap().drop_database().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["failed"], json!(["database"]));
    assert_eq!(body["checks"]["redis"], "ok");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "alive, just not ready"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_when_redis_is_unreachable() {
    let Some(app) = TestApp::spawn_with(Storage::Production, |f| {
        f.merge(Serialized::default("redis_url", "redis://127.0.0.1:1"))
    })
    .await
    else {
        return;
    };
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["failed"], json!(["redis"]));
    // And an update cannot be de-duplicated: Telegram is asked to retry, nothing is sent.
    let response = app
        .post_webhook(
            crate::helpers::message_update(1, 2002, "/start").to_string(),
            Some(crate::helpers::SECRET),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(
        app.calls()
            .await
            .iter()
            .all(|c| c["method"] != "sendMessage")
    );
    app.stop().await;
}

/// With no token configured (what `cargo run` does), the bot talks to the sandbox mounted on its
/// own server, and a person can use it with curl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_means_embedded_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let settings = base_settings(
        Figment::new()
            .merge(Serialized::default("listen_addr", "127.0.0.1:0"))
            .merge(Serialized::default(
                "database_url",
                format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display()),
            )),
    );
    assert!(settings.sandbox_mode());
    let app = aisha::Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    let http = reqwest::Client::new();
    let sent: Value = http
        .post(format!("{base}/sandbox/users/1/messages"))
        .json(&json!({ "text": "/start" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["webhook_status"], 200, "{sent}");
    let chat: Value = http
        .get(format!("{base}/sandbox/users/1/chat"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bot_text = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["from_bot"] == true)
        .expect("the bot answered")["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(bot_text.contains("Главное меню"), "{bot_text}");
    // The generated webhook secret still guards the webhook.
    let forged = http
        .post(format!("{base}/telegram/webhook"))
        .json(&crate::helpers::message_update(99, 1, "/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    stop.cancel();
    server.await.unwrap().unwrap();
}
