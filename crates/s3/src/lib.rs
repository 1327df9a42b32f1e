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

mod continuous;
mod listing;
pub mod section;

pub use continuous::{IncrementCopies, copy_increments, fetch_increments};
pub use section::S3Config;

pub use listing::{LISTING_BYTES, LISTING_PAGES, PAGE_BYTES};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lifeboat_core::catalog::{self, ArchiveName, StoredArchive};
use lifeboat_core::config::RetryConfig as RetryPolicy;
use lifeboat_core::destination::{
    Answer, BoxFuture, Copies, CopyFailure, CopySink, DestinationId, Handover, Opened, Probe, ProbeContext, ProbeError,
    RetireError, Surroundings,
};
use lifeboat_core::seal::Keys;
use lifeboat_core::state::FailureCode;
use lifeboat_core::verify::VerifyError;
use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

impl From<StoreError> for RetireError {
    fn from(e: StoreError) -> RetireError {
        RetireError { code: e.code, message: e.message }
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

/// What a listing of the bucket found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The archives, newest first.
    pub archives: Vec<Remote>,
    /// Objects under the prefix left out because their key is not a valid
    /// path (`..`, a control character): no archive of Lifeboat's.
    pub skipped: u64,
}

impl Listing {
    /// The warning to show when keys were left out.
    pub fn warning(&self) -> Option<String> {
        (self.skipped > 0).then(|| {
            format!(
                "{} object(s) under the prefix were skipped: their key is not a valid path (\"..\" or a control \
                 character); no archive of Lifeboat's has such a name",
                self.skipped
            )
        })
    }
}

/// One configured bucket.
#[derive(Clone)]
pub struct Store {
    s3: S3Config,
    store: Arc<dyn ObjectStore>,
    listing: Arc<listing::ListingStats>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("s3", &self.s3).finish()
    }
}

