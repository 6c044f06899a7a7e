//! `POST /telegram/webhook`: authentication, bad input, duplicates, saturation, failures.

use std::time::Duration;

use entity::{dead_letter, user};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::{
    both_storages,
    helpers::{SECRET, Storage, TestApp, message_update},
};

both_storages!(
    missing_or_wrong_secret_is_refused,
    malformed_bodies_are_kept_as_dead_letters,
    oversized_body_is_refused,
    duplicate_update_is_handled_once,
    concurrent_duplicates_are_handled_once,
);

async fn missing_or_wrong_secret_is_refused(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let update = message_update(1, 501, "/start").to_string();
    for secret in [
        None,
        Some("wrong"),
        Some(""),
        Some("test_webhook-secreT"),
        Some("test_webhook-secre"),
    ] {
        let response = app.post_webhook(update.clone(), secret).await;
        assert_eq!(response.status(), 401, "secret {secret:?}");
    }
    assert!(
        app.calls()
            .await
            .iter()
            .all(|c| c["method"] != "sendMessage"),
        "nothing sent"
    );
    assert_eq!(
        user::Entity::find().count(&app.db).await.unwrap(),
        0,
        "nothing stored"
    );
    // The right secret is accepted: the checks above refused for the secret, not the body.
    assert_eq!(app.post_webhook(update, Some(SECRET)).await.status(), 200);
    app.stop().await;
}

async fn malformed_bodies_are_kept_as_dead_letters(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    for body in [
        "not json",
        "{}",
        "[]",
        "{\"update_id\": \"seven\"}",
        "{\"update_id\": 1, \"message\": {\"text\": 5}",
        "{\"update_id\": 1, \"message\": {\"text\": 5}}",
        "{\"update_id\": 2, \"callback_query\": {\"id\": 5}}",
        "",
    ] {
        // Answered 200 (a 4xx or 5xx makes Telegram redeliver it for a day) and kept.
        let response = app.post_webhook(body, Some(SECRET)).await;
        assert_eq!(response.status(), 200, "body {body:?}");
    }
    let kept = dead_letter::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(kept.len(), 8, "{kept:#?}");
    assert_eq!(kept[0].body, "not json");
    assert!(kept[0].error.contains("not JSON"), "{}", kept[0].error);
    assert_eq!(kept[5].update_id, Some(1));
    assert!(
        kept[5].error.contains("malformed \"message\""),
        "{}",
        kept[5].error
    );
    assert!(
        app.calls()
            .await
            .iter()
            .all(|c| c["method"] != "sendMessage")
    );
    assert_eq!(user::Entity::find().count(&app.db).await.unwrap(), 0);
    app.stop().await;
}

async fn oversized_body_is_refused(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let mut update = message_update(1, 502, "/start");
    update["message"]["padding"] = json!("x".repeat(1024 * 1024 + 1));
    let response = app.post_webhook(update.to_string(), Some(SECRET)).await;
    assert_eq!(response.status(), 413);
    // Just under the limit is fine: the limit is the configured one, not something smaller.
    let before = app.open_chat(502).await;
    let mut update = message_update(2, 502, "/start");
    update["message"]["padding"] = json!("x".repeat(1024 * 1024 - 400));
    let body = update.to_string();
    assert!(body.len() < 1024 * 1024);
    assert_eq!(app.post_webhook(body, Some(SECRET)).await.status(), 200);
    assert_eq!(app.bot_messages(502).await.len(), before + 1);
    // Without a content-length (chunked), the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b' '; 700_000]), Ok(vec![b' '; 700_000])];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = app.post_webhook(body, Some(SECRET)).await;
    assert_eq!(response.status(), 413);
    app.stop().await;
}

async fn duplicate_update_is_handled_once(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let sent = app.send_text(503, "/start").await;
    assert_eq!(sent["webhook_status"], 200);
    let again = app.redeliver(sent["update_id"].as_i64().unwrap()).await;
    assert_eq!(again["webhook_status"], 200, "a duplicate is acknowledged");
    assert_eq!(app.bot_messages(503).await.len(), 1, "one reply");
    app.stop().await;
}

