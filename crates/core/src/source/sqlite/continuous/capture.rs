//! One capture of one database: what was committed since the last one,
//! written as an increment, then the rebuilt copy and the position moved on.
//!
//! The order of the steps is what makes a stop at any point harmless:
//! 1. the increment is written under a temporary name, fsynced, renamed and
//!    its folder fsynced: from here it is a restore point;
//! 2. the rebuilt copy (the "shadow", `state_dir/continuous/NAME`, always
//!    the database as the chain rebuilds it) takes its pages (their bytes:
//!    the increment stores each page against the shadow's, whole or as the
//!    difference, see [`super::increment`]);
//! 3. the state database records the new position.
//!
//! A capture that finds an increment newer than the recorded position
//! (stopped between 1 and 3) rebuilds the shadow from the chain's full
//! image through it (the shadow may hold some of its pages already, and a
//! page stored as a difference cannot be applied twice) and adopts its
//! position; one it cannot read (sealed, and no identity here) makes it
//! start a new chain instead.
//!
//! What a capture reads is decided by what the `-wal` file shows:
//! - the same WAL as last time (same salts): its frames past the position,
//!   up to the last commit frame, checksums checked ([`super::wal`]);
//! - a WAL reset since (new salts, or emptied by a `TRUNCATE` checkpoint):
//!   frames may have been checkpointed into the database and dropped
//!   unread, so a consistent snapshot (SQLite's backup API, as archives
//!   are taken) is compared page by page with the shadow, and the pages
//!   that differ are the increment. Moments inside such a gap are never
//!   offered; the moment after it is exact.
//! - no chain yet, another file at the path, a page-size change, or a
//!   shadow that does not match: a new chain, whose first increment is the
//!   snapshot's every page.
//!
//! A database in rollback-journal mode has no WAL to follow: it gets page
//! diffs against the shadow, at most once every [`ROLLBACK_MIN_INTERVAL`],
//! and only when its file changed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::increment::{self, Header, Kind, Stored};
use super::wal::{self, IndexHeader, WalPosition, WalState};
use super::{ContinuousError, Paths, Setup, io_err};
use crate::state::{CapturePosition, State};

/// The shortest time between two page-diff captures of a database in
/// rollback-journal mode (each reads the whole database).
pub const ROLLBACK_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// A chain older than this gets a fresh full image at the next capture, so
/// that retention can remove whole older chains.
pub const CHAIN_MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What one capture did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    /// Nothing was committed since the last capture.
    Unchanged,
    /// A rollback-journal database changed, but its next page diff is not due yet.
    NotDue,
    /// An increment was written.
    Written {
        kind: Kind,
        generation: u32,
        seq: u64,
        /// Pages it holds.
        pages: u64,
        /// Its file's size.
        bytes: u64,
    },
}

