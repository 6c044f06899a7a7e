//! The user-facing half: simulated people in private chats.
//!
//! A user action becomes a real Bot API `Update` posted to the webhook, and
//! the endpoint waits for the bot's webhook response so callers can assert on
//! what the bot did right after. The chat view shows the conversation the way
//! a Telegram client would (deleted messages hidden, edits applied).
//!
//! Paying follows Telegram's order: a `pre_checkout_query` update, the bot's
//! answerPreCheckoutQuery, and only after an `ok` answer the user's service
//! message with `successful_payment` as a second update.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::text::{Formatted, utf16_len};
use super::{
    Callback, Charge, Chat, Document, JsonError, Msg, Payment, PreCheckout, Shared, State, Webhook,
    parse_body,
};

type Sh = AxState<Arc<Shared>>;

fn parse_id(raw: &str) -> Result<i64, JsonError> {
    let id = raw.parse::<i64>().ok().filter(|id| *id > 0);
    id.ok_or_else(|| {
        JsonError::new(
            StatusCode::BAD_REQUEST,
            "user id must be a positive integer",
        )
    })
}

fn no_webhook() -> JsonError {
    JsonError::new(
        StatusCode::CONFLICT,
        "no webhook is set: call setWebhook first",
    )
}

fn not_found(what: &str) -> JsonError {
    JsonError::new(StatusCode::NOT_FOUND, what)
}

#[derive(Deserialize)]
pub(crate) struct UserMessage {
    text: String,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    language_code: Option<String>,
}

