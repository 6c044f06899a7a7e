//! Prompt help in the 🎨 flow, on when an LLM is configured (`llm`): a prompt that is not in
//! English is translated for the model once, as it comes in; ✨ offers a richer prompt next to the
//! user's own; 📷 turns a photo into a prompt. Whatever the LLM fails to do is said in one line
//! and the flow goes on with the user's own words.

use teloxide::{
    net::Download,
    prelude::Requester,
    types::{CallbackQuery, ChatAction, InlineKeyboardMarkup, Message},
};

use super::{change_options, on_prompt, options};
use crate::{
    dialogue::{self, Dialogue},
    domain::Prompt,
    llm,
    telegram::{
        callback::{Callback, GenerationAction, MenuAction},
        ctx::Ctx,
        error::HandlerError,
        keyboards::{self, button},
        ui,
    },
};
use sea_orm::TransactionTrait;

/// The prompt in English for the model when it is in another language and an LLM is
/// configured, or the one line that says why the model gets the words as written.
pub(super) async fn translation(
    ctx: &Ctx<'_>,
    prompt: &str,
) -> Result<(Option<String>, Option<&'static str>), HandlerError> {
    let Some(llm) = ctx.state.llm.as_deref() else {
        return Ok((None, None));
    };
    if llm::is_english(prompt) {
        return Ok((None, None));
    }
    let t = ctx.t();
    if !llm.admit(&ctx.state.db, ctx.user_id()).await? {
        return Ok((None, Some(t.llm_cap_reached)));
    }
    typing(ctx).await;
    match llm.translate(prompt).await {
        Ok(english) => Ok((Some(english), None)),
        Err(e) => {
            tracing::warn!(error = %e, "translation failed: the prompt goes as written");
            Ok((None, Some(t.llm_translate_failed)))
        }
    }
}

/// "typing…" in the chat while the LLM works (best effort).
async fn typing(ctx: &Ctx<'_>) {
    if let Err(e) = ctx
        .bot()
        .send_chat_action(ctx.chat, ChatAction::Typing)
        .await
    {
        tracing::debug!(error = %e, "could not show typing");
    }
}

/// ✨: the LLM rewrites the stored prompt into a richer one, shown next to the user's own with
/// "use improved" (carrying a tag of the text shown) and "keep mine". The button is answered at
/// once; a failure says so in one line and changes nothing.
pub(super) async fn improve(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let Some(llm) = ctx.state.llm.as_deref() else {
        ui::answer(ctx.bot(), query, Some(t.unknown_callback), true).await;
        return Ok(());
    };
    let Some(options) = options(ctx).await? else {
        ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await;
        return Ok(());
    };
    if !llm.admit(&ctx.state.db, ctx.user_id()).await? {
        ui::answer(ctx.bot(), query, Some(t.llm_cap_improve), true).await;
        return Ok(());
    }
    // Answered before the wait: a late answer may be refused by Telegram.
    ui::answer(ctx.bot(), query, None, false).await;
    typing(ctx).await;
    // The user's own words (any language): the improved prompt comes back in English.
    let better = match llm.improve(&options.prompt).await {
        Ok(better) => better,
        Err(e) => {
            tracing::warn!(error = %e, "improving the prompt failed");
            let kb = keyboards::back_to_menu(t);
            ui::send(ctx.bot(), ctx.chat, t.llm_improve_failed, kb).await?;
            return Ok(());
        }
    };
    // Stored only on the options it was made for (a new prompt since is left alone).
    let txn = ctx.state.db.begin().await?;
    match dialogue::take(&txn, ctx.telegram_id()).await? {
        Some(Dialogue::GenerationOptions(mut current)) if current.prompt == options.prompt => {
            current.proposal = Some(better.clone());
            dialogue::set(
                &txn,
                ctx.telegram_id(),
                &Dialogue::GenerationOptions(current),
            )
            .await?;
            txn.commit().await?;
        }
        // The user moved on meanwhile (a new prompt, a start): nothing to offer.
        _ => {
            txn.rollback().await?;
            return Ok(());
        }
    }
    let kb = InlineKeyboardMarkup::new([
        vec![button(
            t.btn_use_improved,
            Callback::Generation(GenerationAction::UseImproved(Some(tag(&better)))),
        )],
        vec![button(
            t.btn_keep_mine,
            Callback::Generation(GenerationAction::UseImproved(None)),
        )],
    ]);
    let text = (t.gen_improved)(&options.prompt, &better);
    ui::show(ctx.bot(), ctx.chat, origin, &text, kb).await?;
    Ok(())
}

