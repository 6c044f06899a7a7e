//! Image generation end to end with the local provider (the default): the 🎨 flow in the sandbox
//! chat, the signed callback to our own webhook route, the outbox pushing the photo.

use aisha::domain::{Coins, UserId};
use std::time::Duration;

use aisha::ledger::{self, Kind};
use entity::{delivery, generation, generation_image};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use crate::{
    both_storages,
    helpers::{Storage, TestApp, buttons},
};

/// Gives the user coins the way an operator grant would (the user must have written once).
pub async fn grant(app: &TestApp, user: i64, coins: i64) {
    let id = app.user_id(user).await;
    ledger::credit(
        &app.db,
        UserId(id),
        Coins(coins),
        Kind::Grant,
        None,
        &format!("test-grant:{id}:{}", uuid::Uuid::new_v4()),
    )
    .await
    .unwrap();
}

/// A ready avatar of the user's, made the main one (avatar training is issue 6's).
pub async fn ready_avatar(
    app: &TestApp,
    user: i64,
    name: &str,
    trigger: &str,
    lora_url: &str,
) -> entity::avatar::Model {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let now = chrono::Utc::now();
    entity::avatar::ActiveModel {
        user_id: Set(app.user_id(user).await),
        name: Set(name.into()),
        status: Set("ready".into()),
        trigger_phrase: Set(Some(trigger.into())),
        lora_url: Set(Some(lora_url.into())),
        is_main: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap()
}

pub async fn balance(app: &TestApp, user: i64) -> i64 {
    ledger::balance(&app.db, UserId(app.user_id(user).await))
        .await
        .unwrap()
}

/// Polls the chat until `check` holds for the bot's messages (≤ 20 s).
pub async fn wait_for(
    app: &TestApp,
    user: i64,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..400 {
        let messages = app.bot_messages(user).await;
        if check(&messages) {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shown: Vec<String> = app
        .bot_messages(user)
        .await
        .iter()
        .map(|m| format!("{}{}", m["text"], m["caption"]))
        .collect();
    panic!("timed out waiting for {what}; the chat shows: {shown:#?}");
}

pub fn photos(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| !m["photo"].is_null())
        .cloned()
        .collect()
}

pub fn last(messages: &[Value]) -> Value {
    messages.last().cloned().unwrap_or(Value::Null)
}

/// /generate, the prompt, the size, the count: returns the id of the message that became the
/// progress message.
pub async fn generate(app: &TestApp, user: i64, prompt: &str, aspect: u8, count: u8) -> i64 {
    app.send_text(user, "/generate").await;
    app.send_text(user, prompt).await;
    let screen = last(&app.bot_messages(user).await);
    let id = screen["message_id"].as_i64().unwrap();
    assert!(
        buttons(&screen).iter().any(|(_, d)| d == "gen_aspect:0"),
        "size buttons expected: {screen:#}"
    );
    app.press(user, id, &format!("gen_aspect:{aspect}")).await;
    app.press(user, id, &format!("gen_go:{aspect}:{count}"))
        .await;
    id
}

pub async fn generations(app: &TestApp) -> Vec<generation::Model> {
    generation::Entity::find()
        .order_by_asc(generation::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

pub async fn deliveries(app: &TestApp) -> Vec<delivery::Model> {
    delivery::Entity::find()
        .order_by_asc(delivery::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

pub async fn images_of(app: &TestApp, generation_id: i64) -> Vec<generation_image::Model> {
    generation_image::Entity::find()
        .filter(generation_image::Column::GenerationId.eq(generation_id))
        .order_by_asc(generation_image::Column::Position)
        .all(&app.db)
        .await
        .unwrap()
}

/// Waits until the outbox has no pending rows.
pub async fn outbox_settles(app: &TestApp) -> Vec<delivery::Model> {
    for _ in 0..400 {
        let rows = deliveries(app).await;
        if !rows.is_empty() && rows.iter().all(|d| d.status != "pending") {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("outbox still pending: {:?}", deliveries(app).await);
}

both_storages!(
    one_image_arrives_in_place_of_the_progress_message,
    four_images_arrive_as_an_album_then_the_buttons,
    prompt_length_is_checked_and_the_prompt_kept,
    too_few_coins_start_nothing,
    double_tap_on_the_count_starts_one_generation,
    status_is_for_the_owner_only,
    repeat_charges_once_and_keeps_the_prompt,
    a_prompt_whose_sizes_failed_to_show_is_shown_on_redelivery,
    the_prompt_dialogue_survives_a_restart,
);

async fn one_image_arrives_in_place_of_the_progress_message(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 7001;
    app.send_text(user, "/start").await;
    grant(&app, user, 20).await;
    let progress = generate(&app, user, "a red fox in the snow", 3, 1).await;

    // The count screen became the progress message, with a 📊 button and no percentages.
    let chat = app.bot_messages(user).await;
    let shown = chat.iter().find(|m| m["message_id"] == progress).unwrap();
    let text = shown["text"].as_str().unwrap();
    assert!(text.contains("Генерация запущена"), "{text}");
    assert!(!text.contains('%'), "{text}");
    let g = &generations(&app).await[0];
    assert_eq!(
        buttons(shown),
        vec![(
            "📊 Статус".to_owned(),
            format!("generation_status:{}", g.id)
        )]
    );
    assert_eq!(balance(&app, user).await, 15);

    let chat = wait_for(&app, user, "the photo", |m| !photos(m).is_empty()).await;
    let photo = &photos(&chat)[0];
    assert_eq!(photo["photo"]["width"], 576);
    assert_eq!(photo["photo"]["height"], 1024);
    let caption = photo["caption"].as_str().unwrap();
    assert!(
        caption.contains("a red fox in the snow") && caption.contains("9:16"),
        "{caption}"
    );
    let labels: Vec<String> = buttons(photo).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        labels,
        [
            "🔄 Повторить еще раз",
            "🖼️ В галерею",
            "🎨 Новая генерация",
            "🔙 Главное меню"
        ]
    );
    assert!(
        buttons(photo).contains(&("🖼️ В галерею".into(), "my_gallery".into()))
            || buttons(photo).contains(&("🖼️ В галерею".into(), "gallery_main".into()))
    );
    let rows = outbox_settles(&app).await;
    // The progress message was replaced (deleted once the photo was out).
    assert!(
        app.bot_messages(user)
            .await
            .iter()
            .all(|m| m["message_id"] != progress),
        "progress message still shown"
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "done");
    let g = &generations(&app).await[0];
    assert_eq!(g.status, "completed");
    assert_eq!(g.provider, "local");
    assert!(g.request_id.is_some());
    let images = images_of(&app, g.id).await;
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].telegram_file_id.as_deref(),
        photo["photo"]["file_id"].as_str()
    );
    let stored = app
        .settings
        .delivery
        .images_dir
        .join(images[0].file_path.as_deref().unwrap());
    let bytes = std::fs::read(&stored).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
    assert_eq!(balance(&app, user).await, 15);
    app.stop().await;
}

async fn four_images_arrive_as_an_album_then_the_buttons(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 7002;
    app.send_text_lang(user, "/start", "en").await;
    grant(&app, user, 20).await;
    generate(&app, user, "four cats on a sofa", 0, 4).await;
    let chat = wait_for(&app, user, "album and buttons", |m| {
        photos(m).len() == 4
            && last(m)["text"]
                .as_str()
                .is_some_and(|t| t.contains("Done: 4"))
    })
    .await;
    let album = photos(&chat);
    let group = &album[0]["media_group_id"];
    assert!(!group.is_null());
    assert!(
        album
            .iter()
            .all(|p| &p["media_group_id"] == group && p["photo"]["width"] == 1024)
    );
    assert!(album[0]["caption"].as_str().unwrap().contains("four cats"));
    let tail = last(&chat);
    let labels: Vec<String> = buttons(&tail).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        labels,
        [
            "🔄 Repeat again",
            "🖼️ To gallery",
            "🎨 New generation",
            "🔙 Main menu"
        ]
    );
    assert_eq!(balance(&app, user).await, 0);
    outbox_settles(&app).await;
    let g = &generations(&app).await[0];
    let images = images_of(&app, g.id).await;
    assert_eq!(images.len(), 4);
    assert!(
        images
            .iter()
            .all(|i| i.telegram_file_id.is_some() && i.file_path.is_some())
    );
    let ids: std::collections::HashSet<_> =
        images.iter().map(|i| i.telegram_file_id.clone()).collect();
    assert_eq!(ids.len(), 4);
    app.stop().await;
}

async fn prompt_length_is_checked_and_the_prompt_kept(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 7003;
    app.send_text(user, "/start").await;
    app.send_text(user, "/generate").await;
    let intro = last(&app.bot_messages(user).await);
    let text = intro["text"].as_str().unwrap();
    // No avatar yet: the base model, and how to get an avatar.
    assert!(
        text.contains("нет готового аватара") && text.contains("Мои аватары"),
        "{text}"
    );
    for bad in ["кот", &"x".repeat(501)] {
        app.send_text(user, bad).await;
        let reply = last(&app.bot_messages(user).await);
        let n = bad.chars().count();
        assert!(
            reply["text"]
                .as_str()
                .unwrap()
                .contains(&format!("от 5 до 500 символов, а в вашем {n}")),
            "{reply:#}"
        );
    }
    // Still waiting for the prompt: a good one goes through (and <, & are shown safely).
    app.send_text(user, "  <b>cat</b> & dog  ").await;
    let screen = last(&app.bot_messages(user).await);
    assert!(
        screen["text"]
            .as_str()
            .unwrap()
            .contains("<b>cat</b> & dog"),
        "{screen:#}"
    );
    assert_eq!(
        buttons(&screen).len(),
        7,
        "five formats, 🎨 style, 🔙: {screen:#}"
    );
    assert!(buttons(&screen).contains(&("🎨 Стиль: без стиля".into(), "gen_styles".into())));
    assert!(generations(&app).await.is_empty());
    app.stop().await;
}

async fn too_few_coins_start_nothing(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 7004;
    app.send_text(user, "/start").await;
    grant(&app, user, 12).await;
    let screen = generate(&app, user, "a lighthouse at night", 0, 3).await;
    let reply = last(&app.bot_messages(user).await);
    assert_eq!(
        reply["text"],
        "❌ Недостаточно средств. Требуется: 15, у вас: 12"
    );
    assert!(buttons(&reply).iter().any(|(_, d)| d == "topup"));
    assert!(generations(&app).await.is_empty());
    assert!(deliveries(&app).await.is_empty());
    assert_eq!(balance(&app, user).await, 12);
    // The prompt is kept: fewer images still work from the same screen.
    app.press(user, screen, "gen_go:0:2").await;
    wait_for(&app, user, "the album", |m| photos(m).len() == 2).await;
    assert_eq!(balance(&app, user).await, 2);
    app.stop().await;
}

async fn double_tap_on_the_count_starts_one_generation(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 7005;
    app.send_text(user, "/start").await;
    grant(&app, user, 100).await;
    app.send_text(user, "/generate").await;
    app.send_text(user, "a castle in the clouds").await;
    let screen = last(&app.bot_messages(user).await)["message_id"]
        .as_i64()
        .unwrap();
    app.press(user, screen, "gen_aspect:0").await;
    let taps = (0..5).map(|_| app.press(user, screen, "gen_go:0:1"));
    futures::future::join_all(taps).await;
    wait_for(&app, user, "the photo", |m| !photos(m).is_empty()).await;
    outbox_settles(&app).await;
    assert_eq!(generations(&app).await.len(), 1);
    assert_eq!(balance(&app, user).await, 95);
    let answers = app.chat(user).await["callback_answers"].clone();
    assert!(
        answers.to_string().contains("уже запущена"),
        "the extra taps are told: {answers:#}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(photos(&app.bot_messages(user).await).len(), 1);
    app.stop().await;
}

async fn status_is_for_the_owner_only(storage: Storage) {
    let Some(app) = TestApp::spawn_with(storage, |f| {
        f.merge(figment::providers::Serialized::default(
            "local_provider.delay_ms",
            1500,
        ))
    })
    .await
    else {
        return;
    };
    let (owner, other) = (7006, 7007);
    app.send_text(owner, "/start").await;
    app.send_text(other, "/start").await;
    grant(&app, owner, 10).await;
    let progress = generate(&app, owner, "a quiet harbour", 0, 1).await;
    let id = generations(&app).await[0].id;
    let data = format!("generation_status:{id}");

    // Pending: the owner sees elapsed time.
    app.press(owner, progress, &data).await;
    let answers = app.chat(owner).await["callback_answers"].clone();
    assert!(
        answers.to_string().contains("Генерация идёт"),
        "{answers:#}"
    );

    // Someone else pressing forged data: not found, nothing sent to them.
    let hello = app.bot_messages(other).await[0]["message_id"]
        .as_i64()
        .unwrap();
    let before = app.bot_messages(other).await.len();
    app.press(other, hello, &data).await;
    let answers = app.chat(other).await["callback_answers"].clone();
    assert!(
        answers.to_string().contains("Генерация не найдена"),
        "{answers:#}"
    );
    assert_eq!(app.bot_messages(other).await.len(), before);

    // Completed: the owner gets the image again, from Telegram's copy.
    let chat = wait_for(&app, owner, "the photo", |m| !photos(m).is_empty()).await;
    outbox_settles(&app).await;
    let file_id = photos(&chat)[0]["photo"]["file_id"].clone();
    let uploads = app.calls().await.len();
    app.press(
        owner,
        photos(&chat)[0]["message_id"].as_i64().unwrap(),
        &data,
    )
    .await;
    let chat = wait_for(&app, owner, "the photo again", |m| photos(m).len() == 2).await;
    assert_eq!(photos(&chat)[1]["photo"]["file_id"], file_id);
    assert!(app.calls().await.len() > uploads);
    app.stop().await;
}

async fn repeat_charges_once_and_keeps_the_prompt(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 7008;
    app.send_text(user, "/start").await;
    grant(&app, user, 30).await;
    generate(&app, user, "a tiny robot", 2, 1).await;
    let mut chat = wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    for round in 1..=3 {
        let photo = photos(&chat).last().cloned().unwrap();
        let (_, repeat) = buttons(&photo)[0].clone();
        assert!(repeat.starts_with("regenerate:"));
        app.press(user, photo["message_id"].as_i64().unwrap(), &repeat)
            .await;
        chat = wait_for(&app, user, "the repeat", |m| photos(m).len() == round + 1).await;
    }
    outbox_settles(&app).await;
    let all = generations(&app).await;
    assert_eq!(all.len(), 4);
    assert!(
        all.iter()
            .all(|g| g.prompt == "a tiny robot" && g.aspect == "4:3")
    );
    assert_eq!(all[1].regenerated_from, Some(all[0].id));
    assert_eq!(balance(&app, user).await, 10);
    let texts: Vec<String> = app
        .bot_messages(user)
        .await
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("Повторная генерация запущена")),
        "progress messages are replaced"
    );
    app.stop().await;
}

async fn the_prompt_dialogue_survives_a_restart(storage: Storage) {
    let Some(mut app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 7009;
    app.send_text(user, "/start").await;
    grant(&app, user, 5).await;
    app.send_text(user, "/generate").await;
    app.restart().await;
    // The bot still takes the next text as the prompt...
    app.send_text(user, "a deploy in the middle").await;
    let screen = last(&app.bot_messages(user).await);
    assert!(
        buttons(&screen).iter().any(|(_, d)| d == "gen_aspect:0"),
        "{screen:#}"
    );
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_aspect:0").await;
    // ...and the chosen size and count after another restart.
    app.restart().await;
    app.press(user, id, "gen_go:0:1").await;
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    app.stop().await;
}

/// Showing the sizes fails after the prompt was stored (Telegram says 429): the update is
/// answered 503, and Telegram's redelivery of the same prompt shows the sizes instead of "I
/// understand buttons and commands".
async fn a_prompt_whose_sizes_failed_to_show_is_shown_on_redelivery(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 4801;
    app.send_text(user, "/start").await;
    app.send_text(user, "/generate").await;
    app.fault(serde_json::json!({ "method": "sendMessage", "error_code": 429, "times": 1 }))
        .await;
    let sent = app.send_text(user, "a cat on a windowsill").await;
    assert_ne!(sent["webhook_status"], 200, "{sent:#}");
    let again = app.redeliver(sent["update_id"].as_i64().unwrap()).await;
    assert_eq!(again["webhook_status"], 200, "{again:#}");
    let screen = last(&app.bot_messages(user).await);
    assert!(
        buttons(&screen).iter().any(|(_, d)| d == "gen_aspect:0"),
        "the sizes, after the redelivery: {screen:#}"
    );
    app.stop().await;
}
