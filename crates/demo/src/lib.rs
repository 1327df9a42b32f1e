//! The five demo databases of a price/analytics bot, so that a newcomer sees
//! Lifeboat work with one command and the benchmark has realistic data.
//!
//! Every database is generated from a seed (the same seed and `now` give the
//! same rows), filled in one transaction through prepared statements, and
//! written under a temporary name that is linked into place only if the
//! target still does not exist: an existing database is never touched.
//! Some use WAL and others the rollback journal, like a real bot.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::Connection;

mod data;

use data::Gen;

/// How much to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Target size of each database in decimal MB (the generator stops at
    /// the first batch that reaches it). The default is small and fast.
    pub scale_mb: f64,
    /// Seed of the pseudo-random rows.
    pub seed: u64,
    /// The newest timestamp in the data; older rows go back from here.
    pub now: DateTime<Utc>,
}

impl DemoOptions {
    /// The default demo: about 1 MB per database.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { scale_mb: DEFAULT_SCALE_MB, seed: DEFAULT_SEED, now }
    }
}

/// Size of each demo database by default, in MB.
pub const DEFAULT_SCALE_MB: f64 = 1.0;
/// Seed used by `lifeboat demo`.
pub const DEFAULT_SEED: u64 = 0x11FE_B0A7;

/// The databases of the default configuration (`backup.databases`), with
/// the journal mode each gets.
pub const DEMO_DATABASES: [(&str, JournalMode); 5] = [
    ("user_requests.db", JournalMode::Wal),
    ("analytics.db", JournalMode::Wal),
    ("premium_system.db", JournalMode::Delete),
    ("historical_prices.db", JournalMode::Delete),
    ("bypass_stats.db", JournalMode::Wal),
];

/// The journal mode a demo database is left in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    Wal,
    /// Rollback journal, deleted after each transaction.
    Delete,
}

impl JournalMode {
    fn pragma(self) -> &'static str {
        match self {
            JournalMode::Wal => "wal",
            JournalMode::Delete => "delete",
        }
    }
}

/// What happened to one configured database.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoDatabase {
    /// File name.
    pub name: String,
    pub path: PathBuf,
    /// False when it existed already (and was left alone).
    pub created: bool,
    /// Size in bytes after creation (or as found).
    pub size: u64,
    /// Rows written over all tables (0 when it existed).
    pub rows: u64,
}

/// Creating the demo databases failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file-system operation.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// SQLite.
    #[error("writing demo database {path}: {source}")]
    Sqlite {
        /// The temporary file being written.
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Creates each of `names` in `dir` that does not exist yet; existing files
/// (whatever they contain) are left untouched. Names other than the five
/// demo ones get a generic bot database.
pub fn create_missing(dir: &Path, names: &[String], opts: &DemoOptions) -> Result<Vec<DemoDatabase>, DemoError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| DemoError::Io { context: format!("creating {}", dir.display()), source })?;
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            out.push(DemoDatabase { name: name.clone(), path, created: false, size, rows: 0 });
            continue;
        }
        let mode = DEMO_DATABASES.iter().find(|(n, _)| n == name).map(|(_, m)| *m).unwrap_or(JournalMode::Wal);
        // Each database gets its own stream so adding one does not change the others.
        let seed = opts.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hash_name(name);
        let tmp = dir.join(format!(".{name}.demo-{}.tmp", std::process::id()));
        let result = generate(&tmp, name, mode, seed, opts);
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                remove_with_sidecars(&tmp);
                return Err(e);
            }
        };
        if let Err(source) = std::fs::File::open(&tmp).and_then(|f| f.sync_all()) {
            remove_with_sidecars(&tmp);
            return Err(DemoError::Io { context: format!("syncing {}", tmp.display()), source });
        }
        // A hard link fails if the target appeared meanwhile: never overwrite.
        let linked = std::fs::hard_link(&tmp, &path);
        remove_with_sidecars(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                out.push(DemoDatabase { name: name.clone(), path, created: false, size, rows: 0 });
                continue;
            }
            Err(source) => {
                return Err(DemoError::Io {
                    context: format!("moving the new database to {}", path.display()),
                    source,
                });
            }
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        out.push(DemoDatabase { name: name.clone(), path, created: true, size, rows });
    }
    Ok(out)
}

