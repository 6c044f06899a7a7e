//! Buttons of the avatar screens. Handlers: `avatar::screens`.

use super::{Arg, parse_id, parse_index, parse_position, two};

use crate::domain::AvatarId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvatarAction {
    /// 🎭 the avatars from the newest; ends a name, gender, rename or photo step →
    /// `screens::on_callback`.
    List,
    /// The avatar card at this position (newest first; out-of-range positions wrap) →
    /// `screens::show`.
    Card(u32),
    /// ➕ start creating an avatar → `screens::create`.
    Create,
    /// The gender of the avatar being created: an index into `Gender::ALL` →
    /// `screens::on_gender`.
    Gender(u8),
    /// Go on uploading photos to this draft → `screens::upload`.
    Upload(AvatarId),
    /// The photos of draft `id`, one at a time, at a position → `screens::view_photos`.
    Photos(AvatarId, u32),
    /// Remove photo `id` (shown at a position) from its draft → `screens::delete_photo`.
    PhotoDelete(i64, u32),
    /// Close the photo viewer of draft `id` → `screens::photos_done`.
    PhotosDone(AvatarId),
    /// Train this draft (paid) → `screens::train`.
    Train(AvatarId),
    /// ⭐ make this avatar the main one → `screens::make_main`.
    MakeMain(AvatarId),
    /// ✏️ rename → `screens::rename`.
    Rename(AvatarId),
    /// 🗑️ asks to confirm deleting avatar `id` → `screens::delete`.
    Delete(AvatarId),
    /// The confirmation → `screens::delete_confirmed`.
    DeleteConfirmed(AvatarId),
}

impl AvatarAction {
    pub(super) fn encode(self) -> String {
        match self {
            Self::List => "avatar_menu".into(),
            Self::Card(i) => format!("av:{i}"),
            Self::Create => "av_new".into(),
            Self::Gender(i) => format!("av_g:{i}"),
            Self::Upload(id) => format!("av_up:{id}"),
            Self::Photos(id, i) => format!("av_ph:{id}:{i}"),
            Self::PhotoDelete(id, i) => format!("av_phdel:{id}:{i}"),
            Self::PhotosDone(id) => format!("av_phok:{id}"),
            Self::Train(id) => format!("av_train:{id}"),
            Self::MakeMain(id) => format!("av_main:{id}"),
            Self::Rename(id) => format!("av_ren:{id}"),
            Self::Delete(id) => format!("av_del:{id}"),
            Self::DeleteConfirmed(id) => format!("av_del_yes:{id}"),
        }
    }

    pub(super) fn parse(name: &str, arg: Arg<'_>) -> Option<Self> {
        let Some(arg) = arg else {
            return match name {
                "avatar_menu" => Some(Self::List),
                "av_new" => Some(Self::Create),
                _ => None,
            };
        };
        match name {
            "av" => parse_position(arg).map(Self::Card),
            "av_g" => parse_index(arg).map(Self::Gender),
            "av_up" => parse_id(arg).map(|id| Self::Upload(AvatarId(id))),
            "av_phok" => parse_id(arg).map(|id| Self::PhotosDone(AvatarId(id))),
            "av_train" => parse_id(arg).map(|id| Self::Train(AvatarId(id))),
            "av_main" => parse_id(arg).map(|id| Self::MakeMain(AvatarId(id))),
            "av_ren" => parse_id(arg).map(|id| Self::Rename(AvatarId(id))),
            "av_del" => parse_id(arg).map(|id| Self::Delete(AvatarId(id))),
            "av_del_yes" => parse_id(arg).map(|id| Self::DeleteConfirmed(AvatarId(id))),
            "av_ph" => {
                two(arg, parse_id, parse_position).map(|(id, i)| Self::Photos(AvatarId(id), i))
            }
            "av_phdel" => {
                two(arg, parse_id, parse_position).map(|(id, i)| Self::PhotoDelete(id, i))
            }
            _ => None,
        }
    }

    pub(super) fn examples() -> Vec<Self> {
        vec![
            Self::List,
            Self::Card(u32::MAX),
            Self::Create,
            Self::Gender(u8::MAX),
            Self::Upload(AvatarId(i64::MAX)),
            Self::Photos(AvatarId(i64::MAX), u32::MAX),
            Self::PhotoDelete(i64::MAX, u32::MAX),
            Self::PhotosDone(AvatarId(i64::MAX)),
            Self::Train(AvatarId(i64::MAX)),
            Self::MakeMain(AvatarId(i64::MAX)),
            Self::Rename(AvatarId(i64::MAX)),
            Self::Delete(AvatarId(i64::MAX)),
            Self::DeleteConfirmed(AvatarId(i64::MAX)),
        ]
    }
}
