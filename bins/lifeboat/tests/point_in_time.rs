//! Point-in-time restore end to end: a writer commits about 100
//! transactions a second to a ledger (an invariant across two tables, and
//! each commit's sequence number and time) and empties its WAL with
//! `wal_checkpoint(TRUNCATE)` every few seconds and runs a VACUUM halfway,
//! while the scheduler daemon captures with `[continuous]` every second;
//! then `restore latest --at` random moments and moments either side of
//! the VACUUM, each checked: the invariant holds, no commit after the
//! asked time is there, none committed more than interval + 1 s before it
//! is missing. The same sealed with age, and with the daemon killed again
//! and again.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::Sandbox;
use lifeboat_testkit::servers::SeaweedFs;
use rusqlite::Connection;

const INTERVAL_SECS: i64 = 1;

/// Each commit's sequence number and the time COMMIT returned.
type Committed = Arc<Mutex<Vec<(i64, DateTime<Utc>)>>>;

/// A daemon killed when dropped, so a failing test leaves none behind.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The scheduler daemon beside the `lifeboat` binary (the workspace builds both).
fn daemon(sb: &Sandbox) -> Daemon {
    let bin = Path::new(env!("CARGO_BIN_EXE_lifeboat")).with_file_name("lifeboat-scheduler");
    assert!(bin.exists(), "{} is missing: run the tests with --workspace", bin.display());
    let mut c = Command::new(bin);
    c.arg("--config").arg(&sb.config).current_dir(sb.dir.path()).env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT") {
            c.env_remove(k);
        }
    }
    Daemon(c.spawn().unwrap())
}

/// One scheduled cycle (`lifeboat-scheduler --once`) beside the daemon:
/// everything it said.
fn scheduled_cycle(sb: &Sandbox) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_lifeboat")).with_file_name("lifeboat-scheduler");
    let mut c = Command::new(bin);
    c.arg("--config")
        .arg(&sb.config)
        .arg("--once")
        .current_dir(sb.dir.path())
        .env("RUST_LOG", "info,lifeboat_core::source::sqlite::continuous=debug");
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT") {
            c.env_remove(k);
        }
    }
    let out = c.output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    said
}

/// SIGTERM, as systemd stops it.
fn stop(mut daemon: Daemon) {
    let child = &mut daemon.0;
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ledger(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "wal").unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, account INTEGER NOT NULL,
                                            amount INTEGER NOT NULL, memo TEXT NOT NULL);
         INSERT OR IGNORE INTO accounts (id, balance) SELECT value, 0 FROM generate_series(0, 99);",
    )
    .unwrap_or_else(|_| {
        // Without generate_series: the accounts one by one.
        for id in 0..100 {
            c.execute("INSERT OR IGNORE INTO accounts (id, balance) VALUES (?1, 0)", [id]).unwrap();
        }
    });
    c
}

/// Commits until `stop`, each transaction moving an amount into an account
/// and recording it; returns (seq, time COMMIT returned) of each. After
/// `vacuum_after`, drops a table of about 400 KB and runs a VACUUM (the
/// file shrinks, every page moves), and returns when it began and ended.
fn write(
    path: PathBuf,
    stop: Arc<AtomicBool>,
    done: Committed,
    vacuum_after: Option<Duration>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut c = ledger(&path);
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS scratch AS
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT randomblob(4000) AS b FROM n",
    )
    .unwrap();
    let started = Instant::now();
    let mut vacuumed = None;
    let mut seq = 0i64;
    let mut last_truncate = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if vacuumed.is_none() && vacuum_after.is_some_and(|d| started.elapsed() >= d) {
            let began = Utc::now();
            c.execute_batch("DROP TABLE scratch; VACUUM").unwrap();
            vacuumed = Some((began, Utc::now()));
        }
        seq += 1;
        let tx = c.transaction().unwrap();
        let amount = (seq * 7919) % 1000 - 500;
        tx.execute(
            "INSERT INTO ledger (seq, t_ms, account, amount, memo) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![seq, Utc::now().timestamp_millis(), seq % 100, amount, "x".repeat(200)],
        )
        .unwrap();
        tx.execute("UPDATE accounts SET balance = balance + ?1 WHERE id = ?2", [amount, seq % 100]).unwrap();
        tx.commit().unwrap();
        done.lock().unwrap().push((seq, Utc::now()));
        if last_truncate.elapsed() > Duration::from_millis(2500) {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
            last_truncate = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(9));
    }
    vacuumed
}

