//! 📸 Photos for a draft: sent as photos or as image documents, each checked (JPEG/PNG/WEBP by
//! magic bytes, size, shorter side, not a duplicate by content hash, the count) with the reason
//! told when refused. One status message shows the count, edited in place; edits are debounced,
//! so an album of ten makes one or two edits rather than ten.
//!
//! Photos of an album arrive as parallel updates: the count check and the insert run in one
//! transaction holding the avatar's row (PostgreSQL `FOR UPDATE`; SQLite has one writer), and
//! the content hash is unique per avatar, so every photo is counted once and never past the max.

use std::time::Duration;

use chrono::Utc;
use entity::{avatar, avatar_photo};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QuerySelect, TransactionTrait,
};
use sha2::{Digest, Sha256};
use teloxide::{
    net::Download,
    payloads::{EditMessageTextSetters, SendMessageSetters},
    prelude::Requester,
    types::{ChatId, InlineKeyboardMarkup, Message, MessageId, ParseMode, ReplyParameters},
};

use crate::domain::{AvatarStatus, PhotoRules};
use crate::{
    domain::{AvatarId, UserId},
    i18n::{Lang, UploadStatus},
    kv::KvStore,
    state::AppState,
    telegram::{
        callback::{AvatarAction, Callback},
        ctx::Ctx,
        error::{HandlerError, not_modified_is_ok},
        keyboards::button,
    },
};

pub use crate::domain::PhotoRefusal as Refusal;
pub use crate::media::Format;

/// A checked photo, ready to store.
struct Checked {
    size: u64,
    format: Format,
    width: u32,
    height: u32,
    sha256: String,
}

