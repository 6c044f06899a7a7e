//! Stored dialogue state: what the bot expects next from a user. Kept in the database (not in
//! memory, unlike the Python bot's FSM) so a restart or another replica continues the dialogue.

use chrono::Utc;
use entity::dialogue_state;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};

use crate::domain::TelegramId;

/// What the bot is waiting for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Dialogue {
    /// The next text message is a promo code.
    PromoCode,
    /// The next text message (or a photo, with prompt help) is a prompt for a generation with
    /// this avatar (none: base model).
    GenerationPrompt {
        avatar_id: Option<i64>,
        /// 📷: the prompt the LLM made of the user's photo, waiting for "use it".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        described: Option<String>,
    },
    /// The prompt is in; the user is picking the size and the number of images.
    GenerationOptions(PromptOptions),
    /// The next text message names a new avatar.
    AvatarName,
    /// The name is in; the gender buttons are showing.
    AvatarGender { name: String },
    /// Photos for this draft are coming.
    AvatarPhotos { avatar_id: i64 },
    /// The next text message renames this avatar.
    AvatarRename { avatar_id: i64 },
}

/// A prompt on its way to a generation: what the user wrote and what the model will get.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptOptions {
    pub avatar_id: Option<i64>,
    /// The user's own words: shown on every screen and in the gallery.
    pub prompt: String,
    /// A `[[styles]]` id picked on the format screen; absent in states stored before styles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// `prompt` in English, when it was not (made once, when the prompt came in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation: Option<String>,
    /// ✨ The improved prompt the user chose to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub improved: Option<String>,
    /// ✨ An improved prompt shown, waiting for "use" or "keep mine".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
}

impl PromptOptions {
    /// What the model gets in place of the user's words: the improved prompt, else the
    /// translation; `None`: the words as written.
    #[must_use]
    pub fn sent(&self) -> Option<&str> {
        self.improved.as_deref().or(self.translation.as_deref())
    }
}

impl Dialogue {
    fn encode(&self) -> String {
        match self {
            // Kept as the plain word older versions stored.
            Self::PromoCode => "promo_code".to_owned(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "promo_code" => Some(Self::PromoCode),
            other => serde_json::from_str(other).ok(),
        }
    }
}

/// The state for this user, if any (a value from an older version reads as none).
pub async fn get<C: ConnectionTrait>(
    db: &C,
    telegram_id: TelegramId,
) -> Result<Option<Dialogue>, DbErr> {
    Ok(dialogue_state::Entity::find_by_id(telegram_id.0)
        .one(db)
        .await?
        .and_then(|row| Dialogue::parse(&row.state)))
}

/// Replaces the user's state.
pub async fn set<C: ConnectionTrait>(
    db: &C,
    telegram_id: TelegramId,
    state: &Dialogue,
) -> Result<(), DbErr> {
    let row = dialogue_state::ActiveModel {
        telegram_id: Set(telegram_id.0),
        state: Set(state.encode()),
        updated_at: Set(Utc::now()),
    };
    dialogue_state::Entity::insert(row)
        .on_conflict(
            OnConflict::column(dialogue_state::Column::TelegramId)
                .update_columns([
                    dialogue_state::Column::State,
                    dialogue_state::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Forgets the user's state (the dialogue ended or was abandoned).
pub async fn clear<C: ConnectionTrait>(db: &C, telegram_id: TelegramId) -> Result<(), DbErr> {
    dialogue_state::Entity::delete_by_id(telegram_id.0)
        .exec(db)
        .await?;
    Ok(())
}

/// Removes and returns the user's state in one statement: of two concurrent callers (a double
/// tap) exactly one gets it, so the input it carries is used once.
pub async fn take<C: ConnectionTrait>(
    db: &C,
    telegram_id: TelegramId,
) -> Result<Option<Dialogue>, DbErr> {
    let rows = dialogue_state::Entity::delete_many()
        .filter(dialogue_state::Column::TelegramId.eq(telegram_id))
        .exec_with_returning(db)
        .await?;
    Ok(rows.first().and_then(|row| Dialogue::parse(&row.state)))
}

#[cfg(test)]
mod tests {
    use super::{Dialogue, PromptOptions};

    #[test]
    fn states_round_trip() {
        for d in [
            Dialogue::PromoCode,
            Dialogue::GenerationPrompt {
                avatar_id: None,
                described: None,
            },
            Dialogue::GenerationPrompt {
                avatar_id: Some(7),
                described: Some("a red door".into()),
            },
            Dialogue::GenerationOptions(PromptOptions {
                avatar_id: Some(3),
                prompt: "a \"cat\" <b>".into(),
                ..PromptOptions::default()
            }),
            Dialogue::GenerationOptions(PromptOptions {
                avatar_id: None,
                prompt: "кот".into(),
                style: Some("noir".into()),
                translation: Some("a cat".into()),
                improved: Some("a cat, 85mm".into()),
                proposal: Some("a cat, 50mm".into()),
            }),
        ] {
            assert_eq!(Dialogue::parse(&d.encode()), Some(d.clone()), "{d:?}");
        }
        assert_eq!(Dialogue::parse("promo_code"), Some(Dialogue::PromoCode));
        // States stored before styles and prompt help existed still read.
        assert_eq!(
            Dialogue::parse(r#"{"k":"generation_options","avatar_id":null,"prompt":"p"}"#),
            Some(Dialogue::GenerationOptions(PromptOptions {
                avatar_id: None,
                prompt: "p".into(),
                ..PromptOptions::default()
            }))
        );
        assert_eq!(
            Dialogue::parse(r#"{"k":"generation_prompt","avatar_id":4}"#),
            Some(Dialogue::GenerationPrompt {
                avatar_id: Some(4),
                described: None
            })
        );
        assert_eq!(Dialogue::parse("{\"k\":\"gone\"}"), None);
    }
}
