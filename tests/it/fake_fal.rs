//! A fake fal.ai queue for black-box tests: submit, signed webhook callbacks, status and result
//! routes, a JWKS endpoint and real PNG files, all on 127.0.0.1 and shaped as fal shapes them.
//! Point FAL_QUEUE_URL at `queue_url()`, FAL_JWKS_URL at `jwks_url()` and FAL_KEY at `KEY`.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use aisha::provider::{
    fal_signature::{REQUEST_ID, SIGNATURE, TIMESTAMP, USER_ID},
    render::render_png,
};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{OriginalUri, State},
    http::{
        HeaderMap, Method, StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The `x-fal-webhook-user-id` of every callback.
pub const USER: &str = "fake-user";

/// What the next submits do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answer the submit, then after the delay post a signed OK callback.
    CallbackOk { delay_ms: u64 },
    /// Answer the submit, then after the delay post a signed ERROR callback.
    CallbackError { delay_ms: u64, error: String },
    /// Accept the job and never call back (a lost callback); the job stays IN_PROGRESS.
    NoCallback,
    /// Post the OK callback and wait for the app's answer before answering the submit.
    CallbackBeforeResponse,
    /// Answer the submit with this status and `{"detail": ...}`; nothing is recorded.
    SubmitFails { status: u16 },
    /// Never answer the submit (the caller times out or dies waiting); nothing is recorded.
    SubmitHangs,
}

