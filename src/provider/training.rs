//! Avatar training as providers see it: a zip of photos behind a URL in, a LoRA file out,
//! pushed to our webhook like generations.

use serde::Deserialize;
use serde_json::Value;

/// One training as the provider needs it.
#[derive(Clone, Debug)]
pub struct TrainingRequest {
    /// Where the provider fetches the photos (a zip), signed and expiring.
    pub images_url: String,
    /// The avatar's unique trigger, later put in front of prompts.
    pub trigger: String,
    /// Training steps; none: the trainer's default.
    pub steps: Option<u32>,
}

/// What a verified training callback says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrainingOutcome {
    Completed {
        request_id: String,
        lora_url: String,
        config_url: Option<String>,
    },
    Failed {
        request_id: String,
        error: String,
    },
}

/// A training's state when asked once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrainingStatus {
    Pending,
    Done(TrainingOutcome),
}

#[derive(Deserialize)]
struct File {
    url: String,
}

#[derive(Deserialize)]
struct Output {
    diffusers_lora_file: File,
    #[serde(default)]
    config_file: Option<File>,
}

/// Reads a trainer's webhook (status, payload, error) or result: success needs the LoRA URL.
#[must_use]
pub fn outcome(
    request_id: String,
    status: &str,
    payload: Option<Value>,
    error: Option<String>,
) -> TrainingOutcome {
    let detail = payload
        .as_ref()
        .and_then(|p| p.get("detail"))
        .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned));
    let output = payload.and_then(|p| serde_json::from_value::<Output>(p).ok());
    match output {
        Some(output) if status == "OK" && !output.diffusers_lora_file.url.is_empty() => {
            TrainingOutcome::Completed {
                request_id,
                lora_url: super::types::printable(&output.diffusers_lora_file.url),
                config_url: output.config_file.map(|f| super::types::printable(&f.url)),
            }
        }
        _ => {
            let error = error.or(detail).unwrap_or_else(|| {
                if status == "OK" {
                    "the trainer returned no LoRA file".into()
                } else {
                    format!("the trainer reported {status}")
                }
            });
            let error: String = super::types::printable(&error).chars().take(300).collect();
            TrainingOutcome::Failed { request_id, error }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_success_and_every_kind_of_failure() {
        let ok = json!({"diffusers_lora_file": {"url": "https://f/l.safetensors", "file_size": 1},
            "config_file": {"url": "https://f/c.json"}});
        assert_eq!(
            outcome("r".into(), "OK", Some(ok.clone()), None),
            TrainingOutcome::Completed {
                request_id: "r".into(),
                lora_url: "https://f/l.safetensors".into(),
                config_url: Some("https://f/c.json".into()),
            }
        );
        // Never a placeholder success: no file, no success.
        for (status, payload, error) in [
            ("OK", Some(json!({})), None),
            (
                "OK",
                Some(json!({"diffusers_lora_file": {"url": ""}})),
                None,
            ),
            ("OK", None, None),
            ("ERROR", Some(ok), Some("boom".to_owned())),
            ("ERROR", Some(json!({"detail": "too few images"})), None),
        ] {
            assert!(matches!(
                outcome("r".into(), status, payload, error),
                TrainingOutcome::Failed { .. }
            ));
        }
        assert_eq!(
            outcome(
                "r".into(),
                "ERROR",
                Some(json!({"detail": "too few images"})),
                None
            ),
            TrainingOutcome::Failed {
                request_id: "r".into(),
                error: "too few images".into()
            }
        );
    }
}
