//! What every provider speaks, whoever implements it: a job as submitted, a finished image, a
//! callback's verdict, a status asked once, and the ways a call can fail.

use serde::Deserialize;

use crate::provider::{AspectRatio, fal_signature::SignatureError};

/// One generation as the provider needs it.
#[derive(Clone, Debug)]
pub struct JobRequest {
    /// The prompt as sent (the user's text, with the avatar's trigger phrase prepended once).
    pub prompt: String,
    /// The avatar's LoRA weights, when the image is of an avatar.
    pub lora_url: Option<String>,
    pub aspect: AspectRatio,
    pub num_images: u8,
    pub seed: u64,
    /// A style's own guidance and steps, over the provider's configured ones.
    pub guidance_scale: Option<f64>,
    pub num_inference_steps: Option<u32>,
}

/// A finished image as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProviderImage {
    pub url: String,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// What a verified callback says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed {
        request_id: String,
        images: Vec<ProviderImage>,
    },
    Failed {
        request_id: String,
        error: String,
    },
}

/// A job's state when asked once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Done(Outcome),
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request (bad input, bad key): retrying won't help.
    #[error("provider refused the request: HTTP {status}: {detail}")]
    Rejected { status: u16, detail: String },
    /// Network trouble or a provider outage: worth retrying.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    #[error("callback: {0}")]
    Signature(#[from] SignatureError),
    #[error("callback body is not a fal webhook: {0}")]
    Malformed(String),
    /// A verified callback whose status is not a final one (`OK`, `ERROR`): progress, or a
    /// status this code does not know. It changes nothing.
    #[error("callback status {0:?} is not final")]
    NotFinal(String),
}

/// A provider's string made safe to store: control characters (a NUL, which PostgreSQL refuses)
/// become spaces.
#[must_use]
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// The statuses that end a job; any other a callback reports leaves the job as it is.
pub const FINAL_STATUSES: [&str; 2] = ["OK", "ERROR"];

/// `Ok` when `status` ends a job.
pub fn final_status(status: &str) -> Result<(), ProviderError> {
    if FINAL_STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(ProviderError::NotFinal(status.chars().take(64).collect()))
    }
}
