//! The fal.ai queue API: submit a job with our webhook URL, read a verified callback, and ask a
//! job's status once (only for the deadline check; nothing polls while a job runs).

use std::time::Duration;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::{
    config::{FalSettings, Secret, Trainer},
    provider::{
        JobRequest, Outcome, ProviderError, ProviderImage, Status, TrainingOutcome,
        TrainingRequest, TrainingStatus, fal_signature::FalVerifier, final_status, training,
    },
};

#[derive(Serialize)]
struct Lora<'a> {
    path: &'a str,
    scale: f64,
}

#[derive(Serialize)]
struct ImageSize {
    width: u32,
    height: u32,
}

/// fal-ai/flux-lora's input (the base FLUX model takes the same fields, without `loras`).
#[derive(Serialize)]
struct Input<'a> {
    prompt: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    loras: Vec<Lora<'a>>,
    image_size: ImageSize,
    num_images: u8,
    seed: u64,
    num_inference_steps: u32,
    guidance_scale: f64,
    enable_safety_checker: bool,
    output_format: &'static str,
}

/// The trainers' input: the portrait trainer names the trigger `trigger_phrase`, the fast one
/// `trigger_word`.
#[derive(Serialize)]
struct TrainerInput<'a> {
    images_data_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_phrase: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_word: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<u32>,
}

#[derive(Deserialize)]
struct Submitted {
    request_id: String,
}

/// fal's webhook body.
#[derive(Deserialize)]
struct Webhook {
    request_id: String,
    status: String,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    images: Vec<ProviderImage>,
}

#[derive(Debug)]
pub struct FalClient {
    http: reqwest::Client,
    queue_url: Url,
    key: Secret,
    settings: FalSettings,
    verifier: FalVerifier,
}

impl FalClient {
    #[must_use]
    pub fn new(
        http: reqwest::Client,
        queue_url: Url,
        key: Secret,
        settings: FalSettings,
        verifier: FalVerifier,
    ) -> Self {
        Self {
            http,
            queue_url,
            key,
            settings,
            verifier,
        }
    }

    /// The model a job runs on: the LoRA model with an avatar, the base model without.
    #[must_use]
    pub fn model_for(&self, job: &JobRequest) -> &str {
        if job.lora_url.is_some() {
            &self.settings.lora_model
        } else {
            &self.settings.base_model
        }
    }

