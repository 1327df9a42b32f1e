//! Reading an SQLite write-ahead log (`-wal`) as the file format defines it
//! (<https://www.sqlite.org/fileformat2.html#walformat>), read-only and
//! without SQLite: a 32-byte header, then frames of a 24-byte header and
//! one page each. A frame counts only when its salts equal the header's and
//! its cumulative checksum matches; a transaction counts only up to its
//! commit frame (the one that records the database size).

use std::io::{self, Read};
use std::path::Path;

/// Bytes of the WAL header.
pub const HEADER_LEN: usize = 32;
/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 24;
const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;
const VERSION: u32 = 3_007_000;

/// Where a capture stopped reading one WAL: enough to go on reading it from
/// there, and to tell that it was reset since (new salts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalPosition {
    /// The header's salts: a reset (checkpoint restart or truncation) draws new ones.
    pub salt1: u32,
    pub salt2: u32,
    /// The header's checkpoint sequence, for the record.
    pub checkpoint_seq: u32,
    /// Frames read, up to and including the last commit frame.
    pub frames: u64,
    /// The cumulative checksum after the last frame read (the header's own
    /// checksum when none was).
    pub checksum: (u32, u32),
}

/// A WAL header, checked.
#[derive(Debug, Clone, Copy)]
pub struct WalHeader {
    big_endian: bool,
    pub page_size: u32,
    pub checkpoint_seq: u32,
    pub salt1: u32,
    pub salt2: u32,
    pub checksum: (u32, u32),
}

/// The committed transactions read past a position: the newest image of
/// each page they wrote, and the database size after the last commit.
#[derive(Debug, Default)]
pub struct Committed {
    /// Page number (1-based) and its newest content, in page order.
    pub pages: Vec<(u32, Vec<u8>)>,
    /// Database size in pages after the last commit read; None: no commit.
    pub db_pages: Option<u32>,
    /// Commit frames read (transactions).
    pub commits: u64,
    /// Where reading may go on from next time.
    pub position: WalPosition,
}

fn word(b: &[u8], big_endian: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }
}

fn be(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing
/// from `(s0, s1)`.
pub fn checksum(data: &[u8], big_endian: bool, (mut s0, mut s1): (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        s0 = s0.wrapping_add(word(&pair[..4], big_endian)).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..], big_endian)).wrapping_add(s0);
    }
    (s0, s1)
}

impl WalHeader {
    /// Parses and checks a header; None when it is not a valid one (an
    /// empty or truncated WAL, or one being written right now).
    pub fn parse(h: &[u8]) -> Option<WalHeader> {
        if h.len() < HEADER_LEN {
            return None;
        }
        let magic = be(&h[0..4]);
        let big_endian = match magic {
            MAGIC_BE => true,
            MAGIC_LE => false,
            _ => return None,
        };
        if be(&h[4..8]) != VERSION {
            return None;
        }
        let page_size = be(&h[8..12]);
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return None;
        }
        let sum = checksum(&h[..24], big_endian, (0, 0));
        if sum != (be(&h[24..28]), be(&h[28..32])) {
            return None;
        }
        Some(WalHeader {
            big_endian,
            page_size,
            checkpoint_seq: be(&h[12..16]),
            salt1: be(&h[16..20]),
            salt2: be(&h[20..24]),
            checksum: sum,
        })
    }

    /// The position of a WAL with no frame read yet.
    pub fn start(&self) -> WalPosition {
        WalPosition {
            salt1: self.salt1,
            salt2: self.salt2,
            checkpoint_seq: self.checkpoint_seq,
            frames: 0,
            checksum: self.checksum,
        }
    }

    /// True when `pos` was read from this same WAL (not reset since).
    pub(crate) fn continues(&self, pos: &WalPosition) -> bool {
        self.salt1 == pos.salt1 && self.salt2 == pos.salt2
    }
}

/// What a WAL file holds now.
pub enum WalState {
    /// No `-wal` file, or one without a valid header (empty after a
    /// `TRUNCATE` checkpoint, or never written).
    Empty,
    /// A valid header; the file's bytes.
    Valid(WalHeader, Vec<u8>),
}

/// The header SQLite keeps at the start of `-shm` (the wal-index), as far
/// as Lifeboat reads it: what SQLite has published to readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexHeader {
    /// The salts of the WAL it describes. A reset writes new ones here
    /// before it empties or rewrites the WAL file.
    pub salt1: u32,
    pub salt2: u32,
    /// Frames published: a read transaction begun after this was read
    /// sees at least these. SQLite writes and syncs a commit frame first
    /// and publishes it here after, so the file can hold more.
    pub frames: u32,
    /// Whether its two copies agree (they differ while SQLite writes it).
    pub settled: bool,
    /// The first copy as read, to tell any change.
    pub bytes: [u8; 48],
}

impl IndexHeader {
    /// Reads it from the `-shm` file at `path`; None when there is none
    /// (or it is shorter than the header).
    pub fn read(path: &Path) -> Option<IndexHeader> {
        let mut shm = [0u8; 96];
        if crate::fsutil::read_prefix(path, &mut shm).ok()? != shm.len() {
            return None;
        }
        let (first, second) = shm.split_at(48);
        Some(IndexHeader {
            salt1: be(&first[32..36]),
            salt2: be(&first[36..40]),
            // In the machine's own byte order, unlike the rest.
            frames: u32::from_ne_bytes([first[16], first[17], first[18], first[19]]),
            settled: first == second,
            bytes: first.try_into().expect("48 bytes"),
        })
    }

    /// The position before any frame of the WAL it names.
    pub fn start(&self) -> WalPosition {
        WalPosition { salt1: self.salt1, salt2: self.salt2, ..WalPosition::default() }
    }

