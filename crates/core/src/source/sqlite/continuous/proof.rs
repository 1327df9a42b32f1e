//! The chain proof: at each scheduled archive, the database rebuilt from
//! its chain up to the archive's snapshot equals that snapshot, so every
//! restore point the chain offers is backed by a real snapshot.
//!
//! Both sides must be the same moment. Right before the archive's
//! snapshot, a capture brings the chain up to the database's newest commit
//! (under the capture lock, so it never races the daemon's); right after
//! it, the `-wal` file is read again. The chain is rebuilt into a scratch
//! file and compared with the snapshot by SHA-256 page by page, the
//! bookkeeping fields of page 1 that SQLite's backup API writes itself
//! left out ([`BOOKKEEPING`]). When the bot committed in between, the
//! snapshot is the state after one of those commits: they are replayed
//! from the WAL one transaction at a time, and the chain is proven when
//! one of them equals the snapshot. A busy database is proven that way
//! too; one whose WAL was reset in between (or, in rollback-journal mode,
//! that changed at all) is not proven this time, and the next archive
//! tries again.
//!
//! A mismatch starts a new chain at the next capture (the one it was in
//! stays on disk, for `verify --continuous` and people to look at); the
//! cycle opens an incident.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::capture::{Captured, Look, capture};
use super::wal::{self, IndexHeader, WalHeader, WalPosition, WalState};
use super::{ContinuousError, Paths, Setup, reach, rebuild};
use crate::lock::CycleLock;
use crate::state::{CapturePosition, State, StateError};

/// The byte ranges of page 1 that a copy through SQLite's backup API sets
/// itself, whatever the source held: the file change counter (24..28), the
/// schema cookie (40..44), version-valid-for and the SQLite version number
/// (92..100). Checked by a test against a real copy.
pub const BOOKKEEPING: [std::ops::Range<usize>; 3] = [24..28, 40..44, 92..100];

/// How long a proof waits for the capture lock (the daemon's capture).
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// How long a proof waits for SQLite to make the chain's newest commit
/// visible to readers.
const PUBLISH_WAIT: Duration = Duration::from_secs(2);

/// The lock one capture at a time holds (the daemon's, a proof's).
pub fn lock(setup: &Setup, what: &str) -> Result<CycleLock, crate::lock::LockError> {
    CycleLock::try_acquire(&setup.state_dir.join("continuous.lock"), what)
}

/// What the chain stood at right before a snapshot.
#[derive(Debug, Clone)]
pub struct Before {
    position: CapturePosition,
}

/// What proving one database's chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProof {
    /// The chain rebuilt equals the snapshot.
    Proven {
        database: String,
        generation: u32,
        seq: u64,
        /// The moment compared.
        reached: DateTime<Utc>,
        /// Both sides' SHA-256 (page 1's bookkeeping left out).
        sha256: String,
    },
    /// They differ, or the chain cannot be rebuilt: a new chain starts.
    Mismatch { database: String, generation: u32, seq: u64, reached: DateTime<Utc>, detail: String },
    /// Not compared this time, and why.
    Skipped { database: String, why: String },
}

impl ChainProof {
    /// The database proven.
    pub fn database(&self) -> &str {
        match self {
            ChainProof::Proven { database, .. }
            | ChainProof::Mismatch { database, .. }
            | ChainProof::Skipped { database, .. } => database,
        }
    }

    /// In words, for logs and alerts.
    pub fn words(&self) -> String {
        match self {
            ChainProof::Proven { database, generation, seq, reached, sha256 } => format!(
                "{database}: chain {generation} up to increment {seq} ({}) equals the archive's snapshot (sha256 {})",
                reached.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                &sha256[..16]
            ),
            ChainProof::Mismatch { database, generation, seq, reached, detail } => format!(
                "{database}: chain {generation} up to increment {seq} ({}) does not equal the archive's snapshot: \
                 {detail}; a new chain starts at the next capture, and moments before it are restored from this \
                 chain only with care (`lifeboat verify latest --continuous`)",
                reached.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
            ),
            ChainProof::Skipped { database, why } => format!("{database}: chain not proven this time: {why}"),
        }
    }
}

