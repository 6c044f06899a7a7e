//! In-memory Telegram Bot API emulator ("sandbox").
//!
//! It lets the bot run end to end without Telegram: the bot talks to
//! `/sandbox/bot<token>/<method>` as if it were `api.telegram.org`, while tests
//! or a developer UI play the users through `/sandbox/users/...`, which turns
//! their actions into real webhook updates. Everything lives in one mutex-guarded
//! [`State`]; the lock is never held across an `.await`.
//!
//! Telegram Stars payments are emulated too: `sendInvoice` puts an invoice in
//! the chat, a user "pays" through `/sandbox/users/{id}/pay` (pre-checkout
//! query, the bot's answer, then the `successful_payment` service message),
//! and `refundStarPayment` refunds a charge once.

mod botapi;
mod page;
mod params;
pub(crate) mod text;
mod users;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use text::Formatted;

/// How the sandbox is set up by the application.
#[derive(Debug)]
pub struct SandboxConfig {
    /// The only token the fake Bot API accepts.
    pub token: String,
    /// Start with Telegram-like flood limits on the send-family methods.
    pub rate_limits: bool,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

/// Handle to one sandbox; cheap to clone, all clones share the same state.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Self {
        let bot_id = config
            .token
            .split(':')
            .next()
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or(1);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        let shared = Shared {
            token: config.token,
            bot_id,
            rate_limits: AtomicBool::new(config.rate_limits),
            http,
            answered: tokio::sync::Notify::new(),
            events: tokio::sync::broadcast::channel(1024).0,
            // Telegram numbers a bot's updates sequentially from a number of its choosing (and
            // picks a new random one after a week without updates), never from 1.
            state: Mutex::new(State {
                last_update_id: rand::random_range(1_000_000..1_000_000_000),
                ..State::default()
            }),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// All routes, already under the `/sandbox` prefix, state applied, with
    /// its own 50 MiB body limit (photo uploads exceed axum's 2 MiB default).
    ///
    /// The Bot API is served both at `/sandbox/bot<token>/<method>` and at
    /// `/sandbox//bot<token>/<method>`: teloxide appends path segments, so an
    /// api url with a trailing slash (`.../sandbox/`) yields the double slash.
    pub fn router(&self) -> Router {
        let bot_api = || get(botapi::handle).post(botapi::handle);
        Router::new()
            .route("/", get(page::index))
            .route("/sandbox/ui/{asset}", get(page::asset))
            .route("/sandbox/events", get(page::events))
            .route("/sandbox/files/{file_id}", get(page::file))
            .route("/sandbox/users", get(users::list))
            .route("/sandbox/users/{id}", axum::routing::put(users::profile))
            .route("/sandbox/{bot_token}/{method}", bot_api())
            .route("/sandbox//{bot_token}/{method}", bot_api())
            .route("/sandbox/users/{id}/messages", post(users::send_message))
            .route("/sandbox/users/{id}/press", post(users::press))
            .route("/sandbox/users/{id}/pay", post(users::pay))
            .route("/sandbox/users/{id}/media", post(users::send_media))
            .route("/sandbox/file/{bot_token}/{*path}", get(botapi::download))
            .route("/sandbox//file/{bot_token}/{*path}", get(botapi::download))
            .route("/sandbox/users/{id}/chat", get(users::chat))
            .route("/sandbox/updates/{update_id}", get(users::update))
            .route(
                "/sandbox/updates/{update_id}/redeliver",
                post(users::redeliver),
            )
            .route("/sandbox/faults", post(add_faults).delete(clear_faults))
            .route("/sandbox/config", get(get_config).post(set_config))
            .route("/sandbox/calls", get(list_calls).delete(clear_calls))
            .route("/sandbox/webhook", get(get_webhook))
            .route("/sandbox/commands", get(list_commands))
            .with_state(self.shared.clone())
            .layer(DefaultBodyLimit::max(50 * 1024 * 1024))
            .layer(axum::middleware::from_fn(same_origin))
    }

    /// Embedded mode: where user actions post updates (like a setWebhook call).
    pub fn set_webhook(&self, url: String, secret_token: Option<String>) {
        self.shared.lock().webhook = Some(Webhook {
            url,
            secret_token,
            allowed_updates: None,
            max_connections: 40,
            drop_pending_updates: false,
        });
    }

    /// Standalone fake Telegram on its own listener until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Immutable configuration plus the mutable [`State`].
pub(crate) struct Shared {
    token: String,
    bot_id: i64,
    rate_limits: AtomicBool,
    /// One client for all webhook deliveries (connection reuse, 60 s timeout).
    http: reqwest::Client,
    /// Woken on every answerCallbackQuery and answerPreCheckoutQuery so a
    /// pending `press` or `pay` can pick the answer up.
    answered: tokio::sync::Notify,
    /// What changed, for the playground page's live view (`GET /sandbox/events`): a chat
    /// (`{"kind":"chat","chat_id":..}`) or the call log (`{"kind":"call",..}`).
    events: tokio::sync::broadcast::Sender<Value>,
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state; a poisoned lock is still usable since every
    /// mutation is completed before anything can panic.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells live viewers something changed; nobody listening is fine.
    fn notify(&self, event: Value) {
        let _ = self.events.send(event);
    }

    fn bot_user(&self) -> Value {
        json!({"id": self.bot_id, "is_bot": true, "first_name": "Aisha Sandbox", "username": "aisha_sandbox_bot"})
    }
}

#[derive(Default)]
pub(crate) struct State {
    webhook: Option<Webhook>,
    chats: HashMap<i64, Chat>,
    files: HashMap<String, Photo>,
    /// What users sent (photos, their thumbnails, documents) by file_id, for getFile.
    uploads: HashMap<String, Upload>,
    callbacks: HashMap<String, Callback>,
    pre_checkouts: HashMap<String, PreCheckout>,
    /// Stars charges by `telegram_payment_charge_id`, for refundStarPayment.
    charges: HashMap<String, Charge>,
    /// Every update ever posted, kept for redelivery.
    updates: HashMap<i64, Value>,
    last_update_id: i64,
    file_counter: u64,
    calls: Vec<Value>,
    faults: Vec<Fault>,
    /// setMyCommands calls in order; the last matching one is the current list.
    commands: Vec<Value>,
    /// Send-family timestamps of the last second, for the global 30/s limit.
    recent_sends: VecDeque<Instant>,
}

impl State {
    fn next_update_id(&mut self) -> i64 {
        self.last_update_id += 1;
        self.last_update_id
    }
}

#[derive(Clone, serde::Serialize)]
pub(crate) struct Webhook {
    url: String,
    secret_token: Option<String>,
    allowed_updates: Option<Vec<String>>,
    max_connections: i64,
    drop_pending_updates: bool,
}

impl Webhook {
    /// Telegram only delivers update kinds listed in `allowed_updates` (if set).
    fn wants(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(list) if !list.is_empty() => list.iter().any(|k| k == kind),
            _ => true,
        }
    }
}

/// A private chat; its id equals the user's id.
pub(crate) struct Chat {
    user: UserProfile,
    messages: Vec<Msg>,
    last_message_id: i64,
    chat_instance: String,
    callback_answers: Vec<Value>,
    pre_checkout_answers: Vec<Value>,
    refunds: Vec<Value>,
    chat_actions: Vec<String>,
    last_send: Option<Instant>,
}

impl Chat {
    fn new(id: i64) -> Self {
        Self {
            user: UserProfile {
                id,
                first_name: format!("User {id}"),
                ..UserProfile::default()
            },
            messages: Vec::new(),
            last_message_id: 0,
            chat_instance: rand::random::<i64>().unsigned_abs().to_string(),
            callback_answers: Vec::new(),
            pre_checkout_answers: Vec::new(),
            refunds: Vec::new(),
            chat_actions: Vec::new(),
            last_send: None,
        }
    }

