//! The state database shared by the binaries (SQLite, WAL): runs, database
//! checks, the delivery outbox, events and heartbeats.
//!
//! Every write is one short transaction, so the scheduler, the dashboard and
//! the CLI can use it at once. Times are stored as RFC 3339 UTC text; every
//! function that needs "now" takes it as an argument.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Failures of the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Opening or creating it.
    #[error("cannot open the state database {path}: {source}; check that the folder is writable by this user")]
    Open {
        /// Its path.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// Creating its folder.
    #[error("cannot create the state folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A query.
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Opening it failed because its disk is full (SQLite then often says
    /// only "disk I/O error", which sends people looking in the wrong place).
    #[error("no space left on the disk holding the state database {path} ({cause}); free space there, then run again")]
    DiskFull {
        /// Its path.
        path: PathBuf,
        /// What SQLite said.
        cause: rusqlite::Error,
    },
}

type Result<T, E = StateError> = std::result::Result<T, E>;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | ok | partial | failed | interrupted
    archive TEXT,                    -- logical archive name, when one was written
    size INTEGER,
    databases_ok INTEGER NOT NULL DEFAULT 0,
    databases_skipped INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    detail TEXT                      -- why it failed / what was skipped
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
CREATE TABLE IF NOT EXISTS db_checks (
    id INTEGER PRIMARY KEY,
    run_id INTEGER,
    checked_at TEXT NOT NULL,
    name TEXT NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL,            -- "ok" or the reason it was skipped
    size INTEGER,
    rows INTEGER
);
CREATE INDEX IF NOT EXISTS db_checks_name ON db_checks(name, id);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    archive TEXT NOT NULL,           -- logical archive name
    file_name TEXT NOT NULL,         -- the file sent: the .zip or a .zip.NNN part
    part INTEGER NOT NULL,           -- 1-based
    parts INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    status TEXT NOT NULL,            -- pending | delivered | failed | superseded
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    file_id TEXT,
    message_id INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (file_name, chat_id)
);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries(status);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    level TEXT NOT NULL,             -- info | warn | error
    source TEXT NOT NULL,            -- cli | scheduler | dashboard | delivery | ...
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeats (
    process TEXT PRIMARY KEY,        -- "scheduler"
    pid INTEGER NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,             -- idle | running | stopped
    stale_after_secs INTEGER NOT NULL,
    next_run TEXT
);
"#;

/// A handle on the state database. One per thread; cheap to open.
pub struct State {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("path", &self.path).finish()
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Still running (or died without saying: see [`State::close_abandoned_runs`]).
    Running,
    /// Every database backed up and verified.
    Ok,
    /// Some databases skipped; an archive was written.
    Partial,
    /// No archive.
    Failed,
    /// Stopped by a signal or a crash.
    Interrupted,
}

impl RunStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
    fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "ok" => RunStatus::Ok,
            "partial" => RunStatus::Partial,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Failed,
        }
    }
}

/// One backup run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Row id.
    pub id: i64,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, when ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// `Trigger::as_str`.
    pub trigger: String,
    /// Outcome.
    pub status: RunStatus,
    /// Logical archive name.
    pub archive: Option<String>,
    /// Archive bytes.
    pub size: Option<u64>,
    /// Databases in the archive.
    pub databases_ok: u32,
    /// Databases skipped.
    pub databases_skipped: u32,
    /// The archive was verified after writing.
    pub verified: bool,
    /// Failure or skip reasons.
    pub detail: Option<String>,
}

/// What [`State::finish_run`] records.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    /// Logical archive name.
    pub archive: Option<String>,
    /// Archive bytes.
    pub size: Option<u64>,
    /// Databases in the archive.
    pub databases_ok: u32,
    /// Databases skipped.
    pub databases_skipped: u32,
    /// Verified after writing.
    pub verified: bool,
    /// Failure or skip reasons.
    pub detail: Option<String>,
}

/// Runs by outcome over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// `ok`
    pub ok: u32,
    /// `partial`
    pub partial: u32,
    /// `failed` or `interrupted`
    pub failed: u32,
}

