//! PostgreSQL, Redis and file sources end to end through the CLI, against
//! real servers started on loopback: a writer during the dump, restores
//! into a fresh database and a second Redis, files restored to a folder and
//! in place, the failures that make a run partial, and one archive holding
//! every kind delivered through the fake Bot API.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use lifeboat_testkit::servers::{Postgres, Redis};

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// A config with `databases` in `data/` (may be empty) and `extra` TOML.
    fn new(databases: &[&str], extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { config: dir.path().join("lifeboat.toml"), dir };
        std::fs::create_dir_all(env.path("data")).unwrap();
        env.write_config(databases, extra);
        env
    }

    fn write_config(&self, databases: &[&str], extra: &str) {
        std::fs::write(
            &self.config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = {databases:?}\nskip_unchanged = false\n{extra}",
                self.path("data"),
                self.path("out"),
            ),
        )
        .unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(common::lifeboat(&self.config, self.dir.path(), args))
    }

    /// Runs `backup` expecting `code`; the archive it printed, and stderr.
    fn backup(&self, code: i32) -> (PathBuf, String) {
        let out = self.cmd(&["backup"]).assert().code(code).get_output().clone();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let archive = PathBuf::from(stdout.lines().next().unwrap_or_default().trim());
        (archive, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn manifest(&self, archive: &Path) -> serde_json::Value {
        let out = StdCommand::new("unzip").arg("-p").arg(archive).arg("manifest.json").output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn pg_source(pg: &Postgres, name: &str, db: &str, password_file: &Path) -> String {
    format!("[[sources.postgres]]\nname = {name:?}\nurl = {:?}\npassword_file = {password_file:?}\n", pg.url(db))
}

/// Two tables written together in each transaction: every order has exactly
/// two items, at every committed point in time.
fn seed_orders(pg: &Postgres, db: &str, orders: u32) {
    pg.psql("postgres", &format!("CREATE DATABASE {db}"));
    pg.psql(
        db,
        &format!(
            "CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL);
             CREATE TABLE items (order_id bigint NOT NULL REFERENCES orders(id), n int NOT NULL);
             INSERT INTO orders SELECT g, repeat('x', 200) FROM generate_series(1, {orders}) g;
             INSERT INTO items SELECT g, k FROM generate_series(1, {orders}) g, generate_series(1, 2) k;"
        ),
    );
}

fn invariant_holds(pg: &Postgres, db: &str) -> (u64, u64) {
    let orders: u64 = pg.psql(db, "SELECT count(*) FROM orders").parse().unwrap();
    let items: u64 = pg.psql(db, "SELECT count(*) FROM items").parse().unwrap();
    assert_eq!(items, 2 * orders, "every order has two items");
    (orders, items)
}

#[test]
fn postgres_dump_under_a_writer_restores_into_a_fresh_database_with_equal_rows() {
    let pg = Postgres::start();
    seed_orders(&pg, "bot", 150_000);
    let env = Env::new(&[], "");
    let pw = pg.password_file(env.dir.path());
    env.write_config(&[], &pg_source(&pg, "main", "bot", &pw));

    // A writer committing order + two items, over and over, during the dump.
    let writer = StdCommand::new(lifeboat_testkit::servers::program("psql", "postgresql-client"))
        .env("PGPASSWORD", &pg.password)
        .args(["-X", "-q", "--dbname", &pg.url("bot"), "-c"])
        .arg(
            "DO $$ BEGIN FOR i IN 1000001..1004000 LOOP
               INSERT INTO orders VALUES (i, 'w'); INSERT INTO items VALUES (i, 1), (i, 2); COMMIT;
             END LOOP; END $$;",
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (archive, _) = env.backup(0);
    let mut writer = writer;
    assert!(writer.wait().unwrap().success());
    assert!(archive.file_name().unwrap().to_str().unwrap().starts_with("database_backup_"));

    let m = env.manifest(&archive);
    let entry = &m["databases"][0];
    assert_eq!(entry["name"], "main.pgdump");
    assert_eq!(entry["kind"], "postgres");
    let rows = |t: &str| {
        entry["tables"].as_array().unwrap().iter().find(|x| x["name"] == t).unwrap()["rows"].as_u64().unwrap()
    };
    let (orders, items) = (rows("public.orders"), rows("public.items"));
    assert_eq!(items, 2 * orders, "the dump is one point in time: {orders} orders, {items} items");
    assert!(orders >= 150_000, "{orders}");
    let info = StdCommand::new("unzip").arg("-p").arg(&archive).arg("backup_info.txt").output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("main (PostgreSQL dump") && info.contains("public.orders"), "{info}");

    env.cmd(&["verify", "latest"]).assert().success();
    let to = env.path("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]).assert().success();
    let listed = StdCommand::new("pg_restore").arg("--list").arg(to.join("main.pgdump")).output().unwrap();
    assert!(listed.status.success() && String::from_utf8_lossy(&listed.stdout).contains("TABLE public orders"));

    // Live restore into a fresh, empty database: a second configuration
    // whose source points there.
    pg.psql("postgres", "CREATE DATABASE fresh");
    let other = Env::new(&[], &pg_source(&pg, "main", "fresh", &pw));
    let out =
        other.cmd(&["restore", archive.to_str().unwrap(), "--yes"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("main.pgdump") && !out.contains("differ from the manifest"), "{out}");
    assert_eq!(invariant_holds(&pg, "fresh"), (orders, items));
    // The safety snapshot of the (empty) database it replaced came first.
    assert_eq!(lifeboat_core::catalog::list(&other.path("out")).unwrap().len(), 1);
    // Restoring again over itself: --clean drops and recreates.
    other.cmd(&["restore", archive.to_str().unwrap(), "--yes"]).assert().success();
    assert_eq!(invariant_holds(&pg, "fresh"), (orders, items));
}

/// A PostgreSQL server whose `bot` database has 10 orders, and a sandbox
/// with a small `app.db` ledger; the server's password file.
fn postgres_beside_app_db() -> (Postgres, Env, PathBuf) {
    let pg = Postgres::start();
    seed_orders(&pg, "bot", 10);
    let env = Env::new(&["app.db"], "");
    lifeboat_testkit::sqlite::create_ledger(&env.path("data/app.db"), lifeboat_testkit::sqlite::Mode::Wal, 5, 10)
        .unwrap();
    let pw = pg.password_file(env.dir.path());
    (pg, env, pw)
}

#[test]
fn postgres_failures_make_a_partial_run_with_their_reason() {
    let (pg, env, pw) = postgres_beside_app_db();
    let wrong = env.path("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let sources = [
        pg_source(&pg, "good", "bot", &pw),
        pg_source(&pg, "wrongpw", "bot", &wrong),
        pg_source(&pg, "nodb", "no_such_db", &pw),
        format!(
            "[[sources.postgres]]\nname = \"down\"\nurl = \"postgresql://postgres@127.0.0.1:{}/bot\"\npassword_file = {pw:?}\n",
            lifeboat_testkit::servers::free_port()
        ),
    ]
    .concat();
    env.write_config(&["app.db"], &sources);
    let (archive, stderr) = env.backup(3);
    assert!(stderr.contains("wrongpw.pgdump") && stderr.contains("refused the password"), "{stderr}");
    assert!(stderr.contains("nodb.pgdump") && stderr.contains("database is missing"), "{stderr}");
    assert!(stderr.contains("down.pgdump") && stderr.contains("unreachable"), "{stderr}");
    assert!(!stderr.contains(&pg.password), "the password never shows");
    let m = env.manifest(&archive);
    let names: Vec<&str> = m["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app.db", "good.pgdump"]);
    assert_eq!(m["skipped"].as_array().unwrap().len(), 3);

    let diag = env.cmd(&["diagnose"]).assert().get_output().stdout.clone();
    let diag = String::from_utf8_lossy(&diag);
    assert!(diag.contains("good.pgdump") && diag.contains("reachable"), "{diag}");
    assert!(diag.contains("down.pgdump") && diag.contains("unreachable"), "{diag}");

    // A server stopped mid-way: the next run is partial, not failed.
    pg.stop();
    let (_, stderr) = env.backup(3);
    assert!(stderr.contains("good.pgdump") && stderr.contains("unreachable"), "{stderr}");
}

#[test]
fn a_password_in_a_source_url_is_refused_without_echoing_it() {
    let env = Env::new(&[], "[[sources.redis]]\nname = \"cache\"\nurl = \"redis://:hunter2secret@127.0.0.1:6379\"\n");
    let out = env.cmd(&["status"]).assert().code(2).get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sources.redis") && stderr.contains("password_file"), "{stderr}");
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
}

#[test]
fn redis_keys_of_every_type_survive_a_restore_into_a_second_server() {
    let redis = Redis::start();
    common::redis_keys_of_every_type(&redis);
    let env = Env::new(&[], "");
    env.write_config(&[], &common::redis_source(env.dir.path(), &redis));
    let (archive, _) = env.backup(0);
    let m = env.manifest(&archive);
    assert_eq!(m["databases"][0]["name"], "cache.rdb");
    assert_eq!(m["databases"][0]["tables"][0]["rows"], 7, "{m}");

    let to = env.path("restored");
    let out = env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("stop Redis") && stdout.contains("dump file"), "the steps are printed: {stdout}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(to.join("cache.rdb")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a database restored into a folder is private");
    // Without redis-server on this machine a live restore cannot load it:
    // it says how to do it by hand.
    let no_server = env.path("bin");
    std::fs::create_dir_all(&no_server).unwrap();
    for tool in ["redis-cli", "redis-check-rdb"] {
        std::os::unix::fs::symlink(lifeboat_testkit::servers::program(tool, "redis-tools"), no_server.join(tool))
            .unwrap();
    }
    let live = env.cmd(&["restore", "latest", "--yes"]).env("PATH", &no_server).assert().failure().get_output().clone();
    let said = String::from_utf8_lossy(&live.stderr);
    assert!(said.contains("cache.rdb") && said.contains("--to"), "{said}");

    let second = Redis::start_with(Some(&to.join("cache.rdb")));
    assert_eq!(second.cli(&["GET", "greeting"]), "hello world");
    assert_eq!(second.cli(&["LRANGE", "queue", "0", "-1"]), "a\nb\nc");
    assert_eq!(second.cli(&["HGET", "user:1", "name"]), "Ada");
    assert_eq!(second.cli(&["SCARD", "tags"]), "2");
    assert_eq!(second.cli(&["ZSCORE", "scores", "two"]), "2");
    assert!(second.cli(&["TTL", "session"]).parse::<i64>().unwrap() > 0);
    assert_eq!(second.cli(&["-n", "3", "GET", "in-db-3"]), "yes");
}

/// Every key of a Redis server, by database: its type and its value in a
/// form that does not depend on how the server happens to order a set or
/// a hash in memory.
fn redis_contents(redis: &Redis) -> Vec<(String, String, String, String)> {
    let mut all = Vec::new();
    for db in ["0", "3"] {
        let keys = redis.cli(&["-n", db, "--scan"]);
        let mut keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        keys.sort();
        for k in keys {
            let kind = redis.cli(&["-n", db, "TYPE", k]);
            let value = match kind.as_str() {
                "string" => redis.cli(&["-n", db, "GET", k]),
                "list" => redis.cli(&["-n", db, "LRANGE", k, "0", "-1"]),
                "zset" => redis.cli(&["-n", db, "ZRANGE", k, "0", "-1", "WITHSCORES"]),
                "set" | "hash" => {
                    let text = redis.cli(&["-n", db, if kind == "set" { "SMEMBERS" } else { "HGETALL" }, k]);
                    let lines: Vec<&str> = text.lines().collect();
                    let mut items: Vec<String> = if kind == "set" {
                        lines.iter().map(|l| l.to_string()).collect()
                    } else {
                        lines.chunks(2).map(|p| p.join("=")).collect()
                    };
                    items.sort();
                    items.join(",")
                }
                other => panic!("{k} is a {other}"),
            };
            all.push((db.to_string(), k.to_string(), kind, value));
        }
    }
    all
}

#[test]
fn redis_is_restored_live_with_aof_on_and_off_keeping_every_key_and_ttl() {
    for aof in ["no", "yes"] {
        let mut redis = Redis::start_configured(None, &["--appendonly", aof]);
        common::redis_keys_of_every_type(&redis);
        redis.cli(&["PSETEX", "short-lived", "3600000", "v"]);
        let env = Env::new(&[], "");
        env.write_config(&[], &common::redis_source(env.dir.path(), &redis));
        env.backup(0);
        let before = redis_contents(&redis);
        assert_eq!(before.len(), 8, "{before:?}");

        // The data changes after the backup: a value, a deleted key, a new
        // key, a database emptied.
        redis.cli(&["SET", "greeting", "changed"]);
        redis.cli(&["DEL", "queue"]);
        redis.cli(&["SET", "written-later", "x"]);
        redis.cli(&["-n", "3", "FLUSHDB"]);

        let plan = env.cmd(&["restore", "latest", "--dry-run"]).assert().success().get_output().stdout.clone();
        let plan = String::from_utf8_lossy(&plan);
        assert!(plan.contains("FLUSHALL") && plan.contains("RESTORE"), "the plan says the server is emptied: {plan}");
        let out = env.cmd(&["restore", "latest", "--yes"]).assert().success().get_output().clone();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("row counts differ"), "appendonly {aof}: {stdout}");
        assert_eq!(redis_contents(&redis), before, "appendonly {aof}: every key as it was backed up");
        assert_eq!(redis.cli(&["EXISTS", "written-later"]), "0");
        let ttl: i64 = redis.cli(&["TTL", "session"]).parse().unwrap();
        assert!(ttl > 86_000 && ttl <= 86_400, "appendonly {aof}: the TTL is kept: {ttl}");
        let pttl: i64 = redis.cli(&["PTTL", "short-lived"]).parse().unwrap();
        assert!(pttl > 3_500_000 && pttl <= 3_600_000, "appendonly {aof}: {pttl}");
        assert_eq!(redis.cli(&["TTL", "greeting"]), "-1", "a key without a TTL gets none");
        // A safety archive of what was replaced was taken first.
        let archives = lifeboat_core::catalog::list(&env.path("out")).unwrap();
        assert_eq!(archives.len(), 2, "{archives:?}");

        // What the server persists holds the restore: its AOF when on,
        // else the dump it writes when asked.
        if aof == "no" {
            redis.cli(&["SAVE"]);
        }
        redis.restart();
        assert_eq!(redis_contents(&redis), before, "appendonly {aof}: after a restart");
    }
}

/// A server that refuses `RESTORE` to the configured user (an ACL) is found
/// before anything is emptied: the restore stops, the data is as it was,
/// and the message points at the steps by hand.
#[test]
fn a_redis_server_refusing_restore_is_left_as_it_was() {
    let redis = Redis::start();
    common::redis_keys_of_every_type(&redis);
    redis.cli(&["ACL", "SETUSER", "default", "-restore"]);
    let env = Env::new(&[], "");
    env.write_config(&[], &common::redis_source(env.dir.path(), &redis));
    env.backup(0);
    redis.cli(&["SET", "greeting", "changed"]);
    let before = redis_contents(&redis);

    let out = env.cmd(&["restore", "latest", "--yes"]).assert().failure().get_output().clone();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("refuses RESTORE") && said.contains("nothing was changed"), "{said}");
    assert!(said.contains("--to") && !said.contains(&redis.password), "{said}");
    assert_eq!(redis_contents(&redis), before, "the server was not emptied");
    // Refused before anything changed: nothing to put back, and said so.
    assert!(said.contains("nothing needed putting back"), "{said}");
    assert!(!said.contains("now half restored") && !said.contains("putting back what"), "{said}");
}

/// A server with `RESTORE` renamed away, restored beside an SQLite
/// database: the database written first is put back from the safety
/// snapshot, the server (never touched) is not, and the message says so.
#[test]
fn a_redis_server_without_restore_is_not_put_back_but_the_others_are() {
    let redis = Redis::start_configured(None, &["--rename-command", "RESTORE", "\"\""]);
    common::redis_keys_of_every_type(&redis);
    let env = Env::new(&[], "");
    lifeboat_testkit::sqlite::create_ledger(&env.path("data/users.db"), lifeboat_testkit::sqlite::Mode::Wal, 50, 10)
        .unwrap();
    env.write_config(&["users.db"], &common::redis_source(env.dir.path(), &redis));
    env.backup(0);
    redis.cli(&["SET", "greeting", "changed"]);
    let users = |sql: &str| {
        let c = rusqlite::Connection::open(env.path("data/users.db")).unwrap();
        c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap()
    };
    rusqlite::Connection::open(env.path("data/users.db"))
        .unwrap()
        .execute("DELETE FROM payments WHERE id > 5", [])
        .unwrap();
    let (rows_before, keys_before) = (users("SELECT count(*) FROM payments"), redis_contents(&redis));

    let out = env.cmd(&["restore", "latest", "--yes"]).assert().failure().get_output().clone();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("refuses RESTORE") && said.contains("unknown command"), "{said}");
    let put_back = said.lines().find(|l| l.contains("put back as it was before this restore")).unwrap_or_default();
    assert!(put_back.ends_with(": users.db"), "only users.db was written, so only it is put back: {said}");
    assert!(!said.contains("now half restored"), "{said}");
    assert_eq!(users("SELECT count(*) FROM payments"), rows_before, "users.db is as it was before the restore");
    assert_eq!(redis_contents(&redis), keys_before, "the server was not emptied");
}

