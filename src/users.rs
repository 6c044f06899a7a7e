//! Registering Telegram users and reading their language.
//!
//! Every update needs the user's row. Writing it on every update would be the busiest statement
//! of the bot, so it is read (one index look-up) and written only when something changed:
//! `last_seen_at` is fresh to within [`SEEN_TTL`]. Nothing about users is cached outside the
//! database (see [`seen`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

/// How long a user row goes without its `last_seen_at` being written again.
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

/// The user's row as the database has it now, written first when it is new, when Telegram
/// reports other names or another language, or when `last_seen_at` is older than [`SEEN_TTL`].
///
/// Read every time, never cached: everything money and ownership rest on (`users.id` above all)
/// comes from the database behind this request, so no cache kept from another database (a
/// restore, a new server, a staging copy) can hand one user's id to another. The read is one
/// unique-index look-up; the write happens about once per user per [`SEEN_TTL`].
pub async fn seen(
    db: &DatabaseConnection,
    from: &teloxide::types::User,
) -> Result<user::Model, DbErr> {
    let found = user::Entity::find()
        .filter(user::Column::TelegramId.eq(telegram_id(from)))
        .one(db)
        .await?;
    match found {
        Some(row) if current(&row, from, Utc::now()) => Ok(row),
        _ => upsert(db, from).await,
    }
}

/// True when the stored row says what Telegram says and was seen recently.
fn current(row: &user::Model, from: &teloxide::types::User, now: DateTime<Utc>) -> bool {
    row.first_name == from.first_name
        && row.last_name == from.last_name
        && row.username == from.username
        && row.language_code == from.language_code
        && now - row.last_seen_at < chrono::Duration::from_std(SEEN_TTL).unwrap_or_default()
}
