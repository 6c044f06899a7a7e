//! Coins: why they move.

/// Why coins moved. Stored as text; shown to users in plain words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerKind {
    Welcome,
    Generation,
    AvatarTraining,
    /// Coins returned for work that failed.
    Refund,
    /// Bought with Telegram Stars.
    TopUp,
    /// Taken back when a Stars payment is refunded.
    StarsRefund,
    Promo,
    /// Given by an operator.
    Grant,
}

impl LedgerKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::Generation => "generation",
            Self::AvatarTraining => "avatar_training",
            Self::Refund => "refund",
            Self::TopUp => "topup",
            Self::StarsRefund => "stars_refund",
            Self::Promo => "promo",
            Self::Grant => "grant",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Welcome,
            Self::Generation,
            Self::AvatarTraining,
            Self::Refund,
            Self::TopUp,
            Self::StarsRefund,
            Self::Promo,
            Self::Grant,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}
