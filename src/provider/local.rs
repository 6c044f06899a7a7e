//! The offline provider (`IMAGE_PROVIDER=local`, the default): it renders real PNGs itself and
//! calls back exactly as fal does — a signed webhook to our route, verified by the same
//! [`FalVerifier`] against a JWKS it publishes on our own server — so `cargo run` exercises the
//! production path with no network and no account.
//!
//! Its jobs live in memory: like a real provider losing a job, a restart forgets them, and the
//! generation's deadline check then finds "not found" and refunds.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::provider::{
    ImageProvider, JobRequest, Outcome, ProviderError, ProviderImage, Status, TrainingOutcome,
    TrainingRequest, TrainingStatus,
    fal_signature::{FalVerifier, REQUEST_ID, SIGNATURE, TIMESTAMP, USER_ID},
    final_status, render, training,
};

/// Jobs are forgotten this long after they were submitted (their images with them).
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// Jobs held at once (a bound on memory, like a real provider's queue limit).
const MAX_JOBS: usize = 100_000;
/// Callback attempts before the provider gives up (then the deadline check takes over).
const CALLBACK_ATTEMPTS: u32 = 5;

struct Job {
    prompt: String,
    seed: u64,
    width: u32,
    height: u32,
    num_images: u8,
    done: bool,
    submitted: Instant,
}

/// Keeps a job table bounded: when full, jobs older than `KEEP` are forgotten; still full, the
/// submit is refused (the caller refunds).
fn make_room<T>(
    table: &mut HashMap<String, T>,
    submitted: impl Fn(&T) -> Instant,
) -> Result<(), ProviderError> {
    if table.len() >= MAX_JOBS {
        table.retain(|_, job| submitted(job).elapsed() < KEEP);
    }
    if table.len() >= MAX_JOBS {
        return Err(ProviderError::Unavailable(
            "the local provider is full; try again later".into(),
        ));
    }
    Ok(())
}

/// A training: running (none) or finished with the trainer's verdict.
struct Training {
    result: Option<Result<(), String>>,
    submitted: Instant,
}

struct Inner {
    http: reqwest::Client,
    key: SigningKey,
    verifier: FalVerifier,
    /// Our own server, where the JWKS and the images are served.
    base: Url,
    delay: Duration,
    jobs: Mutex<HashMap<String, Job>>,
    trainings: Mutex<HashMap<String, Training>>,
}

#[derive(Clone)]
pub struct LocalProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider").finish_non_exhaustive()
    }
}

