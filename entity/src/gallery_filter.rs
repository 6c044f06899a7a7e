//! The filter a user browses the gallery with (no row: everything).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "gallery_filters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub favorites_only: bool,
    pub base_only: bool,
    pub avatar_id: Option<i64>,
    pub period: String,
    pub aspect: Option<String>,
    pub updated_at: DateTimeUtc,
    /// Only images made in this style (a `[[styles]]` id); `None`: any.
    pub style: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
