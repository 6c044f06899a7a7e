//! Coins: the ledger under concurrency, the balance screen, promo codes, the admin CLI.

use aisha::domain::{Coins, UserId};
use aisha::ledger::{self, Charge, Kind};
use entity::{balance, ledger as entry, promo_code};
use figment::providers::Serialized;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::{
    both_storages,
    helpers::{Storage, TestApp, buttons},
};

both_storages!(
    concurrent_charges_never_overdraw,
    same_key_moves_coins_once,
    audit_detects_a_hand_made_mismatch,
    balance_screen_shows_coins_prices_and_history,
    welcome_bonus_is_credited_once,
    concurrent_promo_redemptions_respect_the_limit,
    promo_code_outcomes,
    promo_dialogue_survives_a_restart,
    admin_cli_grants_reports_and_manages_codes,
);

/// Registers a user through the bot and returns their `users.id`.
async fn registered(app: &TestApp, telegram_id: i64) -> i64 {
    app.send_text(telegram_id, "/start").await;
    app.user_id(telegram_id).await
}

async fn ledger_sum(app: &TestApp, user_id: i64) -> i64 {
    entry::Entity::find()
        .filter(entry::Column::UserId.eq(user_id))
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.amount)
        .sum()
}

async fn stored_balance(app: &TestApp, user_id: i64) -> i64 {
    balance::Entity::find_by_id(user_id)
        .one(&app.db)
        .await
        .unwrap()
        .map_or(0, |b| b.coins)
}

/// 50 concurrent charges of 1 coin against 10 coins: exactly 10 succeed, none overdraws.
async fn concurrent_charges_never_overdraw(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = registered(&app, 4001).await;
    let pool = app.app_pool().await;
    ledger::credit(&pool, UserId(user), Coins(10), Kind::Grant, None, "seed")
        .await
        .unwrap();
    let charges = (0..50).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            ledger::charge(
                &pool,
                UserId(user),
                Coins(1),
                Kind::Generation,
                None,
                &format!("gen:{i}"),
            )
            .await
        })
    });
    let outcomes: Vec<Charge> = futures::future::join_all(charges)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let charged = outcomes
        .iter()
        .filter(|o| matches!(o, Charge::Charged { .. }))
        .count();
    assert_eq!(charged, 10, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| match o {
        Charge::Charged { balance, .. } | Charge::Insufficient { balance } => *balance >= 0,
    }));
    assert_eq!(stored_balance(&app, user).await, 0);
    assert_eq!(ledger_sum(&app, user).await, 0);
    assert!(ledger::audit(&app.db).await.unwrap().is_empty());
    app.stop().await;
}

