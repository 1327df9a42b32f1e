//! Benchmark helper (see `bench/run.sh` and `docs/benchmarks.md`).
//!
//! - `bench gen DIR TOTAL_MB`: five realistic databases totalling about
//!   TOTAL_MB (the bot's names; a mix of WAL and rollback-journal files;
//!   `premium_system.db` (WAL) and `analytics.db` (rollback journal) hold the
//!   payments/balances ledger the writer uses).
//! - `bench backup CONFIG`: one `backup::run`, like `lifeboat backup`.
//! - `bench writer DB STOP_FILE PAUSE_MS`: a bot-like writer process; prints
//!   commits, SQLITE_BUSY count and worst commit latency.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use lifeboat_core::backup::{self, BackupOptions};
use lifeboat_core::state::State;
use lifeboat_core::{CancellationToken, Config, Trigger};
use lifeboat_testkit::sqlite::{self as tk, Lcg, Mode, WriterOptions};
use rusqlite::{Connection, params};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["gen", dir, mb] => generate(Path::new(dir), mb.parse().expect("TOTAL_MB")),
        ["backup", config] => {
            let cfg = Config::load(Some(Path::new(config))).unwrap_or_else(|e| panic!("{e}"));
            let state = State::open_for(&cfg).unwrap();
            let t0 = std::time::Instant::now();
            let timings = std::env::var_os("BENCH_TIMINGS").is_some();
            let progress = |e: backup::ProgressEvent| {
                if timings && !matches!(e, backup::ProgressEvent::Compressed { .. }) {
                    eprintln!("{:7.2} s  {e:?}", t0.elapsed().as_secs_f64());
                }
            };
            let opts = BackupOptions {
                trigger: Trigger::Manual,
                only: None,
                progress: Some(&progress),
                cancel: CancellationToken::new(),
                now: chrono::Utc::now(),
            };
            match backup::run(&cfg, &state, opts) {
                Ok(out) => {
                    for f in &out.archive.files {
                        println!("{}", f.display());
                    }
                }
                Err(e) => {
                    eprintln!("backup failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        ["writer", db, stop_file, pause_ms] => {
            let stop = AtomicBool::new(false);
            let commits = AtomicU64::new(0);
            let opts = WriterOptions {
                busy_timeout: Duration::from_secs(5),
                pause: Duration::from_millis(pause_ms.parse().unwrap()),
                note_bytes: 120,
            };
            let stats = std::thread::scope(|s| {
                let h = s.spawn(|| tk::write_loop(Path::new(db), &opts, &stop, &commits));
                while !Path::new(stop_file).exists() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                h.join().unwrap()
            });
            println!(
                "commits={} busy={} errors={} worst_commit_ms={:.1}",
                stats.commits,
                stats.busy,
                stats.errors.len(),
                stats.worst_commit.as_secs_f64() * 1000.0
            );
        }
        _ => {
            eprintln!("usage: bench gen DIR TOTAL_MB | bench backup CONFIG | bench writer DB STOP_FILE PAUSE_MS");
            std::process::exit(2);
        }
    }
}

/// (name, share of the total, journal mode)
const DATABASES: [(&str, f64, Mode); 5] = [
    ("user_requests.db", 0.34, Mode::Wal),
    ("analytics.db", 0.26, Mode::Delete),
    ("premium_system.db", 0.12, Mode::Wal),
    ("historical_prices.db", 0.20, Mode::Delete),
    ("bypass_stats.db", 0.08, Mode::Wal),
];

fn generate(dir: &Path, total_mb: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, (name, share, mode)) in DATABASES.iter().enumerate() {
        let path = dir.join(name);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let target = (total_mb as f64 * share * 1_000_000.0) as u64;
        if matches!(*name, "premium_system.db" | "analytics.db") {
            tk::create_ledger(&path, *mode, 2000, 120).unwrap();
        }
        let mut c = Connection::open(&path).unwrap();
        c.pragma_update(None, "journal_mode", mode.as_str()).unwrap();
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL,
                 amount REAL, token TEXT NOT NULL, payload TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS events_user ON events(user_id, at);",
        )
        .unwrap();
        let mut rng = Lcg::new(i as u64 + 11);
        let mut id_base = 0u64;
        while std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < target {
            let tx = c.transaction().unwrap();
            {
                let mut st = tx
                    .prepare(
                        "INSERT INTO events (user_id, at, kind, amount, token, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .unwrap();
                for k in 0..20_000u64 {
                    let user = rng.next() % 50_000;
                    let t = 1_700_000_000 + (id_base + k) * 7 + rng.next() % 7;
                    let at = chrono::DateTime::from_timestamp(t as i64, 0).unwrap().to_rfc3339();
                    let kind = ["request", "payment", "refund", "price", "bypass", "login"][(rng.next() % 6) as usize];
                    let amount = (rng.next() % 1_000_000) as f64 / 100.0;
                    // Hex tokens like message/file ids: the incompressible part of real rows.
                    let token = format!("{:016x}{:08x}", rng.next() ^ (rng.next() << 20), rng.next() as u32);
                    let len = 40 + (rng.next() % 160) as usize;
                    st.execute(params![user as i64, at, kind, amount, token, rng.text(len)]).unwrap();
                }
                id_base += 20_000;
            }
            tx.commit().unwrap();
        }
        if *mode == Mode::Wal {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        }
        drop(c);
        eprintln!("{name}: {} bytes ({})", std::fs::metadata(&path).unwrap().len(), mode.as_str());
    }
}
