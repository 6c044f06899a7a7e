//! Gallery: the filter each user browses with (one row per user; no row = no filter).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GalleryFilters::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(GalleryFilters::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(GalleryFilters::FavoritesOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    // Images made without an avatar only.
                    .col(
                        ColumnDef::new(GalleryFilters::BaseOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    // Images of one avatar; deleting the avatar drops this part of the filter.
                    .col(ColumnDef::new(GalleryFilters::AvatarId).big_integer())
                    // all | today | week | month
                    .col(
                        ColumnDef::new(GalleryFilters::Period)
                            .text()
                            .not_null()
                            .default("all"),
                    )
                    // "1:1", "9:16", ... or null for any.
                    .col(ColumnDef::new(GalleryFilters::Aspect).text())
                    .col(
                        ColumnDef::new(GalleryFilters::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GalleryFilters::Table, GalleryFilters::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GalleryFilters::Table, GalleryFilters::AvatarId)
                            .to(Avatars::Table, Avatars::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(GalleryFilters::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum GalleryFilters {
    Table,
    UserId,
    FavoritesOnly,
    BaseOnly,
    AvatarId,
    Period,
    Aspect,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Avatars {
    Table,
    Id,
}
