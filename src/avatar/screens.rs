//! 🎭 The avatar screens: the cards (⬅️ ➡️, ⭐ main, ✏️ rename, 🗑️ delete, 🎨 generate, 📸
//! continue a draft), the creation steps (name → gender → photos → train) and the photo viewer.
//! Every id in a button is checked against the presser: another user's id reads "not found".

use chrono::Utc;
use entity::{avatar, avatar_photo};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use teloxide::types::{CallbackQuery, InlineKeyboardMarkup, Message};

use super::{Gender, photos, training};
use crate::{
    balance,
    dialogue::{self, Dialogue},
    domain::{AvatarId, AvatarName, AvatarStatus},
    i18n::{AvatarView, Texts},
    telegram::{
        callback::{AvatarAction, Callback, GenerationAction, MenuAction},
        ctx::Ctx,
        error::HandlerError,
        keyboards::button,
        ui::{self, Card},
    },
};

/// Whether a message is one of these screens (a card or the photo viewer), which they replace.
fn ours(message: &Message) -> bool {
    ui::has_button(message, |cb| {
        matches!(
            cb,
            Callback::Avatar(AvatarAction::Card(_))
                | Callback::Avatar(AvatarAction::Create)
                | Callback::Avatar(AvatarAction::PhotosDone(_))
                | Callback::Avatar(AvatarAction::DeleteConfirmed(_))
        )
    })
}

/// The card of the avatar at `position` (newest first, wrapping), or the empty screen.
pub async fn show(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    position: u32,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let db = &ctx.state.db;
    let avatars = super::list(db, ctx.user.id).await?;
    if avatars.is_empty() {
        let kb = InlineKeyboardMarkup::new([
            vec![button(
                t.btn_create_avatar,
                Callback::Avatar(AvatarAction::Create),
            )],
            vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
        ]);
        ui::card(
            ctx.bot(),
            ctx.chat,
            origin,
            origin.is_some_and(ours),
            Card::text(t.avatars_empty, kb),
        )
        .await?;
        return Ok(());
    }
    let count = avatars.len();
    let index = usize::try_from(position).unwrap_or(0) % count;
    let a = &avatars[index];
    let photos = if a.status == AvatarStatus::Draft {
        super::photo_count(db, a.id).await?
    } else {
        0
    };
    let created = crate::gallery::day(ctx, a.created_at);
    let text = (t.avatar_card)(&AvatarView {
        name: &a.name,
        main: a.is_main,
        status: &a.status,
        training_minutes: a
            .training_started_at
            .map_or(0, |at| (Utc::now() - at).num_minutes()),
        photos,
        min_photos: ctx.state.settings.avatar.min_photos,
        created: &created,
        position: index + 1,
        count,
    });
    let keyboard = card_keyboard(t, a, index, count);
    let cover = super::cover(ctx.state, a).await?;
    ui::card(
        ctx.bot(),
        ctx.chat,
        origin,
        origin.is_some_and(ours),
        Card {
            photo: cover,
            text,
            keyboard,
        },
    )
    .await?;
    Ok(())
}

/// Under an avatar card: ⬅️ i/N ➡️ (when there are several), what its status allows (🎨 and ⭐
/// when ready, 📸 while a draft), ✏️ 🗑️, ➕, 🏠.
fn card_keyboard(t: &Texts, a: &avatar::Model, index: usize, count: usize) -> InlineKeyboardMarkup {
    let id = AvatarId(a.id);
    let at = |i: usize| Callback::Avatar(AvatarAction::Card(u32::try_from(i % count).unwrap_or(0)));
    let mut rows = Vec::new();
    if count > 1 {
        rows.push(vec![
            button("⬅️", at(index + count - 1)),
            button(&format!("{}/{count}", index + 1), at(index)),
            button("➡️", at(index + 1)),
        ]);
    }
    match AvatarStatus::parse(&a.status) {
        Some(AvatarStatus::Ready) => {
            rows.push(vec![button(
                t.btn_create_image,
                Callback::Generation(GenerationAction::Avatar(id)),
            )]);
            if !a.is_main {
                rows.push(vec![button(
                    t.btn_make_main,
                    Callback::Avatar(AvatarAction::MakeMain(id)),
                )]);
            }
        }
        Some(AvatarStatus::Draft) => rows.push(vec![button(
            t.btn_continue_upload,
            Callback::Avatar(AvatarAction::Upload(id)),
        )]),
        _ => {}
    }
    rows.push(vec![
        button(t.btn_rename, Callback::Avatar(AvatarAction::Rename(id))),
        button(t.btn_delete, Callback::Avatar(AvatarAction::Delete(id))),
    ]);
    rows.push(vec![button(
        t.btn_create_avatar,
        Callback::Avatar(AvatarAction::Create),
    )]);
    rows.push(vec![button(
        t.btn_main_menu,
        Callback::Menu(MenuAction::Main),
    )]);
    InlineKeyboardMarkup::new(rows)
}

