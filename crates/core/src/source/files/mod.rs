//! Plain files (configs, JSON data) beside the databases: each file read
//! once into the archive as `NAME/<its absolute path>`, with its path and
//! permission bits in the manifest. A file written while it is read is read
//! again, a few times, then reported.

mod kind;

pub(super) use kind::KIND;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::{Checked, Identity, Source};
use crate::manifest::Kind;
use crate::snapshot::{SkipReason, Snapshot};

/// One `[[sources.files]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Source name: the folder its files go under in the archive.
    pub name: String,
    /// Absolute paths; globs (`*`, `?`, `[…]`, `**`) allowed; a folder
    /// means every file below it.
    pub paths: Vec<String>,
}

/// Its table in the config.
pub(super) const KEY: &str = "sources.files";

/// Reads of a file that keeps changing before it is reported.
const ATTEMPTS: u32 = 3;

/// The most files and folders one `**` glob looks at: past it the walk
/// stops, with a warning.
pub const MAX_GLOB_ENTRIES: usize = 1_000_000;

/// How long a file must have been left alone before a copy counts as one
/// version. Modification times tick coarsely (the kernel's clock tick, a
/// whole second on some file systems): a write in the same tick as the last
/// one leaves them equal, so equal times only prove nothing changed when
/// the last change was longer ago than that.
const QUIET: std::time::Duration = std::time::Duration::from_secs(1);

/// One file of a files source.
#[derive(Debug, Clone)]
pub struct FileSource {
    id: Identity,
    path: PathBuf,
}

/// `path` without `.` parts, or None when it is not absolute or goes up
/// (`..`): such a path cannot name one place for sure.
pub(crate) fn normalized(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The archive entry of file `path` in source `source`.
pub(crate) fn entry_name(source: &str, path: &Path) -> Option<String> {
    let p = normalized(path)?;
    let s = p.to_str()?;
    Some(format!("{source}{s}"))
}

/// True when `pattern` holds glob characters.
pub(crate) fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// What a files source's paths name now.
#[derive(Debug, Default)]
pub struct Expanded {
    /// The files, in order.
    pub files: Vec<FileSource>,
    /// Why some paths gave nothing or were left out: a glob matching
    /// nothing, Lifeboat's own files, names that are not UTF-8. Warnings,
    /// not failures.
    pub warnings: Vec<String>,
}

/// The files `cfg` names now, in order: globs expanded, folders walked.
/// A plain path that does not exist stays (its snapshot reports it
/// missing); a glob that matches nothing is a warning. Lifeboat's own
/// secret files and archive folder (`excluded`) are left out.
pub(crate) fn expand(cfg: &FilesConfig, excluded: &[PathBuf]) -> Expanded {
    let mut warnings = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in &cfg.paths {
        let matched: Vec<PathBuf> = if pattern.contains("**") {
            match glob_below(pattern, &mut warnings) {
                Ok(paths) => paths,
                Err(e) => {
                    warnings.push(format!("{pattern:?} is not a valid glob: {e}"));
                    continue;
                }
            }
        } else if is_glob(pattern) {
            match glob::glob(pattern) {
                Ok(paths) => paths.flatten().collect(),
                Err(e) => {
                    warnings.push(format!("{pattern:?} is not a valid glob: {e}"));
                    continue;
                }
            }
        } else {
            vec![PathBuf::from(pattern)]
        };
        if matched.is_empty() {
            warnings.push(format!("{pattern:?} matches no file"));
        }
        for p in matched {
            if p.is_dir() {
                walk(&p, &mut files);
            } else {
                files.push(p);
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for path in files {
        let Some(path) = normalized(&path) else { continue };
        if !seen.insert(path.clone()) {
            continue;
        }
        let real = path.canonicalize().unwrap_or_else(|_| path.clone());
        if excluded.iter().any(|x| real == *x || real.starts_with(x) && x.is_dir()) {
            warnings.push(format!("{} is Lifeboat's own (a secret or an archive); not archived", path.display()));
            continue;
        }
        match entry_name(&cfg.name, &path) {
            Some(entry) => {
                let id = Identity { entry, source: cfg.name.clone(), kind: Kind::File };
                out.push(FileSource { id, path })
            }
            None => warnings.push(format!("{} has a name that is not UTF-8; not archived", path.display())),
        }
    }
    Expanded { files: out, warnings }
}

/// The paths `pattern` (holding `**`) matches, found by walking the folder
/// before its first glob character without following symbolic links to
/// folders: a link back up would make the walk endless (each one is
/// reported instead). At most [`MAX_GLOB_ENTRIES`] are looked at.
fn glob_below(pattern: &str, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>, glob::PatternError> {
    let compiled = glob::Pattern::new(pattern)?;
    let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
    let root: PathBuf =
        Path::new(pattern).components().take_while(|c| !is_glob(&c.as_os_str().to_string_lossy())).collect();
    let mut walk = GlobWalk { budget: MAX_GLOB_ENTRIES, found: Vec::new(), warnings };
    walk.visit(&root);
    if walk.budget == 0 {
        walk.warnings.push(format!(
            "{pattern:?}: stopped after looking at {MAX_GLOB_ENTRIES} files and folders; narrow the glob"
        ));
    }
    Ok(walk.found.into_iter().filter(|p| compiled.matches_path_with(p, options)).collect())
}

/// One `**` walk: what it found, and how much more it may look at.
struct GlobWalk<'w> {
    budget: usize,
    found: Vec<PathBuf>,
    warnings: &'w mut Vec<String>,
}

impl GlobWalk<'_> {
    fn visit(&mut self, dir: &Path) {
        let Ok(read) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            let Ok(m) = p.symlink_metadata() else { continue };
            if m.is_symlink() && p.is_dir() {
                self.warnings.push(format!(
                    "{} is a symbolic link to a folder; a ** glob does not follow it (it could loop): name its \
                     target in paths if it belongs in the backup",
                    p.display()
                ));
            } else if m.is_dir() {
                self.found.push(p.clone());
                self.visit(&p);
            } else {
                self.found.push(p);
            }
        }
    }
}

/// Every regular file below `dir`, sorted, symbolic links not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(r) => r.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            tracing::warn!("cannot list {}: {e}", dir.display());
            return;
        }
    };
    entries.sort();
    for p in entries {
        match p.symlink_metadata() {
            Ok(m) if m.is_dir() => walk(&p, out),
            Ok(m) if m.is_file() => out.push(p),
            _ => {}
        }
    }
}

