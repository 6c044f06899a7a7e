//! The bot-facing half: `/sandbox/bot<token>/<method>`.
//!
//! Each supported method validates its parameters with Telegram's real error
//! texts, so bugs that production would reject (too long text, broken HTML,
//! oversized callback data, no-op edits, double answers) surface in tests.
//! Fault injection and optional flood limits let tests exercise retry paths.
//! Telegram Stars invoices follow the XTR rules (no provider token, exactly
//! one price), and pre-checkout answers and refunds are accepted only once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::params::{self, Params};
use super::text::{self, Formatted, utf16_len};
use super::{ApiError, Invoice, Msg, Photo, Shared, State, Upload, Webhook};

/// Supported methods in Telegram's spelling (lookup is case-insensitive).
const METHODS: &str = "getMe sendMessage editMessageText editMessageCaption editMessageMedia \
    editMessageReplyMarkup deleteMessage sendPhoto sendMediaGroup sendChatAction \
    answerCallbackQuery setMyCommands getMyCommands setWebhook deleteWebhook getWebhookInfo \
    sendInvoice answerPreCheckoutQuery refundStarPayment getFile";

/// Bots may download files up to this size (getFile refuses larger ones).
const DOWNLOAD_LIMIT: u64 = 20 * 1024 * 1024;

const CHAT_ACTIONS: &str = "typing upload_photo record_video upload_video record_voice \
    upload_voice upload_document choose_sticker find_location record_video_note upload_video_note";

const QUERY_TOO_OLD: &str = "query is too old and response timeout expired or query ID is invalid";

const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply \
    markup are exactly the same as a current content and reply markup of the message";

pub(crate) async fn handle(
    AxState(sh): AxState<Arc<Shared>>,
    Path((bot_token, method)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let canonical = METHODS
        .split_whitespace()
        .find(|m| m.eq_ignore_ascii_case(&method));
    let (chat_id, params, result) =
        process(&sh, &bot_token, canonical, uri.query(), &headers, body).await;
    let err = result.as_ref().err();
    let method = canonical.unwrap_or(&method);
    sh.lock().calls.push(json!({
        "method": method,
        "ok": err.is_none(),
        "error_code": err.map(|e| e.code),
        "description": err.map(|e| &e.description),
        "chat_id": chat_id,
        "params": params,
        "result": result.as_ref().ok(),
    }));
    sh.notify(json!({"kind": "call", "method": method, "chat_id": chat_id}));
    match result {
        Ok(value) => Json(json!({ "ok": true, "result": value })).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(e.body())).into_response()
        }
    }
}

/// Runs one call; also returns the `chat_id` it targeted and its parameters, for the call log.
async fn process(
    sh: &Shared,
    bot_token: &str,
    method: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> (Option<i64>, Value, Result<Value, ApiError>) {
    if bot_token.strip_prefix("bot") != Some(sh.token.as_str()) {
        return (None, Value::Null, Err(ApiError::new(401, "Unauthorized")));
    }
    let Some(method) = method else {
        return (None, Value::Null, Err(ApiError::not_found()));
    };
    let p = match params::parse(headers, query, body).await {
        Ok(p) => p,
        Err(e) => return (None, Value::Null, Err(e)),
    };
    let chat_id = p.i64("chat_id");
    if let Err(e) = apply_fault(sh, method).await {
        return (chat_id, p.summary(), Err(e));
    }
    (chat_id, p.summary(), dispatch(sh, method, &p))
}

/// Consumes the first queued fault for `method`; sleeps without holding the lock.
async fn apply_fault(sh: &Shared, method: &str) -> Result<(), ApiError> {
    let fault = {
        let mut st = sh.lock();
        let idx = st
            .faults
            .iter()
            .position(|f| f.method.eq_ignore_ascii_case(method) || f.method == "*");
        idx.map(|i| {
            let f = &mut st.faults[i];
            f.times -= 1;
            let taken = f.clone();
            if f.times == 0 {
                st.faults.remove(i);
            }
            taken
        })
    };
    let Some(f) = fault else { return Ok(()) };
    if f.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
    }
    match f.error_code {
        None => Ok(()),
        Some(429) => {
            let mut e = ApiError::too_many(f.retry_after.unwrap_or(1));
            if let Some(d) = f.description {
                e.description = d;
            }
            Err(e)
        }
        Some(code) => {
            let description = f.description.unwrap_or_else(|| match code {
                400 => "Bad Request: injected fault".into(),
                403 => "Forbidden: bot was blocked by the user".into(),
                500..=599 => "Internal Server Error".into(),
                _ => format!("Error {code}"),
            });
            Err(ApiError {
                retry_after: f.retry_after,
                ..ApiError::new(code, description)
            })
        }
    }
}

