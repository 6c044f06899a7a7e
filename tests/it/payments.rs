//! Top-up with Telegram Stars, end to end through the sandbox: packages, invoice, pre-checkout,
//! successful payment, duplicates, forged payloads, refunds.

use aisha::domain::{Coins, UserId};
use aisha::ledger::{self, Kind};
use entity::{invoice, ledger as entry, payment};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    both_storages,
    helpers::{SECRET, Storage, TestApp, buttons},
};

both_storages!(
    unmatched_payment_is_recorded_and_refundable,
    stars_top_up_credits_once,
    forged_or_mismatched_payments_are_refused,
    refund_stars_takes_coins_back_once,
);

/// /balance → ⭐ → package `index`; returns the invoice message.
pub async fn open_invoice(app: &TestApp, user: i64, index: u8) -> Value {
    app.send_text(user, "/balance").await;
    let screen = app.bot_messages(user).await.pop().unwrap();
    let id = screen["message_id"].as_i64().unwrap();
    app.press(user, id, "topup").await;
    let packages = app.bot_messages(user).await.pop().unwrap();
    assert_eq!(
        packages["message_id"].as_i64().unwrap(),
        id,
        "edited in place"
    );
    let pressed = app.press(user, id, &format!("topup:{index}")).await;
    assert_eq!(pressed["webhook_status"], 200);
    let invoice = app.bot_messages(user).await.pop().unwrap();
    assert!(!invoice["invoice"].is_null(), "{invoice}");
    invoice
}

