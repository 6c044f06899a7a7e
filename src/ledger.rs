//! Coins: the one API every paid action uses.
//!
//! Coins are integers. Every move is a ledger entry plus a balance change in one transaction, so
//! `balance == sum(ledger)` holds at every commit. A charge is a single conditional update
//! (`coins = coins - n WHERE coins >= n`), never check-then-write, so concurrent charges can't
//! overdraw. Every move carries a unique idempotency key: repeating it (a retry, a duplicate
//! update or webhook, a double tap) returns the first outcome and moves nothing.
//!
//! Balances are read from the database every time: there is no balance cache to go stale.

use chrono::Utc;
use entity::{balance, ledger};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

pub use crate::domain::LedgerKind as Kind;
use crate::domain::{Coins, UserId};

/// The result of a charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Paid; `balance` is what is left. Also the answer when the key was charged before.
    Charged { balance: i64, entry_id: i64 },
    /// Not enough coins; nothing changed.
    Insufficient { balance: i64 },
}

/// The result of a credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    pub balance: i64,
    pub entry_id: i64,
    /// False when the key was credited before and this call moved nothing.
    pub fresh: bool,
}

/// The largest single move: far beyond any real price, far below overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("amount must be between 1 and {MAX_AMOUNT}, got {0}")]
    BadAmount(i64),
    /// The key was used before for a different user or amount: a bug in the caller's key scheme.
    #[error("idempotency key {0} was already used for a different move")]
    KeyReused(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The user's balance (0 when they never had coins).
pub async fn balance<C: ConnectionTrait>(db: &C, user: UserId) -> Result<i64, DbErr> {
    let user_id = user.0;
    Ok(balance::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .map_or(0, |b| b.coins))
}

/// Coins the user spent on generations, their refunds taken off.
pub async fn generation_spend<C: ConnectionTrait>(db: &C, user: UserId) -> Result<i64, DbErr> {
    let user_id = user.0;
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT CAST(COALESCE(-SUM(amount), 0) AS BIGINT) AS spent FROM ledger WHERE user_id = $1 \
             AND (kind = 'generation' OR (kind = 'refund' AND reference LIKE 'generation:%'))"
        }
        _ => {
            "SELECT COALESCE(-SUM(amount), 0) AS spent FROM ledger WHERE user_id = ?1 \
             AND (kind = 'generation' OR (kind = 'refund' AND reference LIKE 'generation:%'))"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [user_id.into()],
        ))
        .await?;
    row.map_or(Ok(0), |r| r.try_get::<i64>("", "spent"))
}

/// The user's most recent ledger entries, newest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    user: UserId,
    limit: u64,
) -> Result<Vec<ledger::Model>, DbErr> {
    let user_id = user.0;
    ledger::Entity::find()
        .filter(ledger::Column::UserId.eq(user_id))
        .order_by_desc(ledger::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

async fn by_key<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<ledger::Model>, DbErr> {
    ledger::Entity::find()
        .filter(ledger::Column::IdempotencyKey.eq(key))
        .one(db)
        .await
}

/// Takes `amount` coins from the user, once per `key`.
///
/// Works on a connection or inside a caller's transaction (then as a savepoint), so a charge can
/// commit together with whatever it pays for.
pub async fn charge<C>(
    db: &C,
    user: UserId,
    amount: Coins,
    kind: Kind,
    reference: Option<&str>,
    key: &str,
) -> Result<Charge, LedgerError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let user_id = user.0;
    let amount = amount.0;
    check_amount(amount)?;
    // No look-up of the key first: a repeated key is found below either way (the conditional
    // update fails, or the entry insert conflicts), so a fresh charge costs two statements.
    let txn = db.begin().await?;
    let updated = balance::Entity::update_many()
        .col_expr(
            balance::Column::Coins,
            Expr::col(balance::Column::Coins).sub(amount),
        )
        .col_expr(balance::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(balance::Column::UserId.eq(user_id))
        .filter(balance::Column::Coins.gte(amount))
        .exec_with_returning(&txn)
        .await?;
    let Some(after) = updated.first().map(|b| b.coins) else {
        // A concurrent charge with this key may have just taken the coins: then the answer is
        // its outcome, not "insufficient" (READ COMMITTED shows its committed entry now).
        if let Some(entry) = by_key(&txn, key).await? {
            txn.rollback().await?;
            return charged(entry, user_id, -amount, key);
        }
        let current = balance(&txn, UserId(user_id)).await?;
        txn.rollback().await?;
        return Ok(Charge::Insufficient { balance: current });
    };
    match insert_entry(&txn, user_id, -amount, kind, reference, key, after).await? {
        Some(entry_id) => {
            txn.commit().await?;
            Ok(Charge::Charged {
                balance: after,
                entry_id,
            })
        }
        None => {
            // The same key won a race with us: undo our decrement, report the first outcome.
            txn.rollback().await?;
            let entry = by_key(db, key)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("ledger entry {key}")))?;
            charged(entry, user_id, -amount, key)
        }
    }
}