fn dispatch(sh: &Shared, method: &str, p: &Params) -> Result<Value, ApiError> {
    match method {
        "getMe" => {
            // A typical production bot: joinable, privacy mode on, no extras.
            let mut me = sh.bot_user();
            let flags = "can_read_all_group_messages supports_inline_queries \
                can_connect_to_business has_main_web_app";
            for flag in flags.split_whitespace() {
                me[flag] = json!(false);
            }
            me["can_join_groups"] = json!(true);
            Ok(me)
        }
        "sendMessage" => send_message(sh, p),
        "sendPhoto" => send_photo(sh, p),
        "sendMediaGroup" => send_media_group(sh, p),
        "editMessageText"
        | "editMessageCaption"
        | "editMessageMedia"
        | "editMessageReplyMarkup" => edit(sh, method, p),
        "deleteMessage" => {
            let (chat_id, message_id) = (chat_id(p)?, message_id(p)?);
            let mut st = sh.lock();
            let msg = chat_mut(&mut st, chat_id)?.find_mut(message_id);
            msg.ok_or_else(|| ApiError::bad("message to delete not found"))?
                .deleted = true;
            Ok(json!(true))
        }
        "sendChatAction" => {
            let chat_id = chat_id(p)?;
            let action = p.str("action").unwrap_or_default();
            if !CHAT_ACTIONS.split_whitespace().any(|a| a == action) {
                return Err(ApiError::bad("wrong parameter action in request"));
            }
            chat_mut(&mut sh.lock(), chat_id)?.chat_actions.push(action);
            Ok(json!(true))
        }
        "answerCallbackQuery" => answer_callback(sh, p),
        "sendInvoice" => send_invoice(sh, p),
        "answerPreCheckoutQuery" => answer_pre_checkout(sh, p),
        "refundStarPayment" => refund_star_payment(sh, p),
        "setMyCommands" => set_my_commands(sh, p),
        "getMyCommands" => {
            let (scope, lang) = commands_key(p)?;
            let st = sh.lock();
            let current = st
                .commands
                .iter()
                .rev()
                .find(|c| c["scope"] == scope && c["language_code"] == lang);
            Ok(current.map_or(json!([]), |c| c["commands"].clone()))
        }
        "getFile" => get_file(sh, p),
        "setWebhook" => set_webhook(sh, p),
        "deleteWebhook" => {
            sh.lock().webhook = None;
            Ok(json!(true))
        }
        "getWebhookInfo" => {
            let st = sh.lock();
            let mut info =
                json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0});
            if let Some(w) = &st.webhook {
                info["url"] = json!(w.url);
                info["max_connections"] = json!(w.max_connections);
                if let Some(a) = &w.allowed_updates {
                    info["allowed_updates"] = json!(a);
                }
            }
            Ok(info)
        }
        _ => Err(ApiError::not_found()),
    }
}

fn chat_id(p: &Params) -> Result<i64, ApiError> {
    match p.str("chat_id") {
        None => Err(ApiError::bad("chat_id is empty")),
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| ApiError::bad("chat not found")),
    }
}

fn message_id(p: &Params) -> Result<i64, ApiError> {
    p.i64("message_id")
        .ok_or_else(|| ApiError::bad("message identifier is not specified"))
}

fn chat_mut(st: &mut State, id: i64) -> Result<&mut super::Chat, ApiError> {
    st.chats
        .get_mut(&id)
        .ok_or_else(|| ApiError::bad("chat not found"))
}