/// Captures `name` (in `backup.databases`) once. `now` is read when the
/// state is taken, and again after, so each increment's time follows every
/// commit it holds.
pub fn capture(
    setup: &Setup,
    state: &State,
    name: &str,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<Captured, ContinuousError> {
    let paths = Paths::new(setup, name);
    crate::snapshot::preflight(&paths.db)
        .map_err(|reason| ContinuousError::Unreadable { name: name.into(), reason })?;
    for dir in [&paths.dir, &paths.work] {
        crate::fsutil::create_private_dir(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    remove_leftovers(&paths.dir);
    let look = Look::take(&paths)?;
    let mut pos = state.capture_position(name)?;
    if let Some(p) = pos.take() {
        pos = adopt_orphans(setup, &paths, p)?;
        if let Some(p) = &pos {
            state.set_capture_position(p)?;
        }
    }
    let chains = increment::list(&paths.dir).map_err(io_err(format!("cannot list {}", paths.dir.display())))?;
    let shadow_len = std::fs::metadata(&paths.shadow).map(|m| m.len()).ok();
    let chain_start = |g: u32| chains.iter().find(|s| s.generation == g && s.seq == 0).map(|s| s.captured_at);
    let pos = pos.filter(|p| {
        p.file_id == look.file_id
            && p.page_size == look.page_size
            && shadow_len == Some(u64::from(p.db_pages) * u64::from(p.page_size))
            && chain_start(p.generation).is_some_and(|t| now() - t < CHAIN_MAX_AGE)
    });
    let run = Run { setup, state, name, paths: &paths, now };
    let Some(p) = pos else {
        return run.snapshot(None, &look);
    };
    if !look.wal_mode {
        if look.stamp == p.db_stamp {
            state.capture_checked(name, now())?;
            return Ok(Captured::Unchanged);
        }
        let due = now() - p.captured_at >= chrono::TimeDelta::from_std(ROLLBACK_MIN_INTERVAL).unwrap_or_default();
        return if due { run.snapshot(Some(&p), &look) } else { Ok(Captured::NotDue) };
    }
    match &look.wal {
        WalState::Valid(h, bytes) if h.continues(&p.wal) && h.page_size == p.page_size => {
            let from = if p.wal.frames == 0 { h.start() } else { p.wal };
            let c = wal::committed_since(h, bytes, &from);
            let at = later(now(), p.captured_at);
            if c.commits == 0 {
                state.capture_checked(name, at)?;
                return Ok(Captured::Unchanged);
            }
            run.frames(&p, c, &look, at)
        }
        // Emptied by a checkpoint with nothing committed since: a commit
        // would have written frames, and emptying the WAL again draws new
        // salts (kept in the stamp, with the file's own).
        WalState::Empty if p.wal.frames == 0 && look.stamp == p.db_stamp => {
            state.capture_checked(name, later(now(), p.captured_at))?;
            Ok(Captured::Unchanged)
        }
        _ => run.snapshot(Some(&p), &look),
    }
}

/// `at`, or just after `after` when the clock went back: increments of a
/// chain are in time order.
fn later(at: DateTime<Utc>, after: DateTime<Utc>) -> DateTime<Utc> {
    at.max(after + chrono::TimeDelta::milliseconds(1))
}

/// What the database and its WAL look like at the start of a capture.
pub(super) struct Look {
    pub(super) file_id: String,
    /// The `-shm` header, when there is one.
    index: Option<IndexHeader>,
    pub(super) stamp: String,
    pub(super) page_size: u32,
    pub(super) wal_mode: bool,
    wal: WalState,
}

/// How many times a look reads the WAL again when a reset came between
/// its reads of `-shm` (or SQLite was writing that header).
const RESET_READS: u32 = 20;

impl Look {
    pub(super) fn take(paths: &Paths) -> Result<Look, ContinuousError> {
        let meta = std::fs::metadata(&paths.db).map_err(io_err(format!("cannot read {}", paths.db.display())))?;
        let mut head = [0u8; crate::integrity::HEADER_LEN];
        crate::fsutil::read_prefix(&paths.db, &mut head)
            .map_err(io_err(format!("cannot read {}", paths.db.display())))?;
        let header = crate::integrity::Header::parse(&head).map_err(|e| ContinuousError::Unreadable {
            name: paths.name.clone(),
            reason: crate::snapshot::SkipReason::Corrupt(e.to_string()),
        })?;
        // SQLite writes a reset's new salts into the -shm header before it
        // empties or rewrites the WAL file, so the same salts before and
        // after reading the WAL mean no reset happened while it was read:
        // the frames read are a prefix of one WAL, and an empty WAL's salts
        // are the next one's. A reset in between (rare: a checkpoint in the
        // microseconds of the read), or a header caught while SQLite wrote
        // it, means reading again.
        let shm = paths.shm();
        let mut reads = 0;
        let (index, wal) = loop {
            let before = IndexHeader::read(&shm);
            if !header.wal {
                break (before, WalState::Empty);
            }
            let wal = wal::read(&paths.wal()).map_err(io_err(format!("cannot read {}", paths.wal().display())))?;
            let after = IndexHeader::read(&shm);
            let settled = match (before, after) {
                (Some(a), Some(b)) => a.settled && b.settled && (a.salt1, a.salt2) == (b.salt1, b.salt2),
                (None, None) => true,
                _ => false,
            };
            if settled {
                break (after, wal);
            }
            reads += 1;
            if reads == RESET_READS {
                return Err(ContinuousError::Restless { name: paths.name.clone(), reads });
            }
        };
        let stamp = format!(
            "{}.{}:{}:{}:{}",
            meta.mtime(),
            meta.mtime_nsec(),
            meta.len(),
            hex::encode(&head[24..28]),
            index.map_or(String::new(), |ix| hex::encode(ix.bytes))
        );
        Ok(Look {
            file_id: format!("{}:{}", meta.dev(), meta.ino()),
            index,
            stamp,
            page_size: header.page_size,
            wal_mode: header.wal,
            wal,
        })
    }

    /// The `-wal` file as it was read.
    pub(super) fn wal(&self) -> &WalState {
        &self.wal
    }

    /// The position after every commit in the WAL as read. An empty WAL
    /// was emptied by a reset that first checkpointed every frame, and the
    /// next WAL starts with the salts that reset left in `-shm`: its frames
    /// all come after it.
    ///
    /// A snapshot taken after this look may not hold all of these commits:
    /// SQLite writes and syncs a commit frame first and publishes it to
    /// readers in `-shm` after. See [`Look::published`].
    pub(super) fn wal_position(&self) -> WalPosition {
        match (&self.wal, self.index) {
            (WalState::Valid(h, bytes), _) => wal::committed_since(h, bytes, &h.start()).position,
            (WalState::Empty, Some(ix)) => ix.start(),
            (WalState::Empty, None) => WalPosition::default(),
        }
    }

    /// A position at or before what any snapshot taken after this look
    /// holds: the last commit SQLite had published to readers (see
    /// [`wal::published`]). The capture after a snapshot reads the WAL on
    /// from there; commits replayed over a snapshot that already holds
    /// them end at the database as of the last one, page for page.
    pub(super) fn published(&self) -> WalPosition {
        wal::published(&self.wal, self.index.as_ref())
    }
}

/// One capture's context.
struct Run<'a> {
    setup: &'a Setup,
    state: &'a State,
    name: &'a str,
    paths: &'a Paths,
    now: &'a dyn Fn() -> DateTime<Utc>,
}

impl Run<'_> {
    /// Age recipients when increments are sealed.
    fn recipients(&self) -> Option<&[crate::seal::Recipient]> {
        self.setup.recipients.as_deref()
    }

    /// Writes increment `h` with `pages`, durably, under its final name.
    fn write(
        &self,
        h: &Header,
        pages: &mut dyn FnMut(&mut increment::Writer) -> io::Result<()>,
    ) -> Result<(PathBuf, [u8; 32], u64), ContinuousError> {
        let sealed = self.recipients().is_some();
        let name = increment::file_name(h.generation, h.seq, h.captured_at, sealed);
        let path = self.paths.dir.join(&name);
        let tmp = self.paths.dir.join(format!("{name}.tmp"));
        let written = (|| {
            let mut w = increment::Writer::create(&tmp, h, self.recipients())?;
            pages(&mut w)?;
            let count = w.pages;
            let hash = w.finish()?;
            std::fs::rename(&tmp, &path)?;
            crate::fsutil::sync_dir(&self.paths.dir)?;
            Ok((hash, count))
        })();
        match written {
            Ok((hash, count)) => Ok((path, hash, count)),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(ContinuousError::Write { path, source: e })
            }
        }
    }

    /// The increment of committed WAL frames `c`, after `p`.
    fn frames(
        &self,
        p: &CapturePosition,
        c: wal::Committed,
        look: &Look,
        at: DateTime<Utc>,
    ) -> Result<Captured, ContinuousError> {
        let db_pages = c.db_pages.expect("a commit was read");
        let h = Header {
            kind: Kind::Wal,
            generation: p.generation,
            seq: p.seq + 1,
            captured_at: at,
            page_size: p.page_size,
            db_pages,
            wal: c.position,
            prev: prev_hash(p)?,
        };
        let kept: Vec<&(u32, Vec<u8>)> = c.pages.iter().filter(|(no, _)| *no <= db_pages).collect();
        let shadow = &self.paths.shadow;
        // Each page is stored against the shadow's, the page as the chain
        // rebuilds it before this increment.
        let (path, hash, count) = self.write(&h, &mut |w| {
            let earlier = File::open(shadow)?;
            let mut page = vec![0u8; p.page_size as usize];
            for (no, data) in &kept {
                let within = *no <= p.db_pages;
                if within {
                    earlier.read_exact_at(&mut page, u64::from(*no - 1) * u64::from(p.page_size))?;
                }
                w.changed_page(*no, data, within.then_some(&page[..]))?;
            }
            Ok(())
        })?;
        (|| {
            let f = OpenOptions::new().write(true).open(shadow)?;
            for (no, data) in &kept {
                f.write_all_at(data, u64::from(*no - 1) * u64::from(p.page_size))?;
            }
            f.set_len(u64::from(db_pages) * u64::from(p.page_size))?;
            f.sync_all()
        })()
        .map_err(io_err(format!("cannot update {}", shadow.display())))?;
        self.record(&h, hash, look)?;
        Ok(Captured::Written {
            kind: Kind::Wal,
            generation: h.generation,
            seq: h.seq,
            pages: count,
            bytes: size(&path),
        })
    }

    /// A consistent snapshot, as the start of a new chain (`prev` None)
    /// or as a page diff against the shadow.
    fn snapshot(&self, prev: Option<&CapturePosition>, look: &Look) -> Result<Captured, ContinuousError> {
        let wal_pos = look.published();
        let scratch = self.paths.work.join(format!(".{}.snapshot", self.name));
        let _ = std::fs::remove_file(&scratch);
        let taken = crate::snapshot::take(&self.paths.db, &scratch, &Default::default())
            .map_err(|reason| ContinuousError::Unreadable { name: self.name.into(), reason })?;
        let result = self.snapshot_increment(prev, look, wal_pos, &scratch, taken.page_size);
        let _ = std::fs::remove_file(&scratch);
        result
    }

    fn snapshot_increment(
        &self,
        prev: Option<&CapturePosition>,
        look: &Look,
        wal_pos: WalPosition,
        scratch: &Path,
        page_size: u32,
    ) -> Result<Captured, ContinuousError> {
        let at = match prev {
            Some(p) => later((self.now)(), p.captured_at),
            None => (self.now)(),
        };
        // A page-size change (VACUUM in rollback mode) starts a new chain.
        let prev = prev.filter(|p| p.page_size == page_size);
        let (kind, generation, seq, prev_hash) = match prev {
            Some(p) => (Kind::Diff, p.generation, p.seq + 1, prev_hash(p)?),
            None => (Kind::Full, self.next_generation()?, 0, [0u8; 32]),
        };
        let len = std::fs::metadata(scratch).map_err(io_err("the snapshot vanished"))?.len();
        let ps = u64::from(page_size);
        let db_pages = u32::try_from(len / ps).map_err(|_| ContinuousError::TooLarge { name: self.name.into() })?;
        let h = Header { kind, generation, seq, captured_at: at, page_size, db_pages, wal: wal_pos, prev: prev_hash };
        let shadow_path = &self.paths.shadow;
        let mut changed: Vec<u32> = Vec::new();
        let (path, hash, count) = self.write(&h, &mut |w| {
            changed.clear();
            let mut snap = io::BufReader::with_capacity(1 << 20, File::open(scratch)?);
            let mut old = match kind {
                Kind::Diff => Some(io::BufReader::with_capacity(1 << 20, File::open(shadow_path)?)),
                _ => None,
            };
            let (mut a, mut b) = (vec![0u8; page_size as usize], vec![0u8; page_size as usize]);
            for no in 1..=db_pages {
                snap.read_exact(&mut a)?;
                // A page diff's page is stored against the shadow's, when
                // the shadow has it.
                let earlier = match old.as_mut() {
                    Some(o) => crate::fsutil::read_full(o, &mut b)? == b.len(),
                    None => false,
                };
                if !earlier || a != b {
                    w.changed_page(no, &a, earlier.then_some(&b[..]))?;
                    changed.push(no);
                }
            }
            Ok(())
        })?;
        // The shadow becomes the snapshot, exactly what the chain rebuilds:
        // a page diff's pages written in place (a capture stopped halfway
        // writes the same pages again when it adopts the increment), a new
        // chain's image copied whole under a temporary name.
        if kind == Kind::Diff {
            (|| {
                let snap = File::open(scratch)?;
                let f = OpenOptions::new().write(true).open(shadow_path)?;
                let mut page = vec![0u8; page_size as usize];
                for no in &changed {
                    let at = u64::from(*no - 1) * ps;
                    snap.read_exact_at(&mut page, at)?;
                    f.write_all_at(&page, at)?;
                }
                f.set_len(u64::from(db_pages) * ps)?;
                f.sync_all()
            })()
            .map_err(io_err(format!("cannot update {}", shadow_path.display())))?;
            self.record(&h, hash, look)?;
            return Ok(Captured::Written { kind, generation, seq, pages: count, bytes: size(&path) });
        }
        (|| {
            let mut src = File::open(scratch)?;
            let tmp = self.paths.work.join(format!(".{}.shadow.tmp", self.name));
            let _ = std::fs::remove_file(&tmp);
            let mut out = crate::archive::create_private_file(&tmp)?;
            io::copy(&mut src, &mut out)?;
            out.sync_all()?;
            std::fs::rename(&tmp, shadow_path)?;
            crate::fsutil::sync_dir(&self.paths.work)
        })()
        .map_err(io_err(format!("cannot update {}", shadow_path.display())))?;
        self.record(&h, hash, look)?;
        Ok(Captured::Written { kind, generation, seq, pages: count, bytes: size(&path) })
    }

    /// The number of a new chain: after every one on disk, and after every
    /// one a store holds that was fetched from it (a server rebuilt from a
    /// store must not reuse their numbers).
    fn next_generation(&self) -> Result<u32, ContinuousError> {
        let dir = &self.paths.dir;
        let all = increment::list(dir).map_err(io_err(format!("cannot list {}", dir.display())))?;
        let floor = self.state.next_generation_floor(self.name)?;
        Ok(all.iter().map(|s| s.generation + 1).max().unwrap_or(1).max(floor))
    }

    fn record(&self, h: &Header, hash: [u8; 32], look: &Look) -> Result<(), ContinuousError> {
        self.state.set_capture_position(&CapturePosition {
            database: self.name.to_string(),
            generation: h.generation,
            seq: h.seq,
            chain_hash: hex::encode(hash),
            file_id: look.file_id.clone(),
            db_stamp: look.stamp.clone(),
            page_size: h.page_size,
            db_pages: h.db_pages,
            wal: h.wal,
            captured_at: h.captured_at,
            checked_at: h.captured_at,
        })?;
        Ok(())
    }
}

