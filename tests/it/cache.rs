//! Nothing cached may outlive or cross the database it describes: a new database behind the same
//! Redis and prefix, a user row an operator deleted, a write the database refuses.

use aisha::kv::{Kv, KvScopes, KvStore};
use figment::{Figment, providers::Serialized};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use serde_json::Value;

use crate::{
    both_storages,
    generation::{balance, generate, generations, photos, wait_for},
    helpers::{Storage, TestApp, buttons},
};

/// Settings two deployments share: one Redis (the test's) under one key prefix, a welcome bonus,
/// and a repeat guard long enough to still hold while the second deployment starts.
fn shared(prefix: String) -> impl Fn(Figment) -> Figment {
    move |f| {
        f.merge(Serialized::default("cache.key_prefix", prefix.clone()))
            .merge(Serialized::default("prices.welcome_bonus", 50))
            .merge(Serialized::default("generation.repeat_guard_secs", 60))
    }
}

/// Makes the database refuse every new row of `table` (a CHECK on `column` no row meets: on
/// PostgreSQL `NOT VALID`, so existing rows stay; on SQLite a trigger tripping a CHECK).
/// Returns the statement that lifts the refusal.
async fn refuse_inserts(app: &TestApp, table: &str, column: &str) -> String {
    let (refuse, allow) = match app.db.get_database_backend() {
        DatabaseBackend::Postgres => (
            format!(
                "ALTER TABLE {table} ADD CONSTRAINT test_refuse CHECK ({column} < 0) NOT VALID"
            ),
            format!("ALTER TABLE {table} DROP CONSTRAINT test_refuse"),
        ),
        _ => (
            format!(
                "CREATE TABLE test_refuse (x INTEGER CHECK (x < 0)); \
                 CREATE TRIGGER test_refuse BEFORE INSERT ON {table} \
                 BEGIN INSERT INTO test_refuse VALUES (1); END;"
            ),
            "DROP TRIGGER test_refuse".to_owned(),
        ),
    };
    app.db.execute_unprepared(&refuse).await.unwrap();
    allow
}

/// The newest photo in the chat and the payload of its 🔄 button.
fn repeat_button(messages: &[Value]) -> (i64, String) {
    let photo = photos(messages).pop().expect("a photo in the chat");
    let again = buttons(&photo)
        .into_iter()
        .find(|(_, d)| d.starts_with("regenerate:"))
        .expect("🔄 under the photo")
        .1;
    (photo["message_id"].as_i64().unwrap(), again)
}

fn answer(pressed: &Value) -> String {
    pressed["answer"]["text"].as_str().unwrap_or("").to_owned()
}

/// The app's key scopes in Redis, as it derives them (bot id from the token, the identity from
/// its database).
async fn scopes(app: &TestApp) -> KvScopes {
    let identity = aisha::db::identity(&app.db).await.unwrap();
    KvScopes::new(
        &Kv::from_settings(&app.settings).unwrap(),
        app.settings.bot_id(),
        &identity,
    )
}

