//! `aisha set-webhook` / `aisha delete-webhook`: register the webhook (URL, secret, the update
//! kinds the bot handles) and the command list in both languages.

use anyhow::{Context, anyhow};
use teloxide::{
    Bot,
    payloads::{SetMyCommandsSetters, SetWebhookSetters},
    prelude::Requester,
    types::{AllowedUpdate, BotCommand},
};
use url::Url;

use crate::{
    config::Settings,
    i18n::{EN, RU, Texts},
    telegram::{self, error::redact},
};

/// The update kinds the bot handles; Telegram sends no others.
pub const ALLOWED_UPDATES: [AllowedUpdate; 3] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::PreCheckoutQuery,
];

/// A Bot API client for the configured token, and the token (to redact it from errors).
pub fn bot_from(settings: &Settings) -> anyhow::Result<(Bot, String)> {
    let token = settings
        .telegram_bot_token
        .as_ref()
        .context("TELEGRAM_BOT_TOKEN is required to talk to real Telegram")?;
    let client = reqwest::Client::new();
    Ok((
        telegram::bot(token.expose(), &settings.telegram_api_url, client),
        token.expose().to_owned(),
    ))
}

/// setWebhook with `PUBLIC_URL/telegram/webhook` and the secret, then setMyCommands.
pub async fn set_webhook(settings: &Settings) -> anyhow::Result<String> {
    let (bot, token) = bot_from(settings)?;
    let secret = settings
        .telegram_webhook_secret
        .as_ref()
        .context("TELEGRAM_WEBHOOK_SECRET is required")?;
    let url = Url::parse(&settings.webhook_url()).context("PUBLIC_URL")?;
    let max_connections =
        u8::try_from(settings.server.max_updates_in_flight.clamp(1, 100)).unwrap_or(40);
    bot.set_webhook(url.clone())
        .secret_token(secret.expose())
        .allowed_updates(ALLOWED_UPDATES)
        .max_connections(max_connections)
        .await
        .map_err(|e| anyhow!("setWebhook failed: {}", redact(&e.to_string(), &token)))?;
    register_commands(&bot, &token).await?;
    Ok(url.to_string())
}

/// Registers the command menu: Russian as the default, English for English-speaking users.
pub async fn register_commands(bot: &Bot, token: &str) -> anyhow::Result<()> {
    let commands = |t: &Texts| {
        t.commands
            .iter()
            .map(|(c, d)| BotCommand::new(*c, *d))
            .collect::<Vec<_>>()
    };
    bot.set_my_commands(commands(&RU))
        .await
        .map_err(|e| anyhow!("setMyCommands failed: {}", redact(&e.to_string(), token)))?;
    bot.set_my_commands(commands(&EN))
        .language_code("en")
        .await
        .map_err(|e| {
            anyhow!(
                "setMyCommands (en) failed: {}",
                redact(&e.to_string(), token)
            )
        })?;
    Ok(())
}

/// deleteWebhook (pending updates are kept).
pub async fn delete_webhook(settings: &Settings) -> anyhow::Result<()> {
    let (bot, token) = bot_from(settings)?;
    bot.delete_webhook()
        .await
        .map_err(|e| anyhow!("deleteWebhook failed: {}", redact(&e.to_string(), &token)))?;
    Ok(())
}
