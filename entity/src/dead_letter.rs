//! An update kept because it could not be parsed or handled for good (see `dead_letters`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The body's `update_id`, when it had one.
    pub update_id: Option<i64>,
    /// The body as Telegram sent it (as text; bytes that are not UTF-8 replaced).
    pub body: String,
    pub error: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
