//! The way back to a new server: the "A new server" runbook of
//! docs/operations.md, run exactly as written on an emptied machine (SQLite,
//! PostgreSQL, Redis and files, sealed with age with the key kept off the
//! server, copied to a real S3 store, a differential as the newest archive),
//! ends with every database, table, row and file as backed up. Around it: a
//! command stops only on the secrets it uses, and `fetch --identity` brings a
//! sealed differential's base.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};

use common::Sandbox;
use lifeboat_testkit::servers::{Postgres, Redis, SeaweedFs};

/// The role the bot's PostgreSQL url names: it may create databases, it is
/// no superuser.
const ROLE_PASSWORD: &str = "bot-role-secret-5e2";

/// A bot's server: the demo's five SQLite databases, a PostgreSQL database
/// `bot` (a table, a view, a sequence) owned by role `bot`, a Redis with
/// keys of every type (one expiring, one in another database), a folder of
/// files, archives sealed with age and sent to the bucket `offsite`, a full
/// archive then a differential.
struct OldServer {
    sb: Sandbox,
    _s3: Option<SeaweedFs>,
    pg: Option<Postgres>,
    redis: Option<Redis>,
    /// The age private key, where the old server kept it.
    key: PathBuf,
}

impl OldServer {
    /// `with_servers`: PostgreSQL and Redis sources too. Without `with_s3`,
    /// archives stay on the server (the chat holds the only other copies);
    /// `extra_toml`: more of the config.
    fn build(with_servers: bool, with_s3: bool, extra_toml: &str) -> OldServer {
        let s3 = with_s3.then(SeaweedFs::start);
        let sb = Sandbox::new();
        let (key, public) = age_key(&sb.path("old-key.txt"));
        let pg = with_servers.then(|| {
            let pg = Postgres::start();
            pg.psql("postgres", &format!("CREATE ROLE bot LOGIN CREATEDB PASSWORD '{ROLE_PASSWORD}'"));
            pg.psql("postgres", "CREATE DATABASE bot OWNER bot");
            pg.psql(
                "bot",
                "SET ROLE bot;
                 CREATE SEQUENCE ticket_seq START 1000;
                 CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, ticket bigint DEFAULT nextval('ticket_seq'));
                 INSERT INTO users (name) SELECT 'user ' || i FROM generate_series(1, 5000) i;
                 CREATE TABLE payments (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), cents int);
                 INSERT INTO payments (user_id, cents) SELECT 1 + i % 5000, i FROM generate_series(1, 20000) i;
                 CREATE VIEW big_payers AS SELECT user_id, sum(cents) AS total FROM payments GROUP BY user_id HAVING sum(cents) > 100000;",
            );
            pg
        });
        let files = sb.path("files/conf");
        std::fs::create_dir_all(files.join("sub")).unwrap();
        std::fs::write(files.join("app.toml"), "greeting = \"hello\"\n").unwrap();
        std::fs::write(files.join("sub/notes.txt"), "first version\n").unwrap();
        let mut extra = format!(
            "{extra_toml}\n[encryption]\nmode = \"age\"\nrecipients = [{public:?}]\nidentity_file = {key:?}\n\
             [schedule]\nfull_cron = \"0 0 1 1 *\"\n\
             [[sources.files]]\nname = \"conf\"\npaths = [{:?}]\n{}",
            files.display().to_string(),
            s3.as_ref().map(|s3| common::s3_destination(sb.dir.path(), s3)).unwrap_or_default(),
        );
        let redis = with_servers.then(|| {
            let redis = Redis::start();
            common::redis_keys_of_every_type(&redis);
            redis
        });
        if let Some(redis) = &redis {
            extra += &common::redis_source(sb.dir.path(), redis);
        }
        if let Some(pg) = &pg {
            let pw = sb.secret("pg-password", ROLE_PASSWORD);
            extra += &format!(
                "[[sources.postgres]]\nname = \"main\"\nurl = \"postgresql://bot@127.0.0.1:{}/bot\"\npassword_file = {pw:?}\n",
                pg.port
            );
        }
        std::fs::write(
            &sb.config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ncompression_level = 1\n\
                 [retry]\nattempts = 2\ninitial_delay_secs = 0\nmax_delay_secs = 1\n{extra}",
                sb.path("data"),
                sb.path("out"),
            ),
        )
        .unwrap();
        let demo = sb.cmd(&["demo", "--no-backup", "--scale-mb", "1"]).output().unwrap();
        assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
        let server = OldServer { sb, _s3: s3, pg, redis, key };
        let (full, said) = server.sb.cycle(0);
        assert!(!with_s3 || said.contains("sent to s3:offsite"), "{said}");
        assert!(!common::file_name(&full).contains(".diff."), "{said}");

        // The bot goes on: new rows everywhere, a file edited.
        common::next_second();
        let db = rusqlite::Connection::open(server.sb.path("data/premium_system.db")).unwrap();
        db.execute_batch(
            "INSERT INTO payments (user_id, subscription_id, amount_cents, currency, provider, provider_charge_id, paid_at)
             VALUES (1, 1, 700, 'EUR', 'stripe', 'after-the-full-archive', '2026-12-04 11:00:00');",
        )
        .unwrap();
        drop(db);
        if let Some(redis) = &server.redis {
            redis.cli(&["SET", "late", "after the full archive"]);
        }
        if let Some(pg) = &server.pg {
            pg.psql("bot", "SET ROLE bot; INSERT INTO users (name) SELECT 'late ' || i FROM generate_series(1, 50) i;");
        }
        std::fs::write(files.join("sub/notes.txt"), "second version\n").unwrap();
        let (diff, said) = server.sb.cycle(0);
        assert!(common::file_name(&diff).contains(".diff.zip.age"), "the newest is a differential: {said}");
        assert!(!with_s3 || said.contains("sent to s3:offsite"), "{said}");
        server
    }

    /// Everything the bot holds, as text to compare: each SQLite database's
    /// `.dump`, each PostgreSQL table's rows (and its views and sequences),
    /// each file's bytes.
    fn contents(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut names: Vec<PathBuf> =
            std::fs::read_dir(self.sb.path("data")).unwrap().map(|e| e.unwrap().path()).collect();
        names.retain(|p| p.extension().is_some_and(|e| e == "db"));
        names.sort();
        assert_eq!(names.len(), 5, "{names:?}");
        for db in names {
            let dump = StdCommand::new("sqlite3").arg(&db).arg(".dump").output().unwrap();
            assert!(dump.status.success());
            out.push((common::file_name(&db), String::from_utf8(dump.stdout).unwrap()));
        }
        if let Some(pg) = &self.pg {
            let tables = pg.psql(
                "bot",
                "SELECT string_agg(table_name || ':' || table_type, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'",
            );
            out.push(("bot tables".into(), tables));
            for t in ["users", "payments"] {
                let rows = pg.psql(
                    "bot",
                    &format!("SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {t} t"),
                );
                out.push((format!("bot {t}"), rows));
            }
            out.push(("bot view".into(), pg.psql("bot", "SELECT count(*), sum(total) FROM big_payers")));
            out.push(("bot sequence".into(), pg.psql("bot", "SELECT last_value FROM ticket_seq")));
            out.push((
                "bot owner".into(),
                pg.psql("postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'bot'"),
            ));
        }
        if let Some(redis) = &self.redis {
            out.push(("redis".into(), redis_contents(redis)));
        }
        for f in ["app.toml", "sub/notes.txt"] {
            out.push((f.into(), std::fs::read_to_string(self.sb.path("files/conf").join(f)).unwrap()));
        }
        out
    }

    /// The machine is lost: the archives and Lifeboat's state, the bot's
    /// databases and files, the PostgreSQL database, and the age key on
    /// the server (kept elsewhere: `age-key.txt`, the admin's copy).
    fn empty(&self) {
        for dir in ["out", "data", "files"] {
            std::fs::remove_dir_all(self.sb.path(dir)).unwrap();
        }
        if let Some(pg) = &self.pg {
            pg.psql("postgres", "DROP DATABASE bot WITH (FORCE)");
        }
        if let Some(redis) = &self.redis {
            redis.cli(&["FLUSHALL"]);
        }
        std::fs::rename(&self.key, self.sb.path("age-key.txt")).unwrap();
    }

    /// `script` run as an operator types it, in the sandbox's folder.
    fn shell(&self, script: &str) -> Output {
        common::shell(&self.sb.config, self.sb.dir.path(), script)
    }
}

