//! One image generation request: what was asked, what it cost, where it stands.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "generations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub chat_id: i64,
    /// `ru` or `en`: the language of the pushed result.
    pub lang: String,
    pub avatar_id: Option<i64>,
    /// The avatar's name when the generation was made (captions outlive renames and deletes).
    pub avatar_name: Option<String>,
    /// As the user wrote it.
    #[sea_orm(column_type = "Text")]
    pub prompt: String,
    /// "1:1", "3:4", ...
    pub aspect: String,
    pub num_images: i32,
    pub seed: i64,
    /// Coins charged (refunded once if it fails).
    pub cost: i64,
    pub provider: String,
    pub model: String,
    /// The provider's job id; null until the submit answered (a callback may come first).
    pub request_id: Option<String>,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// The "generation started" message the result replaces.
    pub progress_message_id: Option<i64>,
    pub regenerated_from: Option<i64>,
    /// When the provider is asked once whether the job finished.
    pub deadline_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// What started it, when that can arrive twice (a 🔄 callback query's id): unique.
    pub start_key: Option<String>,
    /// The style preset (a `[[styles]]` id) the prompt was dressed in; `None`: as written.
    pub style: Option<String>,
    /// What the model was sent in place of `prompt` (a translation, or the ✨ improved prompt);
    /// `None`: the user's words as written. 🔄 sends it again.
    pub prompt_en: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
