//! Archives built to hurt: a manifest naming a live database's `-wal`, a
//! valid database of another application, an empty manifest, row counts that
//! lie, and ZIP bombs whose header and manifest both tell the same big lie.
//! Each is refused through the `lifeboat` binary with nothing written, and a
//! bot's committed data survives.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use lifeboat_testkit::tmpfs::Tmpfs;
use rusqlite::Connection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const DB: &str = "premium_system.db";

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("lifeboat.toml");
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(
            &config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [{DB:?}]\n",
                dir.path().join("data"),
                dir.path().join("out")
            ),
        )
        .unwrap();
        let env = Env { dir, config };
        let c = Connection::open(env.live()).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
             INSERT INTO users(name) SELECT 'user-' || i FROM n;",
        )
        .unwrap();
        env
    }

    fn live(&self) -> PathBuf {
        self.dir.path().join("data").join(DB)
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn run_with(&self, args: &[&str], envs: &[(&str, &Path)]) -> (i32, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        c.arg("--config").arg(&self.config).args(args).current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LIFEBOAT") {
                c.env_remove(k);
            }
        }
        for (k, v) in envs {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with(args, &[])
    }

    /// A real backup; returns the archive's path.
    fn backup(&self) -> PathBuf {
        let (code, stdout, stderr) = self.run(&["backup"]);
        assert_eq!(code, 0, "{stderr}");
        PathBuf::from(stdout.lines().next().unwrap().trim())
    }

    /// Rewrites a real archive as a newer one in output_dir, after `edit`
    /// changed its manifest and entries. Returns the new archive's name.
    fn forge(&self, from: &Path, edit: impl FnOnce(&mut Value, &mut Vec<(String, Vec<u8>)>)) -> String {
        let mut zin = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        let mut manifest = Value::Null;
        for i in 0..zin.len() {
            let mut e = zin.by_index(i).unwrap();
            let name = e.name().unwrap().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            if name == "manifest.json" {
                manifest = serde_json::from_slice(&data).unwrap();
            } else {
                entries.push((name, data));
            }
        }
        edit(&mut manifest, &mut entries);
        entries.push(("manifest.json".into(), serde_json::to_vec(&manifest).unwrap()));
        let name = "database_backup_20991231_235959.zip".to_string();
        let mut z = zip::ZipWriter::new(std::fs::File::create(self.out().join(&name)).unwrap());
        for (n, data) in entries {
            z.start_file(n, zip::write::SimpleFileOptions::default()).unwrap();
            z.write_all(&data).unwrap();
        }
        z.finish().unwrap();
        name
    }

    fn files_in(&self, dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }
}

fn db_entry(name: &str, data: &[u8]) -> Value {
    json!({
        "name": name, "size": data.len(), "sha256": hex::encode(Sha256::digest(data)),
        "integrity": "ok", "journal_mode": "delete", "page_size": 4096, "tables": [],
    })
}

/// The `sqlite3` shell as the bot: WAL mode, no automatic checkpoint, so
/// its committed rows stay in the `-wal` file while it keeps running.
struct Bot {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Bot {
    fn start(db: &Path) -> Bot {
        let mut child = Command::new("sqlite3")
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sqlite3 shell (.ci/run installs it)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut bot = Bot { child, stdin, stdout };
        bot.exec("PRAGMA wal_autocheckpoint=0; PRAGMA journal_mode=WAL;");
        bot
    }

    /// Runs SQL and waits until the shell has done it.
    fn exec(&mut self, sql: &str) {
        writeln!(self.stdin, "{sql}\n.print done").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "the bot exited");
            if line.trim() == "done" {
                return;
            }
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn users(db: &Path) -> i64 {
    Connection::open(db).unwrap().query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)).unwrap()
}

