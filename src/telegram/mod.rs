//! Telegram primitives every feature uses: the Bot API client, the handler context, the
//! callback-data codec, keyboards, screen helpers, errors and the webhook set-up commands.
//! (Routing updates to features is the dispatcher, `src/dispatch.rs`, above all of them.)

pub mod callback;
pub mod ctx;
pub mod error;
pub mod keyboards;
pub mod setup;
pub mod ui;

use teloxide::Bot;
use url::Url;

/// A Bot API client on the shared HTTP client. `api_url` must have no trailing slash: teloxide
/// appends `bot<token>/<Method>` as path segments.
pub fn bot(token: &str, api_url: &Url, client: reqwest::Client) -> Bot {
    let mut url = api_url.clone();
    if url.path().ends_with('/') && url.path() != "/" {
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
    }
    Bot::with_client(token, client).set_api_url(url)
}
