//! Showing screens: edit the message a button was pressed on when it is a text message, send a
//! new one otherwise (a photo message cannot take editMessageText).

use teloxide::{
    Bot, RequestError,
    payloads::{AnswerCallbackQuerySetters, EditMessageTextSetters, SendMessageSetters},
    prelude::Requester,
    types::{CallbackQuery, ChatId, InlineKeyboardMarkup, Message, ParseMode},
};

use crate::telegram::error::not_modified_is_ok;

/// Sends a new HTML message with a keyboard.
pub async fn send(
    bot: &Bot,
    chat: ChatId,
    text: &str,
    keyboard: InlineKeyboardMarkup,
) -> Result<(), RequestError> {
    bot.send_message(chat, text)
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard)
        .await?;
    Ok(())
}

/// Replaces the screen `origin` shows, or sends a new message when it can't be edited as text.
pub async fn show(
    bot: &Bot,
    chat: ChatId,
    origin: Option<&Message>,
    text: &str,
    keyboard: InlineKeyboardMarkup,
) -> Result<(), RequestError> {
    match origin {
        Some(message) if message.text().is_some() => not_modified_is_ok(
            bot.edit_message_text(chat, message.id, text)
                .parse_mode(ParseMode::Html)
                .reply_markup(keyboard)
                .await,
        ),
        _ => send(bot, chat, text, keyboard).await,
    }
}

/// Answers a callback query; Telegram shows only the first answer, so each query gets one.
///
/// Best effort: on a redelivered update the query is already too old to answer, and failing
/// here would keep the screen that follows from ever being shown.
pub async fn answer(bot: &Bot, query: &CallbackQuery, text: Option<&str>, alert: bool) {
    let mut request = bot.answer_callback_query(query.id.clone());
    if let Some(text) = text {
        request = request.text(text).show_alert(alert);
    }
    if let Err(e) = request.await {
        tracing::warn!(error = %e, "could not answer a callback query");
    }
}
