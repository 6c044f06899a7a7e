//! Verifying fal.ai webhook signatures, exactly as fal documents them.
//!
//! fal signs `request_id \n user_id \n timestamp \n hex(sha256(body))` with ED25519 and sends it
//! in `X-Fal-Webhook-Signature` (hex) beside the three values' own headers. The public keys come
//! from a JWKS document (`keys[].x`, base64url). Keys are cached for at most 24 hours and fetched
//! again when no cached key verifies (fal rotated its key), at most once a minute so forged
//! callbacks cannot make us hammer the JWKS endpoint. Timestamps older or newer than 5 minutes
//! are refused, so a captured callback can't be replayed later.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;
use url::Url;

pub const REQUEST_ID: &str = "x-fal-webhook-request-id";
pub const USER_ID: &str = "x-fal-webhook-user-id";
pub const TIMESTAMP: &str = "x-fal-webhook-timestamp";
pub const SIGNATURE: &str = "x-fal-webhook-signature";

/// Allowed distance between the signed timestamp and our clock.
pub const MAX_SKEW_SECS: i64 = 300;
/// Longest a fetched key set is trusted.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(24 * 3600);
/// Shortest time between two fetches forced by an unknown key.
pub const MIN_REFETCH: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing or malformed header {0}")]
    Header(&'static str),
    #[error("timestamp outside ±{MAX_SKEW_SECS} s")]
    Stale,
    #[error("signature does not verify")]
    BadSignature,
    /// The keys could not be fetched: not the caller's fault, the callback should be retried.
    #[error("fal keys unavailable: {0}")]
    Keys(String),
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    x: Option<String>,
}

struct KeySet {
    keys: Vec<VerifyingKey>,
    fetched: Instant,
}

/// Verifies callbacks against fal's published keys. Shared by all requests (cheap to share).
pub struct FalVerifier {
    http: reqwest::Client,
    jwks_url: Url,
    cache: RwLock<Option<KeySet>>,
    min_refetch: Duration,
}

impl std::fmt::Debug for FalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FalVerifier").finish_non_exhaustive()
    }
}

impl FalVerifier {
    #[must_use]
    pub fn new(http: reqwest::Client, jwks_url: Url) -> Self {
        Self {
            http,
            jwks_url,
            cache: RwLock::new(None),
            min_refetch: MIN_REFETCH,
        }
    }

    /// Changes how soon an unknown key may trigger another fetch (tests use zero).
    #[must_use]
    pub fn with_min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// Checks a callback's headers and raw body; `now` is the current Unix time in seconds.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let request_id = header(headers, REQUEST_ID)?;
        let user_id = header(headers, USER_ID)?;
        let timestamp = header(headers, TIMESTAMP)?;
        let signed_at: i64 = timestamp
            .parse()
            .map_err(|_| SignatureError::Header(TIMESTAMP))?;
        if (now - signed_at).abs() > MAX_SKEW_SECS {
            return Err(SignatureError::Stale);
        }
        let signature = hex::decode(header(headers, SIGNATURE)?)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .map(|bytes| Signature::from_bytes(&bytes))
            .ok_or(SignatureError::Header(SIGNATURE))?;
        let message = format!(
            "{request_id}\n{user_id}\n{timestamp}\n{}",
            hex::encode(Sha256::digest(body))
        );
        if self.any_verifies(&message, &signature, false).await? {
            return Ok(());
        }
        // Perhaps fal rotated its key since we fetched: look once more.
        if self.any_verifies(&message, &signature, true).await? {
            return Ok(());
        }
        Err(SignatureError::BadSignature)
    }

    async fn any_verifies(
        &self,
        message: &str,
        signature: &Signature,
        refetch: bool,
    ) -> Result<bool, SignatureError> {
        {
            let cache = self.cache.read().await;
            if let Some(set) = cache.as_ref() {
                let fresh = set.fetched.elapsed() < MAX_KEY_AGE;
                let may_refetch = set.fetched.elapsed() >= self.min_refetch;
                if fresh && !(refetch && may_refetch) {
                    return Ok(verifies(&set.keys, message, signature));
                }
            }
        }
        let mut cache = self.cache.write().await;
        // Another request may have refreshed while we waited for the lock.
        if let Some(set) = cache.as_ref()
            && set.fetched.elapsed() < self.min_refetch
            && set.fetched.elapsed() < MAX_KEY_AGE
        {
            return Ok(verifies(&set.keys, message, signature));
        }
        let keys = self.fetch().await?;
        let ok = verifies(&keys, message, signature);
        *cache = Some(KeySet {
            keys,
            fetched: Instant::now(),
        });
        Ok(ok)
    }

    async fn fetch(&self) -> Result<Vec<VerifyingKey>, SignatureError> {
        let unavailable = |e: &dyn std::fmt::Display| SignatureError::Keys(e.to_string());
        let jwks: Jwks = self
            .http
            .get(self.jwks_url.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable(&e.without_url()))?
            .json()
            .await
            .map_err(|e| unavailable(&e.without_url()))?;
        let keys: Vec<VerifyingKey> = jwks
            .keys
            .iter()
            .filter_map(|k| {
                let raw = URL_SAFE_NO_PAD
                    .decode(k.x.as_deref()?.trim_end_matches('='))
                    .ok()?;
                VerifyingKey::from_bytes(&<[u8; 32]>::try_from(raw).ok()?).ok()
            })
            .collect();
        if keys.is_empty() {
            return Err(SignatureError::Keys(
                "the JWKS holds no usable ED25519 key".into(),
            ));
        }
        Ok(keys)
    }
}

