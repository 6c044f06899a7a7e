//! The promo-code button.

use super::Arg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromoAction {
    /// 🎁 start entering a promo code → `promo::ask`.
    Ask,
}

impl PromoAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::Ask => "promo".into(),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        match (name, arg) {
            ("promo", None) => Some(Self::Ask),
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        vec![Self::Ask]
    }
}
