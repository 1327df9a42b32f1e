//! SQLite helpers for tests: databases with a cross-table invariant, a
//! continuous writer that keeps it (and records whether it was ever held up
//! with `SQLITE_BUSY`), and corrupting files on purpose.
//!
//! The schema is a tiny ledger: every `payments` row moves `amount` into an
//! account, and `balances.balance` is kept equal to the sum of that
//! account's payments in the same transaction. A snapshot that is torn (half
//! of a transaction) breaks [`check_invariant`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

/// Journal mode of a test database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Wal,
    /// Rollback journal, deleted after each transaction (SQLite's default).
    Delete,
}

impl Mode {
    /// The `PRAGMA journal_mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Wal => "wal",
            Mode::Delete => "delete",
        }
    }
}

/// Accounts in a ledger made by [`create_ledger`].
pub const ACCOUNTS: i64 = 16;

/// Creates a ledger database at `path` in `mode` with `payments` rows spread
/// over [`ACCOUNTS`] accounts; each payment carries `note_bytes` of filler
/// text so the file has a realistic size.
pub fn create_ledger(path: &Path, mode: Mode, payments: u64, note_bytes: usize) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", mode.as_str())?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS payments (
             id INTEGER PRIMARY KEY, account INTEGER NOT NULL, amount INTEGER NOT NULL, note TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS payments_account ON payments(account);
         CREATE TABLE IF NOT EXISTS balances (account INTEGER PRIMARY KEY, balance INTEGER NOT NULL);",
    )?;
    let tx = conn.transaction()?;
    {
        let mut bal = tx.prepare("INSERT OR IGNORE INTO balances (account, balance) VALUES (?1, 0)")?;
        for a in 0..ACCOUNTS {
            bal.execute([a])?;
        }
        let mut pay = tx.prepare("INSERT INTO payments (account, amount, note) VALUES (?1, ?2, ?3)")?;
        let mut upd = tx.prepare("UPDATE balances SET balance = balance + ?2 WHERE account = ?1")?;
        let mut rng = Lcg::new(payments ^ 0x5eed);
        for _ in 0..payments {
            let account = (rng.next() % ACCOUNTS as u64) as i64;
            let amount = (rng.next() % 10_000) as i64 + 1;
            pay.execute(params![account, amount, rng.text(note_bytes)])?;
            upd.execute(params![account, amount])?;
        }
    }
    tx.commit()
}

/// Checks that every balance equals the sum of its account's payments.
/// Returns the number of payments.
pub fn check_invariant(path: &Path) -> Result<u64, String> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    let bad: i64 = conn
        .query_row(
            "SELECT count(*) FROM balances b
             WHERE b.balance != (SELECT coalesce(sum(amount), 0) FROM payments p WHERE p.account = b.account)",
            [],
            |r| r.get(0),
        )
        .map_err(|e| format!("query {}: {e}", path.display()))?;
    if bad != 0 {
        return Err(format!("{}: {bad} accounts whose balance is not the sum of their payments", path.display()));
    }
    conn.query_row("SELECT count(*) FROM payments", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(|e| format!("count {}: {e}", path.display()))
}

/// How the writer behaves.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Its `busy_timeout`, as a bot would set it.
    pub busy_timeout: Duration,
    /// Pause between transactions (zero: write as fast as possible).
    pub pause: Duration,
    /// Filler bytes per payment.
    pub note_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { busy_timeout: Duration::from_secs(5), pause: Duration::from_millis(1), note_bytes: 64 }
    }
}

/// What the writer saw.
#[derive(Debug, Clone, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Errors the writer got (SQLITE_BUSY and anything else), as text.
    pub errors: Vec<String>,
    /// How many of them were SQLITE_BUSY / SQLITE_LOCKED.
    pub busy: u64,
    /// The slowest transaction, BEGIN to COMMIT done.
    pub worst_commit: Duration,
}

/// A writer thread committing ledger transactions until stopped.
pub struct Writer {
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    handle: Option<JoinHandle<WriterStats>>,
}

