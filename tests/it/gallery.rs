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

both_storages!(filters_narrow_the_gallery_and_stay_honest);

/// /generate with the base model (no avatar), then the prompt, size and count.
async fn generate_base(app: &TestApp, user: i64, prompt: &str, aspect: u8, count: u8) {
    app.send_text(user, "/generate").await;
    let intro = crate::generation::last(&app.bot_messages(user).await);
    let id = intro["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_base").await;
    app.send_text(user, prompt).await;
    let screen = crate::generation::last(&app.bot_messages(user).await);
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, &format!("gen_aspect:{aspect}")).await;
    app.press(user, id, &format!("gen_go:{aspect}:{count}"))
        .await;
}

/// Text of a card or a screen, caption or text.
fn words(m: &Value) -> String {
    m["caption"]
        .as_str()
        .or_else(|| m["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn labelled(m: &Value, label: &str) -> String {
    buttons(m)
        .into_iter()
        .find(|(t, _)| t == label)
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("no {label} on {m:#}"))
}

async fn filters_narrow_the_gallery_and_stay_honest(storage: Storage) {
    use entity::{avatar, gallery_filter, generation};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let (user, other) = (9010, 9011);
    app.send_text(user, "/start").await;
    app.send_text(other, "/start").await;
    grant(&app, user, 100).await;
    let anna = crate::generation::ready_avatar(&app, user, "Анна", "TOK_anna", "https://x/a").await;
    let theirs =
        crate::generation::ready_avatar(&app, other, "Чужой", "TOK_x", "https://x/b").await;
    // Anna 1:1 (backdated 10 days below), two base 9:16, Anna 16:9: four images.
    generate(&app, user, "anna square", 0, 1).await;
    wait_for(&app, user, "1", |m| photos(m).len() == 1).await;
    generate_base(&app, user, "base portrait", 3, 2).await;
    wait_for(&app, user, "album", |m| {
        m.iter().any(|m| words(m).contains("Готово: 2"))
    })
    .await;
    generate(&app, user, "anna wide", 4, 1).await;
    wait_for(&app, user, "3", |m| photos(m).len() == 4).await;
    outbox_settles(&app).await;
    let made = crate::generation::generations(&app).await;
    assert_eq!(made[0].avatar_id, Some(anna.id));
    assert_eq!(made[1].avatar_id, None);
    generation::Entity::update_many()
        .col_expr(
            generation::Column::CreatedAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::days(10)),
        )
        .filter(generation::Column::Id.eq(made[0].id))
        .exec(&app.db)
        .await
        .unwrap();

    app.send_text(user, "/gallery").await;
    let chat = wait_for(&app, user, "the card", |m| {
        words(&card(m)).contains("1 из 4")
    })
    .await;
    let card_id = card(&chat)["message_id"].as_i64().unwrap();
    let rows: Vec<Vec<String>> = card(&chat)["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|b| b["text"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec!["⬅️", "1/4", "➡️"],
            vec!["📋 Промпт", "🔄 Повторить"],
            vec!["🤍", "🗑️ Удалить"],
            vec!["🔍 Фильтры", "📊 Статистика"],
            vec!["🔙 Главное меню"],
        ]
    );
    assert!(!words(&card(&chat)).contains("🔍"), "no filter yet");
    let messages = app.bot_messages(user).await.len();
    let now = || async { shown(&app.bot_messages(user).await, card_id) };
    let press = |data: String| {
        let app = &app;
        async move {
            let pressed = app.press(user, card_id, &data).await;
            assert_eq!(pressed["webhook_status"], 200, "{data}: {pressed:#}");
            pressed
        }
    };

    // 🔍 on the card: the filter screen, on the same message.
    press("galf".into()).await;
    let screen = now().await;
    assert!(words(&screen).contains("Фильтры галереи"), "{screen:#}");
    assert!(words(&screen).contains("Подходит изображений: 4"));
    // 9:16 only: the two base images.
    press(labelled(&screen, "9:16")).await;
    let screen = now().await;
    assert!(
        words(&screen).contains("Подходит изображений: 2"),
        "{screen:#}"
    );
    assert!(buttons(&screen).iter().any(|(t, _)| t == "✅ 9:16"));
    press(labelled(&screen, "👀 Показать (2)")).await;
    let shown_card = now().await;
    assert!(words(&shown_card).contains("1 из 2"), "{shown_card:#}");
    assert!(words(&shown_card).contains("base portrait"));
    assert!(words(&shown_card).contains("🔍 📐 9:16"), "{shown_card:#}");
    // ➡️ stays inside the filter and wraps.
    for expected in ["2 из 2", "1 из 2"] {
        let (_, right) = buttons(&now().await)[2].clone();
        press(right).await;
        assert!(words(&now().await).contains(expected));
    }

    // By avatar: Anna's two; then by period.
    press("galf".into()).await;
    press(labelled(&now().await, "✅ 9:16").replace("galf_ar:4", "galf_ar:0")).await;
    press(labelled(&now().await, "🎭 Аватар: все")).await;
    let pick = now().await;
    assert!(
        words(&pick).contains("Изображения какого аватара"),
        "{pick:#}"
    );
    press(labelled(&pick, "Анна")).await;
    let screen = now().await;
    assert!(words(&screen).contains("🎭 Анна"), "{screen:#}");
    assert!(words(&screen).contains("Подходит изображений: 2"));
    for (period, matching) in [
        ("Сегодня", 1),
        ("Неделя", 1),
        ("Месяц", 2),
        ("Всё время", 2),
    ] {
        let screen = now().await;
        let data = buttons(&screen)
            .into_iter()
            .find(|(t, _)| t.ends_with(period))
            .map(|(_, d)| d)
            .unwrap();
        press(data).await;
        let screen = now().await;
        assert!(
            words(&screen).contains(&format!("Подходит изображений: {matching}")),
            "{period}: {screen:#}"
        );
        assert!(
            buttons(&screen)
                .iter()
                .any(|(t, _)| t == &format!("✅ {period}"))
        );
    }
    // Stored per user, in the database.
    let row = gallery_filter::Entity::find_by_id(app.user_id(user).await)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.avatar_id, Some(anna.id));
    assert_eq!(row.period, "all");

    // Forged and stale filter buttons: nothing changes, the screen is drawn again, no error.
    for forged in [
        format!("galf_av:{}", theirs.id),
        "galf_av:999999".into(),
        "galf_per:9".into(),
        "galf_ar:77".into(),
    ] {
        let pressed = press(forged.clone()).await;
        assert!(
            !pressed["answer"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("Неизвестная"),
            "{forged}: {pressed:#}"
        );
    }
    let answers = app.chat(user).await["callback_answers"].to_string();
    assert!(answers.contains("Аватар не найден"), "{answers}");
    let still = gallery_filter::Entity::find_by_id(app.user_id(user).await)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (still.avatar_id, still.period, still.aspect),
        (Some(anna.id), "all".into(), None)
    );
    // Someone else's press on our filter changes nothing of ours.
    let their_msg = app.bot_messages(other).await[0]["message_id"]
        .as_i64()
        .unwrap();
    app.press(other, their_msg, "galf_reset").await;
    assert!(
        gallery_filter::Entity::find_by_id(app.user_id(user).await)
            .one(&app.db)
            .await
            .unwrap()
            .is_some()
    );

    // Favourites only, with none: the card gives way to a friendly text; reset brings it back.
    press(labelled(&now().await, "⬜ ❤️ Только избранное")).await;
    assert!(words(&now().await).contains("Подходит изображений: 0"));
    press("gal:0".into()).await;
    let after = app.bot_messages(user).await;
    assert!(shown(&after, card_id).is_null(), "the empty card is gone");
    let empty = after.last().unwrap().clone();
    assert!(words(&empty).contains("Ничего не найдено"), "{empty:#}");
    assert!(
        words(&empty).contains("❤️ избранное · 🎭 Анна"),
        "{empty:#}"
    );
    let empty_id = empty["message_id"].as_i64().unwrap();
    app.press(user, empty_id, &labelled(&empty, "♻️ Сбросить"))
        .await;
    let after = app.bot_messages(user).await;
    assert!(
        shown(&after, empty_id).is_null(),
        "the text gives way to the card"
    );
    assert_eq!(after.len(), messages, "one gallery message at a time");
    let back = card(&after);
    assert!(words(&back).contains("1 из 4"), "{back:#}");
    assert!(!words(&back).contains("🔍"));
    assert!(
        gallery_filter::Entity::find_by_id(app.user_id(user).await)
            .one(&app.db)
            .await
            .unwrap()
            .is_none(),
        "no filter, no row"
    );
    let card_id = back["message_id"].as_i64().unwrap();

    // A favourite under "favourites only", then un-favourited: the stale filter re-renders.
    app.press(user, card_id, &labelled(&back, "🤍")).await;
    app.press(user, card_id, "galf").await;
    app.press(user, card_id, "galf_fav").await;
    app.press(user, card_id, "gal:0").await;
    let fav = shown(&app.bot_messages(user).await, card_id);
    assert!(words(&fav).contains("1 из 1"), "{fav:#}");
    assert!(words(&fav).contains("🔍 ❤️ избранное"), "{fav:#}");
    app.press(user, card_id, &labelled(&fav, "❤️")).await;
    let after = app.bot_messages(user).await;
    assert!(words(after.last().unwrap()).contains("Ничего не найдено"));

    // Base model only; and an avatar filter whose avatar is deleted falls back to everything.
    let empty = after.last().unwrap().clone();
    let empty_id = empty["message_id"].as_i64().unwrap();
    app.press(user, empty_id, "galf").await;
    app.press(user, empty_id, "galf_fav").await;
    app.press(user, empty_id, "galf_av:base").await;
    let screen = shown(&app.bot_messages(user).await, empty_id);
    assert!(
        words(&screen).contains("Подходит изображений: 2"),
        "{screen:#}"
    );
    app.press(user, empty_id, &format!("galf_av:{}", anna.id))
        .await;
    avatar::Entity::delete_by_id(anna.id)
        .exec(&app.db)
        .await
        .unwrap();
    app.send_text(user, "/gallery").await;
    let last = app.bot_messages(user).await.last().cloned().unwrap();
    assert!(words(&last).contains("1 из 4"), "{last:#}");
    assert!(!words(&last).contains("🔍"), "{last:#}");
    let answers = app.chat(user).await["callback_answers"].to_string();
    assert!(!answers.contains("Неизвестная"), "{answers}");
    app.stop().await;
}

