//! Updates Telegram sent that could not be parsed or handled for good (`dead_letters`): kept
//! with the error, answered 200 so Telegram stops redelivering them, and replayed by
//! `aisha replay-dead-letters` once the cause is fixed. Bounded by `telegram.dead_letters_max`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeadLetters::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeadLetters::UpdateId).big_integer())
                    .col(ColumnDef::new(DeadLetters::Body).text().not_null())
                    .col(ColumnDef::new(DeadLetters::Error).text().not_null())
                    .col(
                        ColumnDef::new(DeadLetters::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeadLetters::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum DeadLetters {
    Table,
    Id,
    UpdateId,
    Body,
    Error,
    CreatedAt,
}
