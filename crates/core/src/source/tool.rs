//! Running the official command-line tools of a server (`pg_dump`,
//! `redis-cli`, ...): finding them, handing them a secret without putting it
//! on a command line, and turning their failures into a sentence.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::config::Secret;

/// Folders searched after `PATH`: Debian installs the server-side
/// PostgreSQL programs per major version, newest wins.
fn extra_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| r.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort_by_key(|d| {
        std::cmp::Reverse(
            d.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()),
        )
    });
    dirs
}

/// The program `name` on `PATH` (or in Debian's PostgreSQL folders).
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs())
        .map(|d| d.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// `program`, or why it cannot be run and how to get it.
pub fn require(name: &str, package: &str) -> Result<PathBuf, String> {
    find(name).ok_or_else(|| format!("{name} is not installed (not on PATH); install it: apt-get install {package}"))
}

/// The first line of `program --version`.
pub fn version(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").stdin(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string()).filter(|l| !l.is_empty())
}

/// A secret in a private file for the length of one command (libpq's
/// `PGPASSFILE`); removed when dropped.
pub struct SecretFile(tempfile::NamedTempFile);

impl SecretFile {
    /// Writes `text` (already in the file's format) to a new 0600 file in
    /// `dir` (a private working folder, cleaned up after a crash), or the
    /// temporary folder.
    pub fn new(dir: Option<&Path>, text: &str) -> std::io::Result<SecretFile> {
        // tempfile creates it 0600, readable by this user only.
        let builder = tempfile::Builder::new().prefix(".lifeboat-secret-").clone();
        let mut f = match dir {
            Some(dir) => builder.tempfile_in(dir)?,
            None => builder.tempfile()?,
        };
        f.write_all(text.as_bytes())?;
        f.flush()?;
        Ok(SecretFile(f))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Runs `cmd` to its end with stdin closed, capturing its output.
pub fn run(cmd: &mut Command) -> Result<Output, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {program}: {e}"))
}

/// The last non-empty lines a tool printed (stderr, then stdout), for an
/// error message, with `secret` (if any) removed.
pub fn said(out: &Output, secret: Option<&Secret>) -> String {
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    match secret.filter(|s| !s.is_empty()) {
        Some(s) => tail.replace(s.expose(), "[redacted]"),
        None => tail,
    }
}
