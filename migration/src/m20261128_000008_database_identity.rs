//! The database's identity: a random value made once, when the schema is created, and kept in
//! the database itself. Whatever the app keeps outside the database about its rows (locks named
//! after row ids, deadline broadcasts) is namespaced with it, so another database (a new server,
//! a fresh staging one sharing the Redis) never reads it. A copy of the database carries the
//! same identity: `aisha admin new-database-identity` gives a copy its own.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DatabaseIdentity::Table)
                    // SQLite runs migrations outside a transaction: a rerun after a failure
                    // finds the table.
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DatabaseIdentity::Id)
                            .integer()
                            .not_null()
                            .primary_key()
                            // One row only.
                            .check(Expr::col(DatabaseIdentity::Id).eq(1)),
                    )
                    .col(ColumnDef::new(DatabaseIdentity::Identity).text().not_null())
                    .to_owned(),
            )
            .await?;
        // 128 random bits from the database's own generator: the migration crate needs no RNG.
        let random = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text)"
            }
            _ => "lower(hex(randomblob(16)))",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO database_identity (id, identity) VALUES (1, {random}) \
                 ON CONFLICT (id) DO NOTHING"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DatabaseIdentity::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum DatabaseIdentity {
    Table,
    Id,
    Identity,
}
