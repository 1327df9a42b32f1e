//! Block deltas: how a differential archive stores a database that changed
//! since its base. The entry `NAME.pages` holds the blocks of the new
//! snapshot that differ from the base's copy of `NAME`; the rest is the
//! base's. SQLite writes whole pages, so with the block size set to the
//! page size a delta holds exactly the pages that changed.
//!
//! A page that gained one cell is mostly the bytes it had: stored as its
//! XOR with the base's page it is nearly all zeros, which the archive's
//! deflate shrinks to a few dozen bytes (packed as below it is often
//! smaller still: the tail of the cell-pointer array, shifted by the new
//! pointer, becomes one back-reference). A page whose cells moved (a new
//! cell in the middle shifts the cell-pointer array and the content after
//! it) is better deflated on its own with the base's page as a preset
//! dictionary: the moved bytes become short back-references. The
//! dictionary starts with the new database's previous block, the context
//! the archive's deflate would have had for a whole block.
//!
//! SQLite also lays pages out anew: when a new cell does not fit in a
//! page's scattered free space it defragments the page (every cell moves),
//! and balancing a b-tree moves cells between sibling pages, or to a page
//! from the freelist or past the database's end when a page splits. For
//! those the dictionary also holds the base's page as SQLite's
//! `defragmentPage` would lay it out (a pure function of the base's
//! bytes), and a page that took the cells of another, earlier page of the
//! base is packed against that page: the writer keeps it, and the delta
//! says so where the base streams past it, so the reader keeps it too.
//! A page that changed throughout (`VACUUM` moves everything) compresses
//! better whole, so each changed block is stored whichever way is
//! smallest.
//!
//! Format (integers little-endian), documented in `docs/archive-format.md`:
//!
//! ```text
//! magic   8 bytes  "LBDELTA2"  ("LBDELTA1": every record whole, no kind byte)
//! block   u32      block size in bytes
//! size    u64      the new database's size in bytes
//! records, by ascending block index (a kind 4 record comes before the
//! record of the same index, if any):
//!   index u32      block number (byte offset = index × block)
//!   kind  u8       0: data is the block; 1: data is the block XOR the base's;
//!                  2: data is the block deflated with a dictionary: the new
//!                     database's previous block (none for block 0), then the base's;
//!                  3: the same, the dictionary then also the base's block
//!                     defragmented;
//!                  4: no data: the base's block is kept for a later kind 5
//!                     record (at most 32 MiB of kept blocks in a delta);
//!                  5: the block deflated with a dictionary: the new database's
//!                     previous block, a kept block of the base, that block
//!                     defragmented
//!   data           kinds 0, 1: block bytes (the last block: what remains of `size`)
//!                  kinds 2, 3: u32 length, then that many bytes of raw deflate
//!                  kind 5: u32 index of the kept block, then as kinds 2, 3
//! end     u32      0xFFFF_FFFF
//! ```
//!
//! Rebuilding is one sequential pass over both streams: for each block of
//! the new size, the record's bytes (for a kind 1 record XORed with the
//! base's block, for kinds 2, 3 and 5 inflated with their dictionary) when
//! there is one, else the base's block. Every block at or past the base's
//! end is a whole record or a kind 5 one, so a database that grew, shrank
//! (`VACUUM`), changed page size or was replaced rebuilds the same way.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::fsutil::read_full;
use tokio_util::sync::CancellationToken;

/// The first bytes of every delta written now.
pub const MAGIC: &[u8; 8] = b"LBDELTA2";
/// The first bytes of a delta whose records are all whole blocks, without
/// a kind byte (written by Lifeboat before XOR records; still read).
pub const MAGIC_WHOLE: &[u8; 8] = b"LBDELTA1";
const END: u32 = u32::MAX;
const WHOLE: u8 = 0;
const XOR: u8 = 1;
const PACKED: u8 = 2;
const PACKED_DEFRAGMENTED: u8 = 3;
const KEEP: u8 = 4;
const MOVED: u8 = 5;
/// A delta whose blocks stored other than as XORs (whole or packed) weigh
/// more than this share of the database is not worth it: the database is
/// stored whole (rebuilding costs a read of the base). Once a delta passes
/// it, [`write_delta`] stores the rest of the database whole without
/// comparing.
pub const MAX_SHARE: f64 = 0.5;
/// Blocks a delta must have passed before the share of them stored other
/// than as XORs says where it is heading (see [`MAX_SHARE`]).
const HEADING_AFTER: u64 = 64;
/// The most bytes of the base's blocks a delta may keep for later records.
const MAX_KEPT: usize = 32 << 20;
const HEADER_LEN: usize = 8 + 4 + 8;

/// What [`write_delta`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Blocks stored in the delta.
    pub changed: u64,
    /// Of those, blocks stored as their XOR with the base's block.
    pub xored: u64,
    /// Of those, blocks stored deflated with a block of the base as
    /// dictionary (kinds 2, 3 and 5).
    pub packed: u64,
    /// Of the packed blocks, those whose dictionary also holds the base's
    /// block defragmented (kind 3).
    pub defragmented: u64,
    /// Of the packed blocks, those packed against another, earlier block
    /// of the base whose cells they took (kind 5).
    pub moved: u64,
    /// Blocks in the new database.
    pub blocks: u64,
    /// The new database's size.
    pub size: u64,
    /// SHA-256 of the new database (hex), from the same pass.
    pub sha256: String,
}

/// Opens `new` for reading (with its size) and `out` for the delta, whose
/// header (magic, block size, new size) is written.
fn begin(new: &Path, block: u32, out: &Path) -> io::Result<(BufReader<std::fs::File>, u64, BufWriter<std::fs::File>)> {
    if block == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "block size 0"));
    }
    let input = BufReader::with_capacity(256 * 1024, std::fs::File::open(new)?);
    let size = input.get_ref().metadata()?.len();
    let mut w = BufWriter::with_capacity(256 * 1024, crate::archive::create_private_file(out)?);
    w.write_all(MAGIC)?;
    w.write_all(&block.to_le_bytes())?;
    w.write_all(&size.to_le_bytes())?;
    Ok((input, size, w))
}

/// Compares the snapshot at `new` with `base` (the base's copy, streamed)
/// block by block and writes the delta to `out`, hashing `new` as it goes.
///
/// Two threads share the work: this one reads both databases, hashes the
/// new one and finds the changed blocks and the blocks to keep; a second
/// one decides how to store each changed block (the deflates) and writes
/// the records, in order. On a machine with a core to spare the delta
/// takes about as long as reading the two databases.
///
/// Once the delta is bound to be stored whole (its blocks stored other
/// than as XORs weigh more than [`MAX_SHARE`] of the database), the rest
/// of the new database is stored block by block whole, unchanged blocks
/// too: the base is read no further.
pub fn write_delta(
    base: &mut (impl Read + ?Sized),
    new: &Path,
    block: u32,
    out: &Path,
    cancel: &CancellationToken,
) -> io::Result<Made> {
    let (input, size, w) = begin(new, block, out)?;
    let state = State::default();
    let (stored, streamed) = std::thread::scope(|s| {
        let (batches, received) = std::sync::mpsc::sync_channel(QUEUED_BATCHES);
        let (spare, returned) = std::sync::mpsc::channel();
        let writer = s.spawn(|| store(received, spare, w, block, size, &state));
        let streamed = stream(base, (input, new), block, (&batches, &returned), &state, cancel);
        drop(batches);
        (writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), streamed)
    });
    // The writer stops early only when it failed; its error is the cause.
    let (w, mut made) = stored?;
    let (blocks, sha256) = streamed?;
    if blocks * u64::from(block) < size {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{} shrank while being read", new.display())));
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    made.blocks = blocks;
    made.sha256 = sha256;
    Ok(made)
}

/// Batches the reading thread of [`write_delta`] may be ahead of the
/// writing one: with [`BATCH_BYTES`], about 4 MiB of blocks queued.
const QUEUED_BATCHES: usize = 16;
/// A batch is handed over once it holds this many bytes of blocks ...
const BATCH_BYTES: usize = 256 << 10;
/// ... or this many steps.
const BATCH_STEPS: usize = 64;
/// At most this many bytes of blocks that differ slightly are held back
/// before a delta's first block that differs more (see [`stream`]).
const HELD_BYTES: usize = 1 << 20;

/// What the writing thread of [`write_delta`] tells the reading one, a
/// batch or so late: what the reader no longer needs to hand over.
#[derive(Default)]
struct State {
    /// The delta is bound to be stored whole: nothing more is worth
    /// comparing.
    hopeless: AtomicBool,
    /// Most of the blocks so far changed other than slightly (see
    /// [`store`]): only a block that differs slightly is compared.
    heading: AtomicBool,
}

/// Steps of [`write_delta`], in the order of the records, handed from the
/// reading thread to the writing one a batch at a time (a hand-over wakes
/// the other thread), with the blocks they carry in one buffer. The writer
/// hands emptied batches back to be filled again.
#[derive(Default)]
struct Batch {
    steps: Vec<Step>,
    bytes: Vec<u8>,
}

