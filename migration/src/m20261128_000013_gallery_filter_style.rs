//! The gallery filter by style (`gallery_filters.style`, a `[[styles]]` id; NULL = any).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(GalleryFilters::Table)
                    .add_column(ColumnDef::new(GalleryFilters::Style).text())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(GalleryFilters::Table)
                    .drop_column(GalleryFilters::Style)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum GalleryFilters {
    Table,
    Style,
}
