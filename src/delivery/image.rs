//! Fetching a finished image once into the image store: size-limited, checked to be a JPEG, PNG
//! or WebP by its bytes, written atomically. A second attempt finds the stored copy.

use std::path::{Path, PathBuf};

use url::Url;

use super::sources::{ImageSources, Trust, Unresolved};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Worth another try later (network, provider 5xx, disk trouble).
    #[error("{0}")]
    Transient(String),
    /// The image is not there or not an image: retrying will not change it.
    #[error("{0}")]
    Permanent(String),
}

/// The stored copy: where it is, and its path relative to the store.
#[derive(Debug)]
pub struct Stored {
    pub path: PathBuf,
    pub relative: String,
    pub file_name: String,
}

fn kind(bytes: &[u8]) -> Option<&'static str> {
    crate::media::Format::sniff(bytes).map(crate::media::Format::ext)
}

async fn existing(dir: &Path, stem: &str) -> Option<(PathBuf, String)> {
    for ext in ["jpg", "png", "webp"] {
        let name = format!("{stem}.{ext}");
        let path = dir.join(&name);
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.len() > 0) {
            return Some((path, name));
        }
    }
    None
}

/// The image at `url`, kept as `<store>/<generation>/<position>.<ext>`. Only a URL `sources`
/// allows is fetched (an unparsable or refused one fails for good, as does a redirect to one).
pub async fn fetch(
    http: &reqwest::Client,
    sources: &ImageSources,
    store: &Path,
    generation_id: i64,
    position: i32,
    url: &str,
    max_bytes: u64,
) -> Result<Stored, FetchError> {
    let dir = store.join(generation_id.to_string());
    let stem = position.to_string();
    let relative = |name: &str| format!("{generation_id}/{name}");
    if let Some((path, name)) = existing(&dir, &stem).await {
        return Ok(Stored {
            path,
            relative: relative(&name),
            file_name: name,
        });
    }
    let parsed = Url::parse(url).map_err(|e| FetchError::Permanent(format!("image URL: {e}")))?;
    match sources.check(&parsed).map_err(FetchError::Permanent)? {
        Trust::Named => {}
        Trust::Public => {
            ImageSources::resolve_public(&parsed)
                .await
                .map_err(|why| match why {
                    Unresolved::NotPublic(e) => FetchError::Permanent(e),
                    Unresolved::Lookup(e) => FetchError::Transient(e),
                })?;
        }
    }
    let transient = |e: reqwest::Error| {
        if e.is_redirect() {
            FetchError::Permanent(format!("image download: {}", e.without_url()))
        } else {
            FetchError::Transient(e.without_url().to_string())
        }
    };
    let response = http
        .get(parsed)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(transient)?;
    let status = response.status();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(FetchError::Transient(format!(
            "image download: HTTP {status}"
        )));
    }
    if !status.is_success() {
        return Err(FetchError::Permanent(format!(
            "image download: HTTP {status}"
        )));
    }
    if let Some(ct) = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && !(ct.starts_with("image/") || ct.starts_with("application/octet-stream"))
    {
        return Err(FetchError::Permanent(format!("not an image: {ct}")));
    }
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(FetchError::Permanent(format!(
            "image larger than {max_bytes} bytes"
        )));
    }
    let mut bytes = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(transient)? {
        if (bytes.len() + chunk.len()) as u64 > max_bytes {
            return Err(FetchError::Permanent(format!(
                "image larger than {max_bytes} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let Some(ext) = kind(&bytes) else {
        return Err(FetchError::Permanent(
            "the file is not a JPEG, PNG or WebP image".into(),
        ));
    };
    let name = format!("{stem}.{ext}");
    let disk = |e: std::io::Error| FetchError::Transient(format!("image store: {e}"));
    tokio::fs::create_dir_all(&dir).await.map_err(disk)?;
    let tmp = dir.join(format!(".{name}.{:x}.tmp", rand::random::<u64>()));
    tokio::fs::write(&tmp, &bytes).await.map_err(disk)?;
    let path = dir.join(&name);
    tokio::fs::rename(&tmp, &path).await.map_err(disk)?;
    Ok(Stored {
        path,
        relative: relative(&name),
        file_name: name,
    })
}

#[cfg(test)]
mod tests {
    use super::kind;

    #[test]
    fn image_kinds_by_magic_bytes() {
        assert_eq!(kind(&[0xff, 0xd8, 0xff, 0xe0]), Some("jpg"));
        assert_eq!(kind(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(kind(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(kind(b"<html>"), None);
        assert_eq!(kind(b""), None);
    }
}

#[cfg(test)]
mod fetch_tests {
    use axum::{Router, http::header, routing::get};

    use super::{FetchError, ImageSources, Url, fetch};

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000IHDR";

    async fn server() -> String {
        let app = Router::new()
            .route(
                "/ok.png",
                get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
            )
            .route(
                "/page",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>") }),
            )
            .route(
                "/lies",
                get(|| async { ([(header::CONTENT_TYPE, "image/png")], "<html>") }),
            )
            .route(
                "/huge",
                get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 4096]) }),
            )
            .route(
                "/down",
                get(|| async { (axum::http::StatusCode::BAD_GATEWAY, "") }),
            )
            .route(
                "/gone",
                get(|| async { (axum::http::StatusCode::NOT_FOUND, "") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn images_are_checked_and_fetched_once() {
        let base = server().await;
        let store = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let get = |path: &str, position: i32| {
            let (http, url, store) = (
                http.clone(),
                format!("{base}{path}"),
                store.path().to_owned(),
            );
            let sources = ImageSources::new(&[], &[Url::parse(&base).unwrap()]);
            async move { fetch(&http, &sources, &store, 7, position, &url, 1024).await }
        };
        let stored = get("/ok.png", 0).await.unwrap();
        assert_eq!(stored.relative, "7/0.png");
        assert_eq!(std::fs::read(&stored.path).unwrap(), PNG);
        // Fetched once: a second call finds the stored copy (even if the URL is gone by now).
        let sources = ImageSources::new(&[], &[Url::parse(&base).unwrap()]);
        let again = fetch(
            &http,
            &sources,
            store.path(),
            7,
            0,
            &format!("{base}/gone"),
            1024,
        )
        .await
        .unwrap();
        assert_eq!(again.path, stored.path);
        for (path, permanent) in [
            ("/page", true),
            ("/lies", true),
            ("/huge", true),
            ("/gone", true),
            ("/down", false),
        ] {
            match get(path, 1).await {
                Err(FetchError::Permanent(_)) if permanent => {}
                Err(FetchError::Transient(_)) if !permanent => {}
                other => panic!("{path}: {:?}", other.map(|s| s.relative)),
            }
        }
        assert!(!store.path().join("7/1.png").exists());
    }
}
