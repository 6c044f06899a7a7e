//! 🎭 Avatars: a name, a gender and 10–20 photos make a draft; training it (paid once) sends
//! the photos to the provider as a zip behind a signed URL; the provider's webhook makes it
//! ready (or failed and refunded). Every action checks that the avatar is the presser's.

pub mod archive;
pub mod photos;
pub mod screens;
pub mod training;

use chrono::Utc;
use entity::{avatar, avatar_photo};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, sea_query::Expr,
};

use std::path::PathBuf;

use teloxide::{net::Download, prelude::Requester, types::InputFile};

use crate::{
    domain::{AvatarId, AvatarStatus, UserId},
    i18n::Lang,
    state::AppState,
};

/// Name length bounds, in characters.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub const ALL: [Self; 2] = [Self::Male, Self::Female];

    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
        }
    }

    /// The word trained into the trigger (and so put in front of every prompt).
    #[must_use]
    fn word(self) -> &'static str {
        match self {
            Self::Male => "man",
            Self::Female => "woman",
        }
    }
}

/// A new unique trigger: a rare token the LoRA learns, then the gender's word, e.g.
/// "TOK_k3x9q2vd woman". The token is random; the table's unique index backs it.
#[must_use]
pub fn new_trigger(gender: Gender) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let token: String = (0..8)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect();
    format!("TOK_{token} {}", gender.word())
}

/// The user's avatar with this id (others' ids read as none).
pub async fn owned<C: ConnectionTrait>(
    db: &C,
    user: UserId,
    id: AvatarId,
) -> Result<Option<avatar::Model>, DbErr> {
    let (user_id, id) = (user.0, id.0);
    avatar::Entity::find_by_id(id)
        .filter(avatar::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// The user's avatars, newest first.
pub async fn list<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Vec<avatar::Model>, DbErr> {
    avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(user_id))
        .order_by_desc(avatar::Column::Id)
        .all(db)
        .await
}

/// A new draft.
pub async fn create_draft<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    name: &str,
    gender: Gender,
    chat_id: i64,
    lang: Lang,
) -> Result<avatar::Model, DbErr> {
    let now = Utc::now();
    avatar::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        status: Set(AvatarStatus::Draft.into()),
        trigger_phrase: Set(None),
        lora_url: Set(None),
        is_main: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        gender: Set(Some(gender.key().to_owned())),
        chat_id: Set(Some(chat_id)),
        lang: Set(Some(crate::generation::lang_code(lang).to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// How many photos a draft has.
pub async fn photo_count<C: ConnectionTrait>(db: &C, avatar_id: i64) -> Result<u64, DbErr> {
    avatar_photo::Entity::find()
        .filter(avatar_photo::Column::AvatarId.eq(avatar_id))
        .count(db)
        .await
}

/// A draft's photos, in the order they came.
pub async fn photos<C: ConnectionTrait>(
    db: &C,
    avatar_id: i64,
) -> Result<Vec<avatar_photo::Model>, DbErr> {
    avatar_photo::Entity::find()
        .filter(avatar_photo::Column::AvatarId.eq(avatar_id))
        .order_by_asc(avatar_photo::Column::Id)
        .all(db)
        .await
}

/// A photo's bytes on this replica's disk: the cached copy, or fetched from Telegram by the
/// file's own id (Telegram keeps the photos; each replica's disk is only a cache, so a photo
/// that came through another replica is fetched here on first use).
pub async fn local_copy(
    state: &AppState,
    file_path: &str,
    source_file_id: Option<&str>,
) -> std::io::Result<PathBuf> {
    let path = state.settings.avatar.photos_dir.join(file_path);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(path);
    }
    let Some(source) = source_file_id else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the photo is on another replica's disk and has no Telegram file id",
        ));
    };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let file = state
        .bot
        .get_file(source.to_owned().into())
        .await
        .map_err(std::io::Error::other)?;
    // Written aside and renamed: a reader never sees half a photo.
    let partial = path.with_extension(format!("partial-{:08x}", rand::random::<u32>()));
    let mut out = tokio::fs::File::create(&partial).await?;
    let downloaded = state.bot.download_file(&file.path, &mut out).await;
    drop(out);
    if let Err(e) = downloaded {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(std::io::Error::other(e));
    }
    tokio::fs::rename(&partial, &path).await?;
    Ok(path)
}