pub async fn pay(app: &TestApp, user: i64, body: Value) -> Value {
    app.http
        .post(format!("{}/users/{user}/pay", app.sandbox))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn coins(app: &TestApp, telegram_id: i64) -> i64 {
    ledger::balance(&app.db, UserId(app.user_id(telegram_id).await))
        .await
        .unwrap()
}

async fn stars_top_up_credits_once(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    app.send_text(5001, "/balance").await;
    let id = app.bot_messages(5001).await.pop().unwrap()["message_id"]
        .as_i64()
        .unwrap();
    app.press(5001, id, "topup").await;
    let packages = app.bot_messages(5001).await.pop().unwrap();
    assert!(
        packages["text"]
            .as_str()
            .unwrap()
            .contains("Telegram Stars")
    );
    assert_eq!(
        buttons(&packages),
        vec![
            ("50 ⭐ → 100 монет".into(), "topup:0".into()),
            ("100 ⭐ → 220 монет".into(), "topup:1".into()),
            ("250 ⭐ → 600 монет".into(), "topup:2".into()),
            ("💰 Баланс".into(), "balance".into()),
        ]
    );
    // A stale package index (the config changed since) shows today's list instead.
    let stale = app.press(5001, id, "topup:7").await;
    assert_eq!(stale["webhook_status"], 200);

    let invoice = open_invoice(&app, 5001, 1).await;
    assert_eq!(invoice["invoice"]["currency"], "XTR");
    assert_eq!(invoice["invoice"]["total_amount"], 100);
    assert!(
        invoice["invoice"]["title"]
            .as_str()
            .unwrap()
            .contains("220 монет")
    );

    let paid = pay(&app, 5001, json!({ "message_id": invoice["message_id"] })).await;
    assert_eq!(paid["pre_checkout"]["ok"], true, "{paid}");
    assert_eq!(paid["payment_webhook_status"], 200, "{paid}");
    let charge = paid["charge_id"].as_str().unwrap().to_owned();
    assert_eq!(coins(&app, 5001).await, 220);
    let confirmation = app.bot_messages(5001).await.pop().unwrap();
    assert_eq!(
        confirmation["text"],
        "✅ Оплата прошла: +220 монет\n💰 Баланс: 220 монет"
    );

    let row = payment::Entity::find()
        .filter(payment::Column::TelegramPaymentChargeId.eq(&charge))
        .one(&app.db)
        .await
        .unwrap()
        .expect("payment recorded");
    assert_eq!(
        (row.stars, row.coins, row.status.as_str()),
        (100, 220, "paid")
    );
    let inv = invoice::Entity::find_by_id(row.invoice_id.expect("matched"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv.status, "paid");

    // Telegram redelivers the payment update; and a second update carries the same charge.
    let update_id = paid["payment_update_id"].as_i64().unwrap();
    assert_eq!(app.redeliver(update_id).await["webhook_status"], 200);
    let copy = json!({
        "update_id": update_id + 1000,
        "message": {
            "message_id": 999, "date": 1_700_000_000,
            "chat": { "id": 5001, "type": "private", "first_name": "User" },
            "from": { "id": 5001, "is_bot": false, "first_name": "User" },
            "successful_payment": {
                "currency": "XTR", "total_amount": 100,
                "invoice_payload": format!("inv:{}", inv.id),
                "telegram_payment_charge_id": charge, "provider_payment_charge_id": ""
            }
        }
    });
    assert_eq!(
        app.post_webhook(copy.to_string(), Some(SECRET))
            .await
            .status(),
        200
    );
    assert_eq!(coins(&app, 5001).await, 220, "credited once");
    let entries = entry::Entity::find()
        .filter(entry::Column::Kind.eq("topup"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(entries, 1);

    // The same invoice can't be paid twice.
    let twice = pay(&app, 5001, json!({ "message_id": invoice["message_id"] })).await;
    assert_eq!(twice["pre_checkout"]["ok"], false, "{twice}");
    assert!(twice["charge_id"].is_null());
    assert_eq!(coins(&app, 5001).await, 220);
    assert!(ledger::audit(&app.db).await.unwrap().is_empty());
    app.stop().await;
}

async fn forged_or_mismatched_payments_are_refused(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let invoice = open_invoice(&app, 5101, 0).await;
    let own = invoice::Entity::find().one(&app.db).await.unwrap().unwrap();
    app.send_text(5102, "/start").await;
    for (user, body) in [
        (
            5101,
            json!({ "payload": "inv:999999", "currency": "XTR", "total_amount": 50 }),
        ),
        (
            5101,
            json!({ "payload": "garbage", "currency": "XTR", "total_amount": 50 }),
        ),
        (
            5101,
            json!({ "payload": format!("inv:{}", own.id), "currency": "XTR", "total_amount": 1 }),
        ),
        (
            5101,
            json!({ "payload": format!("inv:{}", own.id), "currency": "USD", "total_amount": 50 }),
        ),
        // Another user pays with this user's invoice payload.
        (
            5102,
            json!({ "payload": format!("inv:{}", own.id), "currency": "XTR", "total_amount": 50 }),
        ),
    ] {
        let paid = pay(&app, user, body.clone()).await;
        assert_eq!(paid["pre_checkout"]["ok"], false, "{body}: {paid}");
        assert!(
            paid["pre_checkout"]["error_message"]
                .as_str()
                .unwrap()
                .contains("не действителен"),
            "{paid}"
        );
        assert!(paid["charge_id"].is_null());
    }
    // The language chosen in ⚙️, not Telegram's, words the refusal.
    app.send_text(5102, "/settings").await;
    let screen = app.bot_messages(5102).await.last().cloned().unwrap();
    let id = screen["message_id"].as_i64().unwrap();
    app.press(5102, id, "set_lang").await;
    app.press(5102, id, "set_lang:en").await;
    let body =
        json!({ "payload": format!("inv:{}", own.id), "currency": "XTR", "total_amount": 50 });
    let paid = pay(&app, 5102, body).await;
    let said = paid["pre_checkout"]["error_message"].as_str().unwrap();
    assert!(said.contains("no longer valid"), "{paid}");
    assert_eq!(payment::Entity::find().count(&app.db).await.unwrap(), 0);
    assert_eq!(entry::Entity::find().count(&app.db).await.unwrap(), 0);
    // The genuine payment still goes through.
    let paid = pay(&app, 5101, json!({ "message_id": invoice["message_id"] })).await;
    assert_eq!(paid["pre_checkout"]["ok"], true, "{paid}");
    assert_eq!(coins(&app, 5101).await, 100);
    app.stop().await;
}

async fn refund_stars_takes_coins_back_once(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let invoice = open_invoice(&app, 5201, 0).await;
    let paid = pay(&app, 5201, json!({ "message_id": invoice["message_id"] })).await;
    let charge = paid["charge_id"].as_str().unwrap().to_owned();
    assert_eq!(coins(&app, 5201).await, 100);

    // Telegram refuses once: nothing changes, and a re-run succeeds.
    app.fault(json!({ "method": "refundStarPayment", "error_code": 400, "description": "Bad Request: REFUND_TEMPORARILY_UNAVAILABLE", "times": 1 })).await;
    let (ok, _, err) = app.run_cli(&["admin", "refund-stars", &charge]).await;
    assert!(!ok && err.contains("nothing was changed"), "{err}");
    assert_eq!(coins(&app, 5201).await, 100);
    let (ok, out, err) = app.run_cli(&["admin", "refund-stars", &charge]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("refunded 50 ⭐ to 5201 and took back 100 coins; balance 0"),
        "{out}"
    );
    assert_eq!(coins(&app, 5201).await, 0);
    let refunds = app
        .calls()
        .await
        .into_iter()
        .filter(|c| c["method"] == "refundStarPayment" && c["ok"] == true)
        .count();
    assert_eq!(refunds, 1);
    let (ok, out, _) = app.run_cli(&["admin", "refund-stars", &charge]).await;
    assert!(ok && out.contains("already refunded"), "{out}");
    assert_eq!(coins(&app, 5201).await, 0);

    // Coins already spent: refused, nothing changes, Telegram is not asked.
    let invoice = open_invoice(&app, 5201, 0).await;
    let paid = pay(&app, 5201, json!({ "message_id": invoice["message_id"] })).await;
    let charge = paid["charge_id"].as_str().unwrap().to_owned();
    let user = app.user_id(5201).await;
    ledger::charge(
        &app.app_pool().await,
        UserId(user),
        Coins(60),
        Kind::Generation,
        None,
        "spent",
    )
    .await
    .unwrap();
    let (ok, _, err) = app.run_cli(&["admin", "refund-stars", &charge]).await;
    assert!(!ok, "must refuse");
    assert!(
        err.contains("already spent the coins: balance 40, the payment bought 100"),
        "{err}"
    );
    assert_eq!(coins(&app, 5201).await, 40);
    let refunds = app
        .calls()
        .await
        .into_iter()
        .filter(|c| c["method"] == "refundStarPayment")
        .count();
    assert_eq!(
        refunds, 2,
        "not asked again (one refusal and one refund before)"
    );

    let (ok, _, err) = app.run_cli(&["admin", "refund-stars", "nope"]).await;
    assert!(
        !ok && err.contains("no payment with charge id nope"),
        "{err}"
    );
    assert!(ledger::audit(&app.db).await.unwrap().is_empty());
    app.stop().await;
}

/// A successful payment that matches no invoice of the payer's (should never happen after the
/// pre-checkout): nothing is credited, the payment is kept, the user is told, and it refunds.
async fn unmatched_payment_is_recorded_and_refundable(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    open_invoice(&app, 5301, 0).await;
    let own = invoice::Entity::find().one(&app.db).await.unwrap().unwrap();
    app.send_text(5302, "/start").await;
    let update = json!({
        "update_id": 777_001,
        "message": {
            "message_id": 50, "date": 1_700_000_000,
            "chat": { "id": 5302, "type": "private", "first_name": "Eve" },
            "from": { "id": 5302, "is_bot": false, "first_name": "Eve" },
            "successful_payment": {
                "currency": "XTR", "total_amount": 50,
                "invoice_payload": format!("inv:{}", own.id),
                "telegram_payment_charge_id": "stx-unmatched", "provider_payment_charge_id": ""
            }
        }
    });
    assert_eq!(
        app.post_webhook(update.to_string(), Some(SECRET))
            .await
            .status(),
        200
    );
    assert_eq!(coins(&app, 5302).await, 0);
    assert_eq!(coins(&app, 5301).await, 0);
    let row = payment::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(
        (row.status.as_str(), row.coins, row.stars),
        ("unmatched", 0, 50)
    );
    let told = app.bot_messages(5302).await.pop().unwrap();
    assert!(
        told["text"].as_str().unwrap().contains("не совпала"),
        "{told}"
    );
    assert_eq!(
        invoice::Entity::find_by_id(own.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .status,
        "pending"
    );
    // The sandbox knows no such charge, so Telegram refuses: nothing changes, it says so.
    let (ok, _, err) = app
        .run_cli(&["admin", "refund-stars", "stx-unmatched"])
        .await;
    assert!(
        !ok && err.contains("CHARGE_NOT_FOUND") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(
        payment::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .status,
        "unmatched"
    );
    app.stop().await;
}
