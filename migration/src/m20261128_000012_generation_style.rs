//! The style preset a generation was made in (`generations.style`, a `[[styles]]` id; NULL = no
//! style). 🔄 keeps it; the card and the caption name it.

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
                    .add_column(ColumnDef::new(Generations::Style).text())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Generations::Table)
                    .drop_column(Generations::Style)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Generations {
    Table,
    Style,
}
