//! A finished image of a generation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "generation_images")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub generation_id: i64,
    /// 0-based order within the generation.
    pub position: i32,
    /// Where the provider put it (may expire; we keep our own copy).
    #[sea_orm(column_type = "Text")]
    pub provider_url: String,
    pub width: i32,
    pub height: i32,
    /// Our copy in the image store, relative to its directory.
    pub file_path: Option<String>,
    /// Telegram's id for the uploaded photo: the gallery sends this, never the file again.
    pub telegram_file_id: Option<String>,
    pub created_at: DateTimeUtc,
    /// ❤️ in the gallery.
    pub is_favorite: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
