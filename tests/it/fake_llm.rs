//! A fake OpenAI-compatible Chat Completions server for black-box tests: `POST
//! /v1/chat/completions` with the real API's bearer auth, request and response bodies and error
//! shapes (401 `invalid_api_key`, 429 with `retry-after`, 500 `server_error`, a refusal), and a
//! request that never answers. Point LLM_BASE_URL at `base_url()` and LLM_API_KEY at `KEY`.
#![allow(dead_code)]

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// What the next request gets instead of an answer (one fault per request, in order).
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 `rate_limit_exceeded` with `retry-after: secs`.
    RateLimited { retry_after_secs: u64 },
    /// 500 `server_error`.
    ServerError,
    /// 401 `invalid_api_key`, as for a wrong key.
    Unauthorized,
    /// Never answers (the caller's timeout ends it).
    Hang,
    /// 200 with `message.refusal` set and no content.
    Refusal,
    /// The usual answer, this much later.
    Delay { ms: u64 },
}

/// One request that passed authentication.
#[derive(Clone, Debug)]
pub struct Request {
    pub body: Value,
}

impl Request {
    pub fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or_default()
    }

    pub fn system(&self) -> &str {
        self.body["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
    }

    /// The user message's text (a plain string, or the text part of an array).
    pub fn user_text(&self) -> String {
        let content = &self.body["messages"][1]["content"];
        match content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        }
    }

    /// The `image_url.url` of the user message, if it carries an image.
    pub fn image_url(&self) -> Option<String> {
        self.body["messages"][1]["content"]
            .as_array()?
            .iter()
            .find_map(|p| p["image_url"]["url"].as_str().map(str::to_owned))
    }
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<Fault>,
    /// Fixed answers to translations: the user's text → the English.
    translations: HashMap<String, String>,
    requests: Vec<Request>,
}

#[derive(Clone)]
pub struct FakeLlm {
    addr: std::net::SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// What the fake answers to ✨ for `prompt`.
pub fn improved(prompt: &str) -> String {
    format!("{prompt}, golden hour light, 85mm lens, shallow depth of field, calm mood")
}

/// What the fake answers to 📷.
pub const DESCRIBED: &str =
    "a red bicycle leaning on a brick wall, soft morning light, 35mm photo, quiet street mood";

impl FakeLlm {
    pub const KEY: &'static str = "sk-test-aisha-0123456789";

    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, inner }
    }

    /// `LLM_BASE_URL`: the API base, `/v1` included, as OpenAI documents it.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn translate(&self, from: &str, to: &str) {
        self.inner
            .lock()
            .unwrap()
            .translations
            .insert(from.to_owned(), to.to_owned());
    }

    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }
}

fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body =
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, Json(body)).into_response()
}

fn answer(model: &str, content: Option<&str>, refusal: Option<&str>) -> Response {
    Json(json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1_741_570_283,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": content,
                "refusal": refusal,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 1117,
            "completion_tokens": 46,
            "total_tokens": 1163,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035"
    }))
    .into_response()
}

async fn completions(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!("Bearer {}", FakeLlm::KEY);
    if headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided: sk-wrong. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        );
    };
    let well_formed = body["model"].as_str().is_some_and(|m| !m.is_empty())
        && body["messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|m| m["role"].is_string()));
    if !well_formed {
        return error(
            StatusCode::BAD_REQUEST,
            "'messages' is a required property",
            "invalid_request_error",
            None,
        );
    }
    let request = Request { body };
    let (fault, translation) = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(request.clone());
        let translation = inner.translations.get(&request.user_text()).cloned();
        (inner.faults.pop_front(), translation)
    };
    let model = request.model().to_owned();
    match fault {
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, \
                     Requested 1. Please try again in {retry_after_secs}s."
                ),
                "requests",
                Some("rate_limit_exceeded"),
            );
            response
                .headers_mut()
                .insert("retry-after", retry_after_secs.to_string().parse().unwrap());
            return response;
        }
        Some(Fault::ServerError) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            );
        }
        Some(Fault::Unauthorized) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
                Some("invalid_api_key"),
            );
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Fault::Refusal) => {
            return answer(&model, None, Some("I'm sorry, I can't help with that."));
        }
        Some(Fault::Delay { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
        None => {}
    }
    let system = request.system().to_ascii_lowercase();
    let content = if request.image_url().is_some() {
        DESCRIBED.to_owned()
    } else if system.contains("translate") {
        translation.unwrap_or_else(|| "a translated prompt".to_owned())
    } else {
        improved(&request.user_text())
    };
    answer(&model, Some(&content), None)
}
