//! The delivery outbox: a push to a chat that must not be lost, retried until Telegram takes it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique: the same push is queued once however often its cause repeats.
    #[sea_orm(unique, column_type = "Text")]
    pub dedupe_key: String,
    pub chat_id: i64,
    pub kind: String,
    /// What to send, as JSON (see `delivery::Push`).
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// Lower goes first.
    pub priority: i32,
    /// `pending`, `done` or `failed`.
    pub status: String,
    /// Steps already sent (an album is sent before its buttons message).
    pub stage: i32,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// Claimed by a worker until then.
    pub locked_until: Option<DateTimeUtc>,
    /// The process (its random replica id) holding the claim.
    #[sea_orm(column_type = "Text", nullable)]
    pub locked_by: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
