//! One suite every kind of source passes, through the `lifeboat` binary and
//! its config file: real data is backed up, the archive verifies, a restore
//! (in place where the kind can, else `--to DIR`) gives back every row, key
//! and byte that was backed up, and a scheduled backup with nothing changed
//! is recorded as unchanged while one after a change is not.
//!
//! The kinds are those of [`Kind`]: [`fixture`] matches on it exhaustively,
//! so a new kind does not compile until it has a fixture, and
//! `the_suite_covers_every_kind` fails until [`suite!`] runs it.
//! PostgreSQL and Redis are real servers on loopback, one per test.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Sandbox, file_name, next_second};
use lifeboat_core::manifest::Kind;
use lifeboat_testkit::servers::{Postgres, Redis, program};

/// What a source holds, in a form compared exactly: a table, a key or a
/// file by name, and its every row, value or byte as text.
type Contents = BTreeMap<String, String>;

/// One kind of source with real data in it.
trait SourceFixture {
    /// `backup.databases`, and the TOML configuring the source.
    fn config(&self, sb: &Sandbox) -> (Vec<&'static str>, String);
    /// Everything the live source holds now.
    fn live(&self) -> Contents;
    /// What a restore in place also puts back besides the data (a file's
    /// permissions); `restore --to` need not.
    fn metadata(&self) -> Contents {
        Contents::new()
    }
    /// Everything the copy `restore --to DIR` wrote into `dir` holds.
    fn restored_in(&self, dir: &Path) -> Contents;
    /// A write, as the bot would make: every call changes the data again.
    fn change(&self, n: u32);
    /// Whether `restore` without `--to` puts the data back into the source.
    fn restores_in_place(&self) -> bool;
}

/// The fixture of `kind`, its data in place. Exhaustive on purpose: a new
/// kind of source gets its fixture here.
fn fixture(kind: Kind, sb: &Sandbox) -> Box<dyn SourceFixture> {
    match kind {
        Kind::Sqlite => Box::new(SqliteFixture::new(sb)),
        Kind::Postgres => Box::new(PostgresFixture::new()),
        Kind::Redis => Box::new(RedisFixture::new()),
        Kind::File => Box::new(FilesFixture::new(sb)),
    }
}

/// One test per kind, and the list of kinds they cover.
macro_rules! suite {
    ($($test:ident => $kind:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                conformance($kind);
            }
        )*
        const COVERED: &[Kind] = &[$($kind),*];
    };
}

suite! {
    sqlite_source_conforms => Kind::Sqlite,
    postgres_source_conforms => Kind::Postgres,
    redis_source_conforms => Kind::Redis,
    files_source_conforms => Kind::File,
}

/// Every variant of [`Kind`], read from serde's refusal of an unknown one
/// ("unknown variant `x`, expected one of `sqlite`, `postgres`, …"): the
/// enum itself, not a list kept beside it.
fn every_kind() -> Vec<Kind> {
    let err = serde_json::from_str::<Kind>("\"no-such-kind\"").unwrap_err().to_string();
    let (_, listed) = err.split_once("expected one of").unwrap_or_else(|| panic!("serde's message changed: {err}"));
    // The names are the quoted words: `sqlite`, `postgres`, …
    listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| serde_json::from_value(serde_json::Value::String(name.to_string())).unwrap())
        .collect()
}

#[test]
fn the_suite_covers_every_kind() {
    let every = every_kind();
    assert!(every.len() >= 4, "{every:?}");
    for kind in &every {
        assert!(COVERED.contains(kind), "the suite does not run over {kind:?}: add it to suite! above");
    }
    assert_eq!(COVERED.len(), every.len(), "a kind is listed twice: {COVERED:?}");
}