/// A source that logs in as an ACL user (`redis://USER@host:port`, the
/// user's password in `password_file`): diagnosed, backed up and restored
/// live, the password never on a command line.
#[test]
fn redis_with_an_acl_user_is_diagnosed_backed_up_and_restored() {
    let redis = Redis::start();
    common::redis_keys_of_every_type(&redis);
    redis.cli(&["ACL", "SETUSER", "lifeboat", "on", ">acl-user-secret-77", "~*", "&*", "+@all"]);
    let env = Env::new(&[], "");
    let pw = env.path("acl-password");
    std::fs::write(&pw, "acl-user-secret-77\n").unwrap();
    let url = format!("redis://lifeboat@127.0.0.1:{}", redis.port);
    env.write_config(&[], &format!("[[sources.redis]]\nname = \"cache\"\nurl = {url:?}\npassword_file = {pw:?}\n"));

    let out = env.cmd(&["diagnose"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("reachable; Redis"), "{said}{}", String::from_utf8_lossy(&out.stderr));
    env.backup(0);
    let before = redis_contents(&redis);
    redis.cli(&["SET", "greeting", "changed"]);
    redis.cli(&["DEL", "queue"]);

    let out = env.cmd(&["restore", "latest", "--yes"]).assert().success().get_output().clone();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!said.contains("acl-user-secret-77"), "{said}");
    assert_eq!(redis_contents(&redis), before, "every key as it was backed up");
}

