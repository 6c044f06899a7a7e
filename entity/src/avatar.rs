//! A user's avatar: a LoRA trained on their photos, used by generations.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "avatars")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// `draft`, `training`, `ready` or `failed`.
    pub status: String,
    /// Unique per avatar; prepended (once) to prompts that use it.
    pub trigger_phrase: Option<String>,
    /// The trained LoRA weights; set when ready.
    pub lora_url: Option<String>,
    /// The avatar generations use unless the user picks another.
    pub is_main: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