impl LocalProvider {
    /// `base` is where our server listens (the JWKS and image routes hang off it).
    #[must_use]
    pub fn new(http: reqwest::Client, base: Url, delay: Duration) -> Self {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let jwks = join(&base, "/local-provider/jwks.json");
        let verifier = FalVerifier::new(http.clone(), jwks);
        Self {
            inner: Arc::new(Inner {
                http,
                key,
                verifier,
                base,
                delay,
                jobs: Mutex::new(HashMap::new()),
                trainings: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The provider's public side: its JWKS and its rendered images.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/local-provider/jwks.json", get(jwks))
            .route("/local-provider/files/{request_id}/{file}", get(file))
            .route("/local-provider/loras/{request_id}/{file}", get(lora_file))
            .with_state(self.clone())
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn images(&self, request_id: &str, job: &Job) -> Vec<ProviderImage> {
        (0..job.num_images)
            .map(|i| ProviderImage {
                url: join(
                    &self.inner.base,
                    &format!("/local-provider/files/{request_id}/{i}.png"),
                )
                .to_string(),
                width: Some(job.width),
                height: Some(job.height),
                content_type: Some("image/png".into()),
            })
            .collect()
    }

    fn trainings(&self) -> std::sync::MutexGuard<'_, HashMap<String, Training>> {
        self.inner
            .trainings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// fal's webhook body and headers for a finished job.
    fn signed_callback(&self, request_id: &str, images: &[ProviderImage]) -> (Vec<u8>, HeaderMap) {
        let images: Vec<Value> = images
            .iter()
            .map(|i| json!({"url": i.url, "width": i.width, "height": i.height, "content_type": i.content_type}))
            .collect();
        self.signed(request_id, "OK", &json!({ "images": images }), None)
    }

    /// The trainer's output, as fal shapes it.
    fn lora_payload(&self, request_id: &str) -> Value {
        let file = |name: &str| {
            join(
                &self.inner.base,
                &format!("/local-provider/loras/{request_id}/{name}"),
            )
            .to_string()
        };
        json!({
            "diffusers_lora_file": { "url": file(LORA_FILE), "content_type": "application/octet-stream",
                "file_name": LORA_FILE },
            "config_file": { "url": file(CONFIG_FILE), "content_type": "application/json",
                "file_name": CONFIG_FILE },
        })
    }

    /// A signed fal webhook: body and headers.
    fn signed(
        &self,
        request_id: &str,
        status: &str,
        payload: &Value,
        error: Option<&str>,
    ) -> (Vec<u8>, HeaderMap) {
        let body = json!({
            "request_id": request_id,
            "gateway_request_id": request_id,
            "status": status,
            "payload": payload,
            "error": error,
        })
        .to_string()
        .into_bytes();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let message = format!(
            "{request_id}\nlocal\n{timestamp}\n{}",
            hex::encode(Sha256::digest(&body))
        );
        let signature = hex::encode(self.inner.key.sign(message.as_bytes()).to_bytes());
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (REQUEST_ID, request_id),
            (USER_ID, "local"),
            (TIMESTAMP, &timestamp),
            (SIGNATURE, &signature),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        (body, headers)
    }

    /// After the render delay, posts the signed callback (retrying a few times, as fal does).
    async fn run(self, request_id: String, webhook: Url) {
        tokio::time::sleep(self.inner.delay).await;
        let images = {
            let mut jobs = self.jobs();
            let Some(job) = jobs.get_mut(&request_id) else {
                return;
            };
            job.done = true;
            self.images(&request_id, job)
        };
        // Signed afresh each time, so the timestamp stays within the replay window.
        self.call_back(&webhook, || self.signed_callback(&request_id, &images))
            .await;
    }

    /// "Trains": fetches the photo archive through the URL it was given (as fal does), checks
    /// that it is a zip of images, waits the render delay and calls back with a LoRA file.
    async fn run_training(self, request_id: String, job: TrainingRequest, webhook: Url) {
        tokio::time::sleep(self.inner.delay).await;
        let verdict = self.fetch_archive(&job.images_url).await;
        if let Some(training) = self.trainings().get_mut(&request_id) {
            training.result = Some(verdict.clone());
        }
        let payload = match &verdict {
            Ok(()) => self.lora_payload(&request_id),
            Err(e) => json!({ "detail": e }),
        };
        let (status, error) = match &verdict {
            Ok(()) => ("OK", None),
            Err(e) => ("ERROR", Some(e.as_str())),
        };
        self.call_back(&webhook, || {
            self.signed(&request_id, status, &payload, error)
        })
        .await;
    }

    async fn fetch_archive(&self, url: &str) -> Result<(), String> {
        let response = self
            .inner
            .http
            .get(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| format!("could not download the images: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!(
                "could not download the images: HTTP {}",
                response.status()
            ));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("could not download the images: {}", e.without_url()))?;
        let images = tokio::task::spawn_blocking(move || count_images(&bytes))
            .await
            .map_err(|e| e.to_string())??;
        if images == 0 {
            return Err("the archive holds no images".into());
        }
        Ok(())
    }

    /// Posts a callback, retrying a few times as fal does.
    async fn call_back(&self, webhook: &Url, sign: impl Fn() -> (Vec<u8>, HeaderMap)) {
        let mut pause = Duration::from_secs(1);
        for attempt in 1..=CALLBACK_ATTEMPTS {
            let (body, headers) = sign();
            let sent = self
                .inner
                .http
                .post(webhook.clone())
                .headers(headers)
                .body(body)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => {
                    tracing::warn!(status = %r.status(), attempt, "local provider: callback refused")
                }
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), attempt, "local provider: callback failed")
                }
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

#[async_trait]
impl ImageProvider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }

    fn model_for(&self, job: &JobRequest) -> String {
        if job.lora_url.is_some() {
            "local/lora".into()
        } else {
            "local/base".into()
        }
    }

    async fn submit(&self, job: &JobRequest, webhook: &Url) -> Result<String, ProviderError> {
        let (width, height) = job.aspect.size();
        let request_id = format!("local-{:032x}", rand::random::<u128>());
        {
            let mut jobs = self.jobs();
            make_room(&mut jobs, |j| j.submitted)?;
            jobs.insert(
                request_id.clone(),
                Job {
                    prompt: job.prompt.clone(),
                    seed: job.seed,
                    width,
                    height,
                    num_images: job.num_images,
                    done: false,
                    submitted: Instant::now(),
                },
            );
        }
        tokio::spawn(self.clone().run(request_id.clone(), webhook.clone()));
        Ok(request_id)
    }

    async fn callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Outcome, ProviderError> {
        self.inner.verifier.verify(headers, body, now).await?;
        let hook: Value =
            serde_json::from_slice(body).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let request_id = hook
            .get("request_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::Malformed("no request_id".into()))?
            .to_owned();
        final_status(hook.get("status").and_then(Value::as_str).unwrap_or(""))?;
        let images: Vec<ProviderImage> = hook
            .pointer("/payload/images")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        if hook.get("status").and_then(Value::as_str) == Some("OK") && !images.is_empty() {
            Ok(Outcome::Completed { request_id, images })
        } else {
            let error = hook
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the provider reported an error");
            let error = super::types::printable(error);
            Ok(Outcome::Failed { request_id, error })
        }
    }

    fn trainer_model(&self) -> String {
        "local/trainer".into()
    }

    async fn submit_training(
        &self,
        job: &TrainingRequest,
        webhook: &Url,
    ) -> Result<String, ProviderError> {
        let request_id = format!("local-train-{:032x}", rand::random::<u128>());
        {
            let mut trainings = self.trainings();
            make_room(&mut trainings, |t| t.submitted)?;
            trainings.insert(
                request_id.clone(),
                Training {
                    result: None,
                    submitted: Instant::now(),
                },
            );
        }
        tokio::spawn(
            self.clone()
                .run_training(request_id.clone(), job.clone(), webhook.clone()),
        );
        Ok(request_id)
    }

    async fn training_callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<TrainingOutcome, ProviderError> {
        self.inner.verifier.verify(headers, body, now).await?;
        let hook: Value =
            serde_json::from_slice(body).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let request_id = hook
            .get("request_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::Malformed("no request_id".into()))?
            .to_owned();
        let status = hook.get("status").and_then(Value::as_str).unwrap_or("");
        final_status(status)?;
        let error = hook.get("error").and_then(Value::as_str).map(str::to_owned);
        Ok(training::outcome(
            request_id,
            status,
            hook.get("payload").cloned(),
            error,
        ))
    }

    async fn training_status(
        &self,
        _model: &str,
        request_id: &str,
    ) -> Result<TrainingStatus, ProviderError> {
        let request = request_id.to_owned();
        let result = self.trainings().get(request_id).map(|t| t.result.clone());
        Ok(match result {
            Some(Some(Ok(()))) => TrainingStatus::Done(training::outcome(
                request.clone(),
                "OK",
                Some(self.lora_payload(&request)),
                None,
            )),
            Some(Some(Err(error))) => TrainingStatus::Done(TrainingOutcome::Failed {
                request_id: request,
                error,
            }),
            Some(None) => TrainingStatus::Pending,
            None => TrainingStatus::Done(TrainingOutcome::Failed {
                request_id: request,
                error: "the training was lost (the provider restarted)".into(),
            }),
        })
    }

    async fn status(&self, _model: &str, request_id: &str) -> Result<Status, ProviderError> {
        let jobs = self.jobs();
        Ok(match jobs.get(request_id) {
            Some(job) if job.done => Status::Done(Outcome::Completed {
                request_id: request_id.to_owned(),
                images: self.images(request_id, job),
            }),
            Some(_) => Status::Pending,
            None => Status::Done(Outcome::Failed {
                request_id: request_id.to_owned(),
                error: "the job was lost (the provider restarted)".into(),
            }),
        })
    }
}

const LORA_FILE: &str = "pytorch_lora_weights.safetensors";
const CONFIG_FILE: &str = "config.json";

/// Images (JPEG, PNG or WEBP by their first bytes) in a zip.
fn count_images(bytes: &[u8]) -> Result<usize, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the images are not a zip archive: {e}"))?;
    let mut images = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("unreadable archive entry: {e}"))?;
        let mut head = [0u8; 12];
        let read = std::io::Read::read(&mut entry, &mut head).unwrap_or(0);
        if crate::media::Format::sniff(&head[..read]).is_some() {
            images += 1;
        }
    }
    Ok(images)
}

