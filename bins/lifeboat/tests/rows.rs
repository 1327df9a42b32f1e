//! `lifeboat diff` and `lifeboat export` end to end: real archives, a live
//! database read through a snapshot, the system `sqlite3` applying
//! `diff --sql`, and exports parsed back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Env {
        Env::with_extra(|_| String::new())
    }

    /// With more configuration, made from the test's folder.
    fn with_extra(extra: impl FnOnce(&Path) -> String) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let extra = extra(dir.path());
        let config = dir.path().join("lifeboat.toml");
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(
            &config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"shop.db\", \"other.db\"]\n{extra}",
                dir.path().join("data").display(),
                dir.path().join("out").display()
            ),
        )
        .unwrap();
        Env { dir, config }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn db(&self) -> PathBuf {
        self.path("data/shop.db")
    }

    fn run(&self, args: &[&str]) -> Output {
        common::lifeboat(&self.config, self.dir.path(), args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Runs `backup` and returns the archive's file name.
    fn backup(&self) -> String {
        let path = PathBuf::from(self.ok(&["backup"]).lines().next().unwrap().trim());
        // Archive names have a one-second resolution.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        path.file_name().unwrap().to_string_lossy().into_owned()
    }
}

/// `payments` (INTEGER PRIMARY KEY, 100 rows), `balances` (WITHOUT ROWID,
/// text key, 20 rows), `log` (no key: rowid, 10 rows), `other.db`.
fn seed(env: &Env) {
    let c = Connection::open(env.db()).unwrap();
    c.execute_batch(
        "CREATE TABLE payments (id INTEGER PRIMARY KEY, user TEXT NOT NULL, amount REAL, note TEXT);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100)
         INSERT INTO payments SELECT x, 'u' || (x % 7), x * 1.5, 'it''s ' || x || char(10) || 'line' FROM n;
         CREATE TABLE balances (user TEXT PRIMARY KEY, cents INTEGER) WITHOUT ROWID;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20)
         INSERT INTO balances SELECT 'user' || x, x * 9007199254740993 / 1000000 FROM n;
         CREATE TABLE log (msg TEXT, at INTEGER);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10)
         INSERT INTO log SELECT 'event ' || x, x FROM n;",
    )
    .unwrap();
    Connection::open(env.path("data/other.db")).unwrap().execute_batch("CREATE TABLE k (v);").unwrap();
}

/// Inserts 10, deletes 3, updates 5 payments; inserts 2, deletes 1,
/// updates 1 balance; deletes 2 and inserts 1 log line.
fn change(env: &Env) {
    Connection::open(env.db())
        .unwrap()
        .execute_batch(
            "WITH RECURSIVE n(x) AS (SELECT 101 UNION ALL SELECT x + 1 FROM n WHERE x < 110)
             INSERT INTO payments SELECT x, 'new', x, NULL FROM n;
             DELETE FROM payments WHERE id IN (7, 42, 99);
             UPDATE payments SET amount = amount + 1 WHERE id IN (1, 2, 3, 4, 5);
             INSERT INTO balances VALUES ('zed', 1), ('amy', 2);
             DELETE FROM balances WHERE user = 'user3';
             UPDATE balances SET cents = -9007199254740993 WHERE user = 'user4';
             DELETE FROM log WHERE at IN (2, 9);
             INSERT INTO log VALUES ('late', 11);",
        )
        .unwrap();
}

