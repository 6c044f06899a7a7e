//! The style preset a generation was made in (`generations.style`, a `[[styles]]` id; NULL = no
//! style). 🔄 keeps it; the card and the caption name it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(Generations::Style).text().to_owned();
        crate::columns::add(manager, Generations::Table, column).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::columns::drop(manager, Generations::Table, Generations::Style).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Generations {
    Table,
    Style,
}