/// `POST /sandbox/users/{id}/messages`: the user writes to the bot.
pub(crate) async fn send_message(
    AxState(sh): Sh,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, JsonError> {
    let id = parse_id(&id)?;
    let req = parse_body::<UserMessage>(&body)?;
    if req.text.trim().is_empty() || utf16_len(&req.text) > 4096 {
        let msg = "text must be 1..=4096 UTF-16 code units";
        return Err(JsonError::new(StatusCode::BAD_REQUEST, msg));
    }
    let (webhook, reply, update) = {
        let mut st = sh.lock();
        let webhook = st.webhook.clone().ok_or_else(no_webhook)?;
        let update_id = st.next_update_id();
        let chat = st.chats.entry(id).or_insert_with(|| Chat::new(id));
        let user = &mut chat.user;
        if let Some(v) = req.first_name {
            user.first_name = v;
        }
        user.last_name = req.last_name.or(user.last_name.take());
        user.username = req.username.or(user.username.take());
        user.language_code = req.language_code.or(user.language_code.take());
        let text = Formatted {
            text: req.text,
            entities: Vec::new(),
        };
        let msg = chat
            .push(Msg {
                text: Some(text),
                ..Msg::default()
            })
            .clone();
        let message = msg.to_json(chat, &sh.bot_user());
        let update = json!({ "update_id": update_id, "message": message });
        st.updates.insert(update_id, update.clone());
        let reply = json!({ "update_id": update_id, "message_id": msg.id });
        (webhook, reply, update)
    };
    Ok(deliver_and_reply(&sh, &webhook, "message", &update, reply).await)
}

/// One file of [`UserMedia`].
#[derive(Deserialize)]
pub(crate) struct UserFile {
    /// `photo` (what a client sends from the gallery) or `document` (a file as it is).
    kind: FileKind,
    /// The bytes, base64.
    data: String,
    file_name: Option<String>,
    mime_type: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileKind {
    Photo,
    Document,
}

#[derive(Deserialize)]
pub(crate) struct UserMedia {
    /// One file is one message; 2–10 are an album (one media_group_id, one update each).
    files: Vec<UserFile>,
    caption: Option<String>,
    language_code: Option<String>,
}

/// Telegram's limit on a photo upload; larger pictures go as documents.
const PHOTO_LIMIT: usize = 10 * 1024 * 1024;

/// `POST /sandbox/users/{id}/media`: the user sends photos or files; an album arrives as
/// parallel updates, the way Telegram delivers them.
pub(crate) async fn send_media(
    AxState(sh): Sh,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, JsonError> {
    use base64::Engine as _;
    let id = parse_id(&id)?;
    let req = parse_body::<UserMedia>(&body)?;
    let bad = |msg: &str| JsonError::new(StatusCode::BAD_REQUEST, msg);
    if req.files.is_empty() || req.files.len() > 10 {
        return Err(bad("send 1..=10 files (an album holds at most 10)"));
    }
    if req.caption.as_deref().is_some_and(|c| utf16_len(c) > 1024) {
        return Err(bad("caption must be at most 1024 UTF-16 code units"));
    }
    let mut decoded = Vec::with_capacity(req.files.len());
    for file in &req.files {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(file.data.as_bytes())
            .map_err(|_| bad("data must be base64"))?;
        if bytes.is_empty() {
            return Err(bad("a file must not be empty"));
        }
        if file.kind == FileKind::Photo && bytes.len() > PHOTO_LIMIT {
            return Err(bad("photos are at most 10 MB: send it as a document"));
        }
        decoded.push(Bytes::from(bytes));
    }
    let (webhook, sent) = {
        let mut st = sh.lock();
        let webhook = st.webhook.clone().ok_or_else(no_webhook)?;
        let group = (req.files.len() > 1).then(|| format!("{}", rand::random::<u64>()));
        let mut msgs = Vec::with_capacity(req.files.len());
        for (i, (file, bytes)) in req.files.iter().zip(decoded).enumerate() {
            let mut msg = Msg {
                media_group_id: group.clone(),
                ..Msg::default()
            };
            if i == 0 {
                msg.caption = req.caption.clone().map(|text| Formatted {
                    text,
                    entities: Vec::new(),
                });
            }
            match file.kind {
                FileKind::Photo => {
                    let (thumb, photo) = super::botapi::user_photo(&mut st, bytes)
                        .ok_or_else(|| bad("a photo must be a JPEG, PNG or WebP image"))?;
                    msg.thumb = Some(thumb);
                    msg.photo = Some(photo);
                }
                FileKind::Document => {
                    let ext = file
                        .file_name
                        .as_deref()
                        .and_then(|n| n.rsplit_once('.'))
                        .map_or("bin", |(_, e)| e)
                        .to_owned();
                    let size = bytes.len() as u64;
                    let (file_id, file_unique_id) =
                        super::botapi::register_upload(&mut st, bytes, true, &ext);
                    msg.document = Some(Document {
                        file_id,
                        file_unique_id,
                        file_name: file.file_name.clone(),
                        mime_type: file.mime_type.clone(),
                        size,
                    });
                }
            }
            msgs.push(msg);
        }
        let bot_user = sh.bot_user();
        let mut sent = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let update_id = st.next_update_id();
            let chat = st.chats.entry(id).or_insert_with(|| Chat::new(id));
            if let Some(lang) = &req.language_code {
                chat.user.language_code = Some(lang.clone());
            }
            let msg = chat.push(msg).clone();
            let update = json!({ "update_id": update_id, "message": msg.to_json(chat, &bot_user) });
            st.updates.insert(update_id, update.clone());
            sent.push((update_id, msg.id, update));
        }
        (webhook, sent)
    };
    let deliveries = sent
        .iter()
        .map(|(_, _, update)| deliver(&sh, &webhook, "message", update));
    let statuses = futures::future::join_all(deliveries).await;
    let updates: Vec<Value> = sent
        .iter()
        .zip(statuses)
        .map(|((update_id, message_id, _), status)| match status {
            Ok(status) => json!({"update_id": update_id, "message_id": message_id,
                "webhook_status": status}),
            Err(e) => json!({"update_id": update_id, "message_id": message_id,
                "error": format!("webhook delivery failed: {e}")}),
        })
        .collect();
    Ok(Json(json!({ "updates": updates })).into_response())
}

#[derive(Deserialize)]
pub(crate) struct Press {
    message_id: i64,
    callback_data: Option<String>,
    /// How long to wait for answerCallbackQuery after the webhook returned,
    /// for bots that answer asynchronously (teloxide's listener acks first).
    wait_answer_ms: Option<u64>,
}

/// `POST /sandbox/users/{id}/press`: the user taps an inline button. The data
/// is not checked against the keyboard: a modified client can send anything.
pub(crate) async fn press(
    AxState(sh): Sh,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, JsonError> {
    let id = parse_id(&id)?;
    let req = parse_body::<Press>(&body)?;
    let (webhook, query_id, update) = {
        let mut st = sh.lock();
        let chat = st
            .chats
            .get_mut(&id)
            .ok_or_else(|| not_found("unknown user"))?;
        let msg = chat
            .find_mut(req.message_id)
            .filter(|m| m.from_bot)
            .cloned();
        let msg = msg.ok_or_else(|| not_found("no such bot message in this chat"))?;
        let message = msg.to_json(chat, &sh.bot_user());
        let mut query =
            json!({"from": chat.user, "chat_instance": chat.chat_instance, "message": message});
        if let Some(data) = req.callback_data {
            query["data"] = json!(data);
        }
        let webhook = st.webhook.clone().ok_or_else(no_webhook)?;
        let update_id = st.next_update_id();
        let query_id = format!("{}{update_id:06}", rand::random::<u32>());
        query["id"] = json!(query_id);
        let callback = Callback {
            chat_id: id,
            answer: None,
        };
        st.callbacks.insert(query_id.clone(), callback);
        let update = json!({ "update_id": update_id, "callback_query": query });
        st.updates.insert(update_id, update.clone());
        (webhook, query_id, update)
    };
    let status = deliver(&sh, &webhook, "callback_query", &update)
        .await
        .map_err(|e| JsonError::new(StatusCode::BAD_GATEWAY, e))?;
    let grace = Duration::from_millis(req.wait_answer_ms.unwrap_or(1000));
    let answer = match status {
        Some(_) => {
            wait_for_answer(&sh, grace, |st| {
                st.callbacks.get(&query_id).and_then(|c| c.answer.clone())
            })
            .await
        }
        None => Value::Null,
    };
    Ok(Json(json!({
        "update_id": update["update_id"],
        "callback_query_id": query_id,
        "webhook_status": status,
        "answer": answer,
    }))
    .into_response())
}

/// The bot's answer that `lookup` finds, waiting up to `grace` for it to arrive.
async fn wait_for_answer(
    sh: &Shared,
    grace: Duration,
    lookup: impl Fn(&State) -> Option<Value>,
) -> Value {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        // Register interest before looking, so an answer in between is not missed.
        let notified = sh.answered.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let found = lookup(&sh.lock());
        if let Some(answer) = found {
            return answer;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Value::Null;
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct Pay {
    /// Pay the invoice in this bot message of the user's chat...
    message_id: Option<i64>,
    /// ...or, as a modified client could, whatever these three say.
    payload: Option<String>,
    currency: Option<String>,
    total_amount: Option<u32>,
    /// How long to wait for answerPreCheckoutQuery after the webhook returned
    /// (Telegram itself gives up after 10 s).
    wait_answer_ms: Option<u64>,
}

/// `POST /sandbox/users/{id}/pay`: the user pays an invoice (or a forged one).
pub(crate) async fn pay(
    AxState(sh): Sh,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, JsonError> {
    let id = parse_id(&id)?;
    let req = parse_body::<Pay>(&body)?;
    let (webhook, query_id, update, payment) = {
        let mut st = sh.lock();
        let (payload, currency, total_amount) = match req.message_id {
            Some(message_id) => {
                let chat = st
                    .chats
                    .get_mut(&id)
                    .ok_or_else(|| not_found("unknown user"))?;
                let invoice = chat
                    .find_mut(message_id)
                    .filter(|m| m.from_bot)
                    .and_then(|m| m.invoice.clone());
                let i = invoice.ok_or_else(|| not_found("no such invoice message in this chat"))?;
                (i.payload, i.currency, i.total_amount)
            }
            None => match (req.payload, req.currency, req.total_amount) {
                (Some(payload), Some(currency), Some(total)) => (payload, currency, total),
                _ => {
                    let msg = "body needs message_id, or payload, currency and total_amount";
                    return Err(JsonError::new(StatusCode::BAD_REQUEST, msg));
                }
            },
        };
        let webhook = st.webhook.clone().ok_or_else(no_webhook)?;
        let update_id = st.next_update_id();
        let query_id = format!("{}{update_id:06}", rand::random::<u32>());
        let user = json!(st.chats.entry(id).or_insert_with(|| Chat::new(id)).user);
        let query = json!({"id": query_id, "from": user, "currency": currency,
            "total_amount": total_amount, "invoice_payload": payload});
        let pre_checkout = PreCheckout {
            chat_id: id,
            answer: None,
        };
        st.pre_checkouts.insert(query_id.clone(), pre_checkout);
        let update = json!({ "update_id": update_id, "pre_checkout_query": query });
        st.updates.insert(update_id, update.clone());
        let payment = Payment {
            currency,
            total_amount,
            payload,
            charge_id: String::new(),
        };
        (webhook, query_id, update, payment)
    };
    let status = deliver(&sh, &webhook, "pre_checkout_query", &update)
        .await
        .map_err(|e| JsonError::new(StatusCode::BAD_GATEWAY, e))?;
    let grace = Duration::from_millis(req.wait_answer_ms.unwrap_or(1000));
    let answer = match status {
        Some(_) => {
            wait_for_answer(&sh, grace, |st| {
                st.pre_checkouts
                    .get(&query_id)
                    .and_then(|q| q.answer.clone())
            })
            .await
        }
        None => Value::Null,
    };
    let mut reply = json!({
        "pre_checkout_query_id": query_id,
        "pre_checkout": answer,
        "pre_checkout_update_id": update["update_id"],
        "webhook_status": status,
        "charge_id": null,
        "payment_update_id": null,
        "payment_webhook_status": null,
    });
    if answer["ok"] != json!(true) {
        return Ok(Json(reply).into_response());
    }
    let (charge_id, update) = {
        let mut st = sh.lock();
        let update_id = st.next_update_id();
        let charge_id = format!("stxSBX{:016x}{update_id:06}", rand::random::<u64>());
        let payment = Payment {
            charge_id: charge_id.clone(),
            ..payment
        };
        let charge = Charge {
            user_id: id,
            refunded: false,
        };
        st.charges.insert(charge_id.clone(), charge);
        let chat = st.chats.entry(id).or_insert_with(|| Chat::new(id));
        let msg = chat
            .push(Msg {
                successful_payment: Some(payment),
                ..Msg::default()
            })
            .clone();
        let message = msg.to_json(chat, &sh.bot_user());
        let update = json!({ "update_id": update_id, "message": message });
        st.updates.insert(update_id, update.clone());
        (charge_id, update)
    };
    reply["charge_id"] = json!(charge_id);
    reply["payment_update_id"] = update["update_id"].clone();
    // The charge exists even if this delivery fails, so the reply keeps it.
    match deliver(&sh, &webhook, "message", &update).await {
        Ok(status) => {
            reply["payment_webhook_status"] = json!(status);
            Ok(Json(reply).into_response())
        }
        Err(e) => {
            reply["error"] = json!(format!("webhook delivery failed: {e}"));
            Ok((StatusCode::BAD_GATEWAY, Json(reply)).into_response())
        }
    }
}

/// `GET /sandbox/users`: everyone who has a chat with the bot, oldest first.
pub(crate) async fn list(AxState(sh): Sh) -> Json<Value> {
    let st = sh.lock();
    let mut users: Vec<&Chat> = st.chats.values().collect();
    users.sort_by_key(|c| c.user.id);
    Json(json!(
        users
            .iter()
            .map(|c| json!({"user": c.user, "messages": c.messages.iter().filter(|m| !m.deleted).count()}))
            .collect::<Vec<_>>()
    ))
}

#[derive(Deserialize)]
pub(crate) struct Profile {
    first_name: String,
    last_name: Option<String>,
    username: Option<String>,
    language_code: Option<String>,
}

/// `PUT /sandbox/users/{id}`: creates a user (an empty chat) or changes their profile; what
/// they send from then on carries it.
pub(crate) async fn profile(
    AxState(sh): Sh,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, JsonError> {
    let id = parse_id(&id)?;
    let req = parse_body::<Profile>(&body)?;
    let name = req.first_name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        let msg = "first_name must be 1..=64 characters";
        return Err(JsonError::new(StatusCode::BAD_REQUEST, msg));
    }
    let user = {
        let mut st = sh.lock();
        let chat = st.chats.entry(id).or_insert_with(|| Chat::new(id));
        let user = &mut chat.user;
        user.first_name = name.to_owned();
        user.last_name = req.last_name.filter(|v| !v.is_empty());
        user.username = req.username.filter(|v| !v.is_empty());
        user.language_code = req.language_code.filter(|v| !v.is_empty());
        json!(user)
    };
    sh.notify(json!({"kind": "chat", "chat_id": id}));
    Ok(Json(user).into_response())
}

/// `GET /sandbox/users/{id}/chat`: the conversation as the user sees it.
pub(crate) async fn chat(AxState(sh): Sh, Path(id): Path<String>) -> Result<Response, JsonError> {
    let id = parse_id(&id)?;
    let st = sh.lock();
    let chat = st.chats.get(&id).ok_or_else(|| not_found("unknown user"))?;
    let messages: Vec<Value> = chat
        .messages
        .iter()
        .filter(|m| !m.deleted)
        .map(|m| {
            let buttons = m.keyboard.as_ref().and_then(Value::as_array).map_or_else(Vec::new, |rows| {
                rows.iter()
                    .map(|row| {
                        let row = row.as_array().map_or(&[][..], Vec::as_slice);
                        row.iter().map(|b| json!({"text": b["text"], "callback_data": b["callback_data"]})).collect()
                    })
                    .collect::<Vec<Vec<Value>>>()
            });
            json!({
                "message_id": m.id,
                "from_bot": m.from_bot,
                "date": m.date,
                "text": m.text.as_ref().map(|t| &t.text),
                "entities": m.text.as_ref().map(|t| &t.entities),
                "caption": m.caption.as_ref().map(|c| &c.text),
                "caption_entities": m.caption.as_ref().map(|c| &c.entities),
                "photo": m.photo.as_ref().map(|p| json!({"file_id": p.file_id, "width": p.width,
                    "height": p.height, "file_size": p.size, "url": p.url,
                    "src": st.uploads.contains_key(&p.file_id)
                        .then(|| format!("/sandbox/files/{}", p.file_id))})),
                "document": m.document.as_ref().map(|d| json!({"file_id": d.file_id,
                    "file_name": d.file_name, "mime_type": d.mime_type, "file_size": d.size})),
                "media_group_id": m.media_group_id,
                "buttons": buttons,
                "invoice": m.invoice.as_ref().map(|i| json!({"title": i.title,
                    "description": i.description, "currency": i.currency,
                    "total_amount": i.total_amount})),
                "successful_payment": m.successful_payment.as_ref().map(|p| json!({
                    "currency": p.currency, "total_amount": p.total_amount,
                    "invoice_payload": p.payload, "telegram_payment_charge_id": p.charge_id})),
                "edited": m.edit_date.is_some(),
            })
        })
        .collect();
    Ok(Json(json!({
        "user": chat.user,
        "messages": messages,
        "callback_answers": chat.callback_answers,
        "pre_checkout_answers": chat.pre_checkout_answers,
        "refunds": chat.refunds,
        "chat_actions": chat.chat_actions,
    }))
    .into_response())
}

/// `GET /sandbox/updates/{update_id}`: an update as it was posted.
pub(crate) async fn update(
    AxState(sh): Sh,
    Path(update_id): Path<String>,
) -> Result<Json<Value>, JsonError> {
    let st = sh.lock();
    let update = update_id
        .parse::<i64>()
        .ok()
        .and_then(|id| st.updates.get(&id).cloned());
    update.map(Json).ok_or_else(|| not_found("unknown update"))
}

/// `POST /sandbox/updates/{update_id}/redeliver`: Telegram retrying an update.
pub(crate) async fn redeliver(
    AxState(sh): Sh,
    Path(update_id): Path<String>,
) -> Result<Response, JsonError> {
    let (webhook, update) = {
        let st = sh.lock();
        let update = update_id
            .parse::<i64>()
            .ok()
            .and_then(|id| st.updates.get(&id).cloned());
        let update = update.ok_or_else(|| not_found("unknown update"))?;
        let webhook = st.webhook.clone().ok_or_else(no_webhook)?;
        (webhook, update)
    };
    // The update's only other key names its kind, as in `allowed_updates`.
    let kind = update
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id"))
        .map_or("message", String::as_str);
    Ok(deliver_and_reply(&sh, &webhook, kind, &update, json!({})).await)
}

/// Delivers `update` and merges `webhook_status` into `reply` (502 on transport failure).
async fn deliver_and_reply(
    sh: &Shared,
    webhook: &Webhook,
    kind: &str,
    update: &Value,
    mut reply: Value,
) -> Response {
    match deliver(sh, webhook, kind, update).await {
        Ok(status) => {
            reply["webhook_status"] = json!(status);
            Json(reply).into_response()
        }
        Err(e) => {
            reply["error"] = json!(format!("webhook delivery failed: {e}"));
            (StatusCode::BAD_GATEWAY, Json(reply)).into_response()
        }
    }
}

/// Posts one update like Telegram does; `Ok(None)` when `allowed_updates` filters it out.
async fn deliver(
    sh: &Shared,
    webhook: &Webhook,
    kind: &str,
    update: &Value,
) -> Result<Option<u16>, String> {
    // The user's side of the chat changed (their message is in it now): live viewers update.
    let chat_id = [
        "/message/chat/id",
        "/callback_query/from/id",
        "/pre_checkout_query/from/id",
    ]
    .iter()
    .find_map(|p| update.pointer(p));
    sh.notify(json!({"kind": "chat", "chat_id": chat_id}));
    if !webhook.wants(kind) {
        return Ok(None);
    }
    let mut req = sh.http.post(&webhook.url).json(update);
    if let Some(secret) = &webhook.secret_token {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    Ok(Some(resp.status().as_u16()))
}
