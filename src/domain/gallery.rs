//! The gallery's filter periods.

use chrono::{DateTime, Duration, FixedOffset, Utc};

/// How far back the gallery looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    All,
    /// Since midnight in the configured time zone.
    Today,
    /// The last 7 days.
    Week,
    /// The last 30 days.
    Month,
}

impl Period {
    pub const ALL: [Self; 4] = [Self::All, Self::Today, Self::Week, Self::Month];

    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Today => "today",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    #[must_use]
    pub fn parse(key: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|p| p.key() == key)
            .unwrap_or(Self::All)
    }

    /// The earliest creation time it lets through.
    #[must_use]
    pub fn since(self, now: DateTime<Utc>, zone: FixedOffset) -> Option<DateTime<Utc>> {
        match self {
            Self::All => None,
            Self::Today => now
                .with_timezone(&zone)
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .and_then(|midnight| midnight.and_local_timezone(zone).single())
                .map(|midnight| midnight.with_timezone(&Utc)),
            Self::Week => Some(now - Duration::days(7)),
            Self::Month => Some(now - Duration::days(30)),
        }
    }
}
