//! Graceful shutdown: SIGTERM stops new work and lets in-flight requests finish.

use std::time::Duration;

use serde_json::json;

use crate::{
    both_storages,
    helpers::{Storage, TestApp, message_update},
};

both_storages!(shutdown_finishes_in_flight_requests);

async fn shutdown_finishes_in_flight_requests(storage: Storage) {
    let Some(mut app) = TestApp::spawn(storage).await else {
        return;
    };
    let before = app.open_chat(3001).await;
    // The bot's reply takes a while, so the update is still in flight when shutdown begins.
    app.fault(json!({ "method": "sendMessage", "error_code": null, "delay_ms": 1000, "times": 1 }))
        .await;
    let in_flight = app.post_webhook_in_background(&message_update(30, 3001, "/start"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.trigger_shutdown();
    let server = app.take_server().unwrap();
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the in-flight update completed"
    );
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops after draining")
        .unwrap()
        .unwrap();
    assert_eq!(
        app.bot_messages(3001).await.len(),
        before + 1,
        "its reply was sent"
    );
    // No longer accepting connections.
    let refused = reqwest::Client::new()
        .get(format!("{}/healthz", app.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "new connections are refused after shutdown"
    );
    app.stop().await;
}

/// The real binary, the real signal: `aisha` with nothing configured (sandbox, SQLite) receives
/// SIGTERM while an update is in flight, finishes it, and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aisha"))
        .env_clear()
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display()),
        )
        .env(
            "AISHA_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("AISHA_ENV", "test")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("the aisha binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    http.post(format!("{base}/sandbox/faults"))
        .json(&json!({ "method": "sendMessage", "error_code": null, "delay_ms": 1500, "times": 1 }))
        .send()
        .await
        .unwrap();
    let in_flight = {
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/sandbox/users/1/messages"))
                .json(&json!({ "text": "/start" }))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    let report = in_flight.await.unwrap();
    assert_eq!(
        report["webhook_status"], 200,
        "the in-flight update finished: {report}"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after draining")
        .unwrap();
    assert!(status.success(), "{status}");
}