/// The "trained" files: small, deterministic, as served by a real trainer's storage.
async fn lora_file(
    State(provider): State<LocalProvider>,
    Path((request_id, file)): Path<(String, String)>,
) -> Response {
    let trained = matches!(
        provider.trainings().get(&request_id).map(|t| &t.result),
        Some(Some(Ok(())))
    );
    match (trained, file.as_str()) {
        (true, LORA_FILE) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            format!("local LoRA weights for {request_id}"),
        )
            .into_response(),
        (true, CONFIG_FILE) => {
            Json(json!({ "trainer": "local", "request_id": request_id })).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(path);
    url
}

async fn jwks(State(provider): State<LocalProvider>) -> Json<Value> {
    let x = URL_SAFE_NO_PAD.encode(provider.inner.key.verifying_key().as_bytes());
    Json(json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x }] }))
}

async fn file(
    State(provider): State<LocalProvider>,
    Path((request_id, file)): Path<(String, String)>,
) -> Response {
    let index: Option<u8> = file.strip_suffix(".png").and_then(|i| i.parse().ok());
    let spec = {
        let jobs = provider.jobs();
        jobs.get(&request_id).and_then(|job| {
            let i = index.filter(|i| *i < job.num_images)?;
            Some((
                job.prompt.clone(),
                job.seed.wrapping_add(u64::from(i)),
                job.width,
                job.height,
            ))
        })
    };
    let Some((prompt, seed, width, height)) = spec else {
        return (StatusCode::NOT_FOUND, "no such image").into_response();
    };
    // Rendering takes a few milliseconds per megapixel: keep it off the async workers.
    let rendered =
        tokio::task::spawn_blocking(move || render::render_png(&prompt, seed, width, height)).await;
    match rendered {
        Ok(Ok(png)) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "render failed").into_response(),
    }
}
