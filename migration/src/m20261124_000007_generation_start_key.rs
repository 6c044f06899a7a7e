//! Generations: the key of the request that started one (a callback query's id for 🔄), unique,
//! so a redelivered update finds the generation it already started instead of paying again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Generations::Table)
                    .add_column(ColumnDef::new(Generations::StartKey).text())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("generations_start_key")
                    .table(Generations::Table)
                    .col(Generations::StartKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("generations_start_key")
                    .table(Generations::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Generations::Table)
                    .drop_column(Generations::StartKey)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Generations {
    Table,
    StartKey,
}
