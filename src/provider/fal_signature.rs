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
