//! Image generation: avatars (the LoRA a generation may use), generations, their images, and the
//! delivery outbox that pushes results to chats.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn at_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().to_owned()
}

fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn big<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn int<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).integer().not_null().to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(Alias::new(*col));
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Avatars::Table)
                    .if_not_exists()
                    .col(id(Avatars::Id))
                    .col(big(Avatars::UserId))
                    .col(text(Avatars::Name))
                    // draft | training | ready | failed
                    .col(text(Avatars::Status))
                    .col(ColumnDef::new(Avatars::TriggerPhrase).text())
                    .col(ColumnDef::new(Avatars::LoraUrl).text())
                    .col(
                        ColumnDef::new(Avatars::IsMain)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(at(Avatars::CreatedAt))
                    .col(at(Avatars::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Avatars::Table, Avatars::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("avatars_user_id", Avatars::Table, &["user_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Generations::Table)
                    .if_not_exists()
                    .col(id(Generations::Id))
                    .col(big(Generations::UserId))
                    .col(big(Generations::ChatId))
                    .col(text(Generations::Lang))
                    // Null without an avatar, or once the avatar is deleted (the images stay).
                    .col(ColumnDef::new(Generations::AvatarId).big_integer())
                    .col(ColumnDef::new(Generations::AvatarName).text())
                    // As the user wrote it; the provider's prompt is derived, never stored back.
                    .col(text(Generations::Prompt))
                    .col(text(Generations::Aspect))
                    .col(int(Generations::NumImages))
                    .col(big(Generations::Seed))
                    .col(big(Generations::Cost))
                    .col(text(Generations::Provider))
                    .col(text(Generations::Model))
                    .col(ColumnDef::new(Generations::RequestId).text())
                    // pending | completed | failed
                    .col(text(Generations::Status))
                    .col(ColumnDef::new(Generations::Error).text())
                    .col(ColumnDef::new(Generations::ProgressMessageId).big_integer())
                    .col(ColumnDef::new(Generations::RegeneratedFrom).big_integer())
                    .col(at(Generations::DeadlineAt))
                    .col(at(Generations::CreatedAt))
                    .col(at_null(Generations::CompletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Generations::Table, Generations::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Generations::Table, Generations::AvatarId)
                            .to(Avatars::Table, Avatars::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "generations_user_id_id",
                Generations::Table,
                &["user_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "generations_status_deadline",
                Generations::Table,
                &["status", "deadline_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GenerationImages::Table)
                    .if_not_exists()
                    .col(id(GenerationImages::Id))
                    .col(big(GenerationImages::GenerationId))
                    .col(int(GenerationImages::Position))
                    .col(text(GenerationImages::ProviderUrl))
                    .col(int(GenerationImages::Width))
                    .col(int(GenerationImages::Height))
                    // Set once the image is in our store / uploaded to Telegram.
                    .col(ColumnDef::new(GenerationImages::FilePath).text())
                    .col(ColumnDef::new(GenerationImages::TelegramFileId).text())
                    .col(at(GenerationImages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(GenerationImages::Table, GenerationImages::GenerationId)
                            .to(Generations::Table, Generations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "generation_images_generation_position",
                    GenerationImages::Table,
                    &["generation_id", "position"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .if_not_exists()
                    .col(id(Deliveries::Id))
                    // Unique: enqueuing the same push twice (a duplicate webhook) is a no-op.
                    .col(
                        ColumnDef::new(Deliveries::DedupeKey)
                            .text()
                            .not_null()
                            .unique_key(),
                    )
                    .col(big(Deliveries::ChatId))
                    .col(text(Deliveries::Kind))
                    .col(text(Deliveries::Payload))
                    // Lower first: results before anything cosmetic.
                    .col(int(Deliveries::Priority))
                    // pending | done | failed
                    .col(text(Deliveries::Status))
                    // Steps of a multi-message push already done (so a retry never repeats one).
                    .col(int(Deliveries::Stage).default(0))
                    .col(int(Deliveries::Attempts).default(0))
                    .col(at(Deliveries::NextAttemptAt))
                    // A claim: the worker holding it until then; expired claims are taken over.
                    .col(at_null(Deliveries::LockedUntil))
                    .col(ColumnDef::new(Deliveries::LastError).text())
                    .col(at(Deliveries::CreatedAt))
                    .col(at_null(Deliveries::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "deliveries_due",
                Deliveries::Table,
                &["status", "next_attempt_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Deliveries::Table.into_iden(),
            GenerationImages::Table.into_iden(),
            Generations::Table.into_iden(),
            Avatars::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
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
    UserId,
    Name,
    Status,
    TriggerPhrase,
    LoraUrl,
    IsMain,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Generations {
    Table,
    Id,
    UserId,
    ChatId,
    Lang,
    AvatarId,
    AvatarName,
    Prompt,
    Aspect,
    NumImages,
    Seed,
    Cost,
    Provider,
    Model,
    RequestId,
    Status,
    Error,
    ProgressMessageId,
    RegeneratedFrom,
    DeadlineAt,
    CreatedAt,
    CompletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum GenerationImages {
    Table,
    Id,
    GenerationId,
    Position,
    ProviderUrl,
    Width,
    Height,
    FilePath,
    TelegramFileId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Deliveries {
    Table,
    Id,
    DedupeKey,
    ChatId,
    Kind,
    Payload,
    Priority,
    Status,
    Stage,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    CreatedAt,
    FinishedAt,
}