/// Message text from `key` (+ `parse_mode`, entities), checked against `max`
/// UTF-16 units. Edits report overflow as `MESSAGE_TOO_LONG`, like Telegram.
fn formatted(
    p: &Params,
    key: &str,
    entities_key: &str,
    max: usize,
    edit: bool,
) -> Result<Option<Formatted>, ApiError> {
    let Some(raw) = p.str(key) else {
        return Ok(None);
    };
    let entities = p.json(entities_key, "can't parse entities JSON object")?;
    let f = text::format(&raw, p.str("parse_mode").as_deref(), entities)?;
    if f.as_ref().is_some_and(|f| utf16_len(&f.text) > max) {
        let what = match (edit, key) {
            (true, _) => "MESSAGE_TOO_LONG",
            (false, "text") => "message is too long",
            (false, _) => "message caption is too long",
        };
        return Err(ApiError::bad(what));
    }
    Ok(f)
}

fn message_text(p: &Params, edit: bool) -> Result<Formatted, ApiError> {
    let text = formatted(p, "text", "entities", 4096, edit)?;
    text.ok_or_else(|| ApiError::bad("message text is empty"))
}

fn caption(p: &Params, edit: bool) -> Result<Option<Formatted>, ApiError> {
    formatted(p, "caption", "caption_entities", 1024, edit)
}

/// The inline keyboard rows of `reply_markup`; other keyboard kinds are
/// accepted but not shown on the message (as in Telegram).
fn keyboard(p: &Params) -> Result<Option<Value>, ApiError> {
    const INVALID_MARKUP: &str = "can't parse reply keyboard markup JSON object";
    let invalid = || ApiError::bad(INVALID_MARKUP);
    let Some(markup) = p.json("reply_markup", INVALID_MARKUP)? else {
        return Ok(None);
    };
    let Some(rows) = markup.get("inline_keyboard") else {
        return if markup.is_object() {
            Ok(None)
        } else {
            Err(invalid())
        };
    };
    let rows = rows.as_array().ok_or_else(invalid)?;
    for row in rows {
        for button in row.as_array().ok_or_else(invalid)? {
            if !button.get("text").is_some_and(Value::is_string) {
                return Err(ApiError::bad(
                    "can't parse inline keyboard button: Text must be a String",
                ));
            }
            if let Some(data) = button.get("callback_data") {
                let len = data.as_str().map_or(0, str::len);
                if !(1..=64).contains(&len) {
                    return Err(ApiError::bad("BUTTON_DATA_INVALID"));
                }
            }
            const ACTIONS: &str = "url callback_data web_app login_url switch_inline_query \
                switch_inline_query_current_chat switch_inline_query_chosen_chat copy_text \
                callback_game pay";
            if !ACTIONS.split_whitespace().any(|k| button.get(k).is_some()) {
                return Err(ApiError::bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                ));
            }
        }
    }
    let empty = rows.iter().all(|r| r.as_array().is_none_or(Vec::is_empty));
    Ok((!empty).then(|| json!(rows)))
}

/// Flood control for the send family: 1 message/s per chat, 30/s overall.
fn check_flood(sh: &Shared, st: &mut State, chat_id: i64) -> Result<(), ApiError> {
    let now = Instant::now();
    let second = Duration::from_secs(1);
    while st
        .recent_sends
        .front()
        .is_some_and(|t| now.duration_since(*t) >= second)
    {
        st.recent_sends.pop_front();
    }
    if sh.rate_limits.load(Ordering::Relaxed) {
        if st.recent_sends.len() >= 30 {
            return Err(ApiError::too_many(1));
        }
        let last = st.chats.get(&chat_id).and_then(|c| c.last_send);
        if let Some(wait) = last.and_then(|t| second.checked_sub(now.duration_since(t))) {
            return Err(ApiError::too_many(wait.as_secs_f64().ceil().max(1.0) as u64));
        }
    }
    st.recent_sends.push_back(now);
    if let Some(chat) = st.chats.get_mut(&chat_id) {
        chat.last_send = Some(now);
    }
    Ok(())
}

/// Appends bot messages to a chat after the flood check; returns their JSON.
fn post(sh: &Shared, st: &mut State, chat_id: i64, msgs: Vec<Msg>) -> Result<Value, ApiError> {
    chat_mut(st, chat_id)?;
    check_flood(sh, st, chat_id)?;
    let (chat, bot) = (chat_mut(st, chat_id)?, sh.bot_user());
    let sent = msgs.into_iter().map(|m| {
        let m = chat
            .push(Msg {
                from_bot: true,
                ..m
            })
            .clone();
        m.to_json(chat, &bot)
    });
    Ok(Value::Array(sent.collect()))
}

