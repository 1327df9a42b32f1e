//! Running the official command-line tools of a server (its dump and
//! client programs): finding them, handing them a secret without putting it
//! on a command line, giving each run a deadline, and turning their failures
//! into a sentence.
//!
//! Every tool runs in its own process group with only the environment it
//! needs: a tool (or anything it starts) never sees Lifeboat's own secrets,
//! and a tool past its deadline is killed with everything it started.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::config::secret::Secret;

/// Why a tool could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The program is not installed.
    #[error("{name} is not installed (not on PATH); install it: apt-get install {package}")]
    NotInstalled { name: String, package: String },
    /// The password could not be written to the private file the tool reads it from.
    #[error("cannot hand the password to {program}: {source}")]
    Secret {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// It ran past its deadline and was killed with everything it started;
    /// `key` is the config key that sets the deadline, when one does.
    #[error(
        "{program} timed out after {secs} s and was stopped (a server that does not answer, or a lock held by another session?){}",
        .key.as_ref().map(|k| format!("; raise {k} if it needs longer")).unwrap_or_default()
    )]
    TimedOut { program: String, secs: u64, key: Option<String> },
    /// Waiting for it or reading its output failed.
    #[error("{program}: {source}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// The program `name` on `PATH`, else in one of `extra` (folders a kind's
/// packages install into off `PATH`).
pub fn find(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|d| d.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// `program` on `PATH`, or why it cannot be run and how to get it.
pub fn require(name: &str, package: &str) -> Result<PathBuf, ToolError> {
    require_in(name, package, &[])
}

/// [`require`], also looking in `extra`.
pub(crate) fn require_in(name: &str, package: &str, extra: &[PathBuf]) -> Result<PathBuf, ToolError> {
    find(name, extra).ok_or_else(|| ToolError::NotInstalled { name: name.to_string(), package: package.to_string() })
}

/// How long `--version` may take.
const VERSION_SECS: u64 = 30;

/// How long checking an archived dump or snapshot with a local tool
/// (a kind's checker) may take: no server is involved, so
/// only a tool that hangs gets near it.
pub const LOCAL_CHECK_SECS: u64 = 6 * 3600;

/// The variables a tool gets from Lifeboat's environment, besides `LC_*`
/// and those the tool's kind adds: where programs are, the user and home
/// folder (libpq reads `~/.pgpass`), the locale and the time zone.
const PASSED_ON: [&str; 8] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

/// `program` in a process group of its own, with only `PASSED_ON` (PATH, HOME, locale…), `LC_*`
/// and the variables starting with one of `prefixes` (`PG` for libpq's
/// settings) from Lifeboat's environment. `LIFEBOAT*` variables (the
/// encryption password, the bot token) are never passed on.
pub fn command(program: &Path, prefixes: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear().process_group(0);
    for (key, value) in std::env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        let wanted =
            PASSED_ON.contains(&name) || name.starts_with("LC_") || prefixes.iter().any(|p| name.starts_with(p));
        if wanted && !name.starts_with("LIFEBOAT") {
            cmd.env(&key, &value);
        }
    }
    cmd
}

/// How long one run of a tool may take, and the config key that sets it
/// (for the message when it runs out).
#[derive(Debug, Clone)]
pub struct Deadline {
    secs: u64,
    key: Option<String>,
}

impl Deadline {
    /// `secs`, set by the config key `key` (e.g. `sources.KIND "main"
    /// timeout_secs`).
    pub fn configured(secs: u64, key: impl Into<String>) -> Deadline {
        Deadline { secs, key: Some(key.into()) }
    }

    /// A fixed bound no key sets.
    pub fn fixed(secs: u64) -> Deadline {
        Deadline { secs, key: None }
    }

    /// How long it is.
    pub fn secs(&self) -> u64 {
        self.secs
    }

    /// What happened when `program` ran out of time, and what to do.
    pub fn expired(&self, program: &str) -> ToolError {
        ToolError::TimedOut { program: program.to_string(), secs: self.secs, key: self.key.clone() }
    }
}

/// Kills a child's process group when its deadline passes first.
pub struct Watchdog {
    program: String,
    deadline: Deadline,
    done: mpsc::Sender<()>,
    fired: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    /// Starts watching `child`, spawned by [`command`] (so it leads its own
    /// process group).
    pub fn start(child: &Child, program: &str, deadline: &Deadline) -> Watchdog {
        let (done, wait) = mpsc::channel::<()>();
        let group = nix::unistd::Pid::from_raw(child.id() as i32);
        let limit = Duration::from_secs(deadline.secs);
        let fired = std::thread::spawn(move || match wait.recv_timeout(limit) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Everything the tool started goes with it; its pipes close,
                // so whoever waits on it returns.
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                true
            }
            _ => false,
        });
        Watchdog { program: program.to_string(), deadline: deadline.clone(), done, fired }
    }

    /// Call once the child has been reaped: an error saying so when the
    /// deadline had passed and the child was killed.
    pub fn finish(self) -> Result<(), ToolError> {
        drop(self.done);
        match self.fired.join() {
            Ok(true) => Err(self.deadline.expired(&self.program)),
            _ => Ok(()),
        }
    }
}

/// The first line of `program --version`.
pub fn version(program: &Path) -> Option<String> {
    let out = run(command(program, &[]).arg("--version"), &Deadline::fixed(VERSION_SECS)).ok()?;
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

/// Runs `cmd` (made by [`command`]) to its end with stdin closed,
/// capturing its output; past `deadline` it is killed with its process
/// group and reaped, and the error says so.
pub fn run(cmd: &mut Command, deadline: &Deadline) -> Result<Output, ToolError> {
    let program = program_name(cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ToolError::Spawn { program: program.clone(), source: e })?;
    let watchdog = Watchdog::start(&child, &program, deadline);
    let out = child.wait_with_output();
    watchdog.finish()?;
    out.map_err(|e| ToolError::Io { program, source: e })
}

/// The program's file name, as messages name it.
pub(crate) fn program_name(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    program.file_name().unwrap_or(program.as_os_str()).to_string_lossy().into_owned()
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

#[cfg(test)]
mod tests {
    use lifeboat_testkit::daemon::processes_with;

    use super::*;

    #[test]
    fn a_tool_past_its_deadline_is_killed_with_what_it_started() {
        let marker = format!("lifeboat-deadline-{}", std::process::id());
        let script = format!("(exec -a {marker} sleep 300) & exec -a {marker} sleep 300");
        let started = std::time::Instant::now();
        let err =
            run(command(Path::new("/bin/bash"), &[]).args(["-c", &script]), &Deadline::configured(1, "x.timeout_secs"))
                .unwrap_err()
                .to_string();
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
        assert!(err.contains("bash timed out after 1 s") && err.contains("raise x.timeout_secs"), "{err}");
        let left = processes_with(&marker);
        assert!(left.is_empty(), "{left:?}");
    }
}
