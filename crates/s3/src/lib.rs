//! Off-site copies in any S3-compatible bucket (AWS, MinIO, SeaweedFS, R2,
//! B2), through `object_store`: each archive uploaded whole as one object
//! `prefix + archive name` (parts are joined on the way: a bucket has no
//! upload limit to split for), in a streamed multipart upload with bounded
//! memory, every part checksummed (SHA-256) by the store as it arrives, the
//! object's size checked after. Recorded as delivered only then.
//!
//! Retention mirrors the local policy and never goes further: an object is
//! deleted only when this server's retention removed its archive (the
//! outbox row turns `retired`), so a fresh server with an empty folder
//! deletes nothing. [`fetch`] brings archives back for a restore.
//!
//! # Error policy
//! Every failure is a [`StoreError`]: a [`FailureCode`] for health and
//! advice, words for people (never a secret: keys travel in signed
//! headers, not in URLs). Network trouble and refusals the operator can fix
//! (credentials, a missing bucket) stay pending and are retried next cycle;
//! `object_store` itself retries each request with backoff per `[retry]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lifeboat_core::catalog::{self, StoredArchive};
use lifeboat_core::config::Config;
use lifeboat_core::destination::{BoxFuture, CopyFailure, CopySink, Destination, Handover, S3Config, deliver_copies};
use lifeboat_core::state::{FailureCode, State, StateError};
use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig, WriteMultipart};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// Size of each uploaded part (S3's minimum is 5 MiB, except the last).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once: memory stays under `PART_BYTES × (this + 1)`.
const PARTS_IN_FLIGHT: usize = 3;

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// For health and advice.
    pub code: FailureCode,
    /// What happened, for people.
    pub message: String,
}

impl StoreError {
    fn new(code: FailureCode, message: impl Into<String>) -> StoreError {
        StoreError { code, message: message.into() }
    }

    fn from_store(what: &str, e: object_store::Error) -> StoreError {
        use object_store::Error as E;
        let text = e.to_string();
        let code = match &e {
            E::Unauthenticated { .. } | E::PermissionDenied { .. } => FailureCode::BadCredentials,
            _ if text.contains("SignatureDoesNotMatch") || text.contains("InvalidAccessKeyId") => {
                FailureCode::BadCredentials
            }
            E::NotFound { .. } => FailureCode::Refused,
            _ => FailureCode::Transient,
        };
        if timed_out(&e) {
            let why = "the store did not answer in time (the destination's timeout_secs); is the endpoint a working S3 store?";
            return StoreError::new(code, format!("{what}: {why}"));
        }
        StoreError::new(code, format!("{what}: {}", brief(&text)))
    }
}

/// Whether a request of `e` ran out of the per-request timeout. The
/// client's own error kinds are not reachable through the chain (they are
/// transparent), but its innermost cause says "operation timed out".
fn timed_out(e: &object_store::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.to_string().contains("timed out") {
            return true;
        }
        source = s.source();
    }
    false
}

/// The part of an `object_store` error a person needs: the HTTP status and
/// the store's own code and message when it sent an XML error body, else
/// the first line.
fn brief(text: &str) -> String {
    let between = |open: &str, close: &str| {
        let start = text.find(open)? + open.len();
        let end = text[start..].find(close)? + start;
        Some(text[start..end].trim().to_string())
    };
    let status = text
        .find("status code: ")
        .map(|i| text[i + 13..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>())
        .filter(|s| !s.is_empty());
    match (between("<Code>", "</Code>"), between("<Message>", "</Message>")) {
        (Some(code), message) => {
            let status = status.map(|s| format!("HTTP {s} ")).unwrap_or_default();
            format!("{status}{code}{}", message.map(|m| format!(": {m}")).unwrap_or_default())
        }
        // The network failed before any answer: the request line and the
        // client's retry settings say nothing a person can act on.
        _ if text.contains("HTTP error: ") => {
            let cause = text.rsplit("HTTP error: ").next().unwrap_or(text).lines().next().unwrap_or("").trim();
            format!("cannot reach the store ({cause})")
        }
        _ => text.lines().next().unwrap_or(text).chars().take(300).collect(),
    }
}

/// An archive as the bucket holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The archive's name (the key without the prefix).
    pub name: String,
    pub size: u64,
    /// When the store last wrote it.
    pub modified: DateTime<Utc>,
}

