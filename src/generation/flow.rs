//! The 🎨 conversation: avatar → prompt → size → count → charge and start; the 📊 status
//! button; and 🔄, which runs a past generation again in one tap.

use entity::{avatar, generation as row};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use teloxide::{
    payloads::SendMessageSetters,
    prelude::Requester,
    types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, ParseMode},
};

pub mod prompt_help;

use crate::{
    balance, delivery,
    dialogue::{self, Dialogue, PromptOptions},
    domain::{AvatarId, AvatarStatus, GenerationId, GenerationStatus, Prompt},
    gallery,
    generation::{self, Created, FailReason, MAX_IMAGES, NewGeneration},
    i18n::Progress,
    jobs::JobId,
    ledger,
    provider::AspectRatio,
    telegram::{
        callback::{AvatarAction, Callback, GenerationAction, MenuAction, SettingsAction},
        ctx::Ctx,
        error::HandlerError,
        keyboards::{self, button},
        ui,
    },
    users,
};

/// The user's ready avatars, the main one first.
async fn ready_avatars<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<Vec<avatar::Model>, DbErr> {
    avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(user_id))
        .filter(avatar::Column::Status.eq(AvatarStatus::Ready))
        .order_by_desc(avatar::Column::IsMain)
        .order_by_asc(avatar::Column::Id)
        .all(db)
        .await
}

/// One of the user's ready avatars (another user's id, or one not ready, reads as none).
async fn ready_avatar<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    avatar_id: i64,
) -> Result<Option<avatar::Model>, DbErr> {
    avatar::Entity::find_by_id(avatar_id)
        .filter(avatar::Column::UserId.eq(user_id))
        .filter(avatar::Column::Status.eq(AvatarStatus::Ready))
        .one(db)
        .await
}

/// Which avatar the 🎨 screen starts with.
#[derive(Debug)]
pub enum Choice {
    /// The main avatar (or the first ready one), or the base model without any.
    Default,
    Avatar(AvatarId),
    Base,
}

/// 🎨: shows the chosen avatar (or says how to get one) and waits for the prompt.
pub async fn open(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    choice: Choice,
) -> Result<(), HandlerError> {
    let db = &ctx.state.db;
    let t = ctx.t();
    let avatars = ready_avatars(db, ctx.user.id).await?;
    let chosen = match choice {
        Choice::Default => avatars.first(),
        Choice::Avatar(id) => avatars.iter().find(|a| a.id == id.0).or(avatars.first()),
        Choice::Base => None,
    };
    dialogue::set(
        db,
        ctx.telegram_id(),
        &Dialogue::GenerationPrompt {
            avatar_id: chosen.map(|a| a.id),
            described: None,
        },
    )
    .await?;
    let mut text = match (chosen, avatars.is_empty()) {
        (Some(a), _) => (t.gen_intro)(&a.name),
        (None, true) => t.gen_intro_no_avatar.to_owned(),
        (None, false) => t.gen_intro_base.to_owned(),
    };
    let mut rows = Vec::new();
    if ctx.state.llm.is_some() {
        text.push_str(t.gen_intro_photo);
        rows.push(vec![button(
            t.btn_photo_prompt,
            Callback::Generation(GenerationAction::PhotoHint),
        )]);
    }
    if !avatars.is_empty() {
        rows.push(vec![button(
            t.btn_other_avatar,
            Callback::Generation(GenerationAction::Avatars),
        )]);
    } else {
        rows.push(vec![button(
            t.btn_avatars,
            Callback::Avatar(AvatarAction::List),
        )]);
    }
    rows.push(vec![button(
        t.btn_main_menu,
        Callback::Menu(MenuAction::Main),
    )]);
    ui::show(
        ctx.bot(),
        ctx.chat,
        origin,
        &text,
        InlineKeyboardMarkup::new(rows),
    )
    .await?;
    Ok(())
}

/// 🎭 choose: one button per ready avatar, and the base model.
pub async fn pick_avatar(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    let avatars = ready_avatars(&ctx.state.db, ctx.user.id).await?;
    let mut rows: Vec<Vec<InlineKeyboardButton>> = avatars
        .iter()
        .take(20)
        .map(|a| {
            let label = if a.is_main {
                format!("⭐ {}", a.name)
            } else {
                a.name.clone()
            };
            vec![button(
                &label,
                Callback::Generation(GenerationAction::Avatar(AvatarId(a.id))),
            )]
        })
        .collect();
    rows.push(vec![button(
        t.btn_no_avatar,
        Callback::Generation(GenerationAction::NoAvatar),
    )]);
    rows.push(vec![button(
        t.btn_back,
        Callback::Generation(GenerationAction::Open),
    )]);
    ui::show(
        ctx.bot(),
        ctx.chat,
        origin,
        t.gen_pick_avatar,
        InlineKeyboardMarkup::new(rows),
    )
    .await?;
    Ok(())
}

