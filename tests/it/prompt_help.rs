//! Prompt help against a fake OpenAI-compatible server and the fake fal queue: a Russian prompt
//! reaches the model in English while the user keeps seeing their own words, 🔄 sends the same
//! English without asking the LLM again, ✨ improves (use it or keep mine), 📷 turns a photo into
//! a prompt; every LLM failure (401, 429, 500, a timeout, a refusal) lets the generation go on
//! with the user's words and says so in one line; a daily cap; nothing of it without an LLM.

use base64::Engine;
use entity::llm_usage;
use figment::{Figment, providers::Serialized};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

use crate::{
    avatars::{photo, post_media},
    both_storages,
    fake_fal::FakeFal,
    fake_llm::{DESCRIBED, FakeLlm, Fault, improved},
    generation::{generations, grant, last, photos, wait_for},
    helpers::{Storage, TestApp, buttons, message_update},
};

const VISION: &str = "test-vision-model";
const MODEL: &str = "test-text-model";

/// The app on the fake fal with the fake LLM (or none), `user` registered with 100 coins.
async fn spawn(
    storage: Storage,
    fal: &FakeFal,
    llm: Option<&FakeLlm>,
    user: i64,
    tweak: impl FnOnce(Figment) -> Figment,
) -> Option<TestApp> {
    let fal = fal.clone();
    let llm_url = llm.map(FakeLlm::base_url);
    let app = TestApp::spawn_with(storage, move |f: Figment| {
        let mut f = fal
            .configure(f)
            .merge(Serialized::default("server.request_timeout_secs", 30));
        if let Some(url) = llm_url {
            f = f
                .merge(Serialized::default("llm_base_url", url))
                .merge(Serialized::default("llm_api_key", FakeLlm::KEY))
                .merge(Serialized::default("llm_model", MODEL))
                .merge(Serialized::default("llm_vision_model", VISION))
                .merge(Serialized::default("llm.timeout_secs", 2));
        }
        tweak(f)
    })
    .await?;
    app.send_text(user, "/start").await;
    grant(&app, user, 100).await;
    Some(app)
}

fn text(m: &Value) -> String {
    m["text"].as_str().unwrap_or_default().to_owned()
}

fn data(screen: &Value) -> Vec<String> {
    buttons(screen).into_iter().map(|(_, d)| d).collect()
}

/// /generate and the prompt: the screen that follows.
async fn prompt(app: &TestApp, user: i64, words: &str) -> Value {
    app.send_text(user, "/generate").await;
    app.send_text(user, words).await;
    last(&app.bot_messages(user).await)
}

/// On the format screen: square, one image.
async fn go(app: &TestApp, user: i64, screen: &Value) {
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_aspect:0").await;
    app.press(user, id, "gen_go:0:1").await;
}

async fn callback_answers(app: &TestApp, user: i64) -> String {
    app.chat(user).await["callback_answers"].to_string()
}

both_storages!(
    a_russian_prompt_reaches_the_model_in_english_and_repeat_reuses_it,
    improve_offers_a_richer_prompt_to_use_or_keep,
    a_photo_becomes_a_prompt,
    llm_failures_never_block_a_generation,
    a_prompt_sent_while_another_is_translated_wins,
    the_daily_cap_stops_prompt_help,
    without_an_llm_there_is_no_prompt_help,
);