fn send_message(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let (chat_id, text, keyboard) = (chat_id(p)?, message_text(p, false)?, keyboard(p)?);
    let msg = Msg {
        text: Some(text),
        keyboard,
        ..Msg::default()
    };
    Ok(post(sh, &mut sh.lock(), chat_id, vec![msg])?[0].take())
}

fn send_photo(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let (chat_id, caption, keyboard) = (chat_id(p)?, caption(p, false)?, keyboard(p)?);
    let mut st = sh.lock();
    chat_mut(&mut st, chat_id)?;
    let photo = Some(resolve_photo(&mut st, p, p.str("photo"), "photo")?);
    let msg = Msg {
        photo,
        caption,
        keyboard,
        ..Msg::default()
    };
    Ok(post(sh, &mut st, chat_id, vec![msg])?[0].take())
}

/// An `InputMediaPhoto` object: its photo reference and its caption.
fn input_media(media: &Value) -> Result<(String, Option<Formatted>), ApiError> {
    let invalid = || ApiError::bad("can't parse InputMedia JSON object");
    if !media.is_object() {
        return Err(invalid());
    }
    if media.get("type").and_then(Value::as_str) != Some("photo") {
        return Err(ApiError::bad("sandbox supports only InputMediaPhoto"));
    }
    let reference = media
        .get("media")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let caption = match media.get("caption").and_then(Value::as_str) {
        None => None,
        Some(raw) => {
            // InputMedia carries its own parse_mode; the call's one does not apply.
            let mode = media.get("parse_mode").and_then(Value::as_str);
            let f = text::format(raw, mode, media.get("caption_entities").cloned())?;
            if f.as_ref().is_some_and(|f| utf16_len(&f.text) > 1024) {
                return Err(ApiError::bad("message caption is too long"));
            }
            f
        }
    };
    Ok((reference.to_owned(), caption))
}

fn send_media_group(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let chat_id = chat_id(p)?;
    let media = p.json("media", "can't parse media JSON object")?;
    let items = match media {
        None => return Err(ApiError::bad("media to send are not specified")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::bad("can't parse media JSON object")),
    };
    if items.is_empty() {
        return Err(ApiError::bad("media to send are not specified"));
    }
    if items.len() > 10 {
        return Err(ApiError::bad("Too much messages to send as an album"));
    }
    if items.len() < 2 {
        return Err(ApiError::bad("media group must include 2-10 items"));
    }
    let parsed = items
        .iter()
        .map(input_media)
        .collect::<Result<Vec<_>, _>>()?;
    let mut st = sh.lock();
    chat_mut(&mut st, chat_id)?;
    let group = Some(rand::random::<u64>().to_string());
    let mut msgs = Vec::with_capacity(parsed.len());
    for (reference, caption) in parsed {
        let photo = Some(resolve_photo(&mut st, p, Some(reference), "")?);
        let media_group_id = group.clone();
        msgs.push(Msg {
            photo,
            caption,
            media_group_id,
            ..Msg::default()
        });
    }
    post(sh, &mut st, chat_id, msgs)
}

/// Resolves a photo given as `attach://part`, a URL, a known file_id, or
/// (when `reference` is absent) an uploaded part named `field`.
fn resolve_photo(
    st: &mut State,
    p: &Params,
    reference: Option<String>,
    field: &str,
) -> Result<Photo, ApiError> {
    let upload = match reference.as_deref().map(str::trim) {
        Some(r) if r.starts_with("attach://") => {
            let name = &r["attach://".len()..];
            p.file(name)
                .ok_or_else(|| ApiError::bad(&format!("can't find attached file \"{name}\"")))?
        }
        Some(r) if r.starts_with("http://") || r.starts_with("https://") => {
            let mut photo = new_photo(st, 0, 0, 0);
            photo.url = Some(r.to_owned());
            st.files.insert(photo.file_id.clone(), photo.clone());
            return Ok(photo);
        }
        Some("") => return Err(ApiError::bad("there is no photo in the request")),
        Some(r) if st.uploads.get(r).is_some_and(|u| u.document) => {
            return Err(ApiError::bad("can't use file of type Document as Photo"));
        }
        Some(r) => {
            let known = st.files.get(r).cloned();
            return known.ok_or_else(|| ApiError::bad("wrong file identifier/HTTP URL specified"));
        }
        None => p
            .file(field)
            .ok_or_else(|| ApiError::bad("there is no photo in the request"))?,
    };
    if upload.is_empty() {
        return Err(ApiError::bad("file must be non-empty"));
    }
    let (width, height) = image_size(upload).unwrap_or((0, 0));
    // Kept like Telegram keeps it: downloadable with getFile, and shown by the playground page.
    let ext = match upload.first() {
        Some(0xff) => "jpg",
        Some(0x89) => "png",
        _ => "webp",
    };
    let (file_id, file_unique_id) = register_upload(st, upload.clone(), false, ext);
    let photo = Photo {
        file_id,
        file_unique_id,
        width,
        height,
        size: upload.len() as u64,
        url: None,
    };
    st.files.insert(photo.file_id.clone(), photo.clone());
    Ok(photo)
}

