//! Buttons of the Telegram Stars top-up.

use super::{Arg, parse_index};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentsAction {
    /// ⭐ the Stars packages → `payments::show_packages`.
    Packages,
    /// Buy package N (an index into the configured packages; stale indexes re-show the list) →
    /// `payments::send_invoice`.
    Package(u8),
}

impl PaymentsAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::Packages => "topup".into(),
            Self::Package(i) => format!("topup:{i}"),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        match (name, arg) {
            ("topup" | "profile_topup_balance" | "balance_topup", None) => Some(Self::Packages),
            // The Python bot's package buttons priced other packages: show today's list.
            (n, None) if n.starts_with("topup_package_") => Some(Self::Packages),
            ("topup", Some(arg)) => parse_index(arg).map(Self::Package),
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        vec![Self::Packages, Self::Package(0), Self::Package(u8::MAX)]
    }
}
