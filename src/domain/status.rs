//! Where a generation or an avatar stands. Stored as text (`generations.status`,
//! `avatars.status`); these enums are the one place the words are spelled.

/// A generation's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationStatus {
    /// Charged and with the provider (or about to be): its callback or deadline settles it.
    Pending,
    Completed,
    /// Refunded.
    Failed,
}

impl GenerationStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Completed, Self::Failed];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// An avatar's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvatarStatus {
    /// Created; collecting photos.
    Draft,
    /// Charged and with the trainer.
    Training,
    Ready,
    /// Refunded.
    Failed,
}

impl AvatarStatus {
    pub const ALL: [Self; 4] = [Self::Draft, Self::Training, Self::Ready, Self::Failed];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Training => "training",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// Both statuses are stored as their text: they compare with the column's `String` and bind as
/// a query value directly.
macro_rules! stored_as_text {
    ($($ty:ident),+) => {$(
        impl $ty {
            /// The status a stored text names; `None` for a word this code does not write.
            #[must_use]
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|s| s.as_str() == text)
            }
        }

        impl PartialEq<$ty> for String {
            fn eq(&self, other: &$ty) -> bool {
                self == other.as_str()
            }
        }

        impl From<$ty> for sea_orm::Value {
            fn from(status: $ty) -> Self {
                status.as_str().into()
            }
        }

        impl From<$ty> for String {
            fn from(status: $ty) -> Self {
                status.as_str().to_owned()
            }
        }
    )+};
}

stored_as_text!(GenerationStatus, AvatarStatus);