/// getFile: a file a user sent, ready to download for an hour (here: for good).
fn get_file(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let file_id = p
        .str("file_id")
        .ok_or_else(|| ApiError::bad("file_id not specified"))?;
    let st = sh.lock();
    let upload = st
        .uploads
        .get(file_id.trim())
        .ok_or_else(|| ApiError::bad("invalid file_id"))?;
    let size = upload.bytes.len() as u64;
    if size > DOWNLOAD_LIMIT {
        return Err(ApiError::bad("file is too big"));
    }
    Ok(
        json!({"file_id": file_id, "file_unique_id": upload.file_unique_id,
        "file_size": size, "file_path": upload.path}),
    )
}

/// `GET /sandbox/file/bot<token>/<file_path>`: the bytes of a file getFile described.
pub(crate) async fn download(
    AxState(sh): AxState<Arc<Shared>>,
    Path((bot_token, path)): Path<(String, String)>,
) -> Response {
    let not_found = || {
        let body = json!({"ok": false, "error_code": 404, "description": "Not Found"});
        (StatusCode::NOT_FOUND, Json(body)).into_response()
    };
    if bot_token.strip_prefix("bot") != Some(sh.token.as_str()) {
        return not_found();
    }
    let st = sh.lock();
    let Some(upload) = st
        .uploads
        .values()
        .find(|u| u.path == path && u.bytes.len() as u64 <= DOWNLOAD_LIMIT)
    else {
        return not_found();
    };
    let bytes = upload.bytes.clone();
    drop(st);
    (
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response()
}

/// Keeps a user's file for getFile; returns its file_id and file_unique_id.
pub(crate) fn register_upload(
    st: &mut State,
    bytes: Bytes,
    document: bool,
    ext: &str,
) -> (String, String) {
    st.file_counter += 1;
    let n = st.file_counter;
    let (prefix, dir) = if document {
        ("BQACAgIAAx", "documents")
    } else {
        ("AgACAgIAAx", "photos")
    };
    let file_id = format!("{prefix}{:016x}{n:06}", rand::random::<u64>());
    let unique = format!("AQAD{n:08}");
    let upload = Upload {
        file_unique_id: unique.clone(),
        path: format!("{dir}/file_{n}.{ext}"),
        bytes,
        document,
    };
    st.uploads.insert(file_id.clone(), upload);
    (file_id, unique)
}

/// A user's photo as Telegram lists it: a small thumbnail, then the picture itself; both
/// downloadable, both sendable back by file_id. `None` when the bytes are not an image.
pub(crate) fn user_photo(st: &mut State, bytes: Bytes) -> Option<(Photo, Photo)> {
    let (width, height) = image_size(&bytes)?;
    let ext = match bytes.first() {
        Some(0xff) => "jpg",
        Some(0x89) => "png",
        _ => "webp",
    };
    let scale = |side: u32| {
        let long = width.max(height).max(1);
        (u64::from(side) * 90 / u64::from(long)).max(1) as u32
    };
    let (tw, th) = (scale(width), scale(height));
    let thumb_bytes = Bytes::from(blank_png(tw, th));
    let size = bytes.len() as u64;
    let thumb_size = thumb_bytes.len() as u64;
    let photo = |st: &mut State, bytes: Bytes, ext: &str, w: u32, h: u32, size: u64| {
        let (file_id, file_unique_id) = register_upload(st, bytes, false, ext);
        let photo = Photo {
            file_id: file_id.clone(),
            file_unique_id,
            width: w,
            height: h,
            size,
            url: None,
        };
        st.files.insert(file_id, photo.clone());
        photo
    };
    let thumb = photo(st, thumb_bytes, "png", tw, th, thumb_size);
    let full = photo(st, bytes, ext, width, height, size);
    Some((thumb, full))
}

/// A grey PNG of the given size (thumbnails; the sandbox has no image scaler).
fn blank_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let pixels = vec![128u8; (width as usize) * (height as usize)];
    let written = encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&pixels));
    if written.is_err() {
        return Vec::new();
    }
    out
}