/// The suite, over one kind.
fn conformance(kind: Kind) {
    let sb = Sandbox::new();
    let source = fixture(kind, &sb);
    let (databases, toml) = source.config(&sb);
    sb.write_config(&databases, &toml);
    let (before, metadata) = (source.live(), source.metadata());
    assert!(!before.is_empty(), "{kind:?}: the fixture holds data");

    let (archive, said) = sb.run(&["backup"], 0);
    assert!(archive.is_file(), "{kind:?}: {said}");
    let entries = manifest_kinds(&archive);
    assert!(!entries.is_empty() && entries.iter().all(|k| k == kind.as_str()), "{kind:?}: {entries:?}");
    sb.run(&["verify", "latest"], 0);

    let to = sb.path("restored");
    sb.run(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"], 0);
    assert_eq!(source.restored_in(&to), before, "{kind:?}: what restore --to wrote differs from what was backed up");

    next_second();
    source.change(1);
    assert_ne!(
        (source.live(), source.metadata()),
        (before.clone(), metadata.clone()),
        "{kind:?}: the change changed nothing"
    );
    let name = file_name(&archive);
    if source.restores_in_place() {
        sb.run(&["restore", &name, "--yes"], 0);
        assert_eq!(source.live(), before, "{kind:?}: the source restored in place differs from what was backed up");
        assert_eq!(source.metadata(), metadata, "{kind:?}: restored in place without its metadata");
    } else {
        let changed = source.live();
        let out = sb.cmd(&["restore", &name, "--yes"]).assert().failure().get_output().clone();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("--to"), "{kind:?}: a refused live restore says what to do: {said}");
        assert_eq!(source.live(), changed, "{kind:?}: a refused restore changed the source");
    }

    // Nothing changes between two scheduled backups: the second is
    // unchanged and writes nothing. (The first may write an archive: a
    // restore in place leaves the data as it was before the safety copy.)
    next_second();
    scheduled_backup(&sb);
    let archives = sb.archives();
    next_second();
    assert_eq!(scheduled_backup(&sb), None, "{kind:?}: nothing changed, yet a new archive was written");
    assert_eq!(sb.archives(), archives, "{kind:?}: an unchanged backup wrote a file");
    next_second();
    source.change(2);
    let made = scheduled_backup(&sb).unwrap_or_else(|| panic!("{kind:?}: a change was taken for no change"));
    assert!(sb.archives().contains(&made), "{kind:?}: {made} is not in the archive folder");
}

/// A scheduled backup (the scheduler's, honouring `backup.skip_unchanged`):
/// the archive it wrote, or None when it found nothing changed.
fn scheduled_backup(sb: &Sandbox) -> Option<String> {
    use lifeboat_engine::backup::{self, BackupError};
    let cfg = lifeboat_engine::Config::load(Some(&sb.config)).unwrap();
    let state = cfg.open_state().unwrap();
    let opts = common::scheduled_now();
    match backup::run_unless_unchanged(&cfg, &state, opts) {
        Ok(outcome) => Some(outcome.archive.name),
        Err(BackupError::Unchanged { .. }) => None,
        Err(e) => panic!("the scheduled backup failed: {e}"),
    }
}

/// Each entry's kind in the archive's manifest.json.
fn manifest_kinds(archive: &Path) -> Vec<String> {
    let out = Command::new("unzip").arg("-p").arg(archive).arg("manifest.json").output().unwrap();
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    m["databases"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap_or("sqlite").to_string()).collect()
}

/// `data/app.db`: a WAL ledger, and a table of blobs, NULLs and reals.
struct SqliteFixture {
    db: PathBuf,
}

impl SqliteFixture {
    fn new(sb: &Sandbox) -> SqliteFixture {
        let db = sb.path("data/app.db");
        lifeboat_testkit::sqlite::create_ledger(&db, lifeboat_testkit::sqlite::Mode::Wal, 300, 40).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE odd (id INTEGER PRIMARY KEY, b BLOB, r REAL, t TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
             INSERT INTO odd (b, r, t) SELECT randomblob(i * 10), i / 7.0, CASE WHEN i % 3 = 0 THEN NULL ELSE 'é' || i END FROM n;",
        )
        .unwrap();
        SqliteFixture { db }
    }
}

/// Every row of every table of the SQLite database at `path`.
fn sqlite_contents(path: &Path) -> Contents {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut st = conn.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid")).unwrap();
            let columns = st.column_count();
            let rows: Vec<String> = st
                .query_map([], |r| {
                    (0..columns).map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}"))).collect()
                })
                .unwrap()
                .map(|r: rusqlite::Result<Vec<String>>| r.unwrap().join("|"))
                .collect();
            (t, rows.join("\n"))
        })
        .collect()
}

impl SourceFixture for SqliteFixture {
    fn config(&self, _: &Sandbox) -> (Vec<&'static str>, String) {
        (vec!["app.db"], String::new())
    }

