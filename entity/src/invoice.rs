//! A Stars invoice we sent. Its id is the invoice payload, so a payload can't be forged into a
//! different user, package or price: the pre-checkout compares all of them with this row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// Price in Telegram Stars (currency XTR).
    pub stars: i64,
    /// Coins credited when paid.
    pub coins: i64,
    /// `pending` until paid, then `paid`.
    pub status: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
