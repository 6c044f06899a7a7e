//! Every text a user sees, one file per language (`ru` is the default, `en` for users whose
//! Telegram language is English). Handlers pick a [`Texts`] by [`Lang`] and never inline strings.
//!
//! Texts are Telegram HTML: functions that embed user-supplied values escape them.

mod en;
mod ru;

use crate::domain::{FailReason, LedgerKind as Kind, Period, PhotoRefusal as Refusal, PhotoRules};

pub use en::EN;
pub use ru::RU;

/// The languages Aisha speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    /// English when Telegram reports an `en*` language, Russian otherwise.
    #[must_use]
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            Some(c) if c.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("en")) => Self::En,
            _ => Self::Ru,
        }
    }

    #[must_use]
    pub fn texts(self) -> &'static Texts {
        match self {
            Self::Ru => &RU,
            Self::En => &EN,
        }
    }
}

/// One language's texts.
#[derive(Debug)]
pub struct Texts {
    /// Greeting after /start, above the main menu; takes the user's first name.
    /// The greeting; `bonus` > 0 adds the coins just credited as a welcome gift.
    pub welcome: fn(&str, i64) -> String,
    pub main_menu: &'static str,
    pub help: &'static str,
    /// Alert for callback data the bot does not know (old or forged buttons).
    pub unknown_callback: &'static str,
    /// Reply to a message the bot has no use for.
    pub unknown_text: &'static str,
    /// Said when an update could not be handled and retrying cannot help (data the database
    /// refuses); nothing was done.
    pub action_failed: &'static str,
    /// Callback answer for a menu entry whose feature is not built yet.
    pub coming_soon: &'static str,
    pub btn_create_image: &'static str,
    pub btn_avatars: &'static str,
    pub btn_gallery: &'static str,
    pub btn_balance: &'static str,
    pub btn_help: &'static str,
    pub btn_settings: &'static str,
    /// ⚙️ The settings screen: language, default format and count, quick mode on/off.
    pub settings: fn(&str, &str, &str, bool) -> String,
    pub btn_set_language: fn(&str) -> String,
    pub btn_set_format: fn(&str) -> String,
    pub btn_set_count: fn(&str) -> String,
    pub btn_set_quick: fn(bool) -> String,
    pub settings_languages: &'static str,
    pub settings_formats: &'static str,
    pub settings_counts: &'static str,
    /// "Follow Telegram" as a language choice.
    pub lang_telegram: &'static str,
    /// A default left unset: the bot asks every time.
    pub ask_every_time: &'static str,
    /// A count as a setting value: "2 images".
    pub images: fn(u8) -> String,
    pub btn_main_menu: &'static str,
    /// The command list registered with setMyCommands: (command, description).
    pub commands: &'static [(&'static str, &'static str)],

