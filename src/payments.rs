//! Top-up with Telegram Stars: packages → invoice → pre-checkout → successful payment → coins.
//!
//! Every invoice is a row; its id is the payload. The pre-checkout answer compares the payload's
//! invoice with the paying user, the currency and the amount, so a forged payload is refused.
//! A successful payment is credited once per `telegram_payment_charge_id`, however often
//! Telegram (or anyone) delivers it.

use crate::domain::Coins;
use chrono::Utc;
use entity::{invoice, payment, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, TransactionTrait, sea_query::OnConflict,
};
use teloxide::{
    Bot,
    payloads::{AnswerPreCheckoutQuerySetters, SendInvoiceSetters},
    prelude::Requester,
    types::{
        CallbackQuery, LabeledPrice, Message, PreCheckoutQuery, SuccessfulPayment,
        TelegramTransactionId, UserId,
    },
};

use crate::{
    domain,
    ledger::{self, Charge, Kind, LedgerError},
    state::AppState,
    telegram::{callback::PaymentsAction, ctx::Ctx, error::HandlerError, keyboards, ui},
    users,
};

/// Telegram Stars' currency code.
pub const STARS: &str = "XTR";

const PENDING: &str = "pending";
const PAID: &str = "paid";
const REFUNDED: &str = "refunded";
const UNMATCHED: &str = "unmatched";

fn payload(invoice_id: i64) -> String {
    format!("inv:{invoice_id}")
}

