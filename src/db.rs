//! Database connection (PostgreSQL or SQLite from the same entities) and migrations.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

use crate::config::Settings;

/// Connects with the configured pool bounds. For SQLite, creates the file's folder, switches to
/// WAL, and uses a single connection (see below).
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.database_url.expose();
    if let Some(path) = sqlite_file(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    // SQLite has one writer. With several pooled connections, two transactions that both read
    // and then write fail with "database is locked"; one connection serializes them instead.
    // (The embedded default is a single instance; production runs on PostgreSQL.)
    let max_connections = if sqlite_file(url).is_some() {
        1
    } else {
        settings.database.max_connections
    };
    options
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
        .connect_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
        .sqlx_logging(false);
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(|_| {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("db_statements_total").increment(1);
    });
    if sqlite_file(url).is_some() {
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;")
            .await?;
    }
    Ok(db)
}

/// Statements run by every connection this process opened (BEGIN/COMMIT not included): the
/// benchmark reads it, operators see it as `db_statements_total`.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

#[must_use]
pub fn statements() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// True when the database refused a write because the data breaks a constraint (a foreign key
/// to a row that is gone, a check, a not-null or unique rule). Unlike a dropped connection, the
/// same write will fail again: retrying it for hours is an outage, not a recovery.
#[must_use]
pub fn is_integrity_violation(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::error::ErrorKind};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(e) = e.as_ref() else {
        return false;
    };
    matches!(
        e.kind(),
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation
            | ErrorKind::ExclusionViolation
    )
}

/// True when the database refused a value itself (PostgreSQL's data exceptions, SQLSTATE class
/// 22: an invalid byte sequence, a number out of range, a string too long; SQLite's "too big"
/// and "mismatch"). The same write fails the same way every time.
#[must_use]
pub fn is_data_error(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(e) = e.as_ref() else {
        return false;
    };
    let code = e.code().unwrap_or_default();
    code.starts_with("22") && code.len() == 5 || matches!(code.as_ref(), "18" | "20")
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The identity the schema was created with (see the migration `database_identity`): what
/// namespaces everything kept outside the database about its rows.
pub async fn identity<C: ConnectionTrait>(db: &C) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT identity FROM database_identity WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("database_identity".into()))?;
    row.try_get("", "identity")
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            sqlite_file("sqlite://data/aisha.db?mode=rwc"),
            Some("data/aisha.db")
        );
        assert_eq!(sqlite_file("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
