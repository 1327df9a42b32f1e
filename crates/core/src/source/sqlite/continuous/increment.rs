//! One increment: the pages of one database that changed between two
//! captured moments, as a file (the format is in docs/archive-format.md,
//! "Continuous increments").
//!
//! The file is the zlib stream of a body, age-sealed when
//! `encryption.mode = "age"`. The body, every number big-endian:
//! ```text
//! magic        8  "LBINC\0\0\x02"  ("LBINC\0\0\x01": every page whole, no kind byte)
//! kind         1  0 full image, 1 WAL frames, 2 page diff
//! generation   4  the chain
//! seq          8  0 for the chain's full image, then 1, 2, …
//! captured_at  8  unix milliseconds, UTC: the state is the database as of this moment
//! page_size    4
//! db_pages     4  the database's size in pages after it
//! wal         28  salt1, salt2, checkpoint_seq (4 each), frames (8), checksum (4 + 4)
//! prev_sha256 32  the previous increment's body's sha256 (zeros for seq 0)
//! pages           records, ended by a page number 0:
//!   number     4  the page (from 1)
//!   kind       1  0: the page; 1: the page XOR its earlier content;
//!                 2: the page deflated with its earlier content as dictionary;
//!                 3: the same, the dictionary then also that content defragmented
//!   data          kinds 0, 1: page_size bytes; kinds 2, 3: length (4), then raw deflate
//! ```
//! A page's earlier content is the page as the increments before this one
//! rebuild it (the shadow's, when capturing): when an increment is applied
//! in its turn onto one file, that file's page before the record is
//! written. A page past the earlier database's end, and every page of a
//! full image, is stored whole. The kinds are a differential's 0 to 3
//! ([`crate::delta`]), page by page.
//!
//! The body's sha256 is the increment's chain hash, which the next one
//! names: a missing, reordered or altered increment breaks the chain. A
//! difference applied onto another page than the one it was made against
//! is not found page by page; the chain hash, the rebuilt database's
//! `integrity_check` and each archive's proof against its snapshot are
//! what find it.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use sha2::Digest;

use super::wal::WalPosition;
use crate::delta::PageCoder;
use crate::fsutil::Hashing;
use crate::seal::{Keys, Recipient};

/// The first bytes of the body of every increment written now.
const MAGIC: &[u8; 8] = b"LBINC\0\0\x02";
/// The first bytes of the body of an increment whose pages are all whole,
/// without a kind byte (written by Lifeboat before page records had a
/// kind; still read).
const MAGIC_WHOLE: &[u8; 8] = b"LBINC\0\0\x01";
/// The file name's suffix (before any `.age`).
pub const SUFFIX: &str = ".inc";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// What an increment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every page: the start of a chain.
    Full,
    /// The committed WAL frames since the previous increment.
    Wal,
    /// The pages of a consistent snapshot that differ from the previous
    /// state (after the WAL was reset before all of it was read, or for a
    /// database in rollback-journal mode).
    Diff,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Full => 0,
            Kind::Wal => 1,
            Kind::Diff => 2,
        }
    }
    fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            0 => Kind::Full,
            1 => Kind::Wal,
            2 => Kind::Diff,
            _ => return None,
        })
    }
    /// In words, for plans and logs.
    pub fn words(self) -> &'static str {
        match self {
            Kind::Full => "full image",
            Kind::Wal => "WAL frames",
            Kind::Diff => "page diff",
        }
    }
}

/// An increment's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub generation: u32,
    pub seq: u64,
    pub captured_at: DateTime<Utc>,
    pub page_size: u32,
    pub db_pages: u32,
    pub wal: WalPosition,
    pub prev: [u8; 32],
}

/// An increment on disk, known by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub path: PathBuf,
    pub generation: u32,
    pub seq: u64,
    pub captured_at: DateTime<Utc>,
    /// Sealed with age (`.inc.age`).
    pub sealed: bool,
}

/// The file name of an increment.
pub fn file_name(generation: u32, seq: u64, at: DateTime<Utc>, sealed: bool) -> String {
    format!(
        "g{generation:06}-{seq:010}-{}{SUFFIX}{}",
        at.format(TIME_FORMAT),
        if sealed { crate::seal::AGE_SUFFIX } else { "" }
    )
}

