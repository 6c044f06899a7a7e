//! Promo codes: the 🎁 dialogue, redemption, and the operator's create/list/disable.
//!
//! Codes are case-insensitive (stored upper-case). A user redeems a code once (a unique index),
//! and the global limit holds under any concurrency: `uses` rises only through a conditional
//! update, in the same transaction as the redemption row and the credit.

use crate::domain::Coins;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{promo_code, promo_redemption};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use teloxide::types::{CallbackQuery, Message};

use crate::{
    dialogue::{self, Dialogue},
    domain::UserId,
    kv::KvStore,
    ledger::{self, Kind, LedgerError},
    telegram::{callback::PromoAction, ctx::Ctx, error::HandlerError, keyboards, ui},
};

/// The longest code accepted; longer input cannot be a code.
const MAX_CODE: usize = 32;

/// The canonical form of a code: trimmed, upper-case, `A-Z 0-9 _ -` only.
#[must_use]
pub fn normalize(input: &str) -> Option<String> {
    let code = input.trim();
    // ASCII is checked before upper-casing: "ß".to_uppercase() is "SS".
    let valid = (1..=MAX_CODE).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then(|| code.to_ascii_uppercase())
}

/// What a redemption attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// Credited; the balance after.
    Credited {
        coins: i64,
        balance: i64,
    },
    Unknown,
    Expired,
    Exhausted,
    AlreadyUsed,
}