/// Shows this avatar's card (its position among the user's).
async fn show_avatar(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    let avatars = super::list(&ctx.state.db, ctx.user.id).await?;
    let position = avatars
        .iter()
        .position(|a| a.id == avatar_id.0)
        .unwrap_or(0);
    show(ctx, origin, u32::try_from(position).unwrap_or(0)).await
}

/// ➕ asks for a name.
pub async fn create(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    dialogue::set(&ctx.state.db, ctx.telegram_id(), &Dialogue::AvatarName).await?;
    let kb = InlineKeyboardMarkup::new([vec![button(
        t.btn_cancel,
        Callback::Avatar(AvatarAction::List),
    )]]);
    ui::card(
        ctx.bot(),
        ctx.chat,
        origin,
        origin.is_some_and(ours),
        Card::text(t.avatar_ask_name, kb),
    )
    .await?;
    Ok(())
}

/// The name is typed: the gender question, or the length error (the question stays).
pub async fn on_name(ctx: &Ctx<'_>, text: &str) -> Result<(), HandlerError> {
    let t = ctx.t();
    let cancel = InlineKeyboardMarkup::new([vec![button(
        t.btn_cancel,
        Callback::Avatar(AvatarAction::List),
    )]]);
    let name = match AvatarName::parse(text) {
        Ok(name) => name.into_string(),
        Err(chars) => {
            ui::send(ctx.bot(), ctx.chat, &(t.avatar_name_length)(chars), cancel).await?;
            return Ok(());
        }
    };
    dialogue::set(
        &ctx.state.db,
        ctx.telegram_id(),
        &Dialogue::AvatarGender { name: name.clone() },
    )
    .await?;
    let kb = InlineKeyboardMarkup::new([
        vec![
            button(t.btn_male, Callback::Avatar(AvatarAction::Gender(0))),
            button(t.btn_female, Callback::Avatar(AvatarAction::Gender(1))),
        ],
        vec![button(t.btn_cancel, Callback::Avatar(AvatarAction::List))],
    ]);
    ui::send(ctx.bot(), ctx.chat, &(t.avatar_ask_gender)(&name), kb).await?;
    Ok(())
}

/// The gender is picked: the draft exists from now on, and photos are expected.
pub async fn on_gender(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    index: u8,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let db = &ctx.state.db;
    let gender = Gender::ALL.get(usize::from(index)).copied();
    // Taken (deleted) in the same step, so a double tap makes one draft.
    let taken = match gender {
        Some(_) => dialogue::take(db, ctx.telegram_id()).await?,
        None => None,
    };
    let (Some(gender), Some(Dialogue::AvatarGender { name })) = (gender, taken) else {
        ui::answer(ctx.bot(), query, Some(t.avatar_expired), false).await;
        return Ok(());
    };
    ui::answer(ctx.bot(), query, None, false).await;
    let draft = super::create_draft(db, ctx.user.id, &name, gender, ctx.chat.0, ctx.lang).await?;
    upload_step(ctx, origin, &draft).await
}

/// Photos for `draft` are expected; its status message is shown (on `origin` when it is text).
async fn upload_step(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    draft: &avatar::Model,
) -> Result<(), HandlerError> {
    dialogue::set(
        &ctx.state.db,
        ctx.telegram_id(),
        &Dialogue::AvatarPhotos {
            avatar_id: draft.id,
        },
    )
    .await?;
    let (text, kb) = photos::status_screen(ctx.state, draft).await?;
    let shown = ui::card(
        ctx.bot(),
        ctx.chat,
        origin,
        origin.is_some_and(ours),
        Card::text(&text, kb),
    )
    .await?;
    let Some(shown) = shown else {
        return Ok(());
    };
    avatar::Entity::update_many()
        .col_expr(
            avatar::Column::StatusMessageId,
            Expr::val(i64::from(shown.0)),
        )
        .filter(avatar::Column::Id.eq(draft.id))
        .exec(&ctx.state.db)
        .await?;
    Ok(())
}

/// 📸 continue a draft.
pub async fn upload(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(draft) = owned_or_told(ctx, query, avatar_id).await? else {
        return Ok(());
    };
    if draft.status != AvatarStatus::Draft {
        ui::answer(ctx.bot(), query, Some(t.avatar_expired), false).await;
        return show_avatar(ctx, origin, AvatarId(draft.id)).await;
    }
    ui::answer(ctx.bot(), query, None, false).await;
    upload_step(ctx, origin, &draft).await
}

