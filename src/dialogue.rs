//! Stored dialogue state: what the bot expects next from a user. Kept in the database (not in
//! memory, unlike the Python bot's FSM) so a restart or another replica continues the dialogue.

use chrono::Utc;
use entity::dialogue_state;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

/// What the bot is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialogue {
    /// The next text message is a promo code.
    PromoCode,
}

impl Dialogue {
    fn as_str(self) -> &'static str {
        match self {
            Self::PromoCode => "promo_code",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "promo_code" => Some(Self::PromoCode),
            _ => None,
        }
    }
}

/// The state for this user, if any (a value from an older version reads as none).
pub async fn get<C: ConnectionTrait>(db: &C, telegram_id: i64) -> Result<Option<Dialogue>, DbErr> {
    Ok(dialogue_state::Entity::find_by_id(telegram_id)
        .one(db)
        .await?
        .and_then(|row| Dialogue::parse(&row.state)))
}

/// Replaces the user's state.
pub async fn set<C: ConnectionTrait>(
    db: &C,
    telegram_id: i64,
    state: Dialogue,
) -> Result<(), DbErr> {
    let row = dialogue_state::ActiveModel {
        telegram_id: Set(telegram_id),
        state: Set(state.as_str().to_owned()),
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
pub async fn clear<C: ConnectionTrait>(db: &C, telegram_id: i64) -> Result<(), DbErr> {
    dialogue_state::Entity::delete_by_id(telegram_id)
        .exec(db)
        .await?;
    Ok(())
}
