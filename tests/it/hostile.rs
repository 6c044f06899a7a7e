//! Hostile and odd input, each class of what fuzzing found: names too long to greet, provider
//! callbacks with statuses that are not final, and callers that go away mid-update.

use std::time::Duration;

use entity::dead_letter;
use figment::{Figment, providers::Serialized};
use sea_orm::EntityTrait;
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
    poison_updates_are_answered_kept_and_replayed,
    dead_letters_are_bounded,
    image_urls_are_fetched_only_where_they_belong,
);

/// The dead letters the app kept, oldest first.
async fn dead_letters(app: &TestApp) -> Vec<dead_letter::Model> {
    dead_letter::Entity::find().all(&app.db).await.unwrap()
}

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
    let on_fal = fal.clone();
    let Some(app) = TestApp::spawn_with(storage, move |f: Figment| on_fal.configure(f)).await
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

fn text_update(update_id: i64, user: i64, first_name: &str, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000,
            "chat": { "id": user, "type": "private", "first_name": first_name },
            "from": { "id": user, "is_bot": false, "first_name": first_name },
            "text": text
        }
    })
}

async fn poison_updates_are_answered_kept_and_replayed(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 8304;
    app.open_chat(user).await;

    // A handler that fails for good (Telegram refuses the answer): answered 200, kept, the
    // user told; after the cause is gone, the operator replays it and it is handled.
    app.fault(json!({ "method": "sendMessage", "error_code": 400,
        "description": "Bad Request: chat not found", "times": 1 }))
        .await;
    assert_eq!(
        post(&app, &text_update(930_400, user, "Ada", "/help")).await,
        200
    );
    let kept = dead_letters(&app).await;
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert_eq!(kept[0].update_id, Some(930_400));
    assert!(
        kept[0].error.contains("chat not found"),
        "{}",
        kept[0].error
    );
    let (ok, out, err) = app
        .run_cli(&["replay-dead-letters", "--url", &app.url])
        .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 replayed, 0 kept"), "{out}");
    let help = last(&app.bot_messages(user).await);
    assert!(
        help["text"].as_str().unwrap_or_default().contains("Помощь"),
        "{help:#}"
    );
    assert!(dead_letters(&app).await.is_empty());

    // Kinds the bot does not handle, in shapes whose parsers panic in teloxide-core 0.13: 200,
    // nothing kept, no panic.
    for update in [
        json!({ "update_id": 930_301, "poll_answer": { "poll_id": "P", "option_ids": [] } }),
        json!({ "update_id": 930_302, "message_reaction": {
            "chat": { "id": user, "type": "private" }, "message_id": 1, "date": 0,
            "old_reaction": [], "new_reaction": [] } }),
    ] {
        assert_eq!(post(&app, &update).await, 200, "{update}");
    }
    assert!(dead_letters(&app).await.is_empty());

    // NUL and other control characters: made spaces at the boundary, so the database takes the
    // name and the prompt, and the user gets their answers.
    let name = "A\u{0}d\u{7}a";
    assert_eq!(
        post(&app, &text_update(930_310, user, name, "/start")).await,
        200
    );
    let greeting = last(&app.bot_messages(user).await);
    assert!(
        greeting["text"]
            .as_str()
            .unwrap_or_default()
            .contains("A d a"),
        "{greeting:#}"
    );
    assert_eq!(
        post(&app, &text_update(930_311, user, name, "/generate")).await,
        200
    );
    assert_eq!(
        post(
            &app,
            &text_update(930_312, user, name, "a cat\u{0}in a hat")
        )
        .await,
        200
    );
    let screen = last(&app.bot_messages(user).await);
    assert!(
        screen["text"]
            .as_str()
            .unwrap_or_default()
            .contains("a cat in a hat"),
        "{screen:#}"
    );
    assert!(dead_letters(&app).await.is_empty());

    // A payload of a kind the bot handles that teloxide can't read: kept, 200, counted.
    let broken = json!({ "update_id": 930_320, "message": { "message_id": "nope" } });
    assert_eq!(post(&app, &broken).await, 200);
    let kept = dead_letters(&app).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].update_id, Some(930_320));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("telegram_updates_dead_lettered_total"),
        "{metrics}"
    );
    app.stop().await;
}

async fn dead_letters_are_bounded(storage: Storage) {
    let Some(app) = TestApp::spawn_with(storage, |f: Figment| {
        f.merge(Serialized::default("telegram.dead_letters_max", 3))
    })
    .await
    else {
        return;
    };
    for n in 0..5 {
        let body = json!({ "update_id": 930_500 + n, "message": { "message_id": "x" } });
        assert_eq!(post(&app, &body).await, 200);
    }
    let kept = dead_letters(&app).await;
    let ids: Vec<Option<i64>> = kept.iter().map(|k| k.update_id).collect();
    assert_eq!(
        ids,
        [Some(930_502), Some(930_503), Some(930_504)],
        "the newest kept"
    );
    app.stop().await;
}

async fn image_urls_are_fetched_only_where_they_belong(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let on_fal = fal.clone();
    let Some(app) = TestApp::spawn_with(storage, move |f: Figment| {
        // localhost allowed by name: its address (loopback) is what refuses it.
        on_fal.configure(f).merge(Serialized::default(
            "delivery.image_hosts",
            ["fal.media", "localhost"],
        ))
    })
    .await
    else {
        return;
    };
    // An internal service on this machine that must never be reached.
    let internal = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = internal.local_addr().unwrap().port();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = internal.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let user = 8305;
    app.send_text(user, "/start").await;
    grant(&app, user, 100).await;
    let redirect = format!(
        "{}/redirect?to=http://127.0.0.1:{port}/x.png",
        fal.queue_url()
    );
    let urls = [
        format!("http://127.0.0.1:{port}/x.png"),
        format!("http://localhost:{port}/x.png"),
        format!("http://2130706433:{port}/x.png"),
        format!("http://0x7f000001:{port}/x.png"),
        format!("https://127.0.0.1:{port}/x.png"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://localhost/x.png".to_owned(),
        "https://fal.media:6379/x.png".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("gopher://127.0.0.1:{port}/_INFO"),
        "data:image/png;base64,iVBORw0KGgo=".to_owned(),
        "::not a url::".to_owned(),
        redirect,
    ];
    for (n, url) in urls.iter().enumerate() {
        generate(&app, user, "an image from somewhere", 0, 1).await;
        let id = fal.wait_submits(n + 1).await[n].request_id.clone();
        let answer = fal
            .send_callback(
                &id,
                CallbackResult::Urls(vec![url.clone()]),
                SendOpts::default(),
            )
            .await;
        assert_eq!(answer, 200, "{url}");
        // Failed for good at once (not retried as if transient) and refunded once.
        // (The chat's pushes are paced one a second: earlier failure notices go first.)
        let mut failed = false;
        for _ in 0..400 {
            if generations(&app).await[n].status == "failed" {
                failed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(failed, "{url}: the generation must fail");
        assert_eq!(
            crate::generation::balance(&app, user).await,
            100,
            "{url}: refunded once"
        );
    }
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing fetched from the internal service"
    );
    app.stop().await;
}
