//! `aisha admin ...`: operator commands on the configured database. Each returns the text to
//! print; an `Err` makes the command exit non-zero.

use crate::domain::Coins;
use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{ledger as entry, payment, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use std::fmt::Write as _;
use teloxide::Bot;

use crate::{
    config::Settings,
    domain::UserId,
    kv::{Kv, KvScopes, KvStore},
    ledger::{self, Kind},
    payments::{self, Refunded},
    promo,
};

async fn find_user(db: &DatabaseConnection, telegram_id: i64) -> anyhow::Result<user::Model> {
    user::Entity::find()
        .filter(user::Column::TelegramId.eq(telegram_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            anyhow!("no user with Telegram id {telegram_id} (they must /start the bot first)")
        })
}

/// `admin grant`: credits coins. `key` makes a re-run a no-op; without one every run grants.
pub async fn grant(
    db: &DatabaseConnection,
    telegram_id: i64,
    coins: i64,
    reason: Option<&str>,
    key: Option<&str>,
) -> anyhow::Result<String> {
    if !(1..=ledger::MAX_AMOUNT).contains(&coins) {
        bail!("--coins must be between 1 and {}", ledger::MAX_AMOUNT);
    }
    let user = find_user(db, telegram_id).await?;
    // Without a key, make one and print it: if the outcome is unclear (a dropped connection),
    // re-running with it cannot grant twice.
    let key = key.map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned);
    let credit = ledger::credit(
        db,
        UserId(user.id),
        Coins(coins),
        Kind::Grant,
        reason,
        &format!("grant:{key}"),
    )
    .await?;
    Ok(if credit.fresh {
        format!(
            "granted {coins} coins to {telegram_id}; balance {} (key {key})",
            credit.balance
        )
    } else {
        format!(
            "already granted with key {key}; balance was {}",
            credit.balance
        )
    })
}

/// `admin user`: balance, ledger and counts.
pub async fn user_report(db: &DatabaseConnection, telegram_id: i64) -> anyhow::Result<String> {
    let user = find_user(db, telegram_id).await?;
    let balance = ledger::balance(db, UserId(user.id)).await?;
    let entries = entry::Entity::find()
        .filter(entry::Column::UserId.eq(user.id))
        .count(db)
        .await?;
    let payments = payment::Entity::find()
        .filter(payment::Column::UserId.eq(user.id))
        .count(db)
        .await?;
    let mut out = String::new();
    let name = [Some(user.first_name.as_str()), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        out,
        "user {} ({name}{})",
        user.telegram_id,
        user.username
            .as_deref()
            .map(|u| format!(", @{u}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "language {}, since {}, last seen {}",
        user.language_code.as_deref().unwrap_or("-"),
        user.created_at.format("%Y-%m-%d %H:%M"),
        user.last_seen_at.format("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(
        out,
        "balance {balance} coins; {entries} ledger entries; {payments} Stars payments"
    );
    let _ = writeln!(out, "recent ledger:");
    for e in ledger::history(db, UserId(user.id), 20).await? {
        let _ = writeln!(
            out,
            "  {}  {:>+6}  {:<15} balance {:>6}  {}",
            e.created_at.format("%Y-%m-%d %H:%M:%S"),
            e.amount,
            e.kind,
            e.balance_after,
            e.reference.as_deref().unwrap_or("")
        );
    }
    Ok(out)
}

/// `admin audit`: `Err` (non-zero exit) on any mismatch.
pub async fn audit(db: &DatabaseConnection) -> anyhow::Result<String> {
    let users = user::Entity::find().count(db).await?;
    let mismatches = ledger::audit(db).await?;
    if mismatches.is_empty() {
        return Ok(format!(
            "ok: {users} users, every balance equals the sum of its ledger"
        ));
    }
    let mut out = format!("{} of {users} users do not balance:\n", mismatches.len());
    for m in &mismatches {
        let _ = writeln!(
            out,
            "  user {}: balance {}, ledger sum {}",
            m.telegram_id, m.balance, m.ledger_sum
        );
    }
    Err(anyhow!(out))
}

/// Accepts `2026-12-31` (end of that day, UTC) or an RFC 3339 time.
pub fn parse_expiry(input: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(input) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(input, "%Y-%m-%d")
        .with_context(|| format!("--expires {input:?}: use YYYY-MM-DD or an RFC 3339 time"))?;
    day.and_hms_opt(23, 59, 59)
        .map(|t| t.and_utc())
        .ok_or_else(|| anyhow!("--expires {input:?} is not a valid date"))
}

pub async fn promo_create(
    db: &DatabaseConnection,
    code: &str,
    coins: i64,
    max_uses: Option<i64>,
    expires: Option<&str>,
) -> anyhow::Result<String> {
    let expires_at = expires.map(parse_expiry).transpose()?;
    let p = promo::create(db, code, coins, max_uses, expires_at).await?;
    Ok(format!(
        "created {}: {} coins, {} uses, {}",
        p.code,
        p.coins,
        p.max_uses
            .map_or_else(|| "unlimited".to_owned(), |m| m.to_string()),
        p.expires_at.map_or_else(
            || "never expires".to_owned(),
            |at| format!("expires {}", at.format("%Y-%m-%d %H:%M UTC"))
        )
    ))
}

pub async fn promo_list(db: &DatabaseConnection) -> anyhow::Result<String> {
    let codes = promo::list(db).await?;
    if codes.is_empty() {
        return Ok("no promo codes".into());
    }
    let now = Utc::now();
    let mut out = String::new();
    for p in codes {
        let state = if p.disabled {
            "disabled"
        } else if p.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else if p.max_uses.is_some_and(|m| p.uses >= m) {
            "used up"
        } else {
            "active"
        };
        let _ = writeln!(
            out,
            "{:<20} {:>6} coins  used {}/{}  {:<9} {}",
            p.code,
            p.coins,
            p.uses,
            p.max_uses.map_or_else(|| "∞".to_owned(), |m| m.to_string()),
            state,
            p.expires_at.map_or_else(String::new, |at| format!(
                "expires {}",
                at.format("%Y-%m-%d %H:%M UTC")
            ))
        );
    }
    Ok(out)
}

pub async fn promo_disable(db: &DatabaseConnection, code: &str) -> anyhow::Result<String> {
    promo::disable(db, code).await?;
    Ok(format!("disabled {}", code.trim().to_uppercase()))
}

pub async fn refund_stars(
    db: &DatabaseConnection,
    bot: &Bot,
    charge_id: &str,
) -> anyhow::Result<String> {
    match payments::refund_stars(db, bot, charge_id).await? {
        Refunded::Done {
            telegram_id,
            stars,
            coins,
            balance,
        } => Ok(format!(
            "refunded {stars} ⭐ to {telegram_id} and took back {coins} coins; balance {balance}"
        )),
        Refunded::AlreadyRefunded => Ok(format!("{charge_id} was already refunded; nothing to do")),
    }
}

/// `admin drop-cache`: deletes every key of this bot's database scopes (all databases it ever
/// ran against) from Redis, by SCAN and UNLINK under the prefix: never other keys, never
/// FLUSHDB. What goes: short locks and flags named after row ids, which after a restore may name
/// other rows. Safe while replicas run: each of them writes what it needs again, and the
/// database's own keys (ledger idempotency keys, generation start keys) still stop any second
/// charge. The bot's update marks stay: they describe Telegram traffic, which a restore does not
/// change.
pub async fn drop_cache(settings: &Settings, sandbox: bool) -> anyhow::Result<String> {
    if settings.telegram_bot_token.is_none() && !sandbox {
        bail!(
            "TELEGRAM_BOT_TOKEN is needed: the bot's keys are named by its id (for the sandbox's \
             bot, pass --sandbox)"
        );
    }
    if settings.redis_url.is_none() {
        return Ok(
            "No REDIS_URL: the cache lives inside the running process and goes with it. \
                   Restart the bot instead."
                .to_owned(),
        );
    }
    let base = Kv::from_settings(settings).context("REDIS_URL")?;
    base.ping().await.context("Redis is unreachable")?;
    let scope = KvScopes::databases(&base, settings.bot_id());
    let dropped = scope.drop_all().await.context("dropping the cache")?;
    let mut said = format!("dropped {dropped} cached key(s) under {}*", scope.prefix());
    if dropped == 0 {
        said.push_str(
            "\nNothing was cached there: check TELEGRAM_BOT_TOKEN and AISHA_CACHE__KEY_PREFIX \
             against the running bot's.",
        );
    }
    Ok(said)
}

/// `admin new-database-identity`: gives this database a new identity, so nothing cached about
/// another database with the old one (the original this copy was made from) is read against it.
/// Run it on a copy before starting a bot on it; running bots read the identity at start-up.
pub async fn new_database_identity(db: &DatabaseConnection) -> anyhow::Result<String> {
    let identity = format!("{:032x}", rand::random::<u128>());
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                "UPDATE database_identity SET identity = $1 WHERE id = 1"
            }
            _ => "UPDATE database_identity SET identity = ?1 WHERE id = 1",
        },
        [identity.clone().into()],
    ))
    .await?;
    Ok(format!(
        "database identity is now {identity}; restart every bot that uses this database"
    ))
}

