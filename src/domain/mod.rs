//! Domain types: the words the rest of the code speaks, with no storage, transport or text in
//! them. Everything above imports these; they import nothing of the crate.

mod coins;
mod gallery;
mod ids;
mod job;
mod photo;
mod status;
mod text;

pub use coins::{Coins, LedgerKind};
pub use gallery::Period;
pub use ids::{AvatarId, GenerationId, TelegramId, UserId};
pub use job::{FailReason, MAX_IMAGES};
pub use photo::{PhotoRefusal, PhotoRules};
pub use status::{AvatarStatus, GenerationStatus};
pub use text::{AvatarName, Prompt};
