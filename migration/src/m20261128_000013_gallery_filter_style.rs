//! The gallery filter by style (`gallery_filters.style`, a `[[styles]]` id; NULL = any).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(GalleryFilters::Style).text().to_owned();
        crate::columns::add(manager, GalleryFilters::Table, column).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::columns::drop(manager, GalleryFilters::Table, GalleryFilters::Style).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum GalleryFilters {
    Table,
    Style,
}
