//! What a queued push sends, stored as JSON in its outbox row. The feature that queues a push
//! renders it (texts in the user's language, buttons encoded), so the worker needs no further
//! queries and knows no feature.

use serde::{Deserialize, Serialize};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Rows of (label, callback data).
pub type Buttons = Vec<Vec<(String, String)>>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushImage {
    pub position: i32,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Push {
    /// A finished generation: one photo with caption and buttons, or an album then a message
    /// with the buttons. Replaces the progress message.
    Images {
        generation_id: i64,
        caption: String,
        images: Vec<PushImage>,
        /// The text above the buttons after an album.
        album_text: String,
        buttons: Buttons,
        replaces: Option<i64>,
    },
    /// A text with buttons (a failure notice), replacing the progress message.
    Text {
        text: String,
        buttons: Buttons,
        replaces: Option<i64>,
    },
}

impl Push {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Images { .. } => "images",
            Self::Text { .. } => "text",
        }
    }

    #[must_use]
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    #[must_use]
    pub fn decode(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }
}

#[must_use]
pub fn keyboard(buttons: &Buttons) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(buttons.iter().map(|row| {
        row.iter()
            .map(|(label, data)| InlineKeyboardButton::callback(label.clone(), data.clone()))
            .collect::<Vec<_>>()
    }))
}