/// The same idempotency key charged 20 times at once: one ledger entry, one move.
async fn same_key_moves_coins_once(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = registered(&app, 4002).await;
    let pool = app.app_pool().await;
    ledger::credit(&pool, UserId(user), Coins(100), Kind::Grant, None, "seed")
        .await
        .unwrap();
    let charges = (0..20).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            ledger::charge(
                &pool,
                UserId(user),
                Coins(7),
                Kind::Generation,
                Some("g1"),
                "generation:1",
            )
            .await
        })
    });
    let outcomes: Vec<Charge> = futures::future::join_all(charges)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let first = outcomes[0].clone();
    assert!(
        matches!(first, Charge::Charged { balance: 93, .. }),
        "{first:?}"
    );
    assert!(
        outcomes.iter().all(|o| *o == first),
        "every retry returns the first outcome"
    );
    let entries = entry::Entity::find()
        .filter(entry::Column::IdempotencyKey.eq("generation:1"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(entries, 1);
    assert_eq!(stored_balance(&app, user).await, 93);
    // Credits too.
    let credits = (0..10).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            ledger::credit(
                &pool,
                UserId(user),
                Coins(5),
                Kind::Refund,
                None,
                "refund:1",
            )
            .await
        })
    });
    let fresh = futures::future::join_all(credits)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().as_ref().unwrap().fresh)
        .count();
    assert_eq!(fresh, 1);
    assert_eq!(stored_balance(&app, user).await, 98);
    assert_eq!(ledger_sum(&app, user).await, 98);
    // The same key racing for exactly the last coins: every caller sees the one charge, none
    // is told "insufficient".
    let other = registered(&app, 4006).await;
    ledger::credit(&pool, UserId(other), Coins(7), Kind::Grant, None, "seed-7")
        .await
        .unwrap();
    let racing = (0..20).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            ledger::charge(
                &pool,
                UserId(other),
                Coins(7),
                Kind::Generation,
                None,
                "last",
            )
            .await
        })
    });
    for outcome in futures::future::join_all(racing).await {
        assert!(matches!(
            outcome.unwrap().unwrap(),
            Charge::Charged { balance: 0, .. }
        ));
    }
    // A key reused for a different move is an error, not someone else's outcome.
    assert!(matches!(
        ledger::charge(
            &pool,
            UserId(user),
            Coins(1),
            Kind::Generation,
            None,
            "last"
        )
        .await,
        Err(ledger::LedgerError::KeyReused(_))
    ));
    assert!(matches!(
        ledger::credit(
            &pool,
            UserId(user),
            Coins(6),
            Kind::Refund,
            None,
            "refund:1"
        )
        .await,
        Err(ledger::LedgerError::KeyReused(_))
    ));
    // Nonsense amounts are refused.
    assert!(
        ledger::credit(
            &pool,
            UserId(user),
            Coins(ledger::MAX_AMOUNT + 1),
            Kind::Grant,
            None,
            "huge"
        )
        .await
        .is_err()
    );
    assert!(
        ledger::charge(
            &pool,
            UserId(user),
            Coins(0),
            Kind::Generation,
            None,
            "zero"
        )
        .await
        .is_err()
    );
    assert!(
        ledger::credit(&pool, UserId(user), Coins(-5), Kind::Grant, None, "neg")
            .await
            .is_err()
    );
    app.stop().await;
}

async fn audit_detects_a_hand_made_mismatch(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = registered(&app, 4003).await;
    let (ok, out, _) = app
        .run_cli(&["admin", "grant", "--telegram-id", "4003", "--coins", "30"])
        .await;
    assert!(ok, "{out}");
    let (ok, out, err) = app.run_cli(&["admin", "audit"]).await;
    assert!(ok, "{out} {err}");
    assert!(out.contains("ok: 1 users"), "{out}");
    app.db
        .execute_unprepared(&format!(
            "UPDATE balances SET coins = coins + 1 WHERE user_id = {user}"
        ))
        .await
        .unwrap();
    let (ok, out, err) = app.run_cli(&["admin", "audit"]).await;
    assert!(!ok, "audit must fail: {out}");
    assert!(
        err.contains("user 4003: balance 31, ledger sum 30"),
        "{err}"
    );
    assert_eq!(ledger::audit(&app.db).await.unwrap().len(), 1);
    // The database itself refuses a negative balance.
    let negative = app
        .db
        .execute_unprepared(&format!(
            "UPDATE balances SET coins = -1 WHERE user_id = {user}"
        ))
        .await;
    assert!(negative.is_err(), "CHECK (coins >= 0)");
    app.stop().await;
}

