//! A user's own settings (⚙️): the language they chose over Telegram's (`language`, NULL =
//! follow Telegram), the format and number of images they start from (`default_aspect`,
//! `default_count`, NULL = ask), and quick mode (generate right after the prompt).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
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
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
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
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
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
