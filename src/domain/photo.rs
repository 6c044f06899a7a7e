//! Photos a user sends for an avatar: the rules they must meet, and why one was refused.

/// Why a photo was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoRefusal {
    NotImage,
    TooBig,
    TooSmall { width: u32, height: u32 },
    Duplicate,
    Full,
}

/// What an avatar's photos must be (from the settings), as the refusals quote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhotoRules {
    pub min_photos: u32,
    pub max_photos: u32,
    pub max_photo_bytes: u64,
    pub min_side: u32,
}
