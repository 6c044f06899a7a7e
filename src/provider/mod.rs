//! Image providers: who renders the pictures. fal.ai in production; a local renderer offline.
//! Both push completions to our webhook: no loop ever polls a provider while a job runs.

pub mod fal;
pub mod fal_signature;
pub mod local;
pub mod render;
pub mod training;
mod types;

use async_trait::async_trait;
use axum::http::HeaderMap;
use url::Url;

pub use training::{TrainingOutcome, TrainingRequest, TrainingStatus};
pub use types::{JobRequest, Outcome, ProviderError, ProviderImage, Status, final_status};

/// What the generation pipeline needs from a provider. Nothing here waits for a job: results
/// arrive at our webhook route, and `status` is asked once, when a callback is overdue.
#[async_trait]
pub trait ImageProvider: Send + Sync {
    /// The provider's segment in our webhook route, `/webhooks/{name}/{generation id}`.
    fn name(&self) -> &'static str;

    /// The model a job runs on (stored with the generation, needed to ask its status).
    fn model_for(&self, job: &JobRequest) -> String;

    /// Queues the job; the provider posts the outcome to `webhook`. Returns its request id.
    async fn submit(&self, job: &JobRequest, webhook: &Url) -> Result<String, ProviderError>;

    /// Verifies a callback's signature and reads it; `now` is Unix seconds.
    async fn callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Outcome, ProviderError>;

    /// Where a job stands, asked once.
    async fn status(&self, model: &str, request_id: &str) -> Result<Status, ProviderError>;

    /// The model avatars are trained on (stored with the avatar, needed to ask its status).
    fn trainer_model(&self) -> String;

    /// Queues an avatar training; the provider posts the outcome to `webhook`.
    async fn submit_training(
        &self,
        job: &TrainingRequest,
        webhook: &Url,
    ) -> Result<String, ProviderError>;

    /// Verifies a training callback's signature and reads it; `now` is Unix seconds.
    async fn training_callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<TrainingOutcome, ProviderError>;

    /// Where a training stands, asked once.
    async fn training_status(
        &self,
        model: &str,
        request_id: &str,
    ) -> Result<TrainingStatus, ProviderError>;
}

#[async_trait]
impl ImageProvider for fal::FalClient {
    fn name(&self) -> &'static str {
        "fal"
    }

    fn model_for(&self, job: &JobRequest) -> String {
        Self::model_for(self, job).to_owned()
    }

    async fn submit(&self, job: &JobRequest, webhook: &Url) -> Result<String, ProviderError> {
        Self::submit(self, job, webhook).await
    }

    async fn callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Outcome, ProviderError> {
        Self::callback(self, headers, body, now).await
    }

    async fn status(&self, model: &str, request_id: &str) -> Result<Status, ProviderError> {
        Self::status(self, model, request_id).await
    }

    fn trainer_model(&self) -> String {
        Self::trainer_model(self).to_owned()
    }

    async fn submit_training(
        &self,
        job: &TrainingRequest,
        webhook: &Url,
    ) -> Result<String, ProviderError> {
        Self::submit_training(self, job, webhook).await
    }

    async fn training_callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<TrainingOutcome, ProviderError> {
        Self::training_callback(self, headers, body, now).await
    }

    async fn training_status(
        &self,
        model: &str,
        request_id: &str,
    ) -> Result<TrainingStatus, ProviderError> {
        Self::training_status(self, model, request_id).await
    }
}

/// The aspect ratios a user can pick, each mapped to one exact size (the Python bot sent 9:16
/// as 4:3 and 3:4 as a square).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AspectRatio {
    Square,
    Portrait3x4,
    Landscape4x3,
    Portrait9x16,
    Landscape16x9,
}

impl AspectRatio {
    pub const ALL: [Self; 5] = [
        Self::Square,
        Self::Portrait3x4,
        Self::Landscape4x3,
        Self::Portrait9x16,
        Self::Landscape16x9,
    ];

    /// As users see it: "1:1", "3:4", ...
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Square => "1:1",
            Self::Portrait3x4 => "3:4",
            Self::Landscape4x3 => "4:3",
            Self::Portrait9x16 => "9:16",
            Self::Landscape16x9 => "16:9",
        }
    }

    #[must_use]
    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == label)
    }

    /// Width × height in pixels, multiples of 64 as FLUX models want, about one megapixel.
    #[must_use]
    pub fn size(self) -> (u32, u32) {
        match self {
            Self::Square => (1024, 1024),
            Self::Portrait3x4 => (768, 1024),
            Self::Landscape4x3 => (1024, 768),
            Self::Portrait9x16 => (576, 1024),
            Self::Landscape16x9 => (1024, 576),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AspectRatio;

    #[test]
    fn every_ratio_maps_to_its_own_exact_size() {
        for ratio in AspectRatio::ALL {
            let (w, h) = ratio.size();
            let (a, b) = ratio
                .label()
                .split_once(':')
                .map(|(a, b)| (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()))
                .unwrap();
            // w/h == a/b within a pixel of rounding, and FLUX-friendly multiples of 64.
            assert!(
                (i64::from(w * b) - i64::from(h * a)).abs() <= i64::from(b),
                "{ratio:?}"
            );
            assert_eq!((w % 64, h % 64), (0, 0));
            assert_eq!(AspectRatio::parse(ratio.label()), Some(ratio));
        }
        assert_eq!(AspectRatio::Portrait9x16.size(), (576, 1024));
        assert_eq!(AspectRatio::Portrait3x4.size(), (768, 1024));
    }
}