async fn a_russian_prompt_reaches_the_model_in_english_and_repeat_reuses_it(storage: Storage) {
    let (fal, llm) = (FakeFal::start().await, FakeLlm::start().await);
    let user = 8201;
    let Some(app) = spawn(storage, &fal, Some(&llm), user, |f| f).await else {
        return;
    };
    let words = "кот в шляпе на Луне";
    let english = "a cat in a hat on the Moon";
    llm.translate(words, english);

    let screen = prompt(&app, user, words).await;
    // The user sees their own words, no notice, and ✨ next to the style.
    assert!(text(&screen).contains(words), "{screen:#}");
    assert!(!text(&screen).contains('⚠'), "{screen:#}");
    assert!(
        data(&screen).contains(&"gen_improve".to_owned()),
        "{screen:#}"
    );
    let asked = llm.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].model(), MODEL);
    assert_eq!(asked[0].user_text(), words);
    assert!(
        asked[0].system().contains("English"),
        "{}",
        asked[0].system()
    );
    go(&app, user, &screen).await;

    let submit = &fal.wait_submits(1).await[0];
    assert_eq!(submit.input["prompt"], english);
    let g = &generations(&app).await[0];
    assert_eq!(
        (g.prompt.as_str(), g.prompt_en.as_deref()),
        (words, Some(english))
    );
    let chat = wait_for(&app, user, "the photo", |m| !photos(m).is_empty()).await;
    let caption = photos(&chat)[0]["caption"].as_str().unwrap().to_owned();
    assert!(
        caption.contains(words),
        "the caption keeps the user's words: {caption}"
    );

    // 🔄 twice: the same English each time, not translated again, never grown.
    for n in 2..=3 {
        let card = photos(&app.bot_messages(user).await)[0]["message_id"]
            .as_i64()
            .unwrap();
        let all = generations(&app).await;
        let source = all.last().unwrap().id;
        app.press(user, card, &format!("regenerate:{source}")).await;
        let submits = fal.wait_submits(n).await;
        assert_eq!(submits[n - 1].input["prompt"], english);
        wait_for(&app, user, "the repeat", |m| photos(m).len() >= n).await;
    }
    assert_eq!(llm.requests().len(), 1, "🔄 asks the LLM nothing");

    // An English prompt is sent as written, without the LLM.
    let screen = prompt(&app, user, "a dog on a skateboard").await;
    go(&app, user, &screen).await;
    let submits = fal.wait_submits(4).await;
    assert_eq!(submits[3].input["prompt"], "a dog on a skateboard");
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(generations(&app).await[3].prompt_en, None);

    // The screen after a Russian prompt fails to show: Telegram redelivers the prompt, which
    // reuses its stored translation.
    app.send_text(user, "/generate").await;
    app.fault(json!({ "method": "sendMessage", "error_code": 502, "times": 1 }))
        .await;
    let sent = app.send_text(user, "собака на скейте").await;
    assert_eq!(sent["webhook_status"], 503, "{sent}");
    assert_eq!(llm.requests().len(), 2);
    let again = app.redeliver(sent["update_id"].as_i64().unwrap()).await;
    assert_eq!(again["webhook_status"], 200, "{again}");
    assert_eq!(
        llm.requests().len(),
        2,
        "a redelivery is not translated again"
    );
    let screen = last(&app.bot_messages(user).await);
    assert!(text(&screen).contains("собака на скейте"), "{screen:#}");
    go(&app, user, &screen).await;
    assert_eq!(
        fal.wait_submits(5).await[4].input["prompt"],
        "a translated prompt"
    );
    app.stop().await;
}

async fn improve_offers_a_richer_prompt_to_use_or_keep(storage: Storage) {
    let (fal, llm) = (FakeFal::start().await, FakeLlm::start().await);
    let user = 8202;
    let Some(app) = spawn(storage, &fal, Some(&llm), user, |f| f).await else {
        return;
    };
    let words = "a lighthouse at night";
    let screen = prompt(&app, user, words).await;
    let id = screen["message_id"].as_i64().unwrap();
    assert!(llm.requests().is_empty(), "English: no translation");

    // ✨ then "keep mine": back to the formats, the user's words go to the model.
    app.press(user, id, "gen_improve").await;
    let offer = last(&app.bot_messages(user).await);
    assert!(text(&offer).contains(&improved(words)), "{offer:#}");
    assert!(text(&offer).contains("Улучшенный промпт"), "{offer:#}");
    let offered = data(&offer);
    assert_eq!(offered.len(), 2, "{offer:#}");
    assert!(
        offered[0].starts_with("gen_impr:") && offered[0].len() == 17,
        "{offered:?}"
    );
    assert_eq!(offered[1], "gen_impr:keep");
    assert_eq!(llm.requests()[0].user_text(), words);
    app.press(user, id, "gen_impr:keep").await;
    let formats = last(&app.bot_messages(user).await);
    assert!(
        data(&formats).contains(&"gen_aspect:0".to_owned()),
        "{formats:#}"
    );
    assert!(!text(&formats).contains("✨"), "{formats:#}");
    go(&app, user, &formats).await;
    assert_eq!(fal.wait_submits(1).await[0].input["prompt"], words);
    assert_eq!(generations(&app).await[0].prompt_en, None);

    // ✨ then "use improved": the formats name it, the model gets it, 🔄 keeps it.
    let screen = prompt(&app, user, words).await;
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_improve").await;
    let use_it = data(&last(&app.bot_messages(user).await))[0].clone();
    // A "use" button for another text than the one shown is refused.
    app.press(user, id, "gen_impr:00000000").await;
    assert!(callback_answers(&app, user).await.contains("устарела"));
    app.press(user, id, &use_it).await;
    let formats = last(&app.bot_messages(user).await);
    assert!(text(&formats).contains("✨"), "{formats:#}");
    // A second tap on "use" changes nothing.
    app.press(user, id, &use_it).await;
    go(&app, user, &formats).await;
    let better = improved(words);
    assert_eq!(
        fal.wait_submits(2).await[1].input["prompt"],
        better.as_str()
    );
    let g = &generations(&app).await[1];
    assert_eq!(
        (g.prompt.as_str(), g.prompt_en.as_deref()),
        (words, Some(better.as_str()))
    );
    assert_eq!(llm.requests().len(), 2);
    let chat = wait_for(&app, user, "two photos", |m| photos(m).len() >= 2).await;
    let card = photos(&chat)[1]["message_id"].as_i64().unwrap();
    app.press(user, card, &format!("regenerate:{}", g.id)).await;
    assert_eq!(
        fal.wait_submits(3).await[2].input["prompt"],
        better.as_str()
    );
    assert_eq!(llm.requests().len(), 2);

    // A Russian prompt, ✨, "keep mine": the translation still goes to the model.
    llm.translate("маяк ночью", "a lighthouse at night");
    let screen = prompt(&app, user, "маяк ночью").await;
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_improve").await;
    assert_eq!(llm.requests()[3].user_text(), "маяк ночью");
    app.press(user, id, "gen_impr:keep").await;
    let formats = last(&app.bot_messages(user).await);
    go(&app, user, &formats).await;
    assert_eq!(
        fal.wait_submits(4).await[3].input["prompt"],
        "a lighthouse at night"
    );
    app.stop().await;
}