fn verifies(keys: &[VerifyingKey], message: &str, signature: &Signature) -> bool {
    keys.iter()
        .any(|k| k.verify(message.as_bytes(), signature).is_ok())
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, SignatureError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Header(name))
}

#[cfg(test)]
mod tests {
    use axum::{Json, Router, http::HeaderValue, routing::get};
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::{strategy::Strategy, test_runner::TestRunner};

    use super::*;

    /// A JWKS server with one key; the verifier pointed at it.
    async fn verifier(key: &SigningKey) -> FalVerifier {
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let jwks = serde_json::json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x }] });
        let app = Router::new().route("/jwks", get(move || async move { Json(jwks.clone()) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FalVerifier::new(reqwest::Client::new(), Url::parse(&url).unwrap())
    }

    fn signed(key: &SigningKey, body: &[u8], now: i64) -> HeaderMap {
        let (request_id, user_id) = ("req-5f1c", "user-77");
        let message = format!(
            "{request_id}\n{user_id}\n{now}\n{}",
            hex::encode(Sha256::digest(body))
        );
        let signature = hex::encode(key.sign(message.as_bytes()).to_bytes());
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (REQUEST_ID, request_id.to_owned()),
            (USER_ID, user_id.to_owned()),
            (TIMESTAMP, now.to_string()),
            (SIGNATURE, signature),
        ] {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        headers
    }

    /// One change to a signed callback: which part, where, and what goes there.
    #[derive(Clone, Debug)]
    enum Mutation {
        Body { at: usize, xor: u8 },
        BodyAppend(u8),
        Header { name: usize, at: usize, to: char },
        Timestamp(i64),
        Drop(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        use proptest::prelude::*;
        prop_oneof![
            (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Mutation::Body { at, xor }),
            any::<u8>().prop_map(Mutation::BodyAppend),
            (0usize..4, any::<usize>(), proptest::char::range('!', '~'))
                .prop_map(|(name, at, to)| Mutation::Header { name, at, to }),
            (-100_000i64..100_000)
                .prop_filter("a change", |d| *d != 0)
                .prop_map(Mutation::Timestamp),
            (0usize..4).prop_map(Mutation::Drop),
        ]
    }

    /// Any mutation of a signed callback's body, headers or timestamp is rejected; the
    /// callback as signed is accepted.
    #[tokio::test]
    async fn any_mutation_of_a_signed_callback_is_rejected() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let verifier = verifier(&key).await;
        let now = 1_764_000_000;
        let body = br#"{"request_id":"req-5f1c","status":"OK","payload":{"images":[]}}"#.to_vec();
        let headers = signed(&key, &body, now);
        assert!(verifier.verify(&headers, &body, now).await.is_ok());
        let names = [REQUEST_ID, USER_ID, TIMESTAMP, SIGNATURE];
        let mut runner = TestRunner::default();
        let cases = runner.config().cases;
        for _ in 0..cases {
            let change = mutation()
                .new_tree(&mut runner)
                .map(|tree| proptest::strategy::ValueTree::current(&tree))
                .expect("a mutation");
            let (mut h, mut b, mut at_time) = (headers.clone(), body.clone(), now);
            match &change {
                Mutation::Body { at, xor } => {
                    let i = at % b.len();
                    b[i] ^= xor;
                }
                Mutation::BodyAppend(byte) => b.push(*byte),
                Mutation::Header { name, at, to } => {
                    let name = names[*name];
                    let mut value: Vec<char> = h[name].to_str().unwrap().chars().collect();
                    let i = at % value.len();
                    // The signature is hex, read in either case: 'c' and 'C' are the same bytes
                    // (found by this test at 10,000 cases), not a change.
                    let same =
                        value[i] == *to || (name == SIGNATURE && value[i].eq_ignore_ascii_case(to));
                    if same {
                        continue;
                    }
                    value[i] = *to;
                    let value: String = value.into_iter().collect();
                    h.insert(name, HeaderValue::from_str(&value).unwrap());
                }
                Mutation::Timestamp(delta) => {
                    let moved = now + delta;
                    h.insert(
                        TIMESTAMP,
                        HeaderValue::from_str(&moved.to_string()).unwrap(),
                    );
                    at_time = moved;
                }
                Mutation::Drop(name) => {
                    h.remove(names[*name]);
                }
            }
            let verdict = verifier.verify(&h, &b, at_time).await;
            assert!(verdict.is_err(), "{change:?} was accepted");
        }
    }
}