impl Batch {
    /// Copies `bytes` in; where they are in [`Batch::bytes`].
    fn add(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// Adds `step`, whose blocks are in `bytes`, copying them in.
    fn append(&mut self, bytes: &[u8], step: Step) {
        let step = match step {
            Step::Keep(i) => Step::Keep(i),
            Step::Changed { index, new, base, previous, source } => Step::Changed {
                index,
                new: self.add(&bytes[new]),
                base: base.map(|r| self.add(&bytes[r])),
                previous: self.add(&bytes[previous]),
                source: source.map(|(j, r)| (j, self.add(&bytes[r]))),
            },
        };
        self.steps.push(step);
    }

    fn full(&self) -> bool {
        self.bytes.len() >= BATCH_BYTES || self.steps.len() >= BATCH_STEPS
    }
}

/// What the reading thread of [`write_delta`] hands the writing one; the
/// blocks are ranges of [`Batch::bytes`].
enum Step {
    /// Keep the base's block with this index for a later record.
    Keep(u32),
    /// The new database's block `index` changed.
    Changed {
        index: u32,
        /// Its bytes.
        new: Range<usize>,
        /// The base's block at the same index, when the base holds it whole
        /// and it may be worth comparing with.
        base: Option<Range<usize>>,
        /// The new database's block before it (empty for block 0, and when
        /// there is nothing to compare with).
        previous: Range<usize>,
        /// A kept block of the base whose cells it may have taken.
        source: Option<(u32, Range<usize>)>,
    },
}

/// The reading half of [`write_delta`]: streams `new` and `base` side by
/// side, hashing `new`, and sends the blocks to keep and the changed blocks
/// to `batches`, filling the batches the writer hands back in `returned`.
/// Once the delta is bound to be stored whole, sends every block of `new`
/// on as changed, without reading `base`.
/// Returns the number of blocks and the SHA-256 (hex) of `new`.
fn stream(
    base: &mut (impl Read + ?Sized),
    (mut input, path): (BufReader<std::fs::File>, &Path),
    block: u32,
    (batches, returned): (&std::sync::mpsc::SyncSender<Batch>, &std::sync::mpsc::Receiver<Batch>),
    state: &State,
    cancel: &CancellationToken,
) -> io::Result<(u64, String)> {
    let whole = block as usize;
    let (mut a, mut b) = (vec![0u8; whole], vec![0u8; whole]);
    // The new database's previous block: its first `had` bytes.
    let (mut previous, mut had) = (vec![0u8; whole], 0);
    let mut hasher = Sha256::new();
    let mut batch = Batch::default();
    // The new database's sampled cells, once a block differs more than
    // slightly, and the steps held back until then.
    let (mut moves, mut held): (Option<Moves>, Batch) = (None, Batch::default());
    // The writer has stopped: it failed, and says why.
    let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "the delta's writer stopped");
    let (mut index, mut hopeless) = (0u64, false);
    loop {
        if index.is_multiple_of(256) && cancel.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let n = read_full(&mut input, &mut a)?;
        if n == 0 {
            break;
        }
        hasher.update(&a[..n]);
        let i = u32::try_from(index).ok().filter(|&i| i != END);
        let too_large = || io::Error::new(io::ErrorKind::InvalidInput, "database too large for a delta");
        hopeless = hopeless || state.hopeless.load(Ordering::Relaxed);
        if hopeless {
            let step = Step::Changed {
                index: i.ok_or_else(too_large)?,
                new: batch.add(&a[..n]),
                base: None,
                previous: 0..0,
                source: None,
            };
            batch.steps.push(step);
        } else {
            let m = read_full(base, &mut b)?;
            // While the delta is heading for not being worth it, what it keeps
            // most likely no longer matters.
            let heading = state.heading.load(Ordering::Relaxed);
            let same = m == n && a[..n] == b[..n];
            let slight = !same && m == n && Chooser::slightly(&a[..n], &b[..n]);
            if !same && moves.is_none() {
                // Blocks that differ slightly (a header's counters, a field
                // updated in place) are never packed against a kept block:
                // they are held back, base block and all, and until a
                // block differs more the new database's cells are not
                // sampled (a database that changed only slightly is not).
                // Then what keeping would have said of each block before
                // it is said, in order, before the records held back.
                if let Some(i) = i.filter(|_| slight && m == whole && held.bytes.len() < HELD_BYTES) {
                    let base = held.add(&b);
                    let step = Step::Changed {
                        index: i,
                        new: held.add(&a[..n]),
                        base: Some(base.clone()),
                        previous: held.add(&previous[..had]),
                        source: None,
                    };
                    held.steps.push(step);
                    std::mem::swap(&mut a, &mut previous);
                    had = n;
                    index += 1;
                    continue;
                }
                let mut sampled = Moves::of_file(path, block, cancel)?;
                sampled.release(&mut held, path, i.ok_or_else(too_large)?, block, &mut batch)?;
                moves = Some(sampled);
            }
            if let (Some(i), Some(moves)) = (i, moves.as_mut())
                && !heading
                && m == whole
                && n == m
                && (!same || moves.may_keep_same(i))
                && moves.keep(i, &b)
            {
                batch.steps.push(Step::Keep(i));
            }
            if !same {
                let i = i.ok_or_else(too_large)?;
                // Only a block the base holds whole can be a difference from
                // it, and while the delta is heading for not being worth it
                // only one that differs slightly is worth comparing.
                let compare = m == n && (!heading || slight);
                let step = Step::Changed {
                    index: i,
                    new: batch.add(&a[..n]),
                    base: compare.then(|| batch.add(&b[..n])),
                    previous: if compare || !heading { batch.add(&previous[..had]) } else { 0..0 },
                    source: moves
                        .as_ref()
                        .and_then(|moves| moves.source(i))
                        .filter(|_| n == whole && !heading)
                        .map(|(j, kept)| (j, batch.add(kept))),
                };
                batch.steps.push(step);
            }
        }
        if batch.full() {
            let next = returned.try_recv().unwrap_or_default();
            batches.send(std::mem::replace(&mut batch, next)).map_err(|_| stopped())?;
        }
        std::mem::swap(&mut a, &mut previous);
        had = n;
        index += 1;
    }
    for step in std::mem::take(&mut held.steps) {
        batch.append(&held.bytes, step);
    }
    if !batch.steps.is_empty() {
        batches.send(batch).map_err(|_| stopped())?;
    }
    Ok((index, hex::encode(hasher.finalize())))
}

/// The writing half of [`write_delta`]: writes the records of the steps
/// in `batches` to `w`, each changed block stored whichever way is
/// smallest, and the end marker once `batches` ends; hands each emptied
/// batch back to `spare`. Says in `state` when the delta is bound to be
/// stored whole (from then on it stores the changed blocks whole without
/// trying anything else) and when it is heading there. Returns the writer
/// and the counts (the blocks and hash are the reader's).
fn store(
    batches: std::sync::mpsc::Receiver<Batch>,
    spare: std::sync::mpsc::Sender<Batch>,
    mut w: BufWriter<std::fs::File>,
    block: u32,
    size: u64,
    state: &State,
) -> io::Result<(BufWriter<std::fs::File>, Made)> {
    let mut choose = Chooser::default();
    let (mut changed, mut xored, mut packed, mut defragmented, mut moved) = (0, 0, 0, 0, 0u64);
    for mut batch in batches {
        for step in batch.steps.drain(..) {
            let (i, new, base, previous, source) = match step {
                Step::Keep(i) => {
                    w.write_all(&i.to_le_bytes())?;
                    w.write_all(&[KEEP])?;
                    continue;
                }
                Step::Changed { index, new, base, previous, source } => (index, new, base, previous, source),
            };
            let bytes = &batch.bytes;
            let (new, previous) = (&bytes[new], &bytes[previous]);
            let base = base.map(|r| &bytes[r]);
            let source = source.map(|(j, r)| (j, &bytes[r]));
            w.write_all(&i.to_le_bytes())?;
            let past_worth = (changed - xored) as f64 * f64::from(block) > size as f64 * MAX_SHARE;
            if past_worth {
                state.hopeless.store(true, Ordering::Relaxed);
            }
            // Heading there: more than that share of the blocks so far changed
            // other than slightly (a VACUUM moves everything). Then only a
            // block that differs slightly is worth the deflates: any other is
            // stored whole at once, as it most likely would be in the end.
            let seen = u64::from(i) + 1;
            let heading = seen >= HEADING_AFTER && (changed - xored) as f64 > seen as f64 * MAX_SHARE;
            state.heading.store(heading, Ordering::Relaxed);
            let slightly = |base: &[u8]| Chooser::slightly(new, base);
            let worth = if heading { base.is_some_and(slightly) } else { base.is_some() || source.is_some() };
            let stored =
                if !past_worth && worth { choose.best(new, base, previous, i == 0, source)? } else { Stored::Whole };
            match stored {
                Stored::Whole => {
                    w.write_all(&[WHOLE])?;
                    w.write_all(new)?;
                }
                Stored::Xor => {
                    w.write_all(&[XOR])?;
                    w.write_all(&choose.xor)?;
                    xored += 1;
                }
                Stored::Packed => {
                    w.write_all(&[PACKED])?;
                    w.write_all(&(choose.packed.len() as u32).to_le_bytes())?;
                    w.write_all(&choose.packed)?;
                    packed += 1;
                }
                Stored::PackedDefragmented => {
                    w.write_all(&[PACKED_DEFRAGMENTED])?;
                    w.write_all(&(choose.repacked.len() as u32).to_le_bytes())?;
                    w.write_all(&choose.repacked)?;
                    packed += 1;
                    defragmented += 1;
                }
                Stored::Moved(source) => {
                    w.write_all(&[MOVED])?;
                    w.write_all(&source.to_le_bytes())?;
                    w.write_all(&(choose.moved.len() as u32).to_le_bytes())?;
                    w.write_all(&choose.moved)?;
                    packed += 1;
                    moved += 1;
                }
            }
            changed += 1;
        }
        batch.bytes.clear();
        // The reader may have finished: then the batch is not needed.
        let _ = spare.send(batch);
    }
    w.write_all(&END.to_le_bytes())?;
    let made = Made { changed, xored, packed, defragmented, moved, blocks: 0, size, sha256: String::new() };
    Ok((w, made))
}

/// SHA-256 of each block of a database, in order: enough to tell which
/// blocks of a new snapshot changed since it, without its contents. A
/// differential is made against these when the base cannot be read on this
/// machine (sealed with age to keys kept elsewhere); they are kept in the
/// state database when a full archive is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHashes {
    /// Block size in bytes (the database's page size).
    pub block: u32,
    /// The database's size in bytes.
    pub size: u64,
    /// SHA-256 (hex) of the whole database: the manifest's `sha256` of it.
    pub sha256: String,
    /// One SHA-256 per block; the last block may be short.
    pub hashes: Vec<[u8; 32]>,
}

impl PageHashes {
    /// The hashes of the file at `path`, `block` bytes a block.
    pub fn of_file(path: &Path, block: u32, cancel: &CancellationToken) -> io::Result<PageHashes> {
        if block == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "block size 0"));
        }
        let mut input = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
        let mut buf = vec![0u8; block as usize];
        let (mut whole, mut hashes, mut size) = (Sha256::new(), Vec::new(), 0u64);
        loop {
            if hashes.len() % 256 == 0 && cancel.is_cancelled() {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
            }
            let n = read_full(&mut input, &mut buf)?;
            if n == 0 {
                break;
            }
            whole.update(&buf[..n]);
            hashes.push(Sha256::digest(&buf[..n]).into());
            size += n as u64;
        }
        Ok(PageHashes { block, size, sha256: hex::encode(whole.finalize()), hashes })
    }

    /// The hashes as one blob (32 bytes a block), for the state database.
    pub fn blob(&self) -> Vec<u8> {
        self.hashes.concat()
    }

    /// Hashes read back from [`PageHashes::blob`]; None when the blob does
    /// not fit `block` and `size`.
    pub(crate) fn from_blob(block: u32, size: u64, sha256: String, blob: &[u8]) -> Option<PageHashes> {
        let blocks = size.div_ceil(u64::from(block.max(1)));
        if block == 0 || blob.len() as u64 != blocks * 32 {
            return None;
        }
        let hashes = blob.chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
        Some(PageHashes { block, size, sha256, hashes })
    }
}