/// Restores as of `at` into a new folder; the restored ledger.
fn restore_at(sb: &Sandbox, at: DateTime<Utc>, n: usize) -> (PathBuf, String) {
    let to = sb.path(&format!("at{n}"));
    let time = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let said = run(sb, &recipe(1, &time, "ledger.db", &to.display().to_string()), 0);
    (to.join("ledger.db"), said)
}

/// Checks a restored ledger against what the writer committed.
fn check(db: &Path, at: DateTime<Utc>, committed: &[(i64, DateTime<Utc>)], said: &str) {
    let c = Connection::open(db).unwrap();
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let (count, max_seq, max_t, total): (i64, i64, i64, i64) = c
        .query_row(
            "SELECT count(*), coalesce(max(seq), 0), coalesce(max(t_ms), 0), coalesce(sum(amount), 0) FROM ledger",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let balances: i64 = c.query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0)).unwrap();
    assert_eq!(balances, total, "the invariant across accounts and ledger, as of {at}");
    assert_eq!(count, max_seq, "no commit missing in between, as of {at}");
    assert!(max_t <= at.timestamp_millis(), "a commit from after {at} is there (t_ms {max_t}):\n{said}");
    let must = committed
        .iter()
        .filter(|(_, t)| *t < at - TimeDelta::seconds(INTERVAL_SECS + 1))
        .map(|(s, _)| *s)
        .max()
        .unwrap_or(0);
    assert!(max_seq >= must, "as of {at}: commit {must} is missing, only {max_seq} restored:\n{said}");
}

/// The commands the "Point in time" recipe of docs/operations.md gives,
/// as this test runs them (TIME, DB and DIR filled in).
const RECIPE: [&str; 3] = [
    "lifeboat restore latest --at TIME --only DB --dry-run",
    "lifeboat restore latest --at TIME --to DIR --yes",
    "lifeboat restore latest --at TIME --only DB --yes",
];

#[test]
fn the_docs_give_the_commands_this_test_runs() {
    let ops = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md")).unwrap();
    for step in RECIPE {
        assert!(ops.contains(&format!("`{step}`")), "docs/operations.md gives `{step}`");
    }
}

/// One of [`RECIPE`]'s commands with its words filled in.
fn recipe(step: usize, time: &str, db: &str, dir: &str) -> Vec<String> {
    RECIPE[step]
        .split(' ')
        .skip(1)
        .map(|w| match w {
            "TIME" => time.to_string(),
            "DB" => db.to_string(),
            "DIR" => dir.to_string(),
            w => w.to_string(),
        })
        .collect()
}

fn run(sb: &Sandbox, args: &[String], code: i32) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.run(&args, code).1
}

#[test]
fn restore_at_random_moments_under_a_writer_that_truncates_its_wal() {
    scenario(Duration::from_secs(20), false, false);
}

/// The same with increments and archives sealed with age.
#[test]
fn restore_at_random_moments_sealed_with_age() {
    scenario(Duration::from_secs(20), false, true);
}

/// The same with the daemon killed (SIGKILL) every second or two and
/// started again: no wrong moment is ever offered, capture resumes.
#[test]
#[ignore = "about 35 s; run with --ignored"]
fn restore_at_random_moments_with_the_daemon_killed_again_and_again() {
    scenario(Duration::from_secs(25), true, false);
}