/// Every refusal the plan can find is listed at once, with the servers
/// that do not answer: a link on a live database's path, a folder where a
/// file goes back, Redis down; and with `--to`, every file already there.
/// The real run stops on them before writing anything.
#[test]
fn a_dry_run_lists_every_refusal_at_once_and_the_restore_writes_nothing() {
    use lifeboat_testkit::sqlite::{Mode, create_ledger};
    let redis = Redis::start();
    redis.cli(&["SET", "k", "v"]);
    let env = Env::new(&[], "");
    create_ledger(&env.path("data/a.db"), Mode::Wal, 50, 10).unwrap();
    create_ledger(&env.path("data/b.db"), Mode::Delete, 50, 10).unwrap();
    std::fs::create_dir_all(env.path("conf")).unwrap();
    let settings = env.path("conf/settings.json");
    std::fs::write(&settings, "{}").unwrap();
    env.write_config(
        &["a.db", "b.db"],
        &format!(
            "{}[[sources.files]]\nname = \"conf\"\npaths = [{settings:?}]\n",
            common::redis_source(env.dir.path(), &redis)
        ),
    );
    env.backup(0);

    // a.db's path becomes a link the bot's user (nobody) made; a folder
    // stands where settings.json goes back; Redis is down; b.db moves on.
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::rename(env.path("data/a.db"), elsewhere.join("a.db")).unwrap();
    let _ = std::fs::remove_file(env.path("data/a.db-wal"));
    let _ = std::fs::remove_file(env.path("data/a.db-shm"));
    std::os::unix::fs::symlink(elsewhere.join("a.db"), env.path("data/a.db")).unwrap();
    std::os::unix::fs::lchown(env.path("data/a.db"), Some(65534), Some(65534)).unwrap();
    std::fs::remove_file(&settings).unwrap();
    std::fs::create_dir(&settings).unwrap();
    drop(redis);
    rusqlite::Connection::open(env.path("data/b.db")).unwrap().execute("DELETE FROM payments", []).unwrap();
    let out_before = std::fs::read_dir(env.path("out")).unwrap().count();

    let plan = env.cmd(&["restore", "latest", "--dry-run"]).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&plan.stdout), String::from_utf8_lossy(&plan.stderr));
    assert_eq!(plan.status.code(), Some(1), "{said}");
    let problems = said.split("PROBLEMS").nth(1).unwrap_or_else(|| panic!("{said}"));
    let link = format!("{} is a symbolic link", env.path("data/a.db").display());
    assert!(problems.contains("a.db: ") && problems.contains(&link), "{problems}");
    assert!(problems.contains(&format!("{} exists but is not a regular file", settings.display())), "{problems}");
    assert!(problems.contains("cache.rdb: ") && problems.contains("unreachable"), "{problems}");
    let json = env.cmd(&["restore", "latest", "--dry-run", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["problems"].as_array().unwrap().len(), 3, "{json}");

    let restore = env.cmd(&["restore", "latest", "--yes"]).output().unwrap();
    let said = String::from_utf8_lossy(&restore.stderr);
    assert_eq!(restore.status.code(), Some(1), "{said}");
    assert!(said.contains("nothing was written") && said.contains(&link), "{said}");
    let count = |db: &Path| {
        let c = rusqlite::Connection::open(db).unwrap();
        c.query_row("SELECT count(*) FROM payments", [], |r| r.get::<_, i64>(0)).unwrap()
    };
    assert_eq!(count(&env.path("data/b.db")), 0, "b.db is left as it is");
    assert_eq!(count(&elsewhere.join("a.db")), 50, "nothing went through the link");
    assert!(settings.is_dir(), "the folder is left as it is");
    assert_eq!(std::fs::read_dir(env.path("out")).unwrap().count(), out_before, "no safety snapshot either");

    // Into a folder: every file already there is listed.
    let to = env.path("restored");
    std::fs::create_dir_all(&to).unwrap();
    for f in ["a.db", "b.db"] {
        std::fs::write(to.join(f), "precious").unwrap();
    }
    let into = ["restore", "latest", "--only", "a.db", "--only", "b.db", "--to", to.to_str().unwrap()];
    let plan = env.cmd(&[&into[..], &["--dry-run"]].concat()).output().unwrap();
    let said = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(plan.status.code(), Some(1), "{said}");
    for f in ["a.db", "b.db"] {
        assert!(said.contains(&format!("{} already exists", to.join(f).display())), "{f}: {said}");
    }
    let restore = env.cmd(&[&into[..], &["--yes"]].concat()).output().unwrap();
    assert_eq!(restore.status.code(), Some(1), "{}", String::from_utf8_lossy(&restore.stderr));
    for f in ["a.db", "b.db"] {
        assert_eq!(std::fs::read(to.join(f)).unwrap(), b"precious", "{f} is not overwritten");
    }
}