/// Parses a name written by [`file_name`].
pub fn parse_name(dir: &Path, name: &str) -> Option<Stored> {
    let (stem, sealed) = match name.strip_suffix(crate::seal::AGE_SUFFIX) {
        Some(s) => (s, true),
        None => (name, false),
    };
    let stem = stem.strip_suffix(SUFFIX)?;
    let rest = stem.strip_prefix('g')?;
    let (generation, rest) = rest.split_once('-')?;
    let (seq, time) = rest.split_once('-')?;
    if generation.len() != 6 || seq.len() != 10 {
        return None;
    }
    let captured_at = chrono::NaiveDateTime::parse_from_str(time, TIME_FORMAT).ok()?.and_utc();
    Some(Stored {
        path: dir.join(name),
        generation: generation.parse().ok()?,
        seq: seq.parse().ok()?,
        captured_at,
        sealed,
    })
}

/// The increments in `dir`, oldest first (by generation, then seq).
pub fn list(dir: &Path) -> io::Result<Vec<Stored>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(s) = entry.file_name().to_str().and_then(|n| parse_name(dir, n)) {
            out.push(s);
        }
    }
    out.sort_by_key(|s| (s.generation, s.seq));
    Ok(out)
}

enum Sink {
    Plain(BufWriter<File>),
    Sealed(age::stream::StreamWriter<BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Sealed(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Sealed(w) => w.flush(),
        }
    }
}

/// Writes one increment into a new private file, page by page.
pub struct Writer {
    body: Hashing<flate2::write::ZlibEncoder<Sink>>,
    page_size: usize,
    coder: PageCoder,
    /// Pages written.
    pub pages: u64,
    /// Of those, pages stored as a difference from their earlier content.
    pub differences: u64,
}

impl Writer {
    /// Starts the increment `h` in `path` (created new, 0600), sealed to
    /// `recipients` when there are any.
    pub fn create(path: &Path, h: &Header, recipients: Option<&[Recipient]>) -> io::Result<Writer> {
        let file = BufWriter::with_capacity(256 * 1024, crate::archive::create_private_file(path)?);
        let sink = match recipients {
            Some(r) => Sink::Sealed(crate::seal::age_writer(file, r)?),
            None => Sink::Plain(file),
        };
        let zlib = flate2::write::ZlibEncoder::new(sink, flate2::Compression::new(3));
        let mut body = Hashing::new(zlib);
        body.write_all(MAGIC)?;
        body.write_all(&[h.kind.code()])?;
        body.write_all(&h.generation.to_be_bytes())?;
        body.write_all(&h.seq.to_be_bytes())?;
        body.write_all(&h.captured_at.timestamp_millis().to_be_bytes())?;
        body.write_all(&h.page_size.to_be_bytes())?;
        body.write_all(&h.db_pages.to_be_bytes())?;
        body.write_all(&h.wal.salt1.to_be_bytes())?;
        body.write_all(&h.wal.salt2.to_be_bytes())?;
        body.write_all(&h.wal.checkpoint_seq.to_be_bytes())?;
        body.write_all(&h.wal.frames.to_be_bytes())?;
        body.write_all(&h.wal.checksum.0.to_be_bytes())?;
        body.write_all(&h.wal.checksum.1.to_be_bytes())?;
        body.write_all(&h.prev)?;
        Ok(Writer { body, page_size: h.page_size as usize, coder: PageCoder::default(), pages: 0, differences: 0 })
    }

    /// Adds page `no` (1-based), whose earlier content (the page as the
    /// increments before this one rebuild it) is `earlier`, None when the
    /// database was shorter: stored whole or as its difference from
    /// `earlier`, whichever is smaller.
    pub(crate) fn changed_page(&mut self, no: u32, data: &[u8], earlier: Option<&[u8]>) -> io::Result<()> {
        debug_assert!(no != 0 && data.len() == self.page_size);
        let (kind, stored) = self.coder.encode(data, earlier, no == 1)?;
        self.body.write_all(&no.to_be_bytes())?;
        self.body.write_all(&[kind])?;
        if PageCoder::is_packed(kind) == Some(true) {
            self.body.write_all(&(stored.len() as u32).to_be_bytes())?;
        }
        self.body.write_all(stored)?;
        self.pages += 1;
        self.differences += u64::from(kind != PageCoder::WHOLE);
        Ok(())
    }

    /// Ends the body, flushes and fsyncs the file; the body's sha256.
    pub fn finish(mut self) -> io::Result<[u8; 32]> {
        self.body.write_all(&0u32.to_be_bytes())?;
        let Hashing { inner, hasher } = self.body;
        let file = match inner.finish()? {
            Sink::Plain(w) => w,
            Sink::Sealed(w) => w.finish()?,
        };
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(hasher.finalize().into())
    }
}

/// Why an increment cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {why}")]
    Key { path: PathBuf, why: crate::seal::KeyError },
    #[error("{path} is not a Lifeboat increment ({why})")]
    Format { path: PathBuf, why: &'static str },
}