fn avatar_name(avatars: Option<&avatar::Model>) -> Option<&str> {
    avatars.map(|a| a.name.as_str())
}

/// A text while waiting for the prompt: check its length, translate it for the model when it is
/// not English (once: `known` is the translation stored for this very prompt), then offer the
/// sizes (or, with a default format, the counts; in quick mode, start at once, keyed by
/// `start_key`, unique to the message or button that gave the prompt).
pub async fn on_prompt(
    ctx: &Ctx<'_>,
    avatar_id: Option<i64>,
    text: &str,
    start_key: String,
    known: Option<String>,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let prompt = match Prompt::parse(text) {
        Ok(prompt) => prompt,
        Err(len) => {
            let kb = InlineKeyboardMarkup::new([vec![button(
                t.btn_main_menu,
                Callback::Menu(MenuAction::Main),
            )]]);
            ui::send(ctx.bot(), ctx.chat, &(t.gen_prompt_length)(len), kb).await?;
            return Ok(());
        }
    };
    let db = &ctx.state.db;
    let avatar = match avatar_id {
        Some(id) => ready_avatar(db, ctx.user.id, id).await?,
        None => None,
    };
    if ctx.user.quick_mode && avatar_id.is_some() && avatar.is_none() {
        // Quick mode asks nothing before charging: never charge without the avatar chosen.
        dialogue::clear(db, ctx.telegram_id()).await?;
        ui::send(
            ctx.bot(),
            ctx.chat,
            t.avatar_unavailable,
            keyboards::back_to_menu(t),
        )
        .await?;
        return Ok(());
    }
    let (translation, notice) = match known {
        Some(known) => (Some(known), None),
        None => prompt_help::translation(ctx, prompt.as_str()).await?,
    };
    let options = PromptOptions {
        avatar_id: avatar.as_ref().map(|a| a.id),
        prompt: prompt.as_str().to_owned(),
        translation,
        ..PromptOptions::default()
    };
    // Stored only if the dialogue is still the one this prompt answered: while the LLM worked
    // the user may have sent another prompt or gone elsewhere, and that stays.
    let txn = db.begin().await?;
    let still = match dialogue::take(&txn, ctx.telegram_id()).await? {
        Some(Dialogue::GenerationPrompt { avatar_id: a, .. }) => a == avatar_id,
        // A redelivery of the prompt whose options are stored.
        Some(Dialogue::GenerationOptions(o)) => o.prompt.trim() == text.trim(),
        _ => false,
    };
    if !still {
        txn.rollback().await?;
        tracing::info!("a prompt was overtaken while it was translated: dropped");
        return Ok(());
    }
    dialogue::set(
        &txn,
        ctx.telegram_id(),
        &Dialogue::GenerationOptions(options.clone()),
    )
    .await?;
    txn.commit().await?;
    if ctx.user.quick_mode {
        return quick_start(ctx, start_key, notice).await;
    }
    options_screen(ctx, None, &options, avatar.as_ref(), notice).await
}

/// The quick-mode start key of a prompt typed as this message.
#[must_use]
pub fn quick_key(message: &Message) -> String {
    format!("quick:{}:{}", message.chat.id.0, message.id.0)
}

/// A screen's text: the one-line notice (the LLM could not help) first, then the ✨ improved
/// prompt in use, then the screen itself.
fn screen_text(ctx: &Ctx<'_>, notice: Option<&str>, options: &PromptOptions, body: &str) -> String {
    let mut text = String::new();
    if let Some(notice) = notice {
        text.push_str(notice);
        text.push_str("\n\n");
    }
    if let Some(improved) = &options.improved {
        text.push_str(&(ctx.t().gen_improved_in_use)(improved));
        text.push('\n');
    }
    text.push_str(body);
    text
}

/// The next screen for stored options: the sizes, or with a default format the counts.
pub(super) async fn options_screen(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    options: &PromptOptions,
    avatar: Option<&avatar::Model>,
    notice: Option<&str>,
) -> Result<(), HandlerError> {
    if let Some((index, aspect)) = users::default_aspect(&ctx.user) {
        return count_screen(ctx, origin, options, avatar, (index, aspect), notice).await;
    }
    aspect_screen(ctx, origin, options, avatar, notice).await
}

/// The sizes for the stored prompt.
async fn aspect_screen(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    options: &PromptOptions,
    avatar: Option<&avatar::Model>,
    notice: Option<&str>,
) -> Result<(), HandlerError> {
    let body = (ctx.t().gen_choose_aspect)(&options.prompt, avatar_name(avatar));
    let text = screen_text(ctx, notice, options, &body);
    let kb = aspect_keyboard(ctx, options);
    ui::show(ctx.bot(), ctx.chat, origin, &text, kb).await?;
    Ok(())
}

