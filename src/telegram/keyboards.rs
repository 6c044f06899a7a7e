//! Inline keyboards. Every button's payload comes from [`Callback::encode`], so no callback
//! string is spelled anywhere else.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::{
    config::StarsPackage,
    i18n::Texts,
    telegram::callback::{
        AvatarAction, BalanceAction, Callback, GalleryAction, GenerationAction, MenuAction,
        PaymentsAction, PromoAction, SettingsAction,
    },
};

/// One callback button.
#[must_use]
pub fn button(text: &str, action: Callback) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(text, action.encode())
}

/// 🎨 create image / 🎭 avatars / 🖼️ gallery / 💰 balance / ❓ help.
#[must_use]
pub fn main_menu(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        vec![button(
            t.btn_create_image,
            Callback::Generation(GenerationAction::Open),
        )],
        vec![
            button(t.btn_avatars, Callback::Avatar(AvatarAction::List)),
            button(t.btn_gallery, Callback::Gallery(GalleryAction::Open)),
        ],
        vec![
            button(t.btn_balance, Callback::Balance(BalanceAction::Show)),
            button(t.btn_settings, Callback::Settings(SettingsAction::Open)),
        ],
        vec![button(t.btn_help, Callback::Menu(MenuAction::Help))],
    ])
}

/// A single "🔙 main menu" button, under help texts and hints.
#[must_use]
pub fn back_to_menu(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![button(
        t.btn_main_menu,
        Callback::Menu(MenuAction::Main),
    )]])
}

/// Under the balance screen: ⭐ top up, 🎁 promo code, 🔙 menu.
#[must_use]
pub fn balance(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        vec![
            button(t.btn_top_up, Callback::Payments(PaymentsAction::Packages)),
            button(t.btn_promo, Callback::Promo(PromoAction::Ask)),
        ],
        vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
    ])
}

/// Under "not enough coins": the way to get more.
#[must_use]
pub fn insufficient(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        vec![button(
            t.btn_top_up,
            Callback::Payments(PaymentsAction::Packages),
        )],
        vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
    ])
}

/// One button per Stars package, then back to the balance.
#[must_use]
pub fn packages(t: &Texts, packages: &[StarsPackage]) -> InlineKeyboardMarkup {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = packages
        .iter()
        .zip(0u8..)
        .map(|(p, i)| {
            vec![button(
                &(t.package)(p.stars, p.coins),
                Callback::Payments(PaymentsAction::Package(i)),
            )]
        })
        .collect();
    rows.push(vec![button(
        t.btn_balance,
        Callback::Balance(BalanceAction::Show),
    )]);
    InlineKeyboardMarkup::new(rows)
}

/// While the bot waits for typed input.
#[must_use]
pub fn cancel_input(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![button(
        t.btn_cancel,
        Callback::Balance(BalanceAction::CancelInput),
    )]])
}

/// After a payment or a promo code: the balance, or the menu.
#[must_use]
pub fn balance_or_menu(t: &Texts) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![
        button(t.btn_balance, Callback::Balance(BalanceAction::Show)),
        button(t.btn_main_menu, Callback::Menu(MenuAction::Main)),
    ]])
}

/// A row of buttons as an outbox push stores them: (label, encoded callback data).
#[must_use]
pub fn push_row(items: &[(&str, Callback)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(label, action)| ((*label).to_owned(), action.encode()))
        .collect()
}