/// One configured bucket.
#[derive(Clone)]
pub struct Store {
    s3: S3Config,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("s3", &self.s3).finish()
    }
}

impl Store {
    /// A client for `s3`, retrying each request per `cfg.retry`.
    pub fn open(cfg: &Config, s3: &S3Config) -> Result<Store, StoreError> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_secs(cfg.retry.initial_delay_secs.max(1)),
                max_backoff: Duration::from_secs(cfg.retry.max_delay_secs.max(1)),
                base: 2.0,
            },
            max_retries: cfg.retry.attempts.saturating_sub(1) as usize,
            retry_timeout: Duration::from_secs(300),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&s3.bucket)
            .with_region(&s3.region)
            .with_access_key_id(&s3.access_key_id)
            .with_secret_access_key(s3.secret_access_key.expose())
            .with_checksum_algorithm(Checksum::SHA256)
            .with_retry(retry)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(s3.timeout_secs)),
            );
        if !s3.endpoint.is_empty() {
            // Self-hosted stores answer on paths, not bucket sub-domains.
            builder = builder.with_endpoint(&s3.endpoint).with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| StoreError::new(FailureCode::Refused, format!("destinations.s3 \"{}\": {e}", s3.name)))?;
        Ok(Store { s3: s3.clone(), store: Arc::new(store) })
    }

    /// The configured store named `name`.
    pub fn named(cfg: &Config, name: &str) -> Result<Store, StoreError> {
        let s3 = cfg.destinations.s3.iter().find(|d| d.name == name).ok_or_else(|| {
            let known: Vec<&str> = cfg.destinations.s3.iter().map(|d| d.name.as_str()).collect();
            StoreError::new(
                FailureCode::Refused,
                if known.is_empty() {
                    format!("no destination {name:?}: no [[destinations.s3]] is configured")
                } else {
                    format!("no destination {name:?}; configured: {}", known.join(", "))
                },
            )
        })?;
        Store::open(cfg, s3)
    }

    /// Its name in the config.
    pub fn name(&self) -> &str {
        &self.s3.name
    }

    fn key(&self, archive: &str) -> Key {
        Key::from(format!("{}{archive}", self.s3.prefix))
    }

    /// Uploads `archive` (all its parts, in order, as one object) and
    /// checks the object's size. Returns the bytes stored.
    pub async fn upload(&self, archive: &StoredArchive, cancel: &CancellationToken) -> Result<u64, StoreError> {
        let key = self.key(&archive.name);
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|e| StoreError::from_store(&format!("cannot start uploading {}", archive.name), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; 1024 * 1024];
        let mut sent = 0u64;
        for file in &archive.files {
            let mut input = match tokio::fs::File::open(file).await {
                Ok(f) => f,
                Err(e) => {
                    let _ = writer.abort().await;
                    let why = format!("cannot read {}: {e}", file.display());
                    return Err(StoreError::new(FailureCode::FileUnreadable, why));
                }
            };
            loop {
                if cancel.is_cancelled() {
                    let _ = writer.abort().await;
                    return Err(StoreError::new(FailureCode::Transient, "interrupted; uploaded again next cycle"));
                }
                let n = match input.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = writer.abort().await;
                        let why = format!("cannot read {}: {e}", file.display());
                        return Err(StoreError::new(FailureCode::FileUnreadable, why));
                    }
                };
                if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    let _ = writer.abort().await;
                    return Err(StoreError::from_store(&format!("uploading {}", archive.name), e));
                }
                writer.write(&buf[..n]);
                sent += n as u64;
            }
        }
        writer.finish().await.map_err(|e| StoreError::from_store(&format!("uploading {}", archive.name), e))?;
        let meta = self
            .store
            .head(&key)
            .await
            .map_err(|e| StoreError::from_store(&format!("checking the uploaded {}", archive.name), e))?;
        if meta.size != sent {
            let _ = self.store.delete(&key).await;
            return Err(StoreError::new(
                FailureCode::Transient,
                format!(
                    "the store holds {} bytes of {}, {sent} were sent; removed, uploaded again next cycle",
                    meta.size, archive.name
                ),
            ));
        }
        Ok(sent)
    }

    /// The archives in the bucket under the prefix, newest first (other
    /// objects are left out).
    pub async fn list(&self) -> Result<Vec<Remote>, StoreError> {
        let prefix = (!self.s3.prefix.is_empty()).then(|| Key::from(self.s3.prefix.trim_end_matches('/')));
        let mut stream = self.store.list(prefix.as_ref());
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| StoreError::from_store(&format!("listing bucket {}", self.s3.bucket), e))?;
            let Some(name) = meta.location.as_ref().strip_prefix(self.s3.prefix.as_str()) else { continue };
            if name.contains('/') || catalog::parse_name(name).is_none() {
                continue;
            }
            out.push(Remote { name: name.to_string(), size: meta.size, modified: meta.last_modified });
        }
        out.sort_by_key(|r| std::cmp::Reverse(catalog::parse_name(&r.name)));
        Ok(out)
    }

    /// Downloads archive `name` into `dir` as a new file (through a
    /// temporary name), checking its size against the store's.
    pub async fn download(&self, name: &str, dir: &Path) -> Result<PathBuf, StoreError> {
        let io = |what: String| {
            move |e: std::io::Error| StoreError::new(FailureCode::FileUnreadable, format!("{what}: {e}"))
        };
        let dest = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let got = self
            .store
            .get(&self.key(name))
            .await
            .map_err(|e| StoreError::from_store(&format!("cannot download {name}"), e))?;
        let size = got.meta.size;
        let mut stream = got.into_stream();
        let mut out = tokio::fs::File::create(&tmp).await.map_err(io(format!("cannot create {}", tmp.display())))?;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(StoreError::from_store(&format!("downloading {name}"), e));
                }
            };
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                .await
                .map_err(io(format!("cannot write {}", tmp.display())))?;
            written += chunk.len() as u64;
        }
        out.sync_all().await.map_err(io(format!("cannot write {}", tmp.display())))?;
        drop(out);
        if written != size {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(StoreError::new(FailureCode::Transient, format!("{name}: got {written} of {size} bytes")));
        }
        tokio::fs::rename(&tmp, &dest).await.map_err(io(format!("cannot rename {}", tmp.display())))?;
        Ok(dest)
    }

    /// Deletes archive `name`'s object (already gone is fine).
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        match self.store.delete(&self.key(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::from_store(&format!("cannot delete {name}"), e)),
        }
    }
}