both_storages!(english_gallery_and_results_stay_put);

async fn english_gallery_and_results_stay_put(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = 9012;
    app.send_text_lang(user, "/start", "en").await;
    let menu = app.bot_messages(user).await[0]["message_id"]
        .as_i64()
        .unwrap();
    app.press(user, menu, "my_gallery").await;
    let empty = app.bot_messages(user).await[0].clone();
    assert!(words(&empty).contains("Your gallery is empty"), "{empty:#}");
    grant(&app, user, 10).await;
    generate(&app, user, "an english cat", 0, 1).await;
    let chat = wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    outbox_settles(&app).await;
    let result = card(&chat);
    let result_id = result["message_id"].as_i64().unwrap();
    // 🖼️ under a result opens a new card; the result itself stays as it was.
    app.press(user, result_id, &labelled(&result, "🖼️ To gallery"))
        .await;
    let chat = app.bot_messages(user).await;
    assert_eq!(shown(&chat, result_id)["caption"], result["caption"]);
    assert_eq!(photos(&chat).len(), 2);
    let gallery = card(&chat);
    assert!(words(&gallery).contains("Image 1 of 1"), "{gallery:#}");
    for label in [
        "📋 Prompt",
        "🔄 Repeat",
        "🗑️ Delete",
        "🔍 Filters",
        "📊 Statistics",
    ] {
        labelled(&gallery, label);
    }
    let card_id = gallery["message_id"].as_i64().unwrap();
    app.press(user, card_id, "galf").await;
    let screen = shown(&app.bot_messages(user).await, card_id);
    assert!(words(&screen).contains("Gallery filters"), "{screen:#}");
    assert!(words(&screen).contains("Matching images: 1"));
    labelled(&screen, "⬜ ❤️ Favourites only");
    labelled(&screen, "✅ All time");
    app.press(user, card_id, "galf_per:1").await;
    app.press(user, card_id, "gal:0").await;
    let filtered = shown(&app.bot_messages(user).await, card_id);
    assert!(words(&filtered).contains("🔍 📅 today"), "{filtered:#}");
    app.press(user, card_id, "gal_stats").await;
    let stats = app.bot_messages(user).await.last().cloned().unwrap();
    assert!(words(&stats).contains("Images: 1"), "{stats:#}");
    app.stop().await;
}

