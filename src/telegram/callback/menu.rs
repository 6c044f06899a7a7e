//! Buttons of the main menu.

use super::Arg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuAction {
    /// 🏠 the main menu; leaves any input the bot was waiting for → `menu::on_callback`.
    Main,
    /// ❓ help → `menu::help`.
    Help,
}

impl MenuAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::Main => "main_menu".into(),
            Self::Help => "main_help".into(),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        match (name, arg) {
            ("main_menu" | "back_to_main", None) => Some(Self::Main),
            ("main_help", None) => Some(Self::Help),
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        vec![Self::Main, Self::Help]
    }
}