fn aspect_keyboard(ctx: &Ctx<'_>, options: &PromptOptions) -> InlineKeyboardMarkup {
    let t = ctx.t();
    let buttons: Vec<InlineKeyboardButton> = AspectRatio::ALL
        .iter()
        .enumerate()
        .map(|(i, a)| {
            button(
                a.label(),
                Callback::Generation(GenerationAction::Aspect(u8::try_from(i).unwrap_or(0))),
            )
        })
        .collect();
    InlineKeyboardMarkup::new(
        [
            buttons[..3].to_vec(),
            buttons[3..].to_vec(),
            extras_row(ctx, options),
        ]
        .into_iter()
        .filter(|row| !row.is_empty())
        .chain([vec![button(
            t.btn_main_menu,
            Callback::Menu(MenuAction::Main),
        )]]),
    )
}

/// The options stored for this user, or `None` when they were used or replaced.
pub(super) async fn options(ctx: &Ctx<'_>) -> Result<Option<PromptOptions>, HandlerError> {
    Ok(
        match dialogue::get(&ctx.state.db, ctx.telegram_id()).await? {
            Some(Dialogue::GenerationOptions(options)) => Some(options),
            _ => None,
        },
    )
}

/// "🎬 Cinematic" in the user's language.
fn style_label(ctx: &Ctx<'_>, style: &crate::config::StyleSettings) -> String {
    style.label(generation::lang_code(ctx.lang))
}

/// Under the format and count screens: 🎨 naming the style picked (when styles are offered), and
/// ✨ (when an LLM is configured).
fn extras_row(ctx: &Ctx<'_>, options: &PromptOptions) -> Vec<InlineKeyboardButton> {
    let t = ctx.t();
    let mut row = Vec::new();
    if ctx.state.settings.offered_styles().next().is_some() {
        let name = options
            .style
            .as_deref()
            .and_then(|id| ctx.state.settings.style(id))
            .map_or_else(|| t.style_none.to_owned(), |s| style_label(ctx, s));
        row.push(button(
            &(t.btn_style)(&name),
            Callback::Generation(GenerationAction::Styles),
        ));
    }
    if ctx.state.llm.is_some() {
        row.push(button(
            t.btn_improve,
            Callback::Generation(GenerationAction::Improve),
        ));
    }
    row
}

/// 🎨: "no style" first, then the offered presets two a row (✓ on the one picked), ⬅️ back.
async fn styles(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(PromptOptions {
        prompt,
        style: picked,
        ..
    }) = options(ctx).await?
    else {
        ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await;
        return Ok(());
    };
    ui::answer(ctx.bot(), query, None, false).await;
    let mark = |label: String, on: bool| if on { format!("✓ {label}") } else { label };
    let mut rows = vec![vec![button(
        &mark(t.style_none.to_owned(), picked.is_none()),
        Callback::Generation(GenerationAction::Style(None)),
    )]];
    let presets: Vec<InlineKeyboardButton> = ctx
        .state
        .settings
        .styles
        .iter()
        .enumerate()
        .filter(|(_, s)| s.enabled)
        .filter_map(|(i, s)| {
            let i = u8::try_from(i).ok()?;
            Some(button(
                &mark(
                    style_label(ctx, s),
                    picked.as_deref() == Some(s.id.as_str()),
                ),
                Callback::Generation(GenerationAction::Style(Some(i))),
            ))
        })
        .collect();
    rows.extend(presets.chunks(2).map(<[InlineKeyboardButton]>::to_vec));
    rows.push(vec![button(
        t.btn_back,
        Callback::Generation(GenerationAction::AspectBack),
    )]);
    let text = (t.gen_choose_style)(&prompt);
    ui::show(
        ctx.bot(),
        ctx.chat,
        origin,
        &text,
        InlineKeyboardMarkup::new(rows),
    )
    .await?;
    Ok(())
}

/// A style picked: stored with the prompt, then back to the format screen (or, with a default
/// format, the counts).
async fn on_style(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    index: Option<u8>,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let style = match index {
        None => None,
        Some(i) => match ctx.state.settings.styles.get(usize::from(i)) {
            Some(s) if s.enabled => Some(s.id.clone()),
            _ => {
                ui::answer(ctx.bot(), query, Some(t.unknown_callback), true).await;
                return Ok(());
            }
        },
    };
    change_options(ctx, query, origin, |options| {
        options.style = style;
        true
    })
    .await
}

