//! Registering Telegram users and reading their language.

use chrono::Utc;
use entity::user;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, sea_query::OnConflict};

/// Inserts the user or refreshes their names, language and last-seen time, in one statement.
pub async fn upsert(
    db: &DatabaseConnection,
    from: &teloxide::types::User,
) -> Result<user::Model, DbErr> {
    let now = Utc::now();
    let row = user::ActiveModel {
        telegram_id: Set(i64::try_from(from.id.0).unwrap_or(i64::MAX)),
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