async fn balance_screen_shows_coins_prices_and_history(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = registered(&app, 4004).await;
    app.send_text(4004, "/balance").await;
    let screen = app.bot_messages(4004).await.pop().unwrap();
    let text = screen["text"].as_str().unwrap();
    assert!(text.contains("Баланс: 0 монет"), "{text}");
    assert!(
        text.contains("изображение — 5 монет") && text.contains("обучение аватара — 150 монет"),
        "{text}"
    );
    assert!(text.contains("Операций пока не было."), "{text}");
    assert_eq!(
        buttons(&screen),
        vec![
            ("⭐ Пополнить".into(), "topup".into()),
            ("🎁 Промокод".into(), "promo".into()),
            ("🔙 Главное меню".into(), "main_menu".into()),
        ]
    );
    let pool = app.app_pool().await;
    ledger::credit(&pool, UserId(user), Coins(21), Kind::Grant, None, "g")
        .await
        .unwrap();
    ledger::charge(&pool, UserId(user), Coins(5), Kind::Generation, None, "c")
        .await
        .unwrap();
    // From the main menu's 💰 button the screen replaces the menu in place.
    app.send_text(4004, "/start").await;
    let menu_id = app.bot_messages(4004).await.pop().unwrap()["message_id"]
        .as_i64()
        .unwrap();
    app.press(4004, menu_id, "balance").await;
    let screen = app.bot_messages(4004).await.pop().unwrap();
    assert_eq!(screen["message_id"].as_i64().unwrap(), menu_id);
    let text = screen["text"].as_str().unwrap();
    assert!(text.contains("Баланс: 16 монет"), "{text}");
    let history: Vec<&str> = text.lines().filter(|l| l.contains(" · ")).collect();
    assert_eq!(history.len(), 2, "{text}");
    assert!(history[0].starts_with("−5 генерация · "), "{history:?}");
    assert!(history[1].starts_with("+21 начисление · "), "{history:?}");
    // Only the last 10 entries are listed.
    for i in 0..12 {
        ledger::credit(
            &pool,
            UserId(user),
            Coins(1),
            Kind::Grant,
            None,
            &format!("more:{i}"),
        )
        .await
        .unwrap();
    }
    app.send_text(4004, "/balance").await;
    let text = app.bot_messages(4004).await.pop().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text.lines().filter(|l| l.contains(" · ")).count(), 10);
    app.stop().await;
}

async fn welcome_bonus_is_credited_once(storage: Storage) {
    let Some(app) = TestApp::spawn_with(storage, |f| {
        f.merge(Serialized::default("prices.welcome_bonus", 25))
    })
    .await
    else {
        return;
    };
    let user = registered(&app, 4005).await;
    app.send_text(4005, "/start").await;
    app.send_text(4005, "/start").await;
    assert_eq!(stored_balance(&app, user).await, 25);
    assert_eq!(ledger_sum(&app, user).await, 25);
    // The greeting says so once: when the coins were credited, not on every /start.
    let gifts: Vec<String> = app
        .bot_messages(4005)
        .await
        .iter()
        .filter_map(|m| m["text"].as_str())
        .filter(|t| t.contains('🎁'))
        .map(str::to_owned)
        .collect();
    assert_eq!(gifts.len(), 1, "{gifts:?}");
    assert!(gifts[0].contains("25 монет"), "{gifts:?}");
    app.stop().await;
}

/// Each user opens 💰 → 🎁 and sends the code. Returns the bot's reply to the code.
async fn redeem_via_chat(app: &TestApp, telegram_id: i64, code: &str) -> String {
    app.send_text(telegram_id, "/balance").await;
    let screen = app.bot_messages(telegram_id).await.pop().unwrap();
    app.press(telegram_id, screen["message_id"].as_i64().unwrap(), "promo")
        .await;
    app.send_text(telegram_id, code).await;
    app.bot_messages(telegram_id).await.pop().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// 20 users redeem a code limited to 5 uses at the same moment: exactly 5 get coins.
async fn concurrent_promo_redemptions_respect_the_limit(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let (ok, out, err) = app
        .run_cli(&[
            "admin",
            "promo",
            "create",
            "five",
            "--coins",
            "40",
            "--max-uses",
            "5",
        ])
        .await;
    assert!(ok, "{out}{err}");
    let users: Vec<i64> = (0..20).map(|i| 4100 + i).collect();
    for &u in &users {
        app.send_text(u, "/balance").await;
        let screen = app.bot_messages(u).await.pop().unwrap();
        app.press(u, screen["message_id"].as_i64().unwrap(), "promo")
            .await;
    }
    let sends = users.iter().map(|&u| app.send_text(u, "FIVE"));
    futures::future::join_all(sends).await;
    let mut redeemed = 0;
    for &u in &users {
        let reply = app.bot_messages(u).await.pop().unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned();
        if reply.contains("Промокод активирован: +40 монет") {
            redeemed += 1;
        } else {
            assert!(reply.contains("максимальное число раз"), "{reply}");
        }
    }
    assert_eq!(redeemed, 5);
    let code = promo_code::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code.uses, 5);
    assert!(ledger::audit(&app.db).await.unwrap().is_empty());
    app.stop().await;
}

