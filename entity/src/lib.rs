//! sea-orm entities shared by the bot and the migration crate. One module per table.

pub mod dialogue_state;
pub mod user;