async fn a_photo_becomes_a_prompt(storage: Storage) {
    let (fal, llm) = (FakeFal::start().await, FakeLlm::start().await);
    let user = 8203;
    let Some(app) = spawn(storage, &fal, Some(&llm), user, |f| f).await else {
        return;
    };
    app.send_text(user, "/generate").await;
    let intro = last(&app.bot_messages(user).await);
    assert!(data(&intro).contains(&"gen_photo".to_owned()), "{intro:#}");
    app.press(user, intro["message_id"].as_i64().unwrap(), "gen_photo")
        .await;
    assert!(
        callback_answers(&app, user).await.contains("Пришлите фото"),
        "📷 says what to do"
    );

    let picture = photo(7);
    post_media(&app.http, &app.sandbox, user, &[("photo", picture.clone())]).await;
    let offer = last(&app.bot_messages(user).await);
    assert!(text(&offer).contains(DESCRIBED), "{offer:#}");
    assert_eq!(data(&offer)[0], "gen_photo_use");
    let asked = &llm.requests()[0];
    assert_eq!(asked.model(), VISION);
    let url = asked.image_url().expect("the photo goes with the request");
    let sent = url
        .strip_prefix("data:image/png;base64,")
        .expect("inline, never a Telegram file URL");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(sent)
            .unwrap(),
        picture
    );

    let id = offer["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_photo_use").await;
    let formats = last(&app.bot_messages(user).await);
    assert!(text(&formats).contains(DESCRIBED), "{formats:#}");
    // A second tap finds it used.
    app.press(user, id, "gen_photo_use").await;
    assert!(callback_answers(&app, user).await.contains("устарела"));
    go(&app, user, &formats).await;
    assert_eq!(fal.wait_submits(1).await[0].input["prompt"], DESCRIBED);
    assert_eq!(generations(&app).await[0].prompt, DESCRIBED);
    assert_eq!(llm.requests().len(), 1, "English: nothing to translate");

    // Or the user writes their own words instead: the text wins.
    app.send_text(user, "/generate").await;
    post_media(&app.http, &app.sandbox, user, &[("photo", photo(8))]).await;
    let screen = {
        app.send_text(user, "a blue door in the rain").await;
        last(&app.bot_messages(user).await)
    };
    assert!(text(&screen).contains("a blue door"), "{screen:#}");
    app.stop().await;
}