/// Every key of Redis databases 0 and 3 (where the test writes) with its
/// type, whether it expires, and its value, as text to compare.
fn redis_contents(redis: &Redis) -> String {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        let cli = |args: &[&str]| redis.cli(&[&["-n", db], args].concat());
        let listed = cli(&["--scan"]);
        let mut keys: Vec<&str> = listed.lines().filter(|k| !k.is_empty()).collect();
        keys.sort();
        for key in keys {
            let kind = cli(&["TYPE", key]).trim().to_string();
            let sorted = |text: String, n: usize| {
                let lines: Vec<&str> = text.lines().collect();
                let mut groups: Vec<String> = lines.chunks(n).map(|c| c.join("=")).collect();
                groups.sort();
                groups.join(",")
            };
            let value = match kind.as_str() {
                "string" => cli(&["GET", key]),
                "list" => cli(&["LRANGE", key, "0", "-1"]),
                "hash" => sorted(cli(&["HGETALL", key]), 2),
                "set" => sorted(cli(&["SMEMBERS", key]), 1),
                "zset" => cli(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
                other => panic!("{key}: a {other} key the test did not write"),
            };
            let expires = cli(&["TTL", key]).trim().parse::<i64>().unwrap() > 0;
            out.push(format!("db {db} {key} {kind} expires={expires}: {}", value.trim()));
        }
    }
    assert!(out.len() >= 8, "{out:?}");
    out.join("\n")
}

