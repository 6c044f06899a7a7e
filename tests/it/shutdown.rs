//! Graceful shutdown: SIGTERM stops new work and lets in-flight requests finish.

use std::time::Duration;

use serde_json::json;

use crate::{
    both_storages,
    helpers::{SECRET, Storage, TestApp, message_update},
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
    let in_flight = {
        let url = app.url.clone();
        let update = message_update(30, 3001, "/start").to_string();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{url}/telegram/webhook"))
                .header("x-telegram-bot-api-secret-token", SECRET)
                .header("content-type", "application/json")
                .body(update)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.trigger_shutdown();
    let server = app.take_server().unwrap();
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
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