#[derive(Clone, Debug)]
pub struct Submit {
    /// The model path, e.g. "/fal-ai/flux-lora".
    pub path: String,
    /// `fal_webhook` as given ("" when absent).
    pub webhook: String,
    pub input: Value,
    pub request_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentCallback {
    pub request_id: String,
    /// The app's HTTP answer; 0 on a network error.
    pub status: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackResult {
    Ok,
    Error(String),
    /// The OK payload under another status (progress, or one fal never sends).
    Status(String),
    /// OK, with these image URLs.
    Urls(Vec<String>),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOpts {
    /// Unix seconds to sign and send; now by default.
    pub timestamp: Option<i64>,
    /// Sign with a key the JWKS does not list.
    pub wrong_key: bool,
    /// Sign one body, send another.
    pub tamper_body: bool,
    /// Send none of the four x-fal-webhook-* headers.
    pub unsigned: bool,
    /// Post to the job's webhook URL with this number in place of the last-but-one path
    /// segment (an attacker aiming a genuinely signed callback at another of the app's jobs).
    pub retarget: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobStatus {
    InQueue,
    InProgress,
    /// The result route answers the OK payload.
    Completed,
    /// Status COMPLETED; the result route answers 422 `{"detail": msg}`.
    Failed(String),
}

struct Job {
    /// The app id: the model path's first two segments ("fal-ai/flux" for "fal-ai/flux/dev").
    app: String,
    webhook: Option<String>,
    prompt: String,
    seed: u64,
    width: u32,
    height: u32,
    num_images: u64,
    status: JobStatus,
    /// A trainer job: the zip URL and, once fetched, how many images it held.
    training: Option<Training>,
}

#[derive(Clone, Debug)]
pub struct Training {
    pub images_url: String,
    /// Images found in the zip (None until fetched).
    pub photos: Option<usize>,
    /// The fewest images the trainer takes (portrait 10, fast 4).
    min_photos: usize,
}

struct Inner {
    base: String,
    key: SigningKey,
    wrong_key: SigningKey,
    http: reqwest::Client,
    mode: Mutex<Mode>,
    submits: Mutex<Vec<Submit>>,
    jobs: Mutex<HashMap<String, Job>>,
    callbacks: Mutex<Vec<SentCallback>>,
    status_calls: AtomicUsize,
}

#[derive(Clone)]
pub struct FakeFal(Arc<Inner>);

impl FakeFal {
    pub const KEY: &'static str = "test-fal-key";

    pub async fn start() -> FakeFal {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeFal(Arc::new(Inner {
            base: format!("http://{}", listener.local_addr().unwrap()),
            key: SigningKey::from_bytes(&rand::random()),
            wrong_key: SigningKey::from_bytes(&rand::random()),
            http: reqwest::Client::new(),
            mode: Mutex::new(Mode::CallbackOk { delay_ms: 50 }),
            submits: Mutex::default(),
            jobs: Mutex::default(),
            callbacks: Mutex::default(),
            status_calls: AtomicUsize::new(0),
        }));
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn queue_url(&self) -> String {
        self.0.base.clone()
    }

    /// Points the app's settings at this fake: fal as the provider, its key, queue and keys, and
    /// its origin as a source of result images.
    pub fn configure(&self, f: figment::Figment) -> figment::Figment {
        use figment::providers::Serialized;
        f.merge(Serialized::default("image_provider", "fal"))
            .merge(Serialized::default("fal_key", Self::KEY))
            .merge(Serialized::default(
                "delivery.image_origins",
                [self.queue_url()],
            ))
            .merge(Serialized::default("fal_queue_url", self.queue_url()))
            .merge(Serialized::default("fal_jwks_url", self.jwks_url()))
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.0.base)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.0.mode.lock().unwrap() = mode;
    }

    pub fn submits(&self) -> Vec<Submit> {
        self.0.submits.lock().unwrap().clone()
    }

    pub async fn wait_submits(&self, n: usize) -> Vec<Submit> {
        wait_for("submits", n, || self.submits()).await
    }

    pub fn callbacks(&self) -> Vec<SentCallback> {
        self.0.callbacks.lock().unwrap().clone()
    }

    pub async fn wait_callbacks(&self, n: usize) -> Vec<SentCallback> {
        wait_for("callbacks", n, || self.callbacks()).await
    }

    pub fn status_calls(&self) -> usize {
        self.0.status_calls.load(Ordering::SeqCst)
    }

    /// A trainer job's archive as fetched (None: not a trainer job).
    pub fn training(&self, request_id: &str) -> Option<Training> {
        self.with_job(request_id, |job| job.training.clone())
    }

    /// Fetches a trainer job's zip the way fal does and counts its images; an error is what
    /// fal's callback would say.
    async fn fetch_archive(&self, id: &str) -> Result<(), String> {
        let Some(training) = self.training(id) else {
            return Ok(());
        };
        let response = self
            .0
            .http
            .get(&training.images_url)
            .send()
            .await
            .map_err(|e| format!("Failed to download images_data_url: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "Failed to download images_data_url: HTTP {}",
                response.status().as_u16()
            ));
        }
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec()))
            .map_err(|e| format!("images_data_url is not a zip archive: {e}"))?;
        let photos = archive
            .file_names()
            .filter_map(Result::ok)
            .filter(|n| {
                let n = n.to_ascii_lowercase();
                [".jpg", ".jpeg", ".png", ".webp"]
                    .iter()
                    .any(|e| n.ends_with(e))
            })
            .count();
        self.with_job(id, |job| {
            if let Some(t) = job.training.as_mut() {
                t.photos = Some(photos);
            }
        });
        if photos < training.min_photos {
            return Err(format!(
                "At least {} images are required, got {photos}",
                training.min_photos
            ));
        }
        Ok(())
    }

    /// Sets what the status and result routes answer for an earlier submit.
    pub fn set_status(&self, request_id: &str, status: JobStatus) {
        self.with_job(request_id, |job| job.status = status);
    }

    fn with_job<T>(&self, request_id: &str, f: impl FnOnce(&mut Job) -> T) -> T {
        let mut jobs = self.0.jobs.lock().unwrap();
        let job = jobs.get_mut(request_id);
        f(job.unwrap_or_else(|| panic!("fake fal: no submit with request id {request_id}")))
    }

    /// Posts a callback for an earlier submit now and returns the app's HTTP answer (0 on a
    /// network error). A genuine one (default `opts`) also completes or fails the job.
    pub async fn send_callback(&self, id: &str, result: CallbackResult, opts: SendOpts) -> u16 {
        let (webhook, body) = self.with_job(id, |job| {
            let body = match &result {
                CallbackResult::Ok => json!({ "request_id": id, "gateway_request_id": id,
                    "status": "OK", "payload": self.payload(id, job) }),
                CallbackResult::Error(e) => json!({ "request_id": id, "gateway_request_id": id,
                    "status": "ERROR", "error": e, "payload": { "detail": [{ "msg": e }] } }),
                CallbackResult::Status(s) => json!({ "request_id": id, "gateway_request_id": id,
                    "status": s, "payload": self.payload(id, job) }),
                CallbackResult::Urls(urls) => {
                    let images: Vec<Value> = urls
                        .iter()
                        .map(|u| {
                            json!({ "url": u, "width": 1024, "height": 1024,
                            "content_type": "image/png" })
                        })
                        .collect();
                    json!({ "request_id": id, "gateway_request_id": id,
                        "status": "OK", "payload": { "images": images, "seed": 1 } })
                }
            };
            if opts == SendOpts::default() {
                match &result {
                    CallbackResult::Ok => job.status = JobStatus::Completed,
                    CallbackResult::Error(e) => job.status = JobStatus::Failed(e.clone()),
                    CallbackResult::Status(_) | CallbackResult::Urls(_) => {}
                }
            }
            let webhook = job.webhook.clone();
            (
                webhook.unwrap_or_else(|| panic!("fake fal: {id} has no fal_webhook")),
                body,
            )
        });
        let timestamp = opts
            .timestamp
            .unwrap_or_else(|| chrono::Utc::now().timestamp());
        let digest = hex::encode(Sha256::digest(body.to_string().as_bytes()));
        let message = format!("{id}\n{USER}\n{timestamp}\n{digest}");
        let key = [&self.0.key, &self.0.wrong_key][usize::from(opts.wrong_key)];
        let signature = hex::encode(key.sign(message.as_bytes()).to_bytes());
        let mut sent = body;
        if opts.tamper_body {
            sent["tampered"] = json!(true);
        }
        let webhook = match opts.retarget {
            None => webhook,
            Some(other) => {
                let mut parts: Vec<String> = webhook.split('/').map(str::to_owned).collect();
                let n = parts.len();
                parts[n - 2] = other.to_string();
                parts.join("/")
            }
        };
        let mut request = self.0.http.post(&webhook).json(&sent);
        if !opts.unsigned {
            request = request
                .header(REQUEST_ID, id)
                .header(USER_ID, USER)
                .header(TIMESTAMP, timestamp.to_string())
                .header(SIGNATURE, signature);
        }
        let answer = request.timeout(Duration::from_secs(30)).send().await;
        let status = answer.map_or(0, |response| response.status().as_u16());
        let request_id = id.to_owned();
        let mut callbacks = self.0.callbacks.lock().unwrap();
        callbacks.push(SentCallback { request_id, status });
        status
    }

    /// The model's output, as the OK callback and the result route carry it.
    fn payload(&self, id: &str, job: &Job) -> Value {
        if job.training.is_some() {
            let file = |name: &str, kind: &str| {
                json!({ "url": format!("{}/files/{id}/{name}", self.0.base),
                    "content_type": kind, "file_name": name, "file_size": 1024 })
            };
            return json!({
                "diffusers_lora_file": file("pytorch_lora_weights.safetensors", "application/octet-stream"),
                "config_file": file("config.json", "application/json"),
            });
        }
        let images: Vec<Value> = (0..job.num_images)
            .map(|i| {
                json!({ "url": format!("{}/files/{id}/{i}.png", self.0.base),
                    "width": job.width, "height": job.height,
                    "content_type": "image/png", "file_name": format!("{i}.png") })
            })
            .collect();
        json!({ "images": images, "seed": job.seed, "prompt": job.prompt,
            "has_nsfw_concepts": vec![false; images.len()], "timings": { "inference": 1.0 } })
    }

    async fn submit(&self, path: &str, query: Option<&str>, body: &[u8]) -> Response {
        let mode = self.0.mode.lock().unwrap().clone();
        if let Mode::SubmitFails { status } = mode {
            return detail(status, json!("fake fal: submit refused"));
        }
        if mode == Mode::SubmitHangs {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return detail(504, json!("fake fal: gave up"));
        }
        let input: Value = match serde_json::from_slice(body) {
            Ok(input @ Value::Object(_)) => input,
            Ok(_) => return detail(422, json!("body must be a JSON object")),
            Err(e) => return detail(422, json!(format!("invalid JSON: {e}"))),
        };
        let trainer = path.contains("trainer") || path.contains("training");
        let training = if trainer {
            let Some(images_url) = input["images_data_url"].as_str() else {
                let msg = "images_data_url required";
                return detail(
                    422,
                    json!([{ "loc": ["body", "images_data_url"], "msg": msg, "type": "missing" }]),
                );
            };
            let portrait = path.contains("portrait");
            let trigger = if portrait {
                "trigger_phrase"
            } else {
                "trigger_word"
            };
            if !input[trigger].is_string() {
                let msg = format!("{trigger} required by this fake");
                return detail(422, json!([{ "loc": ["body", trigger], "msg": msg }]));
            }
            Some(Training {
                images_url: images_url.to_owned(),
                photos: None,
                min_photos: if portrait { 10 } else { 4 },
            })
        } else {
            None
        };
        let num_images = input["num_images"].as_u64().unwrap_or(1);
        let size = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        let (width, height) = match &input["image_size"] {
            Value::Null => (Some(1024), Some(768)), // fal's default, landscape_4_3
            image_size => (size(&image_size["width"]), size(&image_size["height"])),
        };
        let prompt = input["prompt"].as_str().or(training.as_ref().map(|_| ""));
        let (Some(prompt), Some(width), Some(height), 1..=4) = (prompt, width, height, num_images)
        else {
            let msg = "prompt required, image_size {width, height}, num_images 1..=4";
            return detail(
                422,
                json!([{ "loc": ["body"], "msg": msg, "type": "value_error" }]),
            );
        };
        let webhook = query
            .and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "fal_webhook")
            })
            .map(|(_, v)| v.into_owned());
        let id = uuid::Uuid::new_v4().to_string();
        let app: Vec<&str> = path.trim_matches('/').split('/').take(2).collect();
        let app = app.join("/");
        let job = Job {
            app: app.clone(),
            webhook: webhook.clone(),
            prompt: prompt.to_owned(),
            seed: input["seed"].as_u64().unwrap_or_else(rand::random),
            width,
            height,
            num_images,
            status: JobStatus::InProgress,
            training,
        };
        self.0.jobs.lock().unwrap().insert(id.clone(), job);
        let (path, request_id) = (path.to_owned(), id.clone());
        let webhook_given = webhook.is_some();
        let webhook = webhook.unwrap_or_default();
        let submit = Submit {
            path,
            webhook,
            input,
            request_id,
        };
        self.0.submits.lock().unwrap().push(submit);
        let (result, delay_ms) = match mode.clone() {
            Mode::CallbackOk { delay_ms } => (Some(CallbackResult::Ok), delay_ms),
            Mode::CallbackError { delay_ms, error } => {
                (Some(CallbackResult::Error(error)), delay_ms)
            }
            Mode::CallbackBeforeResponse => (Some(CallbackResult::Ok), 0),
            _ => (None, 0),
        };
        match result.filter(|_| webhook_given) {
            Some(result) if mode == Mode::CallbackBeforeResponse => {
                let result = match self.fetch_archive(&id).await {
                    Ok(()) => result,
                    Err(e) => CallbackResult::Error(e),
                };
                self.send_callback(&id, result, SendOpts::default()).await;
            }
            Some(result) => {
                let (fake, id) = (self.clone(), id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    let result = match fake.fetch_archive(&id).await {
                        Ok(()) => result,
                        Err(e) => CallbackResult::Error(e),
                    };
                    fake.send_callback(&id, result, SendOpts::default()).await;
                });
            }
            None => {}
        }
        let url = format!("{}/{app}/requests/{id}", self.0.base);
        Json(
            json!({ "request_id": id, "gateway_request_id": id, "status": "IN_QUEUE",
            "queue_position": 0, "response_url": url, "status_url": format!("{url}/status"),
            "cancel_url": format!("{url}/cancel") }),
        )
        .into_response()
    }

    /// The status route (`result` false) or the result route for one request.
    fn request(&self, app: &str, id: &str, result: bool) -> Response {
        let jobs = self.0.jobs.lock().unwrap();
        let Some(job) = jobs.get(id).filter(|job| job.app == app) else {
            return detail(404, json!("Request not found"));
        };
        let url = format!("{}/{app}/requests/{id}", self.0.base);
        let status = |body: Value| Json(body).into_response();
        match (&job.status, result) {
            (JobStatus::Completed, true) => Json(self.payload(id, job)).into_response(),
            (JobStatus::Failed(error), true) => detail(422, json!(error)),
            (_, true) => detail(400, json!("Request is still in progress")),
            (JobStatus::InQueue, _) => {
                status(json!({ "status": "IN_QUEUE", "queue_position": 0, "response_url": url }))
            }
            (JobStatus::InProgress, _) => {
                status(json!({ "status": "IN_PROGRESS", "logs": null, "response_url": url }))
            }
            _ => status(json!({ "status": "COMPLETED", "logs": null,
                "metrics": { "inference_time": 1.0 }, "response_url": url })),
        }
    }

    /// `/files/{id}/{i}.png`: a real PNG of the submitted size, once the job completed.
    async fn image(&self, id: &str, file: &str) -> Response {
        let index = file
            .strip_suffix(".png")
            .and_then(|i| i.parse::<u64>().ok());
        let found = index.and_then(|i| {
            let jobs = self.0.jobs.lock().unwrap();
            let job = jobs
                .get(id)
                .filter(|j| j.status == JobStatus::Completed && i < j.num_images)?;
            Some((
                job.prompt.clone(),
                job.seed.wrapping_add(i),
                job.width,
                job.height,
            ))
        });
        let Some((prompt, seed, width, height)) = found else {
            return detail(404, json!("File not found"));
        };
        let png = tokio::task::spawn_blocking(move || render_png(&prompt, seed, width, height));
        ([(CONTENT_TYPE, "image/png")], png.await.unwrap().unwrap()).into_response()
    }
}

