//! The playground: a chat page over the sandbox, for trying the bot in a browser.
//!
//! `GET /` serves one HTML page; its CSS and JS are compiled into the binary (no CDN, no build
//! step). The page uses the sandbox's own JSON endpoints to act as users, and
//! `GET /sandbox/events` (server-sent events) to learn when a chat or the call log changed.

use std::sync::Arc;

use axum::extract::{Path, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::{JsonError, Shared};

const INDEX: &str = include_str!("ui/index.html");
const CSS: &str = include_str!("ui/app.css");
const JS: &str = include_str!("ui/app.js");

/// `GET /`: the chat page.
pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// `GET /sandbox/ui/{asset}`: the page's stylesheet and script.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return JsonError::new(StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /sandbox/events`: one `data:` line of JSON per change; `{"kind":"resync"}` when this
/// viewer fell behind and should reload everything.
pub(crate) async fn events(
    AxState(sh): AxState<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = sh.events.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) => json!({"kind": "resync"}),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().data(event.to_string())), rx))
    });
    // The first event tells the page it is connected (and to load what it missed).
    let hello = futures::stream::once(async { Ok(Event::default().data(r#"{"kind":"resync"}"#)) });
    Sse::new(futures::StreamExt::chain(hello, stream)).keep_alive(KeepAlive::default())
}

/// `GET /sandbox/files/{file_id}`: the bytes of a photo or file in a chat (sent by a user or
/// uploaded by the bot), with its image type.
pub(crate) async fn file(
    AxState(sh): AxState<Arc<Shared>>,
    Path(file_id): Path<String>,
) -> Response {
    let found = sh.lock().uploads.get(&file_id).map(|u| u.bytes.clone());
    let Some(bytes) = found else {
        return JsonError::new(StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let kind = if bytes.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else {
        "application/octet-stream"
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
    ];
    (headers, bytes).into_response()
}