/// Like [`write_delta`], against the base's [`PageHashes`] instead of its
/// contents: every changed block is stored whole (a difference needs the
/// old bytes). Also returns the new snapshot's own hashes, which the
/// written differential is checked against (`check_against_hashes`).
pub fn write_delta_by_hashes(
    base: &PageHashes,
    new: &Path,
    out: &Path,
    cancel: &CancellationToken,
) -> io::Result<(Made, PageHashes)> {
    let block = base.block;
    let (mut input, size, mut w) = begin(new, block, out)?;
    let mut a = vec![0u8; block as usize];
    let (mut whole, mut hashes) = (Sha256::new(), Vec::new());
    let (mut index, mut changed) = (0u64, 0u64);
    loop {
        if index % 256 == 0 && cancel.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let n = read_full(&mut input, &mut a)?;
        if n == 0 {
            break;
        }
        whole.update(&a[..n]);
        let hash: [u8; 32] = Sha256::digest(&a[..n]).into();
        if base.hashes.get(index as usize) != Some(&hash) {
            let i = u32::try_from(index)
                .ok()
                .filter(|&i| i != END)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "database too large for a delta"))?;
            w.write_all(&i.to_le_bytes())?;
            w.write_all(&[WHOLE])?;
            w.write_all(&a[..n])?;
            changed += 1;
        }
        hashes.push(hash);
        index += 1;
    }
    if index * u64::from(block) < size {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{} shrank while being read", new.display())));
    }
    w.write_all(&END.to_le_bytes())?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let sha256 = hex::encode(whole.finalize());
    let made =
        Made { changed, xored: 0, packed: 0, defragmented: 0, moved: 0, blocks: index, size, sha256: sha256.clone() };
    Ok((made, PageHashes { block, size, sha256, hashes }))
}

/// Checks that `delta` (None: the database did not change) applied to a
/// base whose blocks hash as `base` gives a database whose blocks hash as
/// `new`: the check of a differential made where its base cannot be read.
/// Every record is read to its end; what does not hold is an
/// `InvalidData` error.
pub(crate) fn check_against_hashes(
    delta: Option<&mut dyn Read>,
    base: &PageHashes,
    new: &PageHashes,
) -> io::Result<()> {
    let blocks = new.hashes.len() as u64;
    let block = u64::from(new.block);
    let mut records: std::collections::BTreeMap<u64, [u8; 32]> = Default::default();
    if let Some(d) = delta {
        let mut head = [0u8; HEADER_LEN];
        if read_full(d, &mut head)? != HEADER_LEN || &head[..8] != MAGIC {
            return Err(bad("not a Lifeboat delta of whole blocks (bad header)"));
        }
        let declared_block = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        let declared = u64::from_le_bytes(head[12..20].try_into().expect("8 bytes"));
        if declared_block != new.block || declared != new.size {
            return Err(bad(format!(
                "the delta rebuilds {declared} bytes in blocks of {declared_block}, the snapshot was {} in blocks of {}",
                new.size, new.block
            )));
        }
        let mut buf = vec![0u8; block as usize];
        loop {
            let mut raw = [0u8; 5];
            if read_full(d, &mut raw[..4])? != 4 {
                return Err(bad("the delta is truncated (no end marker)"));
            }
            let i = u32::from_le_bytes(raw[..4].try_into().expect("4 bytes"));
            if i == END {
                break;
            }
            let i = u64::from(i);
            if i >= blocks || records.last_key_value().is_some_and(|(&last, _)| last >= i) {
                return Err(bad(format!("block {i} is out of order or past the end")));
            }
            if read_full(d, &mut raw[4..])? != 1 || raw[4] != WHOLE {
                return Err(bad(format!("block {i} is not stored whole")));
            }
            let len = (new.size - i * block).min(block) as usize;
            if read_full(d, &mut buf[..len])? != len {
                return Err(bad("the delta is truncated"));
            }
            records.insert(i, Sha256::digest(&buf[..len]).into());
        }
    }
    for (i, want) in new.hashes.iter().enumerate() {
        let got = records.get(&(i as u64)).or_else(|| base.hashes.get(i));
        if got != Some(want) {
            return Err(bad(format!("block {i} does not rebuild the snapshot's")));
        }
    }
    Ok(())
}

/// How one changed block is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Whole,
    Xor,
    Packed,
    PackedDefragmented,
    /// Packed against the kept block of the base with this index.
    Moved(u32),
}

/// Decides, block by block, which way of storing it is smallest once
/// compressed: whole and XOR records are deflated later with the rest of
/// the entry, a packed record is deflated here.
///
/// Deflating is what choosing costs, so the choice is made from what the
/// block shows before deflating anything (how much of it differs from the
/// base's block, and where), and only the way that can win is deflated: on
/// the benchmark's shapes the differential stays within a few bytes in ten
/// thousand of trying every way, with half as many deflates, most blocks
/// deflated once.
#[derive(Default)]
struct Chooser {
    xor: Vec<u8>,
    packed: Vec<u8>,
    repacked: Vec<u8>,
    moved: Vec<u8>,
    dictionary: Vec<u8>,
    image: Vec<u8>,
    scratch: Vec<u8>,
    /// Deflates at the default level, to size whole records.
    sizer: Deflater<6>,
    /// Deflates packed records.
    packer: Deflater<9>,
}

impl Chooser {
    /// A difference touching at most this share of the block (1/N) is
    /// stored as its XOR or packed against the base, without trying
    /// anything else: zeros cost next to nothing in deflate, so either is
    /// smaller than the block whatever it holds. Packed into less than this
    /// share of its size, a block is not tried other ways either.
    const CLEARLY_SMALL: usize = 16;
    /// A small difference whose bytes all lie within this many bytes is a
    /// few fields rewritten in place (an updated amount): its XOR is those
    /// bytes between two runs of zeros, which the entry's deflate stores
    /// about as cheaply as packing would (a back-reference, the same bytes,
    /// a back-reference), so it is stored as its XOR without deflating
    /// anything.
    const IN_PLACE: usize = 32;
    /// What deflating a block on its own costs more than the same bytes in
    /// the middle of the entry's deflate stream (a block header and its
    /// code tables), about.
    const STREAM_OVERHEAD: usize = 16;
    /// A block packed into fewer bytes than this may be nearly empty (one
    /// repeated byte), which deflates smallest whole.
    const NEARLY_EMPTY: usize = 64;
    /// A block packed into less than this share of its size (1/N) is not
    /// deflated whole to compare: the dictionary only adds matches, so
    /// whole it would deflate smaller by a few bytes at most.
    const PACKED_WELL: usize = 2;

    /// Fills `self.xor`, `self.packed`, `self.repacked` or `self.moved`
    /// as the answer needs and says which to store. `base` is the base's
    /// block at the same index (None past the base's end), `previous` the
    /// new database's block before this one (empty for the first), `first`
    /// says whether this is block 0, `source` is a kept block of the base
    /// whose cells this block may have taken, with its index.
    fn best(
        &mut self,
        new: &[u8],
        base: Option<&[u8]>,
        previous: &[u8],
        first: bool,
        source: Option<(u32, &[u8])>,
    ) -> io::Result<Stored> {
        if let Some(base) = base.filter(|base| Self::slightly(new, base)) {
            // Packed, unless the XOR would cost about as little: a few
            // fields rewritten in place are as cheap either way, so not
            // even packed.
            let difference = Difference::of(new, base);
            if difference.span > Self::IN_PLACE {
                Self::pack(&mut self.packer, &mut self.dictionary, new, &[previous, base], &mut self.packed)?;
                if self.packed.len() + 4 + Self::STREAM_OVERHEAD < difference.xor_cost() {
                    return Ok(Stored::Packed);
                }
            }
            self.xor.clear();
            self.xor.extend(new.iter().zip(base).map(|(x, y)| x ^ y));
            return Ok(Stored::Xor);
        }
        let (mut packed, mut repacked, mut moved) = (usize::MAX, usize::MAX, usize::MAX);
        // A page that took its cells from a kept block of the base packs
        // small against it; then the base's page at its own index, which
        // it shares little with, is not tried.
        if let Some((index, source)) = source {
            defragmented(source, index == 0, &mut self.image);
            let parts = [previous, source, &self.image];
            Self::pack(&mut self.packer, &mut self.dictionary, new, &parts, &mut self.moved)?;
            moved = self.moved.len() + 8;
            if moved <= new.len() / Self::CLEARLY_SMALL {
                return Ok(Stored::Moved(index));
            }
        }
        // More of the block differs: where its bytes shifted the XOR is
        // noise, and where they changed in place packing against the base
        // keeps the same unchanged runs, so the XOR is not tried. The
        // base's page as SQLite would defragment it, when that differs
        // from the page, is a dictionary holding every cell of the base's
        // page and the layout SQLite gives a page it laid out anew: packed
        // with it too (kind 3), the block costs at most a few bytes more
        // than against the base's page alone (kind 2), and often far less,
        // so only one of the two is tried.
        if let Some(base) = base {
            defragmented(base, first, &mut self.image);
            if !self.image.is_empty() && self.image != base {
                let parts = [previous, base, &self.image];
                Self::pack(&mut self.packer, &mut self.dictionary, new, &parts, &mut self.repacked)?;
                repacked = self.repacked.len() + 4;
            } else {
                Self::pack(&mut self.packer, &mut self.dictionary, new, &[previous, base], &mut self.packed)?;
                packed = self.packed.len() + 4;
            }
        }
        let most_packed = packed.min(moved).min(repacked);
        let whole = if (Self::NEARLY_EMPTY..new.len() / Self::PACKED_WELL).contains(&most_packed) {
            usize::MAX
        } else {
            self.deflated_len(new)?
        };
        let best = whole.min(packed).min(repacked).min(moved);
        Ok(if best == whole {
            Stored::Whole
        } else if best == packed {
            Stored::Packed
        } else if best == repacked {
            Stored::PackedDefragmented
        } else {
            Stored::Moved(source.expect("a size only with a source").0)
        })
    }