impl Store {
    /// A client for `s3`, retrying each request per `retry` (`[retry]`).
    pub fn open(s3: &S3Config, retry: &RetryPolicy) -> Result<Store, StoreError> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_secs(retry.initial_delay_secs.max(1)),
                max_backoff: Duration::from_secs(retry.max_delay_secs.max(1)),
                base: 2.0,
            },
            max_retries: retry.attempts.saturating_sub(1) as usize,
            retry_timeout: Duration::from_secs(300),
        };
        let listing = Arc::new(listing::ListingStats::default());
        let mut builder = AmazonS3Builder::new()
            .with_http_connector(listing::GuardedConnector(listing.clone()))
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
        if let Some(endpoint) = s3.endpoint_text() {
            // Self-hosted stores answer on paths, not bucket sub-domains.
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| StoreError::new(FailureCode::Refused, format!("destinations.s3 \"{}\": {e}", s3.name)))?;
        Ok(Store { s3: s3.clone(), store: Arc::new(store), listing })
    }

    /// The store `id`, one of the configured `buckets`.
    pub fn named(buckets: &[S3Config], id: &DestinationId, retry: &RetryPolicy) -> Result<Store, StoreError> {
        let s3 = buckets.iter().find(|s3| *id == s3.id()).ok_or_else(|| {
            let name = id.name().unwrap_or_default();
            let known: Vec<&str> = buckets.iter().map(|d| d.name.as_str()).collect();
            StoreError::new(
                FailureCode::Refused,
                if known.is_empty() {
                    format!("no destination {name:?}: no [[destinations.s3]] is configured")
                } else {
                    format!("no destination {name:?}; configured: {}", known.join(", "))
                },
            )
        })?;
        Store::open(s3, retry)
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
        self.put_files(&self.key(&archive.name), &archive.name, &archive.files, cancel).await
    }

    /// Uploads `files` one after the other as the object `key` (`label`
    /// names it in errors) and checks the object's size.
    async fn put_files(
        &self,
        key: &Key,
        label: &str,
        files: &[PathBuf],
        cancel: &CancellationToken,
    ) -> Result<u64, StoreError> {
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|e| StoreError::from_store(&format!("cannot start uploading {label}"), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; 1024 * 1024];
        let mut sent = 0u64;
        for file in files {
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
                    return Err(StoreError::from_store(&format!("uploading {label}"), e));
                }
                writer.write(&buf[..n]);
                sent += n as u64;
            }
        }
        writer.finish().await.map_err(|e| StoreError::from_store(&format!("uploading {label}"), e))?;
        let meta = self
            .store
            .head(key)
            .await
            .map_err(|e| StoreError::from_store(&format!("checking the uploaded {label}"), e))?;
        if meta.size != sent {
            let _ = self.store.delete(key).await;
            return Err(StoreError::new(
                FailureCode::Transient,
                format!(
                    "the store holds {} bytes of {label}, {sent} were sent; removed, uploaded again next cycle",
                    meta.size
                ),
            ));
        }
        Ok(sent)
    }

    /// The archives in the bucket under the prefix, newest first (other
    /// objects are left out).
    pub async fn list(&self) -> Result<Vec<Remote>, StoreError> {
        let listing = self.listing().await?;
        if let Some(warning) = listing.warning() {
            tracing::warn!("bucket {}: {warning}", self.s3.bucket);
        }
        Ok(listing.archives)
    }

    /// The archives in the bucket under the prefix, newest first, and how
    /// many keys were skipped. The listing is bounded: pages, their number and total bytes (`listing.rs`).
    pub async fn listing(&self) -> Result<Listing, StoreError> {
        let prefix = (!self.s3.prefix.is_empty()).then(|| Key::from(self.s3.prefix.trim_end_matches('/')));
        self.listing.reset();
        let mut stream = self.store.list(prefix.as_ref());
        let mut archives = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.listing_error(e))?;
            let Some(name) = meta.location.as_ref().strip_prefix(self.s3.prefix.as_str()) else { continue };
            let Ok(parsed) = ArchiveName::parse(name) else { continue };
            archives.push((
                parsed.created_at(),
                Remote { name: parsed.to_string(), size: meta.size, modified: meta.last_modified },
            ));
        }
        archives.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        Ok(Listing { archives: archives.into_iter().map(|(_, r)| r).collect(), skipped: self.listing.skipped() })
    }

    fn listing_error(&self, e: object_store::Error) -> StoreError {
        match self.listing.exceeded() {
            Some(why) => StoreError::new(
                FailureCode::Refused,
                format!(
                    "listing bucket {} stopped: {why} (a listing reads at most {LISTING_PAGES} pages and {} MiB); \
                     check that destinations.s3 \"{}\" points at an S3 store, or give it a prefix of its own",
                    self.s3.bucket,
                    LISTING_BYTES >> 20,
                    self.s3.name
                ),
            ),
            None => StoreError::from_store(&format!("listing bucket {}", self.s3.bucket), e),
        }
    }

    /// Downloads archive `name` into `dir` (through a private temporary
    /// file there), checking its size against the store's and, when its
    /// manifest can be read with `keys`, that it is the archive its name
    /// says. Only then is it renamed to `name`, private (0600).
    pub async fn download(&self, name: &ArchiveName, dir: &Path, keys: &Keys) -> Result<PathBuf, StoreError> {
        let tmp = dir.join(name.temp_name());
        let result = self.download_to(name, &tmp).await.and_then(|()| check_fetched(name, &tmp, keys));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let dest = dir.join(name.to_string());
        std::fs::rename(&tmp, &dest).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::new(FailureCode::FileUnreadable, format!("cannot rename {}: {e}", tmp.display()))
        })?;
        Ok(dest)
    }

    async fn download_to(&self, name: &ArchiveName, tmp: &Path) -> Result<(), StoreError> {
        self.download_key(&self.key(&name.to_string()), &name.to_string(), tmp).await
    }

    /// Downloads the object `key` (`name` in errors) into the new private
    /// file `tmp`, checking its size against the store's.
    async fn download_key(&self, key: &Key, name: &str, tmp: &Path) -> Result<(), StoreError> {
        let io = |what: String| {
            move |e: std::io::Error| StoreError::new(FailureCode::FileUnreadable, format!("{what}: {e}"))
        };
        let got =
            self.store.get(key).await.map_err(|e| StoreError::from_store(&format!("cannot download {name}"), e))?;
        let size = got.meta.size;
        let mut stream = got.into_stream();
        let _ = tokio::fs::remove_file(tmp).await;
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .await
            .map_err(io(format!("cannot create {}", tmp.display())))?;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StoreError::from_store(&format!("downloading {name}"), e))?;
            out.write_all(&chunk).await.map_err(io(format!("cannot write {}", tmp.display())))?;
            written += chunk.len() as u64;
        }
        out.sync_all().await.map_err(io(format!("cannot write {}", tmp.display())))?;
        if written != size {
            return Err(StoreError::new(FailureCode::Transient, format!("{name}: got {written} of {size} bytes")));
        }
        Ok(())
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
    /// The archive asked for (`latest` resolved to its name).
    pub archive: String,
    /// Files downloaded, in order.
    pub downloaded: Vec<PathBuf>,
    /// Archives already in the folder, left as they were.
    pub present: Vec<String>,
    /// The listing's warning about keys it skipped ([`Listing::warning`]).
    pub warning: Option<String>,
}

/// How long after its manifest's time an archive's name may say it was
/// made: a backup takes the next free second when its own is taken.
const NAME_AFTER_MANIFEST_SECS: i64 = 60;

