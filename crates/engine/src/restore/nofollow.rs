//! The live paths a restore writes, reached without following symbolic
//! links. Whoever owns a folder a restore writes into (the bot's user) could
//! replace it, or a folder above it, with a link after the backup; following
//! it would let them choose where Lifeboat writes. A backup never follows a
//! link below a configured path either, so a link found now was not part of
//! what was archived there: the restore refuses it.
//!
//! Except a link owned by root: only root could have made it (the machine's
//! own layout, `/srv/bot -> /data/bot`), and the bot's user cannot change
//! it, only remove it, and a link put in its place would be theirs.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{CWD, Mode, OFlags};
use rustix::io::Errno;

use super::{RestoreError, io_err};

/// The first part of `path` (from the top, `path` itself included) that is
/// a symbolic link now, and what it points to.
pub(super) fn symlink_on(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut at = PathBuf::new();
    for part in path.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() && !made_by_root(m.uid()) => {
                let target = std::fs::read_link(&at).unwrap_or_default();
                return Some((at, target));
            }
            Ok(_) => {}
            // Nothing below a missing part exists yet.
            Err(_) => return None,
        }
    }
    None
}

fn made_by_root(uid: u32) -> bool {
    uid == 0
}

/// Refuses `dest` when its path crosses a symbolic link not made by root.
pub(super) fn refuse_symlink(dest: &Path) -> Result<(), RestoreError> {
    match symlink_on(dest) {
        Some((link, target)) => Err(RestoreError::Symlink { dest: dest.to_path_buf(), link, target }),
        None => Ok(()),
    }
}

/// Opens the folder `dir` one part at a time with `O_NOFOLLOW`, creating
/// the missing ones, so no link swapped in meanwhile is ever followed.
/// `dest` is the file about to be written there, for the error.
pub(super) fn open_dir(dir: &Path, dest: &Path) -> Result<OwnedFd, RestoreError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let context = || format!("cannot open {}", dir.display());
    let start = if dir.is_absolute() { "/" } else { "." };
    let mut fd = rustix::fs::openat(CWD, start, flags, Mode::empty()).map_err(|e| io_err(context())(e.into()))?;
    let mut at = PathBuf::from(start);
    for part in dir.components() {
        let name = match part {
            Component::Normal(name) => name,
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir | Component::Prefix(_) => return Err(RestoreError::NotAFile(dest.to_path_buf())),
        };
        at.push(name);
        let mut next = rustix::fs::openat(&fd, name, flags, Mode::empty());
        if matches!(next, Err(Errno::LOOP | Errno::NOTDIR)) && root_link(&fd, name) {
            next = rustix::fs::openat(&fd, name, flags - OFlags::NOFOLLOW, Mode::empty());
        }
        if matches!(next, Err(Errno::NOENT)) {
            match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err(format!("cannot create {}", at.display()))(e.into())),
            }
            next = rustix::fs::openat(&fd, name, flags, Mode::empty());
        }
        fd = match next {
            Ok(next) => next,
            // O_NOFOLLOW on a link: ELOOP; a link to a file: ENOTDIR.
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                return Err(match std::fs::read_link(&at) {
                    Ok(target) => RestoreError::Symlink { dest: dest.to_path_buf(), link: at, target },
                    Err(_) => io_err(format!("{} is not a folder", at.display()))(e.into()),
                });
            }
            Err(e) => return Err(io_err(context())(e.into())),
        };
    }
    Ok(fd)
}

/// `name` in `dir` is a symbolic link owned by root.
fn root_link(dir: &OwnedFd, name: &std::ffi::OsStr) -> bool {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink && made_by_root(st.st_uid)
    })
}