    /// `new` deflated into `out` with the dictionary of a packed record,
    /// `parts` end to end (the new database's previous block, a block of
    /// the base, and for kinds 3 and 5 that block defragmented).
    fn pack(
        packer: &mut Deflater<9>,
        dictionary: &mut Vec<u8>,
        new: &[u8],
        parts: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        dictionary.clear();
        for part in parts {
            dictionary.extend_from_slice(part);
        }
        packer.deflate(new, Some(dictionary), out)
    }

    /// Whether at most 1/[`Chooser::CLEARLY_SMALL`] of `new` differs
    /// from `base`. Counted 128 bytes at a time (which the compiler turns
    /// into wide instructions), up to where the answer is no.
    fn slightly(new: &[u8], base: &[u8]) -> bool {
        let most = new.len() / Self::CLEARLY_SMALL;
        let mut differing = 0;
        for (x, y) in new.chunks(128).zip(base.chunks(128)) {
            differing += usize::from(x.iter().zip(y).fold(0u8, |n, (x, y)| n + u8::from(x != y)));
            if differing > most {
                return false;
            }
        }
        true
    }

    /// The length of `data` deflated at the entry's default level.
    fn deflated_len(&mut self, data: &[u8]) -> io::Result<usize> {
        self.sizer.deflate(data, None, &mut self.scratch)?;
        Ok(self.scratch.len())
    }
}

/// Where a block differs from the base's: enough to tell, without
/// deflating it, what its XOR with the base's block costs deflated.
struct Difference {
    /// How many bytes differ.
    differing: usize,
    /// From the first differing byte to the last (0 when none differ).
    span: usize,
    /// Runs of differing bytes: bytes fewer than [`Difference::GAP`]
    /// apart are in the same run.
    runs: usize,
}

impl Difference {
    /// Equal bytes that end a run of differing ones.
    const GAP: usize = 8;

    /// Of a block that differs little: the equal bytes are skipped eight
    /// at a time.
    fn of(new: &[u8], base: &[u8]) -> Difference {
        let (mut differing, mut runs, mut gap) = (0, 0, Self::GAP);
        let (mut first, mut last) = (None, 0);
        let mut at = 0;
        let word = |c: &[u8]| c.try_into().map(u64::from_ne_bytes).ok();
        for (x, y) in new.chunks(8).zip(base.chunks(8)) {
            if word(x).is_some() && word(x) == word(y) {
                gap += 8;
                at += 8;
                continue;
            }
            for (x, y) in x.iter().zip(y) {
                if x == y {
                    gap += 1;
                } else {
                    differing += 1;
                    runs += usize::from(gap >= Self::GAP);
                    gap = 0;
                    first.get_or_insert(at);
                    last = at;
                }
                at += 1;
            }
        }
        let span = first.map_or(0, |first| last + 1 - first);
        Difference { differing, span, runs }
    }

    /// About what the XOR costs deflated on its own (at the entry's level):
    /// the deflate block and the runs of zeros about 36 bytes, each run of
    /// differing bytes 6 more (the zeros' back-reference around it), and
    /// each differing byte 1.1 (a literal). Fitted on the pages of the
    /// benchmark's differentials that differ by at most 1/16, it decides
    /// between the XOR and the packed record as deflating both would, but
    /// for pages where the two differ by a few bytes.
    fn xor_cost(&self) -> usize {
        36 + self.differing + self.differing / 10 + 6 * self.runs
    }
}

/// Which blocks of the new database took cells from another, earlier
/// block of the base. Balancing a b-tree, SQLite moves cells between
/// sibling pages, and a page that splits gives cells to a page from the
/// freelist or past the database's end: such a page shares little with
/// the base's page at its own index, much with the one whose cells it
/// took. Found by fingerprints of a sample of the cells (one in
/// [`Moves::SAMPLE`] for a database of up to [`Moves::SAMPLED_BLOCKS`]
/// blocks, fewer in a larger one, so that the fingerprints stay within
/// about 20 MB; chosen by the fingerprint, so both sides sample the same
/// cells): those of every block of the new database, read once a block
/// is found that differs more than slightly, are looked up as the base
/// streams past.
#[derive(Default)]
struct Moves {
    /// One cell in this many is sampled.
    rate: u64,
    /// Sampled cell fingerprint: the (last) block of the new database
    /// holding it.
    new_cells: HashMap<u64, u32>,
    /// By block of the new database: whether a later block holds one of
    /// its sampled cells too.
    shared_later: Vec<bool>,
    /// For a block of the new database: the earlier block of the base
    /// holding the most of its sampled cells, and how many.
    sources: HashMap<u32, (u32, u32)>,
    /// The base's blocks kept for a later block, by index.
    kept: HashMap<u32, Vec<u8>>,
    kept_bytes: usize,
    votes: HashMap<u32, u32>,
}

impl Moves {
    /// One cell in this many is sampled in a database of up to
    /// [`Moves::SAMPLED_BLOCKS`] blocks.
    const SAMPLE: u64 = 8;
    const SAMPLED_BLOCKS: u64 = 65_536;
    /// Sampled cells a block must share with an earlier block of the base
    /// to be packed against it (one is a single cell moved, like the
    /// divider SQLite copies into the parent page).
    const MIN_SHARED: u32 = 2;

    /// The sampled cells of every whole block of the database at `path`.
    fn of_file(path: &Path, block: u32, cancel: &CancellationToken) -> io::Result<Moves> {
        let mut moves = Moves::default();
        if !(512..=65_536).contains(&block) {
            return Ok(moves);
        }
        let mut input = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
        let blocks = input.get_ref().metadata()?.len() / u64::from(block);
        moves.rate = Self::SAMPLE * blocks.div_ceil(Self::SAMPLED_BLOCKS).max(1);
        let mut buf = vec![0u8; block as usize];
        for index in 0..END {
            if index % 256 == 0 && cancel.is_cancelled() {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
            }
            if read_full(&mut input, &mut buf)? != buf.len() {
                break;
            }
            moves.shared_later.push(false);
            for cell in sampled(&buf, index == 0, moves.rate) {
                if let Some(earlier) = moves.new_cells.insert(cell, index).filter(|&b| b != index) {
                    moves.shared_later[earlier as usize] = true;
                }
            }
        }
        Ok(moves)
    }

    /// Whether to keep the base's block `index` (`base`) for a later block
    /// of the new database that holds at least [`Moves::MIN_SHARED`] of
    /// its sampled cells, and more of them than any block kept before.
    fn keep(&mut self, index: u32, base: &[u8]) -> bool {
        if self.new_cells.is_empty() || self.kept_bytes + base.len() > MAX_KEPT {
            return false;
        }
        self.votes.clear();
        for cell in sampled(base, index == 0, self.rate) {
            if let Some(&to) = self.new_cells.get(&cell).filter(|&&to| to > index) {
                *self.votes.entry(to).or_default() += 1;
            }
        }
        let mut keep = false;
        for (&to, &shared) in &self.votes {
            if shared >= Self::MIN_SHARED && self.sources.get(&to).is_none_or(|&(_, most)| shared > most) {
                self.sources.insert(to, (index, shared));
                keep = true;
            }
        }
        if keep {
            self.kept.insert(index, base.to_vec());
            self.kept_bytes += base.len();
        }
        keep
    }

    /// Says, in order, what [`Moves::keep`] says of each block before
    /// `end`, which is either the same in the base and in the new database
    /// at `path` or held back in `held` (a changed block with its base
    /// block), and moves the held steps to `batch`, each block kept before
    /// the steps of its index and after those before it.
    fn release(&mut self, held: &mut Batch, path: &Path, end: u32, block: u32, batch: &mut Batch) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let mut file = None;
        let mut buf = vec![0u8; block as usize];
        let mut steps = std::mem::take(&mut held.steps).into_iter().peekable();
        for i in 0..end {
            let step = steps.next_if(|step| matches!(step, Step::Changed { index, .. } if *index == i));
            let keep = match &step {
                Some(Step::Changed { base: Some(base), .. }) => self.keep(i, &held.bytes[base.clone()]),
                _ if !self.may_keep_same(i) => false,
                _ => {
                    let file = match file.as_mut() {
                        Some(file) => file,
                        None => file.insert(std::fs::File::open(path)?),
                    };
                    file.seek(SeekFrom::Start(u64::from(i) * u64::from(block)))?;
                    read_full(file, &mut buf)? == buf.len() && self.keep(i, &buf)
                }
            };
            if keep {
                batch.steps.push(Step::Keep(i));
            }
            if let Some(step) = step {
                batch.append(&held.bytes, step);
            }
        }
        held.bytes.clear();
        Ok(())
    }

    /// Whether [`Moves::keep`] can keep the base's block `index` when the
    /// new database's block there is the same: only when a later block
    /// holds some of its cells too (else each of them is found where it
    /// was, and the answer is no).
    fn may_keep_same(&self, index: u32) -> bool {
        self.shared_later.get(index as usize).copied().unwrap_or(false)
    }

    /// The kept block of the base that block `index` of the new database
    /// took the most cells from, with its index.
    fn source(&self, index: u32) -> Option<(u32, &[u8])> {
        let &(from, _) = self.sources.get(&index)?;
        Some((from, self.kept.get(&from)?))
    }
}