    /// Whether every commit up to `at` is published: the header counts
    /// its frames, or names another WAL (a reset comes only after every
    /// frame was checkpointed into the database file).
    pub(crate) fn publishes(&self, at: &WalPosition) -> bool {
        (self.salt1, self.salt2) != (at.salt1, at.salt2) || u64::from(self.frames) >= at.frames
    }
}

/// The position a read transaction begun after `index` was read is at or
/// after: the last commit in `wal` among the frames `index` publishes. When
/// `index` names another WAL than the file's (a reset SQLite has not yet
/// written to the file), every frame of the file is in the database, and
/// the next WAL starts with its salts. Without `-shm`, the WAL's start.
pub(crate) fn published(wal: &WalState, index: Option<&IndexHeader>) -> WalPosition {
    match (wal, index) {
        (WalState::Valid(h, bytes), Some(ix)) if h.continues(&ix.start()) => {
            let mut at = h.start();
            each_commit(h, bytes, &h.start(), |_, _, p| {
                if p.frames <= u64::from(ix.frames) {
                    at = p;
                }
            });
            at
        }
        (_, Some(ix)) => ix.start(),
        (WalState::Valid(h, _), None) => h.start(),
        (WalState::Empty, None) => WalPosition::default(),
    }
}

/// Reads the whole `-wal` file (read-only; SQLite bounds its size by its
/// checkpoints). A missing file is [`WalState::Empty`].
pub fn read(path: &Path) -> io::Result<WalState> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(WalState::Empty),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(match WalHeader::parse(&bytes) {
        Some(h) => WalState::Valid(h, bytes),
        None => WalState::Empty,
    })
}

/// The committed transactions in `bytes` (a WAL whose header is `h`) after
/// `from` (which must continue it, see [`WalHeader::continues`]). Frames
/// past the last valid commit frame are left for next time.
pub(crate) fn committed_since(h: &WalHeader, bytes: &[u8], from: &WalPosition) -> Committed {
    let mut newest: std::collections::BTreeMap<u32, &[u8]> = Default::default();
    let mut out = Committed { position: *from, ..Committed::default() };
    each_commit(h, bytes, from, |pages, db_pages, position| {
        newest.extend(pages.iter().copied());
        out.db_pages = Some(db_pages);
        out.commits += 1;
        out.position = position;
    });
    // Pages past the database's size after the last commit are not part
    // of it (a shrinking VACUUM); they are cut off when applied.
    out.pages = newest.into_iter().map(|(p, data)| (p, data.to_vec())).collect();
    out
}

/// Calls `f` for each committed transaction in `bytes` after `from`, in
/// order, with the frames it wrote (page number and content, in the order
/// written), the database size in pages after it, and the position after
/// it. Reading stops at the first frame that does not check out.
pub(crate) fn each_commit<'a>(
    h: &WalHeader,
    bytes: &'a [u8],
    from: &WalPosition,
    mut f: impl FnMut(&[(u32, &'a [u8])], u32, WalPosition),
) {
    let page = h.page_size as usize;
    let frame_len = FRAME_HEADER_LEN + page;
    let mut sum = from.checksum;
    let mut index = from.frames;
    let mut pending: Vec<(u32, &'a [u8])> = Vec::new();
    while let Some(offset) = usize::try_from(index).ok().and_then(|i| i.checked_mul(frame_len)) {
        let start = HEADER_LEN + offset;
        let Some(frame) = bytes.get(start..start + frame_len) else { break };
        let (fh, data) = frame.split_at(FRAME_HEADER_LEN);
        if be(&fh[8..12]) != h.salt1 || be(&fh[12..16]) != h.salt2 {
            break;
        }
        let s = checksum(&fh[..8], h.big_endian, sum);
        let s = checksum(data, h.big_endian, s);
        if s != (be(&fh[16..20]), be(&fh[20..24])) {
            break;
        }
        sum = s;
        index += 1;
        let page_no = be(&fh[0..4]);
        if page_no == 0 {
            break;
        }
        pending.push((page_no, data));
        let db_pages = be(&fh[4..8]);
        if db_pages != 0 {
            f(&pending, db_pages, WalPosition { frames: index, checksum: sum, ..*from });
            pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_committed_frames_of_a_real_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);").unwrap();
        let wal = dir.path().join("a.db-wal");
        let WalState::Valid(h, bytes) = read(&wal).unwrap() else { panic!("no wal") };
        let all = committed_since(&h, &bytes, &h.start());
        assert_eq!(all.commits, 3);
        assert_eq!(all.db_pages, Some(2));
        assert!(all.pages.iter().any(|(p, _)| *p == 1));
        // Nothing new past the end.
        let again = committed_since(&h, &bytes, &all.position);
        assert_eq!(again.commits, 0);
        assert_eq!(again.position, all.position);
        // A torn last frame is not read.
        let cut = &bytes[..bytes.len() - 10];
        let torn = committed_since(&h, cut, &h.start());
        assert_eq!(torn.commits, 2);
        // Reading on from a position gives the rest.
        conn.execute_batch("INSERT INTO t VALUES (3)").unwrap();
        let WalState::Valid(h2, bytes2) = read(&wal).unwrap() else { panic!("no wal") };
        assert!(h2.continues(&all.position));
        let more = committed_since(&h2, &bytes2, &all.position);
        assert_eq!(more.commits, 1);
        // A TRUNCATE checkpoint leaves an empty WAL; the next write a new one.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        assert!(matches!(read(&wal).unwrap(), WalState::Empty));
        conn.execute_batch("INSERT INTO t VALUES (4)").unwrap();
        let WalState::Valid(h3, _) = read(&wal).unwrap() else { panic!("no wal") };
        assert!(!h3.continues(&more.position));
    }
}