/// Changes the stored options and shows the next screen. Taken and stored again in one
/// transaction: a start (or a new prompt) in between is not undone by an older screen's button.
/// `change` returning false leaves them as they were and answers "expired".
pub(super) async fn change_options(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    change: impl FnOnce(&mut PromptOptions) -> bool,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let txn = ctx.state.db.begin().await?;
    let taken = dialogue::take(&txn, ctx.telegram_id()).await?;
    let Some(Dialogue::GenerationOptions(mut options)) = taken else {
        txn.rollback().await?;
        ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await;
        return Ok(());
    };
    if !change(&mut options) {
        txn.rollback().await?;
        ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await;
        return Ok(());
    }
    dialogue::set(
        &txn,
        ctx.telegram_id(),
        &Dialogue::GenerationOptions(options.clone()),
    )
    .await?;
    txn.commit().await?;
    ui::answer(ctx.bot(), query, None, false).await;
    let avatar = stored_avatar(ctx, &options).await?;
    options_screen(ctx, origin, &options, avatar.as_ref(), None).await
}

/// The ready avatar the options name, if any.
pub(super) async fn stored_avatar(
    ctx: &Ctx<'_>,
    options: &PromptOptions,
) -> Result<Option<avatar::Model>, HandlerError> {
    Ok(match options.avatar_id {
        Some(id) => ready_avatar(&ctx.state.db, ctx.user.id, id).await?,
        None => None,
    })
}

/// A size was picked: offer 1–4 images with their prices and the balance.
pub async fn on_aspect(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    index: u8,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(aspect) = AspectRatio::ALL.get(usize::from(index)).copied() else {
        ui::answer(ctx.bot(), query, Some(t.unknown_callback), true).await;
        return Ok(());
    };
    let Some(options) = options(ctx).await? else {
        ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await;
        return Ok(());
    };
    ui::answer(ctx.bot(), query, None, false).await;
    let avatar = stored_avatar(ctx, &options).await?;
    count_screen(
        ctx,
        origin,
        &options,
        avatar.as_ref(),
        (index, aspect),
        None,
    )
    .await
}

/// 1–4 images with their prices and the balance (the user's default count marked ✓), in place
/// of `origin` or as a new message.
async fn count_screen(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    options: &PromptOptions,
    avatar: Option<&avatar::Model>,
    (index, aspect): (u8, AspectRatio),
    notice: Option<&str>,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let price = ctx.state.settings.prices.generation_per_image;
    let have = ledger::balance(&ctx.state.db, ctx.user_id()).await?;
    let body = (t.gen_choose_count)(
        &options.prompt,
        avatar_name(avatar),
        aspect.label(),
        price,
        have,
    );
    let text = screen_text(ctx, notice, options, &body);
    let default = users::default_count(&ctx.user);
    let counts: Vec<InlineKeyboardButton> = (1..=MAX_IMAGES)
        .map(|n| {
            let label = (t.btn_count)(n, price * i64::from(n));
            let label = if default == Some(n) {
                format!("✓ {label}")
            } else {
                label
            };
            button(
                &label,
                Callback::Generation(GenerationAction::Start(index, n)),
            )
        })
        .collect();
    let kb = InlineKeyboardMarkup::new(
        [
            counts[..2].to_vec(),
            counts[2..].to_vec(),
            extras_row(ctx, options),
        ]
        .into_iter()
        .filter(|row| !row.is_empty())
        .chain([
            vec![button(
                t.btn_back,
                Callback::Generation(GenerationAction::AspectBack),
            )],
            vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
        ]),
    );
    ui::show(ctx.bot(), ctx.chat, origin, &text, kb).await?;
    Ok(())
}

/// ⬅️ from the count screen: the sizes again (the prompt is still stored).
pub async fn back_to_aspect(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(options) = options(ctx).await? else {
        ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await;
        return Ok(());
    };
    ui::answer(ctx.bot(), query, None, false).await;
    let avatar = stored_avatar(ctx, &options).await?;
    aspect_screen(ctx, origin, &options, avatar.as_ref(), None).await
}

