//! /start, the main menu, help, unknown input, and set-webhook's registration.

use entity::user;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::{
    both_storages,
    helpers::{SECRET, Storage, TestApp, buttons},
};

both_storages!(
    redelivered_press_still_shows_the_screen,
    start_registers_and_shows_russian_menu,
    start_in_english,
    start_again_updates_the_user,
    unknown_callback_gets_an_alert,
    every_menu_button_is_answered,
    help_and_back_edit_in_place,
    unknown_text_gets_a_hint,
);

async fn start_registers_and_shows_russian_menu(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let sent = app.send_text(1001, "/start").await;
    assert_eq!(sent["webhook_status"], 200);
    let messages = app.bot_messages(1001).await;
    assert_eq!(messages.len(), 1);
    let menu = &messages[0];
    assert!(
        menu["text"].as_str().unwrap().contains("Главное меню"),
        "{menu}"
    );
    assert_eq!(
        buttons(menu),
        vec![
            ("🎨 Создать изображение".into(), "generation_menu".into()),
            ("🎭 Мои аватары".into(), "avatar_menu".into()),
            ("🖼️ Моя галерея".into(), "my_gallery".into()),
            ("💰 Баланс".into(), "balance".into()),
            ("⚙️ Настройки".into(), "settings".into()),
            ("❓ Помощь".into(), "main_help".into()),
        ]
    );
    let row = user::Entity::find()
        .filter(user::Column::TelegramId.eq(1001))
        .one(&app.db)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(row.language_code, None);
    app.stop().await;
}

async fn start_in_english(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text_lang(1002, "/start", "en-US").await;
    let menu = &app.bot_messages(1002).await[0];
    let text = menu["text"].as_str().unwrap();
    assert!(
        text.contains("Hi, Ada") && text.contains("Main menu"),
        "{text}"
    );
    assert_eq!(buttons(menu)[0].0, "🎨 Create image");
    let row = user::Entity::find()
        .filter(user::Column::TelegramId.eq(1002))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.language_code.as_deref(), Some("en-US"));
    assert_eq!(row.first_name, "Ada");
    app.stop().await;
}

async fn start_again_updates_the_user(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text(1003, "/start").await;
    app.send_text_lang(1003, "/start", "en").await;
    assert_eq!(user::Entity::find().count(&app.db).await.unwrap(), 1);
    let row = user::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert_eq!(row.language_code.as_deref(), Some("en"));
    assert!(row.last_seen_at >= row.created_at);
    let last = app.bot_messages(1003).await.pop().unwrap();
    assert!(last["text"].as_str().unwrap().contains("Main menu"));
    app.stop().await;
}

async fn unknown_callback_gets_an_alert(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text(1004, "/start").await;
    let menu_id = app.bot_messages(1004).await[0]["message_id"]
        .as_i64()
        .unwrap();
    for forged in [
        "nonsense",
        "generation_status:abc",
        "generation_status:-1",
        "main_menu:1",
        "my_gallery ",
    ] {
        let pressed = app.press(1004, menu_id, forged).await;
        assert_eq!(pressed["webhook_status"], 200, "{forged}");
        assert_eq!(
            pressed["answer"]["text"], "❌ Неизвестная команда. Используйте кнопки меню.",
            "{forged}"
        );
        assert_eq!(pressed["answer"]["show_alert"], true);
    }
    app.send_text_lang(1005, "/start", "en").await;
    let menu_id = app.bot_messages(1005).await[0]["message_id"]
        .as_i64()
        .unwrap();
    let pressed = app.press(1005, menu_id, "zzz").await;
    assert_eq!(
        pressed["answer"]["text"],
        "❌ Unknown command. Use the menu buttons."
    );
    app.stop().await;
}

async fn every_menu_button_is_answered(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text(1006, "/start").await;
    let menu = app.bot_messages(1006).await.remove(0);
    let menu_id = menu["message_id"].as_i64().unwrap();
    // Every menu button, plus the Python bot's old payloads that live on in chats.
    let mut payloads: Vec<String> = buttons(&menu).into_iter().map(|(_, d)| d).collect();
    payloads.extend([
        "gallery_main".into(),
        "generation_status:12".into(),
        "back_to_main".into(),
    ]);
    for data in payloads {
        let pressed = app.press(1006, menu_id, &data).await;
        assert_eq!(pressed["webhook_status"], 200);
        let answer = &pressed["answer"];
        assert!(!answer.is_null(), "{data}: every callback is answered");
        assert_ne!(
            answer["text"], "❌ Неизвестная команда. Используйте кнопки меню.",
            "{data}"
        );
    }
    // 🎭 opens the avatars (none yet: an invitation to make one).
    app.press(1006, menu_id, "avatar_menu").await;
    let avatars = app.bot_messages(1006).await;
    assert!(
        avatars.iter().any(|m| m["text"]
            .as_str()
            .is_some_and(|t| t.contains("У вас пока нет аватаров"))),
        "{avatars:#?}"
    );
    app.stop().await;
}

