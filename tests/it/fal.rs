//! fal.ai webhook signatures: a fake JWKS endpoint, keys made here, callbacks signed as fal does.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use std::time::Duration;

use aisha::provider::fal_signature::{
    FalVerifier, REQUEST_ID, SIGNATURE, SignatureError, TIMESTAMP, USER_ID,
};
use axum::{Json, Router, extract::State, http::HeaderMap, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NOW: i64 = 1_795_000_000;

/// A JWKS endpoint serving whatever keys the test puts in, counting fetches.
#[derive(Clone, Default)]
struct Jwks {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Jwks {
    fn publish(&self, key: &SigningKey) {
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        self.keys
            .lock()
            .unwrap()
            .push(json!({ "kty": "OKP", "crv": "Ed25519", "x": x }));
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(jwks): State<Jwks>) -> Json<Value> {
    jwks.fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": *jwks.keys.lock().unwrap() }))
}

async fn start(jwks: &Jwks) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let app = Router::new()
        .route("/.well-known/jwks.json", get(serve_jwks))
        .with_state(jwks.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.parse().unwrap()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Headers exactly as fal sends them for this body.
fn signed(key: &SigningKey, body: &[u8], timestamp: i64) -> HeaderMap {
    let message = format!(
        "req-1\nuser-9\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let signature = key.sign(message.as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert(REQUEST_ID, "req-1".parse().unwrap());
    headers.insert(USER_ID, "user-9".parse().unwrap());
    headers.insert(TIMESTAMP, timestamp.to_string().parse().unwrap());
    headers.insert(
        SIGNATURE,
        hex::encode(signature.to_bytes()).parse().unwrap(),
    );
    headers
}

const BODY: &[u8] = br#"{"request_id":"req-1","status":"OK","payload":{"images":[]}}"#;

#[tokio::test]
async fn genuine_callbacks_verify_and_keys_are_cached() {
    let jwks = Jwks::default();
    jwks.publish(&key(1));
    let verifier = FalVerifier::new(reqwest::Client::new(), start(&jwks).await);
    assert_eq!(
        verifier
            .verify(&signed(&key(1), BODY, NOW), BODY, NOW)
            .await,
        Ok(())
    );
    assert_eq!(
        verifier
            .verify(&signed(&key(1), BODY, NOW - 300), BODY, NOW)
            .await,
        Ok(())
    );
    assert_eq!(
        verifier
            .verify(&signed(&key(1), BODY, NOW + 300), BODY, NOW)
            .await,
        Ok(())
    );
    assert_eq!(jwks.fetches(), 1, "one fetch, then the cache");
}

#[tokio::test]
async fn tampering_staleness_and_missing_headers_are_refused() {
    let jwks = Jwks::default();
    jwks.publish(&key(1));
    let verifier = FalVerifier::new(reqwest::Client::new(), start(&jwks).await);
    let headers = signed(&key(1), BODY, NOW);
    let tampered = br#"{"request_id":"req-1","status":"OK","payload":{"images":[1]}}"#;
    assert_eq!(
        verifier.verify(&headers, tampered, NOW).await,
        Err(SignatureError::BadSignature)
    );
    assert_eq!(
        verifier
            .verify(&signed(&key(2), BODY, NOW), BODY, NOW)
            .await,
        Err(SignatureError::BadSignature),
        "signed by a key fal never published"
    );
    for skew in [-301, 301, -86_400] {
        assert_eq!(
            verifier
                .verify(&signed(&key(1), BODY, NOW + skew), BODY, NOW)
                .await,
            Err(SignatureError::Stale),
            "{skew}"
        );
    }
    for name in [REQUEST_ID, USER_ID, TIMESTAMP, SIGNATURE] {
        let mut h = headers.clone();
        h.remove(name);
        assert_eq!(
            verifier.verify(&h, BODY, NOW).await,
            Err(SignatureError::Header(name))
        );
    }
    let mut h = headers.clone();
    h.insert(SIGNATURE, "zz".parse().unwrap());
    assert_eq!(
        verifier.verify(&h, BODY, NOW).await,
        Err(SignatureError::Header(SIGNATURE))
    );
    let mut h = headers.clone();
    h.insert(TIMESTAMP, "soon".parse().unwrap());
    assert_eq!(
        verifier.verify(&h, BODY, NOW).await,
        Err(SignatureError::Header(TIMESTAMP))
    );
    // Another request id than the one signed.
    let mut h = headers;
    h.insert(REQUEST_ID, "req-2".parse().unwrap());
    assert_eq!(
        verifier.verify(&h, BODY, NOW).await,
        Err(SignatureError::BadSignature)
    );
}

#[tokio::test]
async fn forged_callbacks_cannot_hammer_the_jwks_endpoint() {
    let jwks = Jwks::default();
    jwks.publish(&key(1));
    let verifier = FalVerifier::new(reqwest::Client::new(), start(&jwks).await);
    for _ in 0..20 {
        let forged = verifier
            .verify(&signed(&key(7), BODY, NOW), BODY, NOW)
            .await;
        assert_eq!(forged, Err(SignatureError::BadSignature));
    }
    assert_eq!(
        jwks.fetches(),
        1,
        "unknown keys refetch at most once a minute"
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched() {
    let jwks = Jwks::default();
    jwks.publish(&key(1));
    let verifier = FalVerifier::new(reqwest::Client::new(), start(&jwks).await)
        .with_min_refetch(Duration::ZERO);
    assert_eq!(
        verifier
            .verify(&signed(&key(1), BODY, NOW), BODY, NOW)
            .await,
        Ok(())
    );
    jwks.publish(&key(2));
    assert_eq!(
        verifier
            .verify(&signed(&key(2), BODY, NOW), BODY, NOW)
            .await,
        Ok(())
    );
    assert_eq!(jwks.fetches(), 2);
}

#[tokio::test]
async fn unreachable_keys_are_not_the_callers_fault() {
    // Nothing listens on port 1: the callback should be retried later, not refused as forged.
    let verifier = FalVerifier::new(
        reqwest::Client::new(),
        "http://127.0.0.1:1/jwks".parse().unwrap(),
    );
    let result = verifier
        .verify(&signed(&key(1), BODY, NOW), BODY, NOW)
        .await;
    assert!(matches!(result, Err(SignatureError::Keys(_))), "{result:?}");
    // A JWKS without usable keys, likewise.
    let empty = Jwks::default();
    let verifier = FalVerifier::new(reqwest::Client::new(), start(&empty).await);
    let result = verifier
        .verify(&signed(&key(1), BODY, NOW), BODY, NOW)
        .await;
    assert!(matches!(result, Err(SignatureError::Keys(_))), "{result:?}");
}

mod queue {
    //! The fal queue client against a fake fal: same paths, auth header, payloads and answers.

    use std::sync::{Arc, Mutex};

    use aisha::{
        config::{FalSettings, Secret},
        provider::{
            AspectRatio, JobRequest, Outcome, ProviderError, ProviderImage, Status, fal::FalClient,
            fal_signature::FalVerifier,
        },
    };
    use axum::{
        Json, Router,
        body::Bytes,
        extract::{OriginalUri, State},
        http::{HeaderMap, Method, StatusCode},
        response::IntoResponse,
    };
    use serde_json::{Value, json};

    use super::{BODY, Jwks, NOW, key, signed, start};

    const FAL_KEY: &str = "test-fal-key";

    #[derive(Clone)]
    struct FakeFal {
        /// (path, fal_webhook, body) of every submit.
        submits: Arc<Mutex<Vec<(String, String, Value)>>>,
        /// What the status route answers.
        state: Arc<Mutex<String>>,
        /// What the result route answers: Ok(payload) or Err(error detail, 422).
        result: Arc<Mutex<Result<Value, String>>>,
    }

    impl Default for FakeFal {
        fn default() -> Self {
            Self {
                submits: Arc::default(),
                state: Arc::new(Mutex::new("IN_QUEUE".into())),
                result: Arc::new(Mutex::new(Ok(Value::Null))),
            }
        }
    }

    async fn fal(
        State(fake): State<FakeFal>,
        method: Method,
        OriginalUri(uri): OriginalUri,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some(&format!("Key {FAL_KEY}"))
        {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "detail": "Unauthorized" })),
            );
        }
        let path = uri.path().to_owned();
        if method == Method::POST {
            let webhook = uri
                .query()
                .and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "fal_webhook")
                })
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if input["prompt"] == "explode" {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "detail": "boom" })),
                );
            }
            let mut submits = fake.submits.lock().unwrap();
            submits.push((path, webhook, input));
            let id = format!("req-{}", submits.len());
            return (
                StatusCode::OK,
                Json(json!({
                    "request_id": id, "response_url": "u", "status_url": "u", "cancel_url": "u"
                })),
            );
        }
        if path.ends_with("/status") {
            let state = fake.state.lock().unwrap().clone();
            return (StatusCode::OK, Json(json!({ "status": state })));
        }
        match fake.result.lock().unwrap().clone() {
            Ok(payload) => (StatusCode::OK, Json(payload)),
            Err(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": detail })),
            ),
        }
    }

    fn settings() -> FalSettings {
        FalSettings {
            lora_model: "fal-ai/flux-lora".into(),
            base_model: "fal-ai/flux/dev".into(),
            lora_scale: 1.0,
            num_inference_steps: 28,
            guidance_scale: 3.5,
            trainer: aisha::config::Trainer::Portrait,
            training_steps: None,
        }
    }

    async fn client(fake: &FakeFal, key_value: &str) -> FalClient {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(fal).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let jwks = Jwks::default();
        jwks.publish(&key(1));
        let verifier = FalVerifier::new(reqwest::Client::new(), start(&jwks).await);
        FalClient::new(
            reqwest::Client::new(),
            url.parse().unwrap(),
            Secret::new(key_value),
            settings(),
            verifier,
        )
    }

    fn job(lora: bool) -> JobRequest {
        JobRequest {
            prompt: "TOK_ab12 a cat astronaut".into(),
            lora_url: lora.then(|| "https://files.example/lora.safetensors".into()),
            aspect: AspectRatio::Portrait9x16,
            num_images: 4,
            seed: 42,
            guidance_scale: None,
            num_inference_steps: None,
        }
    }

    #[tokio::test]
    async fn submit_sends_what_fal_expects() {
        let fake = FakeFal::default();
        let fal = client(&fake, FAL_KEY).await;
        let hook: url::Url = "https://bot.example/webhooks/fal/17".parse().unwrap();
        assert_eq!(fal.submit(&job(true), &hook).await.unwrap(), "req-1");
        assert_eq!(fal.submit(&job(false), &hook).await.unwrap(), "req-2");
        let submits = fake.submits.lock().unwrap().clone();
        let (path, webhook, input) = &submits[0];
        assert_eq!(path, "/fal-ai/flux-lora");
        assert_eq!(
            webhook, "https://bot.example/webhooks/fal/17",
            "our generation id rides in the URL"
        );
        assert_eq!(input["prompt"], "TOK_ab12 a cat astronaut");
        assert_eq!(
            input["loras"],
            json!([{ "path": "https://files.example/lora.safetensors", "scale": 1.0 }])
        );
        assert_eq!(input["image_size"], json!({ "width": 576, "height": 1024 }));
        assert_eq!(
            (input["num_images"].clone(), input["seed"].clone()),
            (json!(4), json!(42))
        );
        assert_eq!(input["num_inference_steps"], 28);
        assert_eq!(input["enable_safety_checker"], true);
        let (path, _, input) = &submits[1];
        assert_eq!(path, "/fal-ai/flux/dev", "the base model without an avatar");
        assert!(input.get("loras").is_none());
        assert_eq!(input["guidance_scale"], 3.5);

        // A style's own guidance and steps replace the configured ones.
        let styled = JobRequest {
            guidance_scale: Some(4.0),
            num_inference_steps: Some(32),
            ..job(false)
        };
        fal.submit(&styled, &hook).await.unwrap();
        let submits = fake.submits.lock().unwrap().clone();
        let (_, _, input) = &submits[2];
        assert_eq!(
            (
                input["guidance_scale"].clone(),
                input["num_inference_steps"].clone()
            ),
            (json!(4.0), json!(32))
        );
    }

    #[tokio::test]
    async fn submit_failures_are_classified() {
        let fake = FakeFal::default();
        let wrong = client(&fake, "wrong-key").await;
        let hook: url::Url = "https://bot.example/webhooks/fal/1".parse().unwrap();
        let err = wrong.submit(&job(false), &hook).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Rejected { status: 401, .. }),
            "{err}"
        );
        assert!(
            !err.to_string().contains("wrong-key"),
            "the key never appears in errors"
        );
        let fal = client(&fake, FAL_KEY).await;
        let mut exploding = job(false);
        exploding.prompt = "explode".into();
        assert!(matches!(
            fal.submit(&exploding, &hook).await,
            Err(ProviderError::Unavailable(_))
        ));
        let down = FalClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:1".parse().unwrap(),
            Secret::new(FAL_KEY),
            settings(),
            FalVerifier::new(
                reqwest::Client::new(),
                "http://127.0.0.1:1/jwks".parse().unwrap(),
            ),
        );
        assert!(matches!(
            down.submit(&job(false), &hook).await,
            Err(ProviderError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn callbacks_are_verified_then_read() {
        let fake = FakeFal::default();
        let fal = client(&fake, FAL_KEY).await;
        let ok = json!({
            "request_id": "req-1", "gateway_request_id": "req-1", "status": "OK",
            "payload": { "images": [{ "url": "https://cdn.example/1.jpg", "width": 576, "height": 1024,
                                      "content_type": "image/jpeg" }], "seed": 42 }
        })
        .to_string();
        let outcome = fal
            .callback(&signed(&key(1), ok.as_bytes(), NOW), ok.as_bytes(), NOW)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Outcome::Completed {
                request_id: "req-1".into(),
                images: vec![ProviderImage {
                    url: "https://cdn.example/1.jpg".into(),
                    width: Some(576),
                    height: Some(1024),
                    content_type: Some("image/jpeg".into()),
                }],
            }
        );
        let failed = json!({ "request_id": "req-2", "status": "ERROR", "payload": null,
                             "error": "Invalid status code: 422" })
        .to_string();
        let outcome = fal
            .callback(
                &signed(&key(1), failed.as_bytes(), NOW),
                failed.as_bytes(),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Outcome::Failed {
                request_id: "req-2".into(),
                error: "Invalid status code: 422".into()
            }
        );
        let empty = json!({ "request_id": "req-3", "status": "OK", "payload": { "images": [] } })
            .to_string();
        let outcome = fal
            .callback(
                &signed(&key(1), empty.as_bytes(), NOW),
                empty.as_bytes(),
                NOW,
            )
            .await
            .unwrap();
        assert!(
            matches!(outcome, Outcome::Failed { .. }),
            "no images is a failure"
        );
        // Unsigned, or signed but not a webhook body.
        assert!(matches!(
            fal.callback(&axum::http::HeaderMap::new(), BODY, NOW).await,
            Err(ProviderError::Signature(_))
        ));
        let junk = b"[1,2,3]";
        assert!(matches!(
            fal.callback(&signed(&key(1), junk, NOW), junk, NOW).await,
            Err(ProviderError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn status_is_asked_once_at_fals_routes() {
        let fake = FakeFal::default();
        let fal = client(&fake, FAL_KEY).await;
        *fake.state.lock().unwrap() = "IN_PROGRESS".into();
        assert_eq!(
            fal.status("fal-ai/flux/dev", "req-9").await.unwrap(),
            Status::Pending
        );
        *fake.state.lock().unwrap() = "COMPLETED".into();
        *fake.result.lock().unwrap() =
            Ok(json!({ "images": [{ "url": "https://cdn.example/9.jpg" }] }));
        let done = fal.status("fal-ai/flux/dev", "req-9").await.unwrap();
        assert!(
            matches!(done, Status::Done(Outcome::Completed { .. })),
            "{done:?}"
        );
        *fake.result.lock().unwrap() = Err("NSFW content detected".into());
        let failed = fal.status("fal-ai/flux-lora", "req-9").await.unwrap();
        assert!(
            matches!(&failed, Status::Done(Outcome::Failed { error, .. }) if error.contains("NSFW")),
            "{failed:?}"
        );
    }
}