/// A counter's value on /metrics (0 when absent).
async fn counter(app: &TestApp, series: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The reproduction: database 1 with users A and B; database 2 (fresh) behind the same
/// Redis and prefix, where C becomes user 1. A's generation in database 2 is A's and paid by A,
/// C's balance is untouched, and C's 🔄 is not blocked by a guard A's 🔄 left in database 1
/// (the same user and generation ids there). Then `aisha admin drop-cache` clears the guards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_behind_the_same_redis_charges_nobody_else() {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let Some(one) = TestApp::spawn_with(Storage::Production, shared(prefix.clone())).await else {
        return;
    };
    let (a, b, c) = (111, 222, 333);
    one.send_text(a, "/start").await;
    one.send_text(b, "/start").await;
    generate(&one, a, "a lighthouse at dawn", 0, 1).await;
    let chat = wait_for(&one, a, "A's picture", |m| photos(m).len() == 1).await;
    let (a_photo, a_again) = repeat_button(&chat);
    let pressed = one.press(a, a_photo, &a_again).await;
    assert!(answer(&pressed).contains("запущена"), "{pressed:#}");
    wait_for(&one, a, "A's repeat", |m| photos(m).len() == 2).await;
    assert_eq!(balance(&one, a).await, 40);

    // Database 2, same Redis, same prefix, same bot; database 1's app keeps running (a staging
    // deployment sharing the Redis).
    let Some(two) = TestApp::spawn_with(Storage::Production, shared(prefix)).await else {
        one.stop().await;
        return;
    };
    let (one_keys, two_keys) = (scopes(&one).await, scopes(&two).await);
    assert_eq!(one_keys.bot.prefix(), two_keys.bot.prefix(), "one bot");
    assert_ne!(one_keys.db.prefix(), two_keys.db.prefix(), "two databases");
    two.send_text(c, "/start").await;
    assert_eq!(
        two.user_id(c).await,
        one.user_id(a).await,
        "C has A's old user id: the trap is set"
    );
    generate(&two, c, "a fox in the snow", 0, 1).await;
    let chat = wait_for(&two, c, "C's picture", |m| photos(m).len() == 1).await;
    let (c_photo, c_again) = repeat_button(&chat);
    assert_eq!(c_again, a_again, "same generation id as A's in database 1");
    let guard = format!("lock:regenerate:{}:1", two.user_id(c).await);
    assert!(
        one_keys.db.keys().await.unwrap().contains(&guard),
        "A's guard in database 1 still holds the very name C's would take"
    );
    let pressed = two.press(c, c_photo, &c_again).await;
    assert!(
        answer(&pressed).contains("запущена"),
        "C's 🔄 must start, not meet database 1's guard: {pressed:#}"
    );
    wait_for(&two, c, "C's repeat", |m| photos(m).len() == 2).await;

    // A in database 2: a new user, with a welcome bonus of their own.
    two.send_text(a, "/start").await;
    let a_id = two.user_id(a).await;
    assert_ne!(a_id, two.user_id(c).await);
    generate(&two, a, "a cat on a windowsill", 0, 1).await;
    wait_for(&two, a, "A's picture in database 2", |m| {
        photos(m).len() == 1
    })
    .await;
    let made = generations(&two).await;
    assert_eq!(made.len(), 3);
    let mine: Vec<_> = made.iter().filter(|g| g.user_id == a_id).collect();
    assert_eq!(mine.len(), 1, "{made:#?}");
    assert_eq!(mine[0].prompt, "a cat on a windowsill");
    assert_eq!(balance(&two, a).await, 45, "A paid for A's picture");
    assert_eq!(
        balance(&two, c).await,
        40,
        "C paid for C's two, nothing else"
    );
    assert!(
        photos(&two.bot_messages(c).await).len() == 2,
        "C got no picture of A's"
    );
    assert!(aisha::ledger::audit(&two.db).await.unwrap().is_empty());

    // Restore drill: A's guard in database 1 still holds; drop-cache clears it (and only it).
    let pressed = one.press(a, a_photo, &a_again).await;
    assert!(answer(&pressed).contains("Уже запускаю"), "{pressed:#}");
    let update_mark = format!("update:{}", pressed["update_id"]);
    let (ok, out, err) = one.run_cli_with_cache(&["admin", "drop-cache"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.starts_with("dropped "), "{out}");
    assert!(!out.starts_with("dropped 0 "), "{out}");
    let pressed = one.press(a, a_photo, &a_again).await;
    assert!(answer(&pressed).contains("запущена"), "{pressed:#}");
    // Update marks describe Telegram traffic, not database rows: they stay.
    let kv = Kv::from_settings(&one.settings)
        .unwrap()
        .scoped(&format!("bot:{}:", one.settings.bot_id()));
    assert_eq!(kv.get(&update_mark).await.unwrap().as_deref(), Some("done"));
    // What lives in the bot's scope outside the databases' is Telegram traffic only.
    for key in one_keys.bot.keys().await.unwrap() {
        assert!(
            key.starts_with("update:")
                || key.starts_with("promo_wrong:")
                || key.starts_with("send:")
                || key.starts_with("replica:")
                || key.starts_with("db:"),
            "{key} names database rows but is not in a database's scope"
        );
    }

    // A copy of database 2 would carry its identity: the operator gives it a new one.
    let before = aisha::db::identity(&two.db).await.unwrap();
    let (ok, out, err) = two.run_cli(&["admin", "new-database-identity"]).await;
    assert!(ok, "{out}\n{err}");
    let after = aisha::db::identity(&two.db).await.unwrap();
    assert_ne!(before, after);
    assert!(out.contains(&after), "{out}");

    two.stop().await;
    one.stop().await;
}