/// `[encryption]` sealing with age to a new key, whose file is the
/// identity: (the section, the key file).
fn age_encryption(sb: &Sandbox) -> (String, PathBuf) {
    let key = sb.path("age.key");
    let o = Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen is installed");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string();
    (format!("[encryption]\nmode = \"age\"\nrecipients = [{public:?}]\nidentity_file = {key:?}\n"), key)
}

fn scenario(writing: Duration, kill: bool, age: bool) {
    let sb = Sandbox::new();
    let db = sb.path("data/ledger.db");
    drop(ledger(&db));
    let sealing = if age { age_encryption(&sb).0 } else { String::new() };
    sb.write_config(
        &["ledger.db"],
        &format!("[continuous]\nenabled = true\ninterval_secs = {INTERVAL_SECS}\n{sealing}"),
    );
    sb.run(&["backup"], 0);
    common::next_second();
    let mut scheduler = daemon(&sb);
    // The chain starts with the daemon's first capture.
    let chain = sb.path("out/continuous/ledger.db");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&chain).map_or(true, |mut d| d.next().is_none()) {
        assert!(Instant::now() < deadline, "no increment in {} after 20 s", chain.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop_writer = Arc::new(AtomicBool::new(false));
    let committed: Committed = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (db, stop_writer, committed) = (db.clone(), stop_writer.clone(), committed.clone());
        std::thread::spawn(move || write(db, stop_writer, committed, Some(writing / 2)))
    };
    let started = Utc::now();
    let mut kills = 0;
    let mut proved_under_the_writer = false;
    while Utc::now() - started < TimeDelta::from_std(writing).unwrap() {
        std::thread::sleep(Duration::from_millis(if kill { 700 + (kills * 389) % 1300 } else { 100 }));
        if kill {
            drop(scheduler);
            scheduler = daemon(&sb);
            kills += 1;
        } else if !proved_under_the_writer && Utc::now() - started > TimeDelta::from_std(writing / 4).unwrap() {
            // A scheduled archive while the writer commits: its proof
            // replays the commits made during the snapshot (or, when a
            // checkpoint reset the WAL meanwhile, waits for the next one),
            // and never calls a sound chain a mismatch.
            let said = scheduled_cycle(&sb);
            assert!(!said.contains("does not equal"), "{said}");
            assert!(said.contains("equals the archive's snapshot") || said.contains("not proven this time"), "{said}");
            proved_under_the_writer = true;
        }
    }
    stop_writer.store(true, Ordering::Relaxed);
    let (vacuum_began, vacuum_ended) = writer.join().unwrap().expect("the writer ran its VACUUM");
    let ended = Utc::now();
    let committed = committed.lock().unwrap().clone();
    assert!(committed.len() > 500, "the writer committed only {}", committed.len());
    // Two intervals after the last commit, it is restorable.
    std::thread::sleep(Duration::from_secs(2 * INTERVAL_SECS as u64 + 1));
    let now = Utc::now();
    let (last, said) = restore_at(&sb, now, 0);
    check(&last, now, &committed, &said);
    let final_seq: i64 =
        Connection::open(&last).unwrap().query_row("SELECT max(seq) FROM ledger", [], |r| r.get(0)).unwrap();
    assert_eq!(final_seq, committed.last().unwrap().0, "the final commit, two intervals later");
    assert!(said.contains("before the asked time"), "{said}");
    // Random moments while it wrote (a seed printed, to run one again).
    let seed = std::env::var("LIFEBOAT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_subsec_nanos() as u64);
    let increments = std::fs::read_dir(&chain).unwrap().count();
    eprintln!(
        "seed {seed}; {} commits, {increments} increments, {kills} kills; the last restore said:\n{said}",
        committed.len()
    );
    let mut x = seed | 1;
    let span = (ended - started).num_milliseconds() as u64;
    for n in 1..=10 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = started + TimeDelta::milliseconds((x % span) as i64);
        let (restored, said) = restore_at(&sb, at, n);
        check(&restored, at, &committed, &said);
    }
    // `diff` reads moments too: the same moment as a restore, and two moments.
    let t1 = started + TimeDelta::milliseconds(span as i64 / 4);
    let (restored, _) = restore_at(&sb, t1, 20);
    let stamp = |t: DateTime<Utc>| format!("@{}", t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let tables = |json: &serde_json::Value| -> Vec<(String, u64, u64, u64)> {
        json["databases"][0]["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let n = |k: &str| t[k].as_u64().unwrap();
                (t["name"].as_str().unwrap().to_string(), n("added"), n("removed"), n("changed"))
            })
            .collect()
    };
    let diff = |a: &str, b: &str| {
        let out = sb.cmd(&["diff", a, b, "--only", "ledger.db", "--json"]).assert().code(0).get_output().stdout.clone();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        tables(&json)
    };
    let same = diff(&stamp(t1), &restored.display().to_string());
    assert!(same.iter().all(|(_, a, r, c)| a + r + c == 0), "{same:?}");
    let two = diff(&stamp(t1), &stamp(started + TimeDelta::milliseconds(span as i64 * 3 / 4)));
    let ledger = two.iter().find(|t| t.0 == "ledger").unwrap();
    assert!(ledger.1 > 100 && ledger.2 == 0 && ledger.3 == 0, "{two:?}");
    // Either side of the VACUUM: the scratch table there before, gone after.
    let scratch = |db: &Path| {
        let c = Connection::open(db).unwrap();
        c.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'scratch'", [], |r| r.get::<_, i64>(0)).unwrap()
    };
    let sides =
        [(vacuum_began - TimeDelta::milliseconds(1500), 1), (vacuum_ended + TimeDelta::seconds(INTERVAL_SECS + 1), 0)];
    for (n, (at, tables)) in sides.into_iter().enumerate() {
        let (restored, said) = restore_at(&sb, at, 11 + n);
        check(&restored, at, &committed, &said);
        assert_eq!(scratch(&restored), tables, "as of {at}, the VACUUM began at {vacuum_began}:\n{said}");
    }
    if age {
        // Sealed: no increment holds the ledger's text in the clear.
        for e in std::fs::read_dir(&chain).unwrap() {
            let path = e.unwrap().path();
            assert!(path.to_string_lossy().ends_with(".inc.age"), "{}", path.display());
        }
    }
    let (_, said) = sb.run(&["status"], 0);
    assert!(said.contains("Continuous:   ledger.db lag"), "{said}");
    let (_, said) = sb.run(&["metrics"], 0);
    assert!(said.contains("lifeboat_continuous_lag_seconds{database=\"ledger.db\"}"), "{said}");
    let (_, said) = sb.run(&["list"], 0);
    assert!(said.contains("Point in time") && said.contains("increments"), "{said}");
    // A scheduled archive proves the chain against its own snapshot.
    let said = scheduled_cycle(&sb);
    assert!(said.contains("equals the archive's snapshot"), "{said}");
    stop(scheduler);
    let (_, said) = sb.run(&["verify", "latest", "--continuous"], 0);
    assert!(said.contains("continuous ledger.db: ok"), "{said}");
    let out = sb.cmd(&["verify", "latest", "--continuous", "--json"]).assert().code(0).get_output().stdout.clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["schema"], 1, "{json}");
    let chains = &json["continuous"][0];
    assert_eq!((chains["database"].as_str(), chains["ok"].as_bool()), (Some("ledger.db"), Some(true)), "{json}");
    assert!(chains["increments"].as_u64().unwrap() > 10 && chains["problems"] == serde_json::json!([]), "{json}");
    assert!(chains["newest"].as_str().is_some_and(|t| t.ends_with('Z')), "{json}");
    // A live restore as of a moment: planned, dry run, then done, as any restore.
    // (After the VACUUM: before it, the archive's tables differ from the live ones.)
    let at = vacuum_ended + (ended - vacuum_ended) / 2;
    let time = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let said = run(&sb, &recipe(0, &time, "ledger.db", ""), 0);
    assert!(said.contains("before the asked time") && said.contains("dry run"), "{said}");
    let said = run(&sb, &recipe(2, &time, "ledger.db", ""), 0);
    assert!(said.contains("Safety snapshot"), "{said}");
    check(&db, at, &committed, &said);
    // A moment before the first capture cannot be reached: refused, nothing written.
    let before = started - TimeDelta::hours(1);
    let time = before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (_, said) = sb.run(&["restore", "latest", "--at", &time, "--to", "early", "--yes"], 1);
    assert!(said.contains("no archive was taken at or before") || said.contains("earliest"), "{said}");
    assert!(!sb.path("early").exists());
    // Into a folder that holds the database already: the plan's refusal
    // says so (not "no SQLite database to rebuild"), nothing is written.
    std::fs::create_dir_all(sb.path("taken")).unwrap();
    std::fs::write(sb.path("taken/ledger.db"), b"precious").unwrap();
    let time = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (_, said) = sb.run(&["restore", "latest", "--at", &time, "--to", "taken", "--dry-run"], 1);
    assert!(said.contains("ledger.db already exists") && !said.contains("no SQLite database"), "{said}");
    assert_eq!(std::fs::read(sb.path("taken/ledger.db")).unwrap(), b"precious");
}