/// A stored photo as Telegram can take it: by file_id when Telegram has it as a photo, else
/// uploaded (an image the user sent as a file) from this replica's copy.
pub async fn picture(state: &AppState, photo: &avatar_photo::Model) -> std::io::Result<InputFile> {
    if let Some(id) = &photo.telegram_file_id {
        return Ok(InputFile::file_id(id.clone().into()));
    }
    let path = local_copy(state, &photo.file_path, photo.source_file_id.as_deref()).await?;
    Ok(InputFile::file(path))
}

/// The picture on an avatar's card: the kept cover, or a draft's first photo. A picture that
/// can't be had (Telegram lost it) leaves the card without one.
pub async fn cover(state: &AppState, avatar: &avatar::Model) -> Result<Option<InputFile>, DbErr> {
    if let Some(id) = &avatar.cover_file_id {
        return Ok(Some(InputFile::file_id(id.clone().into())));
    }
    let mut find =
        avatar_photo::Entity::find().filter(avatar_photo::Column::AvatarId.eq(avatar.id));
    if let Some(path) = &avatar.cover_path {
        find = find.filter(avatar_photo::Column::FilePath.eq(path));
    }
    let Some(photo) = find
        .order_by_asc(avatar_photo::Column::Id)
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    match picture(state, &photo).await {
        Ok(picture) => Ok(Some(picture)),
        Err(e) => {
            tracing::warn!(avatar = avatar.id, error = %e, "the avatar's picture is unavailable");
            Ok(None)
        }
    }
}

/// Makes `avatar_id` the user's main avatar (only a ready one can be).
pub async fn make_main<C: ConnectionTrait>(
    db: &C,
    user: UserId,
    avatar_id: AvatarId,
) -> Result<bool, DbErr> {
    let Some(avatar) = owned(db, user, avatar_id).await? else {
        return Ok(false);
    };
    if avatar.status != AvatarStatus::Ready {
        return Ok(false);
    }
    // One statement: this one on, every other off, so two taps at once leave one main.
    avatar::Entity::update_many()
        .col_expr(
            avatar::Column::IsMain,
            sea_orm::ExprTrait::eq(Expr::col(avatar::Column::Id), avatar_id),
        )
        .filter(avatar::Column::UserId.eq(user))
        .exec(db)
        .await?;
    Ok(true)
}

/// After the main avatar is deleted: the newest ready one takes its place.
pub async fn elect_main<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<(), DbErr> {
    let has_main = avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(user_id))
        .filter(avatar::Column::IsMain.eq(true))
        .count(db)
        .await?
        > 0;
    if has_main {
        return Ok(());
    }
    let newest = avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(user_id))
        .filter(avatar::Column::Status.eq(AvatarStatus::Ready))
        .order_by_desc(avatar::Column::Id)
        .one(db)
        .await?;
    if let Some(avatar) = newest {
        make_main(db, UserId(user_id), AvatarId(avatar.id)).await?;
    }
    Ok(())
}

/// Where an avatar's photos live.
#[must_use]
pub fn dir(settings: &crate::config::Settings, avatar_id: i64) -> std::path::PathBuf {
    settings.avatar.photos_dir.join(avatar_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_triggers() {
        // (Names: `domain::AvatarName`'s tests.)
        let a = new_trigger(Gender::Female);
        let b = new_trigger(Gender::Female);
        assert!(a.starts_with("TOK_") && a.ends_with(" woman"), "{a}");
        assert_ne!(a, b);
        assert!(new_trigger(Gender::Male).ends_with(" man"));
    }
}
