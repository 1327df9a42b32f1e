//! The state database shared by the binaries (SQLite, WAL): runs, database
//! checks, the delivery outbox, events and heartbeats, one module each.
//!
//! Every write is one short transaction, so the scheduler, the dashboard and
//! the CLI can use it at once. Times are stored as RFC 3339 UTC text; every
//! function that needs "now" takes it as an argument. The schema grows by
//! numbered migrations recorded in `PRAGMA user_version`. A row that does not
//! parse (an unknown status, a bad time) is an error naming its table and
//! key, never silently read as something else.

mod continuous;
mod events;
mod heartbeat;
mod incidents;
mod manifests;
mod outbox;
mod page_hashes;
mod pins;
mod runs;
mod telegram;
mod verifications;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

pub use continuous::{CapturePosition, UploadPosition};
pub use events::{Event, Level};
pub use heartbeat::{Heartbeat, HeartbeatState, Process, SchedulerState, scheduler_state, scheduler_state_here};
pub use incidents::{Incident, IncidentKind};
pub use outbox::{Copy, FailureCode, OutboxStatus};
pub use pins::{Acknowledged, Pin, PinOrigin};
pub use runs::{DbCheck, Run, RunCounts, RunEnd, RunStatus};
pub use telegram::{AdminHealth, Delivery};
pub use verifications::{CANNOT_OPEN_HERE, Verification};

/// Failures of the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Opening or creating it.
    #[error("cannot open the state database {path}: {source}; check that the folder is writable by this user")]
    Open { path: PathBuf, source: rusqlite::Error },
    /// Creating its folder.
    #[error("cannot create the state folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    /// A query, or a row that does not parse.
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Opening it failed because its disk is full (SQLite then often says
    /// only "disk I/O error", which sends people looking in the wrong place).
    #[error("no space left on the disk holding the state database {path} ({cause}); free space there, then run again")]
    DiskFull {
        path: PathBuf,
        /// What SQLite said.
        cause: rusqlite::Error,
    },
    /// Written by a newer Lifeboat: this one would not understand it.
    #[error(
        "the state database {path} has schema version {found}, newer than this Lifeboat knows ({known}); upgrade Lifeboat"
    )]
    TooNew {
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

type Result<T, E = StateError> = std::result::Result<T, E>;

/// The schema, one step per version: `MIGRATIONS[n]` takes `user_version`
/// from `n` to `n + 1`. Version 1 is the schema from before migrations were
/// numbered, hence `IF NOT EXISTS`: a database made then is at version 0 but
/// already has its tables.
const MIGRATIONS: &[&str] = &[
    r#"
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
    process TEXT PRIMARY KEY,        -- scheduler | dashboard
    pid INTEGER NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,             -- idle | running | stopped
    stale_after_secs INTEGER NOT NULL,
    next_run TEXT
);
"#,
    // Why a delivery failed, as a code the cycle and the dashboard match on
    // (see `FailureCode`); `last_error` keeps the words.
    "ALTER TABLE deliveries ADD COLUMN error_code TEXT;",
    // Conditions that need people (see `incidents.rs`). At most one open
    // incident per kind, enforced here, so two watchers racing to open the
    // same one cannot both alert.
    r#"
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,              -- stale | scheduler-silent | deliveries-stuck | disk-low
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    detail TEXT NOT NULL
);
CREATE UNIQUE INDEX incidents_one_open ON incidents(kind) WHERE closed_at IS NULL;
"#,
    // Archives retention must keep whatever its rules say (see `pins.rs`).
    r#"
CREATE TABLE pins (
    archive TEXT PRIMARY KEY,        -- logical archive name
    pinned_at TEXT NOT NULL,
    reason TEXT NOT NULL
);
"#,
    // The last time each stored archive was read back in full (see
    // `verifications.rs`): bit rot is found while good copies exist.
    r#"
CREATE TABLE verifications (
    archive TEXT PRIMARY KEY,        -- logical archive name
    verified_at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL             -- "ok" or what failed
);
"#,
    // A copy of each stored archive's manifest (see `manifests.rs`): what an
    // age-sealed archive holds is known without its private key.
    r#"
CREATE TABLE manifests (
    archive TEXT PRIMARY KEY,        -- logical archive name
    manifest TEXT NOT NULL           -- manifest.json as written into the archive
);
"#,
    // The outbox of off-site stores (since moved into `outbox`, below): one row per
    // (archive, destination); a store has no recipients.
    r#"
