//! A photo an avatar is trained on.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "avatar_photos")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub avatar_id: i64,
    /// Relative to `avatar.photos_dir`.
    pub file_path: String,
    /// SHA-256 of the bytes, hex (unique per avatar: no duplicates).
    pub sha256: String,
    /// `jpeg`, `png` or `webp`, from the magic bytes.
    pub format: String,
    pub width: i32,
    pub height: i32,
    pub size: i64,
    /// A photo file_id Telegram knows (an image sent as a document can't be shown by its id).
    pub telegram_file_id: Option<String>,
    /// The file_id the bytes came from, a photo's or a document's: Telegram keeps the photos,
    /// and any replica fetches them with getFile (`file_path` names only a local cache).
    #[sea_orm(column_type = "Text", nullable)]
    pub source_file_id: Option<String>,
    /// The Telegram message it came in (a redelivered update is not a duplicate).
    pub source_message_id: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