/// Fingerprints of a sample of the cells of `page` (none when it is not a
/// b-tree page): of the first 16 bytes of each cell (its size and key:
/// enough to tell it from the others), one cell in `rate`, chosen by the
/// fingerprint.
fn sampled(page: &[u8], first: bool, rate: u64) -> impl Iterator<Item = u64> + '_ {
    let h = if first { 100 } else { 0 };
    let header = match page.get(h..h + 12) {
        Some([2 | 5, ..]) => 12,
        Some([10 | 13, ..]) => 8,
        _ => 0,
    };
    let count = if header > 0 { u16::from_be_bytes([page[h + 3], page[h + 4]]) } else { 0 };
    let pointers = page.get(h + header..h + header + 2 * usize::from(count)).unwrap_or_default();
    pointers.chunks_exact(2).filter_map(move |p| {
        let at = usize::from(u16::from_be_bytes([p[0], p[1]]));
        let cell = page.get(at..at + 16)?;
        let word = |i: usize| u64::from_le_bytes(cell[i..i + 8].try_into().expect("8 bytes"));
        let mut f = word(0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        f = (f.rotate_left(31) ^ word(8)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        f ^= f >> 29;
        (f % rate == 0).then_some(f)
    })
}

/// A raw deflate stream at level `L`, reset for each block: setting one up
/// (allocating and clearing its window and hash tables) costs about as much
/// as deflating a small block. A reset stream writes the same bytes as a
/// new one.
struct Deflater<const L: u32>(flate2::Compress);

impl<const L: u32> Default for Deflater<L> {
    fn default() -> Self {
        Deflater(flate2::Compress::new(flate2::Compression::new(L), false))
    }
}

impl<const L: u32> Deflater<L> {
    /// `block` deflated, after `dictionary` as preset dictionary when there
    /// is one, into `out`.
    fn deflate(&mut self, block: &[u8], dictionary: Option<&[u8]>, out: &mut Vec<u8>) -> io::Result<()> {
        use flate2::{FlushCompress, Status};
        let z = &mut self.0;
        z.reset();
        if let Some(dictionary) = dictionary {
            z.set_dictionary(dictionary).map_err(io::Error::other)?;
        }
        out.clear();
        out.reserve(block.len() + 64);
        loop {
            let read = z.total_in() as usize;
            let status = z.compress_vec(&block[read..], out, FlushCompress::Finish).map_err(io::Error::other)?;
            if status == Status::StreamEnd {
                return Ok(());
            }
            out.reserve(block.len());
        }
    }
}

/// Inflates a packed record into `out` (exactly its length) with the
/// dictionary it was packed with.
fn unpack(packed: &[u8], dictionary: &[u8], out: &mut [u8]) -> io::Result<()> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut z = Decompress::new(false);
    z.set_dictionary(dictionary).map_err(|e| bad(format!("a packed block cannot use its dictionary: {e}")))?;
    let status = z
        .decompress(packed, out, FlushDecompress::Finish)
        .map_err(|e| bad(format!("a packed block does not inflate: {e}")))?;
    if status != Status::StreamEnd || z.total_out() != out.len() as u64 || z.total_in() != packed.len() as u64 {
        return Err(bad(format!(
            "a packed block inflates to {} bytes from {} of {}, the block has {}",
            z.total_out(),
            z.total_in(),
            packed.len(),
            out.len()
        )));
    }
    Ok(())
}

/// `page` (a block of the base, `first`: block 0, whose b-tree header
/// follows the 100-byte database header) as SQLite's `defragmentPage`
/// would leave it, into `out`: its cells, in the order of the cell-pointer
/// array, laid end to end down from the end of the page, the pointers
/// rewritten to match, the space between zeroed, and in the header no
/// free blocks, no fragmented bytes and the cell content starting at the
/// last cell (0 for 65 536).
/// SQLite lays a page out this way when a new cell does not fit in its
/// scattered free space, and when it balances cells between pages, so such
/// a page matches this image in long runs where it matches the base only
/// cell by cell.
///
/// A pure function of the page's bytes, whatever they hold: `out` is left
/// empty for anything but a b-tree page of 512 to 65 536 bytes (see
/// [`Cells`] for which cells are taken).
fn defragmented(page: &[u8], first: bool, out: &mut Vec<u8>) {
    out.clear();
    let Some(cells) = Cells::of(page, first) else { return };
    out.resize(page.len(), 0);
    out[..cells.pointer].copy_from_slice(&page[..cells.pointer]);
    let h = if first { 100 } else { 0 };
    let mut free = page.len();
    for (pointer, cell) in cells {
        free -= cell.len();
        out[free..free + cell.len()].copy_from_slice(cell);
        out[pointer..pointer + 2].copy_from_slice(&(free as u16).to_be_bytes());
    }
    out[h + 1..h + 3].fill(0);
    out[h + 5..h + 7].copy_from_slice(&(free as u16).to_be_bytes());
    out[h + 7] = 0;
}

/// The cells of a b-tree page in the order of its cell-pointer array, each
/// with the position of its pointer. Taken up to the first cell that lies
/// outside the page (before the end of the pointer array or past the
/// page's end) or that would not fit, with those before it, between the
/// pointer array and the page's end. The usable size is taken to be the
/// page's size (no reserved bytes), which only costs compression where it
/// is not.
struct Cells<'a> {
    page: &'a [u8],
    kind: u8,
    /// The next pointer's position.
    pointer: usize,
    /// The end of the pointer array.
    end: usize,
    /// The bytes of the cells taken so far.
    taken: usize,
}

impl<'a> Cells<'a> {
    /// None for anything but a b-tree page of 512 to 65 536 bytes whose
    /// pointer array fits it.
    fn of(page: &'a [u8], first: bool) -> Option<Cells<'a>> {
        let (u, h) = (page.len(), if first { 100 } else { 0 });
        if !(512..=65_536).contains(&u) || !matches!(page[h], 2 | 5 | 10 | 13) {
            return None;
        }
        let kind = page[h];
        let pointer = h + if kind >= 10 { 8 } else { 12 };
        let end = pointer + 2 * usize::from(u16::from_be_bytes([page[h + 3], page[h + 4]]));
        (end <= u).then_some(Cells { page, kind, pointer, end, taken: 0 })
    }
}

impl<'a> Iterator for Cells<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let u = self.page.len();
        if self.pointer >= self.end {
            return None;
        }
        let at = usize::from(u16::from_be_bytes([self.page[self.pointer], self.page[self.pointer + 1]]));
        let size = if (self.end..u).contains(&at) { cell_size(self.page, at, self.kind) } else { usize::MAX };
        if size > u - at.min(u) || size > u - self.end - self.taken {
            self.pointer = self.end;
            return None;
        }
        self.taken += size;
        self.pointer += 2;
        Some((self.pointer - 2, &self.page[at..at + size]))
    }
}

/// The size of the cell at `at` of a b-tree page of kind `kind` (2, 5, 10
/// or 13), as SQLite's cell format gives it (bytes past the page read as
/// zeros): the 4-byte left child of an interior page, the payload size and
/// rowid varints, the payload stored on the page and the 4-byte pointer to
/// its overflow pages; at least 4 bytes.
fn cell_size(page: &[u8], at: usize, kind: u8) -> usize {
    let byte = |i: usize| u64::from(page.get(i).copied().unwrap_or(0));
    let varint = |mut i: usize| {
        let mut v = 0u64;
        for _ in 0..8 {
            let b = byte(i);
            i += 1;
            v = (v << 7) | (b & 0x7f);
            if b < 0x80 {
                return (v, i);
            }
        }
        ((v << 8) | byte(i), i + 1)
    };
    let mut i = at + if matches!(kind, 2 | 5) { 4 } else { 0 };
    if kind == 5 {
        return varint(i).1 - at;
    }
    let (payload, next) = varint(i);
    i = next;
    if kind == 13 {
        i = varint(i).1;
    }
    let u = page.len() as u64;
    let most = if kind == 13 { u - 35 } else { (u - 12) * 64 / 255 - 23 };
    let local = if payload <= most {
        payload
    } else {
        let least = (u - 12) * 32 / 255 - 23;
        let surplus = least + (payload - least) % (u - 4);
        if surplus <= most { surplus + 4 } else { least + 4 }
    };
    // `local` is below the page size: the sum cannot overflow.
    ((i - at) as u64 + local).max(4) as usize
}

/// The new database, rebuilt as a stream from the base's copy and a delta.
/// A malformed delta or a base too short for it is an `InvalidData` error.
pub struct Patched<B, D> {
    base: B,
    delta: Option<D>,
    block: usize,
    size: u64,
    index: u64,
    next: Option<u64>,
    /// The delta's records carry a kind byte (`LBDELTA2`).
    kinds: bool,
    next_kind: u8,
    buf: Vec<u8>,
    packed: Vec<u8>,
    dictionary: Vec<u8>,
    image: Vec<u8>,
    /// Blocks of the base kept for later records, by index.
    kept: HashMap<u64, Vec<u8>>,
    skip: Vec<u8>,
    filled: usize,
    pos: usize,
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

impl<B: Read, D: Read> Patched<B, D> {
    /// Reads the delta's header. With `delta` None the result is the base
    /// itself, `size` bytes of it (a database that did not change).
    pub fn new(base: B, delta: Option<D>, size: u64) -> io::Result<Self> {
        let mut p = Patched {
            base,
            delta,
            block: 64 * 1024,
            size,
            index: 0,
            next: None,
            kinds: false,
            next_kind: WHOLE,
            buf: Vec::new(),
            packed: Vec::new(),
            dictionary: Vec::new(),
            image: Vec::new(),
            kept: HashMap::new(),
            skip: Vec::new(),
            filled: 0,
            pos: 0,
        };
        if let Some(d) = p.delta.as_mut() {
            let mut head = [0u8; HEADER_LEN];
            if read_full(d, &mut head)? != HEADER_LEN || (&head[..8] != MAGIC && &head[..8] != MAGIC_WHOLE) {
                return Err(bad("not a Lifeboat delta (bad header)"));
            }
            p.kinds = &head[..8] == MAGIC;
            let block = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
            let declared = u64::from_le_bytes(head[12..20].try_into().expect("8 bytes"));
            if block == 0 || block > 1 << 24 {
                return Err(bad(format!("block size {block} is not a database page size")));
            }
            if declared != size {
                return Err(bad(format!("the delta rebuilds {declared} bytes, the manifest says {size}")));
            }
            p.block = block as usize;
            p.next = p.read_index()?;
        }
        p.buf = vec![0u8; p.block];
        p.skip = vec![0u8; p.block];
        Ok(p)
    }

    fn read_index(&mut self) -> io::Result<Option<u64>> {
        let d = self.delta.as_mut().expect("only with a delta");
        let mut raw = [0u8; 4];
        if read_full(d, &mut raw)? != 4 {
            return Err(bad("the delta is truncated (no end marker)"));
        }
        let i = u32::from_le_bytes(raw);
        if i == END {
            return Ok(None);
        }
        let i = u64::from(i);
        if i < self.index || i * self.block as u64 >= self.size {
            return Err(bad(format!("block {i} is out of order or past the end")));
        }
        self.next_kind = WHOLE;
        if self.kinds {
            let mut kind = [0u8; 1];
            if read_full(d, &mut kind)? != 1 {
                return Err(bad("the delta is truncated (a record without its kind)"));
            }
            self.next_kind = match kind[0] {
                k @ (WHOLE | XOR | PACKED | PACKED_DEFRAGMENTED | KEEP | MOVED) => k,
                k => return Err(bad(format!("block {i} has an unknown record kind {k}"))),
            };
        }
        Ok(Some(i))
    }

