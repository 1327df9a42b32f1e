//! A small tmpfs for full-disk tests: mounted in a temp folder, unmounted on
//! drop (also when a test panics). Mounting needs root, which CI has; where
//! it is not permitted, [`Tmpfs::mount`] says why and the test returns early.

use std::path::Path;
use std::process::Command;

/// A mounted tmpfs of a fixed size.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB (mode 0700); None, with the reason
    /// printed as `SKIPPED: …`, where mounting is not permitted.
    pub fn mount(kib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp folder for the tmpfs");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k,mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
