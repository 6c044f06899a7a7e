//! Prompt help: the prompt the model was sent when it differs from the user's words
//! (`generations.prompt_en`: a translation, or the ✨ improved one; 🔄 sends it again), and the
//! per-user daily count of LLM requests (`llm_usage`, one row per user and UTC day).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(Generations::PromptEn).text().to_owned();
        crate::columns::add(manager, Generations::Table, column).await?;
        manager
            .create_table(
                Table::create()
                    .table(LlmUsage::Table)
                    // SQLite runs migrations outside a transaction: a rerun finds the table.
                    .if_not_exists()
                    .col(ColumnDef::new(LlmUsage::UserId).big_integer().not_null())
                    // `YYYY-MM-DD` (UTC).
                    .col(ColumnDef::new(LlmUsage::Day).text().not_null())
                    .col(
                        ColumnDef::new(LlmUsage::Requests)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(Index::create().col(LlmUsage::UserId).col(LlmUsage::Day))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LlmUsage::Table).to_owned())
            .await?;
        crate::columns::drop(manager, Generations::Table, Generations::PromptEn).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Generations {
    Table,
    PromptEn,
}

#[derive(DeriveIden, Clone, Copy)]
enum LlmUsage {
    Table,
    UserId,
    Day,
    Requests,
}
