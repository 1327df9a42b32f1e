//! Archives over the upload limit are stored as `….zip.001`, `.002`, … whose
//! concatenation is the ZIP; [`MultiFileReader`] reads them back as one.
//!
//! The split is a plain byte split (not ZIP's own "spanned" format), so
//! `cat name.zip.* > name.zip` rebuilds the archive and 7-Zip opens
//! `name.zip.001` directly.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::catalog::{TEMP_SUFFIX, part_name};

/// Splits the finished ZIP at `zip` into parts of at most `max_part` bytes
/// named `dir/archive_name.NNN` (each written under a temporary name, fsynced,
/// then renamed), then removes `zip`. On error nothing new is left behind.
///
/// Every part is written before any is renamed, so a reader listing `dir`
/// sees either the whole ZIP or (after the last rename) every part.
pub fn split(zip: &Path, dir: &Path, archive_name: &str, max_part: u64) -> io::Result<Vec<PathBuf>> {
    if max_part == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the part size must be at least one byte"));
    }
    let mut source = File::open(zip)?;
    let total = source.metadata()?.len();
    if total == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is empty; nothing to split", zip.display()),
        ));
    }
    let count = total.div_ceil(max_part);
    if count > 999 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{total} bytes in parts of {max_part} bytes would need {count} parts; at most 999 are possible"),
        ));
    }
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let written = (|| -> io::Result<()> {
        for n in 1..=count as u32 {
            let final_path = dir.join(part_name(archive_name, n));
            let temp = dir.join(format!("{}{TEMP_SUFFIX}", part_name(archive_name, n)));
            let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
            temps.push((temp, final_path));
            let copied = io::copy(&mut (&mut source).take(max_part), &mut out)?;
            if copied == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} shrank while splitting", zip.display()),
                ));
            }
            out.flush()?;
            out.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        for (temp, _) in &temps {
            let _ = std::fs::remove_file(temp);
        }
        return Err(e);
    }
    let mut renamed: Vec<PathBuf> = Vec::new();
    for (temp, final_path) in &temps {
        if let Err(e) = std::fs::rename(temp, final_path) {
            for p in &renamed {
                let _ = std::fs::remove_file(p);
            }
            for (t, _) in &temps {
                let _ = std::fs::remove_file(t);
            }
            return Err(e);
        }
        renamed.push(final_path.clone());
    }
    crate::fsutil::sync_dir(dir)?;
    std::fs::remove_file(zip)?;
    if let Some(parent) = zip.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::fsutil::sync_dir(parent)?;
    }
    Ok(renamed)
}

/// `Read + Seek` over several files as if concatenated.
#[derive(Debug)]
pub struct MultiFileReader {
    files: Vec<Segment>,
    len: u64,
    pos: u64,
}

#[derive(Debug)]
struct Segment {
    file: File,
    path: PathBuf,
    start: u64,
    len: u64,
}

impl MultiFileReader {
    /// Opens the files in order. Their sizes are read once, here: the files
    /// must not change while being read.
    pub fn open(files: &[PathBuf]) -> io::Result<MultiFileReader> {
        let mut segments = Vec::with_capacity(files.len());
        let mut start = 0;
        for path in files {
            let file = File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let len = file.metadata()?.len();
            segments.push(Segment { file, path: path.clone(), start, len });
            start += len;
        }
        Ok(MultiFileReader { files: segments, len: start, pos: 0 })
    }

    /// Total length of all files.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The files, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|s| s.path.as_path())
    }
}

impl Read for MultiFileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        // The segment holding `pos`: the last one starting at or before it
        // (skipping empty files, which hold no byte).
        let idx = self.files.partition_point(|s| s.start + s.len <= self.pos);
        let seg = &mut self.files[idx];
        let offset = self.pos - seg.start;
        seg.file.seek(SeekFrom::Start(offset))?;
        let want = buf.len().min((seg.len - offset).min(usize::MAX as u64) as usize);
        let n = seg.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} is shorter than when it was opened", seg.path.display()),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for MultiFileReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the archive")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn split_then_read_back_equals_original() {
        let d = tempfile::tempdir().unwrap();
        let data = bytes(10_000);
        let zip = d.path().join("work.zip.tmp");
        std::fs::write(&zip, &data).unwrap();
        let name = "database_backup_20261122_010000.zip";
        let parts = split(&zip, d.path(), name, 3_000).unwrap();
        assert_eq!(parts.len(), 4);
        assert!(!zip.exists());
        let sizes: Vec<u64> = parts.iter().map(|p| p.metadata().unwrap().len()).collect();
        assert_eq!(sizes, vec![3_000, 3_000, 3_000, 1_000]);
        assert_eq!(parts[0].file_name().unwrap(), "database_backup_20261122_010000.zip.001");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(parts[0].metadata().unwrap().permissions().mode() & 0o777, 0o600);
        let mut r = MultiFileReader::open(&parts).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        // Reads that cross a part boundary after a seek.
        r.seek(SeekFrom::Start(2_990)).unwrap();
        let mut buf = [0u8; 20];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], &data[2_990..3_010]);
        assert_eq!(r.seek(SeekFrom::End(-5)).unwrap(), 9_995);
        r.seek(SeekFrom::Current(-10)).unwrap();
        let mut buf = [0u8; 15];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], &data[9_985..]);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert!(r.seek(SeekFrom::Current(-20_000)).is_err());
        let listed = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(listed, 4, "no temporary file left");
    }

    #[test]
    fn exact_multiple_and_single_part() {
        let d = tempfile::tempdir().unwrap();
        let zip = d.path().join("a.zip");
        std::fs::write(&zip, bytes(6_000)).unwrap();
        assert_eq!(split(&zip, d.path(), "x.zip", 3_000).unwrap().len(), 2);
        std::fs::write(&zip, bytes(10)).unwrap();
        let one = split(&zip, d.path(), "y.zip", 3_000).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(std::fs::read(&one[0]).unwrap(), bytes(10));
    }

    #[test]
    fn error_leaves_nothing_new() {
        let d = tempfile::tempdir().unwrap();
        let zip = d.path().join("a.zip");
        std::fs::write(&zip, bytes(5_000)).unwrap();
        // A folder where part 002 would go makes its temp name's sibling
        // collide: simulate by pre-creating the temp of part 2.
        std::fs::write(d.path().join("x.zip.002.tmp"), b"in the way").unwrap();
        assert!(split(&zip, d.path(), "x.zip", 2_000).is_err());
        assert!(zip.exists(), "the ZIP is kept when splitting fails");
        assert!(!d.path().join("x.zip.001.tmp").exists());
        assert!(!d.path().join("x.zip.001").exists());
        assert!(matches!(split(&zip, d.path(), "x.zip", 0), Err(e) if e.kind() == io::ErrorKind::InvalidInput));
    }

    #[test]
    fn empty_files_in_the_middle_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        let c = d.path().join("c");
        std::fs::write(&a, b"abc").unwrap();
        std::fs::write(&b, b"").unwrap();
        std::fs::write(&c, b"de").unwrap();
        let mut r = MultiFileReader::open(&[a, b, c]).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "abcde");
        assert_eq!(r.len(), 5);
    }
}