fn prev_hash(p: &CapturePosition) -> Result<[u8; 32], ContinuousError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(&p.chain_hash, &mut out)
        .map_err(|_| ContinuousError::BadPosition { name: p.database.clone() })?;
    Ok(out)
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Removes `*.tmp` files a stopped capture left in `dir`.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Increments written after the recorded position `p` (a capture stopped
/// before recording them): their position is adopted, and the shadow
/// rebuilt from their chain's full image through them. The shadow may hold
/// some of their pages already, and a page stored as a difference from the
/// one before cannot be applied twice. None when one cannot be read or
/// does not follow on: the next capture starts a new chain (the ones on
/// disk stay valid).
fn adopt_orphans(setup: &Setup, paths: &Paths, p: CapturePosition) -> Result<Option<CapturePosition>, ContinuousError> {
    let all = increment::list(&paths.dir).map_err(io_err(format!("cannot list {}", paths.dir.display())))?;
    let orphans: Vec<&Stored> =
        all.iter().filter(|s| (s.generation == p.generation && s.seq > p.seq) || s.generation > p.generation).collect();
    let Some(last) = orphans.last() else { return Ok(Some(p)) };
    let (mut generation, mut seq) = (p.generation, p.seq);
    for s in &orphans {
        let follows = (s.generation == generation && s.seq == seq + 1) || (s.generation > generation && s.seq == 0);
        if !follows {
            return Ok(None);
        }
        (generation, seq) = (s.generation, s.seq);
    }
    let chain: Vec<&Stored> = all.iter().filter(|s| s.generation == last.generation && s.seq <= last.seq).collect();
    let tmp = paths.work.join(format!(".{}.shadow.tmp", paths.name));
    let _ = std::fs::remove_file(&tmp);
    let mut at: Option<CapturePosition> = None;
    for s in chain {
        let Ok(applied) = apply_file(s, &setup.keys, &tmp, at.as_ref()) else {
            let _ = std::fs::remove_file(&tmp);
            return Ok(None);
        };
        let position = CapturePosition {
            generation: applied.header.generation,
            seq: applied.header.seq,
            chain_hash: hex::encode(applied.hash),
            page_size: applied.header.page_size,
            db_pages: applied.header.db_pages,
            wal: applied.header.wal,
            captured_at: applied.header.captured_at,
            checked_at: applied.header.captured_at,
            // Unknown: an emptied WAL is then read as a reset (a page diff).
            db_stamp: String::new(),
            ..p.clone()
        };
        // The recorded position is one of this chain's increments: the
        // one on disk, or the chain is not the one recorded.
        if (position.generation, position.seq) == (p.generation, p.seq) && position.chain_hash != p.chain_hash {
            let _ = std::fs::remove_file(&tmp);
            return Ok(None);
        }
        at = Some(position);
    }
    (|| {
        crate::fsutil::make_private(&tmp)?;
        std::fs::rename(&tmp, &paths.shadow)?;
        crate::fsutil::sync_dir(&paths.work)
    })()
    .map_err(io_err(format!("cannot update {}", paths.shadow.display())))?;
    tracing::info!(database = %p.database, increment = %last.path.display(), "adopted the increments a stopped capture wrote");
    Ok(at)
}

/// What applying one increment did.
pub(super) struct Applied {
    pub header: Header,
    pub hash: [u8; 32],
}

/// Applies increment `s` to the file `target` (created when missing), and
/// checks that it follows `after` (None: it must start a chain).
pub(super) fn apply_file(
    s: &Stored,
    keys: &crate::seal::Keys,
    target: &Path,
    after: Option<&CapturePosition>,
) -> Result<Applied, ContinuousError> {
    let mut r = increment::Reader::open(s, keys)?;
    let h = r.header.clone();
    let follows = match (after, h.kind) {
        (_, Kind::Full) => h.seq == 0,
        (Some(p), _) => h.generation == p.generation && h.seq == p.seq + 1 && prev_hash(p)? == h.prev,
        (None, _) => false,
    };
    if !follows {
        return Err(ContinuousError::Broken { path: s.path.clone() });
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(h.kind == Kind::Full)
        .open(target)
        .map_err(io_err(format!("cannot open {}", target.display())))?;
    // A page stored as a difference is one from the page as the
    // increments before rebuild it: the target's, read before the record
    // is written (an increment holds each page once). The target's length
    // is the database's size after them.
    let ps = u64::from(h.page_size);
    let before = f.metadata().map_err(io_err(format!("cannot read {}", target.display())))?.len();
    let mut earlier = |no: u32, page: &mut [u8]| -> std::io::Result<bool> {
        if u64::from(no) * ps > before {
            return Ok(false);
        }
        f.read_exact_at(page, u64::from(no - 1) * ps)?;
        Ok(true)
    };
    let mut buf = Vec::new();
    while let Some(no) = r.next_page_on(&mut buf, &mut earlier)? {
        if no <= h.db_pages {
            f.write_all_at(&buf, u64::from(no - 1) * ps)
                .map_err(io_err(format!("cannot write {}", target.display())))?;
        }
    }
    let hash = r.finish()?;
    (|| {
        f.set_len(u64::from(h.db_pages) * u64::from(h.page_size))?;
        f.sync_all()
    })()
    .map_err(io_err(format!("cannot write {}", target.display())))?;
    Ok(Applied { header: h, hash })
}
