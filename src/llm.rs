//! Prompt help through an OpenAI-compatible Chat Completions API (`POST {base}/chat/completions`:
//! OpenAI, OpenRouter, a local Ollama or vLLM): translating a prompt for the model, ✨ improving
//! it, 📷 describing a photo as one. Optional: without `LLM_BASE_URL` there is no [`Llm`], and
//! nothing else changes. Whatever goes wrong here (an error, a timeout, a refusal) is an
//! [`LlmError`] the caller turns into a one-line notice; it never stops a generation.
//!
//! The request bodies are `async-openai`'s types. Its client is not used: it retries 429 and 5xx
//! with its own backoff for up to minutes, ignores `Retry-After`, and hides the HTTP status
//! behind a parsed error. Nor is its response type: it requires fields and closed enums
//! (`finish_reason`, `service_tier`) that compatible servers spell differently, so the answer is
//! read into the few fields used here ([`Completion`]). Here one shared reqwest client sends the request, a 429
//! is retried once when `Retry-After` is short, a 5xx once, and the whole call (retries
//! included) is bounded by `llm.timeout_secs`.

use std::time::Duration;

use async_openai::{
    error::WrappedError,
    types::{
        ChatCompletionRequestMessage, ChatCompletionRequestMessageContentPartImage,
        ChatCompletionRequestMessageContentPartText, ChatCompletionRequestSystemMessage,
        ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
        ChatCompletionRequestUserMessageContentPart, CreateChatCompletionRequest, ImageDetail,
        ImageUrl,
    },
};
use base64::Engine;
use chrono::Utc;
use entity::llm_usage;
use reqwest::{StatusCode, header};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use url::Url;

use crate::{
    config::{Secret, Settings},
    domain::UserId,
    media::Format,
};

/// The longest prompt we keep from the model (FLUX reads a few hundred words at most).
const MAX_ANSWER_CHARS: usize = 1000;
/// A photo larger than this is not sent to the vision model.
const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// Pause before the one retry of a 5xx.
const SERVER_ERROR_PAUSE: Duration = Duration::from_millis(300);

const TRANSLATE: &str = "You translate prompts for an image generation model into English. \
Reply with the English translation only: no quotes, no notes, no explanations. Keep every \
detail, name, number and style word; add nothing.";

const IMPROVE: &str = "You write prompts for FLUX, a text-to-image model. Rewrite the user's \
prompt as one richer English prompt of at most 70 words that names the subject, the setting, \
the light, the lens or camera, and the mood. Keep everything the user asked for and add nothing \
that contradicts it. Refer to a person only as 'the person', 'the man' or 'the woman': never a \
name, a trigger word or a token. Reply with the prompt only.";

const DESCRIBE: &str = "Describe this photo as a prompt for FLUX, a text-to-image model, so \
that it could recreate the picture: the subject, clothing, pose, setting, light, camera and \
lens, mood. One paragraph in English of at most 70 words. Never name or identify anyone: say \
'a person', 'a man' or 'a woman'. Reply with the prompt only.";

/// Why the LLM gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM server refused the API key (HTTP {0})")]
    Unauthorized(u16),
    #[error("rate limited by the LLM server")]
    RateLimited,
    #[error("the LLM server failed (HTTP {0})")]
    Server(u16),
    #[error("the LLM server rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("no answer from the LLM in time")]
    Timeout,
    #[error("the LLM declined: {0}")]
    Refused(String),
    #[error("the LLM answered nothing usable")]
    Empty,
    #[error("the LLM's answer could not be read: {0}")]
    Malformed(String),
    #[error("could not reach the LLM: {0}")]
    Transport(String),
    #[error("the photo is not a JPEG, PNG or WEBP of at most 10 MB")]
    Photo,
}

/// The configured LLM: where, which models, how long to wait, how much one user may ask a day.
#[derive(Clone)]
pub struct Llm {
    http: reqwest::Client,
    endpoint: Url,
    key: Option<Secret>,
    model: String,
    vision_model: String,
    timeout: Duration,
    max_retry_after: Duration,
    daily_cap: u32,
}

/// The parts of a Chat Completions answer that are used: the first choice's text or refusal,
/// and why it stopped (any string: servers differ).
#[derive(Debug, serde::Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Debug, serde::Deserialize)]
struct Choice {
    message: AnswerMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Host and path only: a key put in the URL (user info, a query) never reaches a log.
        let endpoint = format!(
            "{}://{}{}",
            self.endpoint.scheme(),
            self.endpoint.host_str().unwrap_or_default(),
            self.endpoint.path()
        );
        f.debug_struct("Llm")
            .field("endpoint", &endpoint)
            .field("model", &self.model)
            .field("vision_model", &self.vision_model)
            .finish_non_exhaustive()
    }
}

