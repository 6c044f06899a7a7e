//! 🖼️ The gallery: one card at a time, newest first, edited in place from Telegram's copy.

use serde_json::Value;

use crate::{
    both_storages,
    generation::{generate, grant, outbox_settles, photos, wait_for},
    helpers::{Storage, TestApp, buttons},
};

fn card(messages: &[Value]) -> Value {
    photos(messages).last().cloned().unwrap_or(Value::Null)
}

both_storages!(
    an_empty_gallery_invites_to_create,
    browsing_wraps_and_edits_in_place
);

async fn an_empty_gallery_invites_to_create(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9001;
    app.send_text(user, "/start").await;
    let menu = app.bot_messages(user).await[0]["message_id"]
        .as_i64()
        .unwrap();
    for data in ["my_gallery", "gallery_main"] {
        app.press(user, menu, data).await;
        let shown = &app.bot_messages(user).await[0];
        assert!(
            shown["text"].as_str().unwrap().contains("Галерея пуста"),
            "{shown:#}"
        );
        assert!(buttons(shown).iter().any(|(_, d)| d == "generation_menu"));
    }
    app.stop().await;
}

async fn browsing_wraps_and_edits_in_place(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9002;
    app.send_text(user, "/start").await;
    grant(&app, user, 100).await;
    // One image, then eleven more: twelve in all.
    generate(&app, user, "the first image", 0, 1).await;
    wait_for(&app, user, "the first photo", |m| photos(m).len() == 1).await;
    app.send_text(user, "/gallery").await;
    let chat = wait_for(&app, user, "the card", |m| photos(m).len() == 2).await;
    let one = card(&chat);
    assert!(
        one["caption"]
            .as_str()
            .unwrap()
            .contains("Изображение 1 из 1"),
        "{one:#}"
    );
    assert_eq!(
        one["photo"]["file_id"],
        photos(&chat)[0]["photo"]["file_id"],
        "Telegram's copy, no upload"
    );
    for (round, n) in [(1, 4), (2, 4), (3, 3)] {
        generate(&app, user, &format!("batch {round}"), 1, n).await;
        wait_for(&app, user, "the album", |m| {
            m.iter()
                .filter(|m| m["text"].as_str().is_some_and(|t| t.contains("Готово: ")))
                .count()
                == round
        })
        .await;
    }
    outbox_settles(&app).await;
    app.send_text(user, "/gallery").await;
    let chat = wait_for(&app, user, "the card", |m| {
        card(m)["caption"]
            .as_str()
            .is_some_and(|c| c.contains("1 из 12"))
    })
    .await;
    let card_id = card(&chat)["message_id"].as_i64().unwrap();
    assert!(
        card(&chat)["caption"].as_str().unwrap().contains("batch 3"),
        "newest first"
    );
    let before = app.bot_messages(user).await.len();
    // ⬅️ from the first wraps to the last; the card is edited, not sent again.
    let (_, left) = buttons(&card(&chat))[0].clone();
    app.press(user, card_id, &left).await;
    let now = app.bot_messages(user).await;
    let shown = now.iter().find(|m| m["message_id"] == card_id).unwrap();
    assert!(
        shown["caption"].as_str().unwrap().contains("12 из 12"),
        "{shown:#}"
    );
    assert!(
        shown["caption"]
            .as_str()
            .unwrap()
            .contains("the first image")
    );
    assert_eq!(now.len(), before);
    // ➡️ twenty times quickly: no error, no second card, back at 8 of 12.
    for _ in 0..20 {
        let shown = app.bot_messages(user).await;
        let shown = shown.iter().find(|m| m["message_id"] == card_id).unwrap();
        let (_, right) = buttons(shown)[2].clone();
        let pressed = app.press(user, card_id, &right).await;
        assert_eq!(pressed["webhook_status"], 200);
    }
    let now = app.bot_messages(user).await;
    assert_eq!(now.len(), before);
    let shown = now.iter().find(|m| m["message_id"] == card_id).unwrap();
    assert!(
        shown["caption"].as_str().unwrap().contains("8 из 12"),
        "{shown:#}"
    );
    // A forged or stale position wraps onto the list.
    app.press(user, card_id, "gal:4000000000").await;
    let now = app.bot_messages(user).await;
    let shown = now.iter().find(|m| m["message_id"] == card_id).unwrap();
    assert!(
        shown["caption"].as_str().unwrap().contains(" из 12"),
        "{shown:#}"
    );
    let answers = app.chat(user).await["callback_answers"].to_string();
    assert!(!answers.contains("Неизвестная команда"), "{answers}");
    app.stop().await;
}

