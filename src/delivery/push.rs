//! What a queued push sends, stored as JSON in its outbox row. Texts are rendered when the push
//! is queued (in the user's language then), so the worker needs no further queries.

use entity::generation;
use serde::{Deserialize, Serialize};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::{
    generation::{FailReason, lang_of},
    provider::ProviderImage,
    telegram::callback::Callback,
};

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

fn row(items: &[(&str, Callback)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(label, action)| ((*label).to_owned(), action.encode()))
        .collect()
}

/// Under a result: 🔄 again, 🖼️ gallery, 🎨 new, 🔙 menu.
#[must_use]
pub fn result_buttons(generation: &generation::Model) -> Buttons {
    let t = lang_of(generation).texts();
    vec![
        row(&[(t.btn_repeat, Callback::Regenerate(generation.id))]),
        row(&[
            (t.btn_to_gallery, Callback::Gallery),
            (t.btn_new_generation, Callback::CreateImage),
        ]),
        row(&[(t.btn_main_menu, Callback::MainMenu)]),
    ]
}

/// The caption of a generation's result.
#[must_use]
pub fn caption(generation: &generation::Model, width: u32, height: u32) -> String {
    let t = lang_of(generation).texts();
    (t.gen_caption)(
        &generation.prompt,
        generation.avatar_name.as_deref(),
        &generation.aspect,
        width,
        height,
    )
}

impl Push {
    #[must_use]
    pub fn result(generation: &generation::Model, images: &[ProviderImage]) -> Self {
        let t = lang_of(generation).texts();
        let (w, h) = images
            .first()
            .and_then(|i| Some((i.width?, i.height?)))
            .or_else(|| crate::provider::AspectRatio::parse(&generation.aspect).map(|a| a.size()))
            .unwrap_or((0, 0));
        Self::Images {
            generation_id: generation.id,
            caption: caption(generation, w, h),
            images: images
                .iter()
                .enumerate()
                .map(|(i, image)| PushImage {
                    position: i32::try_from(i).unwrap_or(0),
                    url: image.url.clone(),
                })
                .collect(),
            album_text: (t.gen_album_done)(images.len()),
            buttons: result_buttons(generation),
            replaces: generation.progress_message_id,
        }
    }

    #[must_use]
    pub fn failure(generation: &generation::Model, reason: &FailReason) -> Self {
        let t = lang_of(generation).texts();
        Self::Text {
            text: (t.gen_failed)(&(t.fail_reason)(reason), generation.cost),
            buttons: vec![
                row(&[(t.btn_retry, Callback::Regenerate(generation.id))]),
                row(&[(t.btn_main_menu, Callback::MainMenu)]),
            ],
            replaces: generation.progress_message_id,
        }
    }

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
