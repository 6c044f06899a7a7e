//! Decoding of Bot API request parameters.
//!
//! Telegram accepts the same parameters as a query string, an urlencoded form,
//! a JSON object or `multipart/form-data`, and so must the sandbox. Every
//! source is folded into one [`Params`] map. Form-like sources only carry
//! strings, so the accessors coerce (`"42"` is a number, a JSON-typed field
//! such as `reply_markup` arrives as JSON text) exactly like the real server.
//!
//! teloxide sends `sendPhoto`, `sendMediaGroup` and `editMessageMedia` as
//! multipart: scalars as plain text parts, structs and arrays as JSON text
//! parts, and every in-memory or on-disk file as `attach://<uuid>` in the field
//! plus a separate part named `<uuid>` with a `filename` (possibly empty).

use std::collections::HashMap;

use axum::http::{HeaderMap, header::CONTENT_TYPE};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::ApiError;

/// All parameters of one Bot API call plus the raw bytes of every multipart part.
#[derive(Default)]
pub(crate) struct Params {
    fields: Map<String, Value>,
    files: HashMap<String, Bytes>,
}

impl Params {
    /// A field as text; numbers and booleans are stringified like a form would.
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub(crate) fn i64(&self, key: &str) -> Option<i64> {
        match self.fields.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn bool(&self, key: &str) -> bool {
        match self.fields.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        }
    }

    /// A JSON-typed field: taken as is from a JSON body, decoded when it came
    /// as text; `invalid` is Telegram's complaint when that text is not JSON.
    pub(crate) fn json(&self, key: &str, invalid: &str) -> Result<Option<Value>, ApiError> {
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| ApiError::bad(invalid)),
            Some(v) => Ok(Some(v.clone())),
        }
    }

    /// The parameters for the call log: fields as sent (long texts cut), files as their sizes.
    pub(crate) fn summary(&self) -> Value {
        let mut out = Map::new();
        for (key, value) in &self.fields {
            let value = match value {
                Value::String(s) if s.chars().count() > 2000 => {
                    Value::String(s.chars().take(2000).chain(['…']).collect())
                }
                other => other.clone(),
            };
            out.insert(key.clone(), value);
        }
        for (name, bytes) in &self.files {
            // Multipart text parts are fields too: only the uploads show as files.
            if !out.contains_key(name) {
                let file = format!("<file, {} bytes>", bytes.len());
                out.insert(name.clone(), Value::String(file));
            }
        }
        Value::Object(out)
    }

    /// The bytes of a multipart part by name (used for `attach://name` and plain uploads).
    pub(crate) fn file(&self, name: &str) -> Option<&Bytes> {
        self.files.get(name)
    }
}

/// Decodes query string and body into [`Params`]; body fields override query fields.
pub(crate) async fn parse(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Bytes,
) -> Result<Params, ApiError> {
    let mut params = Params::default();
    if let Some(q) = query {
        for (k, v) in urlencoded(q) {
            params.fields.insert(k, Value::String(v));
        }
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let boundary = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| ApiError::bad("can't parse multipart/form-data: no boundary"))?;
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let broken =
            |e: multer::Error| ApiError::bad(&format!("can't parse multipart/form-data: {e}"));
        while let Some(field) = multipart.next_field().await.map_err(broken)? {
            let name = field.name().unwrap_or_default().to_owned();
            let is_file = field.file_name().is_some();
            let data = field.bytes().await.map_err(broken)?;
            if !is_file {
                let text = String::from_utf8_lossy(&data).into_owned();
                params.fields.insert(name.clone(), Value::String(text));
            }
            params.files.insert(name, data);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in urlencoded(&String::from_utf8_lossy(&body)) {
            params.fields.insert(k, Value::String(v));
        }
    } else if !body.iter().all(u8::is_ascii_whitespace) {
        // JSON is the default: teloxide and most clients say application/json,
        // but curl users often forget the header.
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => params.fields.extend(map),
            _ => return Err(ApiError::bad("can't parse JSON object")),
        }
    }
    Ok(params)
}

/// Minimal `application/x-www-form-urlencoded` decoder (no extra crate needed).
fn urlencoded(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