/// Gives `amount` coins to the user, once per `key`.
pub async fn credit<C>(
    db: &C,
    user: UserId,
    amount: Coins,
    kind: Kind,
    reference: Option<&str>,
    key: &str,
) -> Result<Credit, LedgerError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let user_id = user.0;
    let amount = amount.0;
    check_amount(amount)?;
    if let Some(entry) = by_key(db, key).await? {
        return credited_before(entry, user_id, amount, key);
    }
    let txn = db.begin().await?;
    let row = balance::ActiveModel {
        user_id: Set(user_id),
        coins: Set(amount),
        updated_at: Set(Utc::now()),
    };
    let after = balance::Entity::insert(row)
        .on_conflict(
            OnConflict::column(balance::Column::UserId)
                .value(
                    balance::Column::Coins,
                    Expr::cust("balances.coins + excluded.coins"),
                )
                .update_column(balance::Column::UpdatedAt)
                .to_owned(),
        )
        .exec_with_returning(&txn)
        .await?
        .coins;
    match insert_entry(&txn, user_id, amount, kind, reference, key, after).await? {
        Some(entry_id) => {
            txn.commit().await?;
            Ok(Credit {
                balance: after,
                entry_id,
                fresh: true,
            })
        }
        None => {
            txn.rollback().await?;
            let entry = by_key(db, key)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("ledger entry {key}")))?;
            credited_before(entry, user_id, amount, key)
        }
    }
}

fn check_amount(amount: i64) -> Result<(), LedgerError> {
    if (1..=MAX_AMOUNT).contains(&amount) {
        Ok(())
    } else {
        Err(LedgerError::BadAmount(amount))
    }
}

/// The first outcome of a key, provided it was the same move.
fn same_move(
    entry: &ledger::Model,
    user_id: i64,
    signed: i64,
    key: &str,
) -> Result<(), LedgerError> {
    if entry.user_id == user_id && entry.amount == signed {
        Ok(())
    } else {
        Err(LedgerError::KeyReused(key.to_owned()))
    }
}

fn charged(
    entry: ledger::Model,
    user_id: i64,
    signed: i64,
    key: &str,
) -> Result<Charge, LedgerError> {
    same_move(&entry, user_id, signed, key)?;
    Ok(Charge::Charged {
        balance: entry.balance_after,
        entry_id: entry.id,
    })
}

fn credited_before(
    entry: ledger::Model,
    user_id: i64,
    amount: i64,
    key: &str,
) -> Result<Credit, LedgerError> {
    same_move(&entry, user_id, amount, key)?;
    Ok(Credit {
        balance: entry.balance_after,
        entry_id: entry.id,
        fresh: false,
    })
}

/// Inserts the entry unless its key exists; `None` when it did.
async fn insert_entry<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    amount: i64,
    kind: Kind,
    reference: Option<&str>,
    key: &str,
    balance_after: i64,
) -> Result<Option<i64>, DbErr> {
    let row = ledger::ActiveModel {
        user_id: Set(user_id),
        amount: Set(amount),
        kind: Set(kind.as_str().to_owned()),
        reference: Set(reference.map(str::to_owned)),
        idempotency_key: Set(key.to_owned()),
        balance_after: Set(balance_after),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    let inserted = ledger::Entity::insert(row)
        .on_conflict(
            OnConflict::column(ledger::Column::IdempotencyKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_with_returning_keys(txn)
        .await?;
    Ok(inserted.first().copied())
}

/// A user whose balance disagrees with their ledger (or is negative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub telegram_id: i64,
    pub balance: i64,
    pub ledger_sum: i64,
}

/// Checks `balance == sum(ledger)` and `balance >= 0` for every user.
pub async fn audit<C: ConnectionTrait>(db: &C) -> Result<Vec<Mismatch>, DbErr> {
    let sql = "SELECT u.telegram_id AS telegram_id, \
                      COALESCE(b.coins, 0) AS balance, \
                      COALESCE(l.total, 0) AS ledger_sum \
               FROM users u \
               LEFT JOIN balances b ON b.user_id = u.id \
               LEFT JOIN (SELECT user_id, CAST(SUM(amount) AS BIGINT) AS total \
                          FROM ledger GROUP BY user_id) l ON l.user_id = u.id \
               WHERE COALESCE(b.coins, 0) <> COALESCE(l.total, 0) OR COALESCE(b.coins, 0) < 0 \
               ORDER BY u.telegram_id";
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Mismatch {
                telegram_id: row.try_get("", "telegram_id")?,
                balance: row.try_get("", "balance")?,
                ledger_sum: row.try_get("", "ledger_sum")?,
            })
        })
        .collect()
}