/// Reads an increment, page by page.
pub struct Reader {
    body: Hashing<flate2::read::ZlibDecoder<Box<dyn Read + Send>>>,
    pub header: Header,
    path: PathBuf,
    /// The records carry a kind byte (`LBINC\0\0\x02`).
    kinds: bool,
    coder: PageCoder,
    stored: Vec<u8>,
    earlier: Vec<u8>,
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

impl Reader {
    /// Opens `s`, decrypting with `keys` when it is sealed.
    pub fn open(s: &Stored, keys: &Keys) -> Result<Reader, ReadError> {
        let path = s.path.clone();
        let io_err = |source| ReadError::Io { path: s.path.clone(), source };
        let file = File::open(&s.path).map_err(io_err)?;
        let input: Box<dyn Read + Send> = if s.sealed {
            let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let stream =
                crate::seal::open_age(file, keys, &name).map_err(|why| ReadError::Key { path: s.path.clone(), why })?;
            Box::new(BufReader::with_capacity(256 * 1024, stream))
        } else {
            Box::new(BufReader::with_capacity(256 * 1024, file))
        };
        let mut body = Hashing::new(flate2::read::ZlibDecoder::new(input));
        let format = |why| ReadError::Format { path: s.path.clone(), why };
        let mut magic = [0u8; 8];
        body.read_exact(&mut magic).map_err(|_| format("too short"))?;
        if &magic != MAGIC && &magic != MAGIC_WHOLE {
            return Err(format("unknown magic"));
        }
        let header = (|| -> io::Result<Option<Header>> {
            let mut kind = [0u8; 1];
            body.read_exact(&mut kind)?;
            let Some(kind) = Kind::from_code(kind[0]) else { return Ok(None) };
            let generation = read_u32(&mut body)?;
            let seq = read_u64(&mut body)?;
            let millis = read_u64(&mut body)? as i64;
            let Some(captured_at) = Utc.timestamp_millis_opt(millis).single() else { return Ok(None) };
            let page_size = read_u32(&mut body)?;
            let db_pages = read_u32(&mut body)?;
            let wal = WalPosition {
                salt1: read_u32(&mut body)?,
                salt2: read_u32(&mut body)?,
                checkpoint_seq: read_u32(&mut body)?,
                frames: read_u64(&mut body)?,
                checksum: (read_u32(&mut body)?, read_u32(&mut body)?),
            };
            let mut prev = [0u8; 32];
            body.read_exact(&mut prev)?;
            Ok(Some(Header { kind, generation, seq, captured_at, page_size, db_pages, wal, prev }))
        })()
        .map_err(io_err)?;
        let header = header.ok_or_else(|| format("bad header"))?;
        if !(512..=65536).contains(&header.page_size) || !header.page_size.is_power_of_two() {
            return Err(format("bad page size"));
        }
        if header.generation != s.generation || header.seq != s.seq {
            return Err(format("its name and its contents disagree"));
        }
        let kinds = &magic == MAGIC;
        Ok(Reader { body, header, path, kinds, coder: PageCoder::default(), stored: Vec::new(), earlier: Vec::new() })
    }

    /// The next page into `buf` (page_size bytes); None after the last.
    /// `earlier(no, page)` reads page `no` as the increments before this
    /// one rebuild it into `page`, for a page stored as a difference from
    /// it, and says false when the database was shorter.
    pub(crate) fn next_page_on(
        &mut self,
        buf: &mut Vec<u8>,
        earlier: &mut dyn FnMut(u32, &mut [u8]) -> io::Result<bool>,
    ) -> Result<Option<u32>, ReadError> {
        let path = &self.path;
        let io_err = |source| ReadError::Io { path: path.clone(), source };
        let no = read_u32(&mut self.body).map_err(io_err)?;
        if no == 0 {
            return Ok(None);
        }
        let page_size = self.header.page_size as usize;
        buf.resize(page_size, 0);
        if !self.kinds {
            self.body.read_exact(buf).map_err(io_err)?;
            return Ok(Some(no));
        }
        let mut kind = [0u8; 1];
        self.body.read_exact(&mut kind).map_err(io_err)?;
        let kind = kind[0];
        let packed = PageCoder::is_packed(kind)
            .ok_or(ReadError::Format { path: path.clone(), why: "unknown page record kind" })?;
        let len = if packed { read_u32(&mut self.body).map_err(io_err)? as usize } else { page_size };
        // Deflate never grows a page by more than a few bytes per 16 KB.
        if len > page_size + page_size / 8 + 64 {
            return Err(ReadError::Format { path: path.clone(), why: "a page record of impossible length" });
        }
        self.stored.resize(len, 0);
        self.body.read_exact(&mut self.stored).map_err(io_err)?;
        if kind == PageCoder::WHOLE {
            buf.copy_from_slice(&self.stored);
            return Ok(Some(no));
        }
        self.earlier.resize(page_size, 0);
        let had = earlier(no, &mut self.earlier).map_err(io_err)?;
        let base = had.then_some(&self.earlier[..]);
        self.coder.decode(kind, &self.stored, base, no == 1, buf).map_err(io_err)?;
        Ok(Some(no))
    }

