//! A user's own settings (⚙️): the language they chose over Telegram's (`language`, NULL =
//! follow Telegram), the format and number of images they start from (`default_aspect`,
//! `default_count`, NULL = ask), and quick mode (generate right after the prompt).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            ColumnDef::new(Users::Language).text().to_owned(),
            ColumnDef::new(Users::DefaultAspect)
                .small_integer()
                .to_owned(),
            ColumnDef::new(Users::DefaultCount)
                .small_integer()
                .to_owned(),
            ColumnDef::new(Users::QuickMode)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ];
        for column in columns {
            crate::columns::add(manager, Users::Table, column).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Users::Language,
            Users::DefaultAspect,
            Users::DefaultCount,
            Users::QuickMode,
        ] {
            crate::columns::drop(manager, Users::Table, column).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Language,
    DefaultAspect,
    DefaultCount,
    QuickMode,
}