    fn live(&self) -> Contents {
        sqlite_contents(&self.db)
    }

    fn restored_in(&self, dir: &Path) -> Contents {
        sqlite_contents(&dir.join("app.db"))
    }

    fn change(&self, n: u32) {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.execute_batch(&format!(
            "DELETE FROM payments WHERE id % 10 = {n}; UPDATE odd SET t = 'changed {n}' WHERE id < 5;"
        ))
        .unwrap();
    }

    fn restores_in_place(&self) -> bool {
        true
    }
}

/// Database `bot` on a PostgreSQL server of its own: two related tables,
/// and one of the types a dump must carry exactly.
struct PostgresFixture {
    pg: Postgres,
}

impl PostgresFixture {
    fn new() -> PostgresFixture {
        let pg = Postgres::start();
        pg.psql("postgres", "CREATE DATABASE bot");
        pg.psql(
            "bot",
            "CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL);
             CREATE TABLE items (order_id bigint NOT NULL REFERENCES orders(id), n int NOT NULL);
             CREATE TABLE odd (id serial PRIMARY KEY, b bytea, j jsonb, at timestamptz, amount numeric(12, 4), t text);
             INSERT INTO orders SELECT g, repeat('x', g % 50) FROM generate_series(1, 500) g;
             INSERT INTO items SELECT g, k FROM generate_series(1, 500) g, generate_series(1, 2) k;
             INSERT INTO odd (b, j, at, amount, t)
               SELECT decode(md5(g::text), 'hex'), jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)),
                      timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour', g / 3.0,
                      CASE WHEN g % 4 = 0 THEN NULL ELSE 'ünïcode ' || g END
               FROM generate_series(1, 100) g;",
        );
        PostgresFixture { pg }
    }

    fn contents(&self, db: &str) -> Contents {
        let tables = self.pg.psql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
        tables
            .lines()
            .map(|t| {
                let rows = self.pg.psql(
                    db,
                    &format!("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM public.{t} t"),
                );
                (t.to_string(), rows)
            })
            .collect()
    }
}

impl SourceFixture for PostgresFixture {
    fn config(&self, sb: &Sandbox) -> (Vec<&'static str>, String) {
        let pw = self.pg.password_file(sb.dir.path());
        (
            vec![],
            format!("[[sources.postgres]]\nname = \"main\"\nurl = {:?}\npassword_file = {pw:?}\n", self.pg.url("bot")),
        )
    }

    fn live(&self) -> Contents {
        self.contents("bot")
    }

    /// Loaded with `pg_restore` into a fresh database.
    fn restored_in(&self, dir: &Path) -> Contents {
        self.pg.psql("postgres", "CREATE DATABASE restored");
        let out = Command::new(program("pg_restore", "postgresql-client"))
            .env("PGPASSWORD", &self.pg.password)
            .arg("--dbname")
            .arg(self.pg.url("restored"))
            .arg("--exit-on-error")
            .arg(dir.join("main.pgdump"))
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
        self.contents("restored")
    }

    fn change(&self, n: u32) {
        self.pg.psql(
            "bot",
            &format!(
                "DELETE FROM items WHERE order_id % 10 = {n}; UPDATE orders SET note = 'changed {n}' WHERE id < 5;
                 INSERT INTO odd (t) VALUES ('new {n}');"
            ),
        );
    }

    fn restores_in_place(&self) -> bool {
        true
    }
}

/// A Redis server of its own with keys of every type, one expiring, and
/// one in database 3.
struct RedisFixture {
    redis: Redis,
}

impl RedisFixture {
    fn new() -> RedisFixture {
        let redis = Redis::start();
        common::redis_keys_of_every_type(&redis);
        redis.cli(&["XADD", "events", "1-1", "kind", "start"]);
        RedisFixture { redis }
    }
}