CREATE TABLE copies (
    archive TEXT NOT NULL,           -- logical archive name, also the object's name
    destination TEXT NOT NULL,       -- e.g. "s3:offsite"
    status TEXT NOT NULL,            -- pending | delivered | failed | retired
    attempts INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    last_error TEXT,
    size INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (archive, destination)
);
"#,
    // Parts a destination confirmed of a copy still pending: an archive sent
    // as several messages resumes after them.
    "ALTER TABLE copies ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;",
    // Who made each pin: a shrink alert's "Acknowledge" may remove only the
    // pin that alert made, never one made by hand. Older pins are taken as
    // made by hand, the side that keeps the archive.
    "ALTER TABLE pins ADD COLUMN origin TEXT NOT NULL DEFAULT 'hand';",
    // Where the continuous capture of each SQLite database stands (see
    // `continuous.rs`); the increments themselves are files in output_dir.
    r#"
CREATE TABLE continuous (
    database TEXT PRIMARY KEY,       -- name in backup.databases
    generation INTEGER NOT NULL,     -- chain number; a new one starts with a full image
    seq INTEGER NOT NULL,            -- the last increment written in it
    chain_hash TEXT NOT NULL,        -- sha256 of that increment (hex)
    file_id TEXT NOT NULL,           -- device:inode of the database file it follows
    db_stamp TEXT NOT NULL,          -- what tells an idle database from a changed one (see capture.rs)
    page_size INTEGER NOT NULL,
    db_pages INTEGER NOT NULL,       -- the database's size in pages after it
    salt1 INTEGER NOT NULL,          -- the -wal read, and how far (see wal.rs)
    salt2 INTEGER NOT NULL,
    checkpoint_seq INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    checksum1 INTEGER NOT NULL,
    checksum2 INTEGER NOT NULL,
    captured_at TEXT NOT NULL,       -- when the last increment was read
    checked_at TEXT NOT NULL         -- when the database was last read in full up to its last commit
);
"#,
    // The SHA-256 of each page of each database in a full archive (see
    // `page_hashes.rs`): a differential against it needs to know only which
    // pages changed, so it can be made where the archive cannot be read.
    r#"
CREATE TABLE page_hashes (
    archive TEXT NOT NULL,           -- logical name of the full archive
    entry TEXT NOT NULL,             -- the database's entry in it
    sha256 TEXT NOT NULL,            -- the whole copy's, as in its manifest
    size INTEGER NOT NULL,           -- the copy's bytes
    block INTEGER NOT NULL,          -- bytes a page
    hashes BLOB NOT NULL,            -- 32 bytes a page, in order
    PRIMARY KEY (archive, entry)
);
"#,
    // Continuous increments and the off-site stores (see `continuous.rs`):
    // how far each store has copied each database's increments, the
    // increments local retention removed that a store still holds, and the
    // lowest chain number a new chain may take (past the chains a store
    // holds that were fetched from it).
    r#"
CREATE TABLE continuous_uploads (
    destination TEXT NOT NULL,       -- e.g. "s3:offsite"
    database TEXT NOT NULL,          -- name in backup.databases
    generation INTEGER NOT NULL,     -- the last increment copied: its chain
    seq INTEGER NOT NULL,            -- and its number in it
    updated_at TEXT NOT NULL,
    PRIMARY KEY (destination, database)
);
CREATE TABLE continuous_retired (
    destination TEXT NOT NULL,
    database TEXT NOT NULL,
    file TEXT NOT NULL,              -- the increment's file name, also its object's last key segment
    PRIMARY KEY (destination, database, file)
);
CREATE TABLE continuous_next_generation (
    database TEXT PRIMARY KEY,
    generation INTEGER NOT NULL      -- a new chain takes at least this number
);
"#,
    // One outbox for every destination (see `outbox.rs`): the rows of
    // `deliveries` (Telegram's, one per file and chat) and of `copies` (one
    // per archive and store) move into it, keyed by archive, destination
    // and unit: a recipient and a part for Telegram, the archive as a whole
    // ('' and 0) for the others. What only Telegram reads moves into its
    // own table (see `telegram.rs`).
    r#"
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    archive TEXT NOT NULL,           -- logical archive name
    destination TEXT NOT NULL,       -- e.g. "telegram", "s3:offsite"
    recipient TEXT NOT NULL DEFAULT '', -- who there, where each is owed it on its own (a chat id); '' otherwise
    part INTEGER NOT NULL DEFAULT 0, -- which file of the archive (1-based), where each counts on its own; 0: all of it
    status TEXT NOT NULL,            -- pending | delivered | failed | superseded | retired
    attempts INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,                 -- why the last attempt failed, as a code
    last_error TEXT,                 -- the same in words
    size INTEGER,                    -- bytes the destination confirmed
    progress INTEGER NOT NULL DEFAULT 0, -- parts confirmed of an archive still pending
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (archive, destination, recipient, part)
);
CREATE INDEX outbox_status ON outbox(status);
CREATE TABLE telegram_files (
    outbox_id INTEGER PRIMARY KEY,   -- the outbox row
    file_name TEXT NOT NULL,         -- the file sent: the .zip or a .zip.NNN part
    parts INTEGER NOT NULL,
    file_id TEXT,                    -- Telegram's id of the file once uploaded
    message_id INTEGER               -- the message that delivered it
);
CREATE INDEX telegram_files_name ON telegram_files(file_name);
INSERT INTO outbox (id, archive, destination, recipient, part, status, attempts, error_code, last_error,
                    created_at, updated_at)
    SELECT id, archive, 'telegram', CAST(chat_id AS TEXT), part, status, attempts, error_code, last_error,
           created_at, updated_at
    FROM deliveries;