/// Downloads `what` (an archive name or `latest`) from the store `id`
/// into `output_dir`, and a differential's base when it is not there yet,
/// so that `restore` works on a fresh server with only the config. Every
/// name, the bucket's or a manifest's, must be an archive name before it
/// becomes a path: nothing is written outside `output_dir`.
pub async fn fetch(
    buckets: &[S3Config],
    around: &Surroundings,
    id: &DestinationId,
    what: &str,
) -> Result<Fetched, StoreError> {
    fetch_before(buckets, around, id, what, None).await
}

/// [`fetch`], with `latest` the newest archive taken at or before `at`
/// when there is one (for `restore --at`).
pub async fn fetch_before(
    buckets: &[S3Config],
    around: &Surroundings,
    id: &DestinationId,
    what: &str,
    at: Option<DateTime<Utc>>,
) -> Result<Fetched, StoreError> {
    let store = Store::named(buckets, id, &around.retry)?;
    let listing = store.listing().await?;
    let remote = &listing.archives;
    let in_bucket = |n: &ArchiveName| remote.iter().any(|r| r.name == n.to_string());
    let wanted = if what == "latest" {
        let early_enough =
            |r: &&Remote| at.is_none_or(|at| ArchiveName::parse(&r.name).is_ok_and(|n| n.created_at() <= at));
        let newest = remote.iter().find(early_enough).ok_or_else(|| {
            StoreError::new(
                FailureCode::Refused,
                match at {
                    None => format!("bucket {} holds no archive under {:?}", store.s3.bucket, store.s3.prefix),
                    Some(at) => format!(
                        "bucket {} holds no archive under {:?} taken at or before {}",
                        store.s3.bucket,
                        store.s3.prefix,
                        at.format("%Y-%m-%d %H:%M:%S UTC")
                    ),
                },
            )
        })?;
        ArchiveName::parse(&newest.name).map_err(|e| StoreError::new(FailureCode::Refused, e.to_string()))?
    } else {
        let base = Path::new(what).file_name().and_then(|f| f.to_str()).unwrap_or(what);
        let wanted = ArchiveName::parse(base).map_err(|e| StoreError::new(FailureCode::Refused, e.to_string()))?;
        if !in_bucket(&wanted) {
            return Err(StoreError::new(
                FailureCode::Refused,
                format!(
                    "{base} is not in {}; `lifeboat list --remote {}` shows what is",
                    store.s3.bucket,
                    store.name()
                ),
            ));
        }
        wanted
    };
    let dir = &around.output_dir;
    lifeboat_core::fsutil::create_private_dir(dir)
        .map_err(|e| StoreError::new(FailureCode::FileUnreadable, format!("cannot create {}: {e}", dir.display())))?;
    let keys = &around.keys;
    let mut fetched = Fetched { archive: wanted.to_string(), warning: listing.warning(), ..Fetched::default() };
    let mut next = Some(wanted);
    while let Some(archive) = next.take() {
        let stored = match catalog::resolve(dir, &archive.to_string()) {
            Ok(local) => {
                fetched.present.push(archive.to_string());
                local
            }
            Err(_) => {
                let path = store.download(&archive, dir, keys).await?;
                fetched.downloaded.push(path.clone());
                catalog::resolve(dir, &archive.to_string())
                    .map_err(|e| StoreError::new(FailureCode::Refused, e.to_string()))?
            }
        };
        // A differential needs its base beside it.
        if stored.is_differential() {
            let manifest = lifeboat_core::verify::read_manifest(&stored, keys).map_err(|e| match e {
                // Its base is named inside it, sealed.
                VerifyError::Key(_) => StoreError::new(
                    FailureCode::Refused,
                    format!(
                        "{archive} was downloaded, but it is a differential sealed with age and its base is named \
                         inside it; run `lifeboat fetch {} {archive} --identity KEY_FILE` with the private key of one \
                         of encryption.recipients to bring its base too",
                        store.name()
                    ),
                ),
                e => StoreError::new(FailureCode::Refused, format!("{archive}: {e}")),
            })?;
            next = match manifest.base {
                Some(b) => Some(base_name(&archive, &b.archive)?),
                None => None,
            }
            .filter(|b| in_bucket(b) || dir.join(b.to_string()).exists());
        }
    }
    Ok(fetched)
}

/// The base a differential's manifest names, refused unless it is a whole
/// full archive's name (the manifest came from the store: it may say
/// anything).
fn base_name(archive: &ArchiveName, base: &str) -> Result<ArchiveName, StoreError> {
    match ArchiveName::parse(base) {
        Ok(b) if b.part().is_none() && !b.is_differential() => Ok(b),
        _ => Err(StoreError::new(
            FailureCode::Refused,
            format!(
                "{archive}'s manifest names its base {:?}, which is not a full archive's name; refused, nothing \
                 was written for it. The archive in the bucket is damaged or was tampered with",
                base.escape_debug().to_string()
            ),
        )),
    }
}