#[test]
fn an_archive_naming_the_live_wal_cannot_touch_the_bots_committed_rows() {
    let env = Env::new();
    let good = env.backup();
    let hostile = env.forge(&good, |m, entries| {
        let junk = b"not a write-ahead log, and it would replace the bot's".to_vec();
        m["databases"].as_array_mut().unwrap().push(db_entry(&format!("{DB}-wal"), &junk));
        entries.push((format!("{DB}-wal"), junk));
    });

    let mut bot = Bot::start(&env.live());
    bot.exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
         INSERT INTO users(name) SELECT 'paid-' || i FROM n;",
    );
    let wal = env.live().with_file_name(format!("{DB}-wal"));
    assert!(wal.metadata().unwrap().len() > 0, "the committed rows are in the WAL");
    let wal_before = std::fs::read(&wal).unwrap();

    let (code, stdout, stderr) = env.run(&["verify", &hostile]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("journal file"), "{stdout}");
    for args in [vec!["restore", hostile.as_str(), "--yes"], vec!["restore", "latest", "--yes"]] {
        let (code, stdout, stderr) = env.run(&args);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(&format!("{DB}-wal")) && stderr.contains("journal file"), "{stderr}");
    }
    assert_eq!(std::fs::read(&wal).unwrap(), wal_before, "the live WAL is untouched");
    assert!(
        !env.files_in(&env.dir.path().join("data")).iter().any(|f| f.contains("unreadable")),
        "nothing was moved aside"
    );
    bot.kill();
    assert_eq!(users(&env.live()), 500, "every committed row is still there");
}