    /// Appends a message with the next per-chat id (shared by user and bot).
    fn push(&mut self, mut msg: Msg) -> &Msg {
        self.last_message_id += 1;
        msg.id = self.last_message_id;
        msg.date = now();
        self.messages.push(msg);
        &self.messages[self.messages.len() - 1]
    }

    fn find_mut(&mut self, id: i64) -> Option<&mut Msg> {
        self.messages.iter_mut().find(|m| m.id == id && !m.deleted)
    }

    fn chat_json(&self) -> Value {
        let u = &self.user;
        let mut chat = json!({"id": u.id, "type": "private", "first_name": u.first_name});
        if let Some(v) = &u.last_name {
            chat["last_name"] = json!(v);
        }
        if let Some(v) = &u.username {
            chat["username"] = json!(v);
        }
        chat
    }
}

#[derive(Clone, Default, serde::Serialize)]
pub(crate) struct UserProfile {
    id: i64,
    is_bot: bool,
    first_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language_code: Option<String>,
}

#[derive(Clone, Default)]
pub(crate) struct Msg {
    id: i64,
    from_bot: bool,
    date: i64,
    text: Option<Formatted>,
    caption: Option<Formatted>,
    photo: Option<Photo>,
    /// A user's photo: the small size Telegram lists before the original.
    thumb: Option<Photo>,
    document: Option<Document>,
    media_group_id: Option<String>,
    /// Rows of inline keyboard buttons; `None` when there is no keyboard.
    keyboard: Option<Value>,
    invoice: Option<Invoice>,
    successful_payment: Option<Payment>,
    edit_date: Option<i64>,
    deleted: bool,
}

impl Msg {
    /// The Bot API `Message` object, as the bot (and teloxide) expects it.
    fn to_json(&self, chat: &Chat, bot_user: &Value) -> Value {
        let from = if self.from_bot {
            bot_user.clone()
        } else {
            json!(chat.user)
        };
        let mut m = json!({"message_id": self.id, "from": from, "chat": chat.chat_json(), "date": self.date});
        if let Some(t) = &self.text {
            m["text"] = json!(t.text);
            if !t.entities.is_empty() {
                m["entities"] = json!(t.entities);
            }
        }
        if let Some(p) = &self.photo {
            let size = |p: &Photo| {
                json!({"file_id": p.file_id, "file_unique_id": p.file_unique_id,
                "file_size": p.size, "width": p.width, "height": p.height})
            };
            m["photo"] = json!(self.thumb.iter().chain([p]).map(size).collect::<Vec<_>>());
        }
        if let Some(d) = &self.document {
            m["document"] = json!({"file_id": d.file_id, "file_unique_id": d.file_unique_id,
                "file_name": d.file_name, "mime_type": d.mime_type, "file_size": d.size});
        }
        if let Some(c) = &self.caption {
            m["caption"] = json!(c.text);
            if !c.entities.is_empty() {
                m["caption_entities"] = json!(c.entities);
            }
        }
        if let Some(g) = &self.media_group_id {
            m["media_group_id"] = json!(g);
        }
        if let Some(i) = &self.invoice {
            // start_parameter is always present (empty) in Telegram's Invoice,
            // and teloxide's `Invoice` requires it.
            m["invoice"] = json!({"title": i.title, "description": i.description,
                "start_parameter": "", "currency": i.currency, "total_amount": i.total_amount});
        }
        if let Some(p) = &self.successful_payment {
            m["successful_payment"] = json!({"currency": p.currency,
                "total_amount": p.total_amount, "invoice_payload": p.payload,
                "telegram_payment_charge_id": p.charge_id, "provider_payment_charge_id": ""});
        }
        if let Some(k) = &self.keyboard {
            m["reply_markup"] = json!({ "inline_keyboard": k });
        }
        if let Some(d) = self.edit_date {
            m["edit_date"] = json!(d);
        }
        m
    }
}

/// A photo known to the sandbox, reusable by its `file_id`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Photo {
    file_id: String,
    file_unique_id: String,
    width: u32,
    height: u32,
    size: u64,
    /// Set when the bot sent the photo by URL (never fetched).
    url: Option<String>,
}