/// Redeems `input` for the user: at most once per user, never past the code's limit.
pub async fn redeem(
    db: &DatabaseConnection,
    user_id: i64,
    input: &str,
) -> Result<Redeemed, LedgerError> {
    let Some(code) = normalize(input) else {
        return Ok(Redeemed::Unknown);
    };
    let Some(promo) = promo_code::Entity::find()
        .filter(promo_code::Column::Code.eq(&code))
        .one(db)
        .await?
        .filter(|p| !p.disabled)
    else {
        return Ok(Redeemed::Unknown);
    };
    if promo.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Ok(Redeemed::Expired);
    }
    let txn = db.begin().await?;
    let claimed = promo_redemption::Entity::insert(promo_redemption::ActiveModel {
        promo_code_id: Set(promo.id),
        user_id: Set(user_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            promo_redemption::Column::PromoCodeId,
            promo_redemption::Column::UserId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if claimed == 0 {
        txn.rollback().await?;
        return Ok(Redeemed::AlreadyUsed);
    }
    let counted = promo_code::Entity::update_many()
        .col_expr(
            promo_code::Column::Uses,
            Expr::col(promo_code::Column::Uses).add(1),
        )
        .filter(promo_code::Column::Id.eq(promo.id))
        .filter(
            promo_code::Column::MaxUses
                .is_null()
                .or(Expr::col(promo_code::Column::Uses).lt(Expr::col(promo_code::Column::MaxUses))),
        )
        .exec(&txn)
        .await?;
    if counted.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(Redeemed::Exhausted);
    }
    let credit = ledger::credit(
        &txn,
        UserId(user_id),
        Coins(promo.coins),
        Kind::Promo,
        Some(&promo.code),
        &format!("promo:{}:{user_id}", promo.id),
    )
    .await?;
    txn.commit().await?;
    Ok(Redeemed::Credited {
        coins: promo.coins,
        balance: credit.balance,
    })
}

/// 🎁 pressed: wait for a code.
pub async fn ask(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    dialogue::set(&ctx.state.db, ctx.telegram_id(), &Dialogue::PromoCode).await?;
    let t = ctx.t();
    ui::show(
        ctx.bot(),
        ctx.chat,
        origin,
        t.promo_prompt,
        keyboards::cancel_input(t),
    )
    .await?;
    Ok(())
}

/// Wrong codes a user may send per window before the dialogue closes (codes can't be guessed).
const MAX_WRONG: i64 = 5;
const WRONG_WINDOW: Duration = Duration::from_secs(3600);

/// The text the user sent while a code was expected. A typo keeps the dialogue open, up to
/// [`MAX_WRONG`] wrong codes an hour.
pub async fn on_text(ctx: &Ctx<'_>, text: &str) -> Result<(), HandlerError> {
    let t = ctx.t();
    let kv = &ctx.state.kv.bot;
    let wrong_key = format!("promo_wrong:{}", ctx.user.telegram_id);
    let wrong = kv
        .get(&wrong_key)
        .await?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if wrong >= MAX_WRONG {
        return too_many(ctx).await;
    }
    let outcome = redeem(&ctx.state.db, ctx.user.id, text).await?;
    if outcome == Redeemed::Unknown && kv.incr(&wrong_key, WRONG_WINDOW).await? >= MAX_WRONG {
        return too_many(ctx).await;
    }
    let (reply, keyboard) = match outcome {
        Redeemed::Unknown => (t.promo_unknown.to_owned(), keyboards::cancel_input(t)),
        Redeemed::Credited { coins, balance } => (
            (t.promo_redeemed)(coins, balance),
            keyboards::balance_or_menu(t),
        ),
        Redeemed::Expired => (t.promo_expired.to_owned(), keyboards::balance_or_menu(t)),
        Redeemed::Exhausted => (t.promo_exhausted.to_owned(), keyboards::balance_or_menu(t)),
        Redeemed::AlreadyUsed => (
            t.promo_already_used.to_owned(),
            keyboards::balance_or_menu(t),
        ),
    };
    if outcome != Redeemed::Unknown {
        dialogue::clear(&ctx.state.db, ctx.telegram_id()).await?;
    }
    ui::send(ctx.bot(), ctx.chat, &reply, keyboard).await?;
    Ok(())
}

async fn too_many(ctx: &Ctx<'_>) -> Result<(), HandlerError> {
    dialogue::clear(&ctx.state.db, ctx.telegram_id()).await?;
    let t = ctx.t();
    ui::send(
        ctx.bot(),
        ctx.chat,
        t.promo_too_many,
        keyboards::balance_or_menu(t),
    )
    .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("a promo code is 1-32 characters of A-Z, 0-9, _ and -")]
    BadCode,
    #[error("coins must be between 1 and {}", ledger::MAX_AMOUNT)]
    BadCoins,
    #[error("max uses must be positive")]
    BadMaxUses,
    #[error("promo code {0} already exists")]
    Exists(String),
    #[error("no promo code {0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `aisha admin promo create`.
pub async fn create(
    db: &DatabaseConnection,
    code: &str,
    coins: i64,
    max_uses: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<promo_code::Model, AdminError> {
    let code = normalize(code).ok_or(AdminError::BadCode)?;
    if !(1..=ledger::MAX_AMOUNT).contains(&coins) {
        return Err(AdminError::BadCoins);
    }
    if max_uses.is_some_and(|m| m <= 0) {
        return Err(AdminError::BadMaxUses);
    }
    let row = promo_code::ActiveModel {
        code: Set(code.clone()),
        coins: Set(coins),
        max_uses: Set(max_uses),
        uses: Set(0),
        expires_at: Set(expires_at),
        disabled: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    let inserted = promo_code::Entity::insert(row)
        .on_conflict(
            OnConflict::column(promo_code::Column::Code)
                .do_nothing()
                .to_owned(),
        )
        .exec_with_returning(db)
        .await;
    match inserted {
        Ok(model) => Ok(model),
        // ON CONFLICT DO NOTHING inserted nothing: sea-orm reports it as one of these.
        Err(DbErr::RecordNotInserted | DbErr::RecordNotFound(_)) => Err(AdminError::Exists(code)),
        Err(e) => Err(e.into()),
    }
}

/// `aisha admin promo list`, newest first.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<promo_code::Model>, DbErr> {
    promo_code::Entity::find()
        .order_by_desc(promo_code::Column::Id)
        .all(db)
        .await
}

/// `aisha admin promo disable`.
pub async fn disable(db: &DatabaseConnection, code: &str) -> Result<(), AdminError> {
    let code = normalize(code).ok_or(AdminError::BadCode)?;
    let updated = promo_code::Entity::update_many()
        .col_expr(promo_code::Column::Disabled, true.into())
        .filter(promo_code::Column::Code.eq(&code))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AdminError::NotFound(code));
    }
    Ok(())
}

/// The promo button (see `PromoAction`).
pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: PromoAction,
) -> Result<(), HandlerError> {
    ui::answer(ctx.bot(), query, None, false).await;
    match action {
        PromoAction::Ask => ask(ctx, origin).await,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn codes_are_case_insensitive_and_strict() {
        assert_eq!(normalize("  spring-2026 ").as_deref(), Some("SPRING-2026"));
        assert_eq!(normalize("a_b").as_deref(), Some("A_B"));
        for bad in [
            "",
            "   ",
            "two words",
            "юникод",
            "<b>",
            "straße",
            &"X".repeat(33),
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