async fn promo_code_outcomes(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    for args in [
        &["admin", "promo", "create", "Spring", "--coins", "50"][..],
        &[
            "admin",
            "promo",
            "create",
            "old",
            "--coins",
            "10",
            "--expires",
            "2020-01-01",
        ],
        &["admin", "promo", "create", "off", "--coins", "10"],
        &["admin", "promo", "disable", "OFF"],
    ] {
        let (ok, out, err) = app.run_cli(args).await;
        assert!(ok, "{args:?}: {out}{err}");
    }
    let user = registered(&app, 4200).await;
    // Case-insensitive, once per user.
    assert!(
        redeem_via_chat(&app, 4200, " spring ")
            .await
            .contains("+50 монет")
    );
    assert!(
        redeem_via_chat(&app, 4200, "SPRING")
            .await
            .contains("уже активировали")
    );
    assert_eq!(stored_balance(&app, user).await, 50);
    // A double tap: the same user redeems another code ten times at once.
    app.run_cli(&["admin", "promo", "create", "tap", "--coins", "3"])
        .await;
    let pool = app.app_pool().await;
    let taps = (0..10).map(|_| aisha::promo::redeem(&pool, user, "tap"));
    let credited = futures::future::join_all(taps)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(aisha::promo::Redeemed::Credited { .. })))
        .count();
    assert_eq!(credited, 1);
    assert_eq!(stored_balance(&app, user).await, 53);
    assert!(redeem_via_chat(&app, 4200, "old").await.contains("истёк"));
    assert!(
        redeem_via_chat(&app, 4200, "off")
            .await
            .contains("Такого промокода нет")
    );
    // An unknown code keeps the dialogue open: the next message is tried as a code too.
    assert!(
        redeem_via_chat(&app, 4201, "nope")
            .await
            .contains("Такого промокода нет")
    );
    app.send_text(4201, "spring").await;
    let reply = app.bot_messages(4201).await.pop().unwrap();
    assert!(
        reply["text"].as_str().unwrap().contains("+50 монет"),
        "{reply}"
    );
    // Guessing is limited: the fifth wrong code in an hour closes the dialogue.
    for i in 0..4 {
        assert!(
            redeem_via_chat(&app, 4204, &format!("guess{i}"))
                .await
                .contains("Такого промокода нет")
        );
    }
    assert!(
        redeem_via_chat(&app, 4204, "guess4")
            .await
            .contains("Слишком много неверных")
    );
    app.send_text(4204, "spring").await;
    assert!(
        redeem_via_chat(&app, 4204, "spring")
            .await
            .contains("Слишком много неверных"),
        "even the right code waits out the hour"
    );
    assert_eq!(stored_balance(&app, registered(&app, 4204).await).await, 0);
    // Cancel leaves the dialogue: the next text is just text.
    app.send_text(4202, "/balance").await;
    let screen = app.bot_messages(4202).await.pop().unwrap();
    let id = screen["message_id"].as_i64().unwrap();
    app.press(4202, id, "promo").await;
    let pressed = app.press(4202, id, "cancel_input").await;
    assert_eq!(pressed["answer"]["text"], "Ввод отменён.");
    app.send_text(4202, "spring").await;
    let reply = app.bot_messages(4202).await.pop().unwrap();
    assert!(
        reply["text"].as_str().unwrap().contains("главное меню"),
        "{reply}"
    );
    // English texts.
    app.send_text_lang(4203, "/balance", "en").await;
    let screen = app.bot_messages(4203).await.pop().unwrap();
    assert!(
        screen["text"]
            .as_str()
            .unwrap()
            .contains("Balance: 0 coins")
    );
    app.press(4203, screen["message_id"].as_i64().unwrap(), "promo")
        .await;
    app.send_text(4203, "spring").await;
    let reply = app.bot_messages(4203).await.pop().unwrap();
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("Promo code applied: +50 coins"),
        "{reply}"
    );
    assert!(ledger::audit(&app.db).await.unwrap().is_empty());
    app.stop().await;
}

