//! Showing screens: edit the message a button was pressed on when it is a text message, send a
//! new one otherwise (a photo message cannot take editMessageText).

use teloxide::{
    ApiError, Bot, RequestError,
    payloads::{
        AnswerCallbackQuerySetters, EditMessageCaptionSetters, EditMessageMediaSetters,
        EditMessageTextSetters, SendMessageSetters, SendPhotoSetters,
    },
    prelude::Requester,
    types::{
        CallbackQuery, ChatId, InlineKeyboardButtonKind, InlineKeyboardMarkup, InputFile,
        InputMedia, InputMediaPhoto, Message, MessageId, ParseMode,
    },
};

use crate::telegram::{callback::Callback, error::not_modified_is_ok};

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

/// Whether any inline button of `message` carries a callback `matches` accepts.
#[must_use]
pub fn has_button(message: &Message, matches: impl Fn(Callback) -> bool) -> bool {
    message.reply_markup().is_some_and(|kb| {
        kb.inline_keyboard.iter().flatten().any(|b| match &b.kind {
            InlineKeyboardButtonKind::CallbackData(data) => {
                Callback::parse(data).is_some_and(&matches)
            }
            _ => false,
        })
    })
}

/// Deletes a message; one too old to delete just stays.
pub async fn delete_quietly(bot: &Bot, chat: ChatId, message: &Message) {
    if let Err(e) = bot.delete_message(chat, message.id).await {
        tracing::info!(error = %e, "could not delete a screen");
    }
}

/// Deletes a screen about to be replaced by a message of another kind, as a claim: `false` when
/// it is gone already — a second tap on the same screen got there first and shows the new one, so
/// this one must not send a second. A message too old to delete is still replaced.
pub async fn claim(bot: &Bot, chat: ChatId, message: &Message) -> bool {
    match bot.delete_message(chat, message.id).await {
        Ok(_) => true,
        Err(RequestError::Api(ApiError::MessageToDeleteNotFound)) => false,
        Err(e) => {
            tracing::info!(error = %e, "could not delete a screen");
            true
        }
    }
}

/// Replaces the words on `origin`: its caption when it is a photo, its text otherwise; a new
/// message without one.
pub async fn retext(
    bot: &Bot,
    chat: ChatId,
    origin: Option<&Message>,
    text: &str,
    keyboard: InlineKeyboardMarkup,
) -> Result<(), RequestError> {
    match origin.filter(|m| m.photo().is_some()) {
        Some(card) => not_modified_is_ok(
            bot.edit_message_caption(chat, card.id)
                .caption(text)
                .parse_mode(ParseMode::Html)
                .reply_markup(keyboard)
                .await,
        ),
        None => show(bot, chat, origin, text, keyboard).await,
    }
}

/// A screen that may carry a photo (by Telegram file_id).
#[derive(Debug)]
pub struct Card {
    pub photo: Option<InputFile>,
    pub text: String,
    pub keyboard: InlineKeyboardMarkup,
}

impl Card {
    #[must_use]
    pub fn text(text: &str, keyboard: InlineKeyboardMarkup) -> Self {
        Self {
            photo: None,
            text: text.to_owned(),
            keyboard,
        }
    }
}

/// Shows `card` in place of `origin` when the kinds allow (photo → editMessageMedia, text →
/// editMessageText); otherwise sends it, and deletes `origin` when `replace` says it is a screen
/// of the same family (deleted first, as a [`claim`]). Returns the message that shows it; `None`
/// when a double tap's other update is showing it.
pub async fn card(
    bot: &Bot,
    chat: ChatId,
    origin: Option<&Message>,
    replace: bool,
    card: Card,
) -> Result<Option<MessageId>, RequestError> {
    match (origin, &card.photo) {
        (Some(message), Some(photo)) if message.photo().is_some() && replace => {
            let media = InputMediaPhoto::new(photo.clone())
                .caption(card.text)
                .parse_mode(ParseMode::Html);
            not_modified_is_ok(
                bot.edit_message_media(chat, message.id, InputMedia::Photo(media))
                    .reply_markup(card.keyboard)
                    .await,
            )?;
            return Ok(Some(message.id));
        }
        (Some(message), None) if message.text().is_some() => {
            not_modified_is_ok(
                bot.edit_message_text(chat, message.id, card.text)
                    .parse_mode(ParseMode::Html)
                    .reply_markup(card.keyboard)
                    .await,
            )?;
            return Ok(Some(message.id));
        }
        _ => {}
    }
    if let Some(message) = origin.filter(|_| replace)
        && !claim(bot, chat, message).await
    {
        return Ok(None);
    }
    let sent = match card.photo {
        Some(photo) => {
            bot.send_photo(chat, photo)
                .caption(card.text)
                .parse_mode(ParseMode::Html)
                .reply_markup(card.keyboard)
                .await?
        }
        None => {
            bot.send_message(chat, card.text)
                .parse_mode(ParseMode::Html)
                .reply_markup(card.keyboard)
                .await?
        }
    };
    Ok(Some(sent.id))
}