/// The checks that need only the bytes.
fn check(bytes: &[u8], max_bytes: u64, min_side: u32) -> Result<Checked, Refusal> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max_bytes {
        return Err(Refusal::TooBig);
    }
    let format = Format::sniff(bytes).ok_or(Refusal::NotImage)?;
    let size = imagesize::blob_size(bytes).map_err(|_| Refusal::NotImage)?;
    let (width, height) = (
        u32::try_from(size.width).unwrap_or(0),
        u32::try_from(size.height).unwrap_or(0),
    );
    if width.min(height) < min_side {
        return Err(Refusal::TooSmall { width, height });
    }
    Ok(Checked {
        size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        format,
        width,
        height,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

/// The Telegram file a message carries, if it is a photo or a document.
struct Attachment {
    file_id: String,
    size: u64,
    /// A photo (its file_id can be sent back as a photo; a document's can't).
    photo: bool,
}

fn attachment(message: &Message) -> Option<Attachment> {
    if let Some(sizes) = message.photo() {
        // Telegram lists the sizes smallest first: the last is the largest.
        let largest = sizes
            .iter()
            .max_by_key(|s| u64::from(s.width) * u64::from(s.height))?;
        return Some(Attachment {
            file_id: largest.file.id.to_string(),
            size: u64::from(largest.file.size),
            photo: true,
        });
    }
    let document = message.document()?;
    Some(Attachment {
        file_id: document.file.id.to_string(),
        size: u64::from(document.file.size),
        photo: false,
    })
}

/// A photo (or image document) for the draft the user is filling.
pub async fn receive(ctx: &Ctx<'_>, message: &Message, avatar_id: i64) -> Result<(), HandlerError> {
    let state = ctx.state;
    let t = ctx.t();
    let settings = &state.settings.avatar;
    let Some(draft) = super::owned(&state.db, ctx.user_id(), AvatarId(avatar_id))
        .await?
        .filter(|a| a.status == AvatarStatus::Draft)
    else {
        crate::dialogue::clear(&state.db, ctx.telegram_id()).await?;
        return reply(ctx, message, t.photo_not_expected).await;
    };
    let Some(attached) = attachment(message) else {
        return reply(ctx, message, t.photo_not_image_hint).await;
    };
    let rules = PhotoRules {
        min_photos: settings.min_photos,
        max_photos: settings.max_photos,
        max_photo_bytes: settings.max_photo_bytes,
        min_side: settings.min_side,
    };
    let refuse = |why| async move { reply(ctx, message, &(t.photo_refused)(why, &rules)).await };
    if attached.size > settings.max_photo_bytes {
        return refuse(Refusal::TooBig).await;
    }
    // Quick refusal before downloading anything (the transaction below decides for real).
    if super::photo_count(&state.db, avatar_id).await? >= u64::from(settings.max_photos)
        && !already_have(state, avatar_id, message.id.0).await?
    {
        return refuse(Refusal::Full).await;
    }
    let file = ctx.bot().get_file(attached.file_id.clone().into()).await?;
    let mut bytes = Vec::new();
    ctx.bot().download_file(&file.path, &mut bytes).await?;
    let checked = match check(&bytes, settings.max_photo_bytes, settings.min_side) {
        Ok(checked) => checked,
        Err(why) => return refuse(why).await,
    };
    let relative = format!(
        "{avatar_id}/{}.{}",
        &checked.sha256[..32],
        checked.format.ext()
    );
    let path = settings.photos_dir.join(&relative);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    tokio::fs::write(&path, &bytes).await?;
    let shown_as = attached.photo.then_some(attached.file_id.as_str());
    let sources = Sources {
        shown_as,
        source: &attached.file_id,
    };
    match store(state, &draft, message.id.0, &sources, &checked, &relative).await? {
        Stored::Added | Stored::Again => {}
        Stored::Refused(why) => {
            // The same picture is on disk under the same name for the photo that was taken.
            if why != Refusal::Duplicate {
                let _ = tokio::fs::remove_file(&path).await;
            }
            return refuse(why).await;
        }
    }
    schedule_status(state, avatar_id).await;
    Ok(())
}

/// A photo or file while no draft is waiting for one.
pub async fn receive_unexpected(ctx: &Ctx<'_>, message: &Message) -> Result<(), HandlerError> {
    reply(ctx, message, ctx.t().photo_not_expected).await
}

/// Where Telegram has a photo: as a photo to show by id (not for a document), and the file the
/// bytes came from.
struct Sources<'a> {
    shown_as: Option<&'a str>,
    source: &'a str,
}

enum Stored {
    Added,
    /// This very message was stored before (a redelivered update).
    Again,
    Refused(Refusal),
}

async fn already_have(state: &AppState, avatar_id: i64, message_id: i32) -> Result<bool, DbErr> {
    Ok(avatar_photo::Entity::find()
        .select_only()
        .column(avatar_photo::Column::Id)
        .filter(avatar_photo::Column::AvatarId.eq(avatar_id))
        .filter(avatar_photo::Column::SourceMessageId.eq(i64::from(message_id)))
        .into_tuple::<i64>()
        .one(&state.db)
        .await?
        .is_some())
}

/// Counts and inserts under the avatar's row lock.
async fn store(
    state: &AppState,
    draft: &avatar::Model,
    message_id: i32,
    sources: &Sources<'_>,
    checked: &Checked,
    relative: &str,
) -> Result<Stored, DbErr> {
    let txn = state.db.begin().await?;
    let mut find = avatar::Entity::find_by_id(draft.id);
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        find = find.lock_exclusive();
    }
    let Some(avatar) = find
        .one(&txn)
        .await?
        .filter(|a| a.status == AvatarStatus::Draft)
    else {
        return Ok(Stored::Refused(Refusal::Full));
    };
    let same = avatar_photo::Entity::find()
        .filter(avatar_photo::Column::AvatarId.eq(avatar.id))
        .filter(avatar_photo::Column::Sha256.eq(&checked.sha256))
        .one(&txn)
        .await?;
    if let Some(same) = same {
        return Ok(if same.source_message_id == i64::from(message_id) {
            Stored::Again
        } else {
            Stored::Refused(Refusal::Duplicate)
        });
    }
    if super::photo_count(&txn, avatar.id).await? >= u64::from(state.settings.avatar.max_photos) {
        return Ok(Stored::Refused(Refusal::Full));
    }
    avatar_photo::ActiveModel {
        avatar_id: Set(avatar.id),
        file_path: Set(relative.to_owned()),
        sha256: Set(checked.sha256.clone()),
        format: Set(checked.format.ext().to_owned()),
        width: Set(i32::try_from(checked.width).unwrap_or(i32::MAX)),
        height: Set(i32::try_from(checked.height).unwrap_or(i32::MAX)),
        size: Set(i64::try_from(checked.size).unwrap_or(i64::MAX)),
        telegram_file_id: Set(sources.shown_as.map(str::to_owned)),
        source_file_id: Set(Some(sources.source.to_owned())),
        source_message_id: Set(i64::from(message_id)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Stored::Added)
}

async fn reply(ctx: &Ctx<'_>, message: &Message, text: &str) -> Result<(), HandlerError> {
    ctx.bot()
        .send_message(ctx.chat, text)
        .parse_mode(ParseMode::Html)
        .reply_parameters(ReplyParameters::new(message.id))
        .await?;
    Ok(())
}

/// How long the status message waits for more photos before it is edited.
const SETTLE: Duration = Duration::from_millis(400);

/// Refreshes the status message soon; photos arriving meanwhile share the edit.
pub async fn schedule_status(state: &AppState, avatar_id: i64) {
    let key = format!("avatar-status:{avatar_id}");
    match state.kv.db.set_nx(&key, "1", Duration::from_secs(30)).await {
        Ok(true) => {
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(SETTLE).await;
                // Cleared before counting: a photo stored after this schedules its own edit.
                if let Err(e) = state.kv.db.del(&key).await {
                    tracing::warn!(error = %e, "could not clear the status flag (it expires)");
                }
                if let Err(e) = refresh_status(&state, avatar_id, false).await {
                    tracing::warn!(avatar = avatar_id, error = %e, "could not refresh the photo count");
                }
            });
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "status debounce unavailable; editing now");
            if let Err(e) = refresh_status(state, avatar_id, false).await {
                tracing::warn!(avatar = avatar_id, error = %e, "could not refresh the photo count");
            }
        }
    }
}

