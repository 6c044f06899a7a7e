//! Provider jobs (generations and avatar trainings): why one failed.

/// Why a generation failed. Stored in `generations.error` as `kind` or `kind: detail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// The provider reported an error (its words).
    Provider(String),
    /// The provider could not be reached or refused the job.
    Submit,
    /// No callback by the deadline and the provider did not have a result either.
    Timeout,
    /// The finished image could not be downloaded.
    Image,
}

impl FailReason {
    #[must_use]
    pub fn encode(&self) -> String {
        match self {
            Self::Provider(detail) => format!("provider: {detail}"),
            Self::Submit => "submit".into(),
            Self::Timeout => "timeout".into(),
            Self::Image => "image".into(),
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Self {
        match s {
            "submit" => Self::Submit,
            "timeout" => Self::Timeout,
            "image" => Self::Image,
            other => Self::Provider(other.strip_prefix("provider: ").unwrap_or(other).to_owned()),
        }
    }
}

/// Most images one generation makes (and one album can hold well within Telegram's 10).
pub const MAX_IMAGES: u8 = 4;
