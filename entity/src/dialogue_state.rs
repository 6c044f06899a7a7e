//! What the bot is waiting for from a user (a prompt, a promo code, ...), kept in the database so a
//! restart or another replica continues the conversation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dialogue_states")]
pub struct Model {
    /// Telegram user id: one dialogue per private chat.
    #[sea_orm(primary_key, auto_increment = false)]
    pub telegram_id: i64,
    /// Serialized state, owned by the feature that set it.
    pub state: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
