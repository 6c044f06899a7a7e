//! Every text a user sees, one file per language (`ru` is the default, `en` for users whose
//! Telegram language is English). Handlers pick a [`Texts`] by [`Lang`] and never inline strings.
//!
//! Texts are Telegram HTML: functions that embed user-supplied values escape them.

mod en;
mod ru;

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
pub struct Texts {
    /// Greeting after /start, above the main menu; takes the user's first name.
    pub welcome: fn(&str) -> String,
    pub main_menu: &'static str,
    pub help: &'static str,
    /// Alert for callback data the bot does not know (old or forged buttons).
    pub unknown_callback: &'static str,
    /// Reply to a message the bot has no use for.
    pub unknown_text: &'static str,
    /// Callback answer for a menu entry whose feature is not built yet.
    pub coming_soon: &'static str,
    pub btn_create_image: &'static str,
    pub btn_avatars: &'static str,
    pub btn_gallery: &'static str,
    pub btn_balance: &'static str,
    pub btn_help: &'static str,
    pub btn_main_menu: &'static str,
    /// The command list registered with setMyCommands: (command, description).
    pub commands: &'static [(&'static str, &'static str)],
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
        let text = (RU.welcome)("<b>&\"x\"");
        assert!(text.contains("&lt;b&gt;&amp;&quot;x&quot;"), "{text}");
        assert!(!(EN.welcome)("<i>").contains("<i>"));
    }

    #[test]
    fn both_languages_register_the_same_commands() {
        let names = |t: &Texts| t.commands.iter().map(|(c, _)| *c).collect::<Vec<_>>();
        assert_eq!(names(&RU), names(&EN));
    }
}
