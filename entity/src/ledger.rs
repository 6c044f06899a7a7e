//! The append-only record of every coin moved. For every user, the sum of `amount` equals the
//! balance; `aisha admin audit` checks it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// Signed: credits positive, charges negative.
    pub amount: i64,
    /// What the coins were for (`generation`, `topup`, `promo`, ...).
    pub kind: String,
    /// The object paid for, e.g. a generation id or a charge id.
    pub reference: Option<String>,
    /// Unique: a retried charge or credit finds its first entry instead of moving coins again.
    #[sea_orm(unique)]
    pub idempotency_key: String,
    /// The balance right after this entry, for history screens and audits.
    pub balance_after: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
