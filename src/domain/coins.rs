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

/// An amount of coins to move: what a charge takes or a credit gives. Balances are plain
/// integers (they are read and shown); an amount is typed so that a count, a price in Stars or
/// an id can't be passed where coins are meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Coins(pub i64);

impl std::fmt::Display for Coins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
