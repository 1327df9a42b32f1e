//! Helpers for the scheduler's end-to-end tests: a sandbox with real SQLite
//! databases and a config, and ways to run and watch the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lifeboat_core::state::{Heartbeat, Run, State};
use lifeboat_testkit::sqlite::{Mode, create_ledger};

/// A folder with `sqlite_data/`, `backups/` and `lifeboat.toml`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub databases: Vec<String>,
}

impl Sandbox {
    /// Two small ledger databases and a config with `extra` appended
    /// (`[telegram]` etc.); `schedule` is the cron expression.
    pub fn new(schedule: &str, extra: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sqlite_data")).unwrap();
        let databases = vec!["user_requests.db".to_string(), "analytics.db".to_string()];
        for (i, name) in databases.iter().enumerate() {
            let mode = if i == 0 { Mode::Wal } else { Mode::Delete };
            create_ledger(&dir.path().join("sqlite_data").join(name), mode, 200, 32).unwrap();
        }
        let sb = Sandbox { dir, databases };
        sb.write_config(schedule, extra);
        sb
    }

    pub fn write_config(&self, schedule: &str, extra: &str) {
        let toml = format!(
            "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = {:?}\ncompression_level = 1\n\n[schedule]\ncron = {schedule:?}\n\n{extra}\n",
            self.source_dir().display().to_string(),
            self.output_dir().display().to_string(),
            self.databases,
        );
        std::fs::write(self.config_path(), toml).unwrap();
    }

    /// One committed write to the first database, as the bot would make:
    /// the next scheduled cycle has a change to back up. `checkpoint` false
    /// leaves it in the `-wal` file only.
    pub fn write_a_row(&self, checkpoint: bool) {
        let c = rusqlite::Connection::open(self.source_dir().join(&self.databases[0])).unwrap();
        // Keep the write in the -wal: a closing connection would checkpoint it.
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.execute("INSERT INTO payments (account, amount, note) VALUES (1, 1, 'one more')", []).unwrap();
        if checkpoint {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        } else {
            // Closing the last connection checkpoints a WAL database; leak
            // this one so the row stays in the -wal file only.
            std::mem::forget(c);
        }
    }

    pub fn source_dir(&self) -> PathBuf {
        self.dir.path().join("sqlite_data")
    }
    pub fn output_dir(&self) -> PathBuf {
        self.dir.path().join("backups")
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("lifeboat.toml")
    }
    pub fn state_path(&self) -> PathBuf {
        self.output_dir().join(".lifeboat/state.db")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.output_dir().join(".lifeboat/cycle.lock")
    }
    pub fn state(&self) -> State {
        State::open(&self.state_path()).unwrap()
    }

    /// Everything in `output_dir` except Lifeboat's own `.lifeboat/`.
    pub fn archive_folder_entries(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.output_dir()) else { return Vec::new() };
        let mut names: Vec<String> =
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n != ".lifeboat").collect();
        names.sort();
        names
    }

    /// The scheduler binary, with this sandbox's config and no inherited
    /// Lifeboat environment.
    pub fn scheduler(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat-scheduler"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LIFEBOAT") {
                cmd.env_remove(&k);
            }
        }
        cmd.arg("--config").arg(self.config_path()).current_dir(self.dir.path()).env("RUST_LOG", "info");
        cmd
    }

    /// Makes one database big and incompressible, so a backup takes seconds.
    pub fn make_slow(&self, megabytes: u32) {
        let c = rusqlite::Connection::open(self.source_dir().join(&self.databases[1])).unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, b BLOB);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {})
             INSERT INTO filler (b) SELECT randomblob(1000000) FROM n;",
            megabytes
        ))
        .unwrap();
    }
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn runs(state_path: &Path) -> Vec<Run> {
    if !state_path.exists() {
        return Vec::new();
    }
    State::open(state_path).and_then(|s| s.runs(100)).unwrap_or_default()
}

pub fn heartbeat(state_path: &Path) -> Option<Heartbeat> {
    if !state_path.exists() {
        return None;
    }
    State::open(state_path).ok()?.heartbeat(lifeboat_core::state::Process::Scheduler).ok()?
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap().success();
    assert!(ok, "kill -{sig} {} failed", child.id());
}

/// Waits for the child to exit; kills it and fails after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> (i32, String, Duration) {
    let start = Instant::now();
    let status = wait_for(timeout, || child.try_wait().unwrap());
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the scheduler did not exit within {timeout:?}");
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    (status.code().unwrap_or(-1), err, start.elapsed())
}

pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}