/// The count was picked: take the stored options (once: a double tap finds them gone), charge,
/// turn the screen into the progress message, submit.
pub async fn on_start(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    aspect: u8,
    count: u8,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let aspect = AspectRatio::ALL.get(usize::from(aspect)).copied();
    let (Some(aspect), true) = (aspect, (1..=MAX_IMAGES).contains(&count)) else {
        ui::answer(ctx.bot(), query, Some(t.unknown_callback), true).await;
        return Ok(());
    };
    // The screen the button was on becomes the progress message (it is ours and text).
    let progress = origin.filter(|m| m.text().is_some());
    match begin(ctx, progress, aspect, count, None).await? {
        Begun::Started(generation, avatar) => {
            paid(ctx, query, &generation, None).await;
            let text = progress_text(ctx, &generation, false);
            show_progress(
                ctx,
                progress,
                &generation,
                text,
                status_keyboard(ctx, generation.id),
            )
            .await;
            submit_detached(ctx.state, generation, avatar.map(|a| *a));
        }
        Begun::Expired => ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await,
        Begun::AvatarGone => ui::answer(ctx.bot(), query, Some(t.avatar_unavailable), true).await,
        // The prompt stays stored: once one finishes the same buttons work.
        Begun::Busy { max } => ui::answer(ctx.bot(), query, Some(&(t.gen_busy)(max)), true).await,
        Begun::Insufficient { need, have } => {
            // The prompt stays stored: after a top-up the same buttons work.
            ui::answer(ctx.bot(), query, None, false).await;
            let (text, kb) = balance::insufficient(t, need, have);
            ui::send(ctx.bot(), ctx.chat, &text, kb).await?;
        }
    }
    Ok(())
}

/// Quick mode: the prompt just stored starts a generation at once with the user's defaults
/// (format, number of images) and the avatar chosen for this prompt (the main one). The
/// progress message says what was chosen, with ⚙️ to change it. Keyed by the prompt's message
/// (or the 📷 button's query), so a redelivered prompt charges nothing more.
async fn quick_start(ctx: &Ctx<'_>, key: String, notice: Option<&str>) -> Result<(), HandlerError> {
    let t = ctx.t();
    let aspect = users::default_aspect(&ctx.user).map_or(AspectRatio::Square, |(_, a)| a);
    let count = users::default_count(&ctx.user).unwrap_or(1);
    match begin(ctx, None, aspect, count, Some(key)).await? {
        Begun::Started(generation, avatar) => {
            ctx.state
                .deadlines
                .watch(
                    JobId::Generation(GenerationId(generation.id)),
                    generation.deadline_at,
                )
                .await;
            let mut text = progress_text(ctx, &generation, false);
            text.push_str("\n\n");
            text.push_str(t.gen_quick_note);
            if let Some(notice) = notice {
                text.push('\n');
                text.push_str(notice);
            }
            let kb = InlineKeyboardMarkup::new([
                vec![button(
                    t.btn_status,
                    Callback::Generation(GenerationAction::Status(GenerationId(generation.id))),
                )],
                vec![button(
                    t.btn_settings,
                    Callback::Settings(SettingsAction::Open),
                )],
            ]);
            send_progress(ctx, generation.id, text, kb).await;
            submit_detached(ctx.state, generation, avatar.map(|a| *a));
        }
        Begun::Expired => {}
        Begun::AvatarGone => {
            dialogue::clear(&ctx.state.db, ctx.telegram_id()).await?;
            let kb = keyboards::back_to_menu(t);
            ui::send(ctx.bot(), ctx.chat, t.avatar_unavailable, kb).await?;
        }
        Begun::Busy { max } => {
            let kb = keyboards::back_to_menu(t);
            ui::send(ctx.bot(), ctx.chat, &(t.gen_busy)(max), kb).await?;
            retry_screen(ctx, aspect, notice).await?;
        }
        Begun::Insufficient { need, have } => {
            let (text, kb) = balance::insufficient(t, need, have);
            ui::send(ctx.bot(), ctx.chat, &text, kb).await?;
            retry_screen(ctx, aspect, notice).await?;
        }
    }
    Ok(())
}

/// After a quick start that could not be paid for (or had to wait): the prompt is still stored,
/// so the count screen for it lets the user start once they can.
async fn retry_screen(
    ctx: &Ctx<'_>,
    aspect: AspectRatio,
    notice: Option<&str>,
) -> Result<(), HandlerError> {
    let Some(options) = options(ctx).await? else {
        return Ok(());
    };
    let avatar = stored_avatar(ctx, &options).await?;
    let index = AspectRatio::ALL
        .iter()
        .position(|a| *a == aspect)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0);
    count_screen(
        ctx,
        None,
        &options,
        avatar.as_ref(),
        (index, aspect),
        notice,
    )
    .await
}

/// How [`begin`] ended.
enum Begun {
    /// Charged and stored: submit it.
    Started(Box<row::Model>, Option<Box<entity::avatar::Model>>),
    /// The options were used or replaced (a double tap, an old screen).
    Expired,
    /// The chosen avatar is no longer ready.
    AvatarGone,
    /// Too many of the user's generations are running; nothing charged, the prompt kept.
    Busy { max: u32 },
    /// Not enough coins; nothing charged, the prompt kept.
    Insufficient { need: i64, have: i64 },
}