impl Writer {
    /// Starts writing to the ledger at `path` (made by [`create_ledger`]).
    pub fn start(path: &Path, opts: WriterOptions) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let (path, s, c): (PathBuf, _, _) = (path.to_path_buf(), stop.clone(), commits.clone());
        let handle = std::thread::spawn(move || write_loop(&path, &opts, &s, &c));
        Writer { stop, commits, handle: Some(handle) }
    }

    /// Commits so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` more commits happened (or `timeout`).
    pub fn wait_for_commits(&self, n: u64, timeout: Duration) -> bool {
        let target = self.commits() + n;
        let until = Instant::now() + timeout;
        while self.commits() < target {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Stops the writer and returns what it saw.
    pub fn stop(mut self) -> WriterStats {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().map(|h| h.join().expect("writer thread panicked")).unwrap_or_default()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The writer's loop, usable from any thread or process (the benchmark runs
/// it in its own process). Stops when `stop` is set.
pub fn write_loop(path: &Path, opts: &WriterOptions, stop: &AtomicBool, commits: &AtomicU64) -> WriterStats {
    let mut stats = WriterStats::default();
    let conn = match Connection::open(path).and_then(|c| c.busy_timeout(opts.busy_timeout).map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            stats.errors.push(format!("open: {e}"));
            return stats;
        }
    };
    let mut rng = Lcg::new(std::process::id() as u64 ^ 0xabcdef);
    while !stop.load(Ordering::Relaxed) {
        let account = (rng.next() % ACCOUNTS as u64) as i64;
        let amount = (rng.next() % 1000) as i64 + 1;
        let note = rng.text(opts.note_bytes);
        let t0 = Instant::now();
        let r = (|| -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let body = (|| {
                conn.execute(
                    "INSERT INTO payments (account, amount, note) VALUES (?1, ?2, ?3)",
                    params![account, amount, note],
                )?;
                conn.execute(
                    "UPDATE balances SET balance = balance + ?2 WHERE account = ?1",
                    params![account, amount],
                )?;
                conn.execute_batch("COMMIT")
            })();
            if body.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            body
        })();
        match r {
            Ok(()) => {
                stats.commits += 1;
                commits.fetch_add(1, Ordering::Relaxed);
                stats.worst_commit = stats.worst_commit.max(t0.elapsed());
            }
            Err(e) => {
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) {
                    stats.busy += 1;
                }
                if stats.errors.len() < 100 {
                    stats.errors.push(e.to_string());
                }
            }
        }
        if !opts.pause.is_zero() {
            std::thread::sleep(opts.pause);
        }
    }
    stats
}

/// Overwrites `len` bytes at the middle of the file with a pattern that is
/// not a valid b-tree page, so `integrity_check` fails while the header
/// stays intact.
pub fn corrupt_middle(path: &Path, len: usize) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let size = std::fs::metadata(path)?.len();
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    // Page-aligned (4096) so whole b-tree pages are garbage, past page 1.
    let offset = ((size / 2) / 4096 * 4096).max(4096);
    f.seek(SeekFrom::Start(offset))?;
    let junk: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(0x5a)).collect();
    f.write_all(&junk)?;
    f.sync_all()
}

/// A small deterministic generator (tests need no real randomness).
#[derive(Debug, Clone)]
pub struct Lcg(u64);

impl Lcg {
    /// Seeded.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }

    /// Next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 17
    }

    /// Text of `len` bytes made of words, compressible like real data.
    pub fn text(&mut self, len: usize) -> String {
        const WORDS: [&str; 16] = [
            "payment", "refund", "premium", "user", "request", "price", "bypass", "stats", "order", "telegram",
            "monthly", "annual", "card", "crypto", "ok", "pending",
        ];
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            s.push_str(WORDS[(self.next() % 16) as usize]);
            s.push(' ');
            if self.next().is_multiple_of(4) {
                s.push_str(&(self.next() % 100_000).to_string());
                s.push(' ');
            }
        }
        s.truncate(len);
        s
    }
}

/// A WAL-mode database at `path` with a table `t (id, v)` holding `rows`
/// more rows (`row 0`, `row 1`, …): the small database the bots' end-to-end
/// tests back up and restore.
pub fn make_wal_db(path: &Path, rows: i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)").unwrap();
    for i in 0..rows {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [format!("row {i}")]).unwrap();
    }
}

/// Another WAL-mode database put at `path` as a bot that replaces its file
/// does: made beside it, a table `t (x)` holding `rows` rows (0, 1, …), then
/// renamed over it.
pub fn replace_with_wal_db(path: &Path, rows: i64) {
    let tmp = path.with_extension("new");
    let conn = Connection::open(&tmp).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.execute_batch("CREATE TABLE t(x)").unwrap();
    for i in 0..rows {
        conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
    }
    drop(conn);
    std::fs::rename(&tmp, path).unwrap();
}

/// The rows in table `t` of a database made by [`make_wal_db`].
pub fn rows_in_t(path: &Path) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap()
}