async fn help_and_back_edit_in_place(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text(1007, "/start").await;
    let menu_id = app.bot_messages(1007).await[0]["message_id"]
        .as_i64()
        .unwrap();
    app.press(1007, menu_id, "main_help").await;
    let messages = app.bot_messages(1007).await;
    assert_eq!(messages.len(), 1, "edited, not sent again");
    assert!(messages[0]["text"].as_str().unwrap().contains("Помощь"));
    assert!(messages[0]["text"].as_str().unwrap().contains("/help"));
    assert_eq!(
        buttons(&messages[0]),
        vec![("🔙 Главное меню".into(), "main_menu".into())]
    );
    app.press(1007, menu_id, "main_menu").await;
    // Pressing the same button twice: "message is not modified" is not an error.
    let again = app.press(1007, menu_id, "main_menu").await;
    assert_eq!(again["webhook_status"], 200);
    let messages = app.bot_messages(1007).await;
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0]["text"]
            .as_str()
            .unwrap()
            .contains("Главное меню")
    );
    // /help as a command sends the same text.
    app.send_text(1007, "/help").await;
    assert_eq!(app.bot_messages(1007).await.len(), 2);
    app.stop().await;
}

async fn unknown_text_gets_a_hint(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text(1008, "привет").await;
    app.send_text(1008, "/whatever").await;
    let messages = app.bot_messages(1008).await;
    assert_eq!(messages.len(), 2);
    for m in &messages {
        assert!(m["text"].as_str().unwrap().contains("главное меню"), "{m}");
        assert_eq!(
            buttons(m),
            vec![("🔙 Главное меню".into(), "main_menu".into())]
        );
    }
    app.stop().await;
}

/// set-webhook registered our URL, the secret, the update kinds we handle and both command lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_webhook_registers_url_secret_and_commands() {
    let Some(app) = TestApp::spawn(Storage::Embedded).await else {
        return;
    };
    let hook = app.sandbox_get("/webhook").await;
    assert_eq!(hook["url"], format!("{}/telegram/webhook", app.url));
    assert_eq!(hook["secret_token"], SECRET);
    assert_eq!(
        hook["allowed_updates"],
        serde_json::json!(["message", "callback_query", "pre_checkout_query"])
    );
    let commands = app.sandbox_get("/commands").await;
    let commands = commands.as_array().unwrap();
    assert_eq!(commands.len(), 2);
    assert!(
        commands
            .iter()
            .any(|c| c["language_code"].is_null() && c["commands"][0]["command"] == "start")
    );
    assert!(commands.iter().any(|c| {
        c["language_code"] == "en"
            && c["commands"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["description"] == "What Aisha can do")
    }));
    aisha::telegram::setup::delete_webhook(&app.settings)
        .await
        .unwrap();
    assert!(
        app.sandbox_get("/webhook").await["url"]
            .as_str()
            .is_none_or(str::is_empty)
    );
    app.stop().await;
}

/// A press whose screen failed to show (Telegram 5xx) is redelivered; by then the callback query
/// is too old to answer, and the screen must still appear.
async fn redelivered_press_still_shows_the_screen(storage: Storage) {
    let Some(app) = TestApp::spawn_patient(storage).await else {
        return;
    };
    app.send_text(1009, "/start").await;
    let menu_id = app.bot_messages(1009).await[0]["message_id"]
        .as_i64()
        .unwrap();
    app.fault(serde_json::json!({ "method": "editMessageText", "error_code": 502, "times": 1 }))
        .await;
    let pressed = app.press(1009, menu_id, "main_help").await;
    assert_eq!(pressed["webhook_status"], 503);
    let again = app.redeliver(pressed["update_id"].as_i64().unwrap()).await;
    assert_eq!(again["webhook_status"], 200);
    let messages = app.bot_messages(1009).await;
    assert!(
        messages[0]["text"].as_str().unwrap().contains("Помощь"),
        "{messages:?}"
    );
    app.stop().await;
}