#[test]
fn a_live_restore_writes_only_the_configured_databases() {
    let env = Env::new();
    let good = env.backup();
    let other = env.dir.path().join("other.db");
    Connection::open(&other).unwrap().execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
    let bytes = std::fs::read(&other).unwrap();
    let archive = env.forge(&good, |m, entries| {
        let mut e = db_entry("extra.db", &bytes);
        e["tables"] = json!([{ "name": "t", "rows": 1 }]);
        m["databases"].as_array_mut().unwrap().push(e);
        entries.push(("extra.db".into(), bytes.clone()));
    });
    let (code, stdout, stderr) = env.run(&["restore", &archive, "--only", "extra.db", "--yes"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("not in backup.databases") && stderr.contains("--to"), "{stderr}");
    let (code, stdout, stderr) = env.run(&["restore", &archive, "--yes"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("not in backup.databases") && stdout.contains("extra.db"), "{stdout}");
    assert!(!env.dir.path().join("data/extra.db").exists(), "never written into source_dir");
    let to = env.dir.path().join("elsewhere");
    let (code, _, stderr) =
        env.run(&["restore", &archive, "--only", "extra.db", "--to", to.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(to.join("extra.db").is_file());
}

#[test]
fn restore_to_an_existing_folder_keeps_its_permissions() {
    let env = Env::new();
    env.backup();
    let shared = env.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let (code, _, stderr) = env.run(&["restore", "latest", "--to", shared.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(shared.metadata().unwrap().permissions().mode() & 0o7777, 0o1777);
    assert_eq!(shared.join(DB).metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let fresh = env.dir.path().join("new/deeper");
    let (code, _, stderr) = env.run(&["restore", "latest", "--to", fresh.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fresh.metadata().unwrap().permissions().mode() & 0o777, 0o700, "a folder Lifeboat creates is private");
}

#[test]
fn another_applications_database_needs_force_schema() {
    let env = Env::new();
    let good = env.backup();
    let foreign = env.dir.path().join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE orders(id INTEGER PRIMARY KEY, total REAL); INSERT INTO orders VALUES (1, 9.5);")
        .unwrap();
    let bytes = std::fs::read(&foreign).unwrap();
    let archive = env.forge(&good, |m, entries| {
        let mut e = db_entry(DB, &bytes);
        e["tables"] = json!([{ "name": "orders", "rows": 1 }]);
        m["databases"] = json!([e]);
        entries.retain(|(n, _)| n != DB);
        entries.push((DB.into(), bytes.clone()));
    });
    let (code, stdout, _) = env.run(&["restore", &archive, "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("schema differs: only the live database has table users")
            && stdout.contains("only the archive has table orders")
            && stdout.contains("--force-schema"),
        "{stdout}"
    );
    let live_before = std::fs::read(env.live()).unwrap();
    let (code, stdout, stderr) = env.run(&["restore", &archive, "--yes"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("tables differ") && stderr.contains("--force-schema"), "{stderr}");
    assert_eq!(std::fs::read(env.live()).unwrap(), live_before, "nothing written");
    assert_eq!(env.files_in(&env.out()).iter().filter(|f| f.ends_with(".zip")).count(), 2, "no safety snapshot either");

    let (code, stdout, stderr) = env.run(&["restore", &archive, "--yes", "--force-schema"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("--force-schema"), "the outcome notes it: {stdout}");
    let n: i64 =
        Connection::open(env.live()).unwrap().query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn an_archive_without_databases_or_with_lying_row_counts_does_not_verify() {
    let env = Env::new();
    let good = env.backup();
    let empty = env.forge(&good, |m, entries| {
        m["databases"] = json!([]);
        entries.retain(|(n, _)| n != DB);
    });
    let (code, stdout, _) = env.run(&["verify", &empty]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("lists no databases"), "{stdout}");
    std::fs::remove_file(env.out().join(&empty)).unwrap();

    let lying = env.forge(&good, |m, _| {
        m["databases"][0]["tables"][0]["rows"] = json!(1_000_000);
    });
    let (code, stdout, _) = env.run(&["verify", &lying]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("row counts differ from the manifest"), "{stdout}");
    Connection::open(env.live()).unwrap().execute("DELETE FROM users WHERE id > 3", []).unwrap();
    let (code, _, stderr) = env.run(&["restore", &lying, "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("did not verify"), "{stderr}");
    assert_eq!(users(&env.live()), 3, "refused before writing");
}

/// An entry of `size` zero bytes, deflated; its manifest entry tells the truth
/// about the size and sha256, as an "honest" bomb does.
fn zero_bomb(env: &Env, good: &Path, size: u64) -> String {
    let mut hasher = Sha256::new();
    let mut left = size;
    let chunk = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    let sha = hex::encode(hasher.finalize());
    let mut zin = zip::ZipArchive::new(std::fs::File::open(good).unwrap()).unwrap();
    let mut manifest: Value = serde_json::from_reader(zin.by_name("manifest.json").unwrap()).unwrap();
    manifest["databases"][0]["size"] = json!(size);
    manifest["databases"][0]["sha256"] = json!(sha);
    let name = "database_backup_20991231_235959.zip".to_string();
    let mut z = zip::ZipWriter::new(std::fs::File::create(env.out().join(&name)).unwrap());
    let opts = zip::write::SimpleFileOptions::default().large_file(size > u32::MAX as u64);
    z.start_file(DB, opts).unwrap();
    std::io::copy(&mut std::io::repeat(0).take(size), &mut z).unwrap();
    z.start_file("manifest.json", zip::write::SimpleFileOptions::default()).unwrap();
    z.write_all(&serde_json::to_vec(&manifest).unwrap()).unwrap();
    z.finish().unwrap();
    name
}

#[test]
fn an_honest_zip_bomb_is_refused_before_filling_the_disk() {
    let env = Env::new();
    let good = env.backup();
    let bomb = zero_bomb(&env, &good, 1536 << 20);
    let (code, stdout, stderr) = env.run(&["verify", &bomb]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("ZIP bomb"), "{stdout}");

    // With less room than the archive declares, nothing is extracted at all.
    let Some(small) = Tmpfs::mount(32 * 1024) else { return };
    let (code, stdout, stderr) = env.run_with(&["verify", &bomb], &[("TMPDIR", small.path())]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("only") && stdout.contains("free"), "{stdout}");
    let (code, _, stderr) = env.run(&["restore", &bomb, "--to", "x", "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!env.dir.path().join("x").join(DB).exists());
}

#[test]
fn a_bomb_of_zeros_below_the_ratio_check_stops_at_its_first_bytes() {
    let env = Env::new();
    let good = env.backup();
    let bomb = zero_bomb(&env, &good, 200 << 20);
    let (code, stdout, stderr) = env.run(&["verify", &bomb]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("not an SQLite database"), "{stdout}");
}