/// The latest integrity result of one database.
#[derive(Debug, Clone, PartialEq)]
pub struct DbCheck {
    /// Database file name.
    pub name: String,
    /// When.
    pub checked_at: DateTime<Utc>,
    /// Passed and backed up.
    pub ok: bool,
    /// "ok" or the reason.
    pub detail: String,
    /// Snapshot bytes.
    pub size: Option<u64>,
    /// Total rows.
    pub rows: Option<u64>,
}

/// Event severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Normal operation.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
    fn parse(s: &str) -> Level {
        match s {
            "warn" => Level::Warn,
            "error" => Level::Error,
            _ => Level::Info,
        }
    }
}

/// One log event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Severity.
    pub level: Level,
    /// Which component.
    pub source: String,
    /// What happened.
    pub message: String,
}

/// Delivery status of one (file, chat) row of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet confirmed by Telegram; retried next cycle.
    Pending,
    /// Telegram returned the message.
    Delivered,
    /// Permanent failure (403, chat not found...): not retried.
    Failed,
    /// A newer archive reached this chat; this one is no longer owed.
    Superseded,
}

impl DeliveryStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Superseded => "superseded",
        }
    }
    fn parse(s: &str) -> DeliveryStatus {
        match s {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            "superseded" => DeliveryStatus::Superseded,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Row id.
    pub id: i64,
    /// Logical archive name.
    pub archive: String,
    /// The file sent (whole ZIP or part).
    pub file_name: String,
    /// 1-based part number.
    pub part: u32,
    /// Number of parts.
    pub parts: u32,
    /// Recipient.
    pub chat_id: i64,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts so far, over all cycles.
    pub attempts: u32,
    /// Last error in words.
    pub last_error: Option<String>,
    /// Telegram's file_id once uploaded.
    pub file_id: Option<String>,
    /// Telegram's message id once delivered.
    pub message_id: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One admin's delivery health: their latest delivery outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminHealth {
    /// The admin.
    pub chat_id: i64,
    /// Status of their latest delivery row.
    pub status: DeliveryStatus,
    /// Its last error.
    pub last_error: Option<String>,
    /// When it changed.
    pub updated_at: DateTime<Utc>,
    /// When they last received something.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

/// A process's heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Process name, e.g. "scheduler".
    pub process: String,
    /// Its pid.
    pub pid: u32,
    /// Last beat.
    pub at: DateTime<Utc>,
    /// "idle", "running" or "stopped".
    pub state: String,
    /// The writer promises another beat within this time.
    pub stale_after_secs: u64,
    /// Next scheduled cycle.
    pub next_run: Option<DateTime<Utc>>,
}

/// What the dashboard and `status` say about the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerState {
    /// A fresh heartbeat.
    Running,
    /// A stale heartbeat, or a clean stop.
    Stopped,
    /// Never seen.
    Unknown,
}

impl SchedulerState {
    /// "Running" / "Stopped" / "Unknown".
    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerState::Running => "Running",
            SchedulerState::Stopped => "Stopped",
            SchedulerState::Unknown => "Unknown",
        }
    }
}

