//! A promo code an operator created with `aisha admin promo create`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "promo_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Stored upper-case: codes are case-insensitive.
    #[sea_orm(unique)]
    pub code: String,
    pub coins: i64,
    /// None means unlimited.
    pub max_uses: Option<i64>,
    /// Raised by a conditional update, so it never passes `max_uses`.
    pub uses: i64,
    pub expires_at: Option<DateTimeUtc>,
    pub disabled: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
