//! Generation against the fake fal.ai queue: what fal is sent, signed callbacks (good, forged,
//! stale, duplicated, early, lost), refunds, and the outbox under Telegram errors and restarts.

use std::time::Duration;

use chrono::Utc;
use entity::ledger as ledger_row;
use figment::{Figment, providers::Serialized};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    both_storages,
    fake_fal::{CallbackResult, FakeFal, JobStatus, Mode, SendOpts},
    generation::{
        balance, deliveries, generate, generations, grant, images_of, last, outbox_settles, photos,
        wait_for,
    },
    helpers::{Storage, TestApp, buttons},
};

async fn spawn(storage: Storage, fal: &FakeFal, deadline_secs: u64) -> Option<TestApp> {
    let fal = fal.clone();
    TestApp::spawn_with(storage, move |f: Figment| {
        fal.configure(f)
            .merge(Serialized::default(
                "generation.deadline_secs",
                deadline_secs,
            ))
            // Long enough for teloxide's 10 s pause after a Bot API 5xx.
            .merge(Serialized::default("server.request_timeout_secs", 30))
    })
    .await
}

/// The app on the fake fal, with `user` registered and holding `coins`.
async fn ready(
    storage: Storage,
    fal: &FakeFal,
    deadline_secs: u64,
    user: i64,
    coins: i64,
) -> Option<TestApp> {
    let app = spawn(storage, fal, deadline_secs).await?;
    app.send_text(user, "/start").await;
    grant(&app, user, coins).await;
    Some(app)
}

async fn refunds(app: &TestApp) -> usize {
    ledger_row::Entity::find()
        .filter(ledger_row::Column::Kind.eq("refund"))
        .all(&app.db)
        .await
        .unwrap()
        .len()
}

both_storages!(
    fal_gets_the_exact_request_and_repeats_never_grow_the_prompt,
    a_style_dresses_the_prompt_once_and_repeat_keeps_it,
    a_provider_error_is_refunded_once,
    a_failed_submit_is_refunded,
    five_duplicate_callbacks_make_one_photo,
    forged_and_stale_callbacks_change_nothing,
    a_callback_before_the_submit_answer_still_finds_its_job,
    a_lost_callback_is_refunded_at_the_deadline,
    a_lost_callback_of_a_finished_job_is_delivered_at_the_deadline,
    telegram_429_is_retried_after_retry_after,
    a_pending_push_survives_a_restart,
    a_user_who_blocked_the_bot_ends_the_push,
    telegram_5xx_is_retried_with_backoff,
    an_album_is_never_sent_twice,
    pushes_keep_telegrams_per_chat_limit,
);

