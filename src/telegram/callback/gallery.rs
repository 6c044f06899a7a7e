//! Buttons of the gallery card and its filter screens. Handlers: `gallery` and
//! `gallery::filter`.

use super::{Arg, parse_id, parse_index, parse_position, two};

use crate::domain::AvatarId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GalleryAction {
    /// 🖼️ the gallery from its newest image → `gallery::show`.
    Open,
    /// The card at this position (newest first; out-of-range positions wrap) → `gallery::show`.
    Card(u32),
    /// ❤️/🤍 on image `id`, shown at a position → `gallery::favorite`.
    Favorite(i64, u32),
    /// 📊 gallery statistics → `gallery::stats`.
    Stats,
    /// 📋 the full prompt of image `id` → `gallery::prompt`.
    Prompt(i64),
    /// 🗑️ asks to confirm deleting image `id`, shown at a position → `gallery::delete`.
    Delete(i64, u32),
    /// The confirmation: delete image `id` → `gallery::delete_confirmed`.
    DeleteConfirmed(i64, u32),
    /// 🔍 the filter screen → `filter::show`.
    Filters,
    /// Favourites only: on/off → `filter::change`.
    FilterFavorites,
    /// The list of avatars to filter by → `filter::pick_avatar`.
    FilterAvatars,
    /// Filter by this avatar (checked against the presser), by none, or not by avatar →
    /// `filter::change`.
    FilterAvatar(AvatarPick),
    /// Period N (an index into `Period::ALL`; stale indexes re-show the screen) →
    /// `filter::change`.
    FilterPeriod(u8),
    /// Aspect ratio: 0 any, N the (N-1)th of `AspectRatio::ALL` → `filter::change`.
    FilterAspect(u8),
    /// ♻️ no filter → `filter::reset`.
    FilterReset,
    /// The list of styles to filter by → `filter::pick_style`.
    FilterStyles,
    /// Style: 0 any, N the (N-1)th of `[[styles]]` → `filter::change`.
    FilterStyle(u8),
}

/// Which avatar's images the gallery shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvatarPick {
    /// Every image.
    Any,
    /// Images made without an avatar.
    Base,
    /// Images of this avatar.
    Avatar(AvatarId),
}

impl GalleryAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::Open => "my_gallery".into(),
            Self::Card(i) => format!("gal:{i}"),
            Self::Favorite(id, i) => format!("gal_fav:{id}:{i}"),
            Self::Prompt(id) => format!("gal_prompt:{id}"),
            Self::Stats => "gal_stats".into(),
            Self::Delete(id, i) => format!("gal_del:{id}:{i}"),
            Self::DeleteConfirmed(id, i) => format!("gal_del_yes:{id}:{i}"),
            Self::Filters => "galf".into(),
            Self::FilterFavorites => "galf_fav".into(),
            Self::FilterAvatars => "galf_avs".into(),
            Self::FilterAvatar(AvatarPick::Any) => "galf_av:any".into(),
            Self::FilterAvatar(AvatarPick::Base) => "galf_av:base".into(),
            Self::FilterAvatar(AvatarPick::Avatar(id)) => format!("galf_av:{id}"),
            Self::FilterPeriod(i) => format!("galf_per:{i}"),
            Self::FilterAspect(i) => format!("galf_ar:{i}"),
            Self::FilterReset => "galf_reset".into(),
            Self::FilterStyles => "galf_sts".into(),
            Self::FilterStyle(i) => format!("galf_st:{i}"),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        match (name, arg) {
            ("my_gallery" | "gallery_main", None) => Some(Self::Open),
            ("gal_stats", None) => Some(Self::Stats),
            ("galf", None) => Some(Self::Filters),
            ("galf_fav", None) => Some(Self::FilterFavorites),
            ("galf_avs", None) => Some(Self::FilterAvatars),
            ("galf_reset", None) => Some(Self::FilterReset),
            ("galf_sts", None) => Some(Self::FilterStyles),
            ("galf_st", Some(arg)) => parse_index(arg).map(Self::FilterStyle),
            ("gal", Some(arg)) => parse_position(arg).map(Self::Card),
            ("gal_prompt", Some(arg)) => parse_id(arg).map(Self::Prompt),
            ("galf_av", Some("any")) => Some(Self::FilterAvatar(AvatarPick::Any)),
            ("galf_av", Some("base")) => Some(Self::FilterAvatar(AvatarPick::Base)),
            ("galf_av", Some(id)) => {
                parse_id(id).map(|id| Self::FilterAvatar(AvatarPick::Avatar(AvatarId(id))))
            }
            ("galf_per", Some(arg)) => parse_index(arg).map(Self::FilterPeriod),
            ("galf_ar", Some(arg)) => parse_index(arg).map(Self::FilterAspect),
            ("gal_fav" | "gal_del" | "gal_del_yes", Some(arg)) => {
                let (id, position) = two(arg, parse_id, parse_position)?;
                Some(match name {
                    "gal_fav" => Self::Favorite(id, position),
                    "gal_del" => Self::Delete(id, position),
                    _ => Self::DeleteConfirmed(id, position),
                })
            }
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        vec![
            Self::Open,
            Self::Card(0),
            Self::Card(u32::MAX),
            Self::Favorite(i64::MAX, u32::MAX),
            Self::Prompt(i64::MAX),
            Self::Stats,
            Self::Delete(i64::MAX, u32::MAX),
            Self::DeleteConfirmed(i64::MAX, u32::MAX),
            Self::Filters,
            Self::FilterFavorites,
            Self::FilterAvatars,
            Self::FilterAvatar(AvatarPick::Any),
            Self::FilterAvatar(AvatarPick::Base),
            Self::FilterAvatar(AvatarPick::Avatar(AvatarId(i64::MAX))),
            Self::FilterPeriod(u8::MAX),
            Self::FilterAspect(0),
            Self::FilterReset,
            Self::FilterStyles,
            Self::FilterStyle(u8::MAX),
        ]
    }
}
