//! Block deltas: how a differential archive stores a database that changed
//! since its base. The entry `NAME.pages` holds the blocks of the new
//! snapshot that differ from the base's copy of `NAME`; the rest is the
//! base's. SQLite writes whole pages, so with the block size set to the
//! page size a delta holds exactly the pages that changed.
//!
//! Format (integers little-endian), documented in `docs/archive-format.md`:
//!
//! ```text
//! magic   8 bytes  "LBDELTA1"
//! block   u32      block size in bytes
//! size    u64      the new database's size in bytes
//! records, by ascending block index:
//!   index u32      block number (byte offset = index × block)
//!   data           block bytes (the last block: what remains of `size`)
//! end     u32      0xFFFF_FFFF
//! ```
//!
//! Rebuilding is one sequential pass over both streams: for each block of
//! the new size, the record's bytes when there is one, else the base's
//! block. Every block at or past the base's end is a record, so a database
//! that grew, shrank (`VACUUM`), changed page size or was replaced rebuilds
//! the same way.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fsutil::read_full;
use tokio_util::sync::CancellationToken;

/// The first bytes of every delta.
pub const MAGIC: &[u8; 8] = b"LBDELTA1";
const END: u32 = u32::MAX;
const HEADER_LEN: usize = 8 + 4 + 8;

/// What [`write_delta`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Blocks stored in the delta.
    pub changed: u64,
    /// Blocks in the new database.
    pub blocks: u64,
    /// The new database's size.
    pub size: u64,
    /// SHA-256 of the new database (hex), from the same pass.
    pub sha256: String,
}

/// Compares the snapshot at `new` with `base` (the base's copy, streamed)
/// block by block and writes the delta to `out`, hashing `new` as it goes.
pub fn write_delta(
    base: &mut (impl Read + ?Sized),
    new: &Path,
    block: u32,
    out: &Path,
    cancel: &CancellationToken,
) -> io::Result<Made> {
    if block == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "block size 0"));
    }
    let mut input = BufReader::with_capacity(256 * 1024, std::fs::File::open(new)?);
    let size = input.get_ref().metadata()?.len();
    let mut w = BufWriter::with_capacity(256 * 1024, crate::archive::create_private_file(out)?);
    w.write_all(MAGIC)?;
    w.write_all(&block.to_le_bytes())?;
    w.write_all(&size.to_le_bytes())?;
    let (mut a, mut b) = (vec![0u8; block as usize], vec![0u8; block as usize]);
    let mut hasher = Sha256::new();
    let (mut index, mut changed) = (0u64, 0u64);
    loop {
        if index % 256 == 0 && cancel.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let n = read_full(&mut input, &mut a)?;
        if n == 0 {
            break;
        }
        let m = read_full(base, &mut b)?;
        hasher.update(&a[..n]);
        if m != n || a[..n] != b[..n] {
            let i = u32::try_from(index)
                .ok()
                .filter(|&i| i != END)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "database too large for a delta"))?;
            w.write_all(&i.to_le_bytes())?;
            w.write_all(&a[..n])?;
            changed += 1;
        }
        index += 1;
    }
    if index * u64::from(block) < size {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{} shrank while being read", new.display())));
    }
    w.write_all(&END.to_le_bytes())?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(Made { changed, blocks: index, size, sha256: hex::encode(hasher.finalize()) })
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
    buf: Vec<u8>,
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
            buf: Vec::new(),
            skip: Vec::new(),
            filled: 0,
            pos: 0,
        };
        if let Some(d) = p.delta.as_mut() {
            let mut head = [0u8; HEADER_LEN];
            if read_full(d, &mut head)? != HEADER_LEN || &head[..8] != MAGIC {
                return Err(bad("not a Lifeboat delta (bad header)"));
            }
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
        Ok(Some(i))
    }

    fn fill(&mut self) -> io::Result<()> {
        let start = self.index * self.block as u64;
        let len = (self.size - start).min(self.block as u64) as usize;
        if self.next == Some(self.index) {
            let d = self.delta.as_mut().expect("records only with a delta");
            if read_full(d, &mut self.buf[..len])? != len {
                return Err(bad("the delta is truncated"));
            }
            // The base's block is replaced: skip it (it may be shorter or absent).
            read_full(&mut self.base, &mut self.skip[..len])?;
            self.next = self.read_index()?;
        } else if read_full(&mut self.base, &mut self.buf[..len])? != len {
            return Err(bad("the base database is shorter than the delta needs"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(base: &[u8], new: &[u8], block: u32) -> u64 {
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
        assert_eq!(made.size, new.len() as u64);
        assert_eq!(made.sha256, hex::encode(Sha256::digest(new)));
        let delta = std::fs::read(d.path().join("delta")).unwrap();
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
}
