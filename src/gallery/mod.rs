//! 🖼️ The gallery: one card at a time, newest first, a photo message edited in place with the
//! Telegram file_id kept at delivery (no re-upload, no re-download).
//!
//! Positions in callback data are only hints: a stale one (an image deleted since, a count that
//! changed, a filter that no longer matches) wraps onto the current list instead of failing.

pub mod filter;

pub use crate::domain::Period;

use chrono::{Datelike, FixedOffset, Offset, Utc};
use entity::{generation, generation_image};
use filter::Filter;
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use teloxide::types::{CallbackQuery, InlineKeyboardMarkup, InputFile, Message};

use crate::{
    domain::UserId,
    domain::{GenerationId, GenerationStatus},
    i18n::{GalleryCard, GalleryStats, Texts},
    telegram::{
        callback::{Callback, GalleryAction, GenerationAction, MenuAction},
        ctx::Ctx,
        error::HandlerError,
        keyboards::button,
        ui,
    },
};

type When = chrono::DateTime<Utc>;

/// The configured time zone.
fn zone(ctx: &Ctx<'_>) -> FixedOffset {
    FixedOffset::east_opt(ctx.state.settings.ui.utc_offset_minutes * 60).unwrap_or(Utc.fix())
}

/// "24.11.2026" in the configured time zone.
pub fn day(ctx: &Ctx<'_>, at: When) -> String {
    let at = at.with_timezone(&zone(ctx));
    format!("{:02}.{:02}.{}", at.day(), at.month(), at.year())
}

/// All the user's delivered images (those with a Telegram file_id), unfiltered.
fn images(user_id: i64) -> sea_orm::Select<generation_image::Entity> {
    filter::select(user_id, &Filter::default(), Utc::now(), Utc.fix())
}

/// Whether a message is one of the gallery's own screens (a card, the filter screen, the empty
/// filter result), which the gallery may replace; anything else (a result, a menu) stays.
fn is_gallery_screen(message: &Message) -> bool {
    ui::has_button(message, |cb| {
        matches!(
            cb,
            Callback::Gallery(GalleryAction::Card(_)) | Callback::Gallery(GalleryAction::Filters)
        )
    })
}

/// Shows the card at `position` (wrapping). A card or another gallery screen pressed on is
/// replaced; a text screen (a menu) is edited when the gallery is empty; results stay.
pub async fn show(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    position: u32,
) -> Result<(), HandlerError> {
    // Only the gallery's own screens are replaced.
    let ours = origin.is_some_and(is_gallery_screen);
    // An image deleted between the two reads: the first card (tried twice more).
    let mut card = None;
    for at in [position, 0, 0] {
        card = card_at(ctx, at).await?;
        if card.is_some() {
            break;
        }
    }
    let card = card.unwrap_or_else(|| empty(ctx.t(), None));
    ui::card(ctx.bot(), ctx.chat, origin, ours, card).await?;
    Ok(())
}