/// Why a chain is not proven against this snapshot; the next archive
/// tries again.
#[derive(Debug, thiserror::Error)]
pub enum Unproven {
    /// The daemon's capture held the lock longer than a proof waits.
    #[error("the capture lock stayed busy: {0}")]
    LockBusy(#[source] crate::lock::LockError),
    /// A rollback-journal database gets a page diff only so often.
    #[error("its next page diff is not due (rollback-journal mode)")]
    NotDue,
    #[error("the capture before the snapshot failed: {0}")]
    Capture(#[source] ContinuousError),
    #[error(transparent)]
    State(#[from] StateError),
    /// Nothing was captured of it yet.
    #[error("it has no chain yet")]
    NoChain,
    /// SQLite had not yet shown the chain's newest commit to readers, so a
    /// snapshot might not hold it.
    #[error("its newest commit was not yet visible to readers after {secs} s")]
    Unpublished { secs: u64 },
}

/// Right before the snapshot of `name`: a capture up to its newest commit,
/// under the capture lock. Err says why there is nothing to prove.
pub fn before_snapshot(setup: &Setup, state: &State, name: &str) -> Result<Before, Unproven> {
    let deadline = Instant::now() + LOCK_WAIT;
    let _lock = loop {
        match lock(setup, "continuous capture (chain proof)") {
            Ok(l) => break l,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(Unproven::LockBusy(e)),
        }
    };
    match capture(setup, state, name, &Utc::now) {
        Ok(Captured::NotDue) => return Err(Unproven::NotDue),
        Ok(_) => {}
        Err(e) => return Err(Unproven::Capture(e)),
    }
    let position = state.capture_position(name)?.ok_or(Unproven::NoChain)?;
    // The snapshot must hold at least what the chain does.
    let paths = Paths::new(setup, name);
    let deadline = Instant::now() + PUBLISH_WAIT;
    // SQLite writes and syncs a commit frame first and publishes it to
    // readers in `-shm` after: the capture may have read a commit that a
    // snapshot begun right now would not see.
    let published = || IndexHeader::read(&paths.shm()).is_some_and(|ix| ix.settled && ix.publishes(&position.wal));
    while position.wal.frames > 0 && !published() {
        if Instant::now() >= deadline {
            return Err(Unproven::Unpublished { secs: PUBLISH_WAIT.as_secs() });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(Before { position })
}

/// Right after the snapshot of `name` into `snapshot`: compares it with
/// the chain as [`before_snapshot`] left it, rebuilt in `scratch`.
pub fn after_snapshot(
    setup: &Setup,
    state: &State,
    name: &str,
    before: Before,
    snapshot: &Path,
    scratch: &Path,
) -> ChainProof {
    let p = before.position;
    let skipped = |why: String| ChainProof::Skipped { database: name.to_string(), why };
    let paths = Paths::new(setup, name);
    let look = match Look::take(&paths) {
        Ok(l) => l,
        Err(e) => return skipped(e.to_string()),
    };
    let same_file = look.file_id == p.file_id && look.page_size == p.page_size;
    // The commits since the capture, when the WAL still holds all of them:
    // the snapshot is the state after one of them.
    let since = match look.wal() {
        WalState::Valid(h, bytes) if same_file && look.wal_mode && h.continues(&p.wal) => Some((h, bytes.as_slice())),
        _ => None,
    };
    let still = same_file && if look.wal_mode { look.wal_position() == p.wal } else { look.stamp == p.db_stamp };
    tracing::debug!(
        database = %name,
        chain = ?p.wal,
        now = ?look.wal_position(),
        same_file,
        still,
        replay = since.is_some(),
        "chain proof: the WAL after the snapshot"
    );
    if !still && since.is_none() {
        return skipped("the database changed while its snapshot was taken, past what its WAL still holds".into());
    }
    let mismatch = |detail: String| {
        if let Err(e) = state.forget_capture_position(name) {
            tracing::warn!(database = %name, "cannot start a new chain: {e}");
        }
        ChainProof::Mismatch {
            database: name.to_string(),
            generation: p.generation,
            seq: p.seq,
            reached: p.captured_at,
            detail,
        }
    };
    let r = match reach(setup, name, p.captured_at) {
        Ok(r) if r.generation == p.generation && r.increments.last().is_some_and(|s| s.seq == p.seq) => r,
        Ok(_) => return skipped("the chain's files do not reach its recorded position".into()),
        Err(e) => return mismatch(e.to_string()),
    };
    let dest = scratch.join(format!("{name}.proof"));
    let _ = std::fs::remove_file(&dest);
    let rebuilt = rebuild(setup, &r, &dest);
    let compared = rebuilt.map_err(|e| e.to_string()).and_then(|_| {
        let (want, b) = page_hashes(snapshot, p.page_size).map_err(|e| format!("cannot read the snapshot: {e}"))?;
        let (have, a) = page_hashes(&dest, p.page_size).map_err(|e| format!("cannot read the rebuilt copy: {e}"))?;
        // A WAL emptied before the capture is read from its new header.
        let commits = since.map(|(h, bytes)| (h, bytes, if p.wal.frames == 0 { h.start() } else { p.wal }));
        Ok(match equal_at_a_commit(have, &want, commits) {
            Ok(()) => (b, b, None),
            Err(differ) => (a, b, Some(differ)),
        })
    });
    let _ = std::fs::remove_file(&dest);
    match compared {
        Ok((a, b, _)) if a == b => ChainProof::Proven {
            database: name.to_string(),
            generation: p.generation,
            seq: p.seq,
            reached: p.captured_at,
            sha256: hex::encode(a.0),
        },
        Ok((a, b, differ)) => mismatch(format!(
            "sha256 {} ({} pages) against the snapshot's {} ({} pages){}",
            hex::encode(a.0),
            a.1,
            hex::encode(b.0),
            b.1,
            differ.map_or(String::new(), |d| format!("; {d}"))
        )),
        Err(e) => mismatch(e),
    }
}

/// How a rebuilt chain differed from the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Differ {
    /// Pages that differ as the chain stands.
    pages: usize,
    /// The first of them (1-based).
    first: usize,
    /// Transactions the WAL held past the chain's position, each tried.
    commits: usize,
}

impl std::fmt::Display for Differ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} page(s) differ, the first page {}", self.pages, self.first)?;
        match self.commits {
            0 => write!(f, " and the WAL held no transaction past the chain's position"),
            n => write!(f, ", and still after each of the {n} transaction(s) the WAL held past the chain's position"),
        }
    }
}

/// Whether the pages `have` (of the rebuilt chain) equal `want` (of the
/// snapshot), as they are or after one of the transactions the WAL
/// `commits` holds past the chain's position (replayed in order, page by
/// page).
fn equal_at_a_commit(
    mut have: Vec<[u8; 32]>,
    want: &[[u8; 32]],
    commits: Option<(&WalHeader, &[u8], WalPosition)>,
) -> Result<(), Differ> {
    let mut differ: BTreeSet<usize> = (0..have.len().max(want.len())).filter(|&i| have.get(i) != want.get(i)).collect();
    let equal = |differ: &BTreeSet<usize>, pages: usize| pages == want.len() && differ.range(..pages).next().is_none();
    let mut found = equal(&differ, have.len());
    let (pages, first) = (differ.len(), differ.first().map_or(0, |i| i + 1));
    let mut tried = 0;
    if let Some((h, bytes, from)) = commits {
        wal::each_commit(h, bytes, &from, |pages, db_pages, _| {
            if found {
                return;
            }
            tried += 1;
            for &(no, data) in pages {
                let i = no as usize - 1;
                if have.len() <= i {
                    have.resize(i + 1, [0; 32]);
                }
                have[i] = hash_page(i, data);
                if have.get(i) == want.get(i) {
                    differ.remove(&i);
                } else {
                    differ.insert(i);
                }
            }
            found = equal(&differ, db_pages as usize);
        });
    }
    if found { Ok(()) } else { Err(Differ { pages, first, commits: tried }) }
}

/// A file's SHA-256 over its pages (page 1's [`BOOKKEEPING`] zeroed) and
/// its number of pages.
type Whole = ([u8; 32], u64);

/// The SHA-256 of each of `path`'s pages and of all of them, page 1's
/// [`BOOKKEEPING`] zeroed, with the number of pages (read a page at a
/// time).
fn page_hashes(path: &Path, page_size: u32) -> io::Result<(Vec<[u8; 32]>, Whole)> {
    let mut f = io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut page = vec![0u8; page_size as usize];
    let (mut each, mut all) = (Vec::new(), Sha256::new());
    loop {
        let n = crate::fsutil::read_full(&mut f, &mut page)?;
        if n == 0 {
            break;
        }
        if each.is_empty() {
            forget_bookkeeping(&mut page[..n]);
        }
        each.push(Sha256::digest(&page[..n]).into());
        all.update(&page[..n]);
        if n < page.len() {
            break;
        }
    }
    let mut rest = [0u8; 1];
    if f.read(&mut rest)? != 0 {
        return Err(io::Error::other("a partial page"));
    }
    let pages = each.len() as u64;
    Ok((each, (all.finalize().into(), pages)))
}

/// Page 1 with its [`BOOKKEEPING`] zeroed (a shorter page is left as it is).
fn forget_bookkeeping(first: &mut [u8]) {
    if first.len() >= 100 {
        for r in BOOKKEEPING {
            first[r].fill(0);
        }
    }
}

/// The SHA-256 of page `index` (0-based), page 1's [`BOOKKEEPING`] zeroed.
fn hash_page(index: usize, page: &[u8]) -> [u8; 32] {
    if index == 0 {
        let mut first = page.to_vec();
        forget_bookkeeping(&mut first);
        return Sha256::digest(&first).into();
    }
    Sha256::digest(page).into()
}

/// The SHA-256 of `path`'s pages with page 1's [`BOOKKEEPING`] zeroed,
/// and its number of pages.
#[cfg(test)]
pub(crate) fn page_hash(path: &Path, page_size: u32) -> io::Result<([u8; 32], u64)> {
    page_hashes(path, page_size).map(|(_, all)| all)
}
