//! Avatars: what creation and training need (gender, the status message, the provider job,
//! the LoRA's config, the cover photo, the deadline) and the photos an avatar is trained on.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite alters one column per statement.
async fn add(manager: &SchemaManager<'_>, column: ColumnDef) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Avatars::Table)
                .add_column(column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // male | female
        add(manager, ColumnDef::new(Avatars::Gender).text().to_owned()).await?;
        // Where the photo count is shown, edited in place as photos arrive.
        add(
            manager,
            ColumnDef::new(Avatars::StatusMessageId)
                .big_integer()
                .to_owned(),
        )
        .await?;
        // The chat and language the "ready" message goes to.
        add(
            manager,
            ColumnDef::new(Avatars::ChatId).big_integer().to_owned(),
        )
        .await?;
        add(manager, ColumnDef::new(Avatars::Lang).text().to_owned()).await?;
        // The training job at the provider.
        add(manager, ColumnDef::new(Avatars::Provider).text().to_owned()).await?;
        add(manager, ColumnDef::new(Avatars::Model).text().to_owned()).await?;
        add(
            manager,
            ColumnDef::new(Avatars::RequestId).text().to_owned(),
        )
        .await?;
        add(
            manager,
            ColumnDef::new(Avatars::Cost).big_integer().to_owned(),
        )
        .await?;
        add(
            manager,
            ColumnDef::new(Avatars::LoraConfigUrl).text().to_owned(),
        )
        .await?;
        add(manager, ColumnDef::new(Avatars::Error).text().to_owned()).await?;
        // The one photo kept after training, shown on the avatar's card.
        add(
            manager,
            ColumnDef::new(Avatars::CoverFileId).text().to_owned(),
        )
        .await?;
        add(
            manager,
            ColumnDef::new(Avatars::CoverPath).text().to_owned(),
        )
        .await?;
        add(
            manager,
            ColumnDef::new(Avatars::TrainingStartedAt)
                .timestamp_with_time_zone()
                .to_owned(),
        )
        .await?;
        add(
            manager,
            ColumnDef::new(Avatars::DeadlineAt)
                .timestamp_with_time_zone()
                .to_owned(),
        )
        .await?;
        add(
            manager,
            ColumnDef::new(Avatars::TrainedAt)
                .timestamp_with_time_zone()
                .to_owned(),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("avatars_trigger_phrase")
                    .table(Avatars::Table)
                    .col(Avatars::TriggerPhrase)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("avatars_status_deadline")
                    .table(Avatars::Table)
                    .col(Avatars::Status)
                    .col(Avatars::DeadlineAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AvatarPhotos::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AvatarPhotos::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AvatarPhotos::AvatarId)
                            .big_integer()
                            .not_null(),
                    )
                    // Under `avatar.photos_dir`; removed after training (but the cover).
                    .col(ColumnDef::new(AvatarPhotos::FilePath).text().not_null())
                    // SHA-256 of the bytes, hex: the same picture twice is refused.
                    .col(ColumnDef::new(AvatarPhotos::Sha256).text().not_null())
                    // jpeg | png | webp
                    .col(ColumnDef::new(AvatarPhotos::Format).text().not_null())
                    .col(ColumnDef::new(AvatarPhotos::Width).integer().not_null())
                    .col(ColumnDef::new(AvatarPhotos::Height).integer().not_null())
                    .col(ColumnDef::new(AvatarPhotos::Size).big_integer().not_null())
                    // To show it back without uploading it again (a photo's; an image sent as
                    // a file has none until it is shown).
                    .col(ColumnDef::new(AvatarPhotos::TelegramFileId).text().null())
                    // The message it came in: a redelivered update is recognised as such.
                    .col(
                        ColumnDef::new(AvatarPhotos::SourceMessageId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvatarPhotos::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AvatarPhotos::Table, AvatarPhotos::AvatarId)
                            .to(Avatars::Table, Avatars::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("avatar_photos_avatar_sha256")
                    .table(AvatarPhotos::Table)
                    .col(AvatarPhotos::AvatarId)
                    .col(AvatarPhotos::Sha256)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AvatarPhotos::Table).to_owned())
            .await?;
        for index in ["avatars_trigger_phrase", "avatars_status_deadline"] {
            manager
                .drop_index(Index::drop().name(index).table(Avatars::Table).to_owned())
                .await?;
        }
        for column in [
            Avatars::Gender,
            Avatars::StatusMessageId,
            Avatars::ChatId,
            Avatars::Lang,
            Avatars::Provider,
            Avatars::Model,
            Avatars::RequestId,
            Avatars::Cost,
            Avatars::LoraConfigUrl,
            Avatars::Error,
            Avatars::CoverFileId,
            Avatars::CoverPath,
            Avatars::TrainingStartedAt,
            Avatars::DeadlineAt,
            Avatars::TrainedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Avatars::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Avatars {
    Table,
    Id,
    TriggerPhrase,
    Status,
    Gender,
    StatusMessageId,
    ChatId,
    Lang,
    Provider,
    Model,
    RequestId,
    Cost,
    LoraConfigUrl,
    Error,
    CoverFileId,
    CoverPath,
    TrainingStartedAt,
    DeadlineAt,
    TrainedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AvatarPhotos {
    Table,
    Id,
    AvatarId,
    FilePath,
    Sha256,
    Format,
    Width,
    Height,
    Size,
    TelegramFileId,
    SourceMessageId,
    CreatedAt,
}