fn new_photo(st: &mut State, width: u32, height: u32, size: u64) -> Photo {
    st.file_counter += 1;
    let n = st.file_counter;
    Photo {
        file_id: format!("AgACAgIAAx{:016x}{n:06}", rand::random::<u64>()),
        file_unique_id: format!("AQAD{n:08}"),
        width,
        height,
        size,
        url: None,
    }
}

/// Width and height from PNG, JPEG or WebP headers.
fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le16 = |i: usize| Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as u32);
    let le24 = |i: usize| {
        Some(
            b.get(i)?.to_owned() as u32
                | (*b.get(i + 1)? as u32) << 8
                | (*b.get(i + 2)? as u32) << 16,
        )
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xff {
                i += 1;
                continue;
            }
            let marker = b[i + 1];
            let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
            if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
                let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
                let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
                return Some((w, h));
            }
            i += 2 + len;
        }
    }
    None
}

/// The four edit methods: find an editable bot message, apply, refuse no-ops.
fn edit(sh: &Shared, method: &str, p: &Params) -> Result<Value, ApiError> {
    if p.str("inline_message_id").is_some() {
        return Err(ApiError::bad("sandbox does not support inline messages"));
    }
    let (chat_id, message_id) = (chat_id(p)?, message_id(p)?);
    let keyboard = keyboard(p)?;
    let new_text = (method == "editMessageText")
        .then(|| message_text(p, true))
        .transpose()?;
    let new_caption = if method == "editMessageCaption" {
        caption(p, true)?
    } else {
        None
    };
    let new_media = match method {
        "editMessageMedia" => {
            let media = p.json("media", "can't parse InputMedia JSON object")?;
            Some(input_media(
                &media.ok_or_else(|| ApiError::bad("media is not specified"))?,
            )?)
        }
        _ => None,
    };
    let mut st = sh.lock();
    let existing = chat_mut(&mut st, chat_id)?.find_mut(message_id).cloned();
    let mut msg = existing.ok_or_else(|| ApiError::bad("message to edit not found"))?;
    if !msg.from_bot {
        return Err(ApiError::bad("message can't be edited"));
    }
    let before = msg.clone();
    match method {
        "editMessageText" if msg.text.is_none() => {
            return Err(ApiError::bad("there is no text in the message to edit"));
        }
        "editMessageText" => msg.text = new_text,
        "editMessageCaption" if msg.photo.is_none() => {
            return Err(ApiError::bad("there is no caption in the message to edit"));
        }
        "editMessageCaption" => msg.caption = new_caption,
        "editMessageMedia" if msg.photo.is_none() => {
            return Err(ApiError::bad("there is no media in the message to edit"));
        }
        "editMessageMedia" => {
            if let Some((reference, caption)) = new_media {
                msg.photo = Some(resolve_photo(&mut st, p, Some(reference), "")?);
                msg.caption = caption;
            }
        }
        _ => {}
    }
    msg.keyboard = keyboard;
    if msg.text == before.text
        && msg.caption == before.caption
        && msg.photo == before.photo
        && msg.keyboard == before.keyboard
    {
        return Err(ApiError::bad(NOT_MODIFIED));
    }
    msg.edit_date = Some(super::now());
    let chat = chat_mut(&mut st, chat_id)?;
    let json = msg.to_json(chat, &sh.bot_user());
    if let Some(slot) = chat.find_mut(message_id) {
        *slot = msg;
    }
    Ok(json)
}

fn answer_callback(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let id = p.str("callback_query_id").unwrap_or_default();
    let text = p.str("text");
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::bad("MESSAGE_TOO_LONG"));
    }
    let show_alert = p.bool("show_alert");
    let mut st = sh.lock();
    let cb = st
        .callbacks
        .get_mut(&id)
        .filter(|c| c.answer.is_none())
        .ok_or_else(|| ApiError::bad(QUERY_TOO_OLD))?;
    let answer = json!({"text": text, "show_alert": show_alert});
    cb.answer = Some(answer);
    let chat_id = cb.chat_id;
    if let Some(chat) = st.chats.get_mut(&chat_id) {
        chat.callback_answers
            .push(json!({"callback_query_id": id, "text": text, "show_alert": show_alert}));
    }
    drop(st);
    sh.answered.notify_waiters();
    Ok(json!(true))
}

