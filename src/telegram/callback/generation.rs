//! Buttons of the 🎨 flow and under results. Handlers: `generation::flow`.

use super::{Arg, parse_id, parse_index, two};
use crate::domain::{AvatarId, GenerationId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationAction {
    /// 🎨 start: the prompt screen with the main avatar → `flow::open`.
    Open,
    /// 📊 status of one generation (checked against the presser) → `flow::status`.
    Status(GenerationId),
    /// The list of ready avatars to generate with → `flow::pick_avatar`.
    Avatars,
    /// Generate with this avatar (checked against the presser) → `flow::open`.
    Avatar(AvatarId),
    /// Generate without an avatar, on the base model → `flow::open`.
    NoAvatar,
    /// The prompt is in; this aspect ratio (an index into `AspectRatio::ALL`) was picked →
    /// `flow::on_aspect`.
    Aspect(u8),
    /// Back from the count screen to the sizes → `flow::back_to_aspect`.
    AspectBack,
    /// Start: aspect ratio index and number of images → `flow::on_start`.
    Start(u8, u8),
    /// 🎨 the style presets for the stored prompt → `flow::styles`.
    Styles,
    /// A style picked (an index into `[[styles]]`), or none → `flow::on_style`.
    Style(Option<u8>),
    /// ✨ ask the LLM for a richer prompt → `flow::prompt_help::improve`.
    Improve,
    /// ✨ the improved prompt shown (a tag of its text) or the user's own (`None`) →
    /// `flow::prompt_help::on_improved`.
    UseImproved(Option<u32>),
    /// 📷 how to make a prompt from a photo → `flow::on_callback`.
    PhotoHint,
    /// 📷 use the prompt made of the photo → `flow::prompt_help::use_described`.
    UseDescribed,
    /// 🔄 run a generation of the user's again (same prompt, avatar, size and count; a new
    /// seed) → `flow::regenerate`.
    Regenerate(GenerationId),
}

impl GenerationAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::Open => "generation_menu".into(),
            Self::Status(id) => format!("generation_status:{id}"),
            Self::Avatars => "gen_avatars".into(),
            Self::Avatar(id) => format!("gen_avatar:{id}"),
            Self::NoAvatar => "gen_base".into(),
            Self::Aspect(i) => format!("gen_aspect:{i}"),
            Self::AspectBack => "gen_aspects".into(),
            Self::Start(aspect, count) => format!("gen_go:{aspect}:{count}"),
            Self::Regenerate(id) => format!("regenerate:{id}"),
            Self::Styles => "gen_styles".into(),
            Self::Style(None) => "gen_style:-".into(),
            Self::Style(Some(i)) => format!("gen_style:{i}"),
            Self::Improve => "gen_improve".into(),
            Self::UseImproved(Some(tag)) => format!("gen_impr:{tag:08x}"),
            Self::UseImproved(None) => "gen_impr:keep".into(),
            Self::PhotoHint => "gen_photo".into(),
            Self::UseDescribed => "gen_photo_use".into(),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        match (name, arg) {
            ("generation_menu", None) => Some(Self::Open),
            ("gen_avatars", None) => Some(Self::Avatars),
            ("gen_base", None) => Some(Self::NoAvatar),
            ("gen_aspects", None) => Some(Self::AspectBack),
            ("generation_status", Some(arg)) => {
                parse_id(arg).map(|id| Self::Status(GenerationId(id)))
            }
            ("gen_avatar", Some(arg)) => parse_id(arg).map(|id| Self::Avatar(AvatarId(id))),
            ("gen_aspect", Some(arg)) => parse_index(arg).map(Self::Aspect),
            ("gen_go", Some(arg)) => {
                let (aspect, count) = two(arg, parse_index, parse_index)?;
                Some(Self::Start(aspect, count))
            }
            ("regenerate", Some(arg)) => parse_id(arg).map(|id| Self::Regenerate(GenerationId(id))),
            ("gen_styles", None) => Some(Self::Styles),
            ("gen_style", Some("-")) => Some(Self::Style(None)),
            ("gen_style", Some(arg)) => parse_index(arg).map(|i| Self::Style(Some(i))),
            ("gen_improve", None) => Some(Self::Improve),
            ("gen_impr", Some("keep")) => Some(Self::UseImproved(None)),
            ("gen_impr", Some(tag))
                if tag.len() == 8
                    && tag
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                u32::from_str_radix(tag, 16)
                    .ok()
                    .map(|t| Self::UseImproved(Some(t)))
            }
            ("gen_photo", None) => Some(Self::PhotoHint),
            ("gen_photo_use", None) => Some(Self::UseDescribed),
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        vec![
            Self::Open,
            Self::Status(GenerationId(i64::MAX)),
            Self::Status(GenerationId(1)),
            Self::Avatars,
            Self::Avatar(AvatarId(i64::MAX)),
            Self::NoAvatar,
            Self::Aspect(0),
            Self::Aspect(u8::MAX),
            Self::AspectBack,
            Self::Start(u8::MAX, u8::MAX),
            Self::Start(0, 1),
            Self::Regenerate(GenerationId(i64::MAX)),
            Self::Styles,
            Self::Style(None),
            Self::Style(Some(u8::MAX)),
            Self::Improve,
            Self::UseImproved(Some(0)),
            Self::UseImproved(Some(u32::MAX)),
            Self::UseImproved(None),
            Self::PhotoHint,
            Self::UseDescribed,
        ]
    }
}