impl Llm {
    /// The LLM the settings name, or `None` when prompt help is off (no `LLM_BASE_URL`).
    #[must_use]
    pub fn from_settings(settings: &Settings, http: reqwest::Client) -> Option<Self> {
        let base = settings.llm_base_url.as_ref()?;
        let endpoint = Url::parse(&format!(
            "{}/chat/completions",
            base.as_str().trim_end_matches('/')
        ))
        .ok()?;
        let model = settings.llm_model.trim().to_owned();
        let vision_model = settings
            .llm_vision_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map_or_else(|| model.clone(), str::to_owned);
        Some(Self {
            http,
            endpoint,
            key: settings.llm_api_key.clone(),
            model,
            vision_model,
            timeout: Duration::from_secs(settings.llm.timeout_secs),
            max_retry_after: Duration::from_secs(settings.llm.max_retry_after_secs),
            daily_cap: settings.llm.daily_cap,
        })
    }

    /// `prompt` in English, for the model.
    pub async fn translate(&self, prompt: &str) -> Result<String, LlmError> {
        let messages = vec![system(TRANSLATE), user_text(prompt)];
        self.complete(&self.model, messages).await
    }

    /// A richer English prompt made from `prompt` (no names or trigger words in it).
    pub async fn improve(&self, prompt: &str) -> Result<String, LlmError> {
        let messages = vec![system(IMPROVE), user_text(prompt)];
        self.complete(&self.model, messages).await
    }

    /// A prompt that describes the photo in `image` (sent inline as a data URL: the model never
    /// sees a Telegram file URL, which would carry the bot token).
    pub async fn describe(&self, image: &[u8]) -> Result<String, LlmError> {
        let format = Format::sniff(image)
            .filter(|_| image.len() <= MAX_PHOTO_BYTES)
            .ok_or(LlmError::Photo)?;
        let mime = match format {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        };
        let data = base64::engine::general_purpose::STANDARD.encode(image);
        let parts = vec![
            ChatCompletionRequestUserMessageContentPart::Text(
                ChatCompletionRequestMessageContentPartText {
                    text: "Describe this photo as an image prompt.".to_owned(),
                },
            ),
            ChatCompletionRequestUserMessageContentPart::ImageUrl(
                ChatCompletionRequestMessageContentPartImage {
                    image_url: ImageUrl {
                        url: format!("data:{mime};base64,{data}"),
                        detail: Some(ImageDetail::Low),
                    },
                },
            ),
        ];
        let messages = vec![
            system(DESCRIBE),
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Array(parts),
                name: None,
            }),
        ];
        self.complete(&self.vision_model, messages).await
    }

    /// Counts one request for `user` today; `false` when that is over the daily cap (the request
    /// is then not made). Decided by the database in one statement, so replicas share the count;
    /// the user's counts of earlier days go.
    pub async fn admit<C: ConnectionTrait>(&self, db: &C, user: UserId) -> Result<bool, DbErr> {
        let today = Utc::now().format("%Y-%m-%d").to_string();
        llm_usage::Entity::delete_many()
            .filter(llm_usage::Column::UserId.eq(user.0))
            .filter(llm_usage::Column::Day.ne(today.as_str()))
            .exec(db)
            .await?;
        let row = llm_usage::ActiveModel {
            user_id: Set(user.0),
            day: Set(today),
            requests: Set(1),
        };
        let counted = llm_usage::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([llm_usage::Column::UserId, llm_usage::Column::Day])
                    .value(
                        llm_usage::Column::Requests,
                        Expr::col((llm_usage::Entity, llm_usage::Column::Requests)).add(1),
                    )
                    .to_owned(),
            )
            .exec_with_returning(db)
            .await?;
        Ok(u32::try_from(counted.requests).unwrap_or(u32::MAX) <= self.daily_cap)
    }

    /// One answer from `model`, retries included, within the timeout.
    async fn complete(
        &self,
        model: &str,
        messages: Vec<ChatCompletionRequestMessage>,
    ) -> Result<String, LlmError> {
        let request = CreateChatCompletionRequest {
            model: model.to_owned(),
            messages,
            temperature: Some(0.3),
            max_completion_tokens: Some(400),
            ..Default::default()
        };
        let answer = tokio::time::timeout(self.timeout, self.send_with_retry(&request))
            .await
            .map_err(|_| LlmError::Timeout)??;
        let choice = answer.choices.into_iter().next().ok_or(LlmError::Empty)?;
        if let Some(refusal) = choice.message.refusal.filter(|r| !r.trim().is_empty()) {
            return Err(LlmError::Refused(refusal));
        }
        if choice.finish_reason.as_deref() == Some("content_filter") {
            return Err(LlmError::Refused("content filter".to_owned()));
        }
        let text = clean(choice.message.content.as_deref().unwrap_or_default());
        if text.is_empty() {
            return Err(LlmError::Empty);
        }
        Ok(text)
    }

    /// Sends once; a 429 whose `Retry-After` is short, or a 5xx, once more.
    async fn send_with_retry(
        &self,
        request: &CreateChatCompletionRequest,
    ) -> Result<Completion, LlmError> {
        match self.send(request).await {
            Err(Attempt::RetryAfter(wait)) if wait <= self.max_retry_after => {
                tokio::time::sleep(wait).await;
            }
            Err(Attempt::ServerError(_)) => tokio::time::sleep(SERVER_ERROR_PAUSE).await,
            other => return other.map_err(Attempt::into_error),
        }
        self.send(request).await.map_err(Attempt::into_error)
    }

    async fn send(&self, request: &CreateChatCompletionRequest) -> Result<Completion, Attempt> {
        let mut call = self.http.post(self.endpoint.clone()).json(request);
        if let Some(key) = &self.key {
            call = call.bearer_auth(key.expose());
        }
        let response = call
            .send()
            .await
            .map_err(|e| Attempt::Failed(LlmError::Transport(e.without_url().to_string())))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| Attempt::Failed(LlmError::Transport(e.without_url().to_string())))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| Attempt::Failed(LlmError::Malformed(e.to_string())));
        }
        let message = serde_json::from_slice::<WrappedError>(&body)
            .map(|e| e.error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
        tracing::warn!(status = status.as_u16(), %message, "LLM request failed");
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Attempt::Failed(LlmError::Unauthorized(status.as_u16()))
            }
            StatusCode::TOO_MANY_REQUESTS => {
                Attempt::RetryAfter(retry_after.unwrap_or(Duration::MAX))
            }
            s if s.is_server_error() => Attempt::ServerError(s.as_u16()),
            s => Attempt::Failed(LlmError::Rejected {
                status: s.as_u16(),
                message,
            }),
        })
    }
}

