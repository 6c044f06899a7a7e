//! The one place updates are routed, and the only module that knows every feature: commands
//! and texts to message handlers, callback data (decoded by the codec) to feature handlers.
//! Every callback query gets exactly one answer.

use teloxide::{
    payloads::AnswerCallbackQuerySetters,
    prelude::Requester,
    types::{CallbackQuery, ChatId, Message, Update, UpdateKind, User},
};

use crate::{
    avatar, balance,
    dialogue::{self, Dialogue},
    gallery,
    generation::flow::{self, Choice, prompt_help},
    menu, payments, promo, settings,
    state::AppState,
    telegram::{callback::Callback, ctx::Ctx, error::HandlerError, ui},
    users,
};

/// A label for metrics: which kind of update this is.
#[must_use]
pub fn kind_label(update: &Update) -> &'static str {
    match &update.kind {
        UpdateKind::Message(_) => "message",
        UpdateKind::EditedMessage(_) => "edited_message",
        UpdateKind::CallbackQuery(_) => "callback_query",
        UpdateKind::PreCheckoutQuery(_) => "pre_checkout_query",
        UpdateKind::MyChatMember(_) => "my_chat_member",
        UpdateKind::Error(_) => "unknown",
        _ => "other",
    }
}

/// Handles one update to completion.
pub async fn handle(state: &AppState, update: Update) -> Result<(), HandlerError> {
    // Replies go out at once, and they count against the chat's Telegram limit: pushes to this
    // chat (on any replica) wait their turn until the handling is over.
    let chat = update.chat().map(|c| c.id.0);
    if let Some(chat) = chat {
        state.outbox.limiter.hold(chat).await;
    }
    let handled = match update.kind {
        UpdateKind::Message(message) => on_message(state, &message).await,
        UpdateKind::CallbackQuery(query) => on_callback(state, &query).await,
        UpdateKind::PreCheckoutQuery(query) => payments::on_pre_checkout(state, &query).await,
        _ => Ok(()),
    };
    if let Some(chat) = chat {
        state.outbox.limiter.sent(chat).await;
    }
    handled
}

/// Tells the user that their update could not be handled (best effort): an alert on the button
/// they pressed, or a message. For updates that end permanently without an answer of their own.
pub async fn report_failure(state: &AppState, update: &Update) {
    match &update.kind {
        UpdateKind::CallbackQuery(query) => {
            // Most buttons answer their query before touching the database: then this answer
            // is refused, and the chat gets the words instead.
            let t = failure_lang(state, &query.from).await.texts();
            let answered = state
                .bot
                .answer_callback_query(query.id.clone())
                .text(t.action_failed)
                .show_alert(true)
                .await;
            if answered.is_err()
                && let Some(message) = &query.message
            {
                let menu = crate::telegram::keyboards::back_to_menu(t);
                if let Err(e) = ui::send(&state.bot, message.chat().id, t.action_failed, menu).await
                {
                    tracing::warn!(error = %e, "could not tell the user their update failed");
                }
            }
        }
        UpdateKind::Message(message) if message.chat.is_private() => {
            let Some(from) = message.from.as_ref() else {
                return;
            };
            let t = failure_lang(state, from).await.texts();
            let menu = crate::telegram::keyboards::back_to_menu(t);
            if let Err(e) = ui::send(&state.bot, message.chat.id, t.action_failed, menu).await {
                tracing::warn!(error = %e, "could not tell the user their update failed");
            }
        }
        _ => {}
    }
}

/// The ⚙️ language when the database can still say it (it may be what failed).
async fn failure_lang(state: &AppState, from: &User) -> crate::i18n::Lang {
    let id = i64::try_from(from.id.0).unwrap_or_default();
    users::lang_for(&state.db, id, from.language_code.as_deref()).await
}

/// Slash commands the bot understands.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Start,
    Help,
    Menu,
    Balance,
    Generate,
    Gallery,
    Settings,
}

impl Command {
    /// `/start`, `/start payload`, `/help@aisha_bot` ...; `None` for anything else.
    fn parse(text: &str) -> Option<Self> {
        let word = text
            .trim_start()
            .strip_prefix('/')?
            .split_whitespace()
            .next()?;
        let name = word.split('@').next()?;
        match name.to_ascii_lowercase().as_str() {
            "start" => Some(Self::Start),
            "help" => Some(Self::Help),
            "menu" => Some(Self::Menu),
            "balance" => Some(Self::Balance),
            "generate" => Some(Self::Generate),
            "gallery" => Some(Self::Gallery),
            "settings" => Some(Self::Settings),
            _ => None,
        }
    }
}