/// The status screen of a draft: count, bounds, price and balance, and what can be done.
pub async fn status_screen(
    state: &AppState,
    draft: &avatar::Model,
) -> Result<(String, InlineKeyboardMarkup), DbErr> {
    let t = Lang::from_code(draft.lang.as_deref()).texts();
    let settings = &state.settings;
    let count = super::photo_count(&state.db, draft.id).await?;
    let balance = crate::ledger::balance(&state.db, UserId(draft.user_id)).await?;
    let ready = count >= u64::from(settings.avatar.min_photos);
    let text = (t.avatar_upload_status)(&UploadStatus {
        name: &draft.name,
        count,
        min: settings.avatar.min_photos,
        max: settings.avatar.max_photos,
        price: settings.prices.avatar_training,
        balance,
    });
    let mut rows = Vec::new();
    if count > 0 {
        rows.push(vec![button(
            &(t.btn_view_photos)(count),
            Callback::Avatar(AvatarAction::Photos(AvatarId(draft.id), 0)),
        )]);
    }
    if ready {
        rows.push(vec![button(
            &(t.btn_start_training)(settings.prices.avatar_training),
            Callback::Avatar(AvatarAction::Train(AvatarId(draft.id))),
        )]);
    }
    rows.push(vec![button(
        t.btn_my_avatars,
        Callback::Avatar(AvatarAction::List),
    )]);
    Ok((text, InlineKeyboardMarkup::new(rows)))
}