/// The `prices` array of LabeledPrice objects, as (label, amount) pairs.
fn prices(p: &Params) -> Result<Vec<(String, i64)>, ApiError> {
    const INVALID: &str = "can't parse prices JSON object";
    let Some(Value::Array(items)) = p.json("prices", INVALID)? else {
        return Err(ApiError::bad(INVALID));
    };
    items
        .iter()
        .map(|item| {
            let label = item.get("label").and_then(Value::as_str);
            let amount = item.get("amount").and_then(Value::as_i64);
            match (label, amount) {
                (Some(label), Some(amount)) => Ok((label.to_owned(), amount)),
                _ => Err(ApiError::bad("can't parse LabeledPrice JSON object")),
            }
        })
        .collect()
}

/// An invoice message. Payload, currency and total are kept on the message
/// so a user can pay it later; the payload is never shown to the user.
fn send_invoice(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let chat_id = chat_id(p)?;
    let title = p.str("title").unwrap_or_default();
    if !(1..=32).contains(&title.chars().count()) {
        return Err(ApiError::bad("INVOICE_TITLE_INVALID"));
    }
    let description = p.str("description").unwrap_or_default();
    if !(1..=255).contains(&description.chars().count()) {
        return Err(ApiError::bad("INVOICE_DESCRIPTION_INVALID"));
    }
    let payload = p.str("payload").unwrap_or_default();
    if !(1..=128).contains(&payload.len()) {
        return Err(ApiError::bad("INVOICE_PAYLOAD_INVALID"));
    }
    let currency = p.str("currency").unwrap_or_default();
    let prices = prices(p)?;
    let provider_token = p.str("provider_token").unwrap_or_default();
    if currency == "XTR" {
        // Stars need no payment provider and take a single price.
        if !provider_token.is_empty() {
            return Err(ApiError::bad("PAYMENT_PROVIDER_INVALID"));
        }
        if prices.len() != 1 {
            return Err(ApiError::bad("CURRENCY_TOTAL_AMOUNT_INVALID"));
        }
    } else if provider_token.is_empty() {
        return Err(ApiError::bad("PAYMENT_PROVIDER_INVALID"));
    }
    let total: i64 = prices.iter().map(|(_, amount)| amount).sum();
    let currency_ok = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
    let total_amount = u32::try_from(total).ok().filter(|t| *t > 0 && currency_ok);
    let total_amount =
        total_amount.ok_or_else(|| ApiError::bad("CURRENCY_TOTAL_AMOUNT_INVALID"))?;
    let keyboard = keyboard(p)?;
    // A custom keyboard replaces the default "Pay" button, so it must lead with one.
    let first = keyboard
        .as_ref()
        .and_then(|rows| rows.get(0)?.get(0).cloned());
    if keyboard.is_some() && !first.is_some_and(|b| b.get("pay") == Some(&json!(true))) {
        return Err(ApiError::bad("REPLY_MARKUP_BUY_EMPTY"));
    }
    let invoice = Invoice {
        title,
        description,
        payload,
        currency,
        total_amount,
    };
    let msg = Msg {
        invoice: Some(invoice),
        keyboard,
        ..Msg::default()
    };
    Ok(post(sh, &mut sh.lock(), chat_id, vec![msg])?[0].take())
}

fn answer_pre_checkout(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let id = p.str("pre_checkout_query_id").unwrap_or_default();
    let ok = p.bool("ok");
    let error_message = p.str("error_message").filter(|m| !m.is_empty());
    if !ok && error_message.is_none() {
        return Err(ApiError::bad("ERROR_MESSAGE_EMPTY"));
    }
    // Telegram drops the reason of an accepted query.
    let error_message = error_message.filter(|_| !ok);
    let mut st = sh.lock();
    let query = st
        .pre_checkouts
        .get_mut(&id)
        .filter(|q| q.answer.is_none())
        .ok_or_else(|| ApiError::bad(QUERY_TOO_OLD))?;
    query.answer = Some(json!({"ok": ok, "error_message": error_message}));
    let chat_id = query.chat_id;
    if let Some(chat) = st.chats.get_mut(&chat_id) {
        chat.pre_checkout_answers
            .push(json!({"pre_checkout_query_id": id, "ok": ok, "error_message": error_message}));
    }
    drop(st);
    sh.answered.notify_waiters();
    Ok(json!(true))
}