    fn fill(&mut self) -> io::Result<()> {
        let start = self.index * self.block as u64;
        let len = (self.size - start).min(self.block as u64) as usize;
        let mut keep = false;
        while self.next == Some(self.index) && self.next_kind == KEEP {
            keep = true;
            self.next = self.read_index()?;
        }
        if keep && (len != self.block || (self.kept.len() + 1) * self.block > MAX_KEPT) {
            return Err(bad(format!("block {} is kept for later, which a delta cannot do there", self.index)));
        }
        let base_block = if self.next == Some(self.index) {
            let d = self.delta.as_mut().expect("records only with a delta");
            let kind = self.next_kind;
            let mut source = None;
            if kind == MOVED {
                let mut raw = [0u8; 4];
                if read_full(d, &mut raw)? != 4 {
                    return Err(bad("the delta is truncated"));
                }
                let from = u64::from(u32::from_le_bytes(raw));
                if len != self.block {
                    return Err(bad(format!("block {} is packed against a kept block but is not whole", self.index)));
                }
                if !self.kept.contains_key(&from) {
                    return Err(bad(format!(
                        "block {} is packed against the base's block {from}, which the delta did not keep",
                        self.index
                    )));
                }
                source = Some(from);
            }
            let packed = matches!(kind, PACKED | PACKED_DEFRAGMENTED | MOVED);
            let stored = if packed { &mut self.packed } else { &mut self.buf };
            if packed {
                let mut raw = [0u8; 4];
                let n = if read_full(d, &mut raw)? == 4 { u32::from_le_bytes(raw) as usize } else { usize::MAX };
                // Deflate never grows a block by more than a few bytes per 16 KB.
                if n > len + len / 8 + 64 {
                    return Err(bad(format!("block {} has a packed record of impossible length", self.index)));
                }
                stored.resize(n, 0);
            }
            let want = if packed { stored.len() } else { len };
            if read_full(d, &mut stored[..want])? != want {
                return Err(bad("the delta is truncated"));
            }
            // The base's block is replaced: skip it (it may be shorter or absent),
            // unless the record is a difference from it or it is kept.
            let had = read_full(&mut self.base, &mut self.skip[..len])?;
            if (keep || matches!(kind, XOR | PACKED | PACKED_DEFRAGMENTED)) && had != len {
                return Err(bad(format!(
                    "block {} is stored as a difference from a page the base does not have",
                    self.index
                )));
            }
            let kept = keep.then(|| self.skip[..len].to_vec());
            match kind {
                XOR => self.buf[..len].iter_mut().zip(&self.skip[..len]).for_each(|(x, y)| *x ^= y),
                PACKED | PACKED_DEFRAGMENTED | MOVED => {
                    // `buf` still holds the previous block.
                    self.dictionary.clear();
                    self.dictionary.extend_from_slice(&self.buf[..self.filled]);
                    let (under, first) = match source {
                        Some(from) => (&self.kept[&from][..], from == 0),
                        None => (&self.skip[..len], self.index == 0),
                    };
                    self.dictionary.extend_from_slice(under);
                    if kind != PACKED {
                        defragmented(under, first, &mut self.image);
                        self.dictionary.extend_from_slice(&self.image);
                    }
                    unpack(&self.packed, &self.dictionary, &mut self.buf[..len])?
                }
                _ => {}
            }
            self.next = self.read_index()?;
            kept
        } else if read_full(&mut self.base, &mut self.buf[..len])? != len {
            return Err(bad("the base database is shorter than the delta needs"));
        } else {
            keep.then(|| self.buf[..len].to_vec())
        };
        if let Some(kept) = base_block {
            self.kept.insert(self.index, kept);
        }
        self.filled = len;
        self.pos = 0;
        self.index += 1;
        Ok(())
    }
}

impl<B: Read, D: Read> Read for Patched<B, D> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled {
            if self.index * self.block as u64 >= self.size {
                if self.next.is_some() {
                    return Err(bad("the delta has records past the database's end"));
                }
                return Ok(0);
            }
            self.fill()?;
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// One page stored against the same page of an earlier state of the
/// database, outside a differential: the records of continuous increments,
/// each a page and how it is stored, applied onto the database as the
/// increments before it rebuild it. The same choice as a differential's
/// ([`write_delta`]), page by page: whole, XOR with the earlier page, or
/// deflated with the earlier page (and its defragmented image) as
/// dictionary, whichever is smallest. The dictionary holds no previous
/// page: the records of an increment are sparse.
///
/// The kinds are the differential's 0 to 3 (0 whole, 1 XOR, 2 packed, 3
/// packed with the defragmented image too); kinds 2 and 3 are deflate
/// streams of any length, the others a page's bytes.
#[derive(Default)]
pub(crate) struct PageCoder {
    choose: Chooser,
    dictionary: Vec<u8>,
    image: Vec<u8>,
    /// Pages offered against an earlier page, and of those, stored other
    /// than as a difference (whole, or packed into more than a sixteenth).
    tried: u64,
    unlike: u64,
}

impl PageCoder {
    /// The kind of a record that is the page itself.
    pub(crate) const WHOLE: u8 = WHOLE;

    /// Whether a record of `kind` is a deflate stream (stored with its
    /// length) rather than a page's bytes; None for a kind pages are never
    /// stored as.
    pub(crate) fn is_packed(kind: u8) -> Option<bool> {
        match kind {
            WHOLE | XOR => Some(false),
            PACKED | PACKED_DEFRAGMENTED => Some(true),
            _ => None,
        }
    }

    /// How to store `new`, and the bytes to store: `base` is the same page
    /// as the database was before (None when it was shorter), `first` says
    /// whether this is page 1 (whose b-tree header follows the database
    /// header). Once most pages offered have changed throughout (a
    /// `VACUUM`), only a page that differs slightly from its base is
    /// compared, as a differential does: the rest is stored whole at once.
    pub(crate) fn encode<'a>(
        &'a mut self,
        new: &'a [u8],
        base: Option<&[u8]>,
        first: bool,
    ) -> io::Result<(u8, &'a [u8])> {
        let Some(base) = base.filter(|b| b.len() == new.len()) else { return Ok((WHOLE, new)) };
        let slightly = Chooser::slightly(new, base);
        let heading = self.tried >= HEADING_AFTER && self.unlike as f64 > self.tried as f64 * MAX_SHARE;
        self.tried += 1;
        if heading && !slightly {
            self.unlike += 1;
            return Ok((WHOLE, new));
        }
        let stored = self.choose.best(new, Some(base), &[], first, None)?;
        let small = |len: usize| len * Chooser::CLEARLY_SMALL <= new.len();
        let (kind, bytes): (u8, &[u8]) = match stored {
            Stored::Xor => (XOR, &self.choose.xor),
            Stored::Packed => (PACKED, &self.choose.packed),
            Stored::PackedDefragmented => (PACKED_DEFRAGMENTED, &self.choose.repacked),
            // Never chosen without a source block.
            Stored::Whole | Stored::Moved(_) => (WHOLE, new),
        };
        if kind == WHOLE || (kind != XOR && !small(bytes.len())) {
            self.unlike += 1;
        }
        Ok((kind, bytes))
    }