/// Takes the stored options and charges for `count` images of `aspect` in one transaction.
async fn begin(
    ctx: &Ctx<'_>,
    progress: Option<&Message>,
    aspect: AspectRatio,
    count: u8,
    start_key: Option<String>,
) -> Result<Begun, HandlerError> {
    let state = ctx.state;
    let txn = state.db.begin().await?;
    let Some(Dialogue::GenerationOptions(options)) =
        dialogue::take(&txn, ctx.telegram_id()).await?
    else {
        txn.rollback().await?;
        return Ok(Begun::Expired);
    };
    let avatar = match options.avatar_id {
        Some(id) => match ready_avatar(&txn, ctx.user.id, id).await? {
            Some(a) => Some(a),
            None => {
                txn.rollback().await?;
                return Ok(Begun::AvatarGone);
            }
        },
        None => None,
    };
    let created = generation::create(
        &txn,
        state,
        NewGeneration {
            user_id: ctx.user.id,
            chat_id: ctx.chat.0,
            lang: ctx.lang,
            avatar: avatar.as_ref(),
            prompt: &options.prompt,
            aspect,
            num_images: count,
            progress_message_id: progress.map(|m| i64::from(m.id.0)),
            regenerated_from: None,
            start_key,
            // A style switched off since it was picked: the prompt goes as written.
            style: options
                .style
                .as_deref()
                .filter(|id| state.settings.offered_styles().any(|s| s.id == *id)),
            prompt_en: options.sent(),
        },
    )
    .await
    .map_err(pipeline)?;
    let generation = match created {
        Created::Charged(g) => g,
        // Started by an earlier delivery of the same prompt (quick mode's key): running already.
        Created::Again(_) => {
            txn.rollback().await?;
            return Ok(Begun::Expired);
        }
        Created::Busy { max } => {
            txn.rollback().await?;
            return Ok(Begun::Busy { max });
        }
        Created::Insufficient { need, have } => {
            txn.rollback().await?;
            return Ok(Begun::Insufficient { need, have });
        }
    };
    txn.commit().await?;
    Ok(Begun::Started(generation, avatar.map(Box::new)))
}

/// The progress message: the screen the button was on, or a new message.
async fn show_progress(
    ctx: &Ctx<'_>,
    origin: Option<&Message>,
    generation: &row::Model,
    text: String,
    kb: InlineKeyboardMarkup,
) {
    if origin.is_some() {
        if let Err(e) = ui::show(ctx.bot(), ctx.chat, origin, &text, kb).await {
            tracing::warn!(error = %e, "could not show the progress message");
        }
    } else {
        send_progress(ctx, generation.id, text, kb).await;
    }
}

/// Submits off the update's path: the coins are taken, so the job must go out even if the
/// webhook request that started it is cut off (a timeout) and Telegram redelivers it.
fn submit_detached(
    state: &crate::state::AppState,
    generation: Box<row::Model>,
    avatar: Option<entity::avatar::Model>,
) {
    let state = state.clone();
    tokio::spawn(async move {
        generation::submit(&state, &generation, avatar.as_ref()).await;
    });
}

/// The charge is committed. From here on nothing may fail the update (a redelivery would not
/// find the input again), so Telegram errors are only logged, and the deadline is set before
/// anything else can go wrong.
async fn paid(ctx: &Ctx<'_>, query: &CallbackQuery, generation: &row::Model, said: Option<&str>) {
    ctx.state
        .deadlines
        .watch(
            JobId::Generation(GenerationId(generation.id)),
            generation.deadline_at,
        )
        .await;
    ui::answer(ctx.bot(), query, said, false).await;
}

/// Sends a new progress message and records it on the generation (best effort).
async fn send_progress(ctx: &Ctx<'_>, generation_id: i64, text: String, kb: InlineKeyboardMarkup) {
    let sent = ctx
        .bot()
        .send_message(ctx.chat, text)
        .parse_mode(ParseMode::Html)
        .reply_markup(kb)
        .await;
    match sent {
        Ok(message) => {
            generation::set_progress_message(ctx.state, generation_id, i64::from(message.id.0))
                .await;
        }
        Err(e) => tracing::warn!(error = %e, "could not send the progress message"),
    }
}

fn pipeline(e: generation::PipelineError) -> HandlerError {
    match e {
        generation::PipelineError::Db(e) => HandlerError::Db(e),
        generation::PipelineError::Ledger(e) => HandlerError::Ledger(e),
    }
}

fn progress_text(ctx: &Ctx<'_>, g: &row::Model, again: bool) -> String {
    (ctx.t().gen_started)(&Progress {
        again,
        prompt: &g.prompt,
        avatar: g.avatar_name.as_deref(),
        aspect: &g.aspect,
        images: u8::try_from(g.num_images).unwrap_or(1),
        typical: ctx.state.estimate.median(),
    })
}

