//! English texts, for users whose Telegram language is English.

use super::{AvatarShown, NAME_CHARS, Texts, clip, escape};
use crate::domain::{FailReason, LedgerKind as Kind, Period, PhotoRefusal as Refusal};

pub static EN: Texts = Texts {
    welcome: |name, bonus| {
        let gift = if bonus > 0 {
            format!(
                "🎁 <b>{bonus} coins</b> are on your balance: enough to train an avatar and try a \
                 few pictures.\n\n"
            )
        } else {
            String::new()
        };
        format!(
            "👋 Hi, <b>{}</b>!\n\nI'm Aisha: from your photos I train a personal AI avatar and \
             draw it into any scene you describe.\n\n{gift}🏠 <b>Main menu</b>\n\nChoose an action:",
            escape(&clip(name, NAME_CHARS))
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
    action_failed: "⚠️ This action could not be done; nothing was changed. Try again or send /start.",
    coming_soon: "🚧 Coming soon! This section is still being built.",
    btn_create_image: "🎨 Create image",
    btn_avatars: "🎭 My avatars",
    btn_gallery: "🖼️ My gallery",
    btn_balance: "💰 Balance",
    btn_help: "❓ Help",
    btn_settings: "⚙️ Settings",
    settings: |lang, format, count, quick| {
        format!(
            "⚙️ <b>Settings</b>\n\n🌐 Language: {lang}\n📐 Format: {format}\n🖼️ Images: {count}\n\
             ⚡ Quick mode: {}\n\nIn quick mode a prompt starts the generation at once, with \
             your format and number of images and your main avatar.",
            if quick { "on" } else { "off" }
        )
    },
    btn_set_language: |v| format!("🌐 Language: {v}"),
    btn_set_format: |v| format!("📐 Format: {v}"),
    btn_set_count: |v| format!("🖼️ Images: {v}"),
    btn_set_quick: |on| format!("⚡ Quick mode: {}", if on { "on" } else { "off" }),
    settings_languages: "🌐 <b>Language</b>\n\nWhich language should I speak?",
    settings_formats: "📐 <b>Format</b>\n\nWhich format should new images start from?",
    settings_counts: "🖼️ <b>Images</b>\n\nHow many images should a generation make?",
    lang_telegram: "as in Telegram",
    ask_every_time: "ask every time",
    images: |n| format!("{n} {}", if n == 1 { "image" } else { "images" }),
    btn_main_menu: "🔙 Main menu",
    commands: &[
        ("start", "Main menu"),
        ("generate", "Create an image"),
        ("gallery", "My gallery"),
        ("balance", "Balance and top-up"),
        ("settings", "Language, format, quick mode"),
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

    gen_intro: |avatar| {
        format!(
            "🎨 <b>New image</b>\n\n🎭 Avatar: <b>{}</b>\n\n✏️ Describe in one message what to \
             draw (5–500 characters). For example: <i>in an astronaut suit with the Moon behind</i>",
            escape(avatar)
        )
    },
    gen_intro_no_avatar: "🎨 <b>New image</b>\n\nYou have no ready avatar yet, so the base model \
        will draw the picture — without your face. To appear in your images, create an avatar in \
        «🎭 My avatars».\n\n✏️ Describe in one message what to draw (5–500 characters). For \
        example: <i>a cosy cabin in the mountains at sunset</i>",
    gen_intro_base: "🎨 <b>New image</b>\n\n🎭 No avatar: the base model will draw the picture.\n\n\
        ✏️ Describe in one message what to draw (5–500 characters).",
    btn_other_avatar: "🎭 Choose avatar",
    gen_pick_avatar: "🎭 <b>Which avatar should I draw?</b>",
    btn_no_avatar: "🚫 No avatar",
    gen_prompt_length: |len| {
        format!(
            "✏️ The description must be 5 to 500 characters long; yours has {len}. Please send it again."
        )
    },
    gen_choose_aspect: |prompt, avatar| {
        format!(
            "📝 <b>Prompt:</b> {}\n🎭 {}\n\n📐 Choose a format:",
            escape(&clip(prompt, 300)),
            avatar.map_or_else(|| "No avatar".to_owned(), escape)
        )
    },
    gen_choose_count: |prompt, avatar, aspect, price, balance| {
        format!(
            "📝 <b>Prompt:</b> {}\n🎭 {}\n📐 Format: {aspect}\n\n🖼️ How many images? \
             One costs {}; your balance is {}.",
            escape(&clip(prompt, 300)),
            avatar.map_or_else(|| "No avatar".to_owned(), escape),
            (EN.coins)(price),
            (EN.coins)(balance)
        )
    },
    btn_count: |n, cost| format!("{n} — {}", (EN.coins)(cost)),
    btn_back: "⬅️ Back",
    gen_expired: "This generation has already started or is out of date. Start a new one: 🎨",
    gen_quick_note: "⚡ Quick mode: your format and number of images from ⚙️ Settings.",
    btn_style: |name| format!("🎨 Style: {name}"),
    style_none: "no style",
    gen_choose_style: |prompt| {
        format!(
            "🎨 <b>Style</b>\n\n📝 {}\n\nA style dresses your words for the model: light, lens, \
             mood. Pick one, or keep them as written.",
            escape(&clip(prompt, 300))
        )
    },
    gen_intro_photo: "\n\n📷 Or send a photo: I'll write the description from it.",
    btn_photo_prompt: "📷 Prompt from a photo",
    photo_prompt_hint: "📷 Send a photo: I'll describe it as a prompt, and you confirm it or write your own.",
    photo_prompt_ready: |prompt| {
        format!(
            "📷 <b>Prompt from your photo:</b>\n\n<code>{}</code>\n\nUse it? Or send your own \
             description as text (copy this one and edit it).",
            escape(prompt)
        )
    },
    btn_use_prompt: "✅ Use it",
    btn_improve: "✨ Improve",
    gen_improved: |mine, improved| {
        format!(
            "✨ <b>Improved prompt</b>\n\n{}\n\n📝 <b>Yours:</b> {}\n\nThe model gets the one you choose.",
            escape(&clip(improved, 1000)),
            escape(&clip(mine, 300))
        )
    },
    btn_use_improved: "✅ Use improved",
    btn_keep_mine: "✍️ Keep mine",
    gen_improved_in_use: |improved| {
        format!(
            "✨ <b>Improved prompt:</b> <i>{}</i>",
            escape(&clip(improved, 300))
        )
    },
    llm_translate_failed: "⚠️ Could not translate the prompt for the model: drawing from your words as written.",
    llm_improve_failed: "⚠️ Could not improve the prompt right now. Yours stays as it is.",
    llm_describe_failed: "⚠️ Could not describe the photo. Write what to draw as text.",
    llm_cap_reached: "⚠️ Today's prompt help is used up (back tomorrow): drawing from your words as written.",
    llm_cap_improve: "⚠️ Today's prompt help is used up (back tomorrow). Your prompt stays as it is.",
    llm_cap_photo: "⚠️ Today's prompt help is used up (back tomorrow). Write what to draw as text.",
    gen_busy: |max| {
        format!(
            "⏳ {max} {} in progress: that is the limit. Wait for a result, then start the next one. No coins were taken.",
            if max == 1 {
                "generation is"
            } else {
                "generations are"
            }
        )
    },
    training_busy: |max| {
        match max {
        1 => "⏳ An avatar is already training. Wait until it is ready, then start the next one. No coins were taken.".to_owned(),
        n => format!("⏳ {n} avatars are already training: that is the limit. Wait until one is ready. No coins were taken."),
    }
    },
    gen_started: |p| {
        let (n, aspect) = (p.images, p.aspect);
        let title = if p.again {
            "🔄 <b>Repeat generation started</b>"
        } else {
            "🔄 <b>Generation started</b>"
        };
        let wait = p.typical.map_or_else(
            || "It usually takes up to a couple of minutes.".to_owned(),
            |s| format!("It usually takes about {}.", en_duration(s)),
        );
        format!(
            "{title}\n\n📝 {}\n🎭 {}\n📐 {aspect} · {n} {}\n\n⏱ {wait} The result will arrive in this chat by itself.",
            escape(&clip(p.prompt, 300)),
            p.avatar.map_or_else(|| "No avatar".to_owned(), escape),
            if n == 1 { "image" } else { "images" }
        )
    },
    btn_status: "📊 Status",
    gen_caption: |c| {
        format!(
            "✨ <b>Done!</b>\n\n📝 {}\n🎭 {}\n📐 {} · {}×{}{}",
            escape(&clip(c.prompt, 300)),
            c.avatar
                .map_or_else(|| "No avatar".to_owned(), |a| escape(&clip(a, 50))),
            c.aspect,
            c.width,
            c.height,
            super::style_line(c.style),
        )
    },
    gen_album_done: |n| {
        format!(
            "✨ Done: {n} {}. What next?",
            if n == 1 { "image" } else { "images" }
        )
    },
    btn_repeat: "🔄 Repeat again",
    btn_to_gallery: "🖼️ To gallery",
    btn_new_generation: "🎨 New generation",
    gen_failed: |reason, coins| {
        format!(
            "❌ <b>The generation failed</b>\n\nReason: {}\n💰 {} returned to your balance.",
            escape(&clip(reason, 200)),
            (EN.coins)(coins)
        )
    },
    fail_reason: |reason| match reason {
        FailReason::Provider(detail) => format!(
            "the image service reported an error ({})",
            clip(detail, 120)
        ),
        FailReason::Submit => "the image service is unavailable right now".to_owned(),
        FailReason::Timeout => "the image service did not answer in time".to_owned(),
        FailReason::Image => "the finished image could not be fetched".to_owned(),
    },
    btn_retry: "🔄 Try again",
    status_pending: |elapsed, typical| {
        let typical = typical.map_or_else(String::new, |s| {
            format!("\nUsually: about {}", en_duration(s))
        });
        format!("⏳ Generating\nElapsed: {}{typical}", en_duration(elapsed))
    },
    status_failed: |reason, coins| {
        format!(
            "❌ The generation failed: {}\n💰 {} returned.",
            clip(reason, 100),
            (EN.coins)(coins)
        )
    },
    status_delivering: "✅ Done! The image is on its way to the chat.",
    status_not_found: "❌ Generation not found.",
    avatar_unavailable: "🎭 This generation's avatar was deleted or is not ready. Pick another: 🎨",
    regen_busy: "⏳ Already starting — the result will arrive in the chat.",
    regen_started: "🔄 Repeat generation started",
    gallery_empty: "🖼️ <b>Your gallery is empty</b>\n\nAll your images will be here. Create the first one: 🎨",
    gallery_caption: |c| {
        format!(
            "🖼️ <b>Image {} of {}</b>{}\n\n📝 {}\n🎭 {}\n📐 {} · {}×{}\n📅 {}{}{}",
            c.position,
            c.count,
            if c.favorite { " ❤️" } else { "" },
            escape(&clip(c.prompt, 300)),
            c.avatar
                .map_or_else(|| "No avatar".to_owned(), |a| escape(&clip(a, 50))),
            c.aspect,
            c.width,
            c.height,
            c.date,
            super::style_line(c.style),
            c.filter.map_or_else(String::new, |f| format!("\n🔍 {f}"))
        )
    },
    btn_gallery_repeat: "🔄 Repeat",
    btn_prompt: "📋 Prompt",
    btn_delete: "🗑️ Delete",
    btn_confirm_delete: "✅ Yes, delete",
    gallery_prompt: |prompt| format!("📋 <b>Prompt</b>\n\n<code>{}</code>", escape(prompt)),
    gallery_delete_confirm: "🗑️ <b>Delete this image?</b>\n\nIt can't be brought back.",
    gallery_deleted: "🗑️ Image deleted",
    favorite_added: "❤️ Added to favourites",
    favorite_removed: "🤍 Removed from favourites",
    image_not_found: "❌ Image not found.",
    btn_stats: "📊 Statistics",
    gallery_stats: |s| {
        let period = match (&s.first, &s.last) {
            (Some(first), Some(last)) => format!("\n📅 First: {first}, last: {last}"),
            _ => String::new(),
        };
        format!(
            "📊 <b>Statistics</b>\n\n🖼️ Images: {}\n❤️ Favourites: {}\n\
             🎨 Generations: {} done, {} running, {} failed\n💰 Spent: {}\n\
             🎭 Avatars used: {}{period}",
            s.images,
            s.favorites,
            s.completed,
            s.pending,
            s.failed,
            (EN.coins)(s.coins_spent),
            s.avatars_used
        )
    },
    btn_filters: "🔍 Filters",
    btn_filter_reset: "♻️ Reset",
    btn_filter_show: |n| format!("👀 Show ({n})"),
    btn_filter_favorites: "❤️ Favourites only",
    btn_filter_avatar: |a| match a {
        AvatarShown::Any => "🎭 Avatar: all".to_owned(),
        AvatarShown::Base => "🎭 Avatar: none".to_owned(),
        AvatarShown::Named(name) => format!("🎭 Avatar: {}", clip(name, 30)),
    },
    btn_filter_any_avatar: "🎭 All avatars",
    btn_filter_base: "🚫 No avatar",
    btn_filter_style: |s| match s {
        None => "🎨 Style: all".to_owned(),
        Some(label) => format!("🎨 Style: {}", clip(label, 30)),
    },
    btn_filter_any_style: "🎨 All styles",
    filter_pick_style: "🎨 <b>Show the images of which style?</b>",
    btn_filter_any_aspect: "📐 Any",
    period_name: |p| match p {
        Period::All => "All time",
        Period::Today => "Today",
        Period::Week => "Week",
        Period::Month => "Month",
    },
    filter_screen: |f, n| {
        format!(
            "🔍 <b>Gallery filters</b>\n\nNow: {}\n🖼️ Matching images: {n}\n\n\
             Choose what to show, then press “Show”.",
            (EN.filter_summary)(f)
        )
    },
    filter_pick_avatar: "🎭 <b>Show the images of which avatar?</b>",
    filter_summary: |f| {
        if !f.active() {
            return "all images".to_owned();
        }
        let mut parts = Vec::new();
        if f.favorites {
            parts.push("❤️ favourites".to_owned());
        }
        match f.avatar {
            AvatarShown::Any => {}
            AvatarShown::Base => parts.push("🎭 no avatar".to_owned()),
            AvatarShown::Named(name) => parts.push(format!("🎭 {}", escape(&clip(name, 30)))),
        }
        match f.period {
            Period::All => {}
            Period::Today => parts.push("📅 today".to_owned()),
            Period::Week => parts.push("📅 past week".to_owned()),
            Period::Month => parts.push("📅 past month".to_owned()),
        }
        if let Some(aspect) = f.aspect {
            parts.push(format!("📐 {aspect}"));
        }
        if let Some(style) = f.style {
            parts.push(format!("🎨 {}", escape(&clip(style, 30))));
        }
        parts.join(" · ")
    },
    gallery_filter_empty: |summary| {
        format!("🔍 <b>Nothing found</b>\n\nFilter: {summary}\n\nChange the filter or reset it.")
    },
    filter_reset_done: "♻️ Filter reset",
    filter_avatar_gone: "❌ Avatar not found.",
    btn_my_avatars: "🎭 My avatars",
    btn_create_avatar: "➕ Create avatar",
    btn_continue_upload: "📸 Continue uploading",
    btn_rename: "✏️ Rename",
    btn_make_main: "⭐ Make main",
    btn_male: "👨 Male",
    btn_female: "👩 Female",
    btn_done: "✅ Done",
    btn_delete_photo: "🗑️ Delete photo",
    btn_view_photos: |n| format!("👀 View photos ({n})"),
    btn_start_training: |price| format!("✅ Start training — {}", (EN.coins)(price)),
    avatars_empty: "🎭 <b>Avatars</b>\n\nYou have no avatars yet. An avatar is your personal model: \
        upload 10–20 photos of yourself and the bot learns to draw you.",
    avatar_card: |a| {
        let status = match a.status {
            "ready" => "✅ Ready".to_owned(),
            "training" => format!("⏳ Training ({} min)", a.training_minutes.max(0)),
            "failed" => "❌ Training failed".to_owned(),
            _ => format!("📝 Draft: {} of {} photos", a.photos, a.min_photos),
        };
        format!(
            "🎭 <b>{}</b>{}\n\n{status}\n📅 Created: {}\n\nAvatar {} of {}",
            escape(a.name),
            if a.main { " ⭐" } else { "" },
            a.created,
            a.position,
            a.count
        )
    },
    avatar_ask_name: "🎭 <b>New avatar</b>\n\nWhat should it be called? Send a name (2–50 characters).",
    avatar_name_length: |n| format!("❌ The name has {n} characters; it needs 2 to 50. Try again."),
    avatar_ask_gender: |name| {
        format!(
            "🎭 <b>{}</b>\n\nWho is in the photos? It helps the model.",
            escape(name)
        )
    },
    avatar_upload_status: |s| {
        let next = if s.count >= u64::from(s.min) {
            format!(
                "Ready to train: {}. You have: {}.",
                (EN.coins)(s.price),
                (EN.coins)(s.balance)
            )
        } else {
            format!("At least {} more needed.", u64::from(s.min) - s.count)
        };
        format!(
            "📸 <b>Photos for “{}”</b>\n\nUploaded: <b>{} of {}</b> ({}–{} needed).\n{next}\n\n\
             Send photos or JPEG/PNG/WEBP files up to 20 MB with your face clearly visible, \
             shorter side at least 512 px, no repeats.",
            escape(s.name),
            s.count,
            s.max,
            s.min,
            s.max
        )
    },
    avatar_photo_caption: |i, n| format!("📸 Photo {i} of {n}"),
    photo_refused: |why, limits| match why {
        Refusal::NotImage => "❌ That is not an image. JPEG, PNG or WEBP, please.".to_owned(),
        Refusal::TooBig => format!(
            "❌ The file is larger than {} MB.",
            limits.max_photo_bytes / (1024 * 1024)
        ),
        Refusal::TooSmall { width, height } => format!(
            "❌ The photo is {width}×{height}: its shorter side must be at least {} px.",
            limits.min_side
        ),
        Refusal::Duplicate => "❌ This photo is already uploaded.".to_owned(),
        Refusal::Full => format!(
            "❌ {} photos are uploaded — that is the maximum. You can start training.",
            limits.max_photos
        ),
    },
    photo_not_expected: "📸 No photos are expected right now. To create an avatar: 🎭 My avatars → ➕ Create avatar.",
    photo_not_image_hint: "📸 Send a photo (or a JPEG/PNG/WEBP file).",
    avatar_not_found: "❌ Avatar not found.",
    avatar_busy_training: "⏳ The avatar is training — this is available once training ends.",
    avatar_expired: "⌛ This step is done already. Open 🎭 My avatars.",
    avatar_delete_confirm: |name| {
        format!(
            "🗑️ <b>Delete the avatar “{}”?</b>\n\nGallery images stay.",
            escape(name)
        )
    },
    avatar_deleted: "🗑️ Avatar deleted",
    avatar_main_set: |name| format!("⭐ Main avatar: {}", clip(name, 50)),
    avatar_ask_rename: |name| format!("✏️ New name for “{}”? (2–50 characters)", escape(name)),
    avatar_renamed: |name| format!("✏️ The avatar is now called “{}”.", escape(name)),
    avatar_training_started: |name, minutes| {
        format!(
            "⏳ <b>Training “{}” has started</b>\n\nIt usually takes up to {minutes} min. \
             I will write here when the avatar is ready.",
            escape(name)
        )
    },
    training_started_answer: "⏳ Training started",
    avatar_too_few: |n, min| format!("📸 {n} photos uploaded; at least {min} are needed."),
    avatar_ready: |name| {
        format!(
            "🎉 <b>Your avatar is ready!</b>\n\n“{}” is trained — create the first image with it.",
            escape(name)
        )
    },
    avatar_failed: |name, coins| {
        format!(
            "❌ <b>Training “{}” failed.</b>\n\n💰 {} returned to your balance. \
             Try creating the avatar again with other photos.",
            escape(name),
            (EN.coins)(coins)
        )
    },
};

/// "40 s", "2 min", "1 min 30 s".
fn en_duration(secs: u64) -> String {
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}