/// The card at `position` (wrapping) under the user's filter, or the empty screen; `None` when
/// the image went away between the reads.
async fn card_at(ctx: &Ctx<'_>, position: u32) -> Result<Option<ui::Card>, HandlerError> {
    let db = &ctx.state.db;
    let t = ctx.t();
    let shown = filter::Shown::load(ctx).await?;
    let filter = &shown.filter;
    let listed = || filter::select(ctx.user.id, filter, Utc::now(), zone(ctx));
    let count = listed().count(db).await?;
    let summary = filter.active().then(|| (t.filter_summary)(&shown.view()));
    if count == 0 {
        // Nothing to show (the last image just deleted, or a filter nothing matches): the card
        // gives way to a text.
        return Ok(Some(empty(t, summary.as_deref())));
    }
    let index = u64::from(position) % count;
    let image = listed()
        .order_by_desc(generation_image::Column::Id)
        .offset(index)
        .limit(1)
        .one(db)
        .await?;
    let Some(image) = image else {
        return Ok(None);
    };
    let Some(g) = generation::Entity::find_by_id(image.generation_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let index = usize::try_from(index).unwrap_or(0);
    let date = day(ctx, g.created_at);
    let style = g
        .style
        .as_deref()
        .and_then(|id| ctx.state.settings.style(id))
        .map(|s| s.label(crate::generation::lang_code(ctx.lang)));
    let caption = (t.gallery_caption)(&GalleryCard {
        position: index + 1,
        count,
        prompt: &g.prompt,
        avatar: g.avatar_name.as_deref(),
        style: style.as_deref(),
        aspect: &g.aspect,
        width: image.width,
        height: image.height,
        date: &date,
        favorite: image.is_favorite,
        filter: summary.as_deref(),
    });
    let keyboard = card_keyboard(t, &image, g.id, index, count);
    let file = InputFile::file_id(image.telegram_file_id.unwrap_or_default().into());
    Ok(Some(ui::Card {
        photo: Some(file),
        text: caption,
        keyboard,
    }))
}

/// The empty gallery, or a filter nothing matches (with its summary).
fn empty(t: &Texts, summary: Option<&str>) -> ui::Card {
    let create = vec![button(
        t.btn_create_image,
        Callback::Generation(GenerationAction::Open),
    )];
    let menu = vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))];
    match summary {
        None => ui::Card::text(t.gallery_empty, InlineKeyboardMarkup::new([create, menu])),
        Some(summary) => ui::Card::text(
            &(t.gallery_filter_empty)(summary),
            InlineKeyboardMarkup::new([
                vec![
                    button(t.btn_filters, Callback::Gallery(GalleryAction::Filters)),
                    button(
                        t.btn_filter_reset,
                        Callback::Gallery(GalleryAction::FilterReset),
                    ),
                ],
                create,
                menu,
            ]),
        ),
    }
}

/// Under a card: ⬅️ i/N ➡️ (wrapping), 📋 🔄, ❤️ 🗑️, 🔍 📊, 🏠.
fn card_keyboard(
    t: &Texts,
    image: &generation_image::Model,
    generation_id: i64,
    index: usize,
    count: usize,
) -> InlineKeyboardMarkup {
    let at =
        |i: usize| Callback::Gallery(GalleryAction::Card(u32::try_from(i % count).unwrap_or(0)));
    let shown = u32::try_from(index).unwrap_or(0);
    InlineKeyboardMarkup::new([
        vec![
            button("⬅️", at(index + count - 1)),
            button(&format!("{}/{count}", index + 1), at(index)),
            button("➡️", at(index + 1)),
        ],
        vec![
            button(
                t.btn_prompt,
                Callback::Gallery(GalleryAction::Prompt(image.id)),
            ),
            button(
                t.btn_gallery_repeat,
                Callback::Generation(GenerationAction::Regenerate(GenerationId(generation_id))),
            ),
        ],
        vec![
            button(
                if image.is_favorite { "❤️" } else { "🤍" },
                Callback::Gallery(GalleryAction::Favorite(image.id, shown)),
            ),
            button(
                t.btn_delete,
                Callback::Gallery(GalleryAction::Delete(image.id, shown)),
            ),
        ],
        vec![
            button(t.btn_filters, Callback::Gallery(GalleryAction::Filters)),
            button(t.btn_stats, Callback::Gallery(GalleryAction::Stats)),
        ],
        vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
    ])
}

/// An image of the user's (another user's id, or one deleted since, reads as none).
async fn owned_image(
    ctx: &Ctx<'_>,
    image_id: i64,
) -> Result<Option<generation_image::Model>, HandlerError> {
    Ok(images(ctx.user.id)
        .filter(generation_image::Column::Id.eq(image_id))
        .one(&ctx.state.db)
        .await?)
}

/// ❤️/🤍: toggles the favourite mark and shows the card again.
pub async fn favorite(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    image_id: i64,
    position: u32,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(image) = owned_image(ctx, image_id).await? else {
        ui::answer(ctx.bot(), query, Some(t.image_not_found), false).await;
        return show(ctx, origin, position).await;
    };
    generation_image::Entity::update_many()
        .col_expr(
            generation_image::Column::IsFavorite,
            Expr::val(!image.is_favorite),
        )
        .filter(generation_image::Column::Id.eq(image.id))
        .exec(&ctx.state.db)
        .await?;
    let said = if image.is_favorite {
        t.favorite_removed
    } else {
        t.favorite_added
    };
    ui::answer(ctx.bot(), query, Some(said), false).await;
    show(ctx, origin, position).await
}