    /// The page a record of `kind` holding `stored` gives, into `out` (a
    /// page's length): `base` and `first` as given to
    /// [`PageCoder::encode`]. A record that does not fit is an
    /// `InvalidData` error.
    pub(crate) fn decode(
        &mut self,
        kind: u8,
        stored: &[u8],
        base: Option<&[u8]>,
        first: bool,
        out: &mut [u8],
    ) -> io::Result<()> {
        let base = match (kind, base) {
            (WHOLE, _) => None,
            (_, Some(base)) if base.len() == out.len() => Some(base),
            _ => return Err(bad("a page is stored as a difference from a page the database did not have")),
        };
        match (kind, base) {
            (WHOLE | XOR, _) if stored.len() != out.len() => {
                Err(bad(format!("a page record holds {} bytes, a page has {}", stored.len(), out.len())))
            }
            (WHOLE, _) => {
                out.copy_from_slice(stored);
                Ok(())
            }
            (XOR, Some(base)) => {
                out.iter_mut().zip(stored.iter().zip(base)).for_each(|(o, (x, y))| *o = x ^ y);
                Ok(())
            }
            (PACKED, Some(base)) => unpack(stored, base, out),
            (PACKED_DEFRAGMENTED, Some(base)) => {
                defragmented(base, first, &mut self.image);
                self.dictionary.clear();
                self.dictionary.extend_from_slice(base);
                self.dictionary.extend_from_slice(&self.image);
                unpack(stored, &self.dictionary, out)
            }
            (k, _) => Err(bad(format!("a page has an unknown record kind {k}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::noise;

    fn round_trip(base: &[u8], new: &[u8], block: u32) -> u64 {
        let (made, delta) = make(base, new, block);
        assert_eq!(made.size, new.len() as u64);
        assert_eq!(made.sha256, hex::encode(Sha256::digest(new)));
        let mut out = Vec::new();
        Patched::new(base, Some(&delta[..]), new.len() as u64).unwrap().read_to_end(&mut out).unwrap();
        assert!(out == new, "rebuilt {} bytes, want {}", out.len(), new.len());
        made.changed
    }

    fn data(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn rebuilds_byte_for_byte_whatever_changed() {
        let base = data(4096 * 10, 1);
        assert_eq!(round_trip(&base, &base, 4096), 0, "unchanged: no blocks");
        let mut one = base.clone();
        one[4096 * 3 + 7] ^= 1;
        assert_eq!(round_trip(&base, &one, 4096), 1);
        let mut grown = base.clone();
        grown.extend(data(4096 * 2 + 100, 9));
        assert_eq!(round_trip(&base, &grown, 4096), 3, "two new blocks and a partial one");
        assert_eq!(round_trip(&base, &base[..4096 * 4], 4096), 0, "shrank: nothing new to store");
        assert_eq!(round_trip(&base, &data(4096 * 10, 2), 4096), 10, "replaced");
        assert_eq!(round_trip(&base, &data(1000, 1), 4096), 1, "smaller than one block");
        round_trip(&[], &base, 1024);
        round_trip(&base, &[], 4096);
    }

    #[test]
    fn a_damaged_delta_or_short_base_is_an_error() {
        let base = data(4096 * 4, 1);
        let mut new = base.clone();
        new[5000] ^= 1;
        new.extend(data(4096, 3));
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("new"), &new).unwrap();
        write_delta(&mut &base[..], &d.path().join("new"), 4096, &d.path().join("delta"), &CancellationToken::new())
            .unwrap();
        let delta = std::fs::read(d.path().join("delta")).unwrap();
        let rebuild = |base: &[u8], delta: &[u8]| -> io::Result<Vec<u8>> {
            let mut out = Vec::new();
            Patched::new(base, Some(delta), new.len() as u64)?.read_to_end(&mut out)?;
            Ok(out)
        };
        assert!(rebuild(&base, &delta[..delta.len() - 10]).is_err(), "truncated");
        assert!(rebuild(&base[..4096], &delta).is_err(), "base too short");
        let mut wrong = delta.clone();
        wrong[0] = b'X';
        assert!(rebuild(&base, &wrong).is_err(), "bad magic");
        assert_eq!(rebuild(&base, &delta).unwrap(), new);
    }

    fn deflated(data: &[u8]) -> usize {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap().len()
    }

    fn make(base: &[u8], new: &[u8], block: u32) -> (Made, Vec<u8>) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("new"), new).unwrap();
        let made = write_delta(
            &mut &base[..],
            &d.path().join("new"),
            block,
            &d.path().join("delta"),
            &CancellationToken::new(),
        )
        .unwrap();
        (made, std::fs::read(d.path().join("delta")).unwrap())
    }

    fn rebuild(base: &[u8], delta: &[u8], size: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Patched::new(base, Some(delta), size as u64)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_page_that_gained_a_cell_costs_a_few_dozen_bytes() {
        // Eight pages of incompressible data; in three of them a "cell" of
        // 40 bytes is written into the free space and two header bytes move,
        // as SQLite does when it adds a row or an index entry.
        let base = noise(4096 * 8, 7);
        let mut new = base.clone();
        for page in [1usize, 4, 6] {
            let p = page * 4096;
            new[p + 3] ^= 0x01;
            new[p + 8..p + 10].copy_from_slice(&[0x0f, 0xa0]);
            new[p + 3000..p + 3040].copy_from_slice(&noise(40, page as u64));
        }
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!((made.changed, made.xored), (3, 3));
        assert_eq!(rebuild(&base, &delta, new.len()).unwrap(), new);
        let stored = deflated(&delta);
        assert!(stored < 3 * 120, "three changed pages deflate to {stored} bytes");
    }

    #[test]
    fn a_page_that_changed_throughout_is_stored_whole() {
        // A VACUUM moves everything: a difference from unrelated bytes is
        // no smaller, so the page goes in whole.
        let base = noise(4096 * 4, 1);
        let mut new = base.clone();
        new[4096..8192].copy_from_slice(&[0u8; 4096]);
        new[8192..12288].copy_from_slice(&noise(4096, 2));
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!((made.changed, made.xored, made.packed), (2, 0, 0));
        assert_eq!(rebuild(&base, &delta, new.len()).unwrap(), new);
        assert!(deflated(&delta) < 4096 + 200, "the zero page costs nothing whole");
    }

    #[test]
    fn a_delta_bound_to_be_stored_whole_reads_the_base_no_further() {
        /// Counts the bytes read through it.
        struct Counted<'a>(&'a [u8], usize);
        impl Read for Counted<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1 += n;
                Ok(n)
            }
        }
        // Most blocks changed throughout, as after a VACUUM; the last
        // thousand did not. The writing thread finds the delta bound to be
        // whole at block 2 501 (half the database), when the reading one
        // is at most the queue ahead (fewer than 1 300 changed blocks,
        // however the threads are scheduled): still among the changed
        // blocks, which it cannot pass without the writer taking them.
        let base = noise(4096 * 5000, 1);
        let new = [&noise(4096 * 4000, 2)[..], &base[4096 * 4000..], &noise(100, 3)].concat();
        let mut counted = Counted(&base, 0);
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("new"), &new).unwrap();
        let out = d.path().join("delta");
        let made = write_delta(&mut counted, &d.path().join("new"), 4096, &out, &CancellationToken::new()).unwrap();
        assert!((made.changed - made.xored) as f64 * 4096.0 > new.len() as f64 * MAX_SHARE, "{made:?}");
        assert_eq!((made.blocks, made.size), (5001, new.len() as u64));
        assert!(made.changed > 4001, "unchanged blocks stored too, not compared: {made:?}");
        assert_eq!(made.sha256, hex::encode(Sha256::digest(&new)));
        assert!(counted.1 < 4096 * 4000, "{} bytes of the base read", counted.1);
        assert_eq!(rebuild(&base, &std::fs::read(&out).unwrap(), new.len()).unwrap(), new);
    }

    #[test]
    fn a_page_whose_cells_moved_is_packed_against_the_base() {
        // A cell inserted in the middle of a page shifts everything after it
        // by its length: the XOR is noise from there on, but every moved
        // byte is still in the base's page.
        let base = noise(4096 * 4, 3);
        let mut new = base.clone();
        for page in [1usize, 2] {
            let p = page * 4096;
            let mut shifted = base[p..p + 1000].to_vec();
            shifted.extend(noise(37, page as u64));
            shifted.extend(&base[p + 1000..p + 4096 - 37]);
            new[p..p + 4096].copy_from_slice(&shifted);
        }
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!((made.changed, made.packed), (2, 2));
        assert_eq!(rebuild(&base, &delta, new.len()).unwrap(), new);
        let stored = deflated(&delta);
        assert!(stored < 2 * 200, "two shifted pages cost {stored} bytes");
    }

    #[test]
    fn a_malformed_packed_record_is_refused() {
        let base = noise(4096 * 2, 5);
        let mut new = base.clone();
        new.copy_within(4096 + 100..8192 - 50, 4096 + 150);
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!(made.packed, 1);
        let kind = HEADER_LEN + 4;
        assert_eq!(delta[kind], PACKED, "the shifted page is packed");
        let why = |r: io::Result<Vec<u8>>| r.unwrap_err().to_string();
        let mut huge = delta.clone();
        huge[kind + 1..kind + 5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(why(rebuild(&base, &huge, new.len())).contains("impossible length"));
        let mut garbled = delta.clone();
        garbled[kind + 5..kind + 25].fill(0xff);
        assert!(why(rebuild(&base, &garbled, new.len())).contains("packed block"));
        let mut other_base = base.clone();
        other_base[4096..].copy_from_slice(&noise(4096, 9));
        assert!(rebuild(&other_base, &delta, new.len()).map(|b| b != new).unwrap_or(true), "another base");
    }

    /// The delta format Lifeboat wrote before records had a kind: every
    /// changed block whole.
    fn whole_records(base: &[u8], new: &[u8], block: usize) -> Vec<u8> {
        let mut out = MAGIC_WHOLE.to_vec();
        out.extend((block as u32).to_le_bytes());
        out.extend((new.len() as u64).to_le_bytes());
        for (i, chunk) in new.chunks(block).enumerate() {
            if base.get(i * block..i * block + chunk.len()) != Some(chunk) {
                out.extend((i as u32).to_le_bytes());
                out.extend(chunk);
            }
        }
        out.extend(END.to_le_bytes());
        out
    }

    #[test]
    fn deltas_of_whole_blocks_from_older_lifeboats_still_rebuild() {
        let base = data(4096 * 6, 1);
        let mut new = base.clone();
        new[4096 * 2 + 9] ^= 0xff;
        new.extend(data(5000, 4));
        let old = whole_records(&base, &new, 4096);
        assert_eq!(rebuild(&base, &old, new.len()).unwrap(), new);
    }

    #[test]
    fn a_delta_against_page_hashes_rebuilds_and_checks_without_the_base() {
        let d = tempfile::tempdir().unwrap();
        let none = CancellationToken::new();
        let base = noise(4096 * 6, 3);
        std::fs::write(d.path().join("base"), &base).unwrap();
        let hashes = PageHashes::of_file(&d.path().join("base"), 4096, &none).unwrap();
        assert_eq!(hashes.sha256, hex::encode(Sha256::digest(&base)));
        let blob = hashes.blob();
        assert_eq!(PageHashes::from_blob(4096, base.len() as u64, hashes.sha256.clone(), &blob), Some(hashes.clone()));
        assert_eq!(PageHashes::from_blob(4096, base.len() as u64 + 1, String::new(), &blob), None);
        for new in [
            base.clone(),
            [&base[..4096 * 2], &noise(4096, 9), &base[4096 * 3..], &noise(100, 4)].concat(),
            base[..4096 * 4].to_vec(),
        ] {
            std::fs::write(d.path().join("new"), &new).unwrap();
            let _ = std::fs::remove_file(d.path().join("delta"));
            let (made, new_hashes) =
                write_delta_by_hashes(&hashes, &d.path().join("new"), &d.path().join("delta"), &none).unwrap();
            assert_eq!(made.sha256, hex::encode(Sha256::digest(&new)));
            let delta = std::fs::read(d.path().join("delta")).unwrap();
            assert_eq!(rebuild(&base, &delta, new.len()).unwrap(), new, "the usual rebuild reads it");
            check_against_hashes(Some(&mut &delta[..]), &hashes, &new_hashes).unwrap();
            if made.changed == 0 {
                check_against_hashes(None, &hashes, &new_hashes).unwrap();
            }
            let mut damaged = delta.clone();
            if made.changed > 0 {
                damaged[HEADER_LEN + 5 + 10] ^= 1;
                let e = check_against_hashes(Some(&mut &damaged[..]), &hashes, &new_hashes).unwrap_err();
                assert!(e.to_string().contains("does not rebuild"), "{e}");
            }
        }
        // A base whose pages differ from what the hashes say is found.
        let mut other = hashes.clone();
        other.hashes[0] = [0; 32];
        std::fs::write(d.path().join("new"), &base).unwrap();
        std::fs::remove_file(d.path().join("delta")).unwrap();
        let (_, new_hashes) =
            write_delta_by_hashes(&hashes, &d.path().join("new"), &d.path().join("delta"), &none).unwrap();
        assert!(check_against_hashes(None, &other, &new_hashes).is_err());
    }

    #[test]
    fn a_malformed_difference_record_is_refused() {
        let base = data(4096 * 4, 1);
        let mut new = base.clone();
        new[4096 + 5] ^= 1;
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!(made.xored, 1);
        let why = |r: io::Result<Vec<u8>>| r.unwrap_err().to_string();
        // A difference from a page the base lacks.
        let e = why(rebuild(&base[..4096], &delta, new.len()));
        assert!(e.contains("page the base does not have"), "{e}");
        // An unknown record kind.
        let mut odd = delta.clone();
        odd[HEADER_LEN + 4] = 7;
        let e = why(rebuild(&base, &odd, new.len()));
        assert!(e.contains("unknown record kind 7"), "{e}");
        // A record cut short, and a record past the end.
        assert!(why(rebuild(&base, &delta[..HEADER_LEN + 4 + 1 + 100], new.len())).contains("truncated"));
        let mut far = delta.clone();
        far[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&9u32.to_le_bytes());
        assert!(why(rebuild(&base, &far, new.len())).contains("past the end"));
        // The wrong length: the manifest's size and the delta's differ.
        assert!(why(rebuild(&base, &delta, new.len() + 4096)).contains("the manifest says"));
    }

    /// A database whose index pages have scattered free space (random
    /// keys, a third of the rows deleted), as bytes; 4096-byte pages.
    /// The same database every run: rows with random keys and values of
    /// random length, a third of them deleted, leaving free space
    /// scattered over the pages.
    fn fragmented_database() -> Vec<u8> {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("db");
        let mut c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE;
             CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB);
             CREATE INDEX t_k ON t (k);",
        )
        .unwrap();
        let t = c.transaction().unwrap();
        let bytes = noise(6000 * 12, 7);
        for row in bytes.chunks_exact(12) {
            let k: String = row[..10].iter().map(|b| format!("{b:02X}")).collect();
            let v = noise(usize::from(u16::from_le_bytes([row[10], row[11]]) % 300), u64::from(row[10]));
            t.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", rusqlite::params![k, v]).unwrap();
        }
        t.execute("INSERT INTO t (k, v) VALUES ('big', ?1)", [noise(20_000, 8)]).unwrap();
        t.execute("DELETE FROM t WHERE id % 3 = 0", []).unwrap();
        t.commit().unwrap();
        drop(c);
        std::fs::read(&path).unwrap()
    }

