//! English texts, for users whose Telegram language is English.

use super::{Texts, escape};

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
    commands: &[("start", "Main menu"), ("help", "What Aisha can do")],
};