async fn fal_gets_the_exact_request_and_repeats_never_grow_the_prompt(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8001;
    let Some(app) = ready(storage, &fal, 600, user, 100).await else {
        return;
    };
    let made = crate::generation::ready_avatar(
        &app,
        user,
        "Ася",
        "TOK_ab12",
        "https://fal.example/lora.safetensors",
    )
    .await;

    app.send_text(user, "/generate").await;
    let intro = last(&app.bot_messages(user).await);
    assert!(intro["text"].as_str().unwrap().contains("Ася"), "{intro:#}");
    app.send_text(user, "/generate").await;
    generate(&app, user, "in a spacesuit on the Moon", 3, 2).await;
    let submit = &fal.wait_submits(1).await[0];
    let g = &generations(&app).await[0];
    assert_eq!(submit.path, "/fal-ai/flux-lora");
    let prefix = format!("{}/webhooks/fal/{}/", app.url, g.id);
    assert!(submit.webhook.starts_with(&prefix), "{}", submit.webhook);
    assert_eq!(
        submit.webhook.len(),
        prefix.len() + 64,
        "an HMAC-SHA256 token"
    );
    let input = &submit.input;
    assert_eq!(input["prompt"], "TOK_ab12 in a spacesuit on the Moon");
    assert_eq!(input["image_size"], json!({"width": 576, "height": 1024}));
    assert_eq!(input["num_images"], 2);
    assert_eq!(
        input["loras"],
        json!([{"path": "https://fal.example/lora.safetensors", "scale": 1.0}])
    );
    assert_eq!(g.avatar_id, Some(made.id));
    assert_eq!(g.prompt, "in a spacesuit on the Moon");

    let done = |n: usize| {
        move |m: &[serde_json::Value]| {
            m.iter()
                .filter(|m| m["text"].as_str().is_some_and(|t| t.contains("Готово: 2")))
                .count()
                == n
        }
    };
    let chat = wait_for(&app, user, "the album", done(1)).await;
    assert!(
        photos(&chat)[0]["caption"]
            .as_str()
            .unwrap()
            .contains("Ася")
    );
    // 🔄 three times: the trigger phrase stays in front once, the user's words unchanged.
    for round in 2..=4 {
        let again = last(&app.bot_messages(user).await);
        let (_, data) = buttons(&again)[0].clone();
        app.press(user, again["message_id"].as_i64().unwrap(), &data)
            .await;
        let submits = fal.wait_submits(round).await;
        assert_eq!(
            submits[round - 1].input["prompt"],
            "TOK_ab12 in a spacesuit on the Moon"
        );
        assert_ne!(submits[round - 1].input["seed"], submits[0].input["seed"]);
        wait_for(&app, user, "the repeat", done(round)).await;
    }
    assert_eq!(balance(&app, user).await, 100 - 4 * 10);

    // A base-model generation goes to the base model, without loras or a trigger phrase.
    app.send_text(user, "/generate").await;
    let intro = last(&app.bot_messages(user).await);
    app.press(user, intro["message_id"].as_i64().unwrap(), "gen_base")
        .await;
    generate_after_intro(&app, user, "a plain teapot", 0, 1).await;
    let submit = fal.wait_submits(5).await[4].clone();
    assert_eq!(submit.path, "/fal-ai/flux/dev");
    assert_eq!(submit.input["prompt"], "a plain teapot");
    assert!(submit.input.get("loras").is_none());
    app.stop().await;
}

/// Like `generate`, when the 🎨 screen is already showing.
async fn generate_after_intro(app: &TestApp, user: i64, prompt: &str, aspect: u8, count: u8) {
    app.send_text(user, prompt).await;
    let screen = last(&app.bot_messages(user).await);
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, &format!("gen_aspect:{aspect}")).await;
    app.press(user, id, &format!("gen_go:{aspect}:{count}"))
        .await;
}

async fn a_provider_error_is_refunded_once(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::CallbackError {
        delay_ms: 50,
        error: "NSFW content detected".into(),
    });
    let user = 8002;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    generate(&app, user, "something the provider refuses", 0, 2).await;
    let chat = wait_for(&app, user, "the failure notice", |m| {
        last(m)["text"]
            .as_str()
            .is_some_and(|t| t.contains("не удалась"))
    })
    .await;
    let notice = last(&chat);
    let text = notice["text"].as_str().unwrap();
    assert!(
        text.contains("NSFW content detected") && text.contains("10 монет"),
        "{text}"
    );
    let g = &generations(&app).await[0];
    assert_eq!(
        buttons(&notice)[0],
        ("🔄 Повторить".to_owned(), format!("regenerate:{}", g.id))
    );
    assert_eq!(g.status, "failed");
    assert_eq!(balance(&app, user).await, 10);
    assert_eq!(refunds(&app).await, 1);
    // fal retries its webhook: the same error again changes nothing.
    let id = fal.submits()[0].request_id.clone();
    for _ in 0..2 {
        let status = fal
            .send_callback(
                &id,
                CallbackResult::Error("again".into()),
                SendOpts::default(),
            )
            .await;
        assert_eq!(status, 200);
    }
    outbox_settles(&app).await;
    assert_eq!(refunds(&app).await, 1);
    assert_eq!(balance(&app, user).await, 10);
    assert_eq!(deliveries(&app).await.len(), 1);
    // 📊 on it says why and that the coins came back.
    app.press(
        user,
        notice["message_id"].as_i64().unwrap(),
        &format!("generation_status:{}", g.id),
    )
    .await;
    let answers = app.chat(user).await["callback_answers"].to_string();
    assert!(answers.contains("возвращены"), "{answers}");
    app.stop().await;
}

