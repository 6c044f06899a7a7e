//! ⚙️ Settings through the chat: language over Telegram's, a default format and count, quick
//! mode; stored in the database (they survive a restart) and applied from the next screen on.

use entity::user;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::{
    both_storages,
    generation::{balance, generations, grant, last, photos, wait_for},
    helpers::{Storage, TestApp, buttons},
};

both_storages!(
    language_is_chosen_over_telegrams_and_survives_a_restart,
    a_default_format_skips_the_format_step_and_marks_the_default_count,
    quick_mode_generates_right_after_the_prompt,
);

/// /settings, then presses `data` on the screen the bot shows; returns the screen after.
async fn press_on_settings(app: &TestApp, user: i64, data: &[&str]) -> Value {
    app.send_text(user, "/settings").await;
    let mut screen = last(&app.bot_messages(user).await);
    let id = screen["message_id"].as_i64().unwrap();
    for d in data {
        app.press(user, id, d).await;
        screen = app
            .bot_messages(user)
            .await
            .into_iter()
            .find(|m| m["message_id"] == id)
            .unwrap();
    }
    screen
}

fn text(m: &Value) -> String {
    m["text"].as_str().unwrap_or_default().to_owned()
}

async fn stored(app: &TestApp, telegram_id: i64) -> user::Model {
    user::Entity::find()
        .filter(user::Column::TelegramId.eq(telegram_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn language_is_chosen_over_telegrams_and_survives_a_restart(storage: Storage) {
    let Some(mut app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 8101;
    app.send_text(user, "/start").await;
    let screen = press_on_settings(&app, user, &[]).await;
    assert!(text(&screen).contains("Настройки"), "{screen:#}");
    let labels: Vec<String> = buttons(&screen).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        labels,
        [
            "🌐 Язык: как в Telegram",
            "📐 Формат: спрашивать каждый раз",
            "🖼️ Изображений: спрашивать каждый раз",
            "⚡ Быстрый режим: выкл",
            "🔙 Главное меню",
        ]
    );

    // English chosen: the screen redraws in English at once, with the new value on its button.
    let screen = press_on_settings(&app, user, &["set_lang", "set_lang:en"]).await;
    assert!(text(&screen).contains("Settings"), "{screen:#}");
    assert!(
        buttons(&screen)
            .iter()
            .any(|(t, _)| t == "🌐 Language: English"),
        "{screen:#}"
    );
    assert_eq!(stored(&app, user).await.language.as_deref(), Some("en"));
    app.send_text(user, "/start").await;
    assert!(text(&last(&app.bot_messages(user).await)).contains("Main menu"));

    press_on_settings(
        &app,
        user,
        &["set_ar", "set_ar:1", "set_n", "set_n:2", "set_quick"],
    )
    .await;

    // A deploy later, still English, though Telegram says Russian, and every value kept.
    app.restart().await;
    app.send_text_lang(user, "/menu", "ru").await;
    assert!(text(&last(&app.bot_messages(user).await)).contains("Main menu"));
    let screen = press_on_settings(&app, user, &[]).await;
    let labels: Vec<String> = buttons(&screen).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        labels[..4],
        [
            "🌐 Language: English",
            "📐 Format: 3:4",
            "🖼️ Images: 2 images",
            "⚡ Quick mode: on",
        ]
    );

    // Back to following Telegram.
    let screen = press_on_settings(&app, user, &["set_lang", "set_lang:tg"]).await;
    assert!(text(&screen).contains("Настройки"), "{screen:#}");
    assert_eq!(stored(&app, user).await.language, None);
    app.stop().await;
}

async fn a_default_format_skips_the_format_step_and_marks_the_default_count(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 8102;
    app.send_text(user, "/start").await;
    grant(&app, user, 50).await;
    let screen = press_on_settings(&app, user, &["set_ar", "set_ar:3", "set_n", "set_n:2"]).await;
    let labels: Vec<String> = buttons(&screen).into_iter().map(|(t, _)| t).collect();
    assert!(labels.contains(&"📐 Формат: 9:16".to_owned()), "{labels:?}");
    assert!(
        labels.contains(&"🖼️ Изображений: 2 изображения".to_owned()),
        "{labels:?}"
    );
    let user_row = stored(&app, user).await;
    assert_eq!(
        (user_row.default_aspect, user_row.default_count),
        (Some(3), Some(2))
    );

    app.send_text(user, "/generate").await;
    app.send_text(user, "a quiet harbour at dawn").await;
    let counts = last(&app.bot_messages(user).await);
    let data: Vec<String> = buttons(&counts).into_iter().map(|(_, d)| d).collect();
    assert!(
        data.contains(&"gen_go:3:1".to_owned()),
        "the counts for 9:16 at once: {counts:#}"
    );
    assert!(
        !data.iter().any(|d| d.starts_with("gen_aspect:")),
        "{counts:#}"
    );
    assert!(text(&counts).contains("9:16"), "{counts:#}");
    let marked: Vec<(String, String)> = buttons(&counts)
        .into_iter()
        .filter(|(t, _)| t.starts_with('✓'))
        .collect();
    assert_eq!(marked.len(), 1, "{counts:#}");
    assert_eq!(marked[0].1, "gen_go:3:2");
    // ⬅️ still offers the other formats.
    assert!(data.contains(&"gen_aspects".to_owned()), "{counts:#}");

    // "Ask every time" brings the format step back.
    press_on_settings(&app, user, &["set_ar", "set_ar:ask"]).await;
    app.send_text(user, "/generate").await;
    app.send_text(user, "a quiet harbour at dawn").await;
    let sizes = last(&app.bot_messages(user).await);
    assert!(
        buttons(&sizes).iter().any(|(_, d)| d == "gen_aspect:0"),
        "{sizes:#}"
    );
    app.stop().await;
}

async fn quick_mode_generates_right_after_the_prompt(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 8103;
    app.send_text(user, "/start").await;
    grant(&app, user, 50).await;
    let screen = press_on_settings(
        &app,
        user,
        &["set_ar", "set_ar:1", "set_n", "set_n:2", "set_quick"],
    )
    .await;
    assert!(
        buttons(&screen)
            .iter()
            .any(|(t, _)| t == "⚡ Быстрый режим: вкл"),
        "{screen:#}"
    );

    app.send_text(user, "/generate").await;
    let prompt = app.send_text(user, "a lighthouse in a storm").await;
    // No format or count screen: charged and started, saying what was chosen, ⚙️ to change it.
    let progress = last(&app.bot_messages(user).await);
    let shown = text(&progress);
    assert!(
        shown.contains("3:4") && shown.contains("Быстрый режим"),
        "{shown}"
    );
    assert!(
        buttons(&progress).iter().any(|(_, d)| d == "settings"),
        "{progress:#}"
    );
    assert_eq!(balance(&app, user).await, 40);
    let g = &generations(&app).await[0];
    assert_eq!((g.aspect.as_str(), g.num_images), ("3:4", 2));
    assert_eq!(g.prompt, "a lighthouse in a storm");

    // Telegram redelivering the prompt starts nothing more.
    app.redeliver(prompt["update_id"].as_i64().unwrap()).await;
    assert_eq!(generations(&app).await.len(), 1);
    assert_eq!(balance(&app, user).await, 40);

    let chat = wait_for(&app, user, "two pictures", |m| photos(m).len() >= 2).await;
    assert_eq!(photos(&chat)[0]["photo"]["height"], 1024);

    // Quick mode without defaults: one square image.
    press_on_settings(&app, user, &["set_ar", "set_ar:ask", "set_n", "set_n:ask"]).await;
    app.send_text(user, "/generate").await;
    app.send_text(user, "a small boat").await;
    let all = generations(&app).await;
    let g = all.last().unwrap();
    assert_eq!((g.aspect.as_str(), g.num_images), ("1:1", 1));
    assert_eq!(balance(&app, user).await, 35);

    // Too few coins in quick mode: the notice, then the counts for the same prompt, which work
    // once topped up.
    let poor = 8104;
    app.send_text(poor, "/start").await;
    grant(&app, poor, 3).await;
    press_on_settings(&app, poor, &["set_quick"]).await;
    app.send_text(poor, "/generate").await;
    app.send_text(poor, "a tiny red kite").await;
    let shown = app.bot_messages(poor).await;
    let texts: Vec<String> = shown.iter().map(text).collect();
    let notice = &shown[shown.len() - 2];
    assert!(text(notice).contains("Недостаточно"), "{texts:#?}");
    let counts = last(&shown);
    assert!(
        buttons(&counts).iter().any(|(_, d)| d == "gen_go:0:1"),
        "{counts:#}"
    );
    grant(&app, poor, 10).await;
    app.press(poor, counts["message_id"].as_i64().unwrap(), "gen_go:0:1")
        .await;
    assert_eq!(balance(&app, poor).await, 8);
    app.stop().await;
}