both_storages!(a_repeat_is_paid_once_and_a_screen_switch_shows_one_card);

/// 🔄 answers with its outcome, and the same tap delivered again (Telegram retrying after a
/// timeout, once the double-tap guard has expired) starts and charges nothing. Two taps that
/// switch a text screen to a card leave one card.
async fn a_repeat_is_paid_once_and_a_screen_switch_shows_one_card(storage: Storage) {
    use figment::providers::Serialized;

    let Some(app) = TestApp::spawn_with(storage, |f| {
        f.merge(Serialized::default("generation.repeat_guard_secs", 1))
    })
    .await
    else {
        return;
    };
    let user = 9020;
    app.send_text(user, "/start").await;
    grant(&app, user, 20).await;
    generate(&app, user, "once more", 0, 1).await;
    let chat = wait_for(&app, user, "the photo", |m| photos(m).len() == 1).await;
    outbox_settles(&app).await;
    let photo = card(&chat);
    let photo_id = photo["message_id"].as_i64().unwrap();
    let repeat = labelled(&photo, "🔄 Повторить еще раз");
    let pressed = app.press(user, photo_id, &repeat).await;
    assert_eq!(pressed["answer"]["text"], "🔄 Повторная генерация запущена");
    wait_for(&app, user, "the repeat", |m| photos(m).len() == 2).await;
    outbox_settles(&app).await;
    assert_eq!(crate::generation::balance(&app, user).await, 10);
    // The guard has expired; the same callback query arrives again.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let update_id = pressed["update_id"].as_i64().unwrap();
    let mut again = app.sandbox_get(&format!("/updates/{update_id}")).await;
    again["update_id"] = serde_json::json!(update_id + 100_000);
    let status = app
        .post_webhook(again.to_string(), Some(crate::helpers::SECRET))
        .await
        .status();
    assert_eq!(status, 200);
    assert_eq!(crate::generation::generations(&app).await.len(), 2);
    assert_eq!(crate::generation::balance(&app, user).await, 10);
    // A filter nothing matches leaves a text screen; ♻️ tapped twice at once shows one card.
    app.send_text(user, "/gallery").await;
    let chat = wait_for(&app, user, "the card", |m| {
        words(&card(m)).contains("1 из 2")
    })
    .await;
    let card_id = card(&chat)["message_id"].as_i64().unwrap();
    app.press(user, card_id, "galf_fav").await;
    app.press(user, card_id, "gal:0").await;
    let empty = app.bot_messages(user).await.last().cloned().unwrap();
    assert!(words(&empty).contains("Ничего не найдено"), "{empty:#}");
    let empty_id = empty["message_id"].as_i64().unwrap();
    let cards_before = photos(&app.bot_messages(user).await).len();
    let reset = labelled(&empty, "♻️ Сбросить");
    futures::future::join(
        app.press(user, empty_id, &reset),
        app.press(user, empty_id, &reset),
    )
    .await;
    let after = app.bot_messages(user).await;
    assert_eq!(photos(&after).len(), cards_before + 1, "one new card");
    assert!(shown(&after, empty_id).is_null(), "the text gave way");
    app.stop().await;
}