/// Judges a heartbeat at `now`: fresh means the writer's promise holds.
pub fn scheduler_state(hb: Option<&Heartbeat>, now: DateTime<Utc>) -> SchedulerState {
    match hb {
        None => SchedulerState::Unknown,
        Some(hb) if hb.state == "stopped" => SchedulerState::Stopped,
        Some(hb) => {
            let age = now.signed_duration_since(hb.at).num_seconds();
            if age <= hb.stale_after_secs as i64 { SchedulerState::Running } else { SchedulerState::Stopped }
        }
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn opt_ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().map(parse_ts)
}

impl State {
    /// Opens (creating if needed) the state database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<State> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsutil::create_private_dir(dir)
                .map_err(|source| StateError::Folder { path: dir.to_path_buf(), source })?;
        }
        let open_err = |source: rusqlite::Error| {
            // WAL needs room for its -shm and -wal files even to read.
            let full = source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
                || path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .and_then(|d| crate::fsutil::available_space(d).ok())
                    .is_some_and(|free| free < 64 * 1024);
            if full {
                StateError::DiskFull { path: path.to_path_buf(), cause: source }
            } else {
                StateError::Open { path: path.to_path_buf(), source }
            }
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "wal").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "normal").map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(State { conn, path: path.to_path_buf() })
    }

    /// Opens the state database of a configuration.
    pub fn open_for(cfg: &crate::config::Config) -> Result<State> {
        State::open(&cfg.state_path())
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    // ---- runs ---------------------------------------------------------

    /// Records the start of a run; returns its id.
    pub fn begin_run(&self, trigger: &str, at: DateTime<Utc>) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (started_at, trigger, status) VALUES (?1, ?2, 'running')",
            params![ts(at), trigger],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(&self, id: i64, status: RunStatus, end: &RunEnd, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, archive = ?4, size = ?5, databases_ok = ?6,
             databases_skipped = ?7, verified = ?8, detail = ?9 WHERE id = ?1",
            params![
                id,
                ts(at),
                status.as_str(),
                end.archive,
                end.size.map(|s| s as i64),
                end.databases_ok,
                end.databases_skipped,
                end.verified,
                end.detail
            ],
        )?;
        Ok(())
    }

    /// Marks runs still "running" whose process is gone as interrupted.
    /// Call it while holding the cycle lock, so no live run is touched.
    pub fn close_abandoned_runs(&self, at: DateTime<Utc>) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?1,
             detail = COALESCE(detail, 'the process stopped before the run finished') WHERE status = 'running'",
            params![ts(at)],
        )?)
    }

    fn run_from_row(r: &Row<'_>) -> rusqlite::Result<Run> {
        Ok(Run {
            id: r.get(0)?,
            started_at: parse_ts(&r.get::<_, String>(1)?),
            finished_at: opt_ts(r.get(2)?),
            trigger: r.get(3)?,
            status: RunStatus::parse(&r.get::<_, String>(4)?),
            archive: r.get(5)?,
            size: r.get::<_, Option<i64>>(6)?.map(|s| s as u64),
            databases_ok: r.get(7)?,
            databases_skipped: r.get(8)?,
            verified: r.get(9)?,
            detail: r.get(10)?,
        })
    }

    const RUN_COLS: &'static str = "id, started_at, finished_at, trigger, status, archive, size, databases_ok, databases_skipped, verified, detail";

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<Run>> {
        let mut st = self.conn.prepare(&format!("SELECT {} FROM runs ORDER BY id DESC LIMIT ?1", Self::RUN_COLS))?;
        let rows = st.query_map(params![limit as i64], Self::run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The latest finished run (not "running").
    pub fn last_finished_run(&self) -> Result<Option<Run>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {} FROM runs WHERE status != 'running' ORDER BY id DESC LIMIT 1", Self::RUN_COLS),
                [],
                Self::run_from_row,
            )
            .optional()?)
    }

    /// The run that wrote an archive.
    pub fn run_for_archive(&self, archive: &str) -> Result<Option<Run>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {} FROM runs WHERE archive = ?1 ORDER BY id DESC LIMIT 1", Self::RUN_COLS),
                params![archive],
                Self::run_from_row,
            )
            .optional()?)
    }

    /// Runs by outcome that started at or after `since`.
    pub fn run_counts_since(&self, since: DateTime<Utc>) -> Result<RunCounts> {
        let mut st = self.conn.prepare("SELECT status, COUNT(*) FROM runs WHERE started_at >= ?1 GROUP BY status")?;
        let mut counts = RunCounts::default();
        let rows = st.query_map(params![ts(since)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
        for row in rows {
            let (status, n) = row?;
            match RunStatus::parse(&status) {
                RunStatus::Ok => counts.ok += n,
                RunStatus::Partial => counts.partial += n,
                RunStatus::Failed | RunStatus::Interrupted => counts.failed += n,
                RunStatus::Running => {}
            }
        }
        Ok(counts)
    }

    // ---- database checks -----------------------------------------------

    /// Records one database's result in a run.
    pub fn record_db_check(&self, run_id: Option<i64>, check: &DbCheck) -> Result<()> {
        self.conn.execute(
            "INSERT INTO db_checks (run_id, checked_at, name, ok, detail, size, rows) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run_id,
                ts(check.checked_at),
                check.name,
                check.ok,
                check.detail,
                check.size.map(|s| s as i64),
                check.rows.map(|s| s as i64)
            ],
        )?;
        Ok(())
    }

    /// The latest result of each database, by name.
    pub fn latest_db_checks(&self) -> Result<Vec<DbCheck>> {
        let mut st = self.conn.prepare(
            "SELECT name, checked_at, ok, detail, size, rows FROM db_checks
             WHERE id IN (SELECT MAX(id) FROM db_checks GROUP BY name) ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            Ok(DbCheck {
                name: r.get(0)?,
                checked_at: parse_ts(&r.get::<_, String>(1)?),
                ok: r.get(2)?,
                detail: r.get(3)?,
                size: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
                rows: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- events ----------------------------------------------------------

    /// Appends an event (and mirrors it to tracing is the caller's choice).
    pub fn log_event(&self, level: Level, source: &str, message: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO events (at, level, source, message) VALUES (?1, ?2, ?3, ?4)",
            params![ts(at), level.as_str(), source, message],
        )?;
        Ok(())
    }

    /// Events newest first, skipping `offset`.
    pub fn events(&self, limit: usize, offset: usize) -> Result<Vec<Event>> {
        let mut st = self
            .conn
            .prepare("SELECT id, at, level, source, message FROM events ORDER BY id DESC LIMIT ?1 OFFSET ?2")?;
        let rows = st.query_map(params![limit as i64, offset as i64], |r| {
            Ok(Event {
                id: r.get(0)?,
                at: parse_ts(&r.get::<_, String>(1)?),
                level: Level::parse(&r.get::<_, String>(2)?),
                source: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes events older than `before` (keeps the table small).
    pub fn prune_events(&self, before: DateTime<Utc>) -> Result<usize> {
        Ok(self.conn.execute("DELETE FROM events WHERE at < ?1", params![ts(before)])?)
    }

    // ---- heartbeat -------------------------------------------------------

    /// Writes a heartbeat for `hb.process`.
    pub fn beat(&self, hb: &Heartbeat) -> Result<()> {
        self.conn.execute(
            "INSERT INTO heartbeats (process, pid, at, state, stale_after_secs, next_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(process) DO UPDATE SET pid = ?2, at = ?3, state = ?4, stale_after_secs = ?5, next_run = ?6",
            params![hb.process, hb.pid, ts(hb.at), hb.state, hb.stale_after_secs as i64, hb.next_run.map(ts)],
        )?;
        Ok(())
    }

    /// The heartbeat of a process.
    pub fn heartbeat(&self, process: &str) -> Result<Option<Heartbeat>> {
        Ok(self
            .conn
            .query_row(
                "SELECT process, pid, at, state, stale_after_secs, next_run FROM heartbeats WHERE process = ?1",
                params![process],
                |r| {
                    Ok(Heartbeat {
                        process: r.get(0)?,
                        pid: r.get(1)?,
                        at: parse_ts(&r.get::<_, String>(2)?),
                        state: r.get(3)?,
                        stale_after_secs: r.get::<_, i64>(4)? as u64,
                        next_run: opt_ts(r.get(5)?),
                    })
                },
            )
            .optional()?)
    }

    // ---- delivery outbox ---------------------------------------------------

    /// Adds one pending row per (file, chat). Files are `(file_name, part,
    /// parts)`. Rows that exist already are left as they are.
    pub fn enqueue_deliveries(
        &self,
        archive: &str,
        files: &[(String, u32, u32)],
        chats: &[i64],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT OR IGNORE INTO deliveries (archive, file_name, part, parts, chat_id, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
            )?;
            for (file_name, part, parts) in files {
                for chat in chats {
                    st.execute(params![archive, file_name, part, parts, chat, ts(at)])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
        Ok(Delivery {
            id: r.get(0)?,
            archive: r.get(1)?,
            file_name: r.get(2)?,
            part: r.get(3)?,
            parts: r.get(4)?,
            chat_id: r.get(5)?,
            status: DeliveryStatus::parse(&r.get::<_, String>(6)?),
            attempts: r.get(7)?,
            last_error: r.get(8)?,
            file_id: r.get(9)?,
            message_id: r.get(10)?,
            created_at: parse_ts(&r.get::<_, String>(11)?),
            updated_at: parse_ts(&r.get::<_, String>(12)?),
        })
    }

    const DELIVERY_COLS: &'static str = "id, archive, file_name, part, parts, chat_id, status, attempts, last_error, file_id, message_id, created_at, updated_at";

    /// Pending rows, oldest archive first, parts in order.
    pub fn pending_deliveries(&self) -> Result<Vec<Delivery>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {} FROM deliveries WHERE status = 'pending' ORDER BY archive, part, chat_id",
            Self::DELIVERY_COLS
        ))?;
        let rows = st.query_map([], Self::delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every row of an archive.
    pub fn deliveries_for(&self, archive: &str) -> Result<Vec<Delivery>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {} FROM deliveries WHERE archive = ?1 ORDER BY part, chat_id",
            Self::DELIVERY_COLS
        ))?;
        let rows = st.query_map(params![archive], Self::delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Confirmed by Telegram. Also marks this chat's older pending rows
    /// superseded once every part of this archive reached it.
    pub fn mark_delivered(&self, id: i64, file_id: &str, message_id: i64, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, file_id = ?2, message_id = ?3,
             last_error = NULL, updated_at = ?4 WHERE id = ?1",
            params![id, file_id, message_id, ts(at)],
        )?;
        let (archive, chat): (String, i64) =
            tx.query_row("SELECT archive, chat_id FROM deliveries WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let remaining: i64 = tx.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE archive = ?1 AND chat_id = ?2 AND status != 'delivered'",
            params![archive, chat],
            |r| r.get(0),
        )?;
        if remaining == 0 {
            tx.execute(
                "UPDATE deliveries SET status = 'superseded', updated_at = ?3
                 WHERE chat_id = ?1 AND archive < ?2 AND status = 'pending'",
                params![chat, archive, ts(at)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// An attempt failed. `permanent` ends the row (not retried).
    pub fn mark_failed(&self, id: i64, error: &str, permanent: bool, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE deliveries SET status = ?2, attempts = attempts + 1, last_error = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, if permanent { "failed" } else { "pending" }, error, ts(at)],
        )?;
        Ok(())
    }

    /// Remembers the file_id of an uploaded file on every row of it that has
    /// none, so re-sends need no upload.
    pub fn remember_file_id(&self, file_name: &str, file_id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE deliveries SET file_id = ?2 WHERE file_name = ?1 AND file_id IS NULL",
            params![file_name, file_id],
        )?;
        Ok(())
    }

    /// A known file_id of a file, if it was ever uploaded.
    pub fn file_id_for(&self, file_name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT file_id FROM deliveries WHERE file_name = ?1 AND file_id IS NOT NULL LIMIT 1",
                params![file_name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Archives that still have pending rows (retention keeps them).
    pub fn archives_awaiting_delivery(&self) -> Result<Vec<String>> {
        let mut st =
            self.conn.prepare("SELECT DISTINCT archive FROM deliveries WHERE status = 'pending' ORDER BY archive")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Chats that received every part of an archive.
    pub fn delivered_chats(&self, archive: &str) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare(
            "SELECT chat_id FROM deliveries WHERE archive = ?1 GROUP BY chat_id
             HAVING SUM(status != 'delivered') = 0 ORDER BY chat_id",
        )?;
        let rows = st.query_map(params![archive], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Each chat's latest delivery outcome.
    pub fn admin_health(&self) -> Result<Vec<AdminHealth>> {
        let mut st = self.conn.prepare(
            "SELECT d.chat_id, d.status, d.last_error, d.updated_at,
                    (SELECT MAX(updated_at) FROM deliveries x WHERE x.chat_id = d.chat_id AND x.status = 'delivered')
             FROM deliveries d
             WHERE d.id = (SELECT id FROM deliveries y WHERE y.chat_id = d.chat_id AND y.status != 'superseded'
                           ORDER BY y.updated_at DESC, y.id DESC LIMIT 1)
             ORDER BY d.chat_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(AdminHealth {
                chat_id: r.get(0)?,
                status: DeliveryStatus::parse(&r.get::<_, String>(1)?),
                last_error: r.get(2)?,
                updated_at: parse_ts(&r.get::<_, String>(3)?),
                last_delivered_at: opt_ts(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops outbox rows of archives that no longer exist.
    pub fn forget_archive(&self, archive: &str) -> Result<()> {
        self.conn.execute("DELETE FROM deliveries WHERE archive = ?1 AND status != 'pending'", params![archive])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    fn open() -> (tempfile::TempDir, State) {
        let d = tempfile::tempdir().unwrap();
        let s = State::open(&d.path().join("x/state.db")).unwrap();
        (d, s)
    }

    #[test]
    fn runs_round_trip_and_count() {
        let (_d, s) = open();
        let a = s.begin_run("scheduled", t(1, 0)).unwrap();
        s.finish_run(
            a,
            RunStatus::Ok,
            &RunEnd {
                archive: Some("a.zip".into()),
                size: Some(10),
                databases_ok: 5,
                verified: true,
                ..Default::default()
            },
            t(1, 1),
        )
        .unwrap();
        let b = s.begin_run("manual", t(2, 0)).unwrap();
        s.finish_run(
            b,
            RunStatus::Partial,
            &RunEnd { databases_ok: 4, databases_skipped: 1, ..Default::default() },
            t(2, 1),
        )
        .unwrap();
        let _c = s.begin_run("scheduled", t(3, 0)).unwrap();
        assert_eq!(s.runs(10).unwrap().len(), 3);
        assert_eq!(s.last_finished_run().unwrap().unwrap().id, b);
        assert_eq!(s.run_counts_since(t(0, 0)).unwrap(), RunCounts { ok: 1, partial: 1, failed: 0 });
        assert_eq!(s.close_abandoned_runs(t(4, 0)).unwrap(), 1);
        assert_eq!(s.run_counts_since(t(0, 0)).unwrap().failed, 1);
        assert_eq!(s.run_for_archive("a.zip").unwrap().unwrap().size, Some(10));
    }

    #[test]
    fn outbox_lifecycle_and_superseding() {
        let (_d, s) = open();
        s.enqueue_deliveries("a.zip", &[("a.zip".into(), 1, 1)], &[1, 2], t(1, 0)).unwrap();
        s.enqueue_deliveries("b.zip", &[("b.zip".into(), 1, 1)], &[1, 2], t(2, 0)).unwrap();
        // Enqueuing again changes nothing.
        s.enqueue_deliveries("b.zip", &[("b.zip".into(), 1, 1)], &[1, 2], t(2, 0)).unwrap();
        assert_eq!(s.pending_deliveries().unwrap().len(), 4);
        let b1 = s.deliveries_for("b.zip").unwrap().into_iter().find(|d| d.chat_id == 1).unwrap();
        s.mark_delivered(b1.id, "FID", 7, t(2, 1)).unwrap();
        // a.zip to chat 1 is superseded by b.zip.
        let pending = s.pending_deliveries().unwrap();
        assert_eq!(pending.iter().filter(|d| d.chat_id == 1).count(), 0);
        assert_eq!(s.file_id_for("b.zip").unwrap().as_deref(), Some("FID"));
        let b2 = s.deliveries_for("b.zip").unwrap().into_iter().find(|d| d.chat_id == 2).unwrap();
        s.mark_failed(b2.id, "Forbidden: bot was blocked by the user", true, t(2, 2)).unwrap();
        assert_eq!(s.delivered_chats("b.zip").unwrap(), vec![1]);
        assert_eq!(s.archives_awaiting_delivery().unwrap(), vec!["a.zip".to_string()]);
        let health = s.admin_health().unwrap();
        assert_eq!(health.len(), 2);
        assert_eq!(health[0].status, DeliveryStatus::Delivered);
        assert_eq!(health[1].status, DeliveryStatus::Failed);
        assert!(health[1].last_error.as_deref().unwrap().contains("blocked"));
    }

    #[test]
    fn events_newest_first_and_heartbeat_state() {
        let (_d, s) = open();
        for i in 0..5 {
            s.log_event(Level::Info, "test", &format!("e{i}"), t(1, i)).unwrap();
        }
        let ev = s.events(2, 1).unwrap();
        assert_eq!(ev.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["e3", "e2"]);
        assert_eq!(scheduler_state(None, t(1, 0)), SchedulerState::Unknown);
        let hb = Heartbeat {
            process: "scheduler".into(),
            pid: 1,
            at: t(1, 0),
            state: "idle".into(),
            stale_after_secs: 120,
            next_run: Some(t(2, 0)),
        };
        s.beat(&hb).unwrap();
        let got = s.heartbeat("scheduler").unwrap().unwrap();
        assert_eq!(got, hb);
        assert_eq!(scheduler_state(Some(&got), t(1, 1)), SchedulerState::Running);
        assert_eq!(scheduler_state(Some(&got), t(1, 3)), SchedulerState::Stopped);
    }
}