INSERT INTO telegram_files (outbox_id, file_name, parts, file_id, message_id)
    SELECT id, file_name, parts, file_id, message_id FROM deliveries;
INSERT INTO outbox (archive, destination, status, attempts, error_code, last_error, size, progress,
                    created_at, updated_at)
    SELECT archive, destination, status, attempts, error_code, last_error, size, progress, created_at, updated_at
    FROM copies;
DROP TABLE deliveries;
DROP TABLE copies;
"#,
];

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

impl State {
    /// Opens (creating if needed) the state database at `path`, in WAL mode,
    /// and brings its schema up to date.
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
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "wal").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "normal").map_err(open_err)?;
        migrate(&mut conn, path).map_err(|e| match e {
            StateError::Sql(source) => open_err(source),
            e => e,
        })?;
        Ok(State { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Local retention removed `archive`: what the state database keeps
    /// of it goes with it (Telegram's rows of it, when it was last read
    /// back, the copy of its manifest, its page hashes), and each whole
    /// copy of it at a destination is retired, for that destination to
    /// delete. One transaction: a crash leaves all of it or none.
    pub fn archive_removed(&self, archive: &str, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        self.forget_telegram_rows(archive)?;
        self.retire_copies(archive, at)?;
        for table in ["verifications", "manifests", "page_hashes"] {
            tx.execute(&format!("DELETE FROM {table} WHERE archive = ?1"), rusqlite::params![archive])?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Applies the migrations this database has not seen, each in its own
/// transaction with the version bump, so two processes opening a fresh
/// database at once cannot apply one twice.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > known {
            return Err(StateError::TooNew { path: path.to_path_buf(), found: version, known });
        }
        if version == known {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A row's value that does not parse, as an error naming the table, the
/// row's key and the column.
fn bad_value(table: &str, key: impl std::fmt::Display, column: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{table} row {key}: column {column} holds {value:?}, which this Lifeboat does not know").into(),
    )
}

/// Reads a time column.
fn time_at(r: &rusqlite::Row<'_>, idx: usize, table: &str, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = r.get(idx)?;
    parse_time(r, &text, table, column)
}

/// Reads an optional time column.
fn opt_time_at(
    r: &rusqlite::Row<'_>,
    idx: usize,
    table: &str,
    column: &str,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = r.get(idx)?;
    text.map(|t| parse_time(r, &t, table, column)).transpose()
}

fn parse_time(r: &rusqlite::Row<'_>, text: &str, table: &str, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad_value(table, row_key(r), column, text))
}

/// The first column of a row (its id or key), for naming it in errors.
fn row_key(r: &rusqlite::Row<'_>) -> String {
    match r.get_ref(0) {
        Ok(rusqlite::types::ValueRef::Integer(i)) => i.to_string(),
        Ok(rusqlite::types::ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
        _ => "?".to_string(),
    }
}

/// Reads a text column as one of an enum's stored forms, naming the row
/// when the text is none of them.
fn parsed<T: FromStr>(r: &rusqlite::Row<'_>, idx: usize, table: &str, column: &str) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    text.parse().map_err(|_| bad_value(table, row_key(r), column, &text))
}

/// [`parsed`] for a column that may be NULL.
fn opt_parsed<T: FromStr>(r: &rusqlite::Row<'_>, idx: usize, table: &str, column: &str) -> rusqlite::Result<Option<T>> {
    match r.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| bad_value(table, row_key(r), column, &text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutboxStatus as CopyStatus;
    use OutboxStatus as DeliveryStatus;

    /// Asserts each value's stored form, and that the form reads back as it.
    fn stored_forms<T>(pairs: &[(T, &str)], as_str: fn(T) -> &'static str)
    where
        T: std::marker::Copy + PartialEq + std::fmt::Debug + FromStr,
    {
        for &(value, text) in pairs {
            assert_eq!(as_str(value), text);
            assert_eq!(text.parse::<T>().ok(), Some(value), "{text}");
        }
    }

    /// The stored forms are in databases already: they never change.
    #[test]
    fn stored_forms_are_fixed() {
        use crate::manifest::Trigger;
        stored_forms(&[(Process::Scheduler, "scheduler")], Process::as_str);
        stored_forms(
            &[
                (HeartbeatState::Idle, "idle"),
                (HeartbeatState::Running, "running"),
                (HeartbeatState::Stopped, "stopped"),
                (HeartbeatState::Timer, "timer"),
            ],
            HeartbeatState::as_str,
        );
        stored_forms(&[(PinOrigin::Hand, "hand"), (PinOrigin::ShrinkAlert, "shrink-alert")], PinOrigin::as_str);
        stored_forms(&[(Level::Info, "info"), (Level::Warn, "warn"), (Level::Error, "error")], Level::as_str);
        stored_forms(
            &[
                (RunStatus::Running, "running"),
                (RunStatus::Ok, "ok"),
                (RunStatus::Partial, "partial"),
                (RunStatus::Failed, "failed"),
                (RunStatus::Interrupted, "interrupted"),
                (RunStatus::Unchanged, "unchanged"),
            ],
            RunStatus::as_str,
        );
        stored_forms(
            &[
                (DeliveryStatus::Pending, "pending"),
                (DeliveryStatus::Delivered, "delivered"),
                (DeliveryStatus::Failed, "failed"),
                (DeliveryStatus::Superseded, "superseded"),
            ],
            DeliveryStatus::as_str,
        );
        stored_forms(
            &[
                (FailureCode::NeverStarted, "never-started"),
                (FailureCode::Blocked, "blocked"),
                (FailureCode::Kicked, "kicked"),
                (FailureCode::Deactivated, "deactivated"),
                (FailureCode::BotRecipient, "bot-recipient"),
                (FailureCode::ChatNotFound, "chat-not-found"),
                (FailureCode::Migrated, "migrated"),
                (FailureCode::NotRecipient, "not-recipient"),
                (FailureCode::FileTooLarge, "file-too-large"),
                (FailureCode::FileUnreadable, "file-unreadable"),
                (FailureCode::BadCredentials, "bad-credentials"),
                (FailureCode::Transient, "transient"),
                (FailureCode::Refused, "refused"),
                (FailureCode::BaseMissing, "base-missing"),
            ],
            FailureCode::as_str,
        );
        stored_forms(
            &[
                (IncidentKind::Stale, "stale"),
                (IncidentKind::SchedulerSilent, "scheduler-silent"),
                (IncidentKind::DeliveriesStuck, "deliveries-stuck"),
                (IncidentKind::DiskLow, "disk-low"),
                (IncidentKind::ArchiveCorrupt, "archive-corrupt"),
                (IncidentKind::ContinuousLag, "continuous-lag"),
                (IncidentKind::ChainMismatch, "chain-mismatch"),
            ],
            IncidentKind::as_str,
        );
        stored_forms(
            &[
                (CopyStatus::Pending, "pending"),
                (CopyStatus::Delivered, "delivered"),
                (CopyStatus::Failed, "failed"),
                (CopyStatus::Retired, "retired"),
            ],
            CopyStatus::as_str,
        );
        stored_forms(
            &[(OutboxStatus::Superseded, "superseded"), (OutboxStatus::Retired, "retired")],
            OutboxStatus::as_str,
        );
        stored_forms(
            &[
                (Trigger::Scheduled, "scheduled"),
                (Trigger::Manual, "manual"),
                (Trigger::Dashboard, "dashboard"),
                (Trigger::Demo, "demo"),
                (Trigger::PreRestore, "pre-restore"),
            ],
            Trigger::as_str,
        );
        assert_eq!(Trigger::PreRestore.to_string(), "pre-restore");
        assert!("Manual".parse::<Trigger>().is_err(), "stored forms are matched exactly");
        let shown = [
            SchedulerState::Running,
            SchedulerState::Timer,
            SchedulerState::Stopped,
            SchedulerState::Died,
            SchedulerState::Unknown,
        ]
        .map(SchedulerState::as_str);
        assert_eq!(shown, ["Running", "Timer", "Stopped", "Died", "Unknown"]);
    }

    #[test]
    fn migrations_run_once_and_old_databases_are_upgraded() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("state.db");
        // A database from before numbered migrations: version 0, tables there.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.execute(
            "INSERT INTO deliveries (archive, file_name, part, parts, chat_id, status, created_at, updated_at)
             VALUES ('a.zip', 'a.zip', 1, 1, 7, 'pending', '2026-11-22T01:00:00.000Z', '2026-11-22T01:00:00.000Z')",
            [],
        )
        .unwrap();
        drop(c);
        let s = State::open(&path).unwrap();
        let v: i64 = s.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        assert_eq!(s.pending_deliveries().unwrap().len(), 1, "old rows kept");
        drop(s);
        State::open(&path).unwrap();

        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let err = State::open(&path).unwrap_err().to_string();
        assert!(err.contains("newer") && err.contains("99"), "{err}");
    }

    /// A database from before the one outbox: Telegram's rows in
    /// `deliveries`, the stores' in `copies`, written as that version did.
    fn database_before_one_outbox(path: &Path) {
        let c = Connection::open(path).unwrap();
        let before = MIGRATIONS.len() - 1;
        for step in &MIGRATIONS[..before] {
            c.execute_batch(step).unwrap();
        }
        c.pragma_update(None, "user_version", before as i64).unwrap();
        c.execute_batch(
            "INSERT INTO deliveries (id, archive, file_name, part, parts, chat_id, status, attempts, error_code,
                                     last_error, file_id, message_id, created_at, updated_at) VALUES
             (1, 'old.zip', 'old.zip', 1, 1, 9, 'failed', 2, 'blocked', 'Forbidden: bot was blocked by the user',
              NULL, NULL, '2026-11-21T01:00:00.000Z', '2026-11-21T01:05:00.000Z'),
             (2, 'new.zip', 'new.zip.001', 1, 2, 7, 'delivered', 1, NULL, NULL, 'FID1', 11,
              '2026-11-22T01:00:00.000Z', '2026-11-22T01:01:00.000Z'),
             (3, 'new.zip', 'new.zip.001', 1, 2, 8, 'pending', 1, 'transient', 'timed out', 'FID1', NULL,
              '2026-11-22T01:00:00.000Z', '2026-11-22T01:02:00.000Z'),
             (4, 'new.zip', 'new.zip.002', 2, 2, 7, 'pending', 0, NULL, NULL, NULL, NULL,
              '2026-11-22T01:00:00.000Z', '2026-11-22T01:00:00.000Z'),
             (5, 'new.zip', 'new.zip.002', 2, 2, 8, 'pending', 0, NULL, NULL, NULL, NULL,
              '2026-11-22T01:00:00.000Z', '2026-11-22T01:00:00.000Z');
             INSERT INTO copies (archive, destination, status, attempts, error_code, last_error, size, progress,
                                 created_at, updated_at) VALUES
             ('new.zip', 's3:offsite', 'pending', 1, 'transient', 'connection reset', NULL, 2,
              '2026-11-22T01:00:00.000Z', '2026-11-22T01:03:00.000Z'),
             ('old.zip', 's3:offsite', 'retired', 1, NULL, NULL, 42,
              0, '2026-11-21T01:00:00.000Z', '2026-11-22T01:00:00.000Z');",
        )
        .unwrap();
    }

    #[test]
    fn the_outbox_of_before_moves_into_the_one_outbox_and_nothing_owed_is_lost() {
        use crate::destination::DestinationId;
        use tests_support::t;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("state.db");
        database_before_one_outbox(&path);
        let s = State::open(&path).unwrap();

        // Telegram's rows read back as they were, file ids and all.
        let row = |d: &Delivery| {
            (d.file_name.clone(), d.part, d.parts, d.chat_id, d.status, d.attempts, d.error_code, d.file_id.clone())
        };
        let old = s.deliveries_for("old.zip").unwrap();
        assert_eq!(
            old.iter().map(row).collect::<Vec<_>>(),
            [("old.zip".into(), 1, 1, 9, OutboxStatus::Failed, 2, Some(FailureCode::Blocked), None)]
        );
        assert_eq!(old[0].last_error.as_deref(), Some("Forbidden: bot was blocked by the user"));
        let new = s.deliveries_for("new.zip").unwrap();
        let fid = Some("FID1".to_string());
        assert_eq!(
            new.iter().map(row).collect::<Vec<_>>(),
            [
                ("new.zip.001".into(), 1, 2, 7, OutboxStatus::Delivered, 1, None, fid.clone()),
                ("new.zip.001".into(), 1, 2, 8, OutboxStatus::Pending, 1, Some(FailureCode::Transient), fid.clone()),
                ("new.zip.002".into(), 2, 2, 7, OutboxStatus::Pending, 0, None, None),
                ("new.zip.002".into(), 2, 2, 8, OutboxStatus::Pending, 0, None, None),
            ]
        );
        assert_eq!((new[0].message_id, new[1].last_error.as_deref()), (Some(11), Some("timed out")));
        assert_eq!(new[1].updated_at, t(1, 2));

        // The stores' rows too, progress and all.
        let offsite = DestinationId::s3("offsite");
        let pending = s.copies(&offsite, OutboxStatus::Pending).unwrap();
        assert_eq!(pending.len(), 1);
        let p = &pending[0];
        assert_eq!(
            (p.archive.as_str(), p.attempts, p.error_code, p.last_error.as_deref(), p.progress),
            ("new.zip", 1, Some(FailureCode::Transient), Some("connection reset"), 2)
        );
        let retired = s.copies(&offsite, OutboxStatus::Retired).unwrap();
        assert_eq!((retired[0].archive.as_str(), retired[0].size), ("old.zip", Some(42)));
        assert_eq!(s.archives_awaiting_delivery().unwrap(), ["new.zip"]);
        assert_eq!(
            s.delivery_counts().unwrap(),
            [(OutboxStatus::Delivered, 1), (OutboxStatus::Failed, 1), (OutboxStatus::Pending, 3)]
        );

        // What is owed still goes: the part already uploaded by its file id.
        assert_eq!(s.pending_deliveries().unwrap().len(), 3);
        assert_eq!(s.file_id_for("new.zip.001").unwrap(), fid);
        for (i, d) in s.pending_deliveries().unwrap().into_iter().enumerate() {
            s.mark_delivered(d.id, "FID", 20 + i as i64, t(2, 0)).unwrap();
        }
        assert_eq!(s.delivered_chats("new.zip").unwrap(), [7, 8]);
        s.mark_copied("new.zip", &offsite, 1000, t(2, 0)).unwrap();
        assert!(s.archives_awaiting_delivery().unwrap().is_empty());
        s.forget_copy("old.zip", &offsite).unwrap();
        assert!(s.copies_of("old.zip").unwrap().is_empty());
        // Enqueued anew, rows get fresh ids past the moved ones.
        s.enqueue_deliveries("next.zip", &[("next.zip".into(), 1, 1)], &[7], t(3, 0)).unwrap();
        assert_eq!(s.pending_deliveries().unwrap()[0].file_name, "next.zip");
    }

    #[test]
    fn a_row_that_does_not_parse_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let s = State::open(&d.path().join("state.db")).unwrap();
        s.conn
            .execute(
                "INSERT INTO runs (started_at, trigger, status) VALUES ('2026-11-22T01:00:00.000Z', 'scheduled', 'exploded')",
                [],
            )
            .unwrap();
        let err = s.runs(10).unwrap_err().to_string();
        assert!(err.contains("runs row 1") && err.contains("status") && err.contains("exploded"), "{err}");
        s.conn.execute("UPDATE runs SET status = 'ok', started_at = 'yesterday'", []).unwrap();
        let err = s.runs(10).unwrap_err().to_string();
        assert!(err.contains("runs row 1") && err.contains("started_at") && err.contains("yesterday"), "{err}");
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use chrono::{DateTime, TimeZone, Utc};

    use super::State;

    pub fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    pub fn open() -> (tempfile::TempDir, State) {
        let d = tempfile::tempdir().unwrap();
        let s = State::open(&d.path().join("x/state.db")).unwrap();
        (d, s)
    }
}
