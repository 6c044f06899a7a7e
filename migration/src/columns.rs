//! Adding and dropping single columns, the shape most later migrations take. One column per
//! statement: SQLite alters one thing at a time.

use sea_orm_migration::prelude::*;

/// `ALTER TABLE table ADD COLUMN column`.
pub async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    mut column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

/// `ALTER TABLE table DROP COLUMN column`.
pub async fn drop(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}