async fn handle(
    State(fake): State<FakeFal>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, [".well-known", "jwks.json"]) => {
            let x = URL_SAFE_NO_PAD.encode(fake.0.key.verifying_key().as_bytes());
            let key = json!({ "kty": "OKP", "crv": "Ed25519", "x": x });
            return Json(json!({ "keys": [key] })).into_response();
        }
        (&Method::GET, ["files", id, file]) => return fake.image(id, file).await,
        // A media URL that redirects where `?to=` says (to test that redirects are checked).
        (&Method::GET, ["redirect"]) => {
            let to = uri
                .query()
                .and_then(|q| q.strip_prefix("to="))
                .unwrap_or("/")
                .to_owned();
            return (StatusCode::FOUND, [(axum::http::header::LOCATION, to)]).into_response();
        }
        (&Method::GET, [.., "status"]) => _ = fake.0.status_calls.fetch_add(1, Ordering::SeqCst),
        _ => {}
    }
    let expected = format!("Key {}", FakeFal::KEY);
    if headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return detail(401, json!("Unauthorized"));
    }
    match (&method, segments.as_slice()) {
        (&Method::GET, [a, b, "requests", id, "status"]) => {
            fake.request(&format!("{a}/{b}"), id, false)
        }
        (&Method::GET, [a, b, "requests", id]) => fake.request(&format!("{a}/{b}"), id, true),
        (&Method::POST, [_, _, ..]) => fake.submit(&path, uri.query(), &body).await,
        _ => detail(404, json!("Not Found")),
    }
}