fn parse_payload(payload: &str) -> Option<i64> {
    let id = payload.strip_prefix("inv:")?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// ⭐ top up: the configured packages.
pub async fn show_packages(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    let keyboard = keyboards::packages(t, &ctx.state.settings.payments.packages);
    ui::show(ctx.bot(), ctx.chat, origin, t.top_up, keyboard).await?;
    Ok(())
}

/// Package `index` pressed: record an invoice and send it. A stale index re-shows the list.
pub async fn send_invoice(
    ctx: &Ctx<'_>,
    index: u8,
    origin: Option<&Message>,
) -> Result<(), HandlerError> {
    let Some(package) = ctx
        .state
        .settings
        .payments
        .packages
        .get(usize::from(index))
        .copied()
    else {
        return show_packages(ctx, origin).await;
    };
    let row = invoice::ActiveModel {
        user_id: Set(ctx.user.id),
        stars: Set(package.stars),
        coins: Set(package.coins),
        status: Set(PENDING.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    let invoice = invoice::Entity::insert(row)
        .exec_with_returning(&ctx.state.db)
        .await?;
    let t = ctx.t();
    let title = (t.invoice_title)(package.coins);
    let stars = u32::try_from(package.stars).unwrap_or(u32::MAX);
    ctx.bot()
        .send_invoice(
            ctx.chat,
            title.clone(),
            (t.invoice_description)(package.stars, package.coins),
            payload(invoice.id),
            STARS,
            [LabeledPrice::new(title, stars)],
        )
        // Stars need no payment provider: the token is empty.
        .provider_token("")
        .await?;
    Ok(())
}

/// Why a pre-checkout (or a payment) does not match its invoice.
fn verify(
    invoice: Option<&invoice::Model>,
    payer: Option<&user::Model>,
    currency: &str,
    total: u32,
) -> Result<(), &'static str> {
    let invoice = invoice.ok_or("unknown invoice")?;
    let payer = payer.ok_or("unknown payer")?;
    if invoice.user_id != payer.id {
        return Err("invoice belongs to another user");
    }
    if currency != STARS || i64::from(total) != invoice.stars {
        return Err("amount or currency differs from the invoice");
    }
    Ok(())
}

async fn load(
    db: &DatabaseConnection,
    payload: &str,
    telegram_id: u64,
) -> Result<(Option<invoice::Model>, Option<user::Model>), DbErr> {
    let invoice = match parse_payload(payload) {
        Some(id) => invoice::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let payer = user::Entity::find()
        .filter(user::Column::TelegramId.eq(i64::try_from(telegram_id).unwrap_or(-1)))
        .one(db)
        .await?;
    Ok((invoice, payer))
}

/// Telegram asks whether to take the user's Stars; it must be answered within 10 seconds, so
/// even a database failure gets an answer (a refusal) rather than silence.
pub async fn on_pre_checkout(
    state: &AppState,
    query: &PreCheckoutQuery,
) -> Result<(), HandlerError> {
    let verdict = match load(&state.db, &query.invoice_payload, query.from.id.0).await {
        Ok((invoice, payer)) => verify(
            invoice.as_ref(),
            payer.as_ref(),
            &query.currency,
            query.total_amount,
        )
        .and_then(|()| match invoice {
            Some(i) if i.status != PENDING => Err("invoice already paid"),
            _ => Ok(()),
        }),
        Err(e) => {
            tracing::error!(error = %e, "pre-checkout could not be checked; refusing it");
            Err("internal error")
        }
    };
    let request = state
        .bot
        .answer_pre_checkout_query(query.id.clone(), verdict.is_ok());
    match verdict {
        Ok(()) => request.await?,
        Err(why) => {
            tracing::warn!(why, payload = %query.invoice_payload, "pre-checkout refused");
            let id = i64::try_from(query.from.id.0).unwrap_or_default();
            let lang = users::lang_for(&state.db, id, query.from.language_code.as_deref()).await;
            let t = lang.texts();
            request.error_message(t.invoice_invalid).await?
        }
    };
    Ok(())
}

/// Stars were taken: record the payment and credit its coins, once per charge id.
pub async fn on_successful_payment(
    ctx: &Ctx<'_>,
    paid: &SuccessfulPayment,
) -> Result<(), HandlerError> {
    let db = &ctx.state.db;
    let charge_id = paid.telegram_payment_charge_id.0.as_str();
    let (invoice, payer) = load(
        db,
        &paid.invoice_payload,
        ctx.user.telegram_id.unsigned_abs(),
    )
    .await?;
    let (Ok(()), Some(invoice)) = (
        verify(
            invoice.as_ref(),
            payer.as_ref(),
            &paid.currency,
            paid.total_amount,
        ),
        invoice.clone(),
    ) else {
        // The pre-checkout vouched for it, so this should not happen. The Stars are taken:
        // record the payment (nothing credited) so `aisha admin refund-stars` can return them.
        tracing::error!(charge_id, payload = %paid.invoice_payload, "payment matches no invoice; recorded as unmatched");
        record_unmatched(
            db,
            ctx.user.id,
            invoice.map(|i| i.id),
            charge_id,
            paid.total_amount,
        )
        .await?;
        let t = ctx.t();
        ui::send(
            ctx.bot(),
            ctx.chat,
            t.payment_unmatched,
            keyboards::balance_or_menu(t),
        )
        .await?;
        return Ok(());
    };
    let credited = record(db, &invoice, charge_id, paid.total_amount).await?;
    let t = ctx.t();
    ui::send(
        ctx.bot(),
        ctx.chat,
        &(t.payment_received)(invoice.coins, credited),
        keyboards::balance_or_menu(t),
    )
    .await?;
    Ok(())
}

async fn record_unmatched(
    db: &DatabaseConnection,
    user_id: i64,
    invoice_id: Option<i64>,
    charge_id: &str,
    stars: u32,
) -> Result<(), DbErr> {
    let row = payment::ActiveModel {
        user_id: Set(user_id),
        invoice_id: Set(invoice_id),
        telegram_payment_charge_id: Set(charge_id.to_owned()),
        stars: Set(i64::from(stars)),
        coins: Set(0),
        status: Set(UNMATCHED.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    insert_payment(db, row).await
}

/// Records a payment once per charge id (a second delivery inserts nothing).
async fn insert_payment<C: ConnectionTrait>(
    db: &C,
    row: payment::ActiveModel,
) -> Result<(), DbErr> {
    payment::Entity::insert(row)
        .on_conflict(
            OnConflict::column(payment::Column::TelegramPaymentChargeId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// In one transaction: the payment row (once per charge id), the credit, the invoice marked paid.
/// Returns the balance after the credit.
async fn record(
    db: &DatabaseConnection,
    invoice: &invoice::Model,
    charge_id: &str,
    stars: u32,
) -> Result<i64, LedgerError> {
    let txn = db.begin().await?;
    let row = payment::ActiveModel {
        user_id: Set(invoice.user_id),
        invoice_id: Set(Some(invoice.id)),
        telegram_payment_charge_id: Set(charge_id.to_owned()),
        stars: Set(i64::from(stars)),
        coins: Set(invoice.coins),
        status: Set(PAID.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    insert_payment(&txn, row).await?;
    let credit = ledger::credit(
        &txn,
        domain::UserId(invoice.user_id),
        Coins(invoice.coins),
        Kind::TopUp,
        Some(charge_id),
        &format!("topup:{charge_id}"),
    )
    .await?;
    invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, PAID.into())
        .filter(invoice::Column::Id.eq(invoice.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(credit.balance)
}

/// What `aisha admin refund-stars` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Refunded {
    /// Stars returned and coins taken back; the user's balance after.
    Done {
        telegram_id: i64,
        stars: i64,
        coins: i64,
        balance: i64,
    },
    AlreadyRefunded,
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no payment with charge id {0}")]
    NotFound(String),
    #[error(
        "the user has already spent the coins: balance {balance}, the payment bought {coins}; \
         nothing was refunded"
    )]
    Spent { balance: i64, coins: i64 },
    #[error("Telegram refused the refund ({0}); nothing was changed")]
    Telegram(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Refunds a Stars payment: takes its coins back (refusing when they were spent) and asks
/// Telegram to return the Stars. The debit's transaction stays open across the Telegram call and
/// commits only when Telegram agreed, so a refusal changes nothing and a re-run starts afresh; a
/// crash after Telegram refunded is finished by the re-run (Telegram answers
/// CHARGE_ALREADY_REFUNDED).
pub async fn refund_stars(
    db: &DatabaseConnection,
    bot: &Bot,
    charge_id: &str,
) -> Result<Refunded, RefundError> {
    let payment = payment::Entity::find()
        .filter(payment::Column::TelegramPaymentChargeId.eq(charge_id))
        .one(db)
        .await?
        .ok_or_else(|| RefundError::NotFound(charge_id.to_owned()))?;
    if payment.status == REFUNDED {
        return Ok(Refunded::AlreadyRefunded);
    }
    let payer = user::Entity::find_by_id(payment.user_id)
        .one(db)
        .await?
        .ok_or_else(|| RefundError::NotFound(charge_id.to_owned()))?;
    let txn = db.begin().await?;
    let mut balance = ledger::balance(&txn, domain::UserId(payment.user_id)).await?;
    // An unmatched payment credited nothing, so there is nothing to take back.
    if payment.coins > 0 {
        match ledger::charge(
            &txn,
            domain::UserId(payment.user_id),
            Coins(payment.coins),
            Kind::StarsRefund,
            Some(charge_id),
            &format!("stars_refund:{charge_id}"),
        )
        .await?
        {
            Charge::Charged { balance: after, .. } => balance = after,
            Charge::Insufficient { balance } => {
                txn.rollback().await?;
                return Err(RefundError::Spent {
                    balance,
                    coins: payment.coins,
                });
            }
        }
    }
    let result = bot
        .refund_star_payment(
            UserId(payer.telegram_id.unsigned_abs()),
            TelegramTransactionId(charge_id.to_owned()),
        )
        .await;
    if let Err(e) = result {
        let text = e.to_string();
        if !text.contains("CHARGE_ALREADY_REFUNDED") {
            txn.rollback().await?;
            return Err(RefundError::Telegram(text));
        }
    }
    mark_refunded(&txn, payment.id).await?;
    txn.commit().await?;
    Ok(Refunded::Done {
        telegram_id: payer.telegram_id,
        stars: payment.stars,
        coins: payment.coins,
        balance,
    })
}

async fn mark_refunded<C: ConnectionTrait>(db: &C, payment_id: i64) -> Result<(), DbErr> {
    payment::Entity::update_many()
        .col_expr(payment::Column::Status, REFUNDED.into())
        .col_expr(payment::Column::RefundedAt, Some(Utc::now()).into())
        .filter(payment::Column::Id.eq(payment_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The top-up buttons (see `PaymentsAction`).
pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: PaymentsAction,
) -> Result<(), HandlerError> {
    ui::answer(ctx.bot(), query, None, false).await;
    match action {
        PaymentsAction::Packages => show_packages(ctx, origin).await,
        PaymentsAction::Package(index) => send_invoice(ctx, index, origin).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_reject_garbage() {
        assert_eq!(parse_payload(&payload(42)), Some(42));
        for bad in ["", "inv:", "inv:x", "inv:-1", "42", "inv:1:2", "inv: 1"] {
            assert_eq!(parse_payload(bad), None, "{bad}");
        }
    }
}
