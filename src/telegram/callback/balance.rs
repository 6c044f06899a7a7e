//! Buttons of the balance screen and of input it waits for.

use super::Arg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalanceAction {
    /// 💰 the balance and recent moves → `balance::show`.
    Show,
    /// Leave whatever input the bot is waiting for (a promo code), back to the balance →
    /// `balance::on_callback`.
    CancelInput,
}

impl BalanceAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::Show => "balance".into(),
            Self::CancelInput => "cancel_input".into(),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        match (name, arg) {
            ("balance" | "profile_balance_info" | "profile_menu", None) => Some(Self::Show),
            ("cancel_input", None) => Some(Self::CancelInput),
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        vec![Self::Show, Self::CancelInput]
    }
}
