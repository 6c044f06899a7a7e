//! Integration tests for the Telegram sandbox: a real teloxide `Bot` talks to
//! the standalone sandbox, and a tiny axum webhook receiver checks that every
//! posted update is something teloxide can parse.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisha::sandbox::{Sandbox, SandboxConfig};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use teloxide::payloads::setters::*;
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, InputMedia,
    InputMediaPhoto, LabeledPrice, ParseMode, UpdateKind, UserId,
};
use teloxide::{ApiError, RequestError};

const TOKEN: &str = "4242:sandbox-test-token";
const SECRET: &str = "s3cret_token";

/// One update as the webhook receiver saw it.
struct Received {
    secret: Option<String>,
    body: String,
    kind: &'static str,
}

#[derive(Clone)]
struct Hook {
    bot: Bot,
    log: Arc<Mutex<Vec<Received>>>,
}

/// Webhook receiver playing the bot: parses with teloxide, answers callbacks
/// and pre-checkout queries (refused for payload "refuse", unanswered for "silent").
async fn hook(State(h): State<Hook>, headers: HeaderMap, body: String) -> StatusCode {
    let secret = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let kind = match serde_json::from_str::<Update>(&body).map(|u| u.kind) {
        Ok(UpdateKind::Message(m)) if m.successful_payment().is_some() => "successful_payment",
        Ok(UpdateKind::Message(_)) => "message",
        Ok(UpdateKind::PreCheckoutQuery(q)) => {
            let answer = match q.invoice_payload.as_str() {
                "silent" => None,
                "refuse" => Some(
                    h.bot
                        .answer_pre_checkout_query(q.id, false)
                        .error_message("Sold out"),
                ),
                _ => Some(h.bot.answer_pre_checkout_query(q.id, true)),
            };
            if let Some(answer) = answer
                && answer.await.is_err()
            {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            "pre_checkout_query"
        }
        Ok(UpdateKind::CallbackQuery(q)) => {
            if q.data.as_deref() != Some("silent") {
                let text = format!("got {}", q.data.unwrap_or_default());
                let answer = h
                    .bot
                    .answer_callback_query(q.id)
                    .text(text)
                    .show_alert(true);
                if answer.await.is_err() {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
            }
            "callback_query"
        }
        Ok(UpdateKind::Error(_)) => "error",
        Ok(_) => "other",
        Err(_) => "unparseable",
    };
    h.log.lock().unwrap().push(Received { secret, body, kind });
    StatusCode::OK
}

struct Env {
    base: String,
    bot: Bot,
    http: reqwest::Client,
    hook_url: String,
    log: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Env {
    async fn start(rate_limits: bool) -> Env {
        let sandbox = Sandbox::new(SandboxConfig {
            token: TOKEN.into(),
            rate_limits,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(sandbox.serve(listener, async {
            stopped.await.ok();
        }));
        let api = reqwest::Url::parse(&format!("{base}/sandbox/")).unwrap();
        let bot = Bot::new(TOKEN).set_api_url(api);
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = Hook {
            bot: bot.clone(),
            log: log.clone(),
        };
        let app = axum::Router::new()
            .route("/hook", post(hook))
            .with_state(state);
        let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_url = format!("http://{}/hook", hook_listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(hook_listener, app).await });
        let http = reqwest::Client::new();
        Env {
            base,
            bot,
            http,
            hook_url,
            log,
            stop: Some(stop),
            server,
        }
    }

    async fn with_webhook(rate_limits: bool) -> Env {
        let env = Env::start(rate_limits).await;
        let url = reqwest::Url::parse(&env.hook_url).unwrap();
        env.bot.set_webhook(url).secret_token(SECRET).await.unwrap();
        env
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, body).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let resp = self.http.request(method, url).json(&body).send().await;
        let resp = resp.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// The user writes `text`; returns the sandbox's answer.
    async fn say(&self, user: i64, text: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/sandbox/users/{user}/messages"),
                json!({"text": text}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn chat(&self, user: i64) -> Value {
        let (status, body) = self.get(&format!("/sandbox/users/{user}/chat")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    fn received(&self) -> Vec<(Option<String>, String, &'static str)> {
        let log = self.log.lock().unwrap();
        log.iter()
            .map(|r| (r.secret.clone(), r.body.clone(), r.kind))
            .collect()
    }
}

/// A minimal valid PNG (grayscale, stored deflate block) of the given size.
fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut raw = Vec::new();
    for _ in 0..height {
        raw.push(0); // filter: none
        raw.extend(std::iter::repeat_n(0x80u8, width as usize));
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + byte as u32) % 65521;
        b = (b + a) % 65521;
    }
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend((raw.len() as u16).to_le_bytes());
    zlib.extend((!(raw.len() as u16)).to_le_bytes());
    zlib.extend(&raw);
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn keyboard(data: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Tap", data)]])
}

fn api_error(result: Result<impl std::fmt::Debug, RequestError>) -> String {
    match result {
        Err(RequestError::Api(ApiError::Unknown(text))) => text,
        Err(RequestError::Api(e)) => e.to_string(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn teloxide_end_to_end() {
    let mut env = Env::with_webhook(false).await;
    let (_, webhook) = env.get("/sandbox/webhook").await;
    assert_eq!(webhook["url"], env.hook_url.as_str());
    assert_eq!(webhook["secret_token"], SECRET);

    let me = env.bot.get_me().await.unwrap();
    assert_eq!(me.id.0, 4242);
    assert_eq!(me.username(), "aisha_sandbox_bot");

    // A user writes; the webhook receives a Message update with the secret.
    let said = env.say(42, "hello").await;
    assert_eq!(said["webhook_status"], 200);
    assert_eq!(said["message_id"], 1);
    let got = env.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.as_deref(), Some(SECRET));
    assert_eq!(got[0].2, "message");

    let chat = ChatId(42);
    let text = env
        .bot
        .send_message(chat, "<b>Hi</b> &amp; welcome")
        .parse_mode(ParseMode::Html);
    let sent = text.reply_markup(keyboard("yes")).await.unwrap();
    assert_eq!(sent.text(), Some("Hi & welcome"));
    assert_eq!(sent.id.0, 2);
    assert!(sent.reply_markup().is_some());

    let photo = env
        .bot
        .send_photo(chat, InputFile::memory(png(3, 2)))
        .caption("first");
    let photo = photo.reply_markup(keyboard("photo")).await.unwrap();
    let size = &photo.photo().unwrap()[0];
    assert_eq!((size.width, size.height), (3, 2));
    assert_eq!(photo.caption(), Some("first"));

    let edited = env
        .bot
        .edit_message_caption(chat, photo.id)
        .caption("second")
        .await
        .unwrap();
    assert_eq!(edited.caption(), Some("second"));
    assert!(edited.edit_date().is_some());

    let file = InputFile::file_id(size.file.id.clone());
    let media = InputMedia::Photo(InputMediaPhoto::new(file).caption("third"));
    let replaced = env
        .bot
        .edit_message_media(chat, photo.id, media)
        .await
        .unwrap();
    assert_eq!(replaced.photo().unwrap()[0].file.id, size.file.id);
    assert_eq!(replaced.caption(), Some("third"));

    let group = [
        InputMedia::Photo(InputMediaPhoto::new(InputFile::memory(png(4, 4))).caption("a")),
        InputMedia::Photo(InputMediaPhoto::new(InputFile::file_id(
            size.file.id.clone(),
        ))),
    ];
    let album = env.bot.send_media_group(chat, group).await.unwrap();
    assert_eq!(album.len(), 2);
    assert!(album[0].media_group_id().is_some());
    assert_eq!(album[0].media_group_id(), album[1].media_group_id());
    assert_eq!(album[0].photo().unwrap()[0].width, 4);

    env.bot
        .send_chat_action(chat, teloxide::types::ChatAction::Typing)
        .await
        .unwrap();

    // The user taps a button; the receiver answers while handling it.
    let press = json!({"message_id": sent.id.0, "callback_data": "yes"});
    let (status, pressed) = env.post("/sandbox/users/42/press", press).await;
    assert_eq!(status, 200, "{pressed}");
    assert_eq!(pressed["webhook_status"], 200);
    assert_eq!(
        pressed["answer"],
        json!({"text": "got yes", "show_alert": true})
    );
    let query_id = pressed["callback_query_id"].as_str().unwrap().to_owned();
    // A modified client may send data that is on no button: still delivered.
    let forged = json!({"message_id": sent.id.0, "callback_data": "silent", "wait_answer_ms": 50});
    let (_, forged) = env.post("/sandbox/users/42/press", forged).await;
    assert_eq!(forged["answer"], Value::Null);
    let missing = json!({"message_id": 1, "callback_data": "x"});
    assert_eq!(env.post("/sandbox/users/42/press", missing).await.0, 404);

    // Answering the same query twice is refused.
    let again = env.bot.answer_callback_query(query_id.into()).await;
    assert_eq!(
        api_error(again),
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );

    let kinds: Vec<_> = env.received().iter().map(|r| r.2).collect();
    assert_eq!(kinds, ["message", "callback_query", "callback_query"]);
    assert!(
        env.received()
            .iter()
            .all(|r| r.0.as_deref() == Some(SECRET))
    );

    // Redelivery posts the byte-identical update again.
    let first_update = said["update_id"].as_i64().unwrap();
    let (status, re) = env
        .post(
            &format!("/sandbox/updates/{first_update}/redeliver"),
            json!({}),
        )
        .await;
    assert_eq!((status, re["webhook_status"].as_i64()), (200, Some(200)));
    let got = env.received();
    let original: Value = serde_json::from_str(&got[0].1).unwrap();
    let redelivered: Value = serde_json::from_str(&got[3].1).unwrap();
    assert_eq!(original, redelivered);

    env.bot.delete_message(chat, sent.id).await.unwrap();
    let view = env.chat(42).await;
    let messages = view["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{view}"); // hello, photo, album x2
    assert_eq!(messages[0]["from_bot"], false);
    assert_eq!(messages[1]["caption"], "third");
    assert_eq!(messages[1]["edited"], true);
    assert_eq!(messages[1]["photo"]["width"], 3);
    assert_eq!(messages[1]["buttons"], json!([]));
    assert_eq!(messages[2]["media_group_id"], messages[3]["media_group_id"]);
    assert_eq!(view["chat_actions"], json!(["typing"]));
    assert_eq!(view["callback_answers"][0]["text"], "got yes");
    assert_eq!(view["user"]["first_name"], "User 42");

    // Graceful shutdown ends `serve`.
    env.stop.take().unwrap().send(()).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(5), &mut env.server).await;
    assert!(served.unwrap().unwrap().is_ok());
}

#[tokio::test]
async fn telegram_rules() {
    let env = Env::with_webhook(false).await;
    let chat = ChatId(7);
    let bot = &env.bot;
    assert_eq!(
        api_error(bot.send_message(chat, "x").await),
        "Bad Request: chat not found"
    );
    let profile = json!({"text": "hi", "first_name": "Ann", "language_code": "ru"});
    assert_eq!(env.post("/sandbox/users/7/messages", profile).await.0, 200);
    env.say(7, "again").await; // profile fields are kept
    let user = &env.chat(7).await["user"];
    assert_eq!(
        (&user["first_name"], &user["language_code"]),
        (&json!("Ann"), &json!("ru"))
    );

    // Every supported tag parses, and teloxide understands the entities.
    let rich = "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>\
            <strike>k</strike><del>d</del><span class=\"tg-spoiler\">p</span><tg-spoiler>q</tg-spoiler>\
            <a href=\"https://e.org\">a</a><code>c</code><pre>p</pre><blockquote expandable>q</blockquote>\
            <tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji> &lt;&gt;&amp;&quot;&#65;&#x42;";
    let msg = bot
        .send_message(chat, rich)
        .parse_mode(ParseMode::Html)
        .await
        .unwrap();
    assert_eq!(msg.text(), Some("bsieunskdpqacpq👍 <>&\"AB"));
    assert_eq!(msg.entities().unwrap().len(), 16);

    let photo = InputFile::memory(png(1, 1));
    let res = bot.send_photo(chat, photo).caption("c".repeat(1025)).await;
    assert_eq!(api_error(res), "Bad Request: message caption is too long");

    let long = "я".repeat(4097);
    assert_eq!(
        api_error(bot.send_message(chat, long).await),
        "Bad Request: message is too long"
    );
    assert!(bot.send_message(chat, "😀".repeat(2048)).await.is_ok()); // 4096 UTF-16 units
    let err = api_error(bot.send_message(chat, "😀".repeat(2049)).await);
    assert_eq!(err, "Bad Request: message is too long");

    for (html, expected) in [
        (
            "<b>bold",
            "Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            "<foo>x</foo>",
            "Unsupported start tag \"foo\" at byte offset 0",
        ),
        ("a < b", "Unsupported start tag \"\" at byte offset 2"),
        (
            "<b>x</i>",
            "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\"",
        ),
    ] {
        let res = bot
            .send_message(chat, html)
            .parse_mode(ParseMode::Html)
            .await;
        assert_eq!(
            api_error(res),
            format!("Bad Request: can't parse entities: {expected}")
        );
    }

    let data = "d".repeat(65);
    let res = bot
        .send_message(chat, "k")
        .reply_markup(keyboard(&data))
        .await;
    assert_eq!(api_error(res), "Bad Request: BUTTON_DATA_INVALID");

    let msg = bot
        .send_message(chat, "same")
        .reply_markup(keyboard("k"))
        .await
        .unwrap();
    let res = bot
        .edit_message_text(chat, msg.id, "same")
        .reply_markup(keyboard("k"))
        .await;
    assert!(
        matches!(res, Err(RequestError::Api(ApiError::MessageNotModified))),
        "{res:?}"
    );
    let res = bot
        .edit_message_reply_markup(chat, msg.id)
        .reply_markup(keyboard("k"))
        .await;
    assert!(
        matches!(res, Err(RequestError::Api(ApiError::MessageNotModified))),
        "{res:?}"
    );
    bot.edit_message_text(chat, msg.id, "changed")
        .await
        .unwrap();

    let photo = bot
        .send_photo(chat, InputFile::memory(png(1, 1)))
        .await
        .unwrap();
    let res = bot.edit_message_text(chat, photo.id, "text").await;
    assert_eq!(
        api_error(res),
        "Bad Request: there is no text in the message to edit"
    );
    let res = bot.edit_message_caption(chat, msg.id).caption("c").await;
    assert_eq!(
        api_error(res),
        "Bad Request: there is no caption in the message to edit"
    );
    let res = bot
        .edit_message_text(chat, teloxide::types::MessageId(999), "x")
        .await;
    assert!(matches!(
        res,
        Err(RequestError::Api(ApiError::MessageToEditNotFound))
    ));
    let res = bot
        .edit_message_text(chat, teloxide::types::MessageId(1), "x")
        .await;
    assert!(matches!(
        res,
        Err(RequestError::Api(ApiError::MessageCantBeEdited))
    ));
    let res = bot
        .delete_message(chat, teloxide::types::MessageId(999))
        .await;
    assert!(matches!(
        res,
        Err(RequestError::Api(ApiError::MessageToDeleteNotFound))
    ));
    let res = bot.answer_callback_query("nope".to_string().into()).await;
    assert!(api_error(res).contains("query ID is invalid"));

    let commands = [teloxide::types::BotCommand::new("start", "Start the bot")];
    bot.set_my_commands(commands).await.unwrap();
    assert_eq!(bot.get_my_commands().await.unwrap()[0].command, "start");
    let bad = [teloxide::types::BotCommand::new("Bad-Command", "x")];
    assert_eq!(
        api_error(bot.set_my_commands(bad).await),
        "Bad Request: BOT_COMMAND_INVALID"
    );
    let (_, recorded) = env.get("/sandbox/commands").await;
    assert_eq!(recorded[0]["commands"][0]["command"], "start");
}

#[tokio::test]
async fn flood_limits_faults_and_raw_http() {
    let env = Env::with_webhook(true).await;
    let chat = ChatId(9);
    env.say(9, "hi").await;
    env.bot.send_message(chat, "one").await.unwrap();
    let res = env.bot.send_message(chat, "two").await;
    assert!(
        matches!(&res, Err(RequestError::RetryAfter(s)) if s.seconds() == 1),
        "{res:?}"
    );
    // Edits are not flood-limited.
    let sent = env
        .bot
        .edit_message_text(chat, teloxide::types::MessageId(2), "uno")
        .await;
    assert!(sent.is_ok(), "{sent:?}");
    let (status, _) = env
        .post("/sandbox/config", json!({"rate_limits": false}))
        .await;
    assert_eq!(status, 200);
    env.bot.send_message(chat, "two").await.unwrap();

    let fault = json!({"method": "SENDPHOTO", "error_code": 429, "retry_after": 2});
    assert_eq!(env.post("/sandbox/faults", fault).await.0, 200);
    let res = env.bot.send_photo(chat, InputFile::memory(png(2, 2))).await;
    assert!(
        matches!(&res, Err(RequestError::RetryAfter(s)) if s.seconds() == 2),
        "{res:?}"
    );
    env.bot
        .send_photo(chat, InputFile::memory(png(2, 2)))
        .await
        .unwrap();
    let slow = json!({"method": "sendMessage", "delay_ms": 300});
    env.post("/sandbox/faults", slow).await;
    let started = Instant::now();
    env.bot.send_message(chat, "slow").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    let (_, calls) = env.get("/sandbox/calls").await;
    let photo_calls: Vec<_> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["method"] == "sendPhoto")
        .collect();
    assert_eq!(photo_calls[0]["error_code"], 429);
    assert_eq!(photo_calls[1]["ok"], true);
    assert_eq!(photo_calls[1]["chat_id"], 9);

    // Raw HTTP: wrong token, unknown method, case-insensitive names, forms.
    let url = |token: &str, method: &str| format!("{}/sandbox/bot{token}/{method}", env.base);
    let resp = env.http.get(url("1:wrong", "getMe")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    let resp = env.http.post(url(TOKEN, "fooBar")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["description"], "Not Found: method not found");
    let resp = env.http.get(url(TOKEN, "GETME")).send().await.unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap()["result"]["is_bot"],
        true
    );
    let form = "chat_id=9&text=a+%3C+b&parse_mode=";
    let resp = env.http.post(url(TOKEN, "sendmessage")).body(form);
    let resp = resp
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await;
    let body: Value = resp.unwrap().json().await.unwrap();
    assert_eq!(body["result"]["text"], "a < b", "{body}");
    let html = json!({"chat_id": 9, "parse_mode": "HTML",
            "text": "<a href=\"https://x.org\">link</a> &#128512; <pre><code class=\"language-rust\">fn</code></pre>"});
    let resp = env
        .http
        .post(url(TOKEN, "sendMessage"))
        .json(&html)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["text"], "link 😀 fn");
    let entities = &body["result"]["entities"];
    assert_eq!(
        entities[0],
        json!({"type": "text_link", "url": "https://x.org", "offset": 0, "length": 4})
    );
    assert_eq!(
        entities[1],
        json!({"type": "pre", "language": "rust", "offset": 8, "length": 2})
    );

    // User-side errors are JSON too.
    let resp = env
        .http
        .post(format!("{}/sandbox/users/5/messages", env.base))
        .body("{nope");
    let resp = resp.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
    assert_eq!(env.get("/sandbox/users/5/chat").await.0, 404);
    env.bot.delete_webhook().await.unwrap();
    assert_eq!(
        env.post("/sandbox/users/9/messages", json!({"text": "x"}))
            .await
            .0,
        409
    );
    assert_eq!(env.get("/sandbox/webhook").await.1, Value::Null);
}

/// The SuccessfulPayment that teloxide parses out of a received update body.
fn successful_payment(body: &str) -> teloxide::types::SuccessfulPayment {
    let update: Update = serde_json::from_str(body).unwrap();
    match update.kind {
        UpdateKind::Message(m) => m.successful_payment().cloned().unwrap(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn stars_payments() {
    let env = Env::with_webhook(false).await;
    let bot = &env.bot;
    let chat = ChatId(11);
    env.say(11, "buy").await;
    let pay_button = || InlineKeyboardMarkup::new([[InlineKeyboardButton::pay("Pay 50")]]);
    let invoice = |payload: &str| {
        let price = [LabeledPrice::new("100 credits", 50)];
        bot.send_invoice(chat, "Credits", "100 chat credits", payload, "XTR", price)
    };

    // A Stars invoice: teloxide parses the Message as an invoice.
    let sent = invoice("pack-100")
        .provider_token("")
        .reply_markup(pay_button())
        .await
        .unwrap();
    let shown = sent.invoice().unwrap();
    assert_eq!(
        (
            shown.title.as_str(),
            shown.currency.as_str(),
            shown.total_amount
        ),
        ("Credits", "XTR", 50)
    );
    assert_eq!(shown.start_parameter, "");

    // XTR rules and payload limits.
    let res = invoice("p").provider_token("284685063:TEST:abc").await;
    assert_eq!(api_error(res), "Bad Request: PAYMENT_PROVIDER_INVALID");
    let two = [LabeledPrice::new("a", 1), LabeledPrice::new("b", 2)];
    let res = bot
        .send_invoice(chat, "Credits", "two prices", "p", "XTR", two)
        .await;
    assert_eq!(api_error(res), "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID");
    for payload in [String::new(), "p".repeat(129)] {
        let res = invoice(&payload).await;
        assert_eq!(api_error(res), "Bad Request: INVOICE_PAYLOAD_INVALID");
    }
    let res = invoice("p").reply_markup(keyboard("buy")).await;
    assert_eq!(api_error(res), "Bad Request: REPLY_MARKUP_BUY_EMPTY");

    // Paying: pre-checkout answered ok, then a successful_payment message.
    let body = json!({"message_id": sent.id.0});
    let (status, paid) = env.post("/sandbox/users/11/pay", body).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(
        paid["pre_checkout"],
        json!({"ok": true, "error_message": null})
    );
    assert_eq!(
        (&paid["webhook_status"], &paid["payment_webhook_status"]),
        (&json!(200), &json!(200))
    );
    let charge_id = paid["charge_id"].as_str().unwrap().to_owned();
    assert!(charge_id.starts_with("stxSBX"), "{charge_id}");
    let got = env.received();
    let kinds: Vec<_> = got.iter().map(|r| r.2).collect();
    assert_eq!(
        kinds,
        ["message", "pre_checkout_query", "successful_payment"]
    );
    let query: Value = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!(query["update_id"], paid["pre_checkout_update_id"]);
    assert_eq!(query["pre_checkout_query"]["invoice_payload"], "pack-100");
    assert_eq!(query["pre_checkout_query"]["from"]["id"], 11);
    let payment = successful_payment(&got[2].1);
    assert_eq!(payment.telegram_payment_charge_id.0, charge_id);
    assert_eq!(
        (payment.invoice_payload.as_str(), payment.total_amount),
        ("pack-100", 50)
    );

    // The same query can't be answered twice.
    let query_id = paid["pre_checkout_query_id"].as_str().unwrap().to_owned();
    let again = bot.answer_pre_checkout_query(query_id.into(), true).await;
    assert_eq!(
        api_error(again),
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );

    // Refused pre-checkout: no payment, no second update.
    let refused = invoice("refuse").await.unwrap();
    let body = json!({"message_id": refused.id.0});
    let (status, paid_refused) = env.post("/sandbox/users/11/pay", body).await;
    assert_eq!(status, 200, "{paid_refused}");
    assert_eq!(
        paid_refused["pre_checkout"],
        json!({"ok": false, "error_message": "Sold out"})
    );
    assert_eq!(paid_refused["charge_id"], Value::Null);
    assert_eq!(paid_refused["payment_update_id"], Value::Null);
    assert_eq!(env.received().len(), 4);

    // A forged pre-checkout (modified client) reaches the bot as is.
    let forged = json!({"payload": "forged", "currency": "XTR", "total_amount": 1});
    let (status, paid_forged) = env.post("/sandbox/users/11/pay", forged).await;
    assert_eq!(status, 200, "{paid_forged}");
    let got = env.received();
    let forged_payment = successful_payment(&got[5].1);
    assert_eq!(
        (
            forged_payment.invoice_payload.as_str(),
            forged_payment.total_amount
        ),
        ("forged", 1)
    );

    // No answer at all: no payment; the answer needs a reason when refusing.
    let silent = json!({"payload": "silent", "currency": "XTR", "total_amount": 5,
        "wait_answer_ms": 50});
    let (_, paid_silent) = env.post("/sandbox/users/11/pay", silent).await;
    assert_eq!(
        (&paid_silent["pre_checkout"], &paid_silent["charge_id"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(env.received().len(), 7);
    let silent_id = paid_silent["pre_checkout_query_id"].as_str().unwrap();
    let res = bot
        .answer_pre_checkout_query(silent_id.to_owned().into(), false)
        .await;
    assert_eq!(api_error(res), "Bad Request: ERROR_MESSAGE_EMPTY");

    // Bad pay requests.
    for (body, expected) in [
        (json!({"message_id": 1}), 404), // the user's own text message
        (json!({"message_id": 999}), 404),
        (json!({"payload": "x"}), 400),
    ] {
        assert_eq!(env.post("/sandbox/users/11/pay", body).await.0, expected);
    }
    assert_eq!(
        env.post("/sandbox/users/12/pay", json!({"message_id": 1}))
            .await
            .0,
        404
    );

    // Refunds: once per charge, only for the user who paid.
    let refund = |user: u64, id: &str| bot.refund_star_payment(UserId(user), id.to_owned().into());
    refund(11, &charge_id).await.unwrap();
    let res = refund(11, &charge_id).await;
    assert_eq!(api_error(res), "Bad Request: CHARGE_ALREADY_REFUNDED");
    let res = refund(11, "stxSBXunknown").await;
    assert_eq!(api_error(res), "Bad Request: CHARGE_NOT_FOUND");
    let forged_charge = paid_forged["charge_id"].as_str().unwrap();
    let res = refund(12, forged_charge).await;
    assert_eq!(api_error(res), "Bad Request: CHARGE_NOT_FOUND");

    // Redelivery of the successful_payment update posts the identical JSON.
    let payment_update = paid["payment_update_id"].as_i64().unwrap();
    let path = format!("/sandbox/updates/{payment_update}/redeliver");
    let (status, re) = env.post(&path, json!({})).await;
    assert_eq!((status, &re["webhook_status"]), (200, &json!(200)));
    let got = env.received();
    let original: Value = serde_json::from_str(&got[2].1).unwrap();
    let redelivered: Value = serde_json::from_str(&got[7].1).unwrap();
    assert_eq!(original, redelivered);
    assert_eq!(got[7].2, "successful_payment");

    // The chat view shows invoices, payments, answers and refunds.
    let view = env.chat(11).await;
    let messages = view["messages"].as_array().unwrap();
    assert_eq!(
        messages[1]["invoice"],
        json!({"title": "Credits", "description": "100 chat credits",
            "currency": "XTR", "total_amount": 50})
    );
    assert_eq!(messages[1]["buttons"][0][0]["text"], "Pay 50");
    assert_eq!(
        messages[2]["successful_payment"],
        json!({"currency": "XTR", "total_amount": 50, "invoice_payload": "pack-100",
            "telegram_payment_charge_id": charge_id})
    );
    assert_eq!(messages[2]["from_bot"], false);
    assert_eq!(messages[0]["invoice"], Value::Null);
    let answers = view["pre_checkout_answers"].as_array().unwrap();
    assert_eq!(answers.len(), 3, "{view}");
    assert_eq!(
        answers[1],
        json!({"pre_checkout_query_id": paid_refused["pre_checkout_query_id"],
            "ok": false, "error_message": "Sold out"})
    );
    assert_eq!(
        view["refunds"],
        json!([{ "telegram_payment_charge_id": charge_id }])
    );

    // allowed_updates without pre_checkout_query: the query never arrives.
    let url = reqwest::Url::parse(&env.hook_url).unwrap();
    bot.set_webhook(url)
        .allowed_updates([AllowedUpdate::Message])
        .await
        .unwrap();
    let body = json!({"message_id": sent.id.0});
    let (_, filtered) = env.post("/sandbox/users/11/pay", body).await;
    assert_eq!(
        (&filtered["webhook_status"], &filtered["pre_checkout"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(env.received().len(), 8);
}

/// What the playground page relies on: the page and its assets, users made and listed without a
/// message, a live event for every change, the pictures by file id, the switches as they stand,
/// and bad input refused with a reason.
#[tokio::test]
async fn playground_api() {
    let env = Env::with_webhook(false).await;
    let page = env.http.get(format!("{}/", env.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    for asset in ["/sandbox/ui/app.css", "/sandbox/ui/app.js"] {
        assert!(html.contains(asset), "the page links {asset}");
        let resp = env
            .http
            .get(format!("{}{asset}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{asset} is served by the binary");
    }
    let (status, _) = env.get("/sandbox/ui/other.js").await;
    assert_eq!(status, 404);

    // Live events: the stream says hello, then names the chat that changed.
    let mut events = env
        .http
        .get(format!("{}/sandbox/events", env.base))
        .send()
        .await
        .unwrap();
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let mut next_event = async || -> Value {
        loop {
            if let Some(end) = seen.find("\n\n") {
                let block: String = seen.drain(..end + 2).collect();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return serde_json::from_str(data).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
                .await
                .expect("an event within 5 s")
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    assert_eq!(next_event().await["kind"], "resync");

    let (status, user) = env
        .put(
            "/sandbox/users/7",
            json!({"first_name": "Alex", "language_code": "en"}),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(next_event().await, json!({"kind": "chat", "chat_id": 7}));
    let (_, users) = env.get("/sandbox/users").await;
    assert_eq!(users[0]["user"]["first_name"], "Alex");
    assert_eq!(users[0]["messages"], 0);

    // The user's profile travels with what they send.
    let said = env
        .post("/sandbox/users/7/messages", json!({"text": "hi"}))
        .await;
    assert_eq!(said.0, 200, "{}", said.1);
    assert_eq!(next_event().await, json!({"kind": "chat", "chat_id": 7}));
    let got = env.received();
    let update: Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(update["message"]["from"]["language_code"], "en");

    // A bot's photo: a call event, and the picture is downloadable for the page.
    let sent = env
        .bot
        .send_photo(ChatId(7), InputFile::memory(png(3, 2)))
        .caption("<b>x</b>")
        .parse_mode(ParseMode::Html)
        .await
        .unwrap();
    let event = next_event().await;
    assert_eq!(
        (&event["kind"], &event["chat_id"]),
        (&json!("call"), &json!(7))
    );
    let (_, chat) = env.get("/sandbox/users/7/chat").await;
    let shown = &chat["messages"][1];
    assert_eq!(shown["caption_entities"][0]["type"], "bold");
    let src = shown["photo"]["src"].as_str().expect("a src for the page");
    let file = env
        .http
        .get(format!("{}{src}", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(file.headers()["content-type"], "image/png");
    assert_eq!(file.bytes().await.unwrap().as_ref(), png(3, 2).as_slice());
    assert_eq!(sent.id.0, 2);
    let (_, calls) = env.get("/sandbox/calls").await;
    let call = calls.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        call["params"]["caption"], "<b>x</b>",
        "the call log keeps the params"
    );
    assert_eq!(call["result"]["message_id"], 2, "and the result");

    // The switches as they stand.
    env.post(
        "/sandbox/faults",
        json!({"method": "sendMessage", "error_code": 500}),
    )
    .await;
    assert_eq!(next_event().await["kind"], "config");
    let (_, config) = env.get("/sandbox/config").await;
    assert_eq!(config["rate_limits"], false);
    assert_eq!(config["faults"][0]["method"], "sendMessage");

    // Bad input: a reason, nothing changed.
    for (path, body) in [
        ("/sandbox/users/7", json!({"first_name": "  "})),
        ("/sandbox/users/0", json!({"first_name": "Zero"})),
        ("/sandbox/users/x", json!({"first_name": "X"})),
        ("/sandbox/users/7", json!({"name": "no first_name"})),
    ] {
        let (status, body) = env.put(path, body).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (_, users) = env.get("/sandbox/users").await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["user"]["first_name"], "Alex");
    let (status, _) = env.get("/sandbox/files/AgACAgIAAxnope").await;
    assert_eq!(status, 404);

    // Another site's page cannot act as a user; the page itself (same origin) can.
    let host = env.base.trim_start_matches("http://").to_owned();
    for (origin, expected) in [("https://evil.example", 403), (env.base.as_str(), 200)] {
        let resp = env
            .http
            .post(format!("{}/sandbox/users/7/messages", env.base))
            .header("origin", origin)
            .json(&json!({"text": "from a page"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{origin} → {host}");
    }
}
