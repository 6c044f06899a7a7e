//! Buttons of ⚙️ settings.

use super::{Arg, parse_index};

/// A language choice: follow Telegram, or one of the bot's languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LanguageChoice {
    Telegram,
    Ru,
    En,
}

impl LanguageChoice {
    pub const ALL: [Self; 3] = [Self::Telegram, Self::Ru, Self::En];

    /// What the users table stores (`None`: follow Telegram).
    #[must_use]
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::Telegram => None,
            Self::Ru => Some("ru"),
            Self::En => Some("en"),
        }
    }

    #[must_use]
    pub fn of(code: Option<&str>) -> Self {
        match code {
            Some("ru") => Self::Ru,
            Some("en") => Self::En,
            _ => Self::Telegram,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsAction {
    /// ⚙️ the settings screen → `settings::show`.
    Open,
    /// 🌐 the language choices.
    Languages,
    /// A language picked.
    Language(LanguageChoice),
    /// 📐 the format choices.
    Formats,
    /// A default format picked (an index into the aspect ratios), or "ask every time".
    Format(Option<u8>),
    /// 🖼️ the count choices.
    Counts,
    /// A default number of images picked, or "ask every time".
    Count(Option<u8>),
    /// ⚡ quick mode on/off.
    Quick,
}

/// `ask` or a small index.
fn optional(arg: &str) -> Option<Option<u8>> {
    if arg == "ask" {
        Some(None)
    } else {
        parse_index(arg).map(Some)
    }
}

fn optional_code(v: Option<u8>) -> String {
    v.map_or_else(|| "ask".into(), |v| v.to_string())
}

impl SettingsAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::Open => "settings".into(),
            Self::Languages => "set_lang".into(),
            Self::Language(choice) => format!(
                "set_lang:{}",
                match choice {
                    LanguageChoice::Telegram => "tg",
                    LanguageChoice::Ru => "ru",
                    LanguageChoice::En => "en",
                }
            ),
            Self::Formats => "set_ar".into(),
            Self::Format(v) => format!("set_ar:{}", optional_code(v)),
            Self::Counts => "set_n".into(),
            Self::Count(v) => format!("set_n:{}", optional_code(v)),
            Self::Quick => "set_quick".into(),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        match (name, arg) {
            ("settings", None) => Some(Self::Open),
            ("set_lang", None) => Some(Self::Languages),
            ("set_lang", Some("tg")) => Some(Self::Language(LanguageChoice::Telegram)),
            ("set_lang", Some("ru")) => Some(Self::Language(LanguageChoice::Ru)),
            ("set_lang", Some("en")) => Some(Self::Language(LanguageChoice::En)),
            ("set_ar", None) => Some(Self::Formats),
            ("set_ar", Some(a)) => optional(a).map(Self::Format),
            ("set_n", None) => Some(Self::Counts),
            ("set_n", Some(a)) => optional(a).map(Self::Count),
            ("set_quick", None) => Some(Self::Quick),
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        let mut all = vec![
            Self::Open,
            Self::Languages,
            Self::Formats,
            Self::Counts,
            Self::Quick,
        ];
        all.extend(LanguageChoice::ALL.map(Self::Language));
        all.extend([Self::Format(None), Self::Format(Some(255))]);
        all.extend([Self::Count(None), Self::Count(Some(4))]);
        all
    }
}