fn counts(report: &Value, db: &str) -> Vec<(String, u64, u64, u64)> {
    let d = report["databases"].as_array().unwrap().iter().find(|d| d["name"] == db).unwrap();
    d["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["added"].as_u64().unwrap(),
                t["removed"].as_u64().unwrap(),
                t["changed"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected() -> Vec<(String, u64, u64, u64)> {
    vec![("balances".into(), 2, 1, 1), ("log".into(), 1, 2, 0), ("payments".into(), 10, 3, 5)]
}

/// Every row of every table, in key order: a database's contents to compare.
fn dump(db: &Path, table: &str, order: &str) -> Vec<Vec<String>> {
    let c = Connection::open(db).unwrap();
    let mut s = c
        .prepare(&format!("SELECT quote(rowid), * FROM {table} ORDER BY {order}"))
        .unwrap_or_else(|_| c.prepare(&format!("SELECT NULL, * FROM {table} ORDER BY {order}")).unwrap());
    let n = s.column_count();
    let show = |v: rusqlite::types::ValueRef<'_>| match v {
        rusqlite::types::ValueRef::Text(t) => format!("Text({:?})", String::from_utf8_lossy(t)),
        other => format!("{other:?}"),
    };
    s.query_map([], |r| (0..n).map(|i| r.get_ref(i).map(show)).collect::<Result<Vec<_>, _>>())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `sh -c script` in the test's folder, the `lifeboat` binary on PATH.
fn shell(env: &Env, script: &str) -> Output {
    common::shell(&env.config, env.dir.path(), script)
}

#[test]
fn diff_between_archives_counts_every_change_and_sql_puts_back_the_removed_rows() {
    let env = Env::new();
    seed(&env);
    let a = env.backup();
    let before = env.path("before.db");
    std::fs::copy(env.db(), &before).unwrap();
    change(&env);
    let b = env.backup();

    let report = env.json(&["diff", &a, &b, "--json"]);
    assert_eq!(report["schema"], 1);
    assert_eq!(counts(&report, "shop.db"), expected(), "{report:#}");
    assert_eq!(counts(&report, "other.db"), vec![("k".into(), 0, 0, 0)]);
    assert_eq!(report["databases"][1]["schema_changes"], serde_json::json!([]));

    // The archive B copy, as `restore --to` would give it, gets the rows
    // it lacks from the system sqlite3.
    let copy = env.path("copy.db");
    std::fs::copy(env.db(), &copy).unwrap();
    let out = shell(
        &env,
        &format!("set -e; lifeboat diff {a} {b} --only shop.db --sql > put.sql; sqlite3 -bail copy.db < put.sql"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sql = std::fs::read_to_string(env.path("put.sql")).unwrap();
    assert_eq!(sql.matches("INSERT INTO").count(), 3 + 1 + 2, "{sql}");
    // Every removed row is back as it was (log's with their rowids);
    // what B added or changed stays.
    let after = env.json(&["diff", &a, copy.to_str().unwrap(), "--only", "shop.db", "--json"]);
    assert_eq!(
        counts(&after, "shop.db"),
        vec![("balances".into(), 2, 0, 1), ("log".into(), 1, 0, 0), ("payments".into(), 10, 0, 5)],
        "{after:#}"
    );
    for id in [7, 42, 99] {
        let q = format!("payments WHERE id = {id}");
        assert_eq!(dump(&copy, &q, "id"), dump(&before, &q, "id"));
    }
    assert_eq!(dump(&copy, "log WHERE at IN (2, 9)", "at"), dump(&before, "log WHERE at IN (2, 9)", "at"));
    assert_eq!(
        dump(&copy, "balances WHERE user = 'user3'", "user"),
        dump(&before, "balances WHERE user = 'user3'", "user")
    );

    // --table and --only narrow it.
    let one = env.json(&["diff", &a, &b, "--json", "--only", "shop.db", "--table", "payments"]);
    assert_eq!(one["databases"].as_array().unwrap().len(), 1);
    assert_eq!(counts(&one, "shop.db"), vec![("payments".into(), 10, 3, 5)]);
    // --rows shows the rows themselves.
    let rows = env.ok(&["diff", &a, &b, "--rows", "--table", "balances"]);
    assert!(rows.contains(r#"- {"user":"user3","cents":27021597764"#), "{rows}");
    assert!(rows.contains(r#""cents":-9007199254740993}"#), "{rows}");
}

#[test]
fn diff_against_live_reads_a_snapshot_and_a_path_stands_for_its_database() {
    let env = Env::new();
    seed(&env);
    let a = env.backup();
    change(&env);
    // The bot holds a write transaction open in WAL mode: the diff still
    // reads a consistent snapshot.
    let bot = Connection::open(env.db()).unwrap();
    bot.execute_batch("PRAGMA journal_mode = WAL; BEGIN; INSERT INTO log VALUES ('uncommitted', 99);").unwrap();
    let report = env.json(&["diff", &a, "live", "--json"]);
    assert_eq!(report["b"], "live");
    assert_eq!(counts(&report, "shop.db"), expected(), "{report:#}");
    bot.execute_batch("ROLLBACK").unwrap();
    drop(bot);

    // A salvaged copy under any name is compared with the archive's database.
    let salvaged = env.path("salvaged.db");
    std::fs::copy(env.db(), &salvaged).unwrap();
    let report = env.json(&["diff", "latest", salvaged.to_str().unwrap(), "--only", "shop.db", "--json"]);
    assert_eq!(counts(&report, "shop.db"), expected(), "{report:#}");
    let which = env.run(&["diff", "latest", salvaged.to_str().unwrap()]);
    assert_eq!(which.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&which.stderr).contains("--only"));
    let same = env.ok(&["diff", "latest", "latest"]);
    assert!(same.contains("no differences"), "{same}");
}

/// The "A bad deploy" recipe of docs/operations.md, exactly as written there.
#[test]
fn the_bad_deploy_recipe_puts_back_deleted_rows_and_keeps_new_ones() {
    let env = Env::new();
    seed(&env);
    let archive = env.backup();
    let live = env.db();
    let before = dump(&live, "payments", "id");
    // The deploy deletes a quarter of the payments; the bot then keeps
    // writing new ones.
    Connection::open(&live)
        .unwrap()
        .execute_batch("DELETE FROM payments WHERE id % 4 = 0; INSERT INTO payments VALUES (500, 'x', 1, 'after');")
        .unwrap();
    let ops = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md")).unwrap();
    assert!(ops.contains("lifeboat diff ARCHIVE live --only DB"), "the recipe is in docs/operations.md");
    assert!(ops.contains("lifeboat diff ARCHIVE live --only DB --sql | sqlite3 LIVE_DB"));
    let see = shell(&env, &format!("lifeboat diff {archive} live --only shop.db"));
    assert!(see.status.success());
    assert!(String::from_utf8_lossy(&see.stdout).contains("-25 removed"), "{}", String::from_utf8_lossy(&see.stdout));
    let out = shell(&env, &format!("lifeboat diff {archive} live --only shop.db --sql | sqlite3 {}", live.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut now = dump(&live, "payments", "id");
    let last = now.pop().unwrap();
    assert!(last.iter().any(|v| v.contains("after")), "the new payment stays: {last:?}");
    assert_eq!(now, before);
}

#[test]
fn export_round_trips_every_value_type_as_jsonl_and_csv() {
    let env = Env::new();
    let big = 9_007_199_254_740_993_i64;
    let text = "line one\nsaid \"hi\", it's, ok\r\nend";
    let blob = vec![0u8, 1, 0, 255, 0];
    {
        let c = Connection::open(env.db()).unwrap();
        c.execute_batch(r#"CREATE TABLE "odd ""t"" name" (i INTEGER, r REAL, t TEXT, b BLOB, n);"#).unwrap();
        c.execute(
            r#"INSERT INTO "odd ""t"" name" VALUES (?1, ?2, ?3, ?4, NULL), (-?1, 0.1, '', x'', NULL), (0, -1e300, 'x', NULL, 1)"#,
            rusqlite::params![big, 2.5e-7, text, blob],
        )
        .unwrap();
        Connection::open(env.path("data/other.db"))
            .unwrap()
            .execute_batch("CREATE TABLE k (v); INSERT INTO k VALUES (1);")
            .unwrap();
    }
    let archive = env.backup();
    env.ok(&["export", &archive, "--to", "x"]);
    env.ok(&["export", "latest", "--format", "csv", "--to", "x", "--only", "shop.db"]);
    let dir = env.path("x/shop.db");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(env.path("x")).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(env.path("x/other.db/k.jsonl").is_file());
    assert!(!env.path("x/other.db/k.csv").exists(), "--only");

    let jsonl = dir.join(r#"odd "t" name.jsonl"#);
    assert_eq!(std::fs::metadata(&jsonl).unwrap().permissions().mode() & 0o777, 0o600);
    let lines: Vec<Value> =
        std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(lines[0]["i"].as_i64(), Some(big));
    assert_eq!(lines[0]["r"].as_f64(), Some(2.5e-7));
    assert_eq!(lines[0]["t"].as_str(), Some(text));
    assert_eq!(b64.decode(lines[0]["b"].as_str().unwrap()).unwrap(), blob);
    assert!(lines[0]["n"].is_null());
    assert_eq!(lines[1]["i"].as_i64(), Some(-big));
    assert_eq!(lines[1]["r"].as_f64(), Some(0.1));
    assert_eq!(lines[1]["b"].as_str(), Some(""));
    assert_eq!(lines[2]["r"].as_f64(), Some(-1e300));
    assert!(lines[2]["b"].is_null());
    // Columns keep the table's order.
    assert!(std::fs::read_to_string(&jsonl).unwrap().starts_with(r#"{"i":"#));

    let mut csv = csv::Reader::from_path(dir.join(r#"odd "t" name.csv"#)).unwrap();
    assert_eq!(csv.headers().unwrap(), vec!["i", "r", "t", "b", "n"]);
    let recs: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(recs[0][0].parse::<i64>().unwrap(), big);
    assert_eq!(recs[0][1].parse::<f64>().unwrap(), 2.5e-7);
    assert_eq!(&recs[0][2], text);
    assert_eq!(b64.decode(&recs[0][3]).unwrap(), blob);
    assert_eq!(&recs[0][4], "");
    assert_eq!(recs[1][0].parse::<i64>().unwrap(), -big);
    assert_eq!(recs[2][1].parse::<f64>().unwrap(), -1e300);

    // A hostile table name survives `diff --sql` too.
    Connection::open(env.db()).unwrap().execute_batch(r#"DELETE FROM "odd ""t"" name" WHERE i = 0;"#).unwrap();
    let out = shell(&env, &format!("lifeboat diff {archive} live --only shop.db --sql | sqlite3 data/shop.db"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back: f64 = Connection::open(env.db())
        .unwrap()
        .query_row(r#"SELECT r FROM "odd ""t"" name" WHERE i = 0"#, [], |r| r.get(0))
        .unwrap();
    assert_eq!(back, -1e300);

    // Nothing is overwritten.
    let again = env.run(&["export", "latest", "--to", "x"]);
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn usage_mistakes_exit_2_and_say_what_to_do() {
    let env = Env::new();
    seed(&env);
    env.backup();
    for (args, says) in [
        (vec!["diff", "database_backup_20200101_000000.zip", "live"], "lifeboat list"),
        (vec!["diff", "/no/such/file.db", "live"], "lifeboat list"),
        (vec!["diff", "@2026-01-01 10:00:00", "live"], "point in time"),
        (vec!["diff", "latest", "live", "--only", "nope.db"], "shop.db"),
        (vec!["diff", "latest", "live", "--table", "nope"], "no compared database"),
        (vec!["diff", "latest", "live", "--sql"], "--only"),
        (vec!["export", "latest"], "--to"),
        (vec!["export", "missing", "--to", "y"], "lifeboat list"),
    ] {
        let out = env.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!env.path("y").exists());
}

#[test]
fn diff_reads_age_sealed_archives_given_the_identity() {
    let mut key = PathBuf::new();
    let env = Env::with_extra(|dir| {
        key = dir.join("key.txt");
        let o = Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen is installed");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&key).unwrap();
        let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string();
        format!("[encryption]\nmode = \"age\"\nrecipients = [{public:?}]\n")
    });
    seed(&env);
    let a = env.backup();
    assert!(a.ends_with(".zip.age"), "{a}");
    change(&env);
    let b = env.backup();
    // Without the key: a failure that says what to give.
    let o = env.run(&["diff", &a, &b]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--identity"), "{}", String::from_utf8_lossy(&o.stderr));
    let report = env.json(&["diff", &a, &b, "--json", "--identity", key.to_str().unwrap()]);
    assert_eq!(counts(&report, "shop.db"), expected(), "{report:#}");
    env.ok(&["export", &b, "--to", "x", "--identity", key.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(env.path("x/shop.db/payments.jsonl")).unwrap().lines().count(), 107);
}

#[test]
fn diff_rebuilds_a_differential_archive_on_its_base() {
    let env = Env::with_extra(|_| "[schedule]\nfull_cron = \"0 0 1 1 *\"\n".into());
    seed(&env);
    let a = env.backup();
    change(&env);
    let b = env.backup();
    assert!(b.ends_with(".diff.zip"), "{b}");
    let report = env.json(&["diff", &a, &b, "--json"]);
    assert_eq!(counts(&report, "shop.db"), expected(), "{report:#}");
    let same = env.json(&["diff", &b, "live", "--json"]);
    assert_eq!(
        counts(&same, "shop.db"),
        vec![("balances".into(), 0, 0, 0), ("log".into(), 0, 0, 0), ("payments".into(), 0, 0, 0)]
    );
}