    /// After the last page: checks that nothing follows, and returns the
    /// body's sha256.
    pub fn finish(mut self) -> Result<[u8; 32], ReadError> {
        let mut rest = [0u8; 1];
        match self.body.read(&mut rest) {
            Ok(0) => Ok(self.body.hasher.finalize().into()),
            Ok(_) => Err(ReadError::Format { path: self.path, why: "bytes after the last page" }),
            Err(source) => Err(ReadError::Io { path: self.path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::noise;

    /// For pages stored whole: none has an earlier content to read.
    fn no_earlier(_: u32, _: &mut [u8]) -> io::Result<bool> {
        Ok(false)
    }

    #[test]
    fn names_round_trip() {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 10, 19, 58).unwrap() + chrono::Duration::milliseconds(412);
        let name = file_name(3, 42, at, true);
        assert_eq!(name, "g000003-0000000042-20260304T101958.412Z.inc.age");
        let s = parse_name(Path::new("/x"), &name).unwrap();
        assert_eq!((s.generation, s.seq, s.captured_at, s.sealed), (3, 42, at, true));
        assert!(parse_name(Path::new("/x"), "g000003-0000000042-20260304T101958.412Z.inc.tmp").is_none());
    }

    #[test]
    fn writes_and_reads_back_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap();
        let h = Header {
            kind: Kind::Wal,
            generation: 1,
            seq: 2,
            captured_at: at,
            page_size: 512,
            db_pages: 9,
            wal: WalPosition { salt1: 1, salt2: 2, checkpoint_seq: 3, frames: 4, checksum: (5, 6) },
            prev: [7; 32],
        };
        let path = dir.path().join(file_name(1, 2, at, false));
        let mut w = Writer::create(&path, &h, None).unwrap();
        w.changed_page(3, &[1u8; 512], None).unwrap();
        w.changed_page(9, &[2u8; 512], None).unwrap();
        let hash = w.finish().unwrap();
        let stored = list(dir.path()).unwrap();
        assert_eq!(stored.len(), 1);
        let mut r = Reader::open(&stored[0], &Keys::none()).unwrap();
        assert_eq!(r.header, h);
        let mut buf = Vec::new();
        assert_eq!(r.next_page_on(&mut buf, &mut no_earlier).unwrap(), Some(3));
        assert_eq!(buf, vec![1u8; 512]);
        assert_eq!(r.next_page_on(&mut buf, &mut no_earlier).unwrap(), Some(9));
        assert_eq!(r.next_page_on(&mut buf, &mut no_earlier).unwrap(), None);
        assert_eq!(r.finish().unwrap(), hash);
    }

    fn header(page_size: u32, db_pages: u32) -> Header {
        Header {
            kind: Kind::Wal,
            generation: 1,
            seq: 1,
            captured_at: Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap(),
            page_size,
            db_pages,
            wal: WalPosition::default(),
            prev: [0; 32],
        }
    }

    /// A page: its number, its bytes, its earlier bytes (None: past the
    /// earlier database's end).
    type Page = (u32, Vec<u8>, Option<Vec<u8>>);

    /// Writes `pages` as an increment in `dir`; its file's size and the
    /// pages stored as differences.
    fn write(dir: &Path, pages: &[Page]) -> (u64, u64) {
        let page_size = pages[0].1.len() as u32;
        let h = header(page_size, pages.iter().map(|p| p.0).max().unwrap());
        let path = dir.join(file_name(h.generation, h.seq, h.captured_at, false));
        let _ = std::fs::remove_file(&path);
        let mut w = Writer::create(&path, &h, None).unwrap();
        for (no, new, earlier) in pages {
            w.changed_page(*no, new, earlier.as_deref()).unwrap();
        }
        let differences = w.differences;
        w.finish().unwrap();
        (std::fs::metadata(&path).unwrap().len(), differences)
    }

    /// Reads back the increment [`write`] wrote, each page applied onto
    /// its earlier bytes; the pages it gives.
    fn read(dir: &Path, pages: &[Page]) -> Result<Vec<Vec<u8>>, ReadError> {
        let stored = &list(dir).unwrap()[0];
        let mut r = Reader::open(stored, &Keys::none())?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut earlier = |no: u32, page: &mut [u8]| {
            let Some(e) = pages.iter().find(|p| p.0 == no).and_then(|p| p.2.as_ref()) else { return Ok(false) };
            page.copy_from_slice(e);
            Ok(true)
        };
        while r.next_page_on(&mut buf, &mut earlier)?.is_some() {
            out.push(buf.clone());
        }
        r.finish()?;
        Ok(out)
    }

    #[test]
    fn a_page_that_gained_one_cell_costs_a_few_dozen_bytes() {
        // An index of random keys: a new entry lands in one leaf page, in
        // the middle of its cells, as a bot's insert does.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA page_size = 4096; CREATE TABLE t (k BLOB); CREATE INDEX t_k ON t (k); BEGIN;").unwrap();
        for row in noise(2000 * 16, 3).chunks(16) {
            c.execute("INSERT INTO t VALUES (?1)", [row]).unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
        let before = std::fs::read(&db).unwrap();
        c.execute("INSERT INTO t VALUES (?1)", [noise(16, 99)]).unwrap();
        let after = std::fs::read(&db).unwrap();
        assert_eq!(before.len(), after.len(), "no page was added");
        let pages: Vec<Page> = (0..after.len() / 4096)
            .filter(|i| before[i * 4096..(i + 1) * 4096] != after[i * 4096..(i + 1) * 4096])
            .map(|i| {
                (
                    i as u32 + 1,
                    after[i * 4096..(i + 1) * 4096].to_vec(),
                    Some(before[i * 4096..(i + 1) * 4096].to_vec()),
                )
            })
            .collect();
        assert!((2..=4).contains(&pages.len()), "{} pages changed", pages.len());
        let out = tempfile::tempdir().unwrap();
        let (bytes, differences) = write(out.path(), &pages);
        assert_eq!(differences, pages.len() as u64, "every page is stored as a difference");
        assert_eq!(read(out.path(), &pages).unwrap(), pages.iter().map(|p| p.1.clone()).collect::<Vec<_>>());
        let whole: Vec<_> = pages.iter().map(|(no, new, _)| (*no, new.clone(), None)).collect();
        let (whole_bytes, none) = write(out.path(), &whole);
        assert_eq!(none, 0);
        // The file holds about 100 bytes of header and zlib framing.
        assert!(
            bytes < 100 + 50 * pages.len() as u64,
            "{} changed pages cost {bytes} bytes, {whole_bytes} whole",
            pages.len()
        );
    }

    #[test]
    fn a_page_past_the_earlier_end_or_changed_throughout_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let base = noise(4096 * 300, 1);
        let new = noise(4096 * 301, 2);
        // Past the earlier database's end: nothing to be a difference from.
        let grown = vec![(301, new[300 * 4096..].to_vec(), None)];
        assert_eq!(write(dir.path(), &grown).1, 0);
        assert_eq!(read(dir.path(), &grown).unwrap(), vec![grown[0].1.clone()]);
        // Every page rewritten throughout, as after a VACUUM: whole, the
        // increment no larger than the pages whole.
        let vacuumed: Vec<_> = (0..300)
            .map(|i| {
                (i as u32 + 1, new[i * 4096..(i + 1) * 4096].to_vec(), Some(base[i * 4096..(i + 1) * 4096].to_vec()))
            })
            .collect();
        let (bytes, differences) = write(dir.path(), &vacuumed);
        assert_eq!(differences, 0);
        assert!(bytes < 300 * 4096 + 4096, "{bytes} bytes");
        assert!(read(dir.path(), &vacuumed).unwrap().iter().zip(&vacuumed).all(|(got, p)| *got == p.1));
    }

    #[test]
    fn a_difference_without_its_earlier_page_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = noise(4096, 5);
        let mut new = base.clone();
        new[100..140].copy_from_slice(&noise(40, 6));
        let pages = vec![(2, new, Some(base))];
        assert_eq!(write(dir.path(), &pages).1, 1);
        let e = read(dir.path(), &[(2, Vec::new(), None)]).unwrap_err().to_string();
        assert!(e.contains("a page the database did not have"), "{e}");
        // Nor does a full image's reader take one.
        let mut r = Reader::open(&list(dir.path()).unwrap()[0], &Keys::none()).unwrap();
        assert!(r.next_page_on(&mut Vec::new(), &mut no_earlier).is_err());
    }
}