impl FileSource {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What identifies one version of a file without reading it.
fn stamp(m: &std::fs::Metadata) -> (u64, u64, i64, i64, i64, i64) {
    (m.ino(), m.len(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec())
}

impl Source for FileSource {
    fn identity(&self) -> &Identity {
        &self.id
    }

    fn size_hint(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    fn preflight(&self) -> Result<(), SkipReason> {
        match std::fs::File::open(&self.path).and_then(|f| f.metadata()) {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(SkipReason::NotAFile(self.path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SkipReason::Missing(self.path.clone())),
            Err(e) => Err(SkipReason::Unreadable(format!("{}: {e}", self.path.display()))),
        }
    }

    /// Copies the file, then checks it did not change meanwhile (inode,
    /// size, modification and change times, the last change older than
    /// a second); if it did, reads it again.
    fn snapshot(&self, dest: &Path) -> Result<Snapshot, SkipReason> {
        let unreadable = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => SkipReason::Missing(self.path.clone()),
            _ => SkipReason::Unreadable(format!("{}: {e}", self.path.display())),
        };
        for _ in 0..ATTEMPTS {
            let started = std::time::SystemTime::now();
            let before = std::fs::metadata(&self.path).map_err(unreadable)?;
            if !before.is_file() {
                return Err(SkipReason::NotAFile(self.path.clone()));
            }
            let _ = std::fs::remove_file(dest);
            let mut input = std::fs::File::open(&self.path).map_err(unreadable)?;
            let mut output = crate::archive::create_private_file(dest)
                .map_err(SkipReason::io(format!("cannot write the copy {}", dest.display())))?;
            let copied = std::io::copy(&mut input, &mut output).map_err(|e| {
                if e.raw_os_error() == Some(28) {
                    SkipReason::NoSpace(dest.parent().unwrap_or(dest).to_path_buf())
                } else {
                    unreadable(e)
                }
            })?;
            let after = std::fs::metadata(&self.path).map_err(unreadable)?;
            let changed_at = before.modified().ok().into_iter().chain(before.created().ok()).max();
            let quiet = changed_at.is_some_and(|t| t + QUIET <= started);
            if stamp(&before) == stamp(&after) && copied == after.len() && quiet {
                return Ok(Snapshot {
                    origin: Some(self.path.to_string_lossy().into_owned()),
                    mode: Some(after.permissions().mode() & 0o7777),
                    ..self.id.snapshot(dest, copied)
                });
            }
            // Give a file written a moment ago the time to become quiet.
            std::thread::sleep(QUIET);
        }
        let _ = std::fs::remove_file(dest);
        Err(SkipReason::Changing { path: self.path.clone(), attempts: ATTEMPTS })
    }
}

/// A file has no inner structure to check: its sha256, recorded here and
/// checked on every read, is the check.
pub(super) fn check(_path: &Path) -> Result<Checked, SkipReason> {
    Ok(Checked { integrity: "ok".to_string(), tables: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file rewritten over and over while it is read: the copy is one
    /// whole version, or the run says it kept changing; never a mix.
    #[test]
    fn a_file_rewritten_during_the_read_is_never_archived_torn() {
        use std::io::Write;
        use std::sync::atomic::{AtomicBool, Ordering};
        const LEN: usize = 4 << 20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.json");
        std::fs::write(&path, vec![b'a'; LEN]).unwrap();
        let cfg = FilesConfig { name: "data".into(), paths: vec![path.to_string_lossy().into_owned()] };
        let sources = expand(&cfg, &[]).files;
        assert_eq!(sources.len(), 1);
        let stop = AtomicBool::new(false);
        let (mut changed, mut whole) = (0, 0);
        let (mut torn, mut failure) = (None, None);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut v = b'a';
                while !stop.load(Ordering::Relaxed) {
                    v = if v == b'z' { b'a' } else { v + 1 };
                    // In place, in pieces: a reader can see half of it.
                    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                    for _ in 0..4 {
                        f.write_all(&vec![v; LEN / 4]).unwrap();
                    }
                }
            });
            for i in 0..2 {
                match sources[0].snapshot(&dir.path().join(format!("copy{i}"))) {
                    Ok(snap) => {
                        let copy = std::fs::read(&snap.path).unwrap();
                        if copy.len() != LEN || copy.iter().any(|b| *b != copy[0]) {
                            torn = Some(i);
                        }
                        whole += 1;
                    }
                    Err(SkipReason::Changing { .. }) => changed += 1,
                    Err(e) => failure = Some(e.to_string()),
                }
            }
            // Stopped before any assertion, or a failure would wait forever.
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(failure, None);
        assert_eq!(torn, None, "a torn copy was accepted");
        assert!(changed > 0, "the writer never overlapped a read ({whole} whole copies)");
    }

    /// Two links back up under a `**` glob: following them the walk never
    /// ends (2^40 paths before the kernel's link limit stops it).
    #[test]
    fn a_symlink_loop_under_a_double_star_glob_is_reported_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        std::fs::write(data.join("a.json"), "{}").unwrap();
        std::fs::write(data.join("sub/b.json"), "{}").unwrap();
        std::os::unix::fs::symlink(&data, data.join("sub/loop")).unwrap();
        std::os::unix::fs::symlink("..", data.join("sub/up")).unwrap();
        std::os::unix::fs::symlink(data.join("a.json"), data.join("sub/link.json")).unwrap();
        let cfg = FilesConfig { name: "data".into(), paths: vec![format!("{}/**/*.json", data.display())] };
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(expand(&cfg, &[])).unwrap());
        let expanded = result.recv_timeout(std::time::Duration::from_secs(20)).expect("the walk ends");
        let files: Vec<PathBuf> = expanded.files.iter().map(|f| f.path().to_path_buf()).collect();
        assert_eq!(files, [data.join("a.json"), data.join("sub/b.json"), data.join("sub/link.json")]);
        let loops = expanded.warnings.iter().filter(|w| w.contains("symbolic link to a folder")).count();
        assert_eq!(loops, 2, "{:?}", expanded.warnings);
    }

    #[test]
    fn entries_keep_the_absolute_path_under_the_source() {
        assert_eq!(
            entry_name("config", Path::new("/srv/bot/./config.toml")).as_deref(),
            Some("config/srv/bot/config.toml")
        );
        assert_eq!(entry_name("config", Path::new("/srv/../etc/passwd")), None);
        assert_eq!(entry_name("config", Path::new("relative.toml")), None);
    }
}
