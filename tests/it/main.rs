//! The black-box test suite: one binary, so the crate is linked once.
//!
//! Every test starts the real application on port 0 with the sandbox as Telegram, drives it the
//! way Telegram would, and asserts on what the sandbox received and on the database. Tests that
//! take a `Storage` run twice: on the embedded default (SQLite + in-process cache) and on the
//! production path (PostgreSQL + Redis, a database and key prefix of their own).

mod helpers;

mod architecture;
mod avatars;
mod browser;
mod cache;
mod coins;
mod fake_fal;
mod fake_llm;
mod fal;
mod fuzz;
mod gallery;
mod generation;
mod generation_fal;
mod health;
mod hostile;
mod kv;
mod menu;
mod payments;
mod prompt_help;
mod replicas;
mod sandbox;
mod settings;
mod shutdown;
mod webhook;