/// A file a user sent (as a photo or a document), served by getFile and `/file/bot<token>/…`.
pub(crate) struct Upload {
    file_unique_id: String,
    /// `photos/file_7.jpg`, `documents/file_8.png`: Telegram's `file_path` shape.
    path: String,
    bytes: Bytes,
    document: bool,
}

/// A document message's file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Document {
    file_id: String,
    file_unique_id: String,
    file_name: Option<String>,
    mime_type: Option<String>,
    size: u64,
}

/// A callback query delivered to the bot and, once answered, the answer.
pub(crate) struct Callback {
    chat_id: i64,
    answer: Option<Value>,
}

/// What a bot's invoice message shows, plus the payload that only the bot
/// sees again in the pre-checkout query and the successful payment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Invoice {
    title: String,
    description: String,
    payload: String,
    currency: String,
    total_amount: u32,
}

/// The `successful_payment` of a user's service message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Payment {
    currency: String,
    total_amount: u32,
    payload: String,
    charge_id: String,
}

/// A pre-checkout query delivered to the bot and, once answered, the answer
/// (`{"ok", "error_message"}`); Telegram accepts exactly one answer.
pub(crate) struct PreCheckout {
    chat_id: i64,
    answer: Option<Value>,
}

/// A completed Stars payment; refundable once, only for the user who paid.
pub(crate) struct Charge {
    user_id: i64,
    refunded: bool,
}