/// How one HTTP attempt ended, when it did not succeed.
enum Attempt {
    /// 429: may be retried after this long (unbounded when the server did not say).
    RetryAfter(Duration),
    ServerError(u16),
    Failed(LlmError),
}

impl Attempt {
    fn into_error(self) -> LlmError {
        match self {
            Self::RetryAfter(_) => LlmError::RateLimited,
            Self::ServerError(status) => LlmError::Server(status),
            Self::Failed(e) => e,
        }
    }
}

/// `Retry-After` in seconds (the form OpenAI-compatible servers send), or `retry-after-ms`.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let secs = value("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| value(header::RETRY_AFTER.as_str()))?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

fn system(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
        content: text.to_owned().into(),
        name: None,
    })
}

fn user_text(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
        content: ChatCompletionRequestUserMessageContent::Text(text.to_owned()),
        name: None,
    })
}

/// The model's answer as one prompt line: no surrounding quotes or code fences, no "Prompt:"
/// label, whitespace made single spaces, at most [`MAX_ANSWER_CHARS`] characters (cut at a word).
#[must_use]
pub fn clean(answer: &str) -> String {
    let mut text = answer.trim();
    for _ in 0..2 {
        text = text
            .trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '«' | '»' | '“' | '”'))
            .trim();
        for label in ["prompt:", "english:", "translation:"] {
            if text
                .get(..label.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(label))
            {
                text = text[label.len()..].trim();
            }
        }
    }
    let one_line = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    cut(&one_line, MAX_ANSWER_CHARS)
}

/// `text` cut to at most `max` characters, at a word boundary when there is one.
#[must_use]
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max).collect();
    match head.rfind(' ') {
        Some(space) if space > 0 => head[..space].trim_end_matches([',', ';']).to_owned(),
        _ => head,
    }
}

/// Whether `prompt` reads as English: every letter in it is a plain Latin one. Anything else
/// (Cyrillic, accents, CJK, ...) is translated before it goes to the model.
#[must_use]
pub fn is_english(prompt: &str) -> bool {
    prompt
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::{clean, cut, is_english, retry_after};
    use reqwest::header::{HeaderMap, HeaderValue};
    use std::time::Duration;

    #[test]
    fn english_is_told_by_its_letters() {
        assert!(is_english("a cat in a hat, 35mm, f/1.8 — golden hour!"));
        assert!(!is_english("кот в шляпе"));
        assert!(!is_english("a cat в шляпе"));
        assert!(!is_english("café au lait"));
        assert!(!is_english("猫"));
        assert!(is_english("1234 !!"));
    }

    #[test]
    fn answers_are_cleaned_to_one_prompt() {
        assert_eq!(clean("  \"A cat in a hat.\"  "), "A cat in a hat.");
        assert_eq!(clean("Prompt: a cat\n\nin a hat"), "a cat in a hat");
        assert_eq!(clean("`English: a dog`"), "a dog");
        assert_eq!(clean("«кот»"), "кот");
        assert_eq!(clean("a\u{0}cat\u{7}"), "a cat");
        assert_eq!(clean("   "), "");
        let long = "word ".repeat(400);
        let cleaned = clean(&long);
        assert!(cleaned.chars().count() <= 1000, "{}", cleaned.len());
        assert!(cleaned.ends_with("word"));
        assert_eq!(cut("абв где", 5), "абв");
        assert_eq!(cut("абвгде", 3), "абв");
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
    }
}