    // Coins.
    /// "5 монет" / "5 coins".
    pub coins: fn(i64) -> String,
    /// Balance screen: coins, then the prices (per image, avatar training).
    pub balance: fn(i64, i64, i64) -> String,
    pub history_title: &'static str,
    pub history_empty: &'static str,
    /// A ledger kind in plain words ("генерация").
    pub ledger_kind: fn(Kind) -> &'static str,
    /// Abbreviated month names, January first.
    pub months: [&'static str; 12],
    /// One history line: signed amount ("−5"), kind, day, month name, hour, minute.
    pub history_entry: fn(&str, &str, u32, &str, u32, u32) -> String,
    /// Exactly the Python bot's wording: required, then what the user has.
    pub insufficient: fn(i64, i64) -> String,
    pub btn_top_up: &'static str,
    pub btn_promo: &'static str,
    pub btn_cancel: &'static str,

    // Telegram Stars.
    pub top_up: &'static str,
    /// A package button: stars, coins.
    pub package: fn(i64, i64) -> String,
    /// Invoice title (≤ 32 characters): coins.
    pub invoice_title: fn(i64) -> String,
    /// Invoice description: stars, coins.
    pub invoice_description: fn(i64, i64) -> String,
    /// Shown by Telegram when a pre-checkout is refused.
    pub invoice_invalid: &'static str,
    /// After a payment: coins added, new balance.
    pub payment_received: fn(i64, i64) -> String,
    /// A payment that matched no invoice: nothing credited, Stars to be refunded.
    pub payment_unmatched: &'static str,

    // Promo codes.
    pub promo_prompt: &'static str,
    /// Redeemed: coins added, new balance.
    pub promo_redeemed: fn(i64, i64) -> String,
    pub promo_unknown: &'static str,
    pub promo_expired: &'static str,
    pub promo_exhausted: &'static str,
    pub promo_already_used: &'static str,
    /// After too many wrong codes in an hour.
    pub promo_too_many: &'static str,
    pub input_cancelled: &'static str,

    // Generation.
    /// The 🎨 screen with an avatar: the avatar's name.
    pub gen_intro: fn(&str) -> String,
    /// The 🎨 screen for a user without a ready avatar: base model, and how to get an avatar.
    pub gen_intro_no_avatar: &'static str,
    /// The 🎨 screen when a user with avatars picked the base model.
    pub gen_intro_base: &'static str,
    pub btn_other_avatar: &'static str,
    pub gen_pick_avatar: &'static str,
    pub btn_no_avatar: &'static str,
    /// A prompt of the wrong length: its length in characters.
    pub gen_prompt_length: fn(usize) -> String,
    /// Size screen: prompt, avatar name (none: base model).
    pub gen_choose_aspect: fn(&str, Option<&str>) -> String,
    /// Count screen: prompt, avatar, aspect ratio, price per image, balance.
    pub gen_choose_count: fn(&str, Option<&str>, &str, i64, i64) -> String,
    /// A count button: number of images, their cost.
    pub btn_count: fn(u8, i64) -> String,
    pub btn_back: &'static str,
    /// The options screen was already used (a double tap) or is gone.
    pub gen_expired: &'static str,
    /// A generation refused: this many are running already (nothing charged).
    pub gen_busy: fn(u32) -> String,
    /// Under a quick-mode start: the defaults were used, ⚙️ changes them.
    pub gen_quick_note: &'static str,
    /// 🎨 under the format and count screens: the style picked (or none).
    pub btn_style: fn(&str) -> String,
    pub style_none: &'static str,
    /// The style screen for this prompt.
    pub gen_choose_style: fn(&str) -> String,

    // Prompt help (only with an LLM configured).
    /// Added to the 🎨 screen: a photo works as well as words.
    pub gen_intro_photo: &'static str,
    pub btn_photo_prompt: &'static str,
    /// The answer to 📷: send the photo.
    pub photo_prompt_hint: &'static str,
    /// The prompt made of a photo: use it, or send words of your own.
    pub photo_prompt_ready: fn(&str) -> String,
    pub btn_use_prompt: &'static str,
    pub btn_improve: &'static str,
    /// ✨ The improved prompt next to the user's own.
    pub gen_improved: fn(&str, &str) -> String,
    pub btn_use_improved: &'static str,
    pub btn_keep_mine: &'static str,
    /// One line on the format and count screens while the improved prompt is in use.
    pub gen_improved_in_use: fn(&str) -> String,
    /// One line each: the LLM could not help, and what happens instead.
    pub llm_translate_failed: &'static str,
    pub llm_improve_failed: &'static str,
    pub llm_describe_failed: &'static str,
    pub llm_cap_reached: &'static str,
    /// The daily cap, answering ✨ and 📷.
    pub llm_cap_improve: &'static str,
    pub llm_cap_photo: &'static str,
    /// A training refused: this many are running already (nothing charged).
    pub training_busy: fn(u32) -> String,
    /// The progress message.
    pub gen_started: fn(&Progress<'_>) -> String,
    pub btn_status: &'static str,
    /// A result's caption.
    pub gen_caption: fn(&Caption<'_>) -> String,
    /// The message with the buttons under an album: how many images.
    pub gen_album_done: fn(usize) -> String,
    pub btn_repeat: &'static str,
    pub btn_to_gallery: &'static str,
    pub btn_new_generation: &'static str,
    /// A failed generation: the reason (from `fail_reason`), the coins returned.
    pub gen_failed: fn(&str, i64) -> String,
    /// Why a generation failed, in plain words.
    pub fail_reason: fn(&FailReason) -> String,
    pub btn_retry: &'static str,
    /// 📊 answers (alerts, ≤ 200 characters): seconds since start, typical seconds.
    pub status_pending: fn(u64, Option<u64>) -> String,
    /// The reason, the coins returned.
    pub status_failed: fn(&str, i64) -> String,
    /// Finished, the photo is on its way to the chat.
    pub status_delivering: &'static str,
    pub status_not_found: &'static str,
    /// 🔄 on a generation whose avatar was deleted or is not ready.
    pub avatar_unavailable: &'static str,
    /// A second 🔄 tap while the first is still starting.
    pub regen_busy: &'static str,
    /// The answer to a 🔄 tap that started a repeat.
    pub regen_started: &'static str,

    // Gallery.
    /// No images yet.
    pub gallery_empty: &'static str,
    /// A card's caption: position (1-based), count, prompt, avatar, aspect ratio, day, month, year.
    pub gallery_caption: fn(&GalleryCard<'_>) -> String,
    pub btn_gallery_repeat: &'static str,
    pub btn_prompt: &'static str,
    pub btn_delete: &'static str,
    pub btn_confirm_delete: &'static str,
    /// 📋: the full prompt.
    pub gallery_prompt: fn(&str) -> String,
    pub gallery_delete_confirm: &'static str,
    pub gallery_deleted: &'static str,
    pub favorite_added: &'static str,
    pub favorite_removed: &'static str,
    /// An image id in a button that is not (or no longer) the presser's.
    pub image_not_found: &'static str,
    pub btn_stats: &'static str,
    /// 📊 gallery statistics.
    pub gallery_stats: fn(&GalleryStats) -> String,

    // Gallery filters.
    pub btn_filters: &'static str,
    pub btn_filter_reset: &'static str,
    /// "Show (N)": how many images match.
    pub btn_filter_show: fn(u64) -> String,
    pub btn_filter_favorites: &'static str,
    /// The avatar row: the avatar part of the filter.
    pub btn_filter_avatar: fn(AvatarShown<'_>) -> String,
    pub btn_filter_any_avatar: &'static str,
    pub btn_filter_base: &'static str,
    pub btn_filter_any_aspect: &'static str,
    /// The filter screen's style button: the style filtered by, or all.
    pub btn_filter_style: fn(Option<&str>) -> String,
    pub btn_filter_any_style: &'static str,
    pub filter_pick_style: &'static str,
    /// A period button.
    pub period_name: fn(Period) -> &'static str,
    /// The filter screen: the filter, how many images match.
    pub filter_screen: fn(&FilterView<'_>, u64) -> String,
    /// The avatar list of the filter screen.
    pub filter_pick_avatar: &'static str,
    /// The active filter in one line (escaped), for the card and the empty result.
    pub filter_summary: fn(&FilterView<'_>) -> String,
    /// Nothing matches the filter: its summary.
    pub gallery_filter_empty: fn(&str) -> String,
    pub filter_reset_done: &'static str,
    /// An avatar id in a filter button that is not (or no longer) the presser's.
    pub filter_avatar_gone: &'static str,

    // Avatars.
    pub btn_my_avatars: &'static str,
    pub btn_create_avatar: &'static str,
    pub btn_continue_upload: &'static str,
    pub btn_rename: &'static str,
    pub btn_make_main: &'static str,
    pub btn_male: &'static str,
    pub btn_female: &'static str,
    pub btn_done: &'static str,
    pub btn_delete_photo: &'static str,
    /// "👀 Photos (N)".
    pub btn_view_photos: fn(u64) -> String,
    /// "✅ Start training — price".
    pub btn_start_training: fn(i64) -> String,
    pub avatars_empty: &'static str,
    pub avatar_card: fn(&AvatarView<'_>) -> String,
    pub avatar_ask_name: &'static str,
    /// A name of the wrong length: its length in characters.
    pub avatar_name_length: fn(usize) -> String,
    /// The gender question: the name.
    pub avatar_ask_gender: fn(&str) -> String,
    pub avatar_upload_status: fn(&UploadStatus<'_>) -> String,
    /// The photo viewer's caption: position (1-based), count.
    pub avatar_photo_caption: fn(usize, usize) -> String,
    /// Why a photo was refused, with the limits.
    pub photo_refused: fn(Refusal, &PhotoRules) -> String,
    /// A photo when no draft is waiting for one.
    pub photo_not_expected: &'static str,
    /// Text (or a non-image) while photos are expected.
    pub photo_not_image_hint: &'static str,
    pub avatar_not_found: &'static str,
    pub avatar_busy_training: &'static str,
    /// A gender or rename button whose question is gone (a double tap, an old message).
    pub avatar_expired: &'static str,
    pub avatar_delete_confirm: fn(&str) -> String,
    pub avatar_deleted: &'static str,
    pub avatar_main_set: fn(&str) -> String,
    pub avatar_ask_rename: fn(&str) -> String,
    pub avatar_renamed: fn(&str) -> String,
    /// Training started: the name, the typical wait in minutes.
    pub avatar_training_started: fn(&str, u64) -> String,
    pub training_started_answer: &'static str,
    /// Training asked with too few photos: how many, the minimum.
    pub avatar_too_few: fn(u64, u32) -> String,
    /// "🎉 Ваш аватар готов!": the name.
    pub avatar_ready: fn(&str) -> String,
    /// Training failed: the name, the coins returned.
    pub avatar_failed: fn(&str, i64) -> String,
}

/// An avatar card.
#[derive(Debug)]
pub struct AvatarView<'a> {
    pub name: &'a str,
    pub main: bool,
    /// `draft`, `training`, `ready` or `failed`.
    pub status: &'a str,
    /// Minutes since training started (training only).
    pub training_minutes: i64,
    /// Photos uploaded (drafts).
    pub photos: u64,
    pub min_photos: u32,
    pub created: &'a str,
    pub position: usize,
    pub count: usize,
}

/// The photo step's status message.
#[derive(Debug)]
pub struct UploadStatus<'a> {
    pub name: &'a str,
    pub count: u64,
    pub min: u32,
    pub max: u32,
    pub price: i64,
    pub balance: i64,
}

/// The avatar part of a gallery filter, as shown.
#[derive(Debug, Clone, Copy)]
pub enum AvatarShown<'a> {
    Any,
    Base,
    Named(&'a str),
}

/// A gallery filter, as shown.
#[derive(Debug)]
pub struct FilterView<'a> {
    pub favorites: bool,
    pub avatar: AvatarShown<'a>,
    pub period: Period,
    /// "9:16", or none for any.
    pub aspect: Option<&'a str>,
    /// A style's label ("🎬 Cinematic", not escaped), or none for any.
    pub style: Option<&'a str>,
}

impl FilterView<'_> {
    /// Whether anything is filtered out.
    #[must_use]
    pub fn active(&self) -> bool {
        self.favorites
            || !matches!(self.avatar, AvatarShown::Any)
            || self.period != Period::All
            || self.aspect.is_some()
            || self.style.is_some()
    }
}

/// What 📊 shows, from the database.
#[derive(Debug)]
pub struct GalleryStats {
    pub images: u64,
    pub favorites: u64,
    pub completed: u64,
    pub pending: u64,
    pub failed: u64,
    /// Coins spent on generations, refunds taken off.
    pub coins_spent: i64,
    pub avatars_used: u64,
    /// "24.11.2026" of the first and the last generation.
    pub first: Option<String>,
    pub last: Option<String>,
}

/// What a result's caption says.
#[derive(Debug)]
pub struct Caption<'a> {
    pub prompt: &'a str,
    pub avatar: Option<&'a str>,
    /// The style's label ("🎬 Cinematic"), not escaped yet.
    pub style: Option<&'a str>,
    pub aspect: &'a str,
    pub width: u32,
    pub height: u32,
}

/// "\n🎨 label" for a style, nothing without one.
#[must_use]
pub fn style_line(style: Option<&str>) -> String {
    style.map_or_else(String::new, |s| format!("\n🎨 {}", escape(&clip(s, 40))))
}

/// What a gallery card shows.
#[derive(Debug)]
pub struct GalleryCard<'a> {
    pub position: usize,
    pub count: usize,
    pub prompt: &'a str,
    pub avatar: Option<&'a str>,
    /// The style's label, not escaped yet.
    pub style: Option<&'a str>,
    pub aspect: &'a str,
    pub width: i32,
    pub height: i32,
    pub date: &'a str,
    pub favorite: bool,
    /// The active filter's summary (escaped), when one is set.
    pub filter: Option<&'a str>,
}

/// What the progress message says.
#[derive(Debug)]
pub struct Progress<'a> {
    /// A repeat of an earlier generation.
    pub again: bool,
    pub prompt: &'a str,
    pub avatar: Option<&'a str>,
    pub aspect: &'a str,
    pub images: u8,
    /// The median duration of recent generations, in seconds.
    pub typical: Option<u64>,
}

/// The most of a Telegram name a text shows (Telegram's own limit is 64; updates are not
/// trusted to keep it).
pub const NAME_CHARS: usize = 64;

/// At most `max` characters of `text` (an ellipsis marks a cut), for captions and alerts with
/// Telegram length limits.
#[must_use]
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Russian plural forms: 1 монета, 2 монеты, 5 монет, 11 монет, 21 монета.
#[must_use]
pub fn ru_plural(n: i64, one: &'static str, few: &'static str, many: &'static str) -> &'static str {
    let n = n.unsigned_abs();
    match (n % 10, n % 100) {
        (1, m) if m != 11 => one,
        (2..=4, m) if !(12..=14).contains(&m) => few,
        _ => many,
    }
}

/// Escapes text for Telegram's HTML parse mode.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice() {
        assert_eq!(Lang::from_code(None), Lang::Ru);
        assert_eq!(Lang::from_code(Some("ru")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("en")), Lang::En);
        assert_eq!(Lang::from_code(Some("en-GB")), Lang::En);
        assert_eq!(Lang::from_code(Some("de")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("e")), Lang::Ru);
    }

    #[test]
    fn names_are_escaped() {
        let text = (RU.welcome)("<b>&\"x\"", 0);
        assert!(text.contains("&lt;b&gt;&amp;&quot;x&quot;"), "{text}");
        assert!(!(EN.welcome)("<i>", 0).contains("<i>"));
    }

    #[test]
    fn russian_plurals() {
        let f = |n| ru_plural(n, "монета", "монеты", "монет");
        assert_eq!(
            [
                f(1),
                f(2),
                f(4),
                f(5),
                f(11),
                f(12),
                f(21),
                f(22),
                f(25),
                f(111),
                f(0)
            ],
            [
                "монета",
                "монеты",
                "монеты",
                "монет",
                "монет",
                "монет",
                "монета",
                "монеты",
                "монет",
                "монет",
                "монет"
            ]
        );
        assert_eq!((RU.coins)(150), "150 монет");
        assert_eq!((EN.coins)(1), "1 coin");
    }

    #[test]
    fn insufficient_is_worded_exactly() {
        assert_eq!(
            (RU.insufficient)(5, 3),
            "❌ Недостаточно средств. Требуется: 5, у вас: 3"
        );
        assert_eq!(
            (EN.insufficient)(5, 3),
            "❌ Not enough coins. Required: 5, you have: 3"
        );
    }

    #[test]
    fn invoice_titles_fit_telegram() {
        for t in [&RU, &EN] {
            assert!((t.invoice_title)(1_000_000).chars().count() <= 32);
        }
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ёжик", 2), "ё…");
    }

    #[test]
    fn generation_texts_fit_telegram_limits() {
        let prompt = "🐱".repeat(500);
        for t in [&RU, &EN] {
            let style = "ж".repeat(60);
            let caption = (t.gen_caption)(&Caption {
                prompt: &prompt,
                avatar: Some(&"я".repeat(50)),
                style: Some(&style),
                aspect: "16:9",
                width: 1024,
                height: 576,
            });
            let units: usize = caption.encode_utf16().count();
            assert!(units <= 1024, "{units}");
            assert!((t.status_pending)(86_400, Some(86_400)).chars().count() <= 200);
            assert!(
                (t.status_failed)(&"x".repeat(1000), 1_000_000)
                    .chars()
                    .count()
                    <= 200
            );
            // Callback alerts (Telegram shows at most 200 characters).
            for alert in [
                t.llm_cap_reached,
                t.llm_cap_improve,
                t.llm_improve_failed,
                t.photo_prompt_hint,
            ] {
                assert!(alert.chars().count() <= 200, "{alert}");
            }
            // Prompt-help screens stay within a message, whatever the prompts.
            let long = "я".repeat(1000);
            assert!((t.gen_improved)(&long, &long).chars().count() <= 4096);
            assert!((t.photo_prompt_ready)(&long[..1000]).chars().count() <= 4096);
            let marked = (t.gen_improved)("<b>", "<i>");
            assert!(marked.contains("&lt;b&gt;") && marked.contains("&lt;i&gt;"));
            assert!((t.photo_prompt_ready)("<u>").contains("&lt;u&gt;"));
            let plain = (t.gen_caption)(&Caption {
                prompt: "<i>",
                avatar: None,
                style: Some("<b>"),
                aspect: "1:1",
                width: 1,
                height: 1,
            });
            assert!(
                plain.contains("&lt;i&gt;") && plain.contains("🎨 &lt;b&gt;"),
                "{plain}"
            );
        }
    }

    #[test]
    fn gallery_texts_fit_telegram_limits() {
        let prompt = "🐱".repeat(500);
        let name = "я".repeat(50);
        for t in [&RU, &EN] {
            let filter = FilterView {
                favorites: true,
                avatar: AvatarShown::Named(&name),
                period: Period::Month,
                aspect: Some("16:9"),
                style: Some(&name),
            };
            assert!(filter.active());
            let summary = (t.filter_summary)(&filter);
            let caption = (t.gallery_caption)(&GalleryCard {
                position: 100_000,
                count: 100_000,
                prompt: &prompt,
                avatar: Some(&name),
                style: Some(&"ж".repeat(60)),
                aspect: "16:9",
                width: 1024,
                height: 576,
                date: "24.11.2026",
                favorite: true,
                filter: Some(&summary),
            });
            let units = caption.encode_utf16().count();
            assert!(units <= 1024, "{units}");
            let screen = (t.filter_screen)(&filter, 100_000);
            assert!(screen.encode_utf16().count() <= 1024);
            assert!(
                (t.btn_filter_avatar)(AvatarShown::Named(&name))
                    .chars()
                    .count()
                    <= 50
            );
            let none = FilterView {
                favorites: false,
                avatar: AvatarShown::Any,
                period: Period::All,
                aspect: None,
                style: None,
            };
            assert!(!none.active());
            assert!(!(t.filter_summary)(&none).is_empty());
            let hostile = (t.filter_summary)(&FilterView {
                avatar: AvatarShown::Named("<b>"),
                style: Some("<i>"),
                ..none
            });
            assert!(hostile.contains("&lt;b&gt;"), "{hostile}");
            assert!(hostile.contains("&lt;i&gt;"), "{hostile}");
        }
    }

    #[test]
    fn both_languages_register_the_same_commands() {
        let names = |t: &Texts| t.commands.iter().map(|(c, _)| *c).collect::<Vec<_>>();
        assert_eq!(names(&RU), names(&EN));
    }

    /// Telegram's rule for a text sent with HTML: it parses, and what is visible fits `limit`
    /// UTF-16 units.
    fn fits(html: &str, limit: usize) -> Result<(), String> {
        let parsed = crate::sandbox::text::parse_html(html)?;
        let units = parsed.text.encode_utf16().count();
        if units > limit {
            return Err(format!("{units} > {limit}"));
        }
        Ok(())
    }

    proptest::proptest! {
        /// Any name or prompt a user can send (a prompt is at most 500 characters, a name is
        /// whatever Telegram sends) makes texts that are valid HTML within Telegram's limits.
        #[test]
        fn user_strings_make_valid_texts_within_limits(
            name in "\\PC{0,300}",
            prompt in "\\PC{5,500}",
            style in "\\PC{1,32}",
            coins in proptest::prelude::any::<i64>(),
        ) {
            for t in [&RU, &EN] {
                fits(&(t.welcome)(&name, coins.rem_euclid(1_000_000)), 4096)
                    .map_err(proptest::test_runner::TestCaseError::fail)?;
                fits(&(t.gen_choose_aspect)(&prompt, Some(&name)), 4096)
                    .map_err(proptest::test_runner::TestCaseError::fail)?;
                fits(&(t.gen_improved)(&prompt, &prompt), 4096)
                    .map_err(proptest::test_runner::TestCaseError::fail)?;
                fits(&(t.photo_prompt_ready)(&prompt), 4096)
                    .map_err(proptest::test_runner::TestCaseError::fail)?;
                fits(&(t.gallery_prompt)(&prompt), 4096)
                    .map_err(proptest::test_runner::TestCaseError::fail)?;
                let caption = (t.gen_caption)(&Caption {
                    prompt: &prompt,
                    avatar: Some(&name),
                    style: Some(&style),
                    aspect: "1:1",
                    width: 1024,
                    height: 1024,
                });
                fits(&caption, 1024).map_err(proptest::test_runner::TestCaseError::fail)?;
            }
        }
    }
}
