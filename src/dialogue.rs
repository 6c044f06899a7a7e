//! Stored dialogue state: what the bot expects next from a user. Kept in the database (not in
//! memory, unlike the Python bot's FSM) so a restart or another replica continues the dialogue.

use chrono::Utc;
use entity::dialogue_state;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, sea_query::OnConflict};

/// The state for this user, if any.
pub async fn get(db: &DatabaseConnection, telegram_id: i64) -> Result<Option<String>, DbErr> {
    Ok(dialogue_state::Entity::find_by_id(telegram_id)
        .one(db)
        .await?
        .map(|row| row.state))
}

/// Replaces the user's state.
pub async fn set(db: &DatabaseConnection, telegram_id: i64, state: &str) -> Result<(), DbErr> {
    let row = dialogue_state::ActiveModel {
        telegram_id: Set(telegram_id),
        state: Set(state.to_owned()),
        updated_at: Set(Utc::now()),
    };
    dialogue_state::Entity::insert(row)
        .on_conflict(
            OnConflict::column(dialogue_state::Column::TelegramId)
                .update_columns([
                    dialogue_state::Column::State,
                    dialogue_state::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Forgets the user's state (the dialogue ended or was abandoned).
pub async fn clear(db: &DatabaseConnection, telegram_id: i64) -> Result<(), DbErr> {
    dialogue_state::Entity::delete_by_id(telegram_id)
        .exec(db)
        .await?;
    Ok(())
}
