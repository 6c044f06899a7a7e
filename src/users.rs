//! Registering Telegram users and reading their language.
//!
//! Every update needs the user's row. Writing it on every update would be the busiest statement
//! of the bot, so it is read (one index look-up) and written only when something changed:
//! `last_seen_at` is fresh to within [`SEEN_TTL`]. Nothing about users is cached outside the
//! database (see [`seen`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

/// How long a user row goes without its `last_seen_at` being written again.
pub const SEEN_TTL: Duration = Duration::from_secs(600);

/// Inserts the user or refreshes their names, language and last-seen time, in one statement.
pub async fn upsert(
    db: &DatabaseConnection,
    from: &teloxide::types::User,
) -> Result<user::Model, DbErr> {
    let now = Utc::now();
    let row = user::ActiveModel {
        telegram_id: Set(telegram_id(from)),
        first_name: Set(from.first_name.clone()),
        last_name: Set(from.last_name.clone()),
        username: Set(from.username.clone()),
        language_code: Set(from.language_code.clone()),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    };
    user::Entity::insert(row)
        .on_conflict(
            OnConflict::column(user::Column::TelegramId)
                .update_columns([
                    user::Column::FirstName,
                    user::Column::LastName,
                    user::Column::Username,
                    user::Column::LanguageCode,
                    user::Column::LastSeenAt,
                ])
                .to_owned(),
        )
        .exec_with_returning(db)
        .await
}

fn telegram_id(from: &teloxide::types::User) -> i64 {
    i64::try_from(from.id.0).unwrap_or(i64::MAX)
}

/// The user's row as the database has it now, written first when it is new, when Telegram
/// reports other names or another language, or when `last_seen_at` is older than [`SEEN_TTL`].
///
/// Read every time, never cached: everything money and ownership rest on (`users.id` above all)
/// comes from the database behind this request, so no cache kept from another database (a
/// restore, a new server, a staging copy) can hand one user's id to another. The read is one
/// unique-index look-up; the write happens about once per user per [`SEEN_TTL`].
pub async fn seen(
    db: &DatabaseConnection,
    from: &teloxide::types::User,
) -> Result<user::Model, DbErr> {
    let found = user::Entity::find()
        .filter(user::Column::TelegramId.eq(telegram_id(from)))
        .one(db)
        .await?;
    match found {
        Some(row) if current(&row, from, Utc::now()) => Ok(row),
        _ => upsert(db, from).await,
    }
}

/// True when the stored row says what Telegram says and was seen recently.
fn current(row: &user::Model, from: &teloxide::types::User, now: DateTime<Utc>) -> bool {
    row.first_name == from.first_name
        && row.last_name == from.last_name
        && row.username == from.username
        && row.language_code == from.language_code
        && now - row.last_seen_at < chrono::Duration::from_std(SEEN_TTL).unwrap_or_default()
}

/// One of a user's ⚙️ settings, written as chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting<'a> {
    /// `None`: follow Telegram's language.
    Language(Option<&'a str>),
    /// An index into the offered aspect ratios; `None`: ask.
    DefaultAspect(Option<i16>),
    /// 1–4; `None`: ask.
    DefaultCount(Option<i16>),
    QuickMode(bool),
}

/// Stores one setting of the user with row id `user_id`; returns the row as it is now.
pub async fn set(
    db: &DatabaseConnection,
    user_id: i64,
    setting: Setting<'_>,
) -> Result<Option<user::Model>, DbErr> {
    let mut row = user::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(user_id),
        ..Default::default()
    };
    match setting {
        Setting::Language(code) => row.language = Set(code.map(str::to_owned)),
        Setting::DefaultAspect(v) => row.default_aspect = Set(v),
        Setting::DefaultCount(v) => row.default_count = Set(v),
        Setting::QuickMode(on) => row.quick_mode = Set(on),
    }
    user::Entity::update_many()
        .set(row)
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    user::Entity::find_by_id(user_id).one(db).await
}

/// The language a user's row asks for: their choice in ⚙️, else what Telegram reports.
#[must_use]
pub fn lang_of(user: &user::Model) -> crate::i18n::Lang {
    crate::i18n::Lang::from_code(user.language.as_deref().or(user.language_code.as_deref()))
}

/// The language for a Telegram user on a path that has no row at hand (a failure notice, a
/// pre-checkout answer): the ⚙️ choice when the database answers within a second, else the
/// `language_code` Telegram sent.
pub async fn lang_for(
    db: &DatabaseConnection,
    telegram_id: i64,
    language_code: Option<&str>,
) -> crate::i18n::Lang {
    let chosen = tokio::time::timeout(
        Duration::from_secs(1),
        user::Entity::find()
            .filter(user::Column::TelegramId.eq(telegram_id))
            .one(db),
    )
    .await;
    match chosen {
        Ok(Ok(Some(row))) if row.language.is_some() => lang_of(&row),
        _ => crate::i18n::Lang::from_code(language_code),
    }
}

/// The user's default format, when it names one of the offered aspect ratios.
#[must_use]
pub fn default_aspect(user: &user::Model) -> Option<(u8, crate::provider::AspectRatio)> {
    let index = u8::try_from(user.default_aspect?).ok()?;
    crate::provider::AspectRatio::ALL
        .get(usize::from(index))
        .map(|aspect| (index, *aspect))
}

/// The user's default number of images, when it is one the bot offers.
#[must_use]
pub fn default_count(user: &user::Model) -> Option<u8> {
    u8::try_from(user.default_count?)
        .ok()
        .filter(|n| (1..=crate::domain::MAX_IMAGES).contains(n))
}