/// 👀 the draft's photos, one at a time.
pub async fn view_photos(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    avatar_id: AvatarId,
    position: u32,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let draft = super::owned(&ctx.state.db, ctx.user_id(), avatar_id)
        .await?
        .filter(|a| a.status == AvatarStatus::Draft);
    let Some(draft) = draft else {
        ui::answer(ctx.bot(), query, Some(t.avatar_not_found), true).await;
        return Ok(());
    };
    ui::answer(ctx.bot(), query, None, false).await;
    viewer(ctx, origin, &draft, position).await
}

async fn viewer(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    draft: &avatar::Model,
    position: u32,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let all = super::photos(&ctx.state.db, draft.id).await?;
    // Only the viewer itself is replaced; from the status message it opens anew.
    let viewer_origin = origin.filter(|m| {
        ui::has_button(m, |cb| {
            matches!(cb, Callback::Avatar(AvatarAction::PhotosDone(_)))
        })
    });
    if all.is_empty() {
        if let Some(message) = viewer_origin {
            ui::delete_quietly(ctx.bot(), ctx.chat, message).await;
        }
        photos::schedule_status(ctx.state, draft.id).await;
        return Ok(());
    }
    let count = all.len();
    let index = usize::try_from(position).unwrap_or(0) % count;
    let photo = &all[index];
    let at = |i: usize| {
        Callback::Avatar(AvatarAction::Photos(
            AvatarId(draft.id),
            u32::try_from(i % count).unwrap_or(0),
        ))
    };
    let shown = u32::try_from(index).unwrap_or(0);
    let mut rows = Vec::new();
    if count > 1 {
        rows.push(vec![
            button("⬅️", at(index + count - 1)),
            button(&format!("{}/{count}", index + 1), at(index)),
            button("➡️", at(index + 1)),
        ]);
    }
    rows.push(vec![button(
        t.btn_delete_photo,
        Callback::Avatar(AvatarAction::PhotoDelete(photo.id, shown)),
    )]);
    rows.push(vec![button(
        t.btn_done,
        Callback::Avatar(AvatarAction::PhotosDone(AvatarId(draft.id))),
    )]);
    ui::card(
        ctx.bot(),
        ctx.chat,
        viewer_origin,
        viewer_origin.is_some(),
        Card {
            photo: Some(super::picture(ctx.state, photo).await?),
            text: (t.avatar_photo_caption)(index + 1, count),
            keyboard: InlineKeyboardMarkup::new(rows),
        },
    )
    .await?;
    Ok(())
}

/// 🗑️ one photo of a draft.
pub async fn delete_photo(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    photo_id: i64,
    position: u32,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let db = &ctx.state.db;
    let photo = avatar_photo::Entity::find_by_id(photo_id).one(db).await?;
    let draft = match &photo {
        Some(p) => super::owned(db, ctx.user_id(), AvatarId(p.avatar_id))
            .await?
            .filter(|a| a.status == AvatarStatus::Draft),
        None => None,
    };
    let (Some(photo), Some(draft)) = (photo, draft) else {
        ui::answer(ctx.bot(), query, Some(t.avatar_not_found), false).await;
        return Ok(());
    };
    avatar_photo::Entity::delete_by_id(photo.id)
        .exec(db)
        .await?;
    let path = ctx.state.settings.avatar.photos_dir.join(&photo.file_path);
    if let Err(e) = tokio::fs::remove_file(&path).await {
        tracing::warn!(error = %e, "could not remove a deleted photo");
    }
    ui::answer(ctx.bot(), query, None, false).await;
    photos::schedule_status(ctx.state, draft.id).await;
    viewer(ctx, origin, &draft, position).await
}

/// ✅ closes the photo viewer.
pub async fn photos_done(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    ui::answer(ctx.bot(), query, None, false).await;
    if let Some(message) = origin {
        ui::delete_quietly(ctx.bot(), ctx.chat, message).await;
    }
    if super::owned(&ctx.state.db, ctx.user_id(), avatar_id)
        .await?
        .is_some()
    {
        photos::schedule_status(ctx.state, avatar_id.0).await;
    }
    Ok(())
}