/// A new age key in `path`: the file and its public key.
fn age_key(path: &Path) -> (PathBuf, String) {
    let o = StdCommand::new("age-keygen").arg("-o").arg(path).output().expect("age-keygen is installed");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(path).unwrap();
    let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string();
    (path.to_path_buf(), public)
}

fn said(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The commands of the section `title` of docs/operations.md: the lines
/// of its shell block that run Lifeboat.
fn runbook(title: &str) -> Vec<String> {
    let ops = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md")).unwrap();
    let section = ops.split(&format!("\n### {title}\n")).nth(1).expect("docs/operations.md has the section");
    let section = section.split("\n### ").next().unwrap();
    let block = section.split("```sh\n").nth(1).expect("a shell block").split("```").next().unwrap();
    let commands: Vec<String> =
        block.lines().map(str::trim).filter(|l| l.starts_with("lifeboat ")).map(str::to_string).collect();
    assert!(!commands.is_empty(), "{block}");
    commands
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_new_server_runbook_brings_back_every_row_and_file() {
    let server = OldServer::build(true, true, "");
    let before = server.contents();
    server.empty();

    let commands = runbook("A new server");
    assert_eq!(commands.len(), 2, "a look at the plan, then one command: {commands:?}");
    let plan = server.shell(&commands[0]);
    let plan_said = said(&plan);
    assert_eq!(plan.status.code(), Some(0), "{}: {plan_said}", commands[0]);
    assert!(plan_said.contains("does not exist: it is created first"), "the plan says so: {plan_said}");
    assert!(plan_said.contains("fetched into"), "a dry run says what it fetched: {plan_said}");
    assert!(!plan_said.contains("PROBLEMS"), "{plan_said}");
    // The configured identity_file is gone with the server; --identity stands in.
    assert!(!plan_said.contains("encryption.identity_file"), "{plan_said}");

    eprintln!("{plan_said}");
    let start = std::time::Instant::now();
    let restore = server.shell(&commands[1]);
    let restore_said = said(&restore);
    assert_eq!(restore.status.code(), Some(0), "{}: {restore_said}", commands[1]);
    eprintln!("the restore took {:.1} s\n{restore_said}", start.elapsed().as_secs_f64());
    // The databases, files and PostgreSQL database were gone: nothing to
    // keep of them. The Redis server was up but empty, and the outcome says
    // its safety copy is empty.
    assert!(
        restore_said.contains("main.pgdump was not in the safety snapshot: there was nothing to keep")
            && restore_said.contains("cache.rdb held no rows before this restore"),
        "an empty server has nothing to keep, and the restore says so: {restore_said}"
    );

    let after = server.contents();
    for ((name, want), (_, got)) in before.iter().zip(&after) {
        assert!(want == got, "{name} differs after the restore:\n{want}\n---\n{got}");
    }
    assert_eq!(before.len(), after.len());
    for e in std::fs::read_dir(server.sb.path("out")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("database_backup_") {
            assert_eq!(mode(&e.path()), 0o600, "{:?}", e.file_name());
        }
    }
}

#[test]
fn a_command_stops_only_on_the_secrets_it_uses_and_fetch_brings_a_sealed_base() {
    let server = OldServer::build(false, true, "");
    let sb = &server.sb;
    let remote = sb.cmd(&["list", "--remote", "offsite", "--json"]).output().unwrap();
    let remote: serde_json::Value = serde_json::from_slice(&remote.stdout).unwrap();
    let newest = remote[0]["archive"].as_str().unwrap().to_string();
    let full = remote[1]["archive"].as_str().unwrap().to_string();
    assert!(newest.contains(".diff."), "{remote}");
    server.empty();

    // The config names secrets this server does not have yet: the bot
    // token, a Discord webhook, a database password, the configured key.
    let text = std::fs::read_to_string(&sb.config).unwrap();
    let missing = sb.path("not-yet");
    let text = format!(
        "[telegram]\ntoken_file = {:?}\nadmin_ids = [1]\n[destinations.discord]\nwebhook_url_file = {:?}\n{text}\
         [[sources.postgres]]\nname = \"main\"\nurl = \"postgresql://bot@127.0.0.1:1/bot\"\npassword_file = {:?}\n",
        missing.join("token"),
        missing.join("webhook"),
        missing.join("pg"),
    );
    std::fs::write(&sb.config, text).unwrap();
    let listed = sb.cmd(&["list", "--remote", "offsite"]).output().unwrap();
    assert_eq!(listed.status.code(), Some(0), "{}", said(&listed));
    for key in ["telegram.token_file", "destinations.discord.webhook_url_file", "sources.postgres"] {
        assert!(said(&listed).contains(&format!("warning: config key `{key}`")), "{key}: {}", said(&listed));
    }
    // A backup uses them all: it still stops at start.
    let backup = sb.cmd(&["backup"]).output().unwrap();
    assert_eq!(backup.status.code(), Some(2), "{}", said(&backup));
    assert!(said(&backup).contains("telegram.token_file"), "{}", said(&backup));

    // Without the identity, a sealed differential cannot name its base:
    // the differential comes, and the error says how to bring the base.
    let fetched = sb.cmd(&["fetch", "offsite", "latest"]).output().unwrap();
    assert_eq!(fetched.status.code(), Some(1), "{}", said(&fetched));
    assert!(
        said(&fetched).contains(&format!("lifeboat fetch offsite {newest} --identity KEY_FILE")),
        "{}",
        said(&fetched)
    );
    let out = sb.path("out");
    assert_eq!(mode(&out.join(&newest)), 0o600);
    assert!(!out.join(&full).exists());

    let fetched = sb.cmd(&["fetch", "offsite", "latest", "--identity", "age-key.txt"]).output().unwrap();
    assert_eq!(fetched.status.code(), Some(0), "{}", said(&fetched));
    assert_eq!(mode(&out.join(&full)), 0o600, "the base came too");
    assert!(
        said(&fetched).contains(&format!("restore with: lifeboat restore {newest} --identity age-key.txt --yes")),
        "the hint names the archive fetched: {}",
        said(&fetched)
    );
    let again = sb.cmd(&["fetch", "offsite", "latest", "--identity", "age-key.txt", "--json"]).output().unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["archive"], newest.as_str(), "{again}");
    assert_eq!(again["present"], serde_json::json!([newest, full]), "{again}");
    // Into a folder, the database password is not needed either.
    let to = sb.path("restored");
    let restored = sb
        .cmd(&[
            "restore",
            &newest,
            "--only",
            "premium_system.db",
            "--identity",
            "age-key.txt",
            "--to",
            to.to_str().unwrap(),
            "--yes",
        ])
        .output()
        .unwrap();
    assert_eq!(restored.status.code(), Some(0), "{}", said(&restored));
    let verified = sb.cmd(&["verify", &newest, "--identity", "age-key.txt"]).output().unwrap();
    assert_eq!(verified.status.code(), Some(0), "{}", said(&verified));

    // The store's own key is used: without it, the listing stops, naming it.
    std::fs::remove_file(sb.dir.path().join("s3-secret")).ok();
    let text = std::fs::read_to_string(&sb.config).unwrap();
    let secret_line = text.lines().find(|l| l.starts_with("secret_access_key_file")).unwrap().to_string();
    std::fs::write(
        &sb.config,
        text.replace(&secret_line, &format!("secret_access_key_file = {:?}", missing.join("s3"))),
    )
    .unwrap();
    let listed = sb.cmd(&["list", "--remote", "offsite"]).output().unwrap();
    assert_eq!(listed.status.code(), Some(2), "{}", said(&listed));
    assert!(said(&listed).contains("error:") && said(&listed).contains("destinations.s3"), "{}", said(&listed));
}

#[test]
fn the_dry_run_lists_every_problem_the_restore_would_meet_and_the_restore_writes_nothing() {
    let mut server = OldServer::build(true, true, "");
    server.empty();
    // Only the differential is here (its base stays in the bucket), and
    // the PostgreSQL and Redis servers are down.
    let fetched = server.sb.cmd(&["fetch", "offsite", "latest"]).output().unwrap();
    assert_eq!(fetched.status.code(), Some(1), "{}", said(&fetched));
    server.pg.as_ref().unwrap().stop();
    drop(server.redis.take());
    let sb = &server.sb;

    let plan = sb.cmd(&["restore", "latest", "--identity", "age-key.txt", "--dry-run"]).output().unwrap();
    let plan_said = said(&plan);
    assert_eq!(plan.status.code(), Some(1), "{plan_said}");
    let problems = plan_said.split("PROBLEMS").nth(1).unwrap_or_else(|| panic!("{plan_said}"));
    assert!(problems.contains("its base") && problems.contains("--from"), "{problems}");
    assert!(problems.contains("main.pgdump") && problems.contains("unreachable"), "{problems}");
    assert!(problems.contains("cache.rdb"), "{problems}");

    let json = sb.cmd(&["restore", "latest", "--identity", "age-key.txt", "--dry-run", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["problems"].as_array().unwrap().len(), 3, "{json}");

    let restore = sb.cmd(&["restore", "latest", "--identity", "age-key.txt", "--yes"]).output().unwrap();
    assert_eq!(restore.status.code(), Some(1), "{}", said(&restore));
    assert!(said(&restore).contains("nothing was written"), "{}", said(&restore));
    assert!(!sb.path("data").exists() && !sb.path("files").exists(), "nothing was written");
}

#[test]
fn from_the_chat_alone_the_parts_and_the_base_restore_into_a_folder_without_any_config() {
    // Archives split for Telegram's upload limit, as an admin receives them.
    let server = OldServer::build(false, false, "[telegram]\nmax_upload_mb = 1\n");
    let before = server.contents();
    let out = server.sb.path("out");
    let mut archives: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("database_backup_"))
        .collect();
    archives.sort();
    assert!(archives.iter().any(|n| n.contains(".zip.age.002")), "the base is in parts: {archives:?}");
    // What the chat holds, saved into one folder; the server is gone.
    let laptop = server.sb.path("laptop");
    std::fs::create_dir_all(laptop.join("downloads")).unwrap();
    for a in &archives {
        std::fs::copy(out.join(a), laptop.join("downloads").join(a)).unwrap();
    }
    // The differential, small, came whole (or its first part).
    let first = archives
        .iter()
        .find(|n| n.contains(".diff.") && (n.ends_with(".age") || n.ends_with(".001")))
        .unwrap_or_else(|| panic!("a differential: {archives:?}"))
        .clone();
    let files_entries: Vec<String> = ["app.toml", "sub/notes.txt"]
        .iter()
        .map(|f| format!("conf{}", server.sb.path("files/conf").join(f).display()))
        .collect();
    server.empty();
    std::fs::rename(server.sb.path("age-key.txt"), laptop.join("age-key.txt")).unwrap();
    std::fs::remove_file(&server.sb.config).unwrap();

    let commands = runbook("From the chat alone");
    assert_eq!(commands.len(), 1, "{commands:?}");
    let command = commands[0].replace("ARCHIVE", &first);
    let bin = Path::new(env!("CARGO_BIN_EXE_lifeboat")).parent().unwrap().to_path_buf();
    let mut sh = StdCommand::new("sh");
    sh.arg("-c").arg(&command).current_dir(&laptop);
    sh.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()));
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT") {
            sh.env_remove(k);
        }
    }
    let restored = sh.output().unwrap();
    assert_eq!(restored.status.code(), Some(0), "{command}: {}", said(&restored));

    let to = laptop.join("restored");
    for (name, want) in before.iter().filter(|(n, _)| n.ends_with(".db")) {
        let dump = StdCommand::new("sqlite3").arg(to.join(name)).arg(".dump").output().unwrap();
        assert!(String::from_utf8_lossy(&dump.stdout) == *want, "{name} differs");
    }
    for (entry, (name, want)) in files_entries.iter().zip(before.iter().filter(|(n, _)| !n.ends_with(".db"))) {
        assert_eq!(&std::fs::read_to_string(to.join(entry)).unwrap(), want, "{name}");
    }
}

