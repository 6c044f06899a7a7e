//! The callback-data codec: the single source of truth for every inline button's payload.
//!
//! One enum, nested by feature: `Callback::Gallery(GalleryAction::Card(3))`. Each feature's part
//! lives in its own file here, and each variant's doc line names the handler it reaches (the
//! dispatcher hands a feature its part, the feature's `on_callback` does the rest). They live
//! below the features, not in them, because buttons cross features: a result carries 🖼️ into the
//! gallery, a gallery card carries 🔄 into generation.
//!
//! Buttons carry at most 64 bytes. Ids inside are only hints: handlers always re-check that the
//! object belongs to the user pressing the button. Strings used by the Python bot's old messages
//! (`my_gallery`, `gallery_main`, `back_to_main`, `generation_status:<id>`) still parse, so
//! buttons in existing chats keep working.

mod avatar;
mod balance;
mod gallery;
mod generation;
mod menu;
mod payments;
mod promo;
mod settings;

pub use avatar::AvatarAction;
pub use balance::BalanceAction;
pub use gallery::{AvatarPick, GalleryAction};
pub use generation::GenerationAction;
pub use menu::MenuAction;
pub use payments::PaymentsAction;
pub use promo::PromoAction;
pub use settings::{LanguageChoice, SettingsAction};

/// Telegram's limit on `callback_data`, in bytes.
pub const MAX_BYTES: usize = 64;

/// Every action an inline button can ask for, by the feature that handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    /// → `menu::on_callback`
    Menu(MenuAction),
    /// → `balance::on_callback`
    Balance(BalanceAction),
    /// → `payments::on_callback`
    Payments(PaymentsAction),
    /// → `promo::on_callback`
    Promo(PromoAction),
    /// → `generation::flow::on_callback`
    Generation(GenerationAction),
    /// → `gallery::on_callback`
    Gallery(GalleryAction),
    /// → `avatar::screens::on_callback`
    Avatar(AvatarAction),
    /// → `settings::on_callback`
    Settings(SettingsAction),
}

/// What follows the first colon of a payload, if anything.
type Arg<'a> = Option<&'a str>;

impl Callback {
    /// The payload to put in a button.
    #[must_use]
    pub fn encode(self) -> String {
        match self {
            Self::Menu(a) => a.encode(),
            Self::Balance(a) => a.encode(),
            Self::Payments(a) => a.encode(),
            Self::Promo(a) => a.encode(),
            Self::Generation(a) => a.encode(),
            Self::Gallery(a) => a.encode(),
            Self::Avatar(a) => a.encode(),
            Self::Settings(a) => a.encode(),
        }
    }

    /// Parses a payload; `None` for anything unknown, malformed or oversized.
    #[must_use]
    pub fn parse(data: &str) -> Option<Self> {
        if data.len() > MAX_BYTES {
            return None;
        }
        let (name, arg) = match data.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (data, None),
        };
        MenuAction::parse(name, arg)
            .map(Self::Menu)
            .or_else(|| BalanceAction::parse(name, arg).map(Self::Balance))
            .or_else(|| PaymentsAction::parse(name, arg).map(Self::Payments))
            .or_else(|| PromoAction::parse(name, arg).map(Self::Promo))
            .or_else(|| GenerationAction::parse(name, arg).map(Self::Generation))
            .or_else(|| GalleryAction::parse(name, arg).map(Self::Gallery))
            .or_else(|| AvatarAction::parse(name, arg).map(Self::Avatar))
            .or_else(|| SettingsAction::parse(name, arg).map(Self::Settings))
    }

    /// Examples of every variant, with the longest arguments: the codec's tests walk them.
    #[must_use]
    pub fn examples() -> Vec<Self> {
        let mut all: Vec<Self> = MenuAction::examples().into_iter().map(Self::Menu).collect();
        all.extend(BalanceAction::examples().into_iter().map(Self::Balance));
        all.extend(PaymentsAction::examples().into_iter().map(Self::Payments));
        all.extend(PromoAction::examples().into_iter().map(Self::Promo));
        all.extend(
            GenerationAction::examples()
                .into_iter()
                .map(Self::Generation),
        );
        all.extend(GalleryAction::examples().into_iter().map(Self::Gallery));
        all.extend(AvatarAction::examples().into_iter().map(Self::Avatar));
        all.extend(SettingsAction::examples().into_iter().map(Self::Settings));
        all
    }
}

/// `a:b`, each side parsed by its own rule.
fn two<A, B>(arg: &str, a: fn(&str) -> Option<A>, b: fn(&str) -> Option<B>) -> Option<(A, B)> {
    let (x, y) = arg.split_once(':')?;
    Some((a(x)?, b(y)?))
}