async fn on_message(state: &AppState, message: &Message) -> Result<(), HandlerError> {
    // Aisha is a private-chat bot; group chatter is not addressed to it.
    if !message.chat.is_private() {
        return Ok(());
    }
    let Some(from) = message.from.as_ref().filter(|u| !u.is_bot) else {
        return Ok(());
    };
    let ctx = Ctx::new(state, from, message.chat.id).await?;
    if let Some(paid) = message.successful_payment() {
        return payments::on_successful_payment(&ctx, paid).await;
    }
    let text = message.text();
    if let Some(command) = text.and_then(Command::parse) {
        // A command leaves whatever input the bot was waiting for (/generate replaces it).
        if command != Command::Generate {
            dialogue::clear(&state.db, ctx.telegram_id()).await?;
        }
        return match command {
            Command::Start => menu::start(&ctx).await,
            Command::Help => menu::help(&ctx, None).await,
            Command::Menu => menu::show(&ctx, None).await,
            Command::Balance => balance::show(&ctx, None).await,
            Command::Generate => flow::open(&ctx, None, Choice::Default).await,
            Command::Gallery => gallery::show(&ctx, None, 0).await,
            Command::Settings => settings::show(&ctx, None).await,
        };
    }
    let carries_file = message.photo().is_some() || message.document().is_some();
    match (dialogue::get(&state.db, ctx.telegram_id()).await?, text) {
        (Some(Dialogue::AvatarPhotos { avatar_id }), _) => {
            avatar::photos::receive(&ctx, message, avatar_id).await
        }
        // 📷 With prompt help on, a photo is as good as a prompt.
        (Some(Dialogue::GenerationPrompt { avatar_id, .. }), _)
            if carries_file && state.llm.is_some() =>
        {
            prompt_help::on_photo(&ctx, message, avatar_id).await
        }
        (_, _) if carries_file => avatar::photos::receive_unexpected(&ctx, message).await,
        (Some(Dialogue::PromoCode), Some(text)) => promo::on_text(&ctx, text).await,
        (Some(Dialogue::GenerationPrompt { avatar_id, .. }), Some(text)) => {
            let key = flow::quick_key(message);
            flow::on_prompt(&ctx, avatar_id, text, key, None).await
        }
        // The same prompt again: Telegram redelivering it because showing the sizes failed
        // after the options were stored. Show them (again).
        // Its translation is reused: no second LLM call.
        (Some(Dialogue::GenerationOptions(options)), Some(text))
            if options.prompt.trim() == text.trim() =>
        {
            let known = options.translation;
            let key = flow::quick_key(message);
            flow::on_prompt(&ctx, options.avatar_id, text, key, known).await
        }
        (Some(Dialogue::AvatarName), Some(text)) => avatar::screens::on_name(&ctx, text).await,
        (Some(Dialogue::AvatarRename { avatar_id }), Some(text)) => {
            avatar::screens::on_rename(&ctx, avatar_id, text).await
        }
        _ => menu::unknown_text(&ctx).await,
    }
}

async fn on_callback(state: &AppState, query: &CallbackQuery) -> Result<(), HandlerError> {
    let chat = query
        .message
        .as_ref()
        .map_or(ChatId(i64::try_from(query.from.id.0).unwrap_or(0)), |m| {
            m.chat().id
        });
    let ctx = Ctx::new(state, &query.from, chat).await?;
    let Some(action) = query.data.as_deref().and_then(Callback::parse) else {
        ui::answer(ctx.bot(), query, Some(ctx.t().unknown_callback), true).await;
        return Ok(());
    };
    let origin = query.regular_message();
    match action {
        Callback::Menu(action) => menu::on_callback(&ctx, query, origin, action).await,
        Callback::Balance(action) => balance::on_callback(&ctx, query, origin, action).await,
        Callback::Payments(action) => payments::on_callback(&ctx, query, origin, action).await,
        Callback::Promo(action) => promo::on_callback(&ctx, query, origin, action).await,
        Callback::Generation(action) => flow::on_callback(&ctx, query, origin, action).await,
        Callback::Gallery(action) => gallery::on_callback(&ctx, query, origin, action).await,
        Callback::Avatar(action) => avatar::screens::on_callback(&ctx, query, origin, action).await,
        Callback::Settings(action) => settings::on_callback(&ctx, query, origin, action).await,
    }
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn commands_parse() {
        assert_eq!(Command::parse("/start"), Some(Command::Start));
        assert_eq!(Command::parse("/start ref_42"), Some(Command::Start));
        assert_eq!(Command::parse("  /HELP@aisha_bot"), Some(Command::Help));
        assert_eq!(Command::parse("/menu"), Some(Command::Menu));
        assert_eq!(Command::parse("/balance"), Some(Command::Balance));
        assert_eq!(Command::parse("/generate"), Some(Command::Generate));
        assert_eq!(Command::parse("/settings"), Some(Command::Settings));
        assert_eq!(Command::parse("start"), None);
        assert_eq!(Command::parse("/"), None);
        assert_eq!(Command::parse("/unknown"), None);
    }
}
