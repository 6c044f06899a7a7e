//! Errors from handling an update, and whether Telegram should redeliver it.

use teloxide::{ApiError, RequestError};

use crate::kv::KvError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("cache: {0}")]
    Kv(#[from] KvError),
    #[error("bot api: {0}")]
    Telegram(#[from] RequestError),
}

/// What the webhook route should do with a failed update.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Retrying cannot help (the user blocked the bot, a message vanished): acknowledge it.
    Permanent,
    /// Infrastructure trouble: answer 5xx so Telegram redelivers later.
    Transient,
    /// Telegram asked us to slow down: answer 503 with this Retry-After.
    RetryAfter(u64),
}

impl HandlerError {
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Db(_) | Self::Kv(_) => Outcome::Transient,
            Self::Telegram(RequestError::RetryAfter(secs)) => {
                Outcome::RetryAfter(secs.seconds().into())
            }
            Self::Telegram(RequestError::Api(ApiError::Unknown(text)))
                if text.contains("Internal Server Error") || text.contains("Bad Gateway") =>
            {
                Outcome::Transient
            }
            Self::Telegram(RequestError::Api(_) | RequestError::MigrateToChatId(_)) => {
                Outcome::Permanent
            }
            Self::Telegram(_) => Outcome::Transient,
        }
    }

    /// The error as text with the bot token cut out: reqwest puts the request URL, which carries
    /// the token, into its messages.
    #[must_use]
    pub fn redacted(&self, token: &str) -> String {
        redact(&self.to_string(), token)
    }
}

/// Replaces every occurrence of `secret` in `text`.
#[must_use]
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret, "<redacted>")
}

/// "message is not modified" means the screen already shows what we wanted: success.
pub fn not_modified_is_ok<T>(result: Result<T, RequestError>) -> Result<(), RequestError> {
    match result {
        Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
        Err(e) => Err(e),
    }
}