fn refund_star_payment(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let user_id = p
        .i64("user_id")
        .ok_or_else(|| ApiError::bad("invalid user_id specified"))?;
    let charge_id = p.str("telegram_payment_charge_id").unwrap_or_default();
    if charge_id.is_empty() {
        return Err(ApiError::bad("CHARGE_ID_EMPTY"));
    }
    let mut st = sh.lock();
    // Another user's charge is as unknown as a made-up one.
    let charge = st
        .charges
        .get_mut(&charge_id)
        .filter(|c| c.user_id == user_id)
        .ok_or_else(|| ApiError::bad("CHARGE_NOT_FOUND"))?;
    if charge.refunded {
        return Err(ApiError::bad("CHARGE_ALREADY_REFUNDED"));
    }
    charge.refunded = true;
    if let Some(chat) = st.chats.get_mut(&user_id) {
        chat.refunds
            .push(json!({ "telegram_payment_charge_id": charge_id }));
    }
    Ok(json!(true))
}

/// Scope and language of a commands list; the default scope is stored as null.
fn commands_key(p: &Params) -> Result<(Value, Value), ApiError> {
    let scope = p.json("scope", "can't parse BotCommandScope JSON object")?;
    let scope = scope.filter(|s| s.get("type").and_then(Value::as_str) != Some("default"));
    let lang = p.str("language_code").filter(|l| !l.is_empty());
    Ok((json!(scope), json!(lang)))
}

fn set_my_commands(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let commands = p.json("commands", "can't parse BotCommand array JSON object")?;
    let commands = match commands {
        Some(Value::Array(list)) => list,
        None => Vec::new(),
        Some(_) => return Err(ApiError::bad("can't parse BotCommand array JSON object")),
    };
    if commands.len() > 100 {
        return Err(ApiError::bad("too many commands"));
    }
    for c in &commands {
        let command = c.get("command").and_then(Value::as_str).unwrap_or("");
        let valid = (1..=32).contains(&command.len())
            && command
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(ApiError::bad("BOT_COMMAND_INVALID"));
        }
        let description = c.get("description").and_then(Value::as_str).unwrap_or("");
        if !(1..=256).contains(&description.chars().count()) {
            return Err(ApiError::bad("BOT_COMMAND_DESCRIPTION_INVALID"));
        }
    }
    let (scope, lang) = commands_key(p)?;
    sh.lock()
        .commands
        .push(json!({"commands": commands, "scope": scope, "language_code": lang}));
    Ok(json!(true))
}

fn set_webhook(sh: &Shared, p: &Params) -> Result<Value, ApiError> {
    let url = p.str("url").unwrap_or_default();
    if url.is_empty() {
        sh.lock().webhook = None;
        return Ok(json!(true));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError::bad(
            "bad webhook: An HTTPS URL must be provided for webhook",
        ));
    }
    let secret_token = p.str("secret_token").filter(|s| !s.is_empty());
    let secret_ok = |s: &String| {
        s.len() <= 256
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if secret_token.as_ref().is_some_and(|s| !secret_ok(s)) {
        return Err(ApiError::bad("secret token contains unallowed characters"));
    }
    let allowed = p.json("allowed_updates", "can't parse allowed updates JSON object")?;
    let allowed_updates = match allowed {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<Vec<String>>(v)
                .map_err(|_| ApiError::bad("can't parse allowed updates JSON object"))?,
        ),
    };
    let max_connections = p.i64("max_connections").unwrap_or(40);
    if !(1..=100).contains(&max_connections) {
        return Err(ApiError::bad(
            "bad webhook: max_connections must be between 1 and 100",
        ));
    }
    let webhook = Webhook {
        url,
        secret_token,
        allowed_updates,
        max_connections,
        drop_pending_updates: p.bool("drop_pending_updates"),
    };
    sh.lock().webhook = Some(webhook);
    Ok(json!(true))
}