fn status_keyboard(ctx: &Ctx<'_>, id: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![button(
        ctx.t().btn_status,
        Callback::Generation(GenerationAction::Status(GenerationId(id))),
    )]])
}

/// 📊: the owner's generation only; pending → elapsed and estimate, failed → why and the
/// refund, completed → the image again (from Telegram's copy: no upload).
pub async fn status(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    id: GenerationId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(g) = generation::find_owned(&ctx.state.db, ctx.user_id(), id).await? else {
        ui::answer(ctx.bot(), query, Some(t.status_not_found), true).await;
        return Ok(());
    };
    match GenerationStatus::parse(&g.status) {
        Some(GenerationStatus::Completed) => {
            let first = entity::generation_image::Entity::find()
                .filter(entity::generation_image::Column::GenerationId.eq(g.id))
                .order_by_asc(entity::generation_image::Column::Position)
                .one(&ctx.state.db)
                .await?;
            match first {
                // In the chat: jump to its gallery card (Telegram's copy, no upload).
                Some(image) if image.telegram_file_id.is_some() => {
                    ui::answer(ctx.bot(), query, None, false).await;
                    gallery::open_image(ctx, &image).await?;
                }
                // Not in the chat yet. If the push was given up (the user had blocked the bot,
                // and pressing this shows they are back), it goes out again now.
                Some(_) => {
                    let key = generation::delivery_key(g.id);
                    if delivery::retry_failed(&ctx.state.db, &key).await? {
                        ctx.state.outbox.queued().await;
                    }
                    ui::answer(ctx.bot(), query, Some(t.status_delivering), true).await;
                }
                // Deleted from the gallery since.
                None => ui::answer(ctx.bot(), query, Some(t.image_not_found), true).await,
            }
        }
        Some(GenerationStatus::Failed) => {
            let reason = FailReason::parse(g.error.as_deref().unwrap_or_default());
            let text = (t.status_failed)(&(t.fail_reason)(&reason), g.cost);
            ui::answer(ctx.bot(), query, Some(&text), true).await;
        }
        _ => {
            let elapsed = (chrono::Utc::now() - g.created_at).num_seconds().max(0);
            let text = (t.status_pending)(elapsed.unsigned_abs(), ctx.state.estimate.median());
            ui::answer(ctx.bot(), query, Some(&text), true).await;
        }
    }
    Ok(())
}

/// The avatar a generation was made with, if it had one: `None` when that avatar can't be used
/// any more (deleted, or not the user's ready one).
async fn avatar_of(
    ctx: &Ctx<'_>,
    original: &row::Model,
) -> Result<Option<Option<avatar::Model>>, HandlerError> {
    Ok(match original.avatar_id {
        Some(avatar_id) => ready_avatar(&ctx.state.db, ctx.user.id, avatar_id)
            .await?
            .map(Some),
        // Made with an avatar that has since been deleted.
        None if original.avatar_name.is_some() => None,
        None => Some(None),
    })
}

/// The same request again (prompt, avatar, size and count; a new seed), started by this tap.
fn again<'a>(
    ctx: &Ctx<'_>,
    original: &'a row::Model,
    avatar: Option<&'a avatar::Model>,
    query: &CallbackQuery,
) -> NewGeneration<'a> {
    let aspect = AspectRatio::parse(&original.aspect).unwrap_or(AspectRatio::Square);
    let count = u8::try_from(original.num_images)
        .unwrap_or(1)
        .clamp(1, MAX_IMAGES);
    NewGeneration {
        user_id: ctx.user.id,
        chat_id: ctx.chat.0,
        lang: ctx.lang,
        avatar,
        prompt: &original.prompt,
        aspect,
        num_images: count,
        progress_message_id: None,
        regenerated_from: Some(original.id),
        // A redelivered update carries the same query: it finds this generation, pays nothing.
        start_key: Some(format!("callback:{}", query.id)),
        // The same style: its template is applied to the user's words once more, never twice.
        style: original.style.as_deref(),
        // The English prompt made for the original: no new translation, nothing added to it.
        prompt_en: original.prompt_en.as_deref(),
    }
}

