//! A user's current coins. Changed only together with a ledger entry, in one transaction.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "balances")]
pub struct Model {
    /// `users.id`; no row means a balance of 0.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// Never negative (a CHECK constraint backs the conditional updates).
    pub coins: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
