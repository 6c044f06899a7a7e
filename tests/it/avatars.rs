//! 🎭 Avatars: a draft, photos checked one by one (albums too), training charged once and
//! pushed back by a signed provider webhook, the LoRA used by generation, refunds, ownership.

use std::time::Duration;

use base64::Engine as _;
use entity::{avatar, avatar_photo, generation};
use figment::{Figment, providers::Serialized};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::{
    both_storages,
    fake_fal::{CallbackResult, FakeFal, JobStatus, Mode, SendOpts},
    generation::{balance, generate, generations, grant, photos, wait_for},
    helpers::{Storage, TestApp, buttons},
};

/// A real PNG, `width`×`height`, different for every `seed`.
fn png(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let pixels: Vec<u8> = (0..width * height)
        .map(|i| (i.wrapping_mul(seed.wrapping_add(7)) >> 5) as u8)
        .collect();
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// A face-sized photo, distinct per seed.
pub fn photo(seed: u32) -> Vec<u8> {
    png(seed, 600, 800)
}

/// The user sends these files (`("photo"|"document", bytes)`): one message, or an album.
async fn send(app: &TestApp, user: i64, files: &[(&str, Vec<u8>)]) -> Value {
    post_media(&app.http, &app.sandbox, user, files).await
}

/// [`send`] through any sandbox; every update must have been answered 200.
pub async fn post_media(
    http: &reqwest::Client,
    sandbox: &str,
    user: i64,
    files: &[(&str, Vec<u8>)],
) -> Value {
    let files: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, (kind, bytes))| {
            json!({ "kind": kind, "file_name": format!("img{i}.png"), "mime_type": "image/png",
                "data": base64::engine::general_purpose::STANDARD.encode(bytes) })
        })
        .collect();
    let sent: Value = http
        .post(format!("{sandbox}/users/{user}/media"))
        .json(&json!({ "files": files }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for update in sent["updates"].as_array().unwrap() {
        assert_eq!(update["webhook_status"], 200, "{sent:#}");
    }
    sent
}

async fn album(app: &TestApp, user: i64, seeds: std::ops::Range<u32>) {
    let files: Vec<(&str, Vec<u8>)> = seeds.map(|s| ("photo", photo(s))).collect();
    send(app, user, &files).await;
}

fn text(m: &Value) -> String {
    m["caption"]
        .as_str()
        .or_else(|| m["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn with_button(messages: &[Value], data: &str) -> Option<Value> {
    messages
        .iter()
        .rev()
        .find(|m| buttons(m).iter().any(|(_, d)| d == data))
        .cloned()
}

async fn avatars_of(app: &TestApp, user: i64) -> Vec<avatar::Model> {
    avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(app.user_id(user).await))
        .order_by_asc(avatar::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

async fn photo_rows(app: &TestApp, avatar_id: i64) -> Vec<avatar_photo::Model> {
    avatar_photo::Entity::find()
        .filter(avatar_photo::Column::AvatarId.eq(avatar_id))
        .all(&app.db)
        .await
        .unwrap()
}

/// 🎭 → ➕ → the name → 👩: a draft waiting for photos; returns its id.
async fn new_draft(app: &TestApp, user: i64, name: &str) -> i64 {
    app.send_text(user, "/start").await;
    let menu = app.bot_messages(user).await.last().cloned().unwrap();
    let menu_id = menu["message_id"].as_i64().unwrap();
    app.press(user, menu_id, "avatar_menu").await;
    let screen = with_button(&app.bot_messages(user).await, "av_new").expect("➕ on the list");
    app.press(user, screen["message_id"].as_i64().unwrap(), "av_new")
        .await;
    app.send_text(user, name).await;
    let ask = with_button(&app.bot_messages(user).await, "av_g:1").expect("gender buttons");
    assert!(text(&ask).contains(name), "{ask:#}");
    app.press(user, ask["message_id"].as_i64().unwrap(), "av_g:1")
        .await;
    let made = avatars_of(app, user).await;
    let draft = made.last().expect("a draft");
    assert_eq!(draft.status, "draft");
    assert_eq!(draft.name, name);
    draft.id
}

/// Waits until the avatar's row satisfies `check` (≤ 20 s).
async fn wait_avatar(app: &TestApp, id: i64, what: &str, check: impl Fn(&avatar::Model) -> bool) {
    for _ in 0..400 {
        let row = avatar::Entity::find_by_id(id).one(&app.db).await.unwrap();
        if row.as_ref().is_some_and(&check) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for the avatar to be {what}");
}

async fn wait_photos(app: &TestApp, avatar_id: i64, n: usize) {
    for _ in 0..400 {
        if photo_rows(app, avatar_id).await.len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} photos, have {}",
        photo_rows(app, avatar_id).await.len()
    );
}

/// Presses ✅ Начать обучение on the status message; returns the callback answer.
async fn train(app: &TestApp, user: i64, id: i64) -> Value {
    let data = format!("av_train:{id}");
    let chat = wait_for(app, user, "the train button", |m| {
        with_button(m, &data).is_some()
    })
    .await;
    let status = with_button(&chat, &data).unwrap();
    app.press(user, status["message_id"].as_i64().unwrap(), &data)
        .await
}

both_storages!(
    ten_photos_make_an_avatar_that_generation_uses,
    photos_are_checked_and_refusals_say_why,
    another_users_avatar_is_not_found,
    the_photo_step_survives_a_restart,
    an_abandoned_draft_is_listed_continued_and_deleted,
    one_main_avatar_whatever_the_taps,
);

async fn ten_photos_make_an_avatar_that_generation_uses(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9101;
    let id = new_draft(&app, user, "Анна").await;
    grant(&app, user, 160).await;
    // An album of ten: ten parallel updates, ten photos, one status message edited in place.
    album(&app, user, 0..10).await;
    wait_photos(&app, id, 10).await;
    let chat = wait_for(&app, user, "the count", |m| {
        m.iter().any(|m| text(m).contains("Загружено: 10 из 20"))
    })
    .await;
    let statuses = chat
        .iter()
        .filter(|m| text(m).contains("Фото для аватара"))
        .count();
    assert_eq!(statuses, 1, "one status message");
    let answer = train(&app, user, id).await;
    assert_eq!(answer["answer"]["text"], "⏳ Обучение началось");
    assert_eq!(balance(&app, user).await, 10, "charged once: 150");
    wait_avatar(&app, id, "ready", |a| a.status == "ready").await;
    let ready = avatar::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(ready.is_main, "the first ready avatar is the main one");
    assert!(ready.lora_url.as_deref().unwrap().contains("safetensors"));
    let trigger = ready.trigger_phrase.clone().unwrap();
    assert!(
        trigger.starts_with("TOK_") && trigger.ends_with(" woman"),
        "{trigger}"
    );
    let chat = wait_for(&app, user, "🎉", |m| {
        m.iter().any(|m| text(m).contains("Ваш аватар готов"))
    })
    .await;
    let done = chat
        .iter()
        .find(|m| text(m).contains("Ваш аватар готов"))
        .unwrap();
    assert!(text(done).contains("Анна"));
    // Trained photos leave storage; the cover stays.
    for _ in 0..100 {
        if photo_rows(&app, id).await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(photo_rows(&app, id).await.len(), 1);
    assert!(ready.cover_path.is_some() || photo_rows(&app, id).await.len() == 1);
    // 🎨 now draws with it.
    generate(&app, user, "in a garden", 0, 1).await;
    wait_for(&app, user, "the image", |m| !photos(m).is_empty()).await;
    let made = generations(&app).await;
    assert_eq!(made.last().unwrap().avatar_id, Some(id));
    assert_eq!(made.last().unwrap().avatar_name.as_deref(), Some("Анна"));
    // Training again (a second tap, a forged press) charges nothing.
    let again = app
        .press(
            user,
            done["message_id"].as_i64().unwrap(),
            &format!("av_train:{id}"),
        )
        .await;
    assert!(!again["answer"].is_null());
    assert_eq!(balance(&app, user).await, 5, "only the image was charged");
    app.stop().await;
}

async fn photos_are_checked_and_refusals_say_why(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9102;
    let id = new_draft(&app, user, "Проверка").await;
    let replies = |m: &[Value]| -> Vec<String> { m.iter().map(text).collect() };
    // Too small.
    send(&app, user, &[("photo", png(1, 300, 400))]).await;
    let chat = wait_for(&app, user, "too small", |m| {
        replies(m).iter().any(|t| t.contains("300×400"))
    })
    .await;
    assert!(replies(&chat).iter().any(|t| t.contains("не меньше 512")));
    // Not an image at all.
    send(&app, user, &[("document", b"just some notes".to_vec())]).await;
    wait_for(&app, user, "not an image", |m| {
        replies(m).iter().any(|t| t.contains("Это не изображение"))
    })
    .await;
    // A good one, then the same picture again (as a file): a duplicate.
    send(&app, user, &[("photo", photo(100))]).await;
    wait_photos(&app, id, 1).await;
    send(&app, user, &[("document", photo(100))]).await;
    wait_for(&app, user, "duplicate", |m| {
        replies(m).iter().any(|t| t.contains("уже загружено"))
    })
    .await;
    // Up to twenty: eleven, then an album of ten at once (parallel updates) stops at twenty.
    album(&app, user, 101..111).await;
    wait_photos(&app, id, 11).await;
    album(&app, user, 111..121).await;
    wait_photos(&app, id, 20).await;
    wait_for(&app, user, "the album's refusal", |m| {
        replies(m).iter().any(|t| t.contains("это максимум"))
    })
    .await;
    // Then the twenty-first alone is refused too.
    send(&app, user, &[("document", photo(200))]).await;
    wait_for(&app, user, "full", |m| {
        replies(m)
            .iter()
            .filter(|t| t.contains("это максимум"))
            .count()
            == 2
    })
    .await;
    assert_eq!(photo_rows(&app, id).await.len(), 20);
    // An album past the maximum stops at twenty too.
    album(&app, user, 300..305).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(photo_rows(&app, id).await.len(), 20);
    // The files are on disk, one per photo, named by content.
    let dir = app.settings.avatar.photos_dir.join(id.to_string());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 20);
    // A document photo has no Telegram photo id; a photo has.
    let rows = photo_rows(&app, id).await;
    assert!(rows.iter().all(|r| r.width == 600 && r.height == 800));
    // 👀 shows them one by one, the document ones uploaded from disk.
    let chat = app.bot_messages(user).await;
    let status = with_button(&chat, &format!("av_ph:{id}:0")).expect("👀 on the status");
    app.press(
        user,
        status["message_id"].as_i64().unwrap(),
        &format!("av_ph:{id}:0"),
    )
    .await;
    let viewer = photos(&app.bot_messages(user).await)
        .last()
        .cloned()
        .unwrap();
    assert!(text(&viewer).contains("Фото 1 из 20"), "{viewer:#}");
    // Not enough coins to train: told, nothing charged, still a draft.
    let answer = train(&app, user, id).await;
    assert!(
        answer["answer"]["text"]
            .as_str()
            .unwrap()
            .contains("Недостаточно"),
        "{answer:#}"
    );
    assert_eq!(avatars_of(&app, user).await[0].status, "draft");
    // Photos outside the photo step get a hint, not an error.
    app.send_text(user, "/start").await;
    send(&app, user, &[("photo", photo(400))]).await;
    wait_for(&app, user, "not expected", |m| {
        replies(m).iter().any(|t| t.contains("Сейчас фото не ждём"))
    })
    .await;
    assert_eq!(photo_rows(&app, id).await.len(), 20);
    app.stop().await;
}

async fn another_users_avatar_is_not_found(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let (owner, other) = (9103, 9104);
    app.send_text(owner, "/start").await;
    app.send_text(other, "/start").await;
    grant(&app, other, 500).await;
    let theirs =
        crate::generation::ready_avatar(&app, owner, "Чужой", "TOK_x woman", "https://x/l").await;
    let draft = new_draft(&app, owner, "Черновик").await;
    let menu = app.bot_messages(other).await[0]["message_id"]
        .as_i64()
        .unwrap();
    for data in [
        format!("av_del:{}", theirs.id),
        format!("av_del_yes:{}", theirs.id),
        format!("av_ren:{}", theirs.id),
        format!("av_main:{}", theirs.id),
        format!("av_train:{draft}"),
        format!("av_up:{draft}"),
        format!("av_ph:{draft}:0"),
        format!("av_del_yes:{draft}"),
    ] {
        let pressed = app.press(other, menu, &data).await;
        assert_eq!(pressed["webhook_status"], 200);
        assert_eq!(
            pressed["answer"]["text"], "❌ Аватар не найден.",
            "{data}: {pressed:#}"
        );
    }
    let still = avatars_of(&app, owner).await;
    assert_eq!(still.len(), 2);
    assert_eq!(still[0].name, "Чужой");
    assert_eq!(still[1].status, "draft");
    assert_eq!(balance(&app, other).await, 500);
    // The owner can: rename, then delete after confirming.
    let card = app.bot_messages(owner).await[0]["message_id"]
        .as_i64()
        .unwrap();
    app.press(owner, card, &format!("av_ren:{}", theirs.id))
        .await;
    app.send_text(owner, "Новое имя").await;
    assert_eq!(avatars_of(&app, owner).await[0].name, "Новое имя");
    app.press(owner, card, &format!("av_del_yes:{}", theirs.id))
        .await;
    assert_eq!(avatars_of(&app, owner).await.len(), 1);
    app.stop().await;
}

async fn the_photo_step_survives_a_restart(storage: Storage) {
    let Some(mut app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9105;
    let id = new_draft(&app, user, "Рестарт").await;
    album(&app, user, 500..505).await;
    wait_photos(&app, id, 5).await;
    app.restart().await;
    album(&app, user, 505..510).await;
    wait_photos(&app, id, 10).await;
    wait_for(&app, user, "the count", |m| {
        m.iter().any(|m| text(m).contains("Загружено: 10 из 20"))
    })
    .await;
    app.stop().await;
}

// ---- through the fake fal.ai trainer ----

async fn on_fal(storage: Storage, fal: &FakeFal) -> Option<TestApp> {
    on_fal_with(storage, fal, 3600).await
}

async fn on_fal_with(storage: Storage, fal: &FakeFal, deadline_secs: u64) -> Option<TestApp> {
    let fal = fal.clone();
    TestApp::spawn_with(storage, move |f: Figment| {
        fal.configure(f).merge(Serialized::default(
            "avatar.training_deadline_secs",
            deadline_secs,
        ))
    })
    .await
}

both_storages!(
    fal_trains_from_the_archive_and_generation_uses_the_lora,
    a_failed_training_is_refunded_and_told,
    a_lost_training_callback_is_settled_at_the_deadline,
    a_refused_training_submit_is_refunded,
);

async fn fal_trains_from_the_archive_and_generation_uses_the_lora(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::CallbackOk { delay_ms: 0 });
    let Some(app) = on_fal(storage, &fal).await else {
        return;
    };
    let user = 9106;
    let id = new_draft(&app, user, "Мария").await;
    grant(&app, user, 155).await;
    album(&app, user, 600..610).await;
    wait_photos(&app, id, 10).await;
    train(&app, user, id).await;
    wait_avatar(&app, id, "ready", |a| a.status == "ready").await;
    let submit = fal.wait_submits(1).await[0].clone();
    assert_eq!(submit.path, "/fal-ai/flux-lora-portrait-trainer");
    let row = avatar::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let trigger = row.trigger_phrase.clone().unwrap();
    assert_eq!(submit.input["trigger_phrase"], trigger.as_str());
    assert_eq!(
        fal.training(&submit.request_id).unwrap().photos,
        Some(10),
        "fal fetched the zip of ten through the signed URL"
    );
    // The archive URL is signed: a forged signature is refused.
    let url = fal.training(&submit.request_id).unwrap().images_url;
    let forged = format!("{}0", url.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    let status = app.http.get(&forged).send().await.unwrap().status();
    assert!(status == 404 || status == 410, "{status}");
    // The same callback again, and an unsigned one: one 🎉, nothing else changes.
    let again = fal
        .send_callback(&submit.request_id, CallbackResult::Ok, SendOpts::default())
        .await;
    assert_eq!(again, 200);
    let unsigned = fal
        .send_callback(
            &submit.request_id,
            CallbackResult::Error("forged".into()),
            SendOpts {
                unsigned: true,
                ..SendOpts::default()
            },
        )
        .await;
    assert_eq!(unsigned, 401);
    // The push waits its turn in the chat (a second after the user's last update was handled).
    wait_for(&app, user, "🎉", |m| {
        m.iter().any(|m| text(m).contains("Ваш аватар готов"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready = app
        .bot_messages(user)
        .await
        .iter()
        .filter(|m| text(m).contains("Ваш аватар готов"))
        .count();
    assert_eq!(ready, 1);
    assert_eq!(
        avatar::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .status,
        "ready"
    );
    // 🎨 with it: flux-lora with the LoRA, the trigger in front of the prompt.
    generate(&app, user, "on the beach", 0, 1).await;
    let submits = fal.wait_submits(2).await;
    let gen_submit = &submits[1];
    assert_eq!(gen_submit.path, "/fal-ai/flux-lora");
    assert_eq!(
        gen_submit.input["loras"][0]["path"],
        row.lora_url.clone().unwrap().as_str()
    );
    assert_eq!(
        gen_submit.input["prompt"],
        format!("{trigger} on the beach").as_str()
    );
    let made: Vec<generation::Model> = generations(&app).await;
    assert_eq!(made[0].avatar_id, Some(id));
    app.stop().await;
}

async fn a_failed_training_is_refunded_and_told(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::CallbackError {
        delay_ms: 0,
        error: "trainer crashed".into(),
    });
    let Some(app) = on_fal(storage, &fal).await else {
        return;
    };
    let user = 9107;
    let id = new_draft(&app, user, "Неудача").await;
    grant(&app, user, 150).await;
    album(&app, user, 700..710).await;
    wait_photos(&app, id, 10).await;
    train(&app, user, id).await;
    wait_avatar(&app, id, "failed", |a| a.status == "failed").await;
    let chat = wait_for(&app, user, "the failure notice", |m| {
        m.iter().any(|m| text(m).contains("не удалось"))
    })
    .await;
    let notice = chat
        .iter()
        .find(|m| text(m).contains("не удалось"))
        .unwrap();
    assert!(text(notice).contains("150"), "{notice:#}");
    assert_eq!(balance(&app, user).await, 150, "refunded");
    // The same failure callback again refunds nothing more.
    let submit = fal.wait_submits(1).await[0].clone();
    fal.send_callback(
        &submit.request_id,
        CallbackResult::Error("trainer crashed".into()),
        SendOpts::default(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(balance(&app, user).await, 150);
    // A late success for the refunded training makes nothing ready for free.
    fal.send_callback(&submit.request_id, CallbackResult::Ok, SendOpts::default())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let row = avatar::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "failed");
    assert!(row.lora_url.is_none());
    let told = app.bot_messages(user).await;
    assert!(!told.iter().any(|m| text(m).contains("Ваш аватар готов")));
    app.stop().await;
}

/// fal finished but its callback never came: at the deadline the app asks once and settles.
async fn a_lost_training_callback_is_settled_at_the_deadline(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::NoCallback);
    let Some(app) = on_fal_with(storage, &fal, 2).await else {
        return;
    };
    let user = 9108;
    let id = new_draft(&app, user, "Тишина").await;
    grant(&app, user, 150).await;
    album(&app, user, 800..810).await;
    wait_photos(&app, id, 10).await;
    train(&app, user, id).await;
    let submit = fal.wait_submits(1).await[0].clone();
    fal.set_status(&submit.request_id, JobStatus::Completed);
    wait_avatar(&app, id, "ready at the deadline", |a| a.status == "ready").await;
    wait_for(&app, user, "🎉", |m| {
        m.iter().any(|m| text(m).contains("Ваш аватар готов"))
    })
    .await;
    assert_eq!(balance(&app, user).await, 0);
    app.stop().await;
}

/// fal refuses the submit: failed, refunded once, told.
async fn a_refused_training_submit_is_refunded(storage: Storage) {
    let fal = FakeFal::start().await;
    fal.set_mode(Mode::SubmitFails { status: 422 });
    let Some(app) = on_fal(storage, &fal).await else {
        return;
    };
    let user = 9109;
    let id = new_draft(&app, user, "Отказ").await;
    grant(&app, user, 150).await;
    album(&app, user, 900..910).await;
    wait_photos(&app, id, 10).await;
    train(&app, user, id).await;
    wait_avatar(&app, id, "failed", |a| a.status == "failed").await;
    wait_for(&app, user, "the failure notice", |m| {
        m.iter().any(|m| text(m).contains("не удалось"))
    })
    .await;
    assert_eq!(balance(&app, user).await, 150);
    app.stop().await;
}

/// A draft left half-way shows in 🎭 with its count; 📸 picks the photo step up again; 🗑️ (after
/// confirming) removes it and its files.
async fn an_abandoned_draft_is_listed_continued_and_deleted(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9110;
    let id = new_draft(&app, user, "Брошенный").await;
    album(&app, user, 1000..1004).await;
    wait_photos(&app, id, 4).await;
    // Elsewhere now: the menu, then 🎭.
    app.send_text(user, "/start").await;
    let menu = app.bot_messages(user).await.last().cloned().unwrap();
    app.press(user, menu["message_id"].as_i64().unwrap(), "avatar_menu")
        .await;
    let chat = app.bot_messages(user).await;
    let card = with_button(&chat, &format!("av_up:{id}")).expect("📸 on the draft's card");
    assert!(text(&card).contains("Черновик: 4 из 10"), "{card:#}");
    let card_id = card["message_id"].as_i64().unwrap();
    app.press(user, card_id, &format!("av_up:{id}")).await;
    album(&app, user, 1004..1010).await;
    wait_photos(&app, id, 10).await;
    // Delete it: asked first, then gone with its files.
    app.send_text(user, "/start").await;
    let menu = app.bot_messages(user).await.last().cloned().unwrap();
    app.press(user, menu["message_id"].as_i64().unwrap(), "avatar_menu")
        .await;
    let chat = app.bot_messages(user).await;
    let card = with_button(&chat, &format!("av_del:{id}")).expect("🗑️ on the card");
    let on = card["message_id"].as_i64().unwrap();
    app.press(user, on, &format!("av_del:{id}")).await;
    let asked = app.bot_messages(user).await;
    assert!(
        asked
            .iter()
            .any(|m| text(m).contains("Удалить аватар «Брошенный»")),
        "{asked:#?}"
    );
    assert_eq!(
        avatars_of(&app, user).await.len(),
        1,
        "not before confirming"
    );
    app.press(user, on, &format!("av_del_yes:{id}")).await;
    assert!(avatars_of(&app, user).await.is_empty());
    assert!(photo_rows(&app, id).await.is_empty());
    assert!(!app.settings.avatar.photos_dir.join(id.to_string()).exists());
    app.stop().await;
}

/// ⭐ on two avatars at once, again and again: exactly one main avatar at the end.
async fn one_main_avatar_whatever_the_taps(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9111;
    app.send_text(user, "/start").await;
    let a = crate::generation::ready_avatar(&app, user, "Первый", "TOK_a man", "https://x/a").await;
    let b = crate::generation::ready_avatar(&app, user, "Второй", "TOK_b man", "https://x/b").await;
    let menu = app.bot_messages(user).await[0]["message_id"]
        .as_i64()
        .unwrap();
    for _ in 0..5 {
        futures::future::join(
            app.press(user, menu, &format!("av_main:{}", a.id)),
            app.press(user, menu, &format!("av_main:{}", b.id)),
        )
        .await;
        let mains = avatars_of(&app, user)
            .await
            .iter()
            .filter(|x| x.is_main)
            .count();
        assert_eq!(mains, 1);
    }
    app.press(user, menu, &format!("av_main:{}", a.id)).await;
    let now = avatars_of(&app, user).await;
    assert!(now[0].is_main && !now[1].is_main);
    app.stop().await;
}