/// An operator deletes a user's row (and what hangs off it) while the user is active: the next
/// update registers them again and is answered; no 503 loop.
async fn a_deleted_user_row_is_registered_again(storage: Storage) {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let Some(app) = TestApp::spawn_with(storage, shared(prefix)).await else {
        return;
    };
    let user = 444;
    app.send_text(user, "/start").await;
    let old = app.user_id(user).await;
    for table in ["ledger", "balances", "users"] {
        let column = if table == "users" { "id" } else { "user_id" };
        app.db
            .execute_unprepared(&format!("DELETE FROM {table} WHERE {column} = {old}"))
            .await
            .unwrap();
    }
    let before = app.bot_messages(user).await.len();
    let sent = app.send_text(user, "/start").await;
    assert_eq!(sent["webhook_status"], 200, "{sent:#}");
    let new = app.user_id(user).await;
    assert_ne!(new, old);
    let chat = app.bot_messages(user).await;
    assert_eq!(chat.len(), before + 1);
    assert!(
        chat[before]["text"].as_str().unwrap().contains("Привет"),
        "welcomed: {:#}",
        chat[before]
    );
    generate(&app, user, "a boat on a lake", 0, 1).await;
    wait_for(&app, user, "the picture", |m| photos(m).len() == 1).await;
    assert_eq!(generations(&app).await[0].user_id, new);
    assert_eq!(balance(&app, user).await, 45);
    app.stop().await;
}

/// The database refuses a write (a constraint no retry can satisfy): the update is tried once
/// more, then answered with 200 and an alert; nothing is charged. Once the cause is gone, the
/// same button works.
async fn a_refused_write_is_answered_not_redelivered(storage: Storage) {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let Some(app) = TestApp::spawn_with(storage, shared(prefix)).await else {
        return;
    };
    let user = 555;
    app.send_text(user, "/start").await;
    let retried = "telegram_updates_retried_total{reason=\"integrity\"}";
    let failed = "telegram_updates_failed_total{reason=\"integrity\"}";
    let (retried_before, failed_before) =
        (counter(&app, retried).await, counter(&app, failed).await);
    let allow = refuse_inserts(&app, "generations", "num_images").await;

    app.send_text(user, "/generate").await;
    app.send_text(user, "a windmill in a field").await;
    let screen = crate::generation::last(&app.bot_messages(user).await);
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, "gen_aspect:0").await;
    let pressed = app.press(user, id, "gen_go:0:1").await;
    assert_eq!(pressed["webhook_status"], 200, "{pressed:#}");
    assert!(answer(&pressed).contains("Не получилось"), "{pressed:#}");
    assert!(generations(&app).await.is_empty());
    assert_eq!(balance(&app, user).await, 50);
    // (The recorder is the process's: other tests in this binary may count at the same time.)
    assert!(counter(&app, retried).await >= retried_before + 1.0);
    assert!(counter(&app, failed).await >= failed_before + 1.0);

    app.db.execute_unprepared(&allow).await.unwrap();
    let pressed = app.press(user, id, "gen_go:0:1").await;
    assert_eq!(pressed["webhook_status"], 200, "{pressed:#}");
    wait_for(&app, user, "the picture", |m| photos(m).len() == 1).await;
    assert_eq!(balance(&app, user).await, 45);
    app.stop().await;
}

/// The same for a message: the database refuses to store the dialogue /generate opens; the
/// chat gets one "⚠️" message, and the update is not redelivered.
async fn a_refused_message_is_answered_in_the_chat(storage: Storage) {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let Some(app) = TestApp::spawn_with(storage, shared(prefix)).await else {
        return;
    };
    let user = 556;
    app.send_text(user, "/start").await;
    refuse_inserts(&app, "dialogue_states", "telegram_id").await;
    let before = app.bot_messages(user).await.len();
    let sent = app.send_text(user, "/generate").await;
    assert_eq!(sent["webhook_status"], 200, "{sent:#}");
    let chat = app.bot_messages(user).await;
    let said: Vec<&str> = chat[before..]
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].contains("Не получилось"), "{said:#?}");
    app.stop().await;
}

/// A Stars payment whose record the database refuses is never answered away: Telegram keeps
/// redelivering it (503), and once the cause is gone the redelivery credits it once.
async fn a_refused_payment_stays_with_telegram(storage: Storage) {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let Some(app) = TestApp::spawn_with(storage, shared(prefix)).await else {
        return;
    };
    let user = 557;
    let invoice = crate::payments::open_invoice(&app, user, 0).await;
    let allow = refuse_inserts(&app, "payments", "stars").await;
    let paid = crate::payments::pay(
        &app,
        user,
        serde_json::json!({ "message_id": invoice["message_id"] }),
    )
    .await;
    assert_eq!(paid["payment_webhook_status"], 503, "{paid:#}");
    assert_eq!(balance(&app, user).await, 0, "nothing credited");
    app.db.execute_unprepared(&allow).await.unwrap();
    let update_id = paid["payment_update_id"].as_i64().unwrap();
    assert_eq!(app.redeliver(update_id).await["webhook_status"], 200);
    assert_eq!(balance(&app, user).await, 100);
    app.stop().await;
}

both_storages!(
    a_refused_payment_stays_with_telegram,
    a_deleted_user_row_is_registered_again,
    a_refused_write_is_answered_not_redelivered,
    a_refused_message_is_answered_in_the_chat
);