async fn a_failed_submit_is_refunded(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8003;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    for (round, status) in [(1, 500), (2, 422)] {
        fal.set_mode(Mode::SubmitFails { status });
        generate(&app, user, "a submit that fails", 0, 1).await;
        wait_for(&app, user, "the failure notice", |m| {
            m.iter()
                .filter(|m| m["text"].as_str().is_some_and(|t| t.contains("недоступен")))
                .count()
                == round
        })
        .await;
        assert_eq!(balance(&app, user).await, 10);
    }
    let all = generations(&app).await;
    assert!(
        all.iter()
            .all(|g| g.status == "failed" && g.error.as_deref() == Some("submit"))
    );
    assert_eq!(refunds(&app).await, 2);
    assert!(fal.submits().is_empty());
    app.stop().await;
}

async fn five_duplicate_callbacks_make_one_photo(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let user = 8004;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    generate(&app, user, "one photo only", 0, 1).await;
    let id = fal.wait_submits(1).await[0].request_id.clone();
    let sends = (0..5).map(|_| fal.send_callback(&id, CallbackResult::Ok, SendOpts::default()));
    let statuses = futures::future::join_all(sends).await;
    assert_eq!(statuses, vec![200; 5]);
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    outbox_settles(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(photos(&app.bot_messages(user).await).len(), 1);
    let g = &generations(&app).await[0];
    assert_eq!(images_of(&app, g.id).await.len(), 1);
    assert_eq!(deliveries(&app).await.len(), 1);
    assert_eq!(balance(&app, user).await, 5);
    app.stop().await;
}

async fn forged_and_stale_callbacks_change_nothing(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let user = 8005;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    generate(&app, user, "only fal may finish this", 0, 1).await;
    let id = fal.wait_submits(1).await[0].request_id.clone();
    let stale = Utc::now().timestamp() - 400;
    for opts in [
        SendOpts {
            wrong_key: true,
            ..SendOpts::default()
        },
        SendOpts {
            tamper_body: true,
            ..SendOpts::default()
        },
        SendOpts {
            unsigned: true,
            ..SendOpts::default()
        },
        SendOpts {
            timestamp: Some(stale),
            ..SendOpts::default()
        },
    ] {
        let status = fal.send_callback(&id, CallbackResult::Ok, opts).await;
        assert_eq!(status, 401, "{opts:?}");
        let status = fal
            .send_callback(&id, CallbackResult::Error("forged".into()), opts)
            .await;
        assert_eq!(status, 401, "{opts:?}");
    }
    let g = &generations(&app).await[0];
    assert_eq!(g.status, "pending");
    assert!(images_of(&app, g.id).await.is_empty());
    assert!(deliveries(&app).await.is_empty());
    assert_eq!(refunds(&app).await, 0);
    // A genuinely signed callback aimed at another generation's URL (the token doesn't match
    // that id) is not ours to act on.
    grant(&app, user, 5).await;
    generate(&app, user, "a second job", 0, 1).await;
    let other = generations(&app).await[1].id;
    for result in [CallbackResult::Ok, CallbackResult::Error("forged".into())] {
        let retarget = SendOpts {
            retarget: Some(other),
            ..SendOpts::default()
        };
        assert_eq!(fal.send_callback(&id, result, retarget).await, 404);
    }
    assert_eq!(generations(&app).await[1].status, "pending");
    let token = fal.submits()[0]
        .webhook
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // Unknown routes and ids are not found.
    let post = |path: String| {
        app.http
            .post(format!("{}{path}", app.url))
            .body("{}")
            .send()
    };
    assert_eq!(
        post(format!("/webhooks/replicate/{}/{token}", g.id))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        post(format!("/webhooks/fal/abc/{token}"))
            .await
            .unwrap()
            .status(),
        404
    );
    // The genuine one still works.
    assert_eq!(
        fal.send_callback(&id, CallbackResult::Ok, SendOpts::default())
            .await,
        200
    );
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    app.stop().await;
}

async fn a_callback_before_the_submit_answer_still_finds_its_job(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::CallbackBeforeResponse);
    let user = 8006;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    generate(&app, user, "faster than the answer", 0, 1).await;
    let callbacks = fal.wait_callbacks(1).await;
    assert_eq!(callbacks[0].status, 200);
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    outbox_settles(&app).await;
    let g = &generations(&app).await[0];
    assert_eq!(g.status, "completed");
    assert_eq!(
        g.request_id.as_deref(),
        Some(fal.submits()[0].request_id.as_str())
    );
    app.stop().await;
}