/// A live restore whose PostgreSQL load fails after the SQLite database was
/// written (the url's role may read the tables but does not own them, so
/// `pg_restore --clean` cannot drop them) puts the SQLite database back as
/// it was before the restore, from the safety snapshot, and says so.
#[test]
fn a_source_failing_after_others_were_written_puts_them_back() {
    let pg = Postgres::start();
    pg.psql("postgres", &format!("CREATE ROLE bot LOGIN PASSWORD '{ROLE_PASSWORD}'"));
    pg.psql("postgres", "CREATE DATABASE bot");
    pg.psql("bot", "CREATE TABLE owned_by_postgres (i int); INSERT INTO owned_by_postgres VALUES (1), (2);");
    pg.psql("bot", "GRANT SELECT ON owned_by_postgres TO bot");
    let sb = Sandbox::with_random_db(1);
    let pw = sb.secret("pg-password", ROLE_PASSWORD);
    sb.write_config(
        &["app.db"],
        &format!(
            "[[sources.postgres]]\nname = \"main\"\nurl = \"postgresql://bot@127.0.0.1:{}/bot\"\npassword_file = {pw:?}\n",
            pg.port
        ),
    );
    let (archive, _) = sb.run(&["backup"], 0);
    let rows = || -> i64 {
        rusqlite::Connection::open(sb.path("data/app.db"))
            .unwrap()
            .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
            .unwrap()
    };
    sb.write_row();
    let before = rows();

    let restore = sb.cmd(&["restore", archive.to_str().unwrap(), "--yes"]).output().unwrap();
    let restore_said = said(&restore);
    assert_eq!(restore.status.code(), Some(1), "{restore_said}");
    assert!(restore_said.contains("main.pgdump") && restore_said.contains("pg_restore"), "{restore_said}");
    assert!(
        restore_said.contains("nothing is left half restored") && restore_said.contains("app.db"),
        "{restore_said}"
    );
    assert_eq!(rows(), before, "app.db is as it was before the restore");
    assert_eq!(pg.psql("bot", "SELECT count(*) FROM owned_by_postgres"), "2");
}