/// A queued fault, consumed by matching Bot API calls.
#[derive(Clone, Deserialize)]
pub(crate) struct Fault {
    method: String,
    error_code: Option<u16>,
    retry_after: Option<u64>,
    description: Option<String>,
    #[serde(default = "one")]
    times: u32,
    #[serde(default)]
    delay_ms: u64,
}

fn one() -> u32 {
    1
}

/// A Bot API error with Telegram's status, wording and optional retry hint.
#[derive(Debug)]
pub(crate) struct ApiError {
    code: u16,
    description: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    fn not_found() -> Self {
        Self::new(404, "Not Found: method not found")
    }

    fn bad(msg: &str) -> Self {
        Self {
            code: 400,
            description: format!("Bad Request: {msg}"),
            retry_after: None,
        }
    }

    fn too_many(retry_after: u64) -> Self {
        Self {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }

    fn body(&self) -> Value {
        let mut body =
            json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(secs) = self.retry_after {
            body["parameters"] = json!({ "retry_after": secs });
        }
        body
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Refuses a browser's cross-site writes: a page on another site (or another host on the
/// network) must not act as the sandbox's users. Browsers send `Origin` with every POST, PUT and
/// DELETE; the playground's own requests carry this server's address, and API clients (curl,
/// teloxide, the tests) send none.
async fn same_origin(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{Method, header};
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same = |origin: &str| {
        let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        host.is_some_and(|host| host.eq_ignore_ascii_case(authority))
    };
    if writes && origin.is_some_and(|o| !same(o)) {
        return JsonError::new(StatusCode::FORBIDDEN, "cross-site requests are refused")
            .into_response();
    }
    next.run(request).await
}

/// Error answer of the sandbox's own (non Bot API) endpoints: `{"error": "..."}`.
pub(crate) struct JsonError(StatusCode, String);

impl JsonError {
    fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        Self(status, msg.into())
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// Parses a JSON request body, answering 400 with a JSON error when it is invalid.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, JsonError> {
    serde_json::from_slice(body)
        .map_err(|e| JsonError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

type Sh = AxState<Arc<Shared>>;

/// Accepts one fault object or an array of them.
async fn add_faults(AxState(sh): Sh, body: Bytes) -> Result<Json<Value>, JsonError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Fault),
        Many(Vec<Fault>),
    }
    let faults = match parse_body::<OneOrMany>(&body)? {
        OneOrMany::One(f) => vec![f],
        OneOrMany::Many(v) => v,
    };
    let queued = {
        let mut st = sh.lock();
        st.faults.extend(faults.into_iter().filter(|f| f.times > 0));
        st.faults.len()
    };
    sh.notify(json!({"kind": "config"}));
    Ok(Json(json!({ "queued": queued })))
}

async fn clear_faults(AxState(sh): Sh) -> Json<Value> {
    sh.lock().faults.clear();
    sh.notify(json!({"kind": "config"}));
    Json(json!({ "ok": true }))
}

async fn set_config(AxState(sh): Sh, body: Bytes) -> Result<Json<Value>, JsonError> {
    #[derive(Deserialize)]
    struct Config {
        rate_limits: bool,
    }
    let config = parse_body::<Config>(&body)?;
    sh.rate_limits.store(config.rate_limits, Ordering::Relaxed);
    sh.notify(json!({"kind": "config"}));
    Ok(Json(json!({ "rate_limits": config.rate_limits })))
}

/// The switches as they stand: flood limits on or off, and the faults still queued.
async fn get_config(AxState(sh): Sh) -> Json<Value> {
    let faults: Vec<Value> = sh
        .lock()
        .faults
        .iter()
        .map(|f| json!({"method": f.method, "error_code": f.error_code, "times": f.times}))
        .collect();
    let rate_limits = sh.rate_limits.load(Ordering::Relaxed);
    Json(json!({ "rate_limits": rate_limits, "faults": faults }))
}

async fn list_calls(AxState(sh): Sh) -> Json<Value> {
    Json(Value::Array(sh.lock().calls.clone()))
}

async fn clear_calls(AxState(sh): Sh) -> Json<Value> {
    sh.lock().calls.clear();
    sh.notify(json!({"kind": "call", "chat_id": null}));
    Json(json!({ "ok": true }))
}

async fn get_webhook(AxState(sh): Sh) -> Json<Value> {
    Json(json!(sh.lock().webhook))
}

async fn list_commands(AxState(sh): Sh) -> Json<Value> {
    Json(Value::Array(sh.lock().commands.clone()))
}