fn remove_with_sidecars(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn hash_name(name: &str) -> u64 {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn generate(tmp: &Path, name: &str, mode: JournalMode, seed: u64, opts: &DemoOptions) -> Result<u64, DemoError> {
    let sql = |source| DemoError::Sqlite { path: tmp.to_path_buf(), source };
    let mut conn = Connection::open(tmp).map_err(sql)?;
    conn.pragma_update(None, "journal_mode", mode.pragma()).map_err(sql)?;
    // A fresh private file: no fsync needed until it is linked into place,
    // and a larger cache keeps the one big transaction from spilling early.
    conn.pragma_update(None, "synchronous", "off").map_err(sql)?;
    conn.pragma_update(None, "cache_size", -32_000).map_err(sql)?;
    let target_bytes = (opts.scale_mb.max(0.01) * 1_000_000.0) as u64;
    let mut g = Gen::new(Rng(seed | 1), opts.now, target_bytes);
    let tx = conn.transaction().map_err(sql)?;
    let rows = match name {
        "user_requests.db" => g.user_requests(&tx),
        "analytics.db" => g.analytics(&tx),
        "premium_system.db" => g.premium(&tx),
        "historical_prices.db" => g.prices(&tx),
        "bypass_stats.db" => g.bypass(&tx),
        _ => g.generic(&tx),
    }
    .map_err(sql)?;
    tx.commit().map_err(sql)?;
    // Leaves the WAL checkpointed and removed, as a bot that shut down cleanly would.
    conn.close().map_err(|(_, e)| sql(e))?;
    Ok(rows)
}

/// A 64-bit LCG (Knuth's MMIX constants); plenty for demo data, and stable.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 42) as f64
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn names() -> Vec<String> {
        DEMO_DATABASES.iter().map(|(n, _)| n.to_string()).collect()
    }

    fn opts() -> DemoOptions {
        DemoOptions { scale_mb: 0.2, ..DemoOptions::new(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()) }
    }

    fn dump(path: &Path, sql: &str) -> Vec<String> {
        let c = Connection::open(path).unwrap();
        let mut st = c.prepare(sql).unwrap();
        st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn creates_five_checked_databases_with_their_journal_modes() {
        let d = tempfile::tempdir().unwrap();
        let made = create_missing(d.path(), &names(), &opts()).unwrap();
        assert_eq!(made.len(), 5);
        for (db, (name, mode)) in made.iter().zip(DEMO_DATABASES) {
            assert_eq!(db.name, name);
            assert!(db.created && db.rows > 100, "{db:?}");
            assert!(db.size >= 200_000, "{db:?} smaller than its target");
            let report = lifeboat_core::integrity::check(&db.path).unwrap();
            assert!(report.ok, "{name}: {report:?}");
            let jm: String =
                Connection::open(&db.path).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            assert_eq!(jm, mode.pragma(), "{name}");
        }
        // Nothing temporary is left behind.
        let mut left: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left.len(), 5, "{left:?}");
        // Balances are the sum of payments for every user.
        let bad = dump(
            &d.path().join("premium_system.db"),
            "SELECT b.user_id FROM balances b
             WHERE b.total_paid_cents != (SELECT SUM(amount_cents) FROM payments p WHERE p.user_id = b.user_id)
                OR b.payments_count != (SELECT COUNT(*) FROM payments p WHERE p.user_id = b.user_id)
             UNION ALL SELECT DISTINCT p.user_id FROM payments p WHERE p.user_id NOT IN (SELECT user_id FROM balances)",
        );
        assert!(bad.is_empty(), "inconsistent balances for {bad:?}");
    }

    #[test]
    fn same_seed_same_rows_and_existing_files_untouched() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let only = vec!["historical_prices.db".to_string(), "custom.db".to_string()];
        std::fs::write(b.path().join("custom.db"), b"not mine to touch").unwrap();
        create_missing(a.path(), &only, &opts()).unwrap();
        let made = create_missing(b.path(), &only, &opts()).unwrap();
        assert!(made[0].created && !made[1].created);
        assert_eq!(std::fs::read(b.path().join("custom.db")).unwrap(), b"not mine to touch");
        let q = "SELECT symbol_id || ts || close FROM prices ORDER BY symbol_id, ts";
        let rows = dump(&a.path().join("historical_prices.db"), q);
        assert!(rows.len() > 1000);
        assert_eq!(rows, dump(&b.path().join("historical_prices.db"), q));
        // A second run changes nothing.
        let before = std::fs::read(a.path().join("historical_prices.db")).unwrap();
        let again = create_missing(a.path(), &only, &opts()).unwrap();
        assert!(again.iter().all(|d| !d.created));
        assert_eq!(before, std::fs::read(a.path().join("historical_prices.db")).unwrap());
    }

    #[test]
    fn scale_reaches_the_target() {
        let d = tempfile::tempdir().unwrap();
        let o = DemoOptions { scale_mb: 2.0, ..opts() };
        let made = create_missing(d.path(), &["analytics.db".to_string()], &o).unwrap();
        assert!((2_000_000..2_600_000).contains(&made[0].size), "{:?}", made[0]);
    }
}