async fn a_lost_callback_is_refunded_at_the_deadline(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let user = 8007;
    let Some(app) = ready(storage, &fal, 2, user, 10).await else {
        return;
    };
    generate(&app, user, "a callback that never comes", 0, 2).await;
    assert_eq!(balance(&app, user).await, 0);
    wait_for(&app, user, "the timeout notice", |m| {
        last(m)["text"]
            .as_str()
            .is_some_and(|t| t.contains("не ответил вовремя"))
    })
    .await;
    assert_eq!(fal.status_calls(), 1, "asked once");
    assert_eq!(balance(&app, user).await, 10);
    let g = &generations(&app).await[0];
    assert_eq!(
        (g.status.as_str(), g.error.as_deref()),
        ("failed", Some("timeout"))
    );
    // The callback finally arrives: too late, nothing changes.
    let id = fal.submits()[0].request_id.clone();
    assert_eq!(
        fal.send_callback(&id, CallbackResult::Ok, SendOpts::default())
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(photos(&app.bot_messages(user).await).is_empty());
    assert_eq!(balance(&app, user).await, 10);
    app.stop().await;
}

async fn a_lost_callback_of_a_finished_job_is_delivered_at_the_deadline(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let user = 8008;
    let Some(app) = ready(storage, &fal, 2, user, 10).await else {
        return;
    };
    generate(&app, user, "finished, but the webhook got lost", 0, 1).await;
    let id = fal.wait_submits(1).await[0].request_id.clone();
    fal.set_status(&id, JobStatus::Completed);
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    assert_eq!(fal.status_calls(), 1);
    assert_eq!(balance(&app, user).await, 5);
    assert_eq!(generations(&app).await[0].status, "completed");
    app.stop().await;
}

async fn telegram_429_is_retried_after_retry_after(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8009;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    app.fault(json!({"method": "sendPhoto", "error_code": 429, "retry_after": 2, "times": 1}))
        .await;
    generate(&app, user, "slow down, says Telegram", 0, 1).await;
    let started = std::time::Instant::now();
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    let rows = outbox_settles(&app).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rows[0].status, "done");
    let sends = app
        .calls()
        .await
        .iter()
        .filter(|c| {
            c["method"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case("sendPhoto"))
        })
        .count();
    assert_eq!(sends, 2, "one refused, one delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(photos(&app.bot_messages(user).await).len(), 1);
    app.stop().await;
}

async fn a_pending_push_survives_a_restart(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8010;
    let Some(mut app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    app.fault(json!({"method": "sendPhoto", "error_code": 429, "retry_after": 3, "times": 1}))
        .await;
    generate(&app, user, "delivered after a deploy", 0, 1).await;
    // Wait until the first attempt was refused and rescheduled, then deploy.
    for _ in 0..200 {
        let rows = deliveries(&app).await;
        if rows
            .first()
            .is_some_and(|d| d.next_attempt_at > d.created_at + chrono::Duration::seconds(1))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(photos(&app.bot_messages(user).await).is_empty());
    app.restart().await;
    wait_for(&app, user, "the photo after the restart", |m| {
        photos(m).len() == 1
    })
    .await;
    outbox_settles(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(photos(&app.bot_messages(user).await).len(), 1);
    app.stop().await;
}

async fn a_user_who_blocked_the_bot_ends_the_push(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8011;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    app.fault(json!({"method": "sendPhoto", "error_code": 403,
        "description": "Forbidden: bot was blocked by the user", "times": 5}))
        .await;
    generate(&app, user, "nobody will see this", 0, 1).await;
    let rows = outbox_settles(&app).await;
    assert_eq!(rows[0].status, "failed");
    assert!(
        rows[0].last_error.as_deref().unwrap().contains("blocked"),
        "{:?}",
        rows[0].last_error
    );
    let sends = app
        .calls()
        .await
        .iter()
        .filter(|c| {
            c["method"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case("sendPhoto"))
        })
        .count();
    assert_eq!(sends, 1, "not retried");
    // The generation itself succeeded: it stays completed and paid (the gallery has it).
    let g = &generations(&app).await[0];
    assert_eq!(g.status, "completed");
    // The user unblocks the bot and presses 📊 on the progress message: the photo goes out now.
    app.http
        .delete(format!("{}/faults", app.sandbox))
        .send()
        .await
        .unwrap();
    let progress = last(&app.bot_messages(user).await);
    app.press(
        user,
        progress["message_id"].as_i64().unwrap(),
        &format!("generation_status:{}", g.id),
    )
    .await;
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    app.stop().await;
}

fn sends(calls: &[serde_json::Value], method: &str) -> Vec<serde_json::Value> {
    calls
        .iter()
        .filter(|c| {
            c["method"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case(method))
        })
        .cloned()
        .collect()
}

async fn an_album_is_never_sent_twice(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let user = 8012;
    let Some(app) = ready(storage, &fal, 600, user, 15).await else {
        return;
    };
    generate(&app, user, "three of a kind", 0, 3).await;
    let id = fal.wait_submits(1).await[0].request_id.clone();
    // The album goes out, then the message with the buttons is refused once.
    app.fault(json!({"method": "sendMessage", "error_code": 429, "retry_after": 1, "times": 1}))
        .await;
    assert_eq!(
        fal.send_callback(&id, CallbackResult::Ok, SendOpts::default())
            .await,
        200
    );
    wait_for(&app, user, "the buttons after the album", |m| {
        last(m)["text"]
            .as_str()
            .is_some_and(|t| t.contains("Готово: 3"))
    })
    .await;
    outbox_settles(&app).await;
    let calls = app.calls().await;
    let albums = sends(&calls, "sendMediaGroup");
    assert_eq!(albums.len(), 1, "{albums:?}");
    assert_eq!(
        sends(&calls, "sendMessage")
            .iter()
            .filter(|c| c["ok"] == false)
            .count(),
        1
    );
    assert_eq!(photos(&app.bot_messages(user).await).len(), 3);
    app.stop().await;
}

async fn pushes_keep_telegrams_per_chat_limit(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let Some(app) = spawn(storage, &fal, 600).await else {
        return;
    };
    let users = [8013, 8014, 8015];
    for user in users {
        app.send_text(user, "/start").await;
        grant(&app, user, 20).await;
        generate(&app, user, "a pair of pictures", 0, 2).await;
    }
    let submits = fal.wait_submits(users.len()).await;
    // The sandbox now enforces Telegram's flood limits; the conversation's own replies are a
    // second old by the time results arrive.
    app.http
        .post(format!("{}/config", app.sandbox))
        .json(&json!({"rate_limits": true}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.http
        .delete(format!("{}/calls", app.sandbox))
        .send()
        .await
        .unwrap();
    for s in &submits {
        assert_eq!(
            fal.send_callback(&s.request_id, CallbackResult::Ok, SendOpts::default())
                .await,
            200
        );
    }
    for user in users {
        wait_for(&app, user, "album and buttons", |m| {
            last(m)["text"]
                .as_str()
                .is_some_and(|t| t.contains("Готово: 2"))
        })
        .await;
    }
    let refused: Vec<_> = app
        .calls()
        .await
        .into_iter()
        .filter(|c| c["error_code"] == 429)
        .collect();
    assert!(refused.is_empty(), "the worker paced itself: {refused:?}");
    app.stop().await;
}

/// Two replicas share PostgreSQL: queued pushes become due on both at the same moment, each
/// claims with `FOR UPDATE SKIP LOCKED`, and every result reaches its chat once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_deliver_each_result_once() {
    let fal = FakeFal::start().await;
    let Some(first) = spawn(Storage::Production, &fal, 600).await else {
        return;
    };
    let users: Vec<i64> = (8100..8108).collect();
    app_fault_all_first_sends(&first, users.len()).await;
    for &user in &users {
        first.send_text(user, "/start").await;
        grant(&first, user, 5).await;
        generate(&first, user, "one of many", 0, 1).await;
    }
    // Every push was refused once and waits for its retry time...
    for _ in 0..200 {
        let rows = deliveries(&first).await;
        if rows.len() == users.len()
            && rows
                .iter()
                .all(|d| d.next_attempt_at > d.created_at + chrono::Duration::seconds(1))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...when a second replica starts on the same database, cache and Telegram.
    let Some(second) = second_replica(&first, &fal, 600).await else {
        return;
    };
    for &user in &users {
        wait_for(&first, user, "the photo", |m| photos(m).len() == 1).await;
    }
    outbox_settles(&first).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for &user in &users {
        assert_eq!(
            photos(&first.bot_messages(user).await).len(),
            1,
            "user {user}"
        );
    }
    let delivered = first.calls().await.into_iter().filter(|c| {
        c["method"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("sendPhoto"))
            && c["ok"] == true
    });
    assert_eq!(delivered.count(), users.len());
    second.stop().await;
    first.stop().await;
}

async fn app_fault_all_first_sends(app: &TestApp, n: usize) {
    app.fault(json!({"method": "sendPhoto", "error_code": 429, "retry_after": 3, "times": n}))
        .await;
}

async fn telegram_5xx_is_retried_with_backoff(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8016;
    let Some(app) = ready(storage, &fal, 600, user, 10).await else {
        return;
    };
    app.fault(json!({"method": "sendPhoto", "error_code": 502, "times": 1}))
        .await;
    generate(&app, user, "through a bad gateway", 0, 1).await;
    // teloxide waits 10 s after a 5xx, then the worker backs off a few seconds.
    for _ in 0..40 {
        if deliveries(&app)
            .await
            .first()
            .is_some_and(|d| d.status == "done")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rows = outbox_settles(&app).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("done", 1));
    // Recorded as a failed attempt (teloxide reports a 5xx as a network error).
    assert!(rows[0].last_error.is_some());
    let calls = app.calls().await;
    assert_eq!(sends(&calls, "sendPhoto").len(), 2);
    assert_eq!(photos(&app.bot_messages(user).await).len(), 1);
    app.stop().await;
}

/// The replica that started a generation goes away for good; another replica, told of the
/// deadline through Redis, asks the provider and refunds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_keeps_the_deadline() {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let user = 8200;
    let Some(first) = ready(Storage::Production, &fal, 3, user, 10).await else {
        return;
    };
    let Some(mut second) = second_replica(&first, &fal, 3).await else {
        return;
    };
    // The second replica registered the webhook last: Telegram's updates now reach it, so it
    // starts the generation...
    generate(&first, user, "started there, kept here", 0, 2).await;
    fal.wait_submits(1).await;
    assert_eq!(balance(&first, user).await, 0);
    // ...and goes away for good before the deadline.
    second.trigger_shutdown();
    if let Some(server) = second.take_server() {
        server.await.unwrap().unwrap();
    }
    wait_for(&first, user, "the timeout notice", |m| {
        last(m)["text"]
            .as_str()
            .is_some_and(|t| t.contains("не ответил вовремя"))
    })
    .await;
    assert_eq!(fal.status_calls(), 1);
    assert_eq!(balance(&first, user).await, 10);
    second.stop().await;
    first.stop().await;
}

/// Another replica on the first one's database, cache and Telegram (it registers the webhook,
/// so Telegram's updates reach it from now on, as a load balancer might route them).
async fn second_replica(first: &TestApp, fal: &FakeFal, deadline_secs: u64) -> Option<TestApp> {
    let (prefix, db_url, api) = (
        first.settings.cache.key_prefix.clone(),
        first.settings.database_url.expose().to_owned(),
        first.settings.telegram_api_url.to_string(),
    );
    let fal = fal.clone();
    TestApp::spawn_with(Storage::Production, move |f| {
        fal.configure(f)
            .merge(Serialized::default("cache.key_prefix", prefix))
            .merge(Serialized::default("database_url", db_url))
            .merge(Serialized::default("telegram_api_url", api))
            .merge(Serialized::default(
                "generation.deadline_secs",
                deadline_secs,
            ))
    })
    .await
}

/// Both replicas watch the deadline; the provider is asked once and the refund made once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ask_the_provider_once() {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let user = 8201;
    let Some(first) = ready(Storage::Production, &fal, 3, user, 10).await else {
        return;
    };
    let Some(second) = second_replica(&first, &fal, 3).await else {
        return;
    };
    generate(&first, user, "watched twice, asked once", 0, 1).await;
    wait_for(&first, user, "the timeout notice", |m| {
        last(m)["text"]
            .as_str()
            .is_some_and(|t| t.contains("не ответил вовремя"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fal.status_calls(), 1);
    assert_eq!(refunds(&first).await, 1);
    second.stop().await;
    first.stop().await;
}

/// 🎨 on the format screen → a preset: fal gets the user's words in the style's template (once,
/// behind the avatar's trigger) with the style's guidance; the caption, the gallery card and 🔄
/// keep the style; the stored prompt stays the user's.
async fn a_style_dresses_the_prompt_once_and_repeat_keeps_it(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8011;
    let Some(app) = ready(storage, &fal, 600, user, 100).await else {
        return;
    };
    crate::generation::ready_avatar(&app, user, "Ася", "TOK_ab12", "https://fal.example/l.st")
        .await;
    let (index, anime) = app
        .settings
        .styles
        .iter()
        .enumerate()
        .find(|(_, s)| s.id == "anime")
        .expect("the shipped styles include anime");
    let words = "in a spacesuit on the Moon";

    app.send_text(user, "/generate").await;
    app.send_text(user, words).await;
    let screen = last(&app.bot_messages(user).await);
    let id = screen["message_id"].as_i64().unwrap();
    assert!(
        buttons(&screen).contains(&("🎨 Стиль: без стиля".into(), "gen_styles".into())),
        "{screen:#}"
    );
    app.press(user, id, "gen_styles").await;
    let styles = last(&app.bot_messages(user).await);
    let offered = buttons(&styles);
    assert_eq!(
        offered[0],
        ("✓ без стиля".into(), "gen_style:-".into()),
        "no style first"
    );
    assert!(offered.len() >= 9, "at least 8 presets: {offered:?}");
    app.press(user, id, &format!("gen_style:{index}")).await;
    let screen = last(&app.bot_messages(user).await);
    assert!(
        buttons(&screen)
            .iter()
            .any(|(t, d)| t == "🎨 Стиль: 🌸 Аниме" && d == "gen_styles"),
        "the format screen names the style: {screen:#}"
    );
    app.press(user, id, "gen_aspect:3").await;
    app.press(user, id, "gen_go:3:1").await;

    let expected = format!("TOK_ab12 {}", anime.apply(words));
    let submit = &fal.wait_submits(1).await[0];
    assert_eq!(submit.input["prompt"], expected.as_str());
    assert_eq!(
        submit.input["guidance_scale"], 4.0,
        "the style's own guidance"
    );
    let g = &generations(&app).await[0];
    assert_eq!(
        (g.prompt.as_str(), g.style.as_deref()),
        (words, Some("anime"))
    );

    let chat = wait_for(&app, user, "the photo", |m| !photos(m).is_empty()).await;
    let caption = photos(&chat)[0]["caption"].as_str().unwrap().to_owned();
    assert!(caption.contains("🎨 🌸 Аниме"), "{caption}");

    // 🔄: the same dressed prompt, not dressed twice.
    let result = photos(&chat)[0].clone();
    let (_, again) = buttons(&result)
        .into_iter()
        .find(|(_, d)| d.starts_with("regenerate:"))
        .expect("🔄 under the result");
    app.press(user, result["message_id"].as_i64().unwrap(), &again)
        .await;
    let submits = fal.wait_submits(2).await;
    assert_eq!(submits[1].input["prompt"], expected.as_str());
    let all = generations(&app).await;
    assert_eq!(all[1].style.as_deref(), Some("anime"));
    wait_for(&app, user, "the second photo", |m| photos(m).len() >= 2).await;

    // The gallery card names it too.
    app.send_text(user, "/gallery").await;
    let card = last(&app.bot_messages(user).await);
    assert!(
        card["caption"]
            .as_str()
            .unwrap_or_default()
            .contains("Аниме"),
        "{card:#}"
    );
    app.stop().await;
}