/// ✅ train: charge once, then pack and submit; the answer says what happened.
pub async fn train(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let state = ctx.state;
    let started = training::start(state, ctx.user.id, avatar_id.0)
        .await
        .map_err(|e| match e {
            crate::generation::PipelineError::Db(e) => HandlerError::Db(e),
            crate::generation::PipelineError::Ledger(e) => HandlerError::Ledger(e),
        })?;
    match started {
        training::Started::Started(avatar) => {
            ui::answer(ctx.bot(), query, Some(t.training_started_answer), false).await;
            dialogue::clear(&state.db, ctx.telegram_id()).await?;
            let minutes = state.settings.avatar.training_deadline_secs.div_ceil(60);
            let kb = InlineKeyboardMarkup::new([vec![button(
                t.btn_my_avatars,
                Callback::Avatar(AvatarAction::List),
            )]]);
            ui::show(
                ctx.bot(),
                ctx.chat,
                origin,
                &(t.avatar_training_started)(&avatar.name, minutes),
                kb,
            )
            .await?;
            training::submit(state, &avatar).await;
        }
        training::Started::NotReady => {
            let known = super::owned(&state.db, ctx.user_id(), avatar_id).await?;
            let said = match known {
                Some(a) if a.status == AvatarStatus::Training => t.training_started_answer,
                Some(_) => t.avatar_expired,
                None => t.avatar_not_found,
            };
            ui::answer(ctx.bot(), query, Some(said), true).await;
        }
        training::Started::TooFewPhotos(n) => {
            let said = (t.avatar_too_few)(n, state.settings.avatar.min_photos);
            ui::answer(ctx.bot(), query, Some(&said), true).await;
        }
        training::Started::Busy { max } => {
            ui::answer(ctx.bot(), query, Some(&(t.training_busy)(max)), true).await;
        }
        training::Started::Insufficient { need, have } => {
            let (text, kb) = balance::insufficient(t, need, have);
            ui::answer(ctx.bot(), query, Some(&text), true).await;
            ui::send(ctx.bot(), ctx.chat, &text, kb).await?;
        }
    }
    Ok(())
}

/// The presser's avatar; anything else (another user's id, one deleted since) is answered
/// "not found" in an alert, and `None` ends the handler.
async fn owned_or_told(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    avatar_id: AvatarId,
) -> Result<Option<avatar::Model>, HandlerError> {
    let found = super::owned(&ctx.state.db, ctx.user_id(), avatar_id).await?;
    if found.is_none() {
        ui::answer(ctx.bot(), query, Some(ctx.t().avatar_not_found), true).await;
    }
    Ok(found)
}

/// ⭐ make main.
pub async fn make_main(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(avatar) = owned_or_told(ctx, query, avatar_id).await? else {
        return Ok(());
    };
    if !super::make_main(&ctx.state.db, ctx.user_id(), avatar_id).await? {
        ui::answer(ctx.bot(), query, Some(t.avatar_expired), true).await;
        return Ok(());
    }
    ui::answer(
        ctx.bot(),
        query,
        Some(&(t.avatar_main_set)(&avatar.name)),
        false,
    )
    .await;
    show_avatar(ctx, origin, avatar_id).await
}

/// ✏️ asks for the new name.
pub async fn rename(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(avatar) = owned_or_told(ctx, query, avatar_id).await? else {
        return Ok(());
    };
    ui::answer(ctx.bot(), query, None, false).await;
    dialogue::set(
        &ctx.state.db,
        ctx.telegram_id(),
        &Dialogue::AvatarRename {
            avatar_id: avatar_id.0,
        },
    )
    .await?;
    let kb = InlineKeyboardMarkup::new([vec![button(
        t.btn_cancel,
        Callback::Avatar(AvatarAction::List),
    )]]);
    ui::send(
        ctx.bot(),
        ctx.chat,
        &(t.avatar_ask_rename)(&avatar.name),
        kb,
    )
    .await?;
    Ok(())
}

/// The new name is typed.
pub async fn on_rename(ctx: &Ctx<'_>, avatar_id: i64, text: &str) -> Result<(), HandlerError> {
    let t = ctx.t();
    let db = &ctx.state.db;
    let name = match AvatarName::parse(text) {
        Ok(name) => name.into_string(),
        Err(chars) => {
            let kb = InlineKeyboardMarkup::new([vec![button(
                t.btn_cancel,
                Callback::Avatar(AvatarAction::List),
            )]]);
            ui::send(ctx.bot(), ctx.chat, &(t.avatar_name_length)(chars), kb).await?;
            return Ok(());
        }
    };
    dialogue::clear(db, ctx.telegram_id()).await?;
    let renamed = avatar::Entity::update_many()
        .col_expr(avatar::Column::Name, Expr::val(name.clone()))
        .col_expr(avatar::Column::UpdatedAt, Expr::val(Utc::now()))
        .filter(avatar::Column::Id.eq(avatar_id))
        .filter(avatar::Column::UserId.eq(ctx.user.id))
        .exec(db)
        .await?;
    let said = if renamed.rows_affected == 0 {
        t.avatar_not_found.to_owned()
    } else {
        (t.avatar_renamed)(&name)
    };
    let kb = InlineKeyboardMarkup::new([vec![button(
        t.btn_my_avatars,
        Callback::Avatar(AvatarAction::List),
    )]]);
    ui::send(ctx.bot(), ctx.chat, &said, kb).await?;
    Ok(())
}