async fn concurrent_duplicates_are_handled_once(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let update = message_update(777, 504, "/start").to_string();
    let posts = (0..10).map(|_| app.post_webhook(update.clone(), Some(SECRET)));
    let statuses: Vec<u16> = futures::future::join_all(posts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    // Telegram retries the 503s later; by then the first delivery is done.
    let retry = app.post_webhook(update, Some(SECRET)).await;
    assert_eq!(retry.status(), 200);
    let sends = app
        .calls()
        .await
        .into_iter()
        .filter(|c| c["method"] == "sendMessage")
        .count();
    assert_eq!(sends, 1, "{statuses:?}");
    app.stop().await;
}

both_storages!(saturated_bot_asks_telegram_to_retry);

async fn saturated_bot_asks_telegram_to_retry(storage: Storage) {
    use figment::providers::Serialized;
    let Some(app) = TestApp::spawn_with(storage, |f| {
        f.merge(Serialized::default("server.max_updates_in_flight", 1))
    })
    .await
    else {
        return;
    };
    app.open_chat(505).await;
    let before = app.open_chat(506).await;
    // The first update's reply is slow, so it holds the only slot.
    app.fault(json!({ "method": "sendMessage", "error_code": null, "delay_ms": 1500, "times": 1 }))
        .await;
    let slow = app.post_webhook_in_background(&message_update(10, 505, "/start"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy = app
        .post_webhook(message_update(11, 506, "/start").to_string(), Some(SECRET))
        .await;
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(
        app.bot_messages(506).await.len(),
        before,
        "the refused update did nothing"
    );
    // Redelivered later, it is handled.
    let later = app
        .post_webhook(message_update(11, 506, "/start").to_string(), Some(SECRET))
        .await;
    assert_eq!(later.status(), 200);
    assert_eq!(app.bot_messages(506).await.len(), before + 1);
    app.stop().await;
}

/// Several replicas behind a load balancer share Redis: a redelivery that lands on another
/// replica is still recognised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_across_replicas_is_handled_once() {
    use figment::providers::Serialized;
    let Some(first) = TestApp::spawn(Storage::Production).await else {
        return;
    };
    let prefix = first.settings.cache.key_prefix.clone();
    let db_url = first.settings.database_url.expose().to_owned();
    let sandbox_api = first.settings.telegram_api_url.to_string();
    let Some(second) = TestApp::spawn_with(Storage::Production, |f| {
        f.merge(Serialized::default("cache.key_prefix", prefix))
            .merge(Serialized::default("database_url", db_url))
            .merge(Serialized::default("telegram_api_url", sandbox_api))
    })
    .await
    else {
        return;
    };
    let before = first.open_chat(507).await;
    let update = message_update(4242, 507, "/start").to_string();
    assert_eq!(
        first
            .post_webhook(update.clone(), Some(SECRET))
            .await
            .status(),
        200
    );
    assert_eq!(
        second.post_webhook(update, Some(SECRET)).await.status(),
        200
    );
    assert_eq!(
        first.bot_messages(507).await.len(),
        before + 1,
        "one reply across replicas"
    );
    second.stop().await;
    first.stop().await;
}

/// The database is down: Telegram gets a 5xx (and redelivers later), the user gets nothing
/// half-done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_5xx() {
    let Some(app) = TestApp::spawn(Storage::Production).await else {
        return;
    };
    app.pg.as_ref().unwrap().drop_database().await;
    let response = app
        .post_webhook(message_update(20, 508, "/start").to_string(), Some(SECRET))
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("postgres") && !body.contains("aisha_t_"),
        "no internals leak: {body}"
    );
    assert!(
        app.calls()
            .await
            .iter()
            .all(|c| c["method"] != "sendMessage")
    );
    app.stop().await;
}

both_storages!(
    duplicate_during_handling_is_not_acknowledged,
    transient_failure_is_retried_and_handled_once,
    permanent_failure_is_acknowledged,
);

/// A redelivery that arrives while the first delivery is still being handled gets 503, not
/// 200: the first attempt may still fail, and a 200 would lose the update.
async fn duplicate_during_handling_is_not_acknowledged(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let before = app.open_chat(510).await;
    app.fault(json!({ "method": "sendMessage", "error_code": null, "delay_ms": 2000, "times": 1 }))
        .await;
    let update = message_update(50, 510, "/start");
    let first = app.post_webhook_in_background(&update);
    let update = update.to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = app.post_webhook(update.clone(), Some(SECRET)).await;
    assert_eq!(during.status(), 503);
    assert!(during.headers().contains_key("retry-after"));
    assert_eq!(first.await.unwrap(), 200);
    let after = app.post_webhook(update, Some(SECRET)).await;
    assert_eq!(after.status(), 200);
    assert_eq!(app.bot_messages(510).await.len(), before + 1);
    app.stop().await;
}

/// Telegram fails (5xx, then 429): the update is answered 503 so Telegram redelivers it, and the
/// redelivery is handled, once.
async fn transient_failure_is_retried_and_handled_once(storage: Storage) {
    let Some(app) = TestApp::spawn_patient(storage).await else {
        return;
    };
    let before = app.open_chat(511).await;
    app.fault(json!({ "method": "sendMessage", "error_code": 500, "times": 1 }))
        .await;
    let sent = app.send_text(511, "/start").await;
    assert_eq!(sent["webhook_status"], 503);
    assert_eq!(
        app.bot_messages(511).await.len(),
        before,
        "nothing shown yet"
    );
    let update_id = sent["update_id"].as_i64().unwrap();
    assert_eq!(app.redeliver(update_id).await["webhook_status"], 200);
    assert_eq!(app.redeliver(update_id).await["webhook_status"], 200);
    assert_eq!(
        app.bot_messages(511).await.len(),
        before + 1,
        "handled exactly once"
    );

    app.fault(json!({ "method": "sendMessage", "error_code": 429, "retry_after": 7, "times": 1 }))
        .await;
    let response = app
        .post_webhook(message_update(60, 511, "/help").to_string(), Some(SECRET))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["retry-after"],
        "7",
        "Telegram's own retry_after is passed on"
    );
    assert_eq!(
        app.post_webhook(message_update(60, 511, "/help").to_string(), Some(SECRET))
            .await
            .status(),
        200
    );
    assert_eq!(app.bot_messages(511).await.len(), before + 2);
    app.stop().await;
}

/// The user blocked the bot: retrying cannot help, so the update is acknowledged.
async fn permanent_failure_is_acknowledged(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let before = app.open_chat(512).await;
    app.fault(json!({ "method": "sendMessage", "error_code": 403, "times": 1 }))
        .await;
    let sent = app.send_text(512, "/start").await;
    assert_eq!(sent["webhook_status"], 200);
    assert_eq!(
        app.redeliver(sent["update_id"].as_i64().unwrap()).await["webhook_status"],
        200
    );
    let sends = app
        .calls()
        .await
        .into_iter()
        .filter(|c| c["method"] == "sendMessage")
        .count();
    assert_eq!(sends, before + 1, "not retried");
    app.stop().await;
}
