//! English texts, for users whose Telegram language is English.

use super::{Texts, escape};
use crate::ledger::Kind;

pub static EN: Texts = Texts {
    welcome: |name| {
        format!(
            "👋 Hi, <b>{}</b>!\n\nI'm Aisha: from your photos I train a personal AI avatar and \
             draw it into any scene you describe.\n\n🏠 <b>Main menu</b>\n\nChoose an action:",
            escape(name)
        )
    },
    main_menu: "🏠 <b>Main menu</b>\n\nChoose an action:",
    help: "❓ <b>Help</b>\n\n\
           Aisha trains a personal AI avatar from your photos and draws images with it from a \
           text description.\n\n\
           🎭 <b>Avatar</b> — upload 10–20 photos of yourself and Aisha trains a model that looks \
           like you.\n\
           🎨 <b>Image</b> — describe a scene and pick a format: the picture arrives in the chat.\n\
           🖼️ <b>Gallery</b> — all your images; 🔄 repeats any of them in one tap.\n\
           💰 <b>Balance</b> — work is paid in coins, topped up with Telegram Stars.\n\n\
           <b>Commands</b>\n/start — main menu\n/help — this help",
    unknown_callback: "❌ Unknown command. Use the menu buttons.",
    unknown_text: "🤔 I understand buttons and commands. Open the main menu 👇",
    coming_soon: "🚧 Coming soon! This section is still being built.",
    btn_create_image: "🎨 Create image",
    btn_avatars: "🎭 My avatars",
    btn_gallery: "🖼️ My gallery",
    btn_balance: "💰 Balance",
    btn_help: "❓ Help",
    btn_main_menu: "🔙 Main menu",
    commands: &[
        ("start", "Main menu"),
        ("balance", "Balance and top-up"),
        ("help", "What Aisha can do"),
    ],

    coins: |n| format!("{n} {}", if n == 1 { "coin" } else { "coins" }),
    balance: |coins, image, avatar| {
        format!(
            "💰 <b>Balance: {}</b>\n\nPrices:\n🎨 image — {}\n🎭 avatar training — {}",
            (EN.coins)(coins),
            (EN.coins)(image),
            (EN.coins)(avatar)
        )
    },
    history_title: "<b>Recent activity</b>",
    history_empty: "No activity yet.",
    ledger_kind: |kind| match kind {
        Kind::Welcome => "welcome bonus",
        Kind::Generation => "generation",
        Kind::AvatarTraining => "avatar training",
        Kind::Refund => "refund",
        Kind::TopUp => "top-up ⭐",
        Kind::StarsRefund => "Stars refund",
        Kind::Promo => "promo code",
        Kind::Grant => "grant",
    },
    months: [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
    history_entry: |amount, kind, day, month, hour, minute| {
        format!("{amount} {kind} · {day} {month} {hour:02}:{minute:02}")
    },
    insufficient: |need, have| format!("❌ Not enough coins. Required: {need}, you have: {have}"),
    btn_top_up: "⭐ Top up",
    btn_promo: "🎁 Promo code",
    btn_cancel: "✖️ Cancel",

    top_up: "⭐ <b>Top up with Telegram Stars</b>\n\nChoose a package:",
    package: |stars, coins| format!("{stars} ⭐ → {}", (EN.coins)(coins)),
    invoice_title: |coins| format!("{} for Aisha", (EN.coins)(coins)),
    invoice_description: |stars, coins| {
        format!(
            "Aisha balance top-up: {} for {stars} ⭐. The coins arrive right after payment.",
            (EN.coins)(coins)
        )
    },
    invoice_invalid: "This invoice is no longer valid. Open \"⭐ Top up\" again.",
    payment_received: |coins, balance| {
        format!(
            "✅ Payment received: +{}\n💰 Balance: {}",
            (EN.coins)(coins),
            (EN.coins)(balance)
        )
    },

    payment_unmatched: "⚠️ Payment received but it matches none of our invoices, so no coins were added. Your Stars will be refunded; contact support if that does not happen.",

    promo_prompt: "🎁 Send your promo code in one message:",
    promo_redeemed: |coins, balance| {
        format!(
            "🎁 Promo code applied: +{}\n💰 Balance: {}",
            (EN.coins)(coins),
            (EN.coins)(balance)
        )
    },
    promo_unknown: "❌ There is no such promo code. Check the spelling and send it again, or press Cancel.",
    promo_expired: "⌛ This promo code has expired.",
    promo_exhausted: "😔 This promo code has been used the maximum number of times.",
    promo_already_used: "ℹ️ You have already used this promo code.",
    promo_too_many: "🚫 Too many wrong codes. Try again in an hour.",
    input_cancelled: "Input cancelled.",
};
