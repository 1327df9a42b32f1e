//! Writing one database: a new plain file (`--to`), or into the live file
//! through SQLite's backup API.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{Connection, OpenFlags};

use super::plan::live_action;
use super::{Action, BUSY_TIMEOUT, RestoreError, RestoreOutcome, io_err, sql};
use lifeboat_core::manifest::SIDECAR_SUFFIXES;

/// Copies `src` to a new file `dest`: a temporary beside it, fsynced, then
/// hard-linked into place, which fails rather than overwrite. It is 0600,
/// or `mode`'s permission bits when the archive recorded the file's (a
/// files source): created 0600 and changed once written, so it is never
/// more open than that while being written. Set-user-ID, set-group-ID and
/// sticky bits are left out in a folder restore: the copy is for looking
/// at or copying by hand, and a set-user-ID file there would run as its
/// owner for anyone.
pub(super) fn write_plain(src: &Path, dest: &Path, mode: Option<u32>) -> Result<(), RestoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = dest.parent().unwrap_or(Path::new("."));
    let file_name = dest.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.lifeboat-tmp"));
    // A file source's entries keep their folders below `--to`.
    std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut input = std::fs::File::open(src).map_err(io_err(format!("cannot read {}", src.display())))?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(format!("cannot create {}", tmp.display())))?;
        std::io::copy(&mut input, &mut out).map_err(io_err(format!("cannot write {}", tmp.display())))?;
        if let Some(mode) = mode {
            let perms = std::fs::Permissions::from_mode(mode & 0o777);
            out.set_permissions(perms).map_err(io_err(format!("cannot set the mode of {}", tmp.display())))?;
        }
        out.sync_all().map_err(io_err(format!("cannot write {}", tmp.display())))?;
        match std::fs::hard_link(&tmp, dest) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RestoreError::DestinationExists(dest.to_path_buf()))
            }
            Err(e) => Err(io_err(format!("cannot create {}", dest.display()))(e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result?;
    lifeboat_core::fsutil::sync_dir(dir).map_err(io_err(format!("cannot sync {}", dir.display())))
}

/// A failed `--to` restore removes the files it already wrote (they are
/// new: `--to` never overwrites), so the folder is as before and the same
/// command works once the cause is fixed. A cancel keeps them: it reports them.
pub(super) fn undo_plain(dir: &Path, outcome: &mut RestoreOutcome, e: RestoreError) -> RestoreError {
    if matches!(e, RestoreError::Cancelled { .. }) {
        return e;
    }
    for r in outcome.restored.drain(..) {
        let _ = std::fs::remove_file(&r.dest);
    }
    let _ = lifeboat_core::fsutil::sync_dir(dir);
    match e {
        RestoreError::Io { context, source } if source.kind() == std::io::ErrorKind::StorageFull => RestoreError::Io {
            context: format!(
                "no space left in {}: free space there or choose a folder on another disk, then run again; \
                 nothing was kept there ({context})",
                dir.display()
            ),
            source,
        },
        e => e,
    }
}

/// Writes the verified copy `src` (ours, in scratch) into the live database
/// `dest` through SQLite's backup API.
pub(super) fn write_live(
    src: &Path,
    dest: &Path,
    name: &str,
    archived_mode: &str,
    notes: &mut Vec<String>,
) -> Result<(), RestoreError> {
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        drop(super::nofollow::open_dir(dir, dest)?);
    }
    // Recheck now: the plan may be minutes old. SQLite opens by path; a
    // link swapped in after this check is still refused for the file itself
    // (SQLITE_OPEN_NOFOLLOW).
    super::nofollow::refuse_symlink(dest)?;
    let mut action = live_action(dest)?;
    if let Action::ReplaceUnreadable { reason } = &action {
        let aside = move_aside(dest)?;
        notes.push(format!("{name}: the old file was not a database ({reason}); kept as {}", aside.display()));
        action = Action::Create;
    }
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql(name, src))?;
    // The scratch copy's header must not carry WAL mode into a rollback-mode
    // live file (the backup copies page 1); the backup sets WAL itself when
    // the destination is in WAL mode.
    source.pragma_update(None, "journal_mode", "delete").map_err(sql(name, src))?;
    let mut dest_conn = Connection::open_with_flags(dest, OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW)
        .map_err(sql(name, dest))?;
    dest_conn.busy_timeout(BUSY_TIMEOUT).map_err(sql(name, dest))?;
    let live_mode: String = dest_conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sql(name, dest))?;
    if live_mode.eq_ignore_ascii_case("wal") {
        let live_page: u32 = dest_conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(sql(name, dest))?;
        let src_page: u32 = source.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(sql(name, src))?;
        if live_page != src_page {
            source.pragma_update(None, "page_size", live_page).map_err(sql(name, src))?;
            source.execute_batch("VACUUM").map_err(sql(name, src))?;
            notes.push(format!(
                "{name}: the archive's page size ({src_page}) differs from the live WAL database's ({live_page}); \
                 the copy was rebuilt with {live_page}-byte pages before writing (same data)"
            ));
        }
    }
    run_backup(&source, &mut dest_conn, name, dest)?;
    if action == Action::Create && archived_mode.eq_ignore_ascii_case("wal") {
        dest_conn.pragma_update(None, "journal_mode", "wal").map_err(sql(name, dest))?;
    }
    let after: String = dest_conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sql(name, dest))?;
    if let Action::Replace { journal_mode, .. } = &action
        && (journal_mode == "wal") != after.eq_ignore_ascii_case("wal")
    {
        notes.push(format!("{name}: journal mode was {journal_mode} and is now {after}"));
    }
    Ok(())
}

