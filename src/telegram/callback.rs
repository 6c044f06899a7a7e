//! The callback-data codec: the single source of truth for every inline button's payload.
//!
//! Buttons carry at most 64 bytes. Ids inside are only hints: handlers always re-check that the
//! object belongs to the user pressing the button. Strings used by the Python bot's old messages
//! (`my_gallery`, `gallery_main`, `back_to_main`, `generation_status:<id>`) still parse, so
//! buttons in existing chats keep working.

/// Telegram's limit on `callback_data`, in bytes.
pub const MAX_BYTES: usize = 64;

/// Every action an inline button can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    MainMenu,
    Help,
    CreateImage,
    Avatars,
    Gallery,
    Balance,
    /// Status of one generation; the id is checked against the presser.
    GenerationStatus(i64),
    /// The Stars packages.
    TopUp,
    /// Buy package N (an index into the configured packages; stale indexes re-show the list).
    TopUpPackage(u8),
    /// Start entering a promo code.
    Promo,
    /// Leave whatever input the bot is waiting for.
    CancelInput,
    /// The list of ready avatars to generate with.
    GenAvatars,
    /// Generate with this avatar (checked against the presser).
    GenAvatar(i64),
    /// Generate without an avatar, on the base model.
    GenNoAvatar,
    /// The prompt is in; this aspect ratio (an index into `AspectRatio::ALL`) was picked.
    GenAspect(u8),
    /// Back from the count screen to the sizes.
    GenAspectBack,
    /// Start: aspect ratio index and number of images.
    GenStart(u8, u8),
    /// The gallery card at this position (newest first; out-of-range positions wrap).
    GalleryCard(u32),
    /// ❤️/🤍 on image `id`, shown at a position.
    GalleryFavorite(i64, u32),
    /// 📊 gallery statistics.
    GalleryStats,
    /// 📋 the full prompt of image `id`.
    GalleryPrompt(i64),
    /// 🗑️ asks to confirm deleting image `id`, shown at a position.
    GalleryDelete(i64, u32),
    /// The confirmation: delete image `id`.
    GalleryDeleteConfirmed(i64, u32),
    /// Run a generation of the user's again (same prompt, avatar, size and count; a new seed).
    Regenerate(i64),
    /// 🔍 the gallery's filter screen.
    GalleryFilters,
    /// Favourites only: on/off.
    GalleryFilterFavorites,
    /// The list of avatars to filter by.
    GalleryFilterAvatars,
    /// Filter by this avatar (checked against the presser), by none, or not by avatar.
    GalleryFilterAvatar(AvatarPick),
    /// Period N (an index into `gallery::Period::ALL`; stale indexes re-show the screen).
    GalleryFilterPeriod(u8),
    /// Aspect ratio: 0 any, N the (N-1)th of `AspectRatio::ALL`.
    GalleryFilterAspect(u8),
    /// ♻️ no filter.
    GalleryFilterReset,
    /// The avatar card at this position (newest first; out-of-range positions wrap).
    AvatarCard(u32),
    /// ➕ start creating an avatar.
    AvatarCreate,
    /// The gender of the avatar being created: an index into `avatar::Gender::ALL`.
    AvatarGender(u8),
    /// Go on uploading photos to this draft.
    AvatarUpload(i64),
    /// The photos of draft `id`, one at a time, at a position.
    AvatarPhotos(i64, u32),
    /// Remove photo `id` (shown at a position) from its draft.
    AvatarPhotoDelete(i64, u32),
    /// Close the photo viewer of draft `id`.
    AvatarPhotosDone(i64),
    /// Train this draft (paid).
    AvatarTrain(i64),
    /// Make this avatar the main one.
    AvatarMain(i64),
    AvatarRename(i64),
    /// 🗑️ asks to confirm deleting avatar `id`.
    AvatarDelete(i64),
    AvatarDeleteConfirmed(i64),
}

/// Which avatar's images the gallery shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvatarPick {
    /// Every image.
    Any,
    /// Images made without an avatar.
    Base,
    /// Images of this avatar.
    Avatar(i64),
}