/// `replay-dead-letters`: each kept update is posted to the running bot's webhook with the
/// configured secret, oldest first; one answered 200 is removed (if it failed again, the bot has
/// kept it anew), one answered otherwise stays. Needs `TELEGRAM_WEBHOOK_SECRET`.
pub async fn replay_dead_letters(
    db: &DatabaseConnection,
    settings: &Settings,
    url: Option<String>,
) -> anyhow::Result<String> {
    let Some(secret) = &settings.telegram_webhook_secret else {
        bail!("TELEGRAM_WEBHOOK_SECRET is needed: the bot only takes updates that carry it");
    };
    let base = url.unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.listen_addr.port()));
    let endpoint = format!("{}/telegram/webhook", base.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(
            settings.server.request_timeout_secs + 5,
        ))
        .build()
        .context("HTTP client")?;
    let (mut replayed, mut kept) = (0, 0);
    let mut out = String::new();
    let mut sent = std::collections::HashSet::new();
    for letter in crate::dead_letters::all(db).await? {
        // The same update kept twice (its answer was lost once): sent once.
        if let Some(id) = letter.update_id
            && !sent.insert(id)
        {
            crate::dead_letters::remove(db, letter.id).await?;
            continue;
        }
        let answer = http
            .post(&endpoint)
            .header(crate::http::webhook::SECRET_HEADER, secret.expose())
            .header(crate::http::webhook::REPLAY_HEADER, "1")
            .header("content-type", "application/json")
            .body(letter.body.clone())
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => {
                crate::dead_letters::remove(db, letter.id).await?;
                replayed += 1;
            }
            Ok(response) => {
                kept += 1;
                let _ = writeln!(
                    out,
                    "dead letter {} kept: HTTP {}",
                    letter.id,
                    response.status()
                );
            }
            Err(e) => {
                kept += 1;
                let _ = writeln!(out, "dead letter {} kept: {}", letter.id, e.without_url());
            }
        }
    }
    let _ = write!(out, "{replayed} replayed, {kept} kept");
    Ok(out)
}