fn detail(status: u16, detail: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (status, Json(json!({ "detail": detail }))).into_response()
}

async fn wait_for<T: std::fmt::Debug>(what: &str, n: usize, get: impl Fn() -> Vec<T>) -> Vec<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = get();
        if got.len() >= n {
            return got;
        }
        let have = got.len();
        assert!(
            tokio::time::Instant::now() < deadline,
            "fake fal: waited 15 s for {n} {what}, have {have}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

mod tests {
    //! The fake driven by our real fal client, with a stand-in for the app's webhook route.

    use std::sync::{Arc, Mutex};

    use aisha::{
        config::{FalSettings, Secret},
        provider::{
            AspectRatio, JobRequest, Outcome, ProviderError, Status, fal::FalClient,
            fal_signature::FalVerifier,
        },
    };
    use axum::{
        Router,
        body::Bytes,
        extract::State,
        http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
    };

    use super::{CallbackResult, FakeFal, JobStatus, Mode, SendOpts};

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[derive(Clone)]
    struct App {
        fal: Arc<FalClient>,
        outcomes: Arc<Mutex<Vec<Outcome>>>,
        hook: url::Url,
    }

    /// Our webhook route in miniature: 200 when the callback reads, 401 when its signature
    /// doesn't verify, 400 otherwise.
    async fn receive(State(app): State<App>, headers: HeaderMap, body: Bytes) -> StatusCode {
        match app.fal.callback(&headers, &body, now()).await {
            Ok(outcome) => {
                app.outcomes.lock().unwrap().push(outcome);
                StatusCode::OK
            }
            Err(ProviderError::Signature(_)) => StatusCode::UNAUTHORIZED,
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }

    async fn app(fake: &FakeFal) -> App {
        let settings = FalSettings {
            lora_model: "fal-ai/flux-lora".into(),
            base_model: "fal-ai/flux/dev".into(),
            lora_scale: 1.0,
            num_inference_steps: 28,
            guidance_scale: 3.5,
            trainer: aisha::config::Trainer::Portrait,
            training_steps: None,
        };
        let verifier = FalVerifier::new(reqwest::Client::new(), fake.jwks_url().parse().unwrap());
        let fal = FalClient::new(
            reqwest::Client::new(),
            fake.queue_url().parse().unwrap(),
            Secret::new(FakeFal::KEY),
            settings,
            verifier,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = format!(
            "http://{}/webhooks/fal/17?x=1",
            listener.local_addr().unwrap()
        );
        let app = App {
            fal: Arc::new(fal),
            outcomes: Arc::default(),
            hook: hook.parse().unwrap(),
        };
        let router = Router::new().fallback(receive).with_state(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        app
    }

    fn job(lora: bool, num_images: u8) -> JobRequest {
        JobRequest {
            prompt: "TOK_ab12 a cat astronaut".into(),
            lora_url: lora.then(|| "https://files.example/lora.safetensors".into()),
            aspect: AspectRatio::Portrait9x16,
            num_images,
            seed: 42,
            guidance_scale: None,
            num_inference_steps: None,
        }
    }

    /// Downloads a PNG and reads its size from the IHDR chunk.
    async fn png_size(url: &str) -> (u32, u32) {
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()[CONTENT_TYPE], "image/png");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (be(16), be(20))
    }

    #[tokio::test]
    async fn an_ok_callback_verifies_and_its_images_download() {
        let fake = FakeFal::start().await;
        let app = app(&fake).await;
        let id = app.fal.submit(&job(true, 2), &app.hook).await.unwrap();
        let submits = fake.wait_submits(1).await;
        assert_eq!(submits[0].path, "/fal-ai/flux-lora");
        assert_eq!(submits[0].webhook, app.hook.as_str());
        assert_eq!(submits[0].request_id, id);
        assert_eq!(submits[0].input["seed"], 42);
        let callbacks = fake.wait_callbacks(1).await;
        assert_eq!(
            (callbacks[0].request_id.as_str(), callbacks[0].status),
            (id.as_str(), 200)
        );
        let Outcome::Completed { request_id, images } = app.outcomes.lock().unwrap()[0].clone()
        else {
            panic!("not completed")
        };
        assert_eq!((request_id, images.len()), (id.clone(), 2));
        for image in &images {
            assert_eq!((image.width, image.height), (Some(576), Some(1024)));
            assert_eq!(png_size(&image.url).await, (576, 1024));
        }
        let missing = images[0].url.replace("/0.png", "/2.png");
        assert_eq!(reqwest::get(missing).await.unwrap().status(), 404);
        let status = app.fal.status("fal-ai/flux-lora", &id).await.unwrap();
        assert!(
            matches!(&status, Status::Done(Outcome::Completed { images: i, .. }) if *i == images),
            "{status:?}"
        );
        assert_eq!(fake.status_calls(), 1);
    }

    #[tokio::test]
    async fn an_error_callback_is_a_failure() {
        let fake = FakeFal::start().await;
        let app = app(&fake).await;
        let error = "NSFW content detected".to_owned();
        fake.set_mode(Mode::CallbackError {
            delay_ms: 10,
            error: error.clone(),
        });
        let id = app.fal.submit(&job(false, 1), &app.hook).await.unwrap();
        assert_eq!(fake.wait_callbacks(1).await[0].status, 200);
        let failed = Outcome::Failed {
            request_id: id.clone(),
            error: error.clone(),
        };
        assert_eq!(app.outcomes.lock().unwrap()[0], failed);
        let status = app.fal.status("fal-ai/flux/dev", &id).await.unwrap();
        assert!(
            matches!(&status, Status::Done(Outcome::Failed { error: e, .. }) if e.contains(&error)),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn forged_callbacks_are_refused_and_duplicates_accepted() {
        let fake = FakeFal::start().await;
        let app = app(&fake).await;
        fake.set_mode(Mode::NoCallback);
        let id = app.fal.submit(&job(true, 1), &app.hook).await.unwrap();
        let mut forged = [SendOpts::default(); 4];
        forged[0].wrong_key = true;
        forged[1].tamper_body = true;
        forged[2].timestamp = Some(now() - 400);
        forged[3].unsigned = true;
        for opts in forged {
            assert_eq!(
                fake.send_callback(&id, CallbackResult::Ok, opts).await,
                401,
                "{opts:?}"
            );
        }
        assert!(app.outcomes.lock().unwrap().is_empty());
        assert_eq!(
            app.fal.status("fal-ai/flux-lora", &id).await.unwrap(),
            Status::Pending,
            "forgeries are not fal's doing"
        );
        for _ in 0..2 {
            let status = fake
                .send_callback(&id, CallbackResult::Ok, SendOpts::default())
                .await;
            assert_eq!(status, 200);
        }
        assert_eq!(app.outcomes.lock().unwrap().len(), 2);
        let answers: Vec<u16> = fake.callbacks().iter().map(|c| c.status).collect();
        assert_eq!(answers, [401, 401, 401, 401, 200, 200]);
    }

    #[tokio::test]
    async fn the_callback_can_arrive_before_the_submit_answers() {
        let fake = FakeFal::start().await;
        let app = app(&fake).await;
        fake.set_mode(Mode::CallbackBeforeResponse);
        let id = app.fal.submit(&job(true, 1), &app.hook).await.unwrap();
        assert_eq!(
            fake.callbacks()[0].request_id,
            id,
            "recorded before submit returned"
        );
        let outcomes = app.outcomes.lock().unwrap().clone();
        assert!(
            matches!(&outcomes[..], [Outcome::Completed { request_id, .. }] if *request_id == id)
        );
    }

    #[tokio::test]
    async fn submit_failures_and_bad_requests() {
        let fake = FakeFal::start().await;
        let app = app(&fake).await;
        fake.set_mode(Mode::SubmitFails { status: 500 });
        let err = app.fal.submit(&job(true, 1), &app.hook).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unavailable(_)), "{err}");
        fake.set_mode(Mode::SubmitFails { status: 422 });
        let err = app.fal.submit(&job(true, 1), &app.hook).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Rejected { status: 422, .. }),
            "{err}"
        );
        assert!(fake.submits().is_empty());

        fake.set_mode(Mode::NoCallback);
        let submit = |key: &str, body: &'static str| {
            reqwest::Client::new()
                .post(format!("{}/fal-ai/flux-lora", fake.queue_url()))
                .header("Authorization", format!("Key {key}"))
                .body(body)
                .send()
        };
        for (key, body, status) in [
            ("nope", r#"{"prompt":"p"}"#, 401),
            (FakeFal::KEY, "{not json", 422),
            (FakeFal::KEY, r#"{"seed":1}"#, 422),
            (FakeFal::KEY, r#"{"prompt":"p","num_images":5}"#, 422),
        ] {
            assert_eq!(submit(key, body).await.unwrap().status(), status, "{body}");
        }
        let ok = submit(FakeFal::KEY, r#"{"prompt":"p"}"#).await.unwrap();
        let ok: serde_json::Value = ok.json().await.unwrap();
        let id = ok["request_id"].as_str().unwrap();
        assert_eq!(ok["gateway_request_id"], id);
        let status_url = format!("{}/fal-ai/flux-lora/requests/{id}/status", fake.queue_url());
        assert_eq!(ok["status_url"], status_url.as_str());
        assert_eq!(fake.submits()[0].webhook, "", "no fal_webhook, no callback");
        let jwks = reqwest::get(fake.jwks_url()).await.unwrap();
        let jwks: serde_json::Value = jwks.json().await.unwrap();
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert_eq!(reqwest::get(status_url).await.unwrap().status(), 401);
    }

    #[tokio::test]
    async fn status_follows_set_status() {
        let fake = FakeFal::start().await;
        let app = app(&fake).await;
        fake.set_mode(Mode::NoCallback);
        let id = app.fal.submit(&job(false, 1), &app.hook).await.unwrap();
        assert_eq!(fake.submits()[0].path, "/fal-ai/flux/dev");
        let status = || app.fal.status("fal-ai/flux/dev", &id);
        assert_eq!(status().await.unwrap(), Status::Pending);
        fake.set_status(&id, JobStatus::InQueue);
        assert_eq!(status().await.unwrap(), Status::Pending);
        fake.set_status(&id, JobStatus::Completed);
        let done = status().await.unwrap();
        assert!(
            matches!(done, Status::Done(Outcome::Completed { .. })),
            "{done:?}"
        );
        fake.set_status(&id, JobStatus::Failed("boom".into()));
        let failed = status().await.unwrap();
        assert!(
            matches!(&failed, Status::Done(Outcome::Failed { error, .. }) if error.contains("boom")),
            "{failed:?}"
        );
        let unknown = app.fal.status("fal-ai/flux/dev", "nope").await.unwrap_err();
        assert!(
            matches!(unknown, ProviderError::Rejected { status: 404, .. }),
            "{unknown}"
        );
        assert_eq!(fake.status_calls(), 5);
        assert!(fake.callbacks().is_empty());
    }
}
