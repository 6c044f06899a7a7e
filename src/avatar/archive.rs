//! The photo archive a trainer downloads: a zip (stored entries: the photos are compressed
//! already), served by our own server at an expiring signed URL under `PUBLIC_URL`, so it works
//! with any provider and nobody else can read it.
//!
//! Whichever replica the provider reaches builds it: the photos come from that replica's disk
//! cache or from Telegram by their file ids ([`super::local_copy`]), the zip is written to the
//! cache and streamed from there.
//!
//! `GET /avatar-archives/{avatar id}/{expires}/{signature}`: 404 unless the signature (an HMAC
//! of the id and expiry) is ours and the avatar is in training, 410 once expired, otherwise the
//! zip.

use std::{
    io::{BufReader, Write},
    path::{Path, PathBuf},
};

use crate::jobs::HmacSha256;
use axum::{
    body::Body,
    extract::{Path as UrlPath, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use entity::avatar_photo;
use hmac::Mac;
use sea_orm::EntityTrait;
use url::Url;

use crate::state::AppState;

const FILE: &str = "photos.zip";

/// Writes the archive of these photos; returns its path. Blocking: run off the async workers.
pub fn build(dir: &Path, photos: &[avatar_photo::Model], root: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FILE);
    // Two replicas (or two requests) may build at once: each writes its own and renames.
    let partial = dir.join(format!("{FILE}.partial-{:08x}", rand::random::<u32>()));
    let file = std::fs::File::create(&partial)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (i, photo) in photos.iter().enumerate() {
        let ext = Path::new(&photo.file_path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("jpg");
        zip.start_file(format!("{:02}.{ext}", i + 1), options)
            .map_err(std::io::Error::other)?;
        let mut source = BufReader::new(std::fs::File::open(root.join(&photo.file_path))?);
        std::io::copy(&mut source, &mut zip)?;
    }
    zip.finish().map_err(std::io::Error::other)?.flush()?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

fn mac(state: &AppState, avatar_id: i64, expires: i64) -> HmacSha256 {
    state
        .signer
        .mac(&format!("avatar-archive:{avatar_id}:{expires}"))
}

/// The URL the trainer fetches the photos from, good for `avatar.archive_ttl_secs`.
#[must_use]
pub fn url(state: &AppState, avatar_id: i64) -> Option<Url> {
    let ttl = i64::try_from(state.settings.avatar.archive_ttl_secs).unwrap_or(86_400);
    let expires = chrono::Utc::now().timestamp() + ttl;
    let signature = hex::encode(mac(state, avatar_id, expires).finalize().into_bytes());
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    Url::parse(&format!(
        "{base}/avatar-archives/{avatar_id}/{expires}/{signature}"
    ))
    .ok()
}

/// Serves an archive to whoever holds its signed URL.
pub async fn serve(
    State(state): State<AppState>,
    UrlPath((id, expires, signature)): UrlPath<(String, String, String)>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found").into_response();
    let (Ok(id), Ok(expires), Ok(signature)) = (
        id.parse::<i64>(),
        expires.parse::<i64>(),
        hex::decode(&signature),
    ) else {
        return not_found();
    };
    if mac(&state, id, expires).verify_slice(&signature).is_err() {
        return not_found();
    }
    if expires < chrono::Utc::now().timestamp() {
        return (StatusCode::GONE, "this link has expired").into_response();
    }
    let path = match ensure(&state, id).await {
        Ok(Some(path)) => path,
        // Trained (and cleaned up) or deleted since.
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(avatar = id, error = %e, "could not build a training archive");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response();
        }
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(_) => return not_found(),
    };
    let length = file.metadata().await.map(|m| m.len()).ok();
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/zip"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, length.into());
    }
    response
}

/// Builds the archive of these photos on this replica (fetching what its disk lacks).
pub async fn pack(
    state: &AppState,
    avatar_id: i64,
    photos: &[avatar_photo::Model],
) -> std::io::Result<PathBuf> {
    for photo in photos {
        super::local_copy(state, &photo.file_path, photo.source_file_id.as_deref()).await?;
    }
    let dir = super::dir(&state.settings, avatar_id);
    let root = state.settings.avatar.photos_dir.clone();
    let photos = photos.to_vec();
    tokio::task::spawn_blocking(move || build(&dir, &photos, &root))
        .await
        .map_err(std::io::Error::other)?
}

/// The archive of an avatar in training, from this replica's cache or built now; `None` when
/// the avatar is not in training (trained, failed, deleted: its photos are gone).
async fn ensure(state: &AppState, avatar_id: i64) -> std::io::Result<Option<PathBuf>> {
    let path = super::dir(&state.settings, avatar_id).join(FILE);
    let avatar = entity::avatar::Entity::find_by_id(avatar_id)
        .one(&state.db)
        .await
        .map_err(std::io::Error::other)?;
    if avatar.is_none_or(|a| a.status != crate::domain::AvatarStatus::Training) {
        return Ok(None);
    }
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(Some(path));
    }
    let photos = super::photos(&state.db, avatar_id)
        .await
        .map_err(std::io::Error::other)?;
    pack(state, avatar_id, &photos).await.map(Some)
}

/// Removes an archive (after training, or when its avatar goes).
pub async fn remove(state: &AppState, avatar_id: i64) {
    let path = super::dir(&state.settings, avatar_id).join(FILE);
    if let Err(e) = tokio::fs::remove_file(&path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(avatar = avatar_id, error = %e, "could not remove a training archive");
    }
}