both_storages!(favourite_prompt_and_delete_check_the_owner);

fn shown(messages: &[Value], id: i64) -> Value {
    messages
        .iter()
        .find(|m| m["message_id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn favourite_prompt_and_delete_check_the_owner(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let (user, other) = (9003, 9004);
    app.send_text(user, "/start").await;
    app.send_text(other, "/start").await;
    grant(&app, user, 10).await;
    generate(&app, user, "two <b>bold</b> cats", 0, 2).await;
    wait_for(&app, user, "the album", |m| {
        m.iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.contains("Готово: 2")))
    })
    .await;
    outbox_settles(&app).await;
    app.send_text(user, "/gallery").await;
    let chat = wait_for(&app, user, "the card", |m| {
        card(m)["caption"]
            .as_str()
            .is_some_and(|c| c.contains("1 из 2"))
    })
    .await;
    let card_id = card(&chat)["message_id"].as_i64().unwrap();
    let data = |label: &str, m: &Value| {
        buttons(m)
            .into_iter()
            .find(|(t, _)| t == label)
            .map(|(_, d)| d)
            .unwrap_or_else(|| panic!("no {label} on {m:#}"))
    };
    let fav = data("🤍", &card(&chat));
    let del = data("🗑️ Удалить", &card(&chat));
    let prompt = data("📋 Промпт", &card(&chat));

    // Someone else's ids in forged buttons: nothing changes for the owner.
    let theirs = app.bot_messages(other).await[0]["message_id"]
        .as_i64()
        .unwrap();
    let image_id: i64 = fav.split(':').nth(1).unwrap().parse().unwrap();
    for forged in [
        fav.clone(),
        format!("gal_del_yes:{image_id}:0"),
        prompt.clone(),
    ] {
        let pressed = app.press(other, theirs, &forged).await;
        assert_eq!(pressed["webhook_status"], 200);
    }
    let answers = app.chat(other).await["callback_answers"].to_string();
    assert!(answers.contains("Изображение не найдено"), "{answers}");
    let now = app.bot_messages(user).await;
    assert!(
        !shown(&now, card_id)["caption"]
            .as_str()
            .unwrap()
            .contains("❤️")
    );

    // ❤️ toggles, shown on the card.
    app.press(user, card_id, &fav).await;
    let now = app.bot_messages(user).await;
    assert!(
        shown(&now, card_id)["caption"]
            .as_str()
            .unwrap()
            .contains("❤️")
    );
    assert_eq!(data("❤️", &shown(&now, card_id)), fav);
    // 📋 sends the whole prompt, safely.
    app.press(user, card_id, &prompt).await;
    let text = app.bot_messages(user).await.last().unwrap()["text"].clone();
    assert!(
        text.as_str().unwrap().contains("two <b>bold</b> cats"),
        "{text}"
    );
    // 🗑️ asks first; cancel keeps it; confirm deletes it and its file, the card moves on.
    app.press(user, card_id, &del).await;
    let now = app.bot_messages(user).await;
    let asked = shown(&now, card_id);
    assert!(
        asked["caption"]
            .as_str()
            .unwrap()
            .contains("Удалить это изображение?")
    );
    let (_, cancel) = buttons(&asked)[1].clone();
    app.press(user, card_id, &cancel).await;
    assert!(
        shown(&app.bot_messages(user).await, card_id)["caption"]
            .as_str()
            .unwrap()
            .contains("1 из 2")
    );
    app.press(user, card_id, &del).await;
    let (_, confirm) = buttons(&shown(&app.bot_messages(user).await, card_id))[0].clone();
    let g = &crate::generation::generations(&app).await[0];
    let before = crate::generation::images_of(&app, g.id).await;
    app.press(user, card_id, &confirm).await;
    let after = crate::generation::images_of(&app, g.id).await;
    assert_eq!(after.len(), 1);
    let gone = before.iter().find(|i| i.id == image_id).unwrap();
    assert!(
        !app.settings
            .delivery
            .images_dir
            .join(gone.file_path.as_deref().unwrap())
            .exists()
    );
    assert!(
        shown(&app.bot_messages(user).await, card_id)["caption"]
            .as_str()
            .unwrap()
            .contains("1 из 1")
    );
    // A second confirm (a double tap) finds it gone and shows what is there.
    let pressed = app.press(user, card_id, &confirm).await;
    assert_eq!(pressed["webhook_status"], 200);
    assert_eq!(crate::generation::images_of(&app, g.id).await.len(), 1);
    // Deleting the last one leaves the empty gallery.
    let last_del = data("🗑️ Удалить", &shown(&app.bot_messages(user).await, card_id));
    app.press(user, card_id, &last_del).await;
    let (_, confirm) = buttons(&shown(&app.bot_messages(user).await, card_id))[0].clone();
    app.press(user, card_id, &confirm).await;
    let now = app.bot_messages(user).await;
    assert!(shown(&now, card_id).is_null(), "the card is gone");
    assert!(
        now.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("Галерея пуста")
    );
    app.stop().await;
}