async fn llm_failures_never_block_a_generation(storage: Storage) {
    let (fal, llm) = (FakeFal::start().await, FakeLlm::start().await);
    let user = 8204;
    let Some(app) = spawn(storage, &fal, Some(&llm), user, |f| f).await else {
        return;
    };
    let words = "маяк в тумане";
    llm.translate(words, "a lighthouse in the fog");
    let cases: [(&str, Vec<Fault>, usize); 5] = [
        ("401", vec![Fault::Unauthorized], 1),
        // Asked to wait longer than we would: not waited for.
        (
            "429",
            vec![Fault::RateLimited {
                retry_after_secs: 60,
            }],
            1,
        ),
        // Retried once, failed again.
        ("500", vec![Fault::ServerError, Fault::ServerError], 2),
        ("timeout", vec![Fault::Hang], 1),
        ("refusal", vec![Fault::Refusal], 1),
    ];
    let mut submits = 0;
    for (case, faults, attempts) in cases {
        let before = llm.requests().len();
        llm.fail_next(faults);
        let screen = prompt(&app, user, words).await;
        assert_eq!(llm.requests().len() - before, attempts, "{case}");
        let shown = text(&screen);
        assert!(
            shown.starts_with("⚠️ Не удалось перевести описание"),
            "{case}: {shown}"
        );
        assert!(shown.contains(words), "{case}: {shown}");
        go(&app, user, &screen).await;
        submits += 1;
        let sent = fal.wait_submits(submits).await;
        assert_eq!(sent[submits - 1].input["prompt"], words, "{case}");
        assert_eq!(generations(&app).await[submits - 1].prompt_en, None);
    }

    // A short Retry-After is waited for: the second try translates.
    llm.fail_next([Fault::RateLimited {
        retry_after_secs: 1,
    }]);
    let before = llm.requests().len();
    let screen = prompt(&app, user, words).await;
    assert_eq!(llm.requests().len() - before, 2);
    assert!(!text(&screen).contains('⚠'), "{screen:#}");
    go(&app, user, &screen).await;
    let sent = fal.wait_submits(submits + 1).await;
    assert_eq!(sent[submits].input["prompt"], "a lighthouse in the fog");

    // ✨ failing: an alert, the user's prompt stays and still works.
    let screen = prompt(&app, user, "a quiet bay").await;
    let id = screen["message_id"].as_i64().unwrap();
    llm.fail_next([Fault::Refusal]);
    app.press(user, id, "gen_improve").await;
    let said = last(&app.bot_messages(user).await);
    assert!(
        text(&said).starts_with("⚠️ Не удалось улучшить"),
        "{said:#}"
    );
    go(&app, user, &screen).await;
    let sent = fal.wait_submits(submits + 2).await;
    assert_eq!(sent[submits + 1].input["prompt"], "a quiet bay");

    // 📷 failing: one line, the prompt is still awaited.
    app.send_text(user, "/generate").await;
    llm.fail_next([Fault::ServerError, Fault::ServerError]);
    post_media(&app.http, &app.sandbox, user, &[("photo", photo(3))]).await;
    let said = last(&app.bot_messages(user).await);
    assert!(text(&said).contains("Не удалось описать фото"), "{said:#}");
    app.send_text(user, "a kite over the sea").await;
    let formats = last(&app.bot_messages(user).await);
    assert!(
        data(&formats).contains(&"gen_aspect:0".to_owned()),
        "{formats:#}"
    );

    // Quick mode: the generation starts at once and its progress message says it in one line.
    app.send_text(user, "/settings").await;
    let settings = last(&app.bot_messages(user).await)["message_id"]
        .as_i64()
        .unwrap();
    app.press(user, settings, "set_quick").await;
    llm.fail_next([Fault::Refusal]);
    let progress = prompt(&app, user, words).await;
    let shown = text(&progress);
    assert!(
        shown.contains("Быстрый режим") && shown.contains("Не удалось перевести"),
        "{shown}"
    );
    let sent = fal.wait_submits(submits + 3).await;
    assert_eq!(sent[submits + 2].input["prompt"], words);
    app.stop().await;
}

async fn the_daily_cap_stops_prompt_help(storage: Storage) {
    let (fal, llm) = (FakeFal::start().await, FakeLlm::start().await);
    let user = 8205;
    let Some(app) = spawn(storage, &fal, Some(&llm), user, |f| {
        f.merge(Serialized::default("llm.daily_cap", 2))
    })
    .await
    else {
        return;
    };
    // Yesterday's count does not count today, and is cleared.
    let id = app.user_id(user).await;
    llm_usage::Entity::insert(llm_usage::ActiveModel {
        user_id: Set(id),
        day: Set("2000-01-01".into()),
        requests: Set(999),
    })
    .exec(&app.db)
    .await
    .unwrap();
    let screen = prompt(&app, user, "кот на крыше").await;
    assert!(!text(&screen).contains('⚠'));
    let rows = llm_usage::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].user_id, rows[0].requests), (id, 1));
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_improve").await;
    assert_eq!(llm.requests().len(), 2);

    // Over the cap: no request; the words go as written, and the user is told.
    let screen = prompt(&app, user, "собака на крыше").await;
    assert_eq!(llm.requests().len(), 2);
    assert!(
        text(&screen).starts_with("⚠️ Помощь с описаниями на сегодня исчерпана"),
        "{screen:#}"
    );
    app.press(user, screen["message_id"].as_i64().unwrap(), "gen_improve")
        .await;
    assert_eq!(llm.requests().len(), 2);
    assert!(callback_answers(&app, user).await.contains("исчерпана"));
    go(&app, user, &screen).await;
    assert_eq!(
        fal.wait_submits(1).await[0].input["prompt"],
        "собака на крыше"
    );

    // Another user has a cap of their own.
    let other = 8206;
    app.send_text(other, "/start").await;
    prompt(&app, other, "кот на диване").await;
    assert_eq!(llm.requests().len(), 3);
    app.stop().await;
}