/// What [`fetch`] brought.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// Files downloaded, in order.
    pub downloaded: Vec<PathBuf>,
    /// Archives already in the folder, left as they were.
    pub present: Vec<String>,
}

/// Downloads `what` (an archive name or `latest`) from the store `name`
/// into `output_dir`, and a differential's base when it is not there yet,
/// so that `restore` works on a fresh server with only the config.
pub async fn fetch(cfg: &Config, name: &str, what: &str) -> Result<Fetched, StoreError> {
    let store = Store::named(cfg, name)?;
    let remote = store.list().await?;
    let wanted = if what == "latest" {
        remote.first().map(|r| r.name.clone()).ok_or_else(|| {
            StoreError::new(
                FailureCode::Refused,
                format!("bucket {} holds no archive under {:?}", store.s3.bucket, store.s3.prefix),
            )
        })?
    } else {
        let base = Path::new(what).file_name().and_then(|f| f.to_str()).unwrap_or(what).to_string();
        if !remote.iter().any(|r| r.name == base) {
            return Err(StoreError::new(
                FailureCode::Refused,
                format!(
                    "{base} is not in {}; `lifeboat list --remote {}` shows what is",
                    store.s3.bucket,
                    store.name()
                ),
            ));
        }
        base
    };
    let dir = &cfg.backup.output_dir;
    lifeboat_core::fsutil::create_private_dir(dir)
        .map_err(|e| StoreError::new(FailureCode::FileUnreadable, format!("cannot create {}: {e}", dir.display())))?;
    let mut fetched = Fetched::default();
    let mut next = Some(wanted);
    while let Some(archive) = next.take() {
        let stored = match catalog::resolve(dir, &archive) {
            Ok(local) => {
                fetched.present.push(archive.clone());
                local
            }
            Err(_) => {
                let path = store.download(&archive, dir).await?;
                fetched.downloaded.push(path.clone());
                catalog::resolve(dir, &archive).map_err(|e| StoreError::new(FailureCode::Refused, e.to_string()))?
            }
        };
        // A differential needs its base beside it.
        if stored.is_differential() {
            let manifest = lifeboat_core::verify::read_manifest(&stored, &cfg.encryption.keys)
                .map_err(|e| StoreError::new(FailureCode::Refused, format!("{archive}: {e}")))?;
            next = manifest
                .base
                .map(|b| b.archive)
                .filter(|b| remote.iter().any(|r| r.name == *b) || dir.join(b).exists());
        }
    }
    Ok(fetched)
}