both_storages!(statistics_come_from_the_database);

async fn statistics_come_from_the_database(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9005;
    app.send_text(user, "/start").await;
    grant(&app, user, 50).await;
    generate(&app, user, "first of all", 0, 1).await;
    wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    generate(&app, user, "then a pair", 0, 2).await;
    wait_for(&app, user, "the album", |m| {
        m.iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.contains("Готово: 2")))
    })
    .await;
    outbox_settles(&app).await;
    app.send_text(user, "/gallery").await;
    let chat = wait_for(&app, user, "the card", |m| {
        card(m)["caption"]
            .as_str()
            .is_some_and(|c| c.contains("1 из 3"))
    })
    .await;
    let card_id = card(&chat)["message_id"].as_i64().unwrap();
    let (_, fav) = buttons(&card(&chat))
        .into_iter()
        .find(|(t, _)| t == "🤍")
        .unwrap();
    app.press(user, card_id, &fav).await;
    app.press(user, card_id, "gal_stats").await;
    let text = app.bot_messages(user).await.last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("Изображений: 3"), "{text}");
    assert!(text.contains("В избранном: 1"), "{text}");
    assert!(
        text.contains("Генераций: 2 готово, 0 в работе, 0 не удалось"),
        "{text}"
    );
    assert!(text.contains("Потрачено: 15 монет"), "{text}");
    assert!(text.contains("Аватаров использовано: 0"), "{text}");
    assert!(text.contains("Первая: "), "{text}");
    app.stop().await;
}

both_storages!(repeat_guards_taps_coins_and_avatars);

async fn repeat_guards_taps_coins_and_avatars(storage: Storage) {
    use entity::{avatar, generation};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9006;
    app.send_text(user, "/start").await;
    grant(&app, user, 5).await;
    generate(&app, user, "repeat me", 0, 1).await;
    let chat = wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    outbox_settles(&app).await;
    let photo = card(&chat);
    let photo_id = photo["message_id"].as_i64().unwrap();
    let (_, repeat) = buttons(&photo)[0].clone();
    // No coins left: an alert with the exact wording and a ⭐ button, nothing started.
    let pressed = app.press(user, photo_id, &repeat).await;
    assert_eq!(
        pressed["answer"]["text"],
        "❌ Недостаточно средств. Требуется: 5, у вас: 0"
    );
    let last = app.bot_messages(user).await.last().cloned().unwrap();
    assert!(buttons(&last).iter().any(|(_, d)| d == "topup"));
    assert_eq!(crate::generation::generations(&app).await.len(), 1);
    // With coins for ten, ten taps at once start one generation, charged once.
    grant(&app, user, 50).await;
    let taps = (0..10).map(|_| app.press(user, photo_id, &repeat));
    futures::future::join_all(taps).await;
    wait_for(&app, user, "the repeat", |m| photos(m).len() == 2).await;
    outbox_settles(&app).await;
    assert_eq!(crate::generation::generations(&app).await.len(), 2);
    assert_eq!(crate::generation::balance(&app, user).await, 45);
    // A generation made with an avatar that has since been deleted: the alert says so.
    let made = crate::generation::ready_avatar(
        &app,
        user,
        "Gone",
        "TOK_gone",
        "https://example.invalid/lora",
    )
    .await;
    let first = crate::generation::generations(&app).await[0].clone();
    let mut with_avatar: generation::ActiveModel = first.into();
    with_avatar.avatar_id = Set(Some(made.id));
    with_avatar.avatar_name = Set(Some("Gone".into()));
    let with_avatar = with_avatar.update(&app.db).await.unwrap();
    avatar::Entity::delete_by_id(made.id)
        .exec(&app.db)
        .await
        .unwrap();
    let pressed = app
        .press(user, photo_id, &format!("regenerate:{}", with_avatar.id))
        .await;
    assert!(
        pressed["answer"]["text"]
            .as_str()
            .unwrap()
            .contains("Аватар этой генерации удалён"),
        "{pressed:#}"
    );
    assert_eq!(crate::generation::generations(&app).await.len(), 2);
    assert_eq!(crate::generation::balance(&app, user).await, 45);
    app.stop().await;
}
