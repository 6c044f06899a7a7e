//! sea-orm entities shared by the bot and the migration crate. One module per table.

pub mod balance;
pub mod dialogue_state;
pub mod invoice;
pub mod ledger;
pub mod payment;
pub mod promo_code;
pub mod promo_redemption;
pub mod user;
