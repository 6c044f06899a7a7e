//! sea-orm entities shared by the bot and the migration crate. One module per table.

pub mod avatar;
pub mod avatar_photo;
pub mod balance;
pub mod dead_letter;
pub mod delivery;
pub mod dialogue_state;
pub mod gallery_filter;
pub mod generation;
pub mod generation_image;
pub mod invoice;
pub mod ledger;
pub mod llm_usage;
pub mod payment;
pub mod promo_code;
pub mod promo_redemption;
pub mod user;