/// A store as the cycle's destination.
pub struct S3Destination {
    store: Store,
    id: String,
    cfg: Config,
}

impl S3Destination {
    /// Every configured `[[destinations.s3]]`; one that cannot be set up
    /// is logged and left out.
    pub fn from_config(cfg: &Config) -> Vec<S3Destination> {
        cfg.destinations
            .s3
            .iter()
            .filter_map(|s3| match Store::open(cfg, s3) {
                Ok(store) => Some(S3Destination { store, id: s3.id(), cfg: cfg.clone() }),
                Err(e) => {
                    tracing::error!("{e}");
                    None
                }
            })
            .collect()
    }
}

impl CopySink for S3Destination {
    fn id(&self) -> &str {
        &self.id
    }

    fn send<'a>(&'a self, job: Handover<'a>) -> BoxFuture<'a, Result<u64, CopyFailure>> {
        // A multipart upload is all or nothing: it never resumes after parts.
        Box::pin(async move {
            self.store.upload(job.archive, job.cancel).await.map_err(|e| CopyFailure {
                permanent: e.code == FailureCode::FileUnreadable,
                code: e.code,
                message: e.message,
                sent_parts: 0,
            })
        })
    }

    fn retire<'a>(&'a self, archive: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.store.delete(archive).await.map_err(|e| e.to_string()) })
    }
}

impl Destination for S3Destination {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn has_recipients(&self) -> bool {
        true
    }

    fn carries_text(&self) -> bool {
        false
    }

    fn enqueue(&self, state: &State, archive: &StoredArchive, at: DateTime<Utc>) -> Result<(), StateError> {
        state.enqueue_copy(&archive.name, &self.id, at)
    }

    fn deliver_pending<'a>(&'a self, cancel: &'a CancellationToken) -> BoxFuture<'a, ()> {
        Box::pin(deliver_copies(&self.cfg, self, cancel))
    }

    fn alert<'a>(&'a self, _text: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("a bucket carries no messages".to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::brief;

    #[test]
    fn store_errors_are_brief() {
        let long = "Generic S3 error: Error performing GET http://h/b in 1ms - Server returned non-2xx status code: 403 Forbidden: \
            <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The signature does not match.</Message></Error>";
        assert_eq!(brief(long), "HTTP 403 SignatureDoesNotMatch: The signature does not match.");
        assert_eq!(brief("error sending request\nmore"), "error sending request");
        let down = "Generic S3 error: Error performing POST http://127.0.0.1:41101/b/k?uploads= in 1.0s, after 1 retries, \
            max_retries: 1, retry_timeout: 300s  - HTTP error: error sending request";
        assert_eq!(brief(down), "cannot reach the store (error sending request)");
    }
}
