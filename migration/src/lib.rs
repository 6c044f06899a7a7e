//! Schema migrations, applied at start-up and by `aisha migrate`.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261124_000001_users;
mod m20261124_000002_coins;
mod m20261124_000003_generations;
mod m20261124_000004_gallery;
mod m20261124_000005_gallery_filters;
mod m20261124_000006_avatar_training;
mod m20261124_000007_generation_start_key;
mod m20261128_000008_database_identity;
mod m20261128_000009_delivery_owner;
mod m20261128_000010_photo_source;
mod m20261128_000011_user_settings;
mod m20261128_000012_generation_style;
mod m20261128_000013_gallery_filter_style;
mod m20261128_000014_prompt_help;
mod m20261128_000015_dead_letters;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_users::Migration),
            Box::new(m20261124_000002_coins::Migration),
            Box::new(m20261124_000003_generations::Migration),
            Box::new(m20261124_000004_gallery::Migration),
            Box::new(m20261124_000005_gallery_filters::Migration),
            Box::new(m20261124_000006_avatar_training::Migration),
            Box::new(m20261124_000007_generation_start_key::Migration),
            Box::new(m20261128_000008_database_identity::Migration),
            Box::new(m20261128_000009_delivery_owner::Migration),
            Box::new(m20261128_000010_photo_source::Migration),
            Box::new(m20261128_000011_user_settings::Migration),
            Box::new(m20261128_000012_generation_style::Migration),
            Box::new(m20261128_000013_gallery_filter_style::Migration),
            Box::new(m20261128_000014_prompt_help::Migration),
            Box::new(m20261128_000015_dead_letters::Migration),
        ]
    }
}
