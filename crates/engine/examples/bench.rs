//! Benchmark helper (see `bench/run.sh` and `docs/benchmarks.md`).
//!
//! - `bench gen DIR TOTAL_MB`: five realistic databases totalling about
//!   TOTAL_MB (the bot's names; a mix of WAL and rollback-journal files;
//!   `premium_system.db` (WAL) and `analytics.db` (rollback journal) hold the
//!   payments/balances ledger the writer uses).
//! - `bench backup CONFIG`: one `backup::run`, like `lifeboat backup`.
//! - `bench writer DB STOP_FILE PAUSE_MS`: a bot-like writer process; prints
//!   commits, SQLITE_BUSY count and worst commit latency.
//! - `bench diff-write FULL_ZIP SNAPSHOTS ROUNDS`: the time to store the
//!   snapshots in SNAPSHOTS (`*.db`, taken after the writes) as a
//!   differential against the full archive FULL_ZIP, the way `lifeboat
//!   backup` does (delta against the base's copy streamed out of the
//!   archive, then the delta's entry deflated; a database whose delta is not
//!   worth it deflated whole instead), by Lifeboat's delta writer and by a
//!   writer that stores every changed page whole (what differentials held
//!   before page deltas). The two alternate, ROUNDS times each; prints every
//!   run and the medians. A last argument `pages` or `whole` runs only that
//!   writer (for a profiler).

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use lifeboat_core::archive::{self, EntryStyle};
use lifeboat_core::delta;
use lifeboat_core::{CancellationToken, Trigger};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupOptions};
use lifeboat_testkit::sqlite::{self as tk, Lcg, Mode, WriterOptions};
use rusqlite::{Connection, params};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["gen", dir, mb] => generate(Path::new(dir), mb.parse().expect("TOTAL_MB")),
        ["backup", config] => {
            let cfg = Config::load(Some(Path::new(config))).unwrap_or_else(|e| panic!("{e}"));
            let state = cfg.open_state().unwrap();
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
        ["diff-write", full, snapshots, rounds, ways @ ..] => {
            let ways = match ways {
                [] | ["both"] => vec![Writer::Pages, Writer::Whole],
                ["pages"] => vec![Writer::Pages],
                ["whole"] => vec![Writer::Whole],
                _ => panic!("the last argument of diff-write is pages, whole or both"),
            };
            diff_write(Path::new(full), Path::new(snapshots), rounds.parse().expect("ROUNDS"), &ways)
        }
        _ => {
            eprintln!(
                "usage: bench gen DIR TOTAL_MB | bench backup CONFIG | bench writer DB STOP_FILE PAUSE_MS \
                 | bench diff-write FULL_ZIP SNAPSHOTS ROUNDS [pages|whole|both]"
            );
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

/// How `diff-write` stores a changed page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Writer {
    /// Lifeboat's delta writer: whole, XOR or packed, whichever is smallest.
    Pages,
    /// Every changed page whole, as differentials were before page deltas.
    Whole,
}

fn diff_write(full: &Path, snapshots: &Path, rounds: usize, ways: &[Writer]) {
    let mut dbs: Vec<PathBuf> = std::fs::read_dir(snapshots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    dbs.sort();
    let work = tempfile::tempdir_in(snapshots).unwrap();
    let full_size = std::fs::metadata(full).unwrap().len();
    let mut times: [Vec<f64>; 2] = Default::default();
    let mut cpu: [Vec<f64>; 2] = Default::default();
    let mut sizes = [0u64; 2];
    for round in 0..rounds {
        // A B, then B A: neither always runs first.
        let mut order = ways.to_vec();
        if round % 2 == 1 {
            order.reverse();
        }
        for way in order {
            let (t, c) = (Instant::now(), cpu_secs());
            let mut parts = Vec::new();
            let mut stored = 0;
            for db in &dbs {
                let one = Instant::now();
                let (bytes, how) = store_one(way, full, db, work.path());
                stored += bytes;
                parts.push(format!(
                    "{} {how} {bytes} B {:.3} s",
                    db.file_name().unwrap().to_string_lossy(),
                    one.elapsed().as_secs_f64()
                ));
            }
            let (secs, cpu_s) = (t.elapsed().as_secs_f64(), cpu_secs() - c);
            times[way as usize].push(secs);
            cpu[way as usize].push(cpu_s);
            sizes[way as usize] = stored;
            println!(
                "round {} {way:?}: {secs:.3} s (CPU {cpu_s:.2} s), {stored} B ({:.2} % of the full archive); {}",
                round + 1,
                stored as f64 * 100.0 / full_size as f64,
                parts.join(", ")
            );
        }
    }
    if ways.len() < 2 {
        return;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (pages, whole) = (median(&mut times[0]), median(&mut times[1]));
    let (pages_cpu, whole_cpu) = (median(&mut cpu[0]), median(&mut cpu[1]));
    println!(
        "median: page deltas {pages:.3} s (CPU {pages_cpu:.2} s, {:.2} %), every changed page whole {whole:.3} s \
         (CPU {whole_cpu:.2} s, {:.2} %): {:.3}x the wall time, {:.3}x the CPU time",
        sizes[0] as f64 * 100.0 / full_size as f64,
        sizes[1] as f64 * 100.0 / full_size as f64,
        pages / whole,
        pages_cpu / whole_cpu
    );
}

/// The CPU time (user and system) this process has used so far, from
/// /proc/self/stat (in the kernel's 1/100 s ticks).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15, counted from the pid.
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

/// Stores the snapshot `db` against its copy in `full` as `lifeboat backup`
/// does: the compressed bytes, and "delta", "whole" or "same".
fn store_one(way: Writer, full: &Path, db: &Path, work: &Path) -> (u64, &'static str) {
    let name = db.file_name().unwrap().to_str().unwrap();
    let mut zip = zip::ZipArchive::new(BufReader::new(std::fs::File::open(full).unwrap())).unwrap();
    let entry = zip
        .file_names()
        .filter_map(Result::ok)
        .find(|n| *n == name || n.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("{} does not hold {name}", full.display()))
        .to_string();
    let mut base = zip.by_name(&entry).unwrap();
    let mut header = [0u8; 18];
    std::fs::File::open(db).unwrap().read_exact(&mut header).unwrap();
    let block = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u32::from(n).max(512),
    };
    let out = work.join("delta");
    let cancel = CancellationToken::new();
    let (changed, weighing, size) = match way {
        Writer::Pages => {
            let made = delta::write_delta(&mut base, db, block, &out, &cancel).unwrap();
            (made.changed, made.changed - made.xored, made.size)
        }
        Writer::Whole => whole_pages(&mut base, db, block, &out),
    };
    drop(base);
    let (source, how) = if weighing as f64 * f64::from(block) > size as f64 * delta::MAX_SHARE {
        (db, "whole")
    } else if changed == 0 {
        return (0, "same");
    } else {
        (out.as_path(), "delta")
    };
    let style = EntryStyle { level: 6, password: None };
    let c =
        archive::compress_database(source, name, &work.join("entry.zip"), style, chrono::Utc::now(), &cancel, &|_| {})
            .unwrap();
    let bytes = std::fs::metadata(&c.zip).unwrap().len();
    let _ = std::fs::remove_file(&c.zip);
    let _ = std::fs::remove_file(&out);
    (bytes, how)
}

/// The delta writer of the differentials before page deltas: the blocks
/// of `new` that differ from `base`'s, every one whole (record kind 0),
/// `new` hashed in the same pass. Returns (changed, changed, size).
fn whole_pages(base: &mut dyn Read, new: &Path, block: u32, out: &Path) -> (u64, u64, u64) {
    use sha2::{Digest, Sha256};
    let mut input = BufReader::with_capacity(256 * 1024, std::fs::File::open(new).unwrap());
    let size = input.get_ref().metadata().unwrap().len();
    let mut w = BufWriter::with_capacity(256 * 1024, std::fs::File::create(out).unwrap());
    w.write_all(delta::MAGIC).unwrap();
    w.write_all(&block.to_le_bytes()).unwrap();
    w.write_all(&size.to_le_bytes()).unwrap();
    let (mut a, mut b) = (vec![0u8; block as usize], vec![0u8; block as usize]);
    let mut hasher = Sha256::new();
    let (mut index, mut changed) = (0u32, 0u64);
    loop {
        let n = lifeboat_core::fsutil::read_full(&mut input, &mut a).unwrap();
        if n == 0 {
            break;
        }
        let m = lifeboat_core::fsutil::read_full(base, &mut b).unwrap();
        hasher.update(&a[..n]);
        if m != n || a[..n] != b[..n] {
            w.write_all(&index.to_le_bytes()).unwrap();
            w.write_all(&[0]).unwrap();
            w.write_all(&a[..n]).unwrap();
            changed += 1;
        }
        index += 1;
    }
    w.write_all(&u32::MAX.to_le_bytes()).unwrap();
    w.into_inner().unwrap().sync_all().unwrap();
    std::hint::black_box(hasher.finalize());
    (changed, changed, size)
}