async fn without_an_llm_there_is_no_prompt_help(storage: Storage) {
    let fal = FakeFal::start().await;
    let user = 8207;
    let Some(app) = spawn(storage, &fal, None, user, |f| f).await else {
        return;
    };
    app.send_text(user, "/generate").await;
    let intro = last(&app.bot_messages(user).await);
    assert!(!data(&intro).contains(&"gen_photo".to_owned()), "{intro:#}");
    assert!(!text(&intro).contains("📷"), "{intro:#}");

    // A photo is not taken for a prompt.
    post_media(&app.http, &app.sandbox, user, &[("photo", photo(1))]).await;
    let said = last(&app.bot_messages(user).await);
    assert!(text(&said).contains("фото не ждём"), "{said:#}");

    let words = "кот в шляпе";
    app.send_text(user, words).await;
    let screen = last(&app.bot_messages(user).await);
    assert!(
        !data(&screen).contains(&"gen_improve".to_owned()),
        "{screen:#}"
    );
    assert!(!text(&screen).contains('⚠'), "{screen:#}");
    // A forged ✨ is refused.
    app.press(user, screen["message_id"].as_i64().unwrap(), "gen_improve")
        .await;
    assert!(
        callback_answers(&app, user)
            .await
            .contains("Неизвестная команда")
    );
    go(&app, user, &screen).await;
    assert_eq!(fal.wait_submits(1).await[0].input["prompt"], words);
    assert_eq!(generations(&app).await[0].prompt_en, None);
    app.stop().await;
}

async fn a_prompt_sent_while_another_is_translated_wins(storage: Storage) {
    let (fal, llm) = (FakeFal::start().await, FakeLlm::start().await);
    let user = 8208;
    let Some(app) = spawn(storage, &fal, Some(&llm), user, |f| f).await else {
        return;
    };
    // A Russian prompt whose translation takes a while, and meanwhile an English one.
    app.send_text(user, "/generate").await;
    llm.fail_next([Fault::Delay { ms: 700 }]);
    let slow = app.post_webhook_in_background(&message_update(990_001, user, "кот на Луне"));
    while llm.requests().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let screen = {
        app.send_text(user, "a dog on the Moon").await;
        last(&app.bot_messages(user).await)
    };
    assert!(text(&screen).contains("a dog on the Moon"), "{screen:#}");
    assert_eq!(slow.await.unwrap(), 200);
    // The late translation overwrote nothing and showed nothing: the screen shown starts the
    // prompt it shows.
    assert_eq!(
        last(&app.bot_messages(user).await)["message_id"],
        screen["message_id"]
    );
    go(&app, user, &screen).await;
    assert_eq!(
        fal.wait_submits(1).await[0].input["prompt"],
        "a dog on the Moon"
    );
    assert_eq!(generations(&app).await[0].prompt, "a dog on the Moon");

    // The same for a photo being described while a text prompt comes in.
    app.send_text(user, "/generate").await;
    llm.fail_next([Fault::Delay { ms: 700 }]);
    let asked = llm.requests().len();
    let (http, sandbox) = (app.http.clone(), app.sandbox.clone());
    let slow = tokio::spawn(async move {
        post_media(&http, &sandbox, user, &[("photo", photo(4))]).await;
    });
    while llm.requests().len() == asked {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let screen = {
        app.send_text(user, "a cat on a roof").await;
        last(&app.bot_messages(user).await)
    };
    slow.await.unwrap();
    let now = last(&app.bot_messages(user).await);
    assert_eq!(now["message_id"], screen["message_id"], "{now:#}");
    go(&app, user, &screen).await;
    assert_eq!(
        fal.wait_submits(2).await[1].input["prompt"],
        "a cat on a roof"
    );
    app.stop().await;
}