/// Shows the draft's count on its status message (a new one when `new` or when it can't be
/// edited), remembering which message that is.
pub async fn refresh_status(
    state: &AppState,
    avatar_id: i64,
    new: bool,
) -> Result<(), HandlerError> {
    let Some(draft) = avatar::Entity::find_by_id(avatar_id)
        .one(&state.db)
        .await?
        .filter(|a| a.status == AvatarStatus::Draft)
    else {
        return Ok(());
    };
    let Some(chat) = draft.chat_id.map(ChatId) else {
        return Ok(());
    };
    let (text, kb) = status_screen(state, &draft).await?;
    if !new && let Some(id) = draft.status_message_id {
        let edited = state
            .bot
            .edit_message_text(chat, MessageId(i32::try_from(id).unwrap_or(0)), &text)
            .parse_mode(ParseMode::Html)
            .reply_markup(kb.clone())
            .await;
        match not_modified_is_ok(edited) {
            Ok(()) => return Ok(()),
            Err(e) => tracing::info!(error = %e, "status message not editable; sending a new one"),
        }
    }
    let sent = state
        .bot
        .send_message(chat, text)
        .parse_mode(ParseMode::Html)
        .reply_markup(kb)
        .await?;
    avatar::Entity::update_many()
        .col_expr(
            avatar::Column::StatusMessageId,
            sea_orm::sea_query::Expr::val(i64::from(sent.id.0)),
        )
        .filter(avatar::Column::Id.eq(avatar_id))
        .exec(&state.db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        let mut writer = encoder.write_header().unwrap();
        writer
            .write_image_data(&vec![7; (width * height) as usize])
            .unwrap();
        drop(writer);
        out
    }

    #[test]
    fn checks_type_size_and_sides() {
        assert_eq!(Format::sniff(&[0xff, 0xd8, 0xff, 0xe0]), Some(Format::Jpeg));
        assert_eq!(Format::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(Format::sniff(b"GIF89a"), None);
        let ok = check(&png(600, 512), 1 << 20, 512).unwrap();
        assert_eq!((ok.format, ok.width, ok.height), (Format::Png, 600, 512));
        assert_eq!(ok.sha256.len(), 64);
        assert_eq!(
            check(&png(800, 300), 1 << 20, 512).err(),
            Some(Refusal::TooSmall {
                width: 800,
                height: 300
            })
        );
        assert_eq!(
            check(b"just some text", 1 << 20, 512).err(),
            Some(Refusal::NotImage)
        );
        assert_eq!(check(&png(600, 600), 10, 512).err(), Some(Refusal::TooBig));
        // A PNG signature on garbage is not an image.
        assert_eq!(
            check(b"\x89PNG\r\n\x1a\nnonsense", 1 << 20, 512).err(),
            Some(Refusal::NotImage)
        );
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the validator.
        #[test]
        fn arbitrary_bytes_are_checked_safely(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = check(&bytes, 1 << 20, 512);
        }

        /// Valid images cut anywhere, or with a byte changed, never panic it either.
        #[test]
        fn truncated_and_corrupted_images_are_checked_safely(
            jpeg in proptest::prelude::any::<bool>(),
            at in 0usize..100_000,
            flip in 1u8..=255,
            cut in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = if jpeg { jpeg_bytes() } else { png(520, 530) };
            let at = at % bytes.len();
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] ^= flip;
            }
            let _ = check(&bytes, 1 << 20, 512);
        }
    }

    /// A small real JPEG (SOI, APP0, SOF0 of 600×600, ...), enough for the header parsers.
    fn jpeg_bytes() -> Vec<u8> {
        let mut out = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        out.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        out.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x02, 0x58, 0x03]);
        out.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        out.extend_from_slice(&[0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00]);
        out.extend_from_slice(&[0x12; 64]);
        out.extend_from_slice(&[0xff, 0xd9]);
        out
    }
}
