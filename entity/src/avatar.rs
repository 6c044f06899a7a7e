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
    /// `male` or `female`: goes into the training and, through the trigger, into prompts.
    pub gender: Option<String>,
    /// The message showing the photo count, edited in place as photos arrive.
    pub status_message_id: Option<i64>,
    /// Where and in which language the "ready" or "failed" message goes.
    pub chat_id: Option<i64>,
    pub lang: Option<String>,
    /// The training job: provider, model, its request id, what it cost.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub request_id: Option<String>,
    pub cost: Option<i64>,
    /// The trainer's config file, kept with the weights.
    pub lora_config_url: Option<String>,
    /// Why training failed.
    pub error: Option<String>,
    /// The photo kept after training for the avatar's card.
    pub cover_file_id: Option<String>,
    pub cover_path: Option<String>,
    pub training_started_at: Option<DateTimeUtc>,
    /// When the provider is asked once whether a training that never called back finished.
    pub deadline_at: Option<DateTimeUtc>,
    pub trained_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