/// A database id: plain decimal digits of a positive i64 (no sign, no spaces, no leading `+`).
pub(super) fn parse_id(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|id| *id > 0)
}

/// A gallery position: decimal digits only, within u32.
pub(super) fn parse_position(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A small index: decimal digits only, within u8.
pub(super) fn parse_index(s: &str) -> Option<u8> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_and_fits() {
        for cb in Callback::examples() {
            let data = cb.encode();
            assert!(
                !data.is_empty() && data.len() <= MAX_BYTES,
                "{data} too long"
            );
            assert_eq!(Callback::parse(&data), Some(cb), "{data}");
        }
    }

    #[test]
    fn old_python_payloads_still_work() {
        let gallery = Some(Callback::Gallery(GalleryAction::Open));
        assert_eq!(Callback::parse("gallery_main"), gallery);
        assert_eq!(Callback::parse("my_gallery"), gallery);
        assert_eq!(
            Callback::parse("back_to_main"),
            Some(Callback::Menu(MenuAction::Main))
        );
        assert_eq!(
            Callback::parse("generation_status:42"),
            Some(Callback::Generation(GenerationAction::Status(
                crate::domain::GenerationId(42)
            )))
        );
        let packages = Some(Callback::Payments(PaymentsAction::Packages));
        assert_eq!(Callback::parse("profile_topup_balance"), packages);
        assert_eq!(Callback::parse("topup_package_2"), packages);
        assert_eq!(
            Callback::parse("profile_balance_info"),
            Some(Callback::Balance(BalanceAction::Show))
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "nope",
            "main_menu:1",
            "generation_status:",
            "generation_status:-1",
            "generation_status:0",
            "generation_status:+5",
            "generation_status: 5",
            "generation_status:99999999999999999999",
            "generation_status:1:2",
            "generation_status:1a",
            "topup:",
            "topup:256",
            "topup:-1",
            "promo:1",
            "gen_go:1",
            "gen_go:1:",
            "gen_go::2",
            "gen_go:1:2:3",
            "gen_avatar:0",
            "regenerate:-3",
            "gen_base:1",
            "gal:",
            "gal:-1",
            "gal:4294967296",
            "gal:1:2",
            "gal_fav:1",
            "gal_fav:0:1",
            "gal_del:1:-1",
            "gal_del_yes::1",
            "gal_prompt:x",
            "galf:1",
            "galf_av:",
            "galf_av:0",
            "galf_av:-2",
            "galf_av:ANY",
            "galf_per:",
            "galf_per:300",
            "galf_ar:x",
            "galf_reset:1",
            "av:-1",
            "av_new:1",
            "av_g:",
            "av_up:0",
            "av_ph:1",
            "av_phdel:x:1",
            "av_del_yes:-5",
            "av_train:1:2",
            "settings:1",
            "gen_style:",
            "gen_style:x",
            "gen_style:-1",
            "gen_styles:1",
            "gen_improve:1",
            "gen_impr",
            "gen_impr:",
            "gen_impr:yes",
            "gen_impr:use",
            "gen_impr:1234567",
            "gen_impr:123456789",
            "gen_impr:ABCDEFG1",
            "gen_impr:+1234567",
            "gen_photo:1",
            "gen_photo_use:x",
            "set_lang:de",
            "set_lang:",
            "set_ar:",
            "set_ar:-1",
            "set_ar:256",
            "set_n:x",
            "set_quick:1",
            &"x".repeat(65),
        ] {
            assert_eq!(Callback::parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any callback data (forged, mutated, any characters) parses without a panic; whatever
        /// parses encodes back to the same action within Telegram's 64 bytes.
        #[test]
        fn any_data_parses_safely(data in "\\PC{0,80}") {
            if let Some(cb) = Callback::parse(&data) {
                let encoded = cb.encode();
                proptest::prop_assert!(encoded.len() <= MAX_BYTES, "{encoded}");
                proptest::prop_assert_eq!(Callback::parse(&encoded), Some(cb));
            }
        }

        /// Mutations of real payloads (a byte changed, cut, or appended) never panic either.
        #[test]
        fn mutated_payloads_parse_safely(
            pick in 0usize..1000,
            at in 0usize..64,
            with in proptest::prelude::any::<char>(),
            cut in proptest::prelude::any::<bool>(),
        ) {
            let examples = Callback::examples();
            let data = examples[pick % examples.len()].encode();
            let mut chars: Vec<char> = data.chars().collect();
            let at = at % (chars.len() + 1);
            if cut {
                chars.truncate(at);
            } else if at < chars.len() {
                chars[at] = with;
            } else {
                chars.push(with);
            }
            let mutated: String = chars.into_iter().collect();
            if let Some(cb) = Callback::parse(&mutated) {
                proptest::prop_assert!(cb.encode().len() <= MAX_BYTES);
            }
        }
    }
}
