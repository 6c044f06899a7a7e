//! A Telegram user who has talked to the bot.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Telegram's user id (also the private chat id); unique, never reused by Telegram.
    #[sea_orm(unique)]
    pub telegram_id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// As Telegram reports it (IETF tag); decides ru/en texts.
    pub language_code: Option<String>,
    pub created_at: DateTimeUtc,
    /// Refreshed on every update, so operators can see who is active.
    pub last_seen_at: DateTimeUtc,
    /// The language chosen in ⚙️ ("ru", "en"); `None` follows Telegram's `language_code`.
    pub language: Option<String>,
    /// The format new images start from (an index into the offered aspect ratios); `None` asks.
    pub default_aspect: Option<i16>,
    /// How many images a generation makes by default (1–4); `None` asks.
    pub default_count: Option<i16>,
    /// Generate right after the prompt with the defaults and the main avatar.
    pub quick_mode: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
