//! Ids that must not be mistaken for each other. Rows keep plain integers (the entities are
//! sea-orm's); the APIs that take an id say which one, so passing a Telegram id where a user's
//! row id belongs (both were bare `i64`) no longer compiles.

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for sea_orm::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }
    };
}

id!(
    /// A row of `users`: who owns coins, generations and avatars (`users.id`).
    UserId
);
id!(
    /// A Telegram user's id (`users.telegram_id`): who is talking; their private chat with the
    /// bot has the same id. Dialogue state is kept by it.
    TelegramId
);
id!(
    /// A row of `generations`.
    GenerationId
);
id!(
    /// A row of `avatars`.
    AvatarId
);
