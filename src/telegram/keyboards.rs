//! Inline keyboards. Every button's payload comes from [`Callback::encode`], so no callback
//! string is spelled anywhere else.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::{i18n::Texts, telegram::callback::Callback};

/// One callback button.
#[must_use]
pub fn button(text: &str, action: Callback) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(text, action.encode())
}

/// 🎨 create image / 🎭 avatars / 🖼️ gallery / 💰 balance / ❓ help.
#[must_use]
pub fn main_menu(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        vec![button(t.btn_create_image, Callback::CreateImage)],
        vec![
            button(t.btn_avatars, Callback::Avatars),
            button(t.btn_gallery, Callback::Gallery),
        ],
        vec![
            button(t.btn_balance, Callback::Balance),
            button(t.btn_help, Callback::Help),
        ],
    ])
}

/// A single "🔙 main menu" button, under help texts and hints.
#[must_use]
pub fn back_to_menu(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![button(t.btn_main_menu, Callback::MainMenu)]])
}
