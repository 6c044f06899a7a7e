//! Aisha: a Telegram bot that trains a personal AI avatar from a user's photos and generates
//! images with it. This crate is the whole server; `src/main.rs` is only its command line.

pub mod admin;
pub mod app;
pub mod avatar;
pub mod balance;
pub mod bot_api;
pub mod config;
pub mod db;
pub mod dead_letters;
pub mod delivery;
pub mod dialogue;
pub mod dispatch;
pub mod domain;
pub mod gallery;
pub mod generation;
pub mod http;
pub mod i18n;
pub mod jobs;
pub mod kv;
pub mod ledger;
pub mod llm;
pub mod media;
pub mod menu;
pub mod metrics;
pub mod payments;
pub mod promo;
pub mod provider;
pub mod replica;
pub mod sandbox;
pub mod settings;
pub mod state;
pub mod telegram;
pub mod users;

pub use app::Application;
pub use config::Settings;
pub use state::AppState;