/// 🗑️ asks first, on the card.
pub async fn delete(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(avatar) = owned_or_told(ctx, query, avatar_id).await? else {
        return Ok(());
    };
    if avatar.status == AvatarStatus::Training {
        ui::answer(ctx.bot(), query, Some(t.avatar_busy_training), true).await;
        return Ok(());
    }
    ui::answer(ctx.bot(), query, None, false).await;
    let kb = InlineKeyboardMarkup::new([vec![
        button(
            t.btn_confirm_delete,
            Callback::Avatar(AvatarAction::DeleteConfirmed(AvatarId(avatar.id))),
        ),
        button(t.btn_cancel, Callback::Avatar(AvatarAction::List)),
    ]]);
    ui::retext(
        ctx.bot(),
        ctx.chat,
        origin,
        &(t.avatar_delete_confirm)(&avatar.name),
        kb,
    )
    .await?;
    Ok(())
}

/// ✅ deletes the avatar and its files; its gallery images stay (their avatar reads as gone).
pub async fn delete_confirmed(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    avatar_id: AvatarId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let db = &ctx.state.db;
    let Some(avatar) = super::owned(db, ctx.user_id(), avatar_id).await? else {
        ui::answer(ctx.bot(), query, Some(t.avatar_not_found), false).await;
        return show(ctx, origin, 0).await;
    };
    if avatar.status == AvatarStatus::Training {
        ui::answer(ctx.bot(), query, Some(t.avatar_busy_training), true).await;
        return Ok(());
    }
    avatar::Entity::delete_many()
        .filter(avatar::Column::Id.eq(avatar.id))
        .filter(avatar::Column::Status.ne(AvatarStatus::Training))
        .exec(db)
        .await?;
    super::elect_main(db, ctx.user.id).await?;
    if let Some(Dialogue::AvatarPhotos { avatar_id } | Dialogue::AvatarRename { avatar_id }) =
        dialogue::get(db, ctx.telegram_id()).await?
        && avatar_id == avatar.id
    {
        dialogue::clear(db, ctx.telegram_id()).await?;
    }
    let dir = super::dir(&ctx.state.settings, avatar.id);
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(avatar = avatar.id, error = %e, "could not remove an avatar's files");
    }
    ui::answer(ctx.bot(), query, Some(t.avatar_deleted), false).await;
    show(ctx, origin, 0).await
}

/// The avatar screens' buttons (see `AvatarAction`).
pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: AvatarAction,
) -> Result<(), HandlerError> {
    match action {
        AvatarAction::List => {
            ui::answer(ctx.bot(), query, None, false).await;
            // Leaving for the list ends a name, gender, rename or photo step.
            dialogue::clear(&ctx.state.db, ctx.telegram_id()).await?;
            show(ctx, origin, 0).await
        }
        AvatarAction::Card(position) => {
            ui::answer(ctx.bot(), query, None, false).await;
            show(ctx, origin, position).await
        }
        AvatarAction::Create => {
            ui::answer(ctx.bot(), query, None, false).await;
            create(ctx, origin).await
        }
        AvatarAction::Gender(i) => on_gender(ctx, query, origin, i).await,
        AvatarAction::Upload(id) => upload(ctx, query, origin, id).await,
        AvatarAction::Photos(id, position) => view_photos(ctx, query, origin, id, position).await,
        AvatarAction::PhotoDelete(id, position) => {
            delete_photo(ctx, query, origin, id, position).await
        }
        AvatarAction::PhotosDone(id) => photos_done(ctx, query, origin, id).await,
        AvatarAction::Train(id) => train(ctx, query, origin, id).await,
        AvatarAction::MakeMain(id) => make_main(ctx, query, origin, id).await,
        AvatarAction::Rename(id) => rename(ctx, query, id).await,
        AvatarAction::Delete(id) => delete(ctx, query, origin, id).await,
        AvatarAction::DeleteConfirmed(id) => delete_confirmed(ctx, query, origin, id).await,
    }
}