impl Callback {
    /// The payload to put in a button.
    #[must_use]
    pub fn encode(self) -> String {
        match self {
            Self::MainMenu => "main_menu".into(),
            Self::Help => "main_help".into(),
            Self::CreateImage => "generation_menu".into(),
            Self::Avatars => "avatar_menu".into(),
            Self::Gallery => "my_gallery".into(),
            Self::Balance => "balance".into(),
            Self::GenerationStatus(id) => format!("generation_status:{id}"),
            Self::TopUp => "topup".into(),
            Self::TopUpPackage(i) => format!("topup:{i}"),
            Self::Promo => "promo".into(),
            Self::CancelInput => "cancel_input".into(),
            Self::GenAvatars => "gen_avatars".into(),
            Self::GenAvatar(id) => format!("gen_avatar:{id}"),
            Self::GenNoAvatar => "gen_base".into(),
            Self::GenAspect(i) => format!("gen_aspect:{i}"),
            Self::GenAspectBack => "gen_aspects".into(),
            Self::GenStart(aspect, count) => format!("gen_go:{aspect}:{count}"),
            Self::GalleryCard(i) => format!("gal:{i}"),
            Self::GalleryFavorite(id, i) => format!("gal_fav:{id}:{i}"),
            Self::GalleryPrompt(id) => format!("gal_prompt:{id}"),
            Self::GalleryStats => "gal_stats".into(),
            Self::GalleryDelete(id, i) => format!("gal_del:{id}:{i}"),
            Self::GalleryDeleteConfirmed(id, i) => format!("gal_del_yes:{id}:{i}"),
            Self::Regenerate(id) => format!("regenerate:{id}"),
            Self::GalleryFilters => "galf".into(),
            Self::GalleryFilterFavorites => "galf_fav".into(),
            Self::GalleryFilterAvatars => "galf_avs".into(),
            Self::GalleryFilterAvatar(AvatarPick::Any) => "galf_av:any".into(),
            Self::GalleryFilterAvatar(AvatarPick::Base) => "galf_av:base".into(),
            Self::GalleryFilterAvatar(AvatarPick::Avatar(id)) => format!("galf_av:{id}"),
            Self::GalleryFilterPeriod(i) => format!("galf_per:{i}"),
            Self::GalleryFilterAspect(i) => format!("galf_ar:{i}"),
            Self::GalleryFilterReset => "galf_reset".into(),
            Self::AvatarCard(i) => format!("av:{i}"),
            Self::AvatarCreate => "av_new".into(),
            Self::AvatarGender(i) => format!("av_g:{i}"),
            Self::AvatarUpload(id) => format!("av_up:{id}"),
            Self::AvatarPhotos(id, i) => format!("av_ph:{id}:{i}"),
            Self::AvatarPhotoDelete(id, i) => format!("av_phdel:{id}:{i}"),
            Self::AvatarPhotosDone(id) => format!("av_phok:{id}"),
            Self::AvatarTrain(id) => format!("av_train:{id}"),
            Self::AvatarMain(id) => format!("av_main:{id}"),
            Self::AvatarRename(id) => format!("av_ren:{id}"),
            Self::AvatarDelete(id) => format!("av_del:{id}"),
            Self::AvatarDeleteConfirmed(id) => format!("av_del_yes:{id}"),
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
        let simple = match name {
            "main_menu" | "back_to_main" => Some(Self::MainMenu),
            "main_help" => Some(Self::Help),
            "generation_menu" => Some(Self::CreateImage),
            "avatar_menu" => Some(Self::Avatars),
            "my_gallery" | "gallery_main" => Some(Self::Gallery),
            "balance" | "profile_balance_info" | "profile_menu" => Some(Self::Balance),
            "topup" | "profile_topup_balance" | "balance_topup" => Some(Self::TopUp),
            // The Python bot's package buttons priced other packages: show today's list.
            n if n.starts_with("topup_package_") => Some(Self::TopUp),
            "promo" => Some(Self::Promo),
            "cancel_input" => Some(Self::CancelInput),
            "gen_avatars" => Some(Self::GenAvatars),
            "gen_base" => Some(Self::GenNoAvatar),
            "gen_aspects" => Some(Self::GenAspectBack),
            "gal_stats" => Some(Self::GalleryStats),
            "galf" => Some(Self::GalleryFilters),
            "galf_fav" => Some(Self::GalleryFilterFavorites),
            "galf_avs" => Some(Self::GalleryFilterAvatars),
            "galf_reset" => Some(Self::GalleryFilterReset),
            "av_new" => Some(Self::AvatarCreate),
            _ => None,
        };
        match arg {
            None => simple,
            Some(arg) => match name {
                "generation_status" => parse_id(arg).map(Self::GenerationStatus),
                "topup" => parse_index(arg).map(Self::TopUpPackage),
                "gen_avatar" => parse_id(arg).map(Self::GenAvatar),
                "gen_aspect" => parse_index(arg).map(Self::GenAspect),
                "gen_go" => {
                    let (aspect, count) = arg.split_once(':')?;
                    Some(Self::GenStart(parse_index(aspect)?, parse_index(count)?))
                }
                "regenerate" => parse_id(arg).map(Self::Regenerate),
                "gal" => parse_position(arg).map(Self::GalleryCard),
                "gal_prompt" => parse_id(arg).map(Self::GalleryPrompt),
                "galf_av" => match arg {
                    "any" => Some(Self::GalleryFilterAvatar(AvatarPick::Any)),
                    "base" => Some(Self::GalleryFilterAvatar(AvatarPick::Base)),
                    id => parse_id(id).map(|id| Self::GalleryFilterAvatar(AvatarPick::Avatar(id))),
                },
                "av" => parse_position(arg).map(Self::AvatarCard),
                "av_g" => parse_index(arg).map(Self::AvatarGender),
                "av_up" => parse_id(arg).map(Self::AvatarUpload),
                "av_phok" => parse_id(arg).map(Self::AvatarPhotosDone),
                "av_train" => parse_id(arg).map(Self::AvatarTrain),
                "av_main" => parse_id(arg).map(Self::AvatarMain),
                "av_ren" => parse_id(arg).map(Self::AvatarRename),
                "av_del" => parse_id(arg).map(Self::AvatarDelete),
                "av_del_yes" => parse_id(arg).map(Self::AvatarDeleteConfirmed),
                "av_ph" | "av_phdel" => {
                    let (id, position) = arg.split_once(':')?;
                    let (id, position) = (parse_id(id)?, parse_position(position)?);
                    Some(if name == "av_ph" {
                        Self::AvatarPhotos(id, position)
                    } else {
                        Self::AvatarPhotoDelete(id, position)
                    })
                }
                "galf_per" => parse_index(arg).map(Self::GalleryFilterPeriod),
                "galf_ar" => parse_index(arg).map(Self::GalleryFilterAspect),
                "gal_fav" | "gal_del" | "gal_del_yes" => {
                    let (id, position) = arg.split_once(':')?;
                    let (id, position) = (parse_id(id)?, parse_position(position)?);
                    Some(match name {
                        "gal_fav" => Self::GalleryFavorite(id, position),
                        "gal_del" => Self::GalleryDelete(id, position),
                        _ => Self::GalleryDeleteConfirmed(id, position),
                    })
                }
                _ => None,
            },
        }
    }

    /// One example of every variant, with the longest arguments: the codec's tests walk it.
    #[must_use]
    pub fn examples() -> Vec<Self> {
        // Adding a variant breaks this match until the variant gets an example below.
        match Self::MainMenu {
            Self::MainMenu
            | Self::Help
            | Self::CreateImage
            | Self::Avatars
            | Self::Gallery
            | Self::Balance
            | Self::GenerationStatus(_)
            | Self::TopUp
            | Self::TopUpPackage(_)
            | Self::Promo
            | Self::CancelInput
            | Self::GenAvatars
            | Self::GenAvatar(_)
            | Self::GenNoAvatar
            | Self::GenAspect(_)
            | Self::GenAspectBack
            | Self::GenStart(..)
            | Self::GalleryCard(_)
            | Self::GalleryFavorite(..)
            | Self::GalleryPrompt(_)
            | Self::GalleryStats
            | Self::GalleryDelete(..)
            | Self::GalleryDeleteConfirmed(..)
            | Self::Regenerate(_)
            | Self::GalleryFilters
            | Self::GalleryFilterFavorites
            | Self::GalleryFilterAvatars
            | Self::GalleryFilterAvatar(_)
            | Self::GalleryFilterPeriod(_)
            | Self::GalleryFilterAspect(_)
            | Self::GalleryFilterReset
            | Self::AvatarCard(_)
            | Self::AvatarCreate
            | Self::AvatarGender(_)
            | Self::AvatarUpload(_)
            | Self::AvatarPhotos(..)
            | Self::AvatarPhotoDelete(..)
            | Self::AvatarPhotosDone(_)
            | Self::AvatarTrain(_)
            | Self::AvatarMain(_)
            | Self::AvatarRename(_)
            | Self::AvatarDelete(_)
            | Self::AvatarDeleteConfirmed(_) => {}
        }
        vec![
            Self::MainMenu,
            Self::Help,
            Self::CreateImage,
            Self::Avatars,
            Self::Gallery,
            Self::Balance,
            Self::GenerationStatus(i64::MAX),
            Self::GenerationStatus(1),
            Self::TopUp,
            Self::TopUpPackage(0),
            Self::TopUpPackage(u8::MAX),
            Self::Promo,
            Self::CancelInput,
            Self::GenAvatars,
            Self::GenAvatar(i64::MAX),
            Self::GenNoAvatar,
            Self::GenAspect(0),
            Self::GenAspect(u8::MAX),
            Self::GenAspectBack,
            Self::GenStart(u8::MAX, u8::MAX),
            Self::GenStart(0, 1),
            Self::Regenerate(i64::MAX),
            Self::GalleryCard(0),
            Self::GalleryCard(u32::MAX),
            Self::GalleryFavorite(i64::MAX, u32::MAX),
            Self::GalleryPrompt(i64::MAX),
            Self::GalleryStats,
            Self::GalleryDelete(i64::MAX, u32::MAX),
            Self::GalleryDeleteConfirmed(i64::MAX, u32::MAX),
            Self::GalleryFilters,
            Self::GalleryFilterFavorites,
            Self::GalleryFilterAvatars,
            Self::GalleryFilterAvatar(AvatarPick::Any),
            Self::GalleryFilterAvatar(AvatarPick::Base),
            Self::GalleryFilterAvatar(AvatarPick::Avatar(i64::MAX)),
            Self::GalleryFilterPeriod(u8::MAX),
            Self::GalleryFilterAspect(0),
            Self::GalleryFilterReset,
            Self::AvatarCard(u32::MAX),
            Self::AvatarCreate,
            Self::AvatarGender(u8::MAX),
            Self::AvatarUpload(i64::MAX),
            Self::AvatarPhotos(i64::MAX, u32::MAX),
            Self::AvatarPhotoDelete(i64::MAX, u32::MAX),
            Self::AvatarPhotosDone(i64::MAX),
            Self::AvatarTrain(i64::MAX),
            Self::AvatarMain(i64::MAX),
            Self::AvatarRename(i64::MAX),
            Self::AvatarDelete(i64::MAX),
            Self::AvatarDeleteConfirmed(i64::MAX),
        ]
    }
}

/// A database id: plain decimal digits of a positive i64 (no sign, no spaces, no leading `+`).
fn parse_id(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|id| *id > 0)
}

/// A gallery position: decimal digits only, within u32.
fn parse_position(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A small index: decimal digits only, within u8.
fn parse_index(s: &str) -> Option<u8> {
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
        assert_eq!(Callback::parse("gallery_main"), Some(Callback::Gallery));
        assert_eq!(Callback::parse("my_gallery"), Some(Callback::Gallery));
        assert_eq!(Callback::parse("back_to_main"), Some(Callback::MainMenu));
        assert_eq!(
            Callback::parse("generation_status:42"),
            Some(Callback::GenerationStatus(42))
        );
        assert_eq!(
            Callback::parse("profile_topup_balance"),
            Some(Callback::TopUp)
        );
        assert_eq!(Callback::parse("topup_package_2"), Some(Callback::TopUp));
        assert_eq!(
            Callback::parse("profile_balance_info"),
            Some(Callback::Balance)
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
            &"x".repeat(65),
        ] {
            assert_eq!(Callback::parse(bad), None, "{bad:?}");
        }
    }
}