/// 🔄: the same request again (the original prompt, avatar, size and count; a new seed), charged
/// once. The callback answer is the only one, and carries the outcome.
pub async fn regenerate(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    id: GenerationId,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let state = ctx.state;
    let Some(original) = generation::find_owned(&state.db, ctx.user_id(), id).await? else {
        ui::answer(ctx.bot(), query, Some(t.status_not_found), true).await;
        return Ok(());
    };
    let Some(avatar) = avatar_of(ctx, &original).await? else {
        ui::answer(ctx.bot(), query, Some(t.avatar_unavailable), true).await;
        return Ok(());
    };
    // Two taps on the same button within a few seconds start one generation.
    let lock_name = format!("regenerate:{}:{id}", ctx.user.id);
    let Some(lock) = state
        .kv
        .db
        .try_lock(
            &lock_name,
            std::time::Duration::from_secs(state.settings.generation.repeat_guard_secs.max(1)),
        )
        .await?
    else {
        ui::answer(ctx.bot(), query, Some(t.regen_busy), false).await;
        return Ok(());
    };
    let new = again(ctx, &original, avatar.as_ref(), query);
    let created = async {
        let txn = state.db.begin().await?;
        let created = generation::create(&txn, state, new)
            .await
            .map_err(pipeline)?;
        match created {
            Created::Charged(_) => txn.commit().await?,
            _ => txn.rollback().await?,
        }
        Ok::<_, HandlerError>(created)
    }
    .await;
    let generation = match created {
        Ok(Created::Charged(g)) => g,
        Ok(Created::Again(g)) => {
            // Started by an earlier delivery of this very tap.
            drop(lock);
            let said = (t.status_pending)(
                u64::try_from((chrono::Utc::now() - g.created_at).num_seconds()).unwrap_or(0),
                None,
            );
            ui::answer(ctx.bot(), query, Some(&said), false).await;
            return Ok(());
        }
        Ok(Created::Busy { max }) => {
            // Nothing started: a tap once one has finished must not be taken for a double tap.
            state.kv.db.unlock(lock).await?;
            ui::answer(ctx.bot(), query, Some(&(t.gen_busy)(max)), true).await;
            return Ok(());
        }
        Ok(Created::Insufficient { need, have }) => {
            // Nothing started: a tap right after a top-up must not be taken for a double tap.
            state.kv.db.unlock(lock).await?;
            let (text, kb) = balance::insufficient(t, need, have);
            ui::answer(ctx.bot(), query, Some(&text), true).await;
            ui::send(ctx.bot(), ctx.chat, &text, kb).await?;
            return Ok(());
        }
        Err(e) => {
            // Nothing started: the retry (Telegram redelivers) must not be told "starting".
            if let Err(unlock) = state.kv.db.unlock(lock).await {
                tracing::warn!(error = %unlock, "could not release the repeat guard (it expires)");
            }
            return Err(e);
        }
    };
    // The lock is left to expire: taps in the next seconds are the same request.
    drop(lock);
    paid(ctx, query, &generation, Some(t.regen_started)).await;
    let text = progress_text(ctx, &generation, true);
    send_progress(
        ctx,
        generation.id,
        text,
        status_keyboard(ctx, generation.id),
    )
    .await;
    submit_detached(state, generation, avatar);
    Ok(())
}

/// The 🎨 flow's buttons and those under results (see `GenerationAction`).
pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: GenerationAction,
) -> Result<(), HandlerError> {
    let opens = match action {
        GenerationAction::Open => Some(Choice::Default),
        GenerationAction::Avatar(id) => Some(Choice::Avatar(id)),
        GenerationAction::NoAvatar => Some(Choice::Base),
        _ => None,
    };
    if let Some(choice) = opens {
        ui::answer(ctx.bot(), query, None, false).await;
        return open(ctx, origin, choice).await;
    }
    match action {
        GenerationAction::Avatars => {
            ui::answer(ctx.bot(), query, None, false).await;
            pick_avatar(ctx, origin).await
        }
        GenerationAction::Aspect(index) => on_aspect(ctx, query, origin, index).await,
        GenerationAction::AspectBack => back_to_aspect(ctx, query, origin).await,
        GenerationAction::Start(aspect, count) => on_start(ctx, query, origin, aspect, count).await,
        GenerationAction::Status(id) => status(ctx, query, id).await,
        GenerationAction::Regenerate(id) => regenerate(ctx, query, id).await,
        GenerationAction::Styles => styles(ctx, query, origin).await,
        GenerationAction::Style(index) => on_style(ctx, query, origin, index).await,
        GenerationAction::Improve => prompt_help::improve(ctx, query, origin).await,
        GenerationAction::UseImproved(use_it) => {
            prompt_help::on_improved(ctx, query, origin, use_it).await
        }
        GenerationAction::UseDescribed => prompt_help::use_described(ctx, query).await,
        GenerationAction::PhotoHint => {
            let t = ctx.t();
            let said = if ctx.state.llm.is_some() {
                t.photo_prompt_hint
            } else {
                t.unknown_callback
            };
            ui::answer(ctx.bot(), query, Some(said), true).await;
            Ok(())
        }
        GenerationAction::Open | GenerationAction::Avatar(_) | GenerationAction::NoAvatar => Ok(()),
    }
}
