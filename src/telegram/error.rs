//! Errors from handling an update, and whether Telegram should redeliver it.

use teloxide::RequestError;

pub use crate::bot_api::{Outcome, not_modified_is_ok, redact};
use crate::{bot_api, kv::KvError, ledger::LedgerError};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A database error is retried (Telegram redelivers), except a constraint the data breaks:
    /// that one would fail the same way for the ~24 h Telegram keeps redelivering.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("cache: {0}")]
    Kv(#[from] KvError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// teloxide removes the token (or the whole URL) from network errors; see the test below.
    #[error("bot api: {0}")]
    Telegram(#[from] RequestError),
    /// A file the user sent could not be downloaded from Telegram (network, a 5xx): retried.
    #[error("file download: {0}")]
    Download(#[from] teloxide::DownloadError),
    /// Our own disk refused a file (full, permissions): retried, and an operator should look.
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
}

impl HandlerError {
    /// The database refused the data (see [`crate::db::is_integrity_violation`]): worth one
    /// fresh attempt (the user's row is read again), never a redelivery loop.
    #[must_use]
    pub fn is_integrity_violation(&self) -> bool {
        match self {
            Self::Db(e) | Self::Ledger(LedgerError::Db(e)) => crate::db::is_integrity_violation(e),
            _ => false,
        }
    }

    /// The database refused a value (see [`crate::db::is_data_error`]): never worth a redelivery.
    #[must_use]
    pub fn is_data_error(&self) -> bool {
        match self {
            Self::Db(e) | Self::Ledger(LedgerError::Db(e)) => crate::db::is_data_error(e),
            _ => false,
        }
    }

    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match self {
            _ if self.is_integrity_violation() || self.is_data_error() => Outcome::Permanent,
            Self::Db(_)
            | Self::Kv(_)
            | Self::Ledger(LedgerError::Db(_))
            | Self::Download(_)
            | Self::Storage(_) => Outcome::Transient,
            // A bad amount or a reused key is a bug; a redelivery would hit it again.
            Self::Ledger(_) => Outcome::Permanent,
            Self::Telegram(e) => bot_api::outcome(e),
        }
    }

    /// The error as text with the bot token cut out, in case some layer still carried it.
    #[must_use]
    pub fn redacted(&self, token: &str) -> String {
        redact(&self.to_string(), token)
    }
}

#[cfg(test)]
mod tests {
    use teloxide::{ApiError, prelude::Requester};

    use super::*;

    #[tokio::test]
    async fn network_errors_do_not_carry_the_token() {
        let token = "987654:SECRET-token-value";
        // A base URL with a path (as the sandbox uses); nothing listens there.
        let api = url::Url::parse("http://127.0.0.1:1/custom/path").unwrap();
        let bot = crate::telegram::bot(token, &api, reqwest::Client::new());
        let err = HandlerError::from(bot.get_me().await.expect_err("nothing listens on port 1"));
        assert!(!err.to_string().contains(token), "{err}");
        assert!(!format!("{err:?}").contains(token), "{err:?}");
        assert_eq!(err.outcome(), Outcome::Transient);
    }

    #[test]
    fn classification() {
        let api = |e| HandlerError::Telegram(RequestError::Api(e));
        assert_eq!(api(ApiError::BotBlocked).outcome(), Outcome::Permanent);
        assert_eq!(
            api(ApiError::MessageToEditNotFound).outcome(),
            Outcome::Permanent
        );
        assert_eq!(api(ApiError::InvalidToken).outcome(), Outcome::Transient);
        assert_eq!(
            api(ApiError::Unknown("Internal Server Error".into())).outcome(),
            Outcome::Transient
        );
        assert_eq!(
            api(ApiError::Unknown("Bad Request: something new".into())).outcome(),
            Outcome::Permanent
        );
    }
}
