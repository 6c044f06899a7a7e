//! Dead letters: authenticated updates that can never be handled as they are (a body that is
//! not an Update, a payload teloxide can't read, a handler that failed for good). Each is kept
//! with its error, counted, and answered 200 so Telegram stops redelivering it; `aisha
//! replay-dead-letters` sends them through the webhook again once the cause is fixed. The table
//! keeps the newest `telegram.dead_letters_max`.

use chrono::Utc;
use entity::dead_letter;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

/// Keeps `body` with `error`, then drops the oldest beyond `keep`.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    update_id: Option<i64>,
    body: &[u8],
    error: &str,
    keep: u64,
) -> Result<(), DbErr> {
    // PostgreSQL text holds no NUL: a raw one (never valid JSON anyway) is replaced.
    let text = String::from_utf8_lossy(body).replace('\0', "\u{fffd}");
    dead_letter::ActiveModel {
        update_id: Set(update_id),
        body: Set(text),
        error: Set(error.replace('\0', "\u{fffd}").chars().take(2000).collect()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let oldest_kept = dead_letter::Entity::find()
        .select_only()
        .column(dead_letter::Column::Id)
        .order_by_desc(dead_letter::Column::Id)
        .offset(keep.saturating_sub(1))
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    if let Some(oldest_kept) = oldest_kept {
        dead_letter::Entity::delete_many()
            .filter(dead_letter::Column::Id.lt(oldest_kept))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Every dead letter, oldest first.
pub async fn all<C: ConnectionTrait>(db: &C) -> Result<Vec<dead_letter::Model>, DbErr> {
    dead_letter::Entity::find()
        .order_by_asc(dead_letter::Column::Id)
        .all(db)
        .await
}

/// Forgets one (replayed).
pub async fn remove<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    dead_letter::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