/// Checks a downloaded file (`tmp`, to become `name`) is the archive its
/// name says: its manifest's time and kind, and its base's name. A file
/// whose manifest cannot be read with the keys held (age without the
/// identity, or one part of a split archive) is checked by `verify` later.
fn check_fetched(name: &ArchiveName, tmp: &Path, keys: &Keys) -> Result<(), StoreError> {
    if name.part().is_some() {
        return Ok(());
    }
    let size = std::fs::metadata(tmp).map(|m| m.len()).unwrap_or(0);
    let archive =
        StoredArchive { name: name.to_string(), created_at: name.created_at(), files: vec![tmp.to_path_buf()], size };
    let manifest = match lifeboat_core::verify::read_manifest(&archive, keys) {
        Ok(m) => m,
        Err(VerifyError::Key(_)) => return Ok(()),
        Err(e) => {
            let why = format!("{name} from the store is not a readable archive ({e}); nothing was kept");
            return Err(StoreError::new(FailureCode::Refused, why));
        }
    };
    let made = manifest.created_at.timestamp();
    let named = name.created_at().timestamp();
    if !(made..=made + NAME_AFTER_MANIFEST_SECS).contains(&named)
        || manifest.is_differential() != name.is_differential()
    {
        return Err(StoreError::new(
            FailureCode::Refused,
            format!(
                "{name} from the store is not the archive its name says: its manifest says it is a {} archive made at \
                 {}; the store serves another object under this name. Nothing was kept; compare with \
                 `lifeboat list --remote`, and check the bucket",
                if manifest.is_differential() { "differential" } else { "full" },
                manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            ),
        ));
    }
    if let Some(b) = &manifest.base {
        base_name(name, &b.archive)?;
    }
    Ok(())
}

/// A store as the cycle's destination: it holds archives, and carries no
/// messages.
pub struct S3Destination {
    store: Store,
    id: DestinationId,
}

/// What to fix when a bucket does not answer.
const FIX: &str =
    "check endpoint, bucket, access_key_id and secret_access_key_file; archives wait in the outbox meanwhile";

/// Opens every configured `[[destinations.s3]]`: a sink for archives, and
/// its probe. One whose client cannot be set up is logged and gets no
/// sink; its probe says why.
pub fn open_configured(buckets: &[S3Config], around: &Surroundings, out: &mut Opened) {
    for s3 in buckets {
        let store = Store::open(s3, &around.retry);
        match &store {
            Ok(store) => {
                let sink = S3Destination { store: store.clone(), id: s3.id() };
                out.sinks.push(Arc::new(Copies::new(around.clone(), Arc::new(sink))));
            }
            Err(e) => tracing::error!("{e}"),
        }
        out.probes.push(Arc::new(BucketProbe { s3: s3.clone(), store }));
    }
}

/// A bucket as diagnose checks it: it answers these keys, and holds the
/// newest archive.
struct BucketProbe {
    s3: S3Config,
    store: Result<Store, StoreError>,
}

impl BucketProbe {
    async fn ask(&self, ask: &ProbeContext<'_>) -> Result<Answer, ProbeError> {
        let listed = match &self.store {
            Ok(store) => store.list().await,
            Err(e) => Err(e.clone()),
        };
        let remote = listed.map_err(|e| {
            let at = self.s3.endpoint_text().unwrap_or("AWS");
            ProbeError::new(e.code, format!("bucket {} at {at}: {e}", self.s3.bucket), FIX)
        })?;
        Ok(match ask.newest() {
            Some(newest) if !remote.iter().any(|r| r.name == newest) => Answer::Behind {
                message: format!("reachable, {} archive(s); the newest, {newest}, is not there yet", remote.len()),
                action: "the next cycle uploads it; `lifeboat status` shows the last error".into(),
            },
            _ => Answer::Fine(format!("reachable, {} archive(s) under {:?}", remote.len(), self.s3.prefix)),
        })
    }
}

impl Probe for BucketProbe {
    fn subject(&self) -> String {
        self.s3.id().to_string()
    }

    fn probe<'a>(&'a self, ask: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>> {
        Box::pin(self.ask(ask))
    }
}

impl CopySink for S3Destination {
    fn id(&self) -> &DestinationId {
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

    fn retire<'a>(&'a self, archive: &'a str) -> BoxFuture<'a, Result<(), RetireError>> {
        Box::pin(async move { self.store.delete(archive).await.map_err(RetireError::from) })
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