/// The keys of the increments of `database` in the bucket, under `prefix`.
fn remote_increments(s3: &SeaweedFs, prefix: &str, database: &str) -> Vec<String> {
    let folder = format!("{prefix}continuous/{database}/");
    s3.keys(&folder).into_iter().filter_map(|k| k.strip_prefix(&folder).map(str::to_string)).collect()
}

/// The increment files of `database` in `out/continuous`, sorted.
fn local_increments(sb: &Sandbox, database: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(sb.path(&format!("out/continuous/{database}"))) else { return Vec::new() };
    let mut names: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".inc") || n.ends_with(".inc.age"))
        .collect();
    names.sort();
    names
}

/// Increments reach `[[destinations.s3]]` under a writer, through an
/// outage of the store (every one arrives once it answers again), a chain
/// that local retention removes goes from the bucket too, and a fresh
/// server with only the config restores `--at` moments `--from` the store.
#[test]
fn increments_reach_s3_through_an_outage_and_a_fresh_server_restores_from_there() {
    let mut s3 = SeaweedFs::start();
    let sb = Sandbox::new();
    let db = sb.path("data/ledger.db");
    drop(ledger(&db));
    let config = format!(
        "[continuous]\nenabled = true\ninterval_secs = {INTERVAL_SECS}\n{}",
        common::s3_destination(sb.dir.path(), &s3)
    );
    sb.write_config(&["ledger.db"], &config);
    sb.run(&["backup", "--deliver"], 0);
    common::next_second();
    let scheduler = daemon(&sb);
    let deadline = Instant::now() + Duration::from_secs(20);
    while local_increments(&sb, "ledger.db").is_empty() {
        assert!(Instant::now() < deadline, "no increment after 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop_writer = Arc::new(AtomicBool::new(false));
    let committed: Committed = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (db, stop_writer, committed) = (db.clone(), stop_writer.clone(), committed.clone());
        std::thread::spawn(move || write(db, stop_writer, committed, None))
    };
    let started = Utc::now();
    std::thread::sleep(Duration::from_secs(3));
    let before_down = remote_increments(&s3, "bot/", "ledger.db").len();
    assert!(before_down > 0, "no increment reached the store in 3 s");
    s3.kill();
    let down = Utc::now();
    std::thread::sleep(Duration::from_secs(4));
    let captured_while_down = local_increments(&sb, "ledger.db").len();
    s3.run();
    let up = Utc::now();
    std::thread::sleep(Duration::from_secs(3));
    stop_writer.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let ended = Utc::now();
    let committed = committed.lock().unwrap().clone();
    // Every increment written, outage or not, reaches the store.
    std::thread::sleep(Duration::from_secs(2 * INTERVAL_SECS as u64 + 1));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (local, remote) = (local_increments(&sb, "ledger.db"), remote_increments(&s3, "bot/", "ledger.db"));
        if local == remote {
            assert!(remote.len() >= captured_while_down && captured_while_down > before_down + 2, "{remote:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the store holds {} of {} increments", remote.len(), local.len());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(scheduler);
    // A fresh server: the same config, nothing in out/.
    let fresh = Sandbox::new();
    fresh.write_config(&["ledger.db"], &config);
    let moments = [down + (up - down) / 2, ended];
    for (n, at) in moments.into_iter().enumerate() {
        let time = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let to = fresh.path(&format!("at{n}"));
        let (_, said) = fresh.run(
            &["restore", "latest", "--at", &time, "--from", "offsite", "--to", &to.display().to_string(), "--yes"],
            0,
        );
        assert!(n > 0 || said.contains("continuous increment(s) from offsite"), "{said}");
        check(&to.join("ledger.db"), at, &committed, &said);
    }
    assert!(started < down);
    // New chains there take numbers after the store's: none is overwritten.
    let state = lifeboat_core::state::State::open(&fresh.path("out/.lifeboat/state.db")).unwrap();
    let newest = local_increments(&sb, "ledger.db").iter().filter_map(|n| n[1..7].parse::<u32>().ok()).max();
    assert!(state.next_generation_floor("ledger.db").unwrap() > newest.unwrap());
    retention_reaches_the_store(&s3);
}

/// Local retention removes an old chain; the copy loop deletes it from the
/// store, and only it.
fn retention_reaches_the_store(s3: &SeaweedFs) {
    use lifeboat_core::source::sqlite::continuous;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let secret = s3.secret_file(dir.path());
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            "[backup]\nsource_dir = {data:?}\noutput_dir = {:?}\ndatabases = [\"a.db\"]\n\
             [continuous]\nenabled = true\nkeep_days = 1\n\
             [[destinations.s3]]\nname = \"offsite\"\nendpoint = {:?}\nbucket = {:?}\nprefix = \"retention/\"\n\
             access_key_id = {:?}\nsecret_access_key_file = {secret:?}\n",
            dir.path().join("out"),
            s3.endpoint,
            s3.bucket,
            s3.access_key,
        ),
    )
    .unwrap();
    let cfg = lifeboat_engine::config::Config::load(Some(&config)).unwrap();
    let state = cfg.open_state().unwrap();
    // Two chains: the second starts when the file is replaced by another.
    for rows in 1..=2 {
        lifeboat_testkit::sqlite::replace_with_wal_db(&data.join("a.db"), rows);
        continuous::capture(&cfg.continuous_setup(), &state, "a.db", &Utc::now).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = lifeboat_s3::Store::named(
        &cfg.destinations.s3,
        &lifeboat_core::destination::DestinationId::s3("offsite"),
        &cfg.retry,
    )
    .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let copied = rt
        .block_on(lifeboat_s3::copy_increments(&cfg.continuous_setup(), &cfg.surroundings(), &store, &cancel))
        .unwrap();
    assert_eq!((copied.uploaded, copied.deleted), (2, 0));
    let both = remote_increments(s3, "retention/", "a.db");
    assert_eq!(both.len(), 2, "{both:?}");
    // Nothing new: nothing copied again.
    let again = rt
        .block_on(lifeboat_s3::copy_increments(&cfg.continuous_setup(), &cfg.surroundings(), &store, &cancel))
        .unwrap();
    assert_eq!(again, lifeboat_s3::IncrementCopies::default());
    assert_eq!(continuous::prune(&cfg.continuous_setup(), &state, "a.db", Utc::now() + TimeDelta::days(2)).unwrap(), 1);
    let pruned = rt
        .block_on(lifeboat_s3::copy_increments(&cfg.continuous_setup(), &cfg.surroundings(), &store, &cancel))
        .unwrap();
    assert_eq!((pruned.uploaded, pruned.deleted), (0, 1));
    assert_eq!(remote_increments(s3, "retention/", "a.db"), both[1..].to_vec());
}