/// Every key of databases 0 and 3 of `redis`, with its type and value.
fn redis_contents(redis: &Redis) -> Contents {
    let mut contents = Contents::new();
    for db in ["0", "3"] {
        let cli = |args: &[&str]| redis.cli(&[&["-n", db], args].concat());
        for key in cli(&["--scan"]).lines().filter(|k| !k.is_empty()) {
            let kind = cli(&["TYPE", key]);
            let mut value = match kind.as_str() {
                "string" => cli(&["GET", key]),
                "list" => cli(&["LRANGE", key, "0", "-1"]),
                "hash" => sorted_lines(&cli(&["HGETALL", key]), 2),
                "set" => sorted_lines(&cli(&["SMEMBERS", key]), 1),
                "zset" => cli(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
                "stream" => cli(&["XRANGE", key, "-", "+"]),
                other => panic!("no reader for a Redis {other}"),
            };
            if cli(&["TTL", key]).parse::<i64>().unwrap() > 0 {
                value.push_str(" (expires)");
            }
            contents.insert(format!("{db}/{key}"), format!("{kind}: {value}"));
        }
    }
    contents
}

/// `text`'s lines in groups of `n` (a hash's field and value), sorted.
fn sorted_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut groups: Vec<String> = lines.chunks(n).map(|c| c.join("=")).collect();
    groups.sort();
    groups.join("\n")
}

impl SourceFixture for RedisFixture {
    fn config(&self, sb: &Sandbox) -> (Vec<&'static str>, String) {
        (vec![], common::redis_source(sb.dir.path(), &self.redis))
    }

    fn live(&self) -> Contents {
        redis_contents(&self.redis)
    }

    /// Loaded by a second server started on the restored dump.
    fn restored_in(&self, dir: &Path) -> Contents {
        redis_contents(&Redis::start_with(Some(&dir.join("cache.rdb"))))
    }

    fn change(&self, n: u32) {
        self.redis.cli(&["SET", "greeting", &format!("changed {n}")]);
        self.redis.cli(&["RPUSH", "queue", &format!("d{n}")]);
    }

    /// Loaded into the running server key by key (a private redis-server
    /// holds the dump), with no restart.
    fn restores_in_place(&self) -> bool {
        true
    }
}

/// Files under `bot/` picked by a plain path and a `**` glob: text, a
/// binary file, a file with its own permissions, a nested folder.
struct FilesFixture {
    root: PathBuf,
}

impl FilesFixture {
    fn new(sb: &Sandbox) -> FilesFixture {
        use std::os::unix::fs::PermissionsExt;
        let root = sb.path("bot");
        std::fs::create_dir_all(root.join("data/deep")).unwrap();
        std::fs::write(root.join("config.toml"), "token_file = \"x\"\n").unwrap();
        std::fs::set_permissions(root.join("config.toml"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::write(root.join("data/a.json"), r#"{"a":1}"#).unwrap();
        std::fs::write(root.join("data/deep/c.json"), r#"{"c":[3]}"#).unwrap();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        std::fs::write(root.join("data/blob.json"), bytes).unwrap();
        FilesFixture { root }
    }

    /// Each file under `root`, and its bytes (`bytes`) or permissions.
    fn walk(root: &Path, bytes: bool) -> Contents {
        use std::os::unix::fs::PermissionsExt;
        let mut contents = Contents::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                let value = if bytes {
                    hex::encode(std::fs::read(&path).unwrap())
                } else {
                    format!("{:o}", std::fs::metadata(&path).unwrap().permissions().mode() & 0o777)
                };
                contents.insert(rel, value);
            }
        }
        contents
    }
}

impl SourceFixture for FilesFixture {
    fn config(&self, _: &Sandbox) -> (Vec<&'static str>, String) {
        let paths = [format!("{}/config.toml", self.root.display()), format!("{}/data/**/*.json", self.root.display())];
        (vec![], format!("[[sources.files]]\nname = \"files\"\npaths = {paths:?}\n"))
    }

    fn live(&self) -> Contents {
        FilesFixture::walk(&self.root, true)
    }

    fn metadata(&self) -> Contents {
        FilesFixture::walk(&self.root, false)
    }

    /// Under `DIR/files/<the path it was read from>`.
    fn restored_in(&self, dir: &Path) -> Contents {
        FilesFixture::walk(&dir.join(format!("files{}", self.root.display())), true)
    }

    fn change(&self, n: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(self.root.join("data/a.json"), format!(r#"{{"a":"changed {n}"}}"#)).unwrap();
        let _ = std::fs::remove_file(self.root.join("data/deep/c.json"));
        std::fs::set_permissions(self.root.join("config.toml"), std::fs::Permissions::from_mode(0o666)).unwrap();
    }

    fn restores_in_place(&self) -> bool {
        true
    }
}