fn run_backup(source: &Connection, dest: &mut Connection, name: &str, path: &Path) -> Result<(), RestoreError> {
    let backup = rusqlite::backup::Backup::new(source, dest).map_err(sql(name, path))?;
    let started = Instant::now();
    loop {
        match backup.step(-1).map_err(sql(name, path))? {
            rusqlite::backup::StepResult::Done => return Ok(()),
            rusqlite::backup::StepResult::More => {}
            _ => {
                if started.elapsed() > BUSY_TIMEOUT {
                    return Err(RestoreError::Busy { name: name.to_string(), secs: BUSY_TIMEOUT.as_secs() });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Renames an unreadable live file (and its journal files) aside, keeping it.
fn move_aside(dest: &Path) -> Result<PathBuf, RestoreError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut aside = dest.as_os_str().to_owned();
    aside.push(format!(".unreadable-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(dest, &aside).map_err(io_err(format!("cannot move {} aside", dest.display())))?;
    for suffix in SIDECAR_SUFFIXES {
        let mut from = dest.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.as_os_str().to_owned();
        to.push(suffix);
        if Path::new(&from).exists() {
            std::fs::rename(&from, &to).map_err(io_err(format!("cannot move {} aside", Path::new(&from).display())))?;
        }
    }
    Ok(aside)
}

/// Writes the verified copy `src` back over the file `dest` (or creates it):
/// a temporary beside it with the archived permission bits, fsynced, then
/// renamed over it, so the file is at all times the old or the new one. The
/// folder is reached without following any symbolic link (see
/// [`super::nofollow`]), and the rename replaces a link rather than
/// writing through it.
pub(super) fn write_back(src: &Path, dest: &Path, mode: Option<u32>) -> Result<(), RestoreError> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    use std::os::unix::fs::PermissionsExt;
    let dir = dest.parent().unwrap_or(Path::new("/"));
    let file_name = dest.file_name().ok_or_else(|| RestoreError::NotAFile(dest.to_path_buf()))?;
    let dir_fd = super::nofollow::open_dir(dir, dest)?;
    let tmp = format!(".lifeboat-restore-{}-{}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or(0));
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir_fd, tmp.as_str(), flags, Mode::from_raw_mode(0o600))
        .map_err(|e| io_err(format!("cannot create a file in {}", dir.display()))(e.into()))?;
    let mut out = std::fs::File::from(fd);
    let written = (|| {
        let mut input = std::fs::File::open(src).map_err(io_err(format!("cannot read {}", src.display())))?;
        std::io::copy(&mut input, &mut out).map_err(io_err(format!("cannot write beside {}", dest.display())))?;
        let perms = std::fs::Permissions::from_mode(mode.unwrap_or(0o600) & 0o7777);
        out.set_permissions(perms).map_err(io_err(format!("cannot set the mode of {}", dest.display())))?;
        out.sync_all().map_err(io_err(format!("cannot write {}", dest.display())))?;
        rustix::fs::renameat(&dir_fd, tmp.as_str(), &dir_fd, file_name)
            .map_err(|e| io_err(format!("cannot replace {}", dest.display()))(e.into()))
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(&dir_fd, tmp.as_str(), AtFlags::empty());
    }
    written?;
    rustix::fs::fsync(&dir_fd).map_err(|e| io_err(format!("cannot sync {}", dir.display()))(e.into()))
}