/// A short tag of a proposal, carried by its "use improved" button: of two ✨ taps whose answers
/// crossed, the button takes only the text it was shown with.
fn tag(proposal: &str) -> u32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(proposal.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// ✨ answered: the improved prompt shown (`use_it`: its tag) goes to the model, or the user's
/// own words do (`None`); then the format screen (the counts with a default format).
pub(super) async fn on_improved(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    use_it: Option<u32>,
) -> Result<(), HandlerError> {
    change_options(ctx, query, origin, |options| match use_it {
        // A second tap finds the proposal taken and the improved prompt in use already.
        Some(shown) => match options.proposal.take() {
            Some(proposal) if tag(&proposal) == shown => {
                options.improved = Some(proposal);
                true
            }
            // A button of another text than the one shown.
            Some(_) => false,
            None => true,
        },
        None => {
            options.proposal = None;
            options.improved = None;
            true
        }
    })
    .await
}

/// The largest size of a photo, or an image sent as a file: its file id and size.
fn photo_of(message: &Message) -> Option<(String, u64)> {
    if let Some(sizes) = message.photo() {
        let largest = sizes
            .iter()
            .max_by_key(|s| u64::from(s.width) * u64::from(s.height))?;
        return Some((largest.file.id.to_string(), u64::from(largest.file.size)));
    }
    let document = message
        .document()
        .filter(|d| d.mime_type.as_ref().is_some_and(|m| m.type_() == "image"))?;
    Some((document.file.id.to_string(), u64::from(document.file.size)))
}

/// 📷 A photo while waiting for the prompt: the vision model describes it as a prompt, which
/// the user takes with one tap or replaces by sending text. Failures say so in one line.
pub async fn on_photo(
    ctx: &Ctx<'_>,
    message: &Message,
    avatar_id: Option<i64>,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let failed = || async {
        let kb = keyboards::back_to_menu(t);
        ui::send(ctx.bot(), ctx.chat, t.llm_describe_failed, kb).await
    };
    let (Some(llm), Some((file_id, size))) = (ctx.state.llm.as_deref(), photo_of(message)) else {
        failed().await?;
        return Ok(());
    };
    if size > ctx.state.settings.avatar.max_photo_bytes {
        failed().await?;
        return Ok(());
    }
    if !llm.admit(&ctx.state.db, ctx.user_id()).await? {
        let kb = keyboards::back_to_menu(t);
        ui::send(ctx.bot(), ctx.chat, t.llm_cap_photo, kb).await?;
        return Ok(());
    }
    typing(ctx).await;
    let file = ctx.bot().get_file(file_id.into()).await?;
    let mut bytes = Vec::new();
    ctx.bot().download_file(&file.path, &mut bytes).await?;
    let described = match llm.describe(&bytes).await {
        Ok(text) => llm::cut(&text, *Prompt::CHARS.end()),
        Err(e) => {
            tracing::warn!(error = %e, "describing the photo failed");
            failed().await?;
            return Ok(());
        }
    };
    if Prompt::parse(&described).is_err() {
        failed().await?;
        return Ok(());
    }
    // Stored only if the prompt is still awaited for the same avatar: a text prompt sent while
    // the photo was described (or a trip elsewhere) stays.
    let txn = ctx.state.db.begin().await?;
    match dialogue::take(&txn, ctx.telegram_id()).await? {
        Some(Dialogue::GenerationPrompt { avatar_id: a, .. }) if a == avatar_id => {
            let offered = Dialogue::GenerationPrompt {
                avatar_id,
                described: Some(described.clone()),
            };
            dialogue::set(&txn, ctx.telegram_id(), &offered).await?;
            txn.commit().await?;
        }
        _ => {
            txn.rollback().await?;
            tracing::info!("a photo was overtaken while it was described: dropped");
            return Ok(());
        }
    }
    let kb = InlineKeyboardMarkup::new([
        vec![button(
            t.btn_use_prompt,
            Callback::Generation(GenerationAction::UseDescribed),
        )],
        vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
    ]);
    ui::send(ctx.bot(), ctx.chat, &(t.photo_prompt_ready)(&described), kb).await?;
    Ok(())
}

/// 📷 "use it": the prompt made of the photo goes on as if the user had typed it (once: a
/// double tap finds it taken).
pub(super) async fn use_described(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
) -> Result<(), HandlerError> {
    let t = ctx.t();
    let txn = ctx.state.db.begin().await?;
    let Some(Dialogue::GenerationPrompt {
        avatar_id,
        described: Some(described),
    }) = dialogue::take(&txn, ctx.telegram_id()).await?
    else {
        txn.rollback().await?;
        ui::answer(ctx.bot(), query, Some(t.gen_expired), true).await;
        return Ok(());
    };
    // Still waiting for this prompt, the photo's description used up.
    let waiting = Dialogue::GenerationPrompt {
        avatar_id,
        described: None,
    };
    dialogue::set(&txn, ctx.telegram_id(), &waiting).await?;
    txn.commit().await?;
    ui::answer(ctx.bot(), query, None, false).await;
    let key = format!("callback:{}", query.id);
    on_prompt(ctx, avatar_id, &described, key, None).await
}
