//! The Bot API's errors, classified: what a failed call means for the update or push that made
//! it (retry later, give up, slow down), and the small helpers every caller needs. Knows nothing
//! of the app: the webhook route and the delivery worker both use it.

use teloxide::{ApiError, RequestError};

/// What to do with the update (or push) whose Bot API call failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Retrying cannot help (the user blocked the bot, a message vanished): acknowledge it.
    Permanent,
    /// Infrastructure or configuration trouble: answer 5xx so Telegram redelivers later.
    Transient,
    /// Telegram asked us to slow down: answer 503 with this Retry-After.
    RetryAfter(u64),
}

/// Descriptions of Bot API failures that are Telegram's side, not our request's.
const SERVER_SIDE: [&str; 5] = [
    "Internal Server Error",
    "Bad Gateway",
    "Service Unavailable",
    "Gateway Timeout",
    "Too Many Requests",
];

/// What a failed Bot API call means for whoever made it.
#[must_use]
pub fn outcome(error: &RequestError) -> Outcome {
    match error {
        RequestError::RetryAfter(secs) => Outcome::RetryAfter(secs.seconds().into()),
        // A wrong or revoked token is an operator's mistake: keep the updates coming back until
        // it is fixed instead of dropping them.
        RequestError::Api(ApiError::InvalidToken) => Outcome::Transient,
        RequestError::Api(ApiError::Unknown(text))
            if SERVER_SIDE.iter().any(|s| text.contains(s)) =>
        {
            Outcome::Transient
        }
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => Outcome::Permanent,
        _ => Outcome::Transient,
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
