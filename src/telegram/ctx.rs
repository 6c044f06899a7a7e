//! What every handler gets: who is talking (their row, read from the database), in which chat
//! and language, and the shared state.

use entity::user;
use teloxide::{
    Bot,
    types::{ChatId, User},
};

use crate::{
    domain::{TelegramId, UserId},
    i18n::{Lang, Texts},
    state::AppState,
    telegram::error::HandlerError,
    users,
};

/// What every handler needs: who is talking, in which chat and language.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub user: user::Model,
    pub lang: Lang,
    pub chat: ChatId,
}

impl<'a> Ctx<'a> {
    /// Reads (and when new or changed, writes) the user's row: the update's first database
    /// touch, so a database outage surfaces here as a retryable error. The id every handler
    /// uses for money and ownership comes from this read, never from a cache.
    pub(crate) async fn new(
        state: &'a AppState,
        from: &User,
        chat: ChatId,
    ) -> Result<Self, HandlerError> {
        let user = users::seen(&state.db, from).await?;
        // The language chosen in ⚙️ wins over what Telegram reports.
        let lang = users::lang_of(&user);
        Ok(Self {
            state,
            user,
            lang,
            chat,
        })
    }

    #[must_use]
    pub fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// The user's row id: what owns coins, generations and avatars.
    #[must_use]
    pub fn user_id(&self) -> UserId {
        UserId(self.user.id)
    }

    /// Who is talking (their dialogue state is kept by it).
    #[must_use]
    pub fn telegram_id(&self) -> TelegramId {
        TelegramId(self.user.telegram_id)
    }

    pub fn bot(&self) -> &Bot {
        &self.state.bot
    }
}
