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
