//! Hostile and odd input, each class of what fuzzing found: names too long to greet, provider
//! callbacks with statuses that are not final, and callers that go away mid-update.

use std::time::Duration;

use figment::{Figment, providers::Serialized};
use serde_json::{Value, json};

use crate::{
    both_storages,
    fake_fal::{CallbackResult, FakeFal, Mode, SendOpts},
    generation::{generate, generations, grant, last, photos, wait_for},
    helpers::{SECRET, Storage, TestApp, buttons},
};

both_storages!(
    a_name_too_long_to_greet_is_cut_and_the_menu_comes,
    only_ok_and_error_end_a_job,
    an_update_is_handled_to_the_end_when_the_caller_goes_away,
);

/// Posts a raw update with the right secret.
async fn post(app: &TestApp, update: &Value) -> u16 {
    app.post_webhook(update.to_string(), Some(SECRET))
        .await
        .status()
        .as_u16()
}

async fn a_name_too_long_to_greet_is_cut_and_the_menu_comes(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 8301;
    app.open_chat(user).await;
    // Escaped, every "<" is four characters: 3000 of them would be 12000.
    let name = format!("{}Ада & <b>", "<".repeat(3000));
    let update = json!({
        "update_id": 930_001,
        "message": {
            "message_id": 77, "date": 1_700_000_000,
            "chat": { "id": user, "type": "private", "first_name": name },
            "from": { "id": user, "is_bot": false, "first_name": name },
            "text": "/start"
        }
    });
    assert_eq!(post(&app, &update).await, 200);
    let greeting = last(&app.bot_messages(user).await);
    let text = greeting["text"].as_str().unwrap_or_default();
    assert!(text.contains("Главное меню"), "{greeting:#}");
    assert!(text.encode_utf16().count() <= 4096);
    assert!(text.contains('…'), "the name is cut: {text}");
    assert!(!buttons(&greeting).is_empty(), "the menu's buttons");
    app.stop().await;
}

async fn only_ok_and_error_end_a_job(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let (queue, jwks) = (fal.queue_url(), fal.jwks_url());
    let Some(app) = TestApp::spawn_with(storage, move |f: Figment| {
        f.merge(Serialized::default("image_provider", "fal"))
            .merge(Serialized::default("fal_key", FakeFal::KEY))
            .merge(Serialized::default("fal_queue_url", queue))
            .merge(Serialized::default("fal_jwks_url", jwks))
    })
    .await
    else {
        return;
    };
    let user = 8302;
    app.send_text(user, "/start").await;
    grant(&app, user, 10).await;
    generate(&app, user, "a progress event must not end this", 0, 1).await;
    let id = fal.wait_submits(1).await[0].request_id.clone();
    // Signed, for this job, with statuses that do not end it: acknowledged, nothing changes.
    for status in ["IN_PROGRESS", "IN_QUEUE", "COMPLETED", "ok", "error", ""] {
        let answer = fal
            .send_callback(
                &id,
                CallbackResult::Status(status.into()),
                SendOpts::default(),
            )
            .await;
        assert_eq!(answer, 200, "{status:?}");
        let g = &generations(&app).await[0];
        assert_eq!(g.status, "pending", "{status:?}");
        assert_eq!(g.cost, 5);
    }
    let balance = crate::generation::balance(&app, user).await;
    assert_eq!(balance, 5, "nothing refunded");
    // The real end still works.
    assert_eq!(
        fal.send_callback(&id, CallbackResult::Ok, SendOpts::default())
            .await,
        200
    );
    wait_for(&app, user, "the photo", |m| !photos(m).is_empty()).await;
    assert_eq!(generations(&app).await[0].status, "completed");
    app.stop().await;
}

async fn an_update_is_handled_to_the_end_when_the_caller_goes_away(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 8303;
    app.send_text(user, "/start").await;
    let menu = last(&app.bot_messages(user).await);
    let menu_id = menu["message_id"].as_i64().unwrap();
    // Telegram is slow to edit; the caller gives up long before.
    app.fault(json!({ "method": "editMessageText", "delay_ms": 1500, "times": 1 }))
        .await;
    let press = json!({
        "update_id": 930_101,
        "callback_query": {
            "id": "930101", "chat_instance": "1", "data": "main_help",
            "from": { "id": user, "is_bot": false, "first_name": "Ada" },
            "message": {
                "message_id": menu_id, "date": 1_700_000_000,
                "chat": { "id": user, "type": "private", "first_name": "Ada" },
                "from": { "id": 123_456, "is_bot": true, "first_name": "Aisha" },
                "text": "menu"
            }
        }
    });
    let gone = reqwest::Client::new()
        .post(format!("{}/telegram/webhook", app.url))
        .header("x-telegram-bot-api-secret-token", SECRET)
        .header("content-type", "application/json")
        .body(press.to_string())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gone.is_err(), "the caller went away before the answer");
    // The handling went on: the screen is edited, and a redelivery finds the update done.
    for _ in 0..100 {
        let shown = app.bot_messages(user).await;
        let menu = shown.iter().find(|m| m["message_id"] == menu_id).unwrap();
        if menu["text"].as_str().unwrap_or_default().contains("Помощь") {
            assert_eq!(post(&app, &press).await, 200);
            app.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the screen was never edited: the handling was cancelled with the request");
}
