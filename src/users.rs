//! Registering Telegram users and reading their language.
//!
//! Every update needs the user's row. Writing it on every update would be the busiest statement
//! of the bot, so a short-lived cache entry (Redis, or the in-process cache) remembers that the
//! user was written recently with exactly these names and language: then no statement runs.
//! `last_seen_at` is therefore fresh to within [`SEEN_TTL`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, sea_query::OnConflict};
use sha2::{Digest, Sha256};

use crate::kv::{Kv, KvStore};

/// How long a written user row is trusted without writing it again.
pub const SEEN_TTL: Duration = Duration::from_secs(600);

/// Inserts the user or refreshes their names, language and last-seen time, in one statement.
pub async fn upsert(
    db: &DatabaseConnection,
    from: &teloxide::types::User,
) -> Result<user::Model, DbErr> {
    let now = Utc::now();
    let row = user::ActiveModel {
        telegram_id: Set(telegram_id(from)),
        first_name: Set(from.first_name.clone()),
        last_name: Set(from.last_name.clone()),
        username: Set(from.username.clone()),
        language_code: Set(from.language_code.clone()),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    };
    user::Entity::insert(row)
        .on_conflict(
            OnConflict::column(user::Column::TelegramId)
                .update_columns([
                    user::Column::FirstName,
                    user::Column::LastName,
                    user::Column::Username,
                    user::Column::LanguageCode,
                    user::Column::LastSeenAt,
                ])
                .to_owned(),
        )
        .exec_with_returning(db)
        .await
}

fn telegram_id(from: &teloxide::types::User) -> i64 {
    i64::try_from(from.id.0).unwrap_or(i64::MAX)
}

/// What Telegram says about the user, hashed: a change (a new name, another language) misses
/// the cache and is written.
fn fingerprint(from: &teloxide::types::User) -> String {
    let mut hash = Sha256::new();
    for part in [
        Some(from.first_name.as_str()),
        from.last_name.as_deref(),
        from.username.as_deref(),
        from.language_code.as_deref(),
    ] {
        hash.update(part.unwrap_or("\u{0}").as_bytes());
        hash.update([0xff]);
    }
    hex::encode(&hash.finalize()[..12])
}

/// The user's row: from the cache when it was written recently with the same details,
/// otherwise upserted (and remembered). A cache failure falls back to the database.
pub async fn seen(
    db: &DatabaseConnection,
    kv: &Kv,
    from: &teloxide::types::User,
) -> Result<user::Model, DbErr> {
    let key = format!("user:{}", telegram_id(from));
    let print = fingerprint(from);
    if let Ok(Some(cached)) = kv.get(&key).await
        && let Some(model) = from_cache(&cached, &print, from)
    {
        return Ok(model);
    }
    let model = upsert(db, from).await?;
    let value = format!(
        "{print}|{}|{}|{}",
        model.id,
        model.created_at.to_rfc3339(),
        model.last_seen_at.to_rfc3339()
    );
    if let Err(e) = kv.set(&key, &value, SEEN_TTL).await {
        tracing::warn!(error = %e, "could not cache a user row");
    }
    Ok(model)
}

fn from_cache(cached: &str, print: &str, from: &teloxide::types::User) -> Option<user::Model> {
    let mut parts = cached.split('|');
    if parts.next()? != print {
        return None;
    }
    let id = parts.next()?.parse().ok()?;
    let created_at = DateTime::parse_from_rfc3339(parts.next()?).ok()?.to_utc();
    let last_seen_at = DateTime::parse_from_rfc3339(parts.next()?).ok()?.to_utc();
    Some(user::Model {
        id,
        telegram_id: telegram_id(from),
        first_name: from.first_name.clone(),
        last_name: from.last_name.clone(),
        username: from.username.clone(),
        language_code: from.language_code.clone(),
        created_at,
        last_seen_at,
    })
}
