//! Avatar photos: the Telegram file_id the bytes came from (`source_file_id`), for a photo and
//! for an image sent as a document alike. Telegram is the store of record for the photos: any
//! replica fetches the bytes with getFile when its own disk (a cache) does not have them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AvatarPhotos::Table)
                    .add_column(ColumnDef::new(AvatarPhotos::SourceFileId).text())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AvatarPhotos::Table)
                    .drop_column(AvatarPhotos::SourceFileId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AvatarPhotos {
    Table,
    SourceFileId,
}
