//! 🖼️ The gallery: one card at a time, newest first, a photo message edited in place with the
//! Telegram file_id kept at delivery (no re-upload, no re-download).
//!
//! Positions in callback data are only hints: a stale one (an image deleted since, a count that
//! changed) wraps onto the current list instead of failing.

use chrono::{Datelike, FixedOffset, Offset, Utc};
use entity::{generation, generation_image};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Query,
};
use teloxide::{
    payloads::{EditMessageMediaSetters, SendPhotoSetters},
    prelude::Requester,
    types::{InlineKeyboardMarkup, InputFile, InputMedia, InputMediaPhoto, Message, ParseMode},
};

use crate::{
    generation::COMPLETED,
    i18n::GalleryCard,
    telegram::{
        callback::Callback,
        dispatch::Ctx,
        error::{HandlerError, not_modified_is_ok},
        keyboards::button,
        ui,
    },
};

/// The user's delivered images (those with a Telegram file_id), newest first.
fn images(user_id: i64) -> sea_orm::Select<generation_image::Entity> {
    generation_image::Entity::find()
        .filter(
            generation_image::Column::GenerationId.in_subquery(
                Query::select()
                    .column(generation::Column::Id)
                    .from(generation::Entity)
                    .and_where(generation::Column::UserId.eq(user_id))
                    .and_where(generation::Column::Status.eq(COMPLETED))
                    .to_owned(),
            ),
        )
        .filter(generation_image::Column::TelegramFileId.is_not_null())
}

/// Shows the card at `position` (wrapping), in place of `origin` when it is a gallery photo.
pub async fn show(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    position: u32,
) -> Result<(), HandlerError> {
    let db = &ctx.state.db;
    let t = ctx.t();
    let count = images(ctx.user.id).count(db).await?;
    if count == 0 {
        let kb = InlineKeyboardMarkup::new([
            vec![button(t.btn_create_image, Callback::CreateImage)],
            vec![button(t.btn_main_menu, Callback::MainMenu)],
        ]);
        ui::show(
            ctx.bot(),
            ctx.chat,
            origin.filter(|m| m.photo().is_none()),
            t.gallery_empty,
            kb,
        )
        .await?;
        return Ok(());
    }
    let index = u64::from(position) % count;
    let image = images(ctx.user.id)
        .order_by_desc(generation_image::Column::Id)
        .offset(index)
        .limit(1)
        .one(db)
        .await?;
    let Some(image) = image else {
        // Deleted between the two reads: show the first card.
        return Box::pin(show(ctx, origin, 0)).await;
    };
    let Some(g) = generation::Entity::find_by_id(image.generation_id)
        .one(db)
        .await?
    else {
        return Box::pin(show(ctx, origin, 0)).await;
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let index = usize::try_from(index).unwrap_or(0);
    let zone =
        FixedOffset::east_opt(ctx.state.settings.ui.utc_offset_minutes * 60).unwrap_or(Utc.fix());
    let at = g.created_at.with_timezone(&zone);
    let date = format!("{:02}.{:02}.{}", at.day(), at.month(), at.year());
    let caption = (t.gallery_caption)(&GalleryCard {
        position: index + 1,
        count,
        prompt: &g.prompt,
        avatar: g.avatar_name.as_deref(),
        aspect: &g.aspect,
        width: image.width,
        height: image.height,
        date: &date,
    });
    let at = |i: usize| Callback::GalleryCard(u32::try_from(i % count).unwrap_or(0));
    let kb = InlineKeyboardMarkup::new([
        vec![
            button("⬅️", at(index + count - 1)),
            button(&format!("{}/{count}", index + 1), at(index)),
            button("➡️", at(index + 1)),
        ],
        vec![button(t.btn_gallery_repeat, Callback::Regenerate(g.id))],
        vec![button(t.btn_main_menu, Callback::MainMenu)],
    ]);
    let file = InputFile::file_id(image.telegram_file_id.unwrap_or_default().into());
    match origin.filter(|m| m.photo().is_some()) {
        Some(message) => {
            let media = InputMediaPhoto::new(file)
                .caption(caption)
                .parse_mode(ParseMode::Html);
            not_modified_is_ok(
                ctx.bot()
                    .edit_message_media(ctx.chat, message.id, InputMedia::Photo(media))
                    .reply_markup(kb)
                    .await,
            )?;
        }
        None => {
            ctx.bot()
                .send_photo(ctx.chat, file)
                .caption(caption)
                .parse_mode(ParseMode::Html)
                .reply_markup(kb)
                .await?;
        }
    }
    Ok(())
}