    fn url(&self, path: &str) -> Result<Url, ProviderError> {
        let base = self.queue_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{path}")).map_err(|e| ProviderError::Rejected {
            status: 0,
            detail: format!("bad URL: {e}"),
        })
    }

    /// The trainer avatars are trained on.
    #[must_use]
    pub fn trainer_model(&self) -> &'static str {
        self.settings.trainer.model()
    }

    /// Submits an avatar training with `fal_webhook`; returns fal's request id.
    pub async fn submit_training(
        &self,
        job: &TrainingRequest,
        webhook: &Url,
    ) -> Result<String, ProviderError> {
        let portrait = self.settings.trainer == Trainer::Portrait;
        let input = TrainerInput {
            images_data_url: &job.images_url,
            trigger_phrase: portrait.then_some(job.trigger.as_str()),
            trigger_word: (!portrait).then_some(job.trigger.as_str()),
            steps: job.steps,
        };
        self.post(self.trainer_model(), webhook, &input).await
    }

    /// Verifies a training callback and reads it.
    pub async fn training_callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<TrainingOutcome, ProviderError> {
        let hook = self.verified(headers, body, now).await?;
        final_status(&hook.status)?;
        Ok(training::outcome(
            hook.request_id,
            &hook.status,
            hook.payload,
            hook.error,
        ))
    }

    /// Asks once where a training stands.
    pub async fn training_status(
        &self,
        model: &str,
        request_id: &str,
    ) -> Result<TrainingStatus, ProviderError> {
        let request = request_id.to_owned();
        Ok(match self.finished(model, request_id).await? {
            None => TrainingStatus::Pending,
            Some(Ok(payload)) => {
                TrainingStatus::Done(training::outcome(request, "OK", Some(payload), None))
            }
            Some(Err(detail)) => {
                TrainingStatus::Done(training::outcome(request, "ERROR", None, Some(detail)))
            }
        })
    }

    async fn post<T: Serialize + Sync>(
        &self,
        model: &str,
        webhook: &Url,
        input: &T,
    ) -> Result<String, ProviderError> {
        let mut url = self.url(model)?;
        url.query_pairs_mut()
            .append_pair("fal_webhook", webhook.as_str());
        let response = self
            .http
            .post(url)
            .header("Authorization", format!("Key {}", self.key.expose()))
            .timeout(Duration::from_secs(30))
            .json(input)
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        let submitted: Submitted = read(response).await?;
        Ok(submitted.request_id)
    }

    /// A verified callback's body.
    async fn verified(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Webhook, ProviderError> {
        self.verifier.verify(headers, body, now).await?;
        serde_json::from_slice(body).map_err(|e| ProviderError::Malformed(e.to_string()))
    }

    /// A finished job's result (or the provider's error text); none while it runs.
    async fn finished(
        &self,
        model: &str,
        request_id: &str,
    ) -> Result<Option<Result<Value, String>>, ProviderError> {
        // The status and result routes take the app id without the model's subpath
        // ("fal-ai/flux/dev" → "fal-ai/flux").
        let app: Vec<&str> = model.split('/').take(2).collect();
        let base = format!("{}/requests/{request_id}", app.join("/"));
        let status: Value = self.get(&format!("{base}/status")).await?;
        match status.get("status").and_then(Value::as_str) {
            Some("COMPLETED") => {}
            _ => return Ok(None),
        }
        // The result endpoint answers the model's output, or an error body when it failed.
        Ok(Some(self.get_raw(&base).await?))
    }

    /// Submits to the queue with `fal_webhook`; returns fal's request id.
    pub async fn submit(&self, job: &JobRequest, webhook: &Url) -> Result<String, ProviderError> {
        let (width, height) = job.aspect.size();
        let input = Input {
            prompt: &job.prompt,
            loras: job
                .lora_url
                .as_deref()
                .map(|path| Lora {
                    path,
                    scale: self.settings.lora_scale,
                })
                .into_iter()
                .collect(),
            image_size: ImageSize { width, height },
            num_images: job.num_images,
            seed: job.seed,
            num_inference_steps: job
                .num_inference_steps
                .unwrap_or(self.settings.num_inference_steps),
            guidance_scale: job.guidance_scale.unwrap_or(self.settings.guidance_scale),
            enable_safety_checker: true,
            output_format: "jpeg",
        };
        self.post(self.model_for(job), webhook, &input).await
    }

    /// Verifies a callback (see `fal_signature`) and reads it; `now` is Unix seconds.
    pub async fn callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Outcome, ProviderError> {
        let hook = self.verified(headers, body, now).await?;
        final_status(&hook.status)?;
        Ok(outcome(
            hook.request_id,
            &hook.status,
            hook.payload,
            hook.error,
        ))
    }

    /// Asks once where a job stands (for a callback that never came).
    pub async fn status(&self, model: &str, request_id: &str) -> Result<Status, ProviderError> {
        let Some(result) = self.finished(model, request_id).await? else {
            return Ok(Status::Pending);
        };
        Ok(Status::Done(match result {
            Ok(payload) => outcome(request_id.to_owned(), "OK", Some(payload), None),
            Err(detail) => outcome(request_id.to_owned(), "ERROR", None, Some(detail)),
        }))
    }

    async fn get(&self, path: &str) -> Result<Value, ProviderError> {
        let response = self
            .http
            .get(self.url(path)?)
            .header("Authorization", format!("Key {}", self.key.expose()))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        read(response).await
    }

    /// The result body, or the provider's error text for a job that failed (HTTP 4xx).
    async fn get_raw(&self, path: &str) -> Result<Result<Value, String>, ProviderError> {
        match self.get(path).await {
            Ok(value) => Ok(Ok(value)),
            Err(ProviderError::Rejected { status, detail }) if (400..500).contains(&status) => {
                Ok(Err(detail))
            }
            Err(e) => Err(e),
        }
    }
}

fn outcome(
    request_id: String,
    status: &str,
    payload: Option<Value>,
    error: Option<String>,
) -> Outcome {
    let images = payload
        .and_then(|p| serde_json::from_value::<Payload>(p).ok())
        .map(|p| p.images)
        .unwrap_or_default();
    if status == "OK" && !images.is_empty() {
        Outcome::Completed { request_id, images }
    } else {
        let error = error.unwrap_or_else(|| {
            if status == "OK" {
                "the provider returned no images".into()
            } else {
                format!("the provider reported {status}")
            }
        });
        Outcome::Failed {
            request_id,
            error: super::types::printable(&error),
        }
    }
}

/// A 2xx body as `T`; 4xx is a refusal, 5xx an outage.
async fn read<T: for<'de> Deserialize<'de>>(
    response: reqwest::Response,
) -> Result<T, ProviderError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Unavailable(format!("unexpected response: {e}")));
    }
    // Keep error details short: they end up in logs and in failed generations.
    let detail: String = String::from_utf8_lossy(&body).chars().take(300).collect();
    if status.is_server_error() || status.as_u16() == 429 {
        Err(ProviderError::Unavailable(format!(
            "HTTP {status}: {detail}"
        )))
    } else {
        Err(ProviderError::Rejected {
            status: status.as_u16(),
            detail,
        })
    }
}