/// The bot waits for a code; it is redeployed; the code still counts.
async fn promo_dialogue_survives_a_restart(storage: Storage) {
    let Some(mut app) = TestApp::spawn(storage).await else {
        return;
    };
    let (ok, ..) = app
        .run_cli(&["admin", "promo", "create", "AFTER", "--coins", "7"])
        .await;
    assert!(ok);
    app.send_text(4300, "/balance").await;
    let screen = app.bot_messages(4300).await.pop().unwrap();
    app.press(4300, screen["message_id"].as_i64().unwrap(), "promo")
        .await;
    app.restart().await;
    app.send_text(4300, "after").await;
    let reply = app.bot_messages(4300).await.pop().unwrap();
    assert!(
        reply["text"].as_str().unwrap().contains("+7 монет"),
        "{reply}"
    );
    app.stop().await;
}

async fn admin_cli_grants_reports_and_manages_codes(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let user = registered(&app, 4400).await;
    let grant = [
        "admin",
        "grant",
        "--telegram-id",
        "4400",
        "--coins",
        "12",
        "--reason",
        "sorry",
        "--key",
        "ticket-1",
    ];
    let (ok, out, _) = app.run_cli(&grant).await;
    assert!(
        ok && out.contains("granted 12 coins to 4400; balance 12"),
        "{out}"
    );
    let (ok, out, _) = app.run_cli(&grant).await;
    assert!(ok && out.contains("already granted"), "{out}");
    assert_eq!(stored_balance(&app, user).await, 12);
    let (ok, out, _) = app.run_cli(&["admin", "user", "4400"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("balance 12 coins; 1 ledger entries; 0 Stars payments"),
        "{out}"
    );
    assert!(out.contains("grant") && out.contains("sorry"), "{out}");
    // Errors exit non-zero with a clear message.
    registered(&app, 4401).await;
    let reuse = [
        "admin",
        "grant",
        "--telegram-id",
        "4401",
        "--coins",
        "12",
        "--key",
        "ticket-1",
    ];
    let (ok, _, err) = app.run_cli(&reuse).await;
    assert!(
        !ok && err.contains("already used for a different move"),
        "{err}"
    );
    let (ok, out, _) = app
        .run_cli(&["admin", "grant", "--telegram-id", "4401", "--coins", "1"])
        .await;
    assert!(
        ok && out.contains("(key "),
        "the generated key is printed: {out}"
    );
    let (ok, _, err) = app.run_cli(&["admin", "user", "999"]).await;
    assert!(!ok && err.contains("no user with Telegram id 999"), "{err}");
    let (ok, _, err) = app
        .run_cli(&["admin", "grant", "--telegram-id", "4400", "--coins", "-3"])
        .await;
    assert!(!ok && err.contains("between 1 and"), "{err}");
    let (ok, _, err) = app
        .run_cli(&["admin", "promo", "create", "bad code", "--coins", "5"])
        .await;
    assert!(!ok && err.contains("1-32 characters"), "{err}");
    let (ok, ..) = app
        .run_cli(&["admin", "promo", "create", "dup", "--coins", "5"])
        .await;
    assert!(ok);
    let (ok, _, err) = app
        .run_cli(&["admin", "promo", "create", "DUP", "--coins", "5"])
        .await;
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = app
        .run_cli(&[
            "admin",
            "promo",
            "create",
            "x1",
            "--coins",
            "5",
            "--expires",
            "soon",
        ])
        .await;
    assert!(!ok && err.contains("YYYY-MM-DD"), "{err}");
    let (ok, _, err) = app.run_cli(&["admin", "promo", "disable", "missing"]).await;
    assert!(!ok && err.contains("no promo code MISSING"), "{err}");
    app.run_cli(&[
        "admin",
        "promo",
        "create",
        "limited",
        "--coins",
        "5",
        "--max-uses",
        "3",
        "--expires",
        "2099-01-01",
    ])
    .await;
    let (ok, out, _) = app.run_cli(&["admin", "promo", "list"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("LIMITED") && out.contains("used 0/3") && out.contains("expires 2099-01-01"),
        "{out}"
    );
    assert!(
        out.contains("DUP") && out.contains("used 0/∞") && out.contains("active"),
        "{out}"
    );
    app.stop().await;
}