    fn integrity(bytes: &[u8]) -> (String, i64) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("db"), bytes).unwrap();
        let c = rusqlite::Connection::open(d.path().join("db")).unwrap();
        let ok = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        (ok, c.query_row("SELECT count(*) FROM t WHERE k > ''", [], |r| r.get(0)).unwrap())
    }

    #[test]
    fn a_defragmented_image_is_the_page_sqlite_would_write() {
        let mut bytes = fragmented_database();
        let (ok, rows) = integrity(&bytes);
        assert_eq!(ok, "ok");
        let (mut image, mut changed) = (Vec::new(), 0);
        for (i, page) in bytes.chunks_exact_mut(4096).enumerate() {
            defragmented(page, i == 0, &mut image);
            if !image.is_empty() {
                changed += usize::from(image != page);
                page.copy_from_slice(&image);
            }
        }
        assert!(changed > 20, "{changed} pages had scattered free space");
        assert_eq!(
            integrity(&bytes),
            ("ok".to_string(), rows),
            "every page replaced by its image is still the database"
        );
    }

    #[test]
    fn any_bytes_give_an_image_or_none_without_panicking() {
        let mut image = Vec::new();
        for seed in 0..3000u64 {
            let size = [512usize, 1024, 4096, 65_536, 100, 511, 70_000][seed as usize % 7];
            let mut page = noise(size, seed);
            let first = seed % 5 == 0;
            let h = if first { 100 } else { 0 };
            if page.len() > h + 12 {
                page[h] = [2u8, 5, 10, 13][(seed / 7 % 4) as usize];
                page[h + 3] = if seed % 3 == 0 { page[h + 3] } else { 0 };
                page[h + 4] %= 64;
                // Pointers into the page, most of them.
                let mask = (size.next_power_of_two() >> 8).saturating_sub(1) as u8;
                for p in (h + 12..(h + 12 + 128).min(size)).step_by(2) {
                    page[p] &= mask;
                }
            }
            defragmented(&page, first, &mut image);
            assert!(image.is_empty() || image.len() == page.len());
            let _ = sampled(&page, first, Moves::SAMPLE).count();
        }
    }

    /// The records of a delta: (index, kind).
    fn records(delta: &[u8]) -> Vec<(u32, u8)> {
        let u32_at = |p: usize| u32::from_le_bytes(delta[p..p + 4].try_into().unwrap());
        let (block, size) = (u32_at(8) as usize, u64::from_le_bytes(delta[12..20].try_into().unwrap()) as usize);
        let (mut out, mut p) = (Vec::new(), HEADER_LEN);
        while u32_at(p) != END {
            let (index, kind) = (u32_at(p), delta[p + 4]);
            out.push((index, kind));
            p += 5 + match kind {
                KEEP => 0,
                PACKED | PACKED_DEFRAGMENTED => 4 + u32_at(p + 5) as usize,
                MOVED => 8 + u32_at(p + 9) as usize,
                _ => block.min(size - index as usize * block),
            };
        }
        out
    }

    #[test]
    fn a_page_sqlite_defragmented_is_packed_against_the_base_s_image() {
        let base = fragmented_database();
        let mut image = Vec::new();
        let j = (1..base.len() / 4096)
            .find(|&j| {
                let page = &base[j * 4096..(j + 1) * 4096];
                defragmented(page, false, &mut image);
                let moved = image.iter().zip(page).filter(|(a, b)| a != b).count();
                page[0] == 10 && !image.is_empty() && moved > page.len() / 2
            })
            .expect("an index page with scattered free space, most of its cells to move");
        let mut new = base.clone();
        new[j * 4096..(j + 1) * 4096].copy_from_slice(&image);
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!((made.changed, made.defragmented), (1, 1));
        // Stale cells left in free pages may have a base page kept for nothing.
        let (keeps, stored): (Vec<_>, Vec<_>) = records(&delta).into_iter().partition(|r| r.1 == KEEP);
        assert_eq!(stored, [(j as u32, PACKED_DEFRAGMENTED)]);
        let cost = delta.len() - HEADER_LEN - 5 * keeps.len();
        assert!(cost < 100, "the defragmented page costs {cost} bytes");
        assert_eq!(rebuild(&base, &delta, new.len()).unwrap(), new);
    }

    /// The first page of `db` (4 KiB pages) from page `from` on that is an
    /// index b-tree leaf of more than 40 cells, and its defragmented image.
    fn crowded_index_page(db: &[u8], from: usize) -> (usize, Vec<u8>) {
        let j = (from..db.len() / 4096)
            .find(|&j| db[j * 4096] == 10 && u16::from_be_bytes([db[j * 4096 + 3], db[j * 4096 + 4]]) > 40)
            .expect("an index page with many cells");
        let mut image = Vec::new();
        defragmented(&db[j * 4096..(j + 1) * 4096], false, &mut image);
        (j, image)
    }

    #[test]
    fn blocks_that_differ_slightly_before_cells_moved_keep_their_order() {
        // The header's change counter, a field updated in place, then a
        // page past the base's end that took the cells of an earlier page.
        let base = fragmented_database();
        let (j, image) = crowded_index_page(&base, 2);
        let mut new = base.clone();
        new[27] ^= 1;
        new[4096 + 2000] ^= 1;
        new.extend(&image);
        let k = (new.len() / 4096 - 1) as u32;
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!((made.changed, made.xored, made.moved), (3, 2, 1));
        let records = records(&delta);
        assert!(records.contains(&(j as u32, KEEP)));
        let stored: Vec<_> = records.iter().filter(|r| r.1 != KEEP).copied().collect();
        assert_eq!(stored, [(0, XOR), (1, XOR), (k, MOVED)]);
        assert!(records.windows(2).all(|w| w[0].0 <= w[1].0), "in order: {records:?}");
        assert_eq!(rebuild(&base, &delta, new.len()).unwrap(), new);
    }

    #[test]
    fn a_page_that_took_the_cells_of_another_is_packed_against_it() {
        // A page past the base's end takes the cells of an earlier page, as
        // when a page splits into a new one.
        let base = fragmented_database();
        let (j, image) = crowded_index_page(&base, 1);
        let mut new = base.clone();
        new.extend(&image);
        let k = (new.len() / 4096 - 1) as u32;
        let (made, delta) = make(&base, &new, 4096);
        assert_eq!((made.changed, made.moved), (1, 1));
        // Stale cells left in free pages may have a base page kept for nothing.
        let (keeps, stored): (Vec<_>, Vec<_>) = records(&delta).into_iter().partition(|r| r.1 == KEEP);
        assert!(keeps.contains(&(j as u32, KEEP)));
        assert_eq!(stored, [(k, MOVED)]);
        let cost = delta.len() - HEADER_LEN - 5 * keeps.len();
        assert!(cost < 100, "the page costs {cost} bytes");
        assert_eq!(rebuild(&base, &delta, new.len()).unwrap(), new);

        let why = |r: io::Result<Vec<u8>>| r.unwrap_err().to_string();
        // The source must be a block the delta kept.
        let mut other = delta.clone();
        let source = HEADER_LEN + 5 * keeps.len() + 5;
        other[source..source + 4].copy_from_slice(&(j as u32 - 1).to_le_bytes());
        assert!(why(rebuild(&base, &other, new.len())).contains("did not keep"));
        // A kept block must be a whole block of the base.
        assert!(rebuild(&base[..j * 4096 + 100], &delta, new.len()).is_err());
        // No more than a delta may keep.
        let mut keeps = delta[..HEADER_LEN].to_vec();
        for i in 0..(MAX_KEPT / 4096 + 1) as u32 {
            keeps.extend(i.to_le_bytes());
            keeps.push(KEEP);
        }
        keeps.extend(END.to_le_bytes());
        let mut huge = base.clone();
        huge.resize(MAX_KEPT + 2 * 4096, 0);
        let e = why(rebuild(
            &huge,
            &[&keeps[..8], &4096u32.to_le_bytes(), &(huge.len() as u64).to_le_bytes(), &keeps[HEADER_LEN..]].concat(),
            huge.len(),
        ));
        assert!(e.contains("kept for later"), "{e}");
    }
}
