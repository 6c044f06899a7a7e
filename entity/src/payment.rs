//! A successful Stars payment, recorded once per Telegram charge id.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// None when the payment matched none of our invoices.
    pub invoice_id: Option<i64>,
    /// Telegram's id for the charge; unique, and what a refund needs.
    #[sea_orm(unique)]
    pub telegram_payment_charge_id: String,
    pub stars: i64,
    pub coins: i64,
    /// `paid`, `unmatched` (Stars taken, nothing credited: refund it) or `refunded`.
    pub status: String,
    pub created_at: DateTimeUtc,
    pub refunded_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
