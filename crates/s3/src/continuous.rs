//! Continuous increments in the bucket: each SQLite database's increments
//! (`output_dir/continuous/NAME/`) copied as objects
//! `prefix + "continuous/" + NAME + "/" + file`, in the order they were
//! written, and brought back for `restore --at TIME --from NAME`.
//!
//! How far each store has copied each database is a position in the state
//! database (the last increment copied): a store that was down gets every
//! increment since, in order, when it answers again, and a stop at any
//! point copies at most one increment twice (the same bytes under the same
//! key). What local retention removed is recorded before it goes, and
//! deleted from every store here: a store never loses an increment the
//! server still keeps.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lifeboat_core::destination::{DestinationId, Surroundings};
use lifeboat_core::source::sqlite::continuous::increment::{self, Stored};
use lifeboat_core::source::sqlite::continuous::{FOLDER, Paths, Setup};
use lifeboat_core::state::{FailureCode, StateError, UploadPosition};
use object_store::path::Path as Key;
use tokio_util::sync::CancellationToken;

use crate::{S3Config, Store, StoreError};

/// What one [`copy_increments`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncrementCopies {
    /// Increments uploaded, and their bytes.
    pub uploaded: usize,
    pub bytes: u64,
    /// Copies deleted because local retention removed their increment.
    pub deleted: usize,
}

fn state_err(e: StateError) -> StoreError {
    StoreError::new(FailureCode::FileUnreadable, format!("the state database: {e}"))
}

fn file_name(s: &Stored) -> String {
    s.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}

impl Store {
    /// The folder key of `database`'s increments.
    fn increments_key(&self, database: &str) -> Key {
        Key::from(format!("{}{FOLDER}/{database}", self.s3.prefix))
    }

    fn increment_key(&self, database: &str, file: &str) -> Key {
        Key::from(format!("{}{FOLDER}/{database}/{file}", self.s3.prefix))
    }

    /// The increments of `database` the bucket holds, oldest first, each
    /// known by its name as though it were in `dir` (other objects under
    /// the folder are left out).
    pub async fn list_increments(&self, database: &str, dir: &Path) -> Result<Vec<Stored>, StoreError> {
        let folder = self.increments_key(database);
        self.listing.reset();
        let mut stream = self.store.list(Some(&folder));
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.listing_error(e))?;
            let Some(file) = meta.location.filename() else { continue };
            // Only objects right in the folder, named as increments are.
            if meta.location != self.increment_key(database, file) {
                continue;
            }
            if let Some(s) = increment::parse_name(dir, file) {
                out.push(s);
            }
        }
        out.sort_by_key(|s| (s.generation, s.seq));
        Ok(out)
    }

    async fn delete_key(&self, key: &Key, label: &str) -> Result<(), StoreError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::from_store(&format!("cannot delete {label}"), e)),
        }
    }
}

/// Copies to `store` every increment of every database in
/// `backup.databases` it does not hold yet, oldest first, and deletes the
/// copies of those local retention removed. Stops at the first failure
/// (the next call starts there again) or when `cancel` fires.
pub async fn copy_increments(
    continuous: &Setup,
    around: &Surroundings,
    store: &Store,
    cancel: &CancellationToken,
) -> Result<IncrementCopies, StoreError> {
    let id = store.s3.id().to_string();
    let state = around.state().map_err(state_err)?;
    let mut out = IncrementCopies::default();
    for database in &continuous.databases {
        for file in state.retired_increments(&id, database).map_err(state_err)? {
            store.delete_key(&store.increment_key(database, &file), &file).await?;
            state.forget_retired_increment(&id, database, &file).map_err(state_err)?;
            out.deleted += 1;
        }
        let dir = Paths::new(continuous, database).dir;
        let local = increment::list(&dir)
            .map_err(|e| StoreError::new(FailureCode::FileUnreadable, format!("cannot list {}: {e}", dir.display())))?;
        let after = state.upload_position(&id, database).map_err(state_err)?;
        let pending = local.iter().filter(|s| after.is_none_or(|p| (s.generation, s.seq) > (p.generation, p.seq)));
        for s in pending {
            if cancel.is_cancelled() {
                return Ok(out);
            }
            let file = file_name(s);
            match store
                .put_files(&store.increment_key(database, &file), &file, std::slice::from_ref(&s.path), cancel)
                .await
            {
                Ok(bytes) => {
                    out.uploaded += 1;
                    out.bytes += bytes;
                }
                // Removed by retention since it was listed: nothing to copy.
                Err(_) if !s.path.exists() => {}
                Err(e) => return Err(e),
            }
            let p = UploadPosition { generation: s.generation, seq: s.seq };
            state.set_upload_position(&id, database, p, Utc::now()).map_err(state_err)?;
        }
    }
    Ok(out)
}

/// Downloads from the store `id` the increments that rebuild each
/// database of `backup.databases` as of `at` (the newest chain that
/// started at or before it, up to `at`) into `output_dir/continuous/`,
/// leaving the ones already there. A database the store holds no chain
/// for is left out: the restore's plan says it cannot be reached. New
/// chains captured here afterwards take numbers after every chain the
/// store holds. Returns the files downloaded.
pub async fn fetch_increments(
    buckets: &[S3Config],
    continuous: &Setup,
    around: &Surroundings,
    id: &DestinationId,
    at: DateTime<Utc>,
) -> Result<Vec<PathBuf>, StoreError> {
    let store = Store::named(buckets, id, &around.retry)?;
    let id = id.to_string();
    let state = around.state().map_err(state_err)?;
    let mut downloaded = Vec::new();
    for database in &continuous.databases {
        let dir = Paths::new(continuous, database).dir;
        let remote = store.list_increments(database, &dir).await?;
        if let Some(newest) = remote.iter().map(|s| s.generation).max() {
            state.raise_generation_floor(database, newest.saturating_add(1)).map_err(state_err)?;
        }
        let start = remote.iter().filter(|s| s.seq == 0 && s.captured_at <= at).max_by_key(|s| s.captured_at);
        let Some(start) = start else { continue };
        lifeboat_core::fsutil::create_private_dir(&dir).map_err(|e| {
            StoreError::new(FailureCode::FileUnreadable, format!("cannot create {}: {e}", dir.display()))
        })?;
        let chain = remote.iter().filter(|s| s.generation == start.generation && s.captured_at <= at);
        let mut last = None;
        for s in chain {
            last = Some(UploadPosition { generation: s.generation, seq: s.seq });
            if s.path.exists() {
                continue;
            }
            let file = file_name(s);
            // Not `*.tmp`: a capture running meanwhile removes those.
            let tmp = dir.join(format!(".{file}.fetch"));
            let got = store.download_key(&store.increment_key(database, &file), &file, &tmp).await;
            let got = got.and_then(|()| {
                std::fs::rename(&tmp, &s.path).map_err(|e| {
                    StoreError::new(FailureCode::FileUnreadable, format!("cannot rename {}: {e}", tmp.display()))
                })
            });
            if let Err(e) = got {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            downloaded.push(s.path.clone());
        }
        let _ = lifeboat_core::fsutil::sync_dir(&dir);
        // What was fetched from the store need not go back to it.
        let had = state.upload_position(&id, database).map_err(state_err)?;
        if let Some(p) = last.filter(|p| had.is_none_or(|h| (h.generation, h.seq) < (p.generation, p.seq))) {
            state.set_upload_position(&id, database, p, Utc::now()).map_err(state_err)?;
        }
    }
    Ok(downloaded)
}