#[test]
fn files_with_globs_restore_to_a_folder_and_in_place_after_a_safety_copy() {
    let env = Env::new(&[], "");
    let bot = env.path("bot");
    std::fs::create_dir_all(bot.join("data/deep")).unwrap();
    std::fs::write(bot.join("config.toml"), "token_file = \"x\"\n").unwrap();
    std::fs::write(bot.join("data/a.json"), r#"{"a":1}"#).unwrap();
    std::fs::write(bot.join("data/b.json"), r#"{"b":2}"#).unwrap();
    std::fs::write(bot.join("data/deep/c.json"), r#"{"c":3}"#).unwrap();
    std::fs::write(bot.join("data/notes.txt"), "not matched").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bot.join("config.toml"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let paths = [
        format!("{}/config.toml", bot.display()),
        format!("{}/data/**/*.json", bot.display()),
        format!("{}/nothing-*.yaml", bot.display()),
    ];
    env.write_config(&[], &format!("[[sources.files]]\nname = \"config\"\npaths = {paths:?}\n"));
    let (archive, stderr) = env.backup(0);
    assert!(stderr.contains("matches no file"), "a glob matching nothing is a warning: {stderr}");
    let diag = env.cmd(&["diagnose"]).assert().get_output().stdout.clone();
    let diag = String::from_utf8_lossy(&diag);
    assert!(diag.contains("[warn ] config") && diag.contains("matches no file"), "{diag}");
    assert!(diag.contains("4 file(s)"), "{diag}");
    let m = env.manifest(&archive);
    let entries: Vec<&serde_json::Value> = m["databases"].as_array().unwrap().iter().collect();
    let names: Vec<&str> = entries.iter().map(|d| d["name"].as_str().unwrap()).collect();
    let b = bot.to_str().unwrap();
    assert_eq!(
        names,
        [
            format!("config{b}/config.toml"),
            format!("config{b}/data/a.json"),
            format!("config{b}/data/b.json"),
            format!("config{b}/data/deep/c.json")
        ]
    );
    assert_eq!(entries[0]["mode"], 0o640);
    assert_eq!(entries[0]["origin"], format!("{b}/config.toml"));
    let listing = StdCommand::new("unzip").arg("-l").arg(&archive).output().unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).contains(&format!("config{b}/data/deep/c.json")));
    env.cmd(&["verify", "latest"]).assert().success();

    let to = env.path("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]).assert().success();
    assert_eq!(std::fs::read_to_string(to.join(format!("config{b}/data/deep/c.json"))).unwrap(), r#"{"c":3}"#);
    // Each file comes back into the folder with its recorded mode.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&to.join(format!("config{b}/config.toml"))), 0o640);
    assert_eq!(mode(&to.join(format!("config{b}/data/a.json"))), mode(&bot.join("data/a.json")));

    // In place: a changed file and a deleted one come back, with their mode.
    std::fs::write(bot.join("data/a.json"), r#"{"a":"broken"}"#).unwrap();
    std::fs::remove_file(bot.join("data/b.json")).unwrap();
    std::fs::set_permissions(bot.join("config.toml"), std::fs::Permissions::from_mode(0o666)).unwrap();
    env.cmd(&["restore", archive.to_str().unwrap(), "--yes"]).assert().success();
    assert_eq!(std::fs::read_to_string(bot.join("data/a.json")).unwrap(), r#"{"a":1}"#);
    assert_eq!(std::fs::read_to_string(bot.join("data/b.json")).unwrap(), r#"{"b":2}"#);
    assert_eq!(std::fs::metadata(bot.join("config.toml")).unwrap().permissions().mode() & 0o777, 0o640);
    // The safety copy holds what was replaced.
    let archives = lifeboat_core::catalog::list(&env.path("out")).unwrap();
    let safety = &archives[0];
    let broken = StdCommand::new("unzip")
        .arg("-p")
        .arg(&safety.files[0])
        .arg(format!("config{b}/data/a.json"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&broken.stdout), r#"{"a":"broken"}"#);

    // A plain path that is missing makes the run partial.
    std::fs::remove_file(bot.join("config.toml")).unwrap();
    let (_, stderr) = env.backup(3);
    assert!(stderr.contains("config.toml") && stderr.contains("missing"), "{stderr}");
}

#[test]
fn a_symlink_loop_under_a_double_star_glob_is_reported_and_the_backup_ends() {
    let env = Env::new(&[], "");
    let data = env.path("bot/data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.json"), r#"{"a":1}"#).unwrap();
    std::fs::write(data.join("sub/b.json"), r#"{"b":2}"#).unwrap();
    // Two links back up: followed, 2^40 paths before the kernel stops them.
    std::os::unix::fs::symlink(&data, data.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("..", data.join("sub/up")).unwrap();
    let glob = format!("{}/**/*.json", data.display());
    env.write_config(&[], &format!("[[sources.files]]\nname = \"bot\"\npaths = [{glob:?}]\n"));
    let mut backup = common::lifeboat(&env.config, env.dir.path(), &["backup"]);
    let mut child = backup.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the backup still runs after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("sub/loop is a symbolic link to a folder"), "{stderr}");
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().next().unwrap().trim());
    let names: Vec<String> = env.manifest(&archive)["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    let d = data.to_str().unwrap();
    assert_eq!(names, [format!("bot{d}/a.json"), format!("bot{d}/sub/b.json")]);
}

#[test]
fn lifeboats_own_secrets_are_never_archived() {
    let env = Env::new(&[], "");
    let secrets = env.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("password"), "zip-aes-password-1\n").unwrap();
    std::fs::write(secrets.join("settings.json"), "{}").unwrap();
    let glob = format!("{}/*", secrets.display());
    env.write_config(
        &[],
        &format!(
            "[encryption]\nmode = \"zip-aes\"\npassword_file = {:?}\n[[sources.files]]\nname = \"conf\"\npaths = [{glob:?}]\n",
            secrets.join("password")
        ),
    );
    let (archive, _) = env.backup(0);
    let m = env.manifest_with_7z(&archive);
    let names: Vec<&str> = m["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, [format!("conf{}/settings.json", secrets.display())]);
    // Named outright, it is a configuration error.
    env.write_config(
        &[],
        &format!(
            "[encryption]\nmode = \"zip-aes\"\npassword_file = {:?}\n[[sources.files]]\nname = \"conf\"\npaths = [{:?}]\n",
            secrets.join("password"),
            secrets.join("password")
        ),
    );
    env.cmd(&["status"]).assert().code(2).stderr(predicates::str::contains("Lifeboat's own secrets"));
}

impl Env {
    fn manifest_with_7z(&self, archive: &Path) -> serde_json::Value {
        let out = StdCommand::new("7z")
            .args(["x", "-so", "-pzip-aes-password-1"])
            .arg(archive)
            .arg("manifest.json")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn one_archive_holds_every_kind_verifies_restores_and_is_delivered() {
    use lifeboat_testkit::FakeTelegram;
    let pg = Postgres::start();
    seed_orders(&pg, "bot", 1000);
    let redis = Redis::start();
    redis.cli(&["SET", "k", "v"]);
    let tg = FakeTelegram::start_blocking();
    let env = Env::new(&[], "");
    lifeboat_testkit::sqlite::create_ledger(&env.path("data/users.db"), lifeboat_testkit::sqlite::Mode::Wal, 50, 10)
        .unwrap();
    std::fs::write(env.path("settings.json"), r#"{"lang":"en"}"#).unwrap();
    let pgpw = pg.password_file(env.dir.path());
    env.write_config(
        &["users.db"],
        &format!(
            "[telegram]\ntoken = \"123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\napi_url = {:?}\nadmin_ids = [11]\n\
             {}{}[[sources.files]]\nname = \"files\"\npaths = [{:?}]\n",
            tg.api_url(),
            pg_source(&pg, "main", "bot", &pgpw),
            common::redis_source(env.dir.path(), &redis),
            env.path("settings.json"),
        ),
    );
    let out = env.cmd(&["backup", "--deliver"]).assert().success().get_output().clone();
    let archive = PathBuf::from(String::from_utf8(out.stdout).unwrap().lines().next().unwrap().trim());
    let m = env.manifest(&archive);
    let kinds: Vec<&str> =
        m["databases"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap_or("sqlite")).collect();
    assert_eq!(kinds, ["sqlite", "postgres", "redis", "file"]);
    let docs = tg.documents(11);
    assert_eq!(docs.len(), 1);
    assert_eq!(tg.file_bytes(docs[0].file_id.as_deref().unwrap()).unwrap(), std::fs::read(&archive).unwrap());

    env.cmd(&["verify", "latest"]).assert().success();
    let to = env.path("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]).assert().success();
    for f in ["users.db", "main.pgdump", "cache.rdb"] {
        assert!(to.join(f).is_file(), "{f}");
    }
    let settings = format!("files{}", env.path("settings.json").display());
    assert_eq!(std::fs::read_to_string(to.join(settings)).unwrap(), r#"{"lang":"en"}"#);
    let check = StdCommand::new("unzip").arg("-t").arg(&archive).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

#[test]
fn an_unchanged_postgres_database_and_files_make_an_unchanged_cycle() {
    use lifeboat_engine::backup::{self, BackupError};
    let pg = Postgres::start();
    seed_orders(&pg, "bot", 100);
    let env = Env::new(&[], "");
    std::fs::write(env.path("settings.json"), "{}").unwrap();
    let pw = pg.password_file(env.dir.path());
    let extra = format!(
        "{}[[sources.files]]\nname = \"files\"\npaths = [{:?}]\n",
        pg_source(&pg, "main", "bot", &pw),
        env.path("settings.json")
    );
    env.write_config(&[], &extra);
    let cfg = lifeboat_engine::Config::load(Some(&env.config)).unwrap();
    let state = cfg.open_state().unwrap();
    let cycle = || {
        let opts = common::scheduled_now();
        backup::run_unless_unchanged(&cfg, &state, opts)
    };
    let first = cycle().unwrap().archive.name;
    // A new dump carries a new creation time; the data is the same.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    match cycle() {
        Err(BackupError::Unchanged { archive }) => assert_eq!(archive, first),
        other => panic!("expected an unchanged cycle, got {other:?}"),
    }
    pg.psql("bot", "INSERT INTO orders VALUES (424242, 'new')");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = cycle().unwrap();
    assert_ne!(second.archive.name, first);
    assert_eq!(lifeboat_core::catalog::list(&env.path("out")).unwrap().len(), 2);
}

/// The command lines of running processes that hold every one of `words`.
fn processes_with(words: &[&str]) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| words.iter().all(|w| c.contains(w)))
        .collect()
}

#[test]
fn a_locked_table_times_the_dump_out_and_the_other_sources_are_still_archived() {
    let (pg, env, pw) = postgres_beside_app_db();
    env.write_config(&["app.db"], &format!("{}timeout_secs = 3\n", pg_source(&pg, "main", "bot", &pw)));
    let mut locker = pg.lock_table("bot", "orders");

    let started = std::time::Instant::now();
    let (archive, stderr) = env.backup(3);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(30), "the cycle took {took:?}");
    assert!(stderr.contains("main.pgdump") && stderr.contains("pg_dump timed out after 3 s"), "{stderr}");
    assert!(stderr.contains("sources.postgres \"main\" timeout_secs"), "{stderr}");
    let m = env.manifest(&archive);
    let names: Vec<&str> = m["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app.db"]);
    let url = pg.url("bot");
    assert_eq!(processes_with(&["pg_dump", &url]), Vec::<String>::new(), "no pg_dump is left running");

    // The cycle lock was released: the next cycle runs, and with the table
    // free again the database is archived.
    locker.kill().unwrap();
    locker.wait().unwrap();
    // The server holds the lock until it notices; end that session now.
    pg.psql(
        "bot",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()",
    );
    let (archive, stderr) = env.backup(0);
    let m = env.manifest(&archive);
    let names: Vec<&str> = m["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app.db", "main.pgdump"], "{stderr}");
}

#[test]
fn a_redis_server_that_never_answers_is_skipped_when_its_timeout_passes() {
    let silent = lifeboat_testkit::servers::Silent::start();
    let env = Env::new(&["app.db"], "");
    lifeboat_testkit::sqlite::create_ledger(&env.path("data/app.db"), lifeboat_testkit::sqlite::Mode::Wal, 5, 10)
        .unwrap();
    let url = format!("redis://127.0.0.1:{}", silent.port);
    env.write_config(&["app.db"], &format!("[[sources.redis]]\nname = \"cache\"\nurl = {url:?}\ntimeout_secs = 2\n"));

    let started = std::time::Instant::now();
    let (archive, stderr) = env.backup(3);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(30), "the cycle took {took:?}");
    assert!(stderr.contains("cache.rdb") && stderr.contains("redis-cli timed out after 2 s"), "{stderr}");
    let m = env.manifest(&archive);
    let names: Vec<&str> = m["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app.db"]);
    assert_eq!(processes_with(&["redis-cli", &url]), Vec::<String>::new(), "no redis-cli is left running");
}

#[test]
fn tools_run_without_lifeboats_secrets_in_their_environment() {
    let env = Env::new(&["app.db"], "");
    lifeboat_testkit::sqlite::create_ledger(&env.path("data/app.db"), lifeboat_testkit::sqlite::Mode::Wal, 5, 10)
        .unwrap();
    // A pg_dump ahead of the real one on PATH that writes down what it got.
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let seen = env.path("pg_dump.env");
    let fake = bin.join("pg_dump");
    std::fs::write(&fake, format!("#!/bin/sh\nenv > {seen:?}\necho 'no server here' >&2\nexit 1\n")).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.write_config(
        &["app.db"],
        "[encryption]\nmode = \"zip-aes\"\n[[sources.postgres]]\nname = \"main\"\nurl = \"postgresql://postgres@127.0.0.1:5/bot\"\n",
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let secret = "correct-horse-battery-staple-4471";
    env.cmd(&["backup"])
        .env("PATH", path)
        .env("LIFEBOAT_ENCRYPTION_PASSWORD", secret)
        .env("LIFEBOAT__BACKUP__COMPRESSION_LEVEL", "5")
        .assert()
        .code(3);
    let seen = std::fs::read_to_string(&seen).expect("the fake pg_dump ran");
    assert!(seen.lines().any(|l| l.starts_with("PATH=")), "{seen}");
    assert!(!seen.contains(secret), "{seen}");
    let leaked: Vec<&str> = seen.lines().filter(|l| l.starts_with("LIFEBOAT")).collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[test]
fn no_secret_file_of_any_kind_is_archived_by_a_glob_over_its_folder() {
    let env = Env::new(&[], "");
    let secrets = env.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let every = lifeboat_testkit::secrets::every_secret_file(&secrets);
    std::fs::write(secrets.join("settings.json"), "{}\n").unwrap();
    std::fs::write(env.path("other.toml"), "# not a secret\n").unwrap();
    // The token in the config file too: the file is then one of the secrets.
    let every = every.replacen("[telegram]\n", "[telegram]\ntoken = \"42:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh\"\n", 1);
    let files = format!(
        "[[sources.files]]\nname = \"conf\"\npaths = [{:?}, {:?}]\n",
        format!("{}/*", secrets.display()),
        format!("{}/*.toml", env.dir.path().display())
    );
    env.write_config(&[], &format!("{every}{files}"));
    let (archive, stderr) = env.backup(3);
    let listed = StdCommand::new("unzip").arg("-Z1").arg(&archive).output().unwrap();
    let entries = String::from_utf8(listed.stdout).unwrap();
    let files: Vec<&str> = entries.lines().filter(|e| e.starts_with("conf/")).collect();
    assert_eq!(
        files,
        [format!("conf{}/settings.json", secrets.display()), format!("conf{}/other.toml", env.dir.path().display())],
        "{stderr}"
    );
    let m = env.manifest_with_7z(&archive);
    let names: Vec<&str> = m["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Named outright, the configuration file holding the token is a configuration error.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let named =
        text.replace(&format!("{:?}", format!("{}/*.toml", env.dir.path().display())), &format!("{:?}", env.config));
    assert_ne!(named, text);
    std::fs::write(&env.config, named).unwrap();
    env.cmd(&["status"]).assert().code(2).stderr(predicates::str::contains("Lifeboat's own secrets"));
}