/// 📋: the full prompt, as a message the user can copy.
pub async fn prompt(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    image_id: i64,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let found = match owned_image(ctx, image_id).await? {
        Some(image) => {
            generation::Entity::find_by_id(image.generation_id)
                .one(&ctx.state.db)
                .await?
        }
        None => None,
    };
    let Some(g) = found else {
        ui::answer(ctx.bot(), query, Some(t.image_not_found), true).await;
        return Ok(());
    };
    ui::answer(ctx.bot(), query, None, false).await;
    let kb = InlineKeyboardMarkup::new([vec![button(
        t.btn_gallery_repeat,
        Callback::Generation(GenerationAction::Regenerate(GenerationId(g.id))),
    )]]);
    ui::send(ctx.bot(), ctx.chat, &(t.gallery_prompt)(&g.prompt), kb).await?;
    Ok(())
}

/// 🗑️: asks first, on the card itself.
pub async fn delete(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    image_id: i64,
    position: u32,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    if owned_image(ctx, image_id).await?.is_none() {
        ui::answer(ctx.bot(), query, Some(t.image_not_found), false).await;
        return show(ctx, origin, position).await;
    }
    ui::answer(ctx.bot(), query, None, false).await;
    let kb = InlineKeyboardMarkup::new([vec![
        button(
            t.btn_confirm_delete,
            Callback::Gallery(GalleryAction::DeleteConfirmed(image_id, position)),
        ),
        button(
            t.btn_cancel,
            Callback::Gallery(GalleryAction::Card(position)),
        ),
    ]]);
    // On the card itself; a card Telegram no longer hands us (too old) gets a new message.
    ui::retext(ctx.bot(), ctx.chat, origin, t.gallery_delete_confirm, kb).await?;
    Ok(())
}

/// ✅: deletes the image and its stored file; the card moves on to the next one.
pub async fn delete_confirmed(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    image_id: i64,
    position: u32,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(image) = owned_image(ctx, image_id).await? else {
        // Deleted already (a double tap) or not theirs: show what is there now.
        ui::answer(ctx.bot(), query, Some(t.image_not_found), false).await;
        return show(ctx, origin, position).await;
    };
    generation_image::Entity::delete_by_id(image.id)
        .exec(&ctx.state.db)
        .await?;
    if let Some(path) = &image.file_path {
        let file = ctx.state.settings.delivery.images_dir.join(path);
        if let Err(e) = tokio::fs::remove_file(&file).await {
            tracing::warn!(error = %e, "could not remove a deleted image's file");
        }
    }
    ui::answer(ctx.bot(), query, Some(t.gallery_deleted), false).await;
    show(ctx, origin, position).await
}

/// Opens the gallery at this image (as a new card message).
pub async fn open_image(
    ctx: &Ctx<'_>,
    image: &generation_image::Model,
) -> Result<(), HandlerError> {
    let db = &ctx.state.db;
    let mut filter = filter::Shown::load(ctx).await?.filter;
    let listed = |filter: &Filter| filter::select(ctx.user.id, filter, Utc::now(), zone(ctx));
    let hidden = listed(&filter)
        .filter(generation_image::Column::Id.eq(image.id))
        .count(db)
        .await?
        == 0;
    if hidden {
        // The filter hides the image asked for: it is dropped, so the card can show it.
        filter = Filter::default();
        filter.save(db, ctx.user.id).await?;
    }
    // Newest first: its position is the number of listed images newer than it.
    let newer = listed(&filter)
        .filter(generation_image::Column::Id.gt(image.id))
        .count(db)
        .await?;
    show(ctx, None, u32::try_from(newer).unwrap_or(0)).await
}

/// 📊: numbers from the database (the ledger for coins).
pub async fn stats(ctx: &Ctx<'_>) -> Result<(), HandlerError> {
    let db = &ctx.state.db;
    let t = ctx.t();
    let user_id = ctx.user.id;
    let images_count = images(user_id).count(db).await?;
    let favorites = images(user_id)
        .filter(generation_image::Column::IsFavorite.eq(true))
        .count(db)
        .await?;
    let by_status: Vec<(String, i64)> = generation::Entity::find()
        .select_only()
        .column(generation::Column::Status)
        .column_as(generation::Column::Id.count(), "n")
        .filter(generation::Column::UserId.eq(user_id))
        .group_by(generation::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let status = |s: GenerationStatus| {
        by_status
            .iter()
            .find(|(k, _)| *k == s)
            .map_or(0, |(_, n)| n.unsigned_abs())
    };
    let coins_spent = crate::ledger::generation_spend(db, UserId(user_id)).await?;
    // Distinct avatars: by id, and by name for those deleted since (their id is gone).
    let used: Vec<(Option<i64>, Option<String>)> = generation::Entity::find()
        .select_only()
        .column(generation::Column::AvatarId)
        .column(generation::Column::AvatarName)
        .distinct()
        .filter(generation::Column::UserId.eq(user_id))
        .filter(generation::Column::Status.eq(GenerationStatus::Completed))
        .filter(generation::Column::AvatarName.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let ids: std::collections::HashSet<i64> = used.iter().filter_map(|(id, _)| *id).collect();
    let gone: std::collections::HashSet<&str> = used
        .iter()
        .filter(|(id, _)| id.is_none())
        .filter_map(|(_, name)| name.as_deref())
        .collect();
    let avatars_used = u64::try_from(ids.len() + gone.len()).unwrap_or(u64::MAX);
    let dates: Option<(Option<When>, Option<When>)> = generation::Entity::find()
        .select_only()
        .column_as(generation::Column::CreatedAt.min(), "first")
        .column_as(generation::Column::CreatedAt.max(), "last")
        .filter(generation::Column::UserId.eq(user_id))
        .into_tuple()
        .one(db)
        .await?;
    let (first, last) = dates.unwrap_or((None, None));
    let text = (t.gallery_stats)(&GalleryStats {
        images: images_count,
        favorites,
        completed: status(GenerationStatus::Completed),
        pending: status(GenerationStatus::Pending),
        failed: status(GenerationStatus::Failed),
        coins_spent,
        avatars_used,
        first: first.map(|d| day(ctx, d)),
        last: last.map(|d| day(ctx, d)),
    });
    let kb = InlineKeyboardMarkup::new([
        vec![button(
            t.btn_gallery,
            Callback::Gallery(GalleryAction::Open),
        )],
        vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
    ]);
    ui::send(ctx.bot(), ctx.chat, &text, kb).await?;
    Ok(())
}

/// The gallery's buttons and its filter screens' (see `GalleryAction`).
pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: GalleryAction,
) -> Result<(), HandlerError> {
    use filter::Change;
    let change = match action {
        GalleryAction::FilterFavorites => Some(Change::ToggleFavorites),
        GalleryAction::FilterAvatar(pick) => Some(Change::Avatar(pick)),
        GalleryAction::FilterPeriod(i) => Some(Change::Period(i)),
        GalleryAction::FilterAspect(i) => Some(Change::Aspect(i)),
        GalleryAction::FilterStyle(i) => Some(Change::Style(i)),
        _ => None,
    };
    if let Some(change) = change {
        return filter::change(ctx, query, origin, change).await;
    }
    match action {
        GalleryAction::Open => {
            ui::answer(ctx.bot(), query, None, false).await;
            show(ctx, origin, 0).await
        }
        GalleryAction::Card(position) => {
            ui::answer(ctx.bot(), query, None, false).await;
            show(ctx, origin, position).await
        }
        GalleryAction::Favorite(id, position) => favorite(ctx, query, origin, id, position).await,
        GalleryAction::Prompt(id) => prompt(ctx, query, id).await,
        GalleryAction::Stats => {
            ui::answer(ctx.bot(), query, None, false).await;
            stats(ctx).await
        }
        GalleryAction::Delete(id, position) => delete(ctx, query, origin, id, position).await,
        GalleryAction::DeleteConfirmed(id, position) => {
            delete_confirmed(ctx, query, origin, id, position).await
        }
        GalleryAction::Filters => {
            ui::answer(ctx.bot(), query, None, false).await;
            filter::show(ctx, origin).await
        }
        GalleryAction::FilterAvatars => {
            ui::answer(ctx.bot(), query, None, false).await;
            filter::pick_avatar(ctx, origin).await
        }
        GalleryAction::FilterReset => filter::reset(ctx, query, origin).await,
        GalleryAction::FilterStyles => {
            ui::answer(ctx.bot(), query, None, false).await;
            filter::pick_style(ctx, origin).await
        }
        GalleryAction::FilterFavorites
        | GalleryAction::FilterAvatar(_)
        | GalleryAction::FilterPeriod(_)
        | GalleryAction::FilterAspect(_)
        | GalleryAction::FilterStyle(_) => Ok(()),
    }
}
