//! End-to-end tests of the `lifeboat` binary in temporary folders, with a
//! config file pointing there: real SQLite files, real ZIPs, the system
//! `unzip` and `sqlite3`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use predicates::prelude::*;
use rusqlite::Connection;

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Env {
        Env::with_extra("")
    }

    fn with_extra(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("lifeboat.toml");
        let data = dir.path().join("data");
        let out = dir.path().join("out");
        std::fs::write(
            &config,
            format!("[backup]\nsource_dir = {:?}\noutput_dir = {:?}\n{extra}", data.display(), out.display()),
        )
        .unwrap();
        Env { dir, config }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(common::lifeboat(&self.config, self.dir.path(), args))
    }

    /// Small demo databases, no backup.
    fn seed(&self) {
        self.cmd(&["demo", "--no-backup", "--scale-mb", "0.3"]).assert().success();
    }

    /// Runs `backup` and returns the archive path it printed.
    fn backup(&self) -> PathBuf {
        let out = self.cmd(&["backup"]).assert().success().get_output().stdout.clone();
        let text = String::from_utf8(out).unwrap();
        let line = text.lines().next().expect("backup printed a path");
        PathBuf::from(line.trim())
    }
}

fn rows(db: &Path, table: &str) -> i64 {
    Connection::open(db).unwrap().query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

fn stdout_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Overwrites `len` bytes at the middle of a file.
fn corrupt_middle(path: &Path, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let size = std::fs::metadata(path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(size / 2)).unwrap();
    f.write_all(&vec![0xA5; len]).unwrap();
}

#[test]
fn demo_makes_five_databases_and_an_archive_unzip_accepts() {
    let env = Env::new();
    let out = env.cmd(&["demo"]).assert().success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let archive = PathBuf::from(stdout.lines().next().unwrap().trim());
    assert!(archive.starts_with(env.out()), "{archive:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("What to try next"), "{stderr}");
    // The hints work as shown, though nothing was installed on the PATH.
    let hint = stderr.lines().find(|l| l.contains(" verify latest ")).unwrap();
    let words: Vec<&str> = hint.split_whitespace().take_while(|w| *w != "check").collect();
    let run = StdCommand::new(words[0]).args(&words[1..]).current_dir(env.dir.path()).output().unwrap();
    assert!(run.status.success(), "{hint}: {}", String::from_utf8_lossy(&run.stderr));
    for name in ["user_requests.db", "analytics.db", "premium_system.db", "historical_prices.db", "bypass_stats.db"] {
        assert!(env.data().join(name).is_file(), "{name} missing");
    }
    let unzip = StdCommand::new("unzip").arg("-t").arg(&archive).output().expect("unzip is installed");
    assert!(unzip.status.success(), "{}", String::from_utf8_lossy(&unzip.stdout));
    let listing = String::from_utf8_lossy(&unzip.stdout);
    assert!(
        listing.contains("manifest.json")
            && listing.contains("backup_info.txt")
            && listing.contains("premium_system.db")
    );

    let list = stdout_json(&mut env.cmd(&["list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["trigger"], "demo");
    assert_eq!(list[0]["databases"].as_array().unwrap().len(), 5);
    assert_eq!(list[0]["verified"], true);

    // A second demo keeps the databases as they are.
    let before = std::fs::read(env.data().join("analytics.db")).unwrap();
    env.cmd(&["demo", "--no-backup"]).assert().success().stderr(predicate::str::contains("not touched"));
    assert_eq!(before, std::fs::read(env.data().join("analytics.db")).unwrap());
}

#[test]
fn backup_list_status_and_verify() {
    let env = Env::new();
    env.seed();
    let archive = env.backup();
    assert!(archive.is_file(), "{archive:?}");
    assert!(archive.file_name().unwrap().to_str().unwrap().starts_with("database_backup_"));

    let list = stdout_json(&mut env.cmd(&["list", "--json"]));
    assert_eq!(list[0]["schema"], 1, "each listed archive says its shape's version");
    assert_eq!(list[0]["trigger"], "manual");
    assert_eq!(list[0]["status"], "ok");
    env.cmd(&["list"]).assert().success().stdout(predicate::str::contains("manual"));

    let status = stdout_json(&mut env.cmd(&["status", "--json"]));
    assert_eq!(status["schema"], 1);
    assert_eq!(status["last_backup"]["status"], "ok");
    assert_eq!(status["storage"]["archives"], 1);
    assert_eq!(status["last_24h"]["ok"], 1);
    assert_eq!(status["delivery"]["enabled"], false);
    env.cmd(&["status"]).assert().success().stdout(predicate::str::contains("Delivery:     disabled"));

    env.cmd(&["verify"]).assert().success().stdout(predicate::str::contains("archive ok: 5 databases"));
    let v = stdout_json(&mut env.cmd(&["verify", "latest", "--json"]));
    assert_eq!(v["schema"], 1);
    assert_eq!(v["ok"], true);
    assert_eq!(v["databases"].as_array().unwrap().len(), 5);

    // A damaged copy of the archive fails verification.
    let copy = env.dir.path().join(archive.file_name().unwrap());
    std::fs::copy(&archive, &copy).unwrap();
    corrupt_middle(&copy, 4096);
    env.cmd(&["verify", copy.to_str().unwrap()]).assert().code(1);
    let out = env.cmd(&["verify", copy.to_str().unwrap(), "--json"]).assert().code(1).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert!(!v["problems"].as_array().unwrap().is_empty(), "a failed verify says why: {v}");

    // backup --json is pretty-printed like every other listing.
    let out = env.cmd(&["backup", "--json"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.lines().count() > 3, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["archive"].is_string(), "{v}");
    assert!(text.starts_with("{\n  \"schema\": 1,\n"), "the schema version comes first: {text}");
}

#[test]
fn backup_deliver_without_token_reports_delivery_disabled() {
    let env = Env::new();
    env.seed();
    let out = env.cmd(&["backup", "--deliver"]).assert().success().get_output().clone();
    let archive = PathBuf::from(String::from_utf8(out.stdout).unwrap().lines().next().unwrap().trim());
    assert!(archive.is_file(), "{archive:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("disabled"));

    let v = stdout_json(&mut env.cmd(&["backup", "--deliver", "--json"]));
    assert_eq!((v["schema"].as_u64(), v["delivery_enabled"].as_bool()), (Some(1), Some(false)), "{v}");
    assert!(v["status"].is_string() && v["files"].is_array() && v["summary"].is_string(), "{v}");
}

#[test]
fn list_and_status_read_the_shared_state() {
    use lifeboat_core::state::{Heartbeat, HeartbeatState, Process, State};
    let env =
        Env::with_extra("[telegram]\ntoken = \"123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\nadmin_ids = [11, 22]\n");
    env.seed();
    let archive = env.backup();
    let name = archive.file_name().unwrap().to_str().unwrap().to_string();
    let state = State::open(&env.out().join(".lifeboat/state.db")).unwrap();
    let now = chrono::Utc::now();
    state.enqueue_deliveries(&name, &[(name.clone(), 1, 1)], &[11, 22], now).unwrap();
    let first = state.deliveries_for(&name).unwrap().into_iter().find(|d| d.chat_id == 11).unwrap();
    state.mark_delivered(first.id, "file-id", 7, now).unwrap();
    // A live process stands in for the daemon.
    let beat = |pid: u32, hb_state: HeartbeatState| {
        let hb = Heartbeat {
            process: Process::Scheduler,
            pid,
            at: now,
            state: hb_state,
            stale_after_secs: 300,
            next_run: None,
        };
        state.beat(&hb).unwrap();
    };
    beat(std::process::id(), HeartbeatState::Idle);

    let list = stdout_json(&mut env.cmd(&["list", "--json"]));
    assert_eq!(list[0]["delivered"], 1);
    let status = stdout_json(&mut env.cmd(&["status", "--json"]));
    assert_eq!(status["scheduler"]["state"], "Running");
    assert_eq!(status["scheduler"]["pid"], std::process::id());
    assert_eq!(status["delivery"]["enabled"], true);
    assert_eq!(status["delivery"]["pending"], 1);
    env.cmd(&["status"]).assert().success().stdout(predicate::str::contains("Scheduler:    Running"));

    // A daemon killed without stopping leaves a fresh heartbeat: its pid tells.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    beat(gone_pid, HeartbeatState::Idle);
    env.cmd(&["status"]).assert().success().stdout(predicate::str::contains(format!(
        "Scheduler:    Died (pid {gone_pid} is gone without stopping cleanly"
    )));
    assert_eq!(stdout_json(&mut env.cmd(&["status", "--json"]))["scheduler"]["state"], "Died");
    // `--once` from a timer has exited by design: timer mode, not a dead daemon.
    beat(gone_pid, HeartbeatState::Timer);
    env.cmd(&["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Scheduler:    Timer (no daemon; a timer runs the cycles"));
}

#[test]
fn a_second_cycle_is_refused_while_one_holds_the_lock() {
    let env = Env::new();
    env.seed();
    let cfg = lifeboat_engine::Config::load(Some(&env.config)).unwrap();
    let held = lifeboat_core::lock::CycleLock::try_acquire(&cfg.lock_path(), "test holder").unwrap();
    env.cmd(&["backup"])
        .assert()
        .code(lifeboat_core::exit::BUSY)
        .stderr(predicate::str::contains("another backup is running").and(predicate::str::contains("test holder")));
    assert!(lifeboat_core::catalog::list(&env.out()).unwrap().is_empty());
    drop(held);
    env.backup();

    // A restore into a folder touches nothing live: it runs beside a cycle;
    // a live restore waits its turn.
    let held = lifeboat_core::lock::CycleLock::try_acquire(&cfg.lock_path(), "test holder").unwrap();
    let to = env.dir.path().join("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]).assert().success();
    assert!(to.join("premium_system.db").is_file());
    env.cmd(&["restore", "latest", "--only", "premium_system.db", "--yes"])
        .assert()
        .code(lifeboat_core::exit::BUSY)
        .stderr(predicate::str::contains("test holder"));
    drop(held);
}

#[test]
fn backup_deliver_sends_to_every_admin_and_names_who_failed() {
    use lifeboat_testkit::{FakeTelegram, Fault};
    let tg = FakeTelegram::start_blocking();
    tg.fail_chat(33, Fault::NeverStarted);
    let env = Env::with_extra(&format!(
        "[telegram]\ntoken = \"123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\napi_url = {:?}\nadmin_ids = [11, 22, 33]\n\
         [retry]\nattempts = 2\ninitial_delay_secs = 0\nmax_delay_secs = 1\n",
        tg.api_url()
    ));
    env.seed();
    let out = env.cmd(&["backup", "--deliver"]).assert().code(3).get_output().clone();
    let archive = PathBuf::from(String::from_utf8(out.stdout).unwrap().lines().next().unwrap().trim());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("delivered to 2 of 3 admins") && stderr.contains("33"), "{stderr}");
    let bytes = std::fs::read(&archive).unwrap();
    for chat in [11, 22] {
        let docs = tg.documents(chat);
        assert_eq!(docs.len(), 1, "chat {chat}: {docs:?}");
        assert_eq!(tg.file_bytes(docs[0].file_id.as_deref().unwrap()).unwrap(), bytes);
    }
    assert_eq!(tg.uploads().len(), 1, "one upload, then file_id");
    assert!(tg.calls_for_chat(33).iter().filter(|c| c.method == "sendDocument").count() <= 1, "no retry after 403");
    let list = stdout_json(&mut env.cmd(&["list", "--json"]));
    assert_eq!(list[0]["delivered"], 2);
    env.cmd(&["diagnose"]).assert().stdout(predicate::str::contains("admin 33"));
}

#[test]
fn missing_database_is_partial_exit_3() {
    let env = Env::new();
    env.seed();
    std::fs::remove_file(env.data().join("bypass_stats.db")).unwrap();
    let out = env.cmd(&["backup"]).assert().code(3).get_output().clone();
    let archive = PathBuf::from(String::from_utf8(out.stdout).unwrap().lines().next().unwrap().trim());
    assert!(archive.is_file());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bypass_stats.db") && stderr.contains("missing"), "{stderr}");
    let list = stdout_json(&mut env.cmd(&["list", "--json"]));
    assert_eq!(list[0]["status"], "partial");
    assert_eq!(list[0]["databases"].as_array().unwrap().len(), 4);
}

#[test]
fn nothing_to_back_up_fails_with_exit_1() {
    let env = Env::new();
    env.cmd(&["backup"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains("user_requests.db: missing")));
    assert!(lifeboat_core::catalog::list(&env.out()).unwrap().is_empty());
}

#[test]
fn usage_and_config_errors_exit_2() {
    let env = Env::with_extra("compression_level = 12\n");
    env.cmd(&["list"]).assert().code(2).stderr(predicate::str::contains("backup.compression_level"));
    let env = Env::new();
    env.cmd(&["frobnicate"]).assert().code(2);
    env.cmd(&["restore"]).assert().code(2);
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.args(["--config", "/nonexistent/lifeboat.toml", "status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/lifeboat.toml"));
    env.cmd(&["status"])
        .env("LIFEBOAT__RETENTION__MAX_COUNT", "0")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("retention.max_count"));
}

#[test]
fn diagnose_reports_a_corrupt_database() {
    let env = Env::new();
    env.seed();
    env.cmd(&["diagnose"]).assert().success().stdout(predicate::str::contains("[ok   ] premium_system.db"));
    let good = env.backup();
    corrupt_middle(&env.data().join("premium_system.db"), 64 * 1024);
    let out = env.cmd(&["diagnose", "--json"]).assert().code(1).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["worst"], "error");
    assert_eq!(v["schema"], 1);
    let bad: Vec<_> = v["findings"].as_array().unwrap().iter().filter(|f| f["level"] == "error").collect::<Vec<_>>();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["subject"], "premium_system.db");
    assert!(bad[0]["action"].as_str().unwrap().contains("lifeboat restore"));
    // The archive that holds a good copy, by name: `latest` changes.
    let name = good.file_name().unwrap().to_str().unwrap();
    assert!(bad[0]["action"].as_str().unwrap().contains(name), "{bad:?}");
}

#[test]
fn restore_refuses_without_yes_then_round_trips() {
    let env = Env::new();
    env.seed();
    let db = env.data().join("premium_system.db");
    let before = rows(&db, "payments");
    env.backup();
    Connection::open(&db).unwrap().execute("DELETE FROM payments WHERE id % 2 = 0", []).unwrap();
    let changed = rows(&db, "payments");
    assert!(changed < before);
    let modified = std::fs::read(&db).unwrap();

    // Without --yes: the plan, a refusal, nothing written.
    env.cmd(&["restore", "latest", "--only", "premium_system.db"])
        .assert()
        .code(2)
        .stdout(
            predicate::str::contains("premium_system.db")
                .and(predicate::str::contains("REPLACE"))
                .and(predicate::str::contains("not restored (not selected): user_requests.db"))
                .and(predicate::str::contains("a safety snapshot of what is being replaced is taken")),
        )
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(std::fs::read(&db).unwrap(), modified);
    env.cmd(&["restore", "latest", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("premium_system.db"));
    assert_eq!(std::fs::read(&db).unwrap(), modified);
    let plan = stdout_json(&mut env.cmd(&["restore", "latest", "--dry-run", "--json", "--only", "premium_system.db"]));
    assert_eq!(plan["databases"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["target"], "live");
    assert_eq!(plan["schema"], 1);
    assert_eq!(plan["databases"][0]["action"], "replace");
    assert_eq!(plan["databases"][0]["current"]["journal_mode"], "delete", "{plan}");
    env.cmd(&["restore", "latest", "--only", "no_such.db", "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no_such.db").and(predicate::str::contains("premium_system.db")));
    assert_eq!(std::fs::read(&db).unwrap(), modified);
    let archives_before = lifeboat_core::catalog::list(&env.out()).unwrap().len();

    // Into a folder, as plain files.
    let to = env.dir.path().join("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("WRITE").and(predicate::str::contains("Live databases are not touched")));
    let done = stdout_json(&mut env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes", "--json"]));
    assert_eq!(rows(&to.join("premium_system.db"), "payments"), before);
    assert_eq!(done["schema"], 1);
    let restored = done["restored"].as_array().unwrap();
    assert_eq!(restored.len(), 5, "{done}");
    assert!(restored.iter().all(|d| d["rows_match_manifest"] == true && d["rows"].as_u64().unwrap() > 0), "{done}");
    assert_eq!(rows(&db, "payments"), changed);

    // Into the live database, while a connection to it stays open.
    let open = Connection::open(&db).unwrap();
    env.cmd(&["restore", "latest", "--only", "premium_system.db", "--yes"]).assert().success().stdout(
        predicate::str::contains("Restored from")
            .and(predicate::str::contains("Safety snapshot of the replaced databases")),
    );
    let n: i64 = open.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
    assert_eq!(n, before);
    // The safety snapshot taken before the restore is an archive too.
    assert!(lifeboat_core::catalog::list(&env.out()).unwrap().len() > archives_before);
}

#[test]
fn diagnose_says_when_backups_stopped() {
    use lifeboat_core::state::{RunEnd, RunStatus, State};
    let env = Env::new();
    env.seed();
    let state = State::open(&env.out().join(".lifeboat/state.db")).unwrap();
    let then = chrono::Utc::now() - chrono::Duration::hours(5);
    let id = state.begin_run(lifeboat_core::Trigger::Scheduled, then).unwrap();
    let end = RunEnd { databases_ok: 5, verified: true, ..Default::default() };
    state.finish_run(id, RunStatus::Ok, &end, then).unwrap();
    let out = env.cmd(&["diagnose", "--json"]).assert().code(1).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["subject"] == "backups").unwrap().clone();
    assert_eq!(f["level"], "error", "{f}");
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("backups stopped 5 hours ago"), "{msg}");
}

#[test]
fn without_a_config_file_the_cli_says_it_uses_the_defaults() {
    if Path::new(lifeboat_engine::config::SYSTEM_CONFIG).exists() {
        return; // an installed Lifeboat on this machine: that file is the answer
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.arg("list").current_dir(dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT") {
            c.env_remove(k);
        }
    }
    c.assert().success().stderr(
        predicate::str::contains("no configuration file")
            .and(predicate::str::contains("/etc/lifeboat/lifeboat.toml"))
            .and(predicate::str::contains("archives in backups")),
    );
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat")).arg("--version").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let commit = text.split("commit ").nth(1).and_then(|t| t.split(',').next()).unwrap_or_default();
    assert!(commit.len() >= 7 && head.starts_with(commit), "{text} (HEAD {head})");
    let date = text.split("built ").nth(1).unwrap_or_default().trim().trim_end_matches(')');
    assert!(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(), "{text}");
}

#[test]
fn completions_and_manual_pages_need_no_configuration() {
    let env = Env::new();
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.args(["completions", "bash"]).current_dir(env.dir.path());
    c.assert().success().stdout(predicate::str::contains("_lifeboat()").and(predicate::str::contains("restore")));
    let man = env.dir.path().join("man");
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.arg("manpages").arg(&man).assert().success();
    let restore = std::fs::read_to_string(man.join("man1/lifeboat-restore.1")).unwrap();
    assert!(restore.contains("lifeboat restore") && restore.contains("force\\-schema"), "{restore}");
    let main = std::fs::read_to_string(man.join("man1/lifeboat.1")).unwrap();
    for section in ["EXIT STATUS", "FILES", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"] {
        assert!(main.contains(&format!(".SH \"{section}\"")) || main.contains(&format!(".SH {section}")), "{section}");
    }
    // Every page the manual names exists (clap's own `help` included).
    let named: Vec<&str> = main.lines().filter_map(|l| l.strip_prefix("lifeboat\\-")?.strip_suffix("(1)")).collect();
    assert!(named.contains(&"restore") && named.contains(&"help"), "{named:?}");
    for name in named {
        assert!(man.join(format!("man1/lifeboat-{name}.1")).is_file(), "lifeboat-{name}(1) is named but missing");
    }
    // lifeboat.toml(5) is config/default.toml's comments, key by key.
    let config = std::fs::read_to_string(man.join("man5/lifeboat.toml.5")).unwrap();
    assert!(config.contains(".SS [retention]") && config.contains("max_count"), "{config}");
    assert!(config.contains("Deflate level, 0 (store) to 9 (smallest)."), "{config}");
    // A typo in the parent is an error, not a tree of new folders.
    let typo = env.dir.path().join("no-such-dir/man1");
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.arg("manpages").arg(&typo).assert().failure().stderr(predicate::str::contains("parent folder must exist"));
    assert!(!env.dir.path().join("no-such-dir").exists());
}

#[test]
fn metrics_prints_what_promtool_accepts() {
    let env = Env::new();
    // Before anything ran: still valid metrics, no run figures.
    let out = env.cmd(&["metrics"]).assert().success().get_output().stdout.clone();
    let before = String::from_utf8(out).unwrap();
    assert!(before.contains("lifeboat_archives 0") && !before.contains("lifeboat_runs_total"), "{before}");
    env.seed();
    env.backup();
    let out = env.cmd(&["metrics"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("lifeboat_runs_total{status=\"ok\"} 1") && text.contains("lifeboat_archives 1"), "{text}");
    for t in [before, text] {
        let mut child = StdCommand::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool is installed (Debian package prometheus; .ci/run installs it)");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), t.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}\n{t}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn pin_keeps_an_archive_past_retention_and_list_shows_it() {
    let env = Env::with_extra("[retention]\nmax_count = 1\n");
    env.seed();
    let first = env.backup();
    let name = first.file_name().unwrap().to_str().unwrap().to_string();
    env.cmd(&["pin", &name, "--reason", "before the migration"]).assert().success();
    let out = env.cmd(&["list", "--json"]).assert().success().get_output().stdout.clone();
    let list: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(list[0]["pinned"], "before the migration");
    assert_eq!(list[0]["kept_by"], serde_json::json!(["count", "newest-verified", "pin"]));
    env.cmd(&["list"]).assert().success().stdout(predicate::str::contains("📌 pinned: before the migration"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.cmd(&["backup", "--deliver"]).assert().success();
    assert!(first.exists(), "max_count = 1, but pinned");
    let out = env.cmd(&["list", "--json"]).assert().success().get_output().stdout.clone();
    let list: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(list[1]["kept_by"], serde_json::json!(["pin"]), "{list}");
    let again = stdout_json(&mut env.cmd(&["pin", &name, "--reason", "before the migration", "--json"]));
    assert_eq!(
        again,
        serde_json::json!({"schema": 1, "archive": name, "pinned": true, "was_pinned": true, "reason": "before the migration"})
    );
    let gone = stdout_json(&mut env.cmd(&["unpin", &name, "--json"]));
    assert_eq!(
        gone,
        serde_json::json!({"schema": 1, "archive": name, "pinned": false, "was_pinned": true, "reason": null})
    );
    env.cmd(&["pin", &name]).assert().success();
    env.cmd(&["unpin", &name]).assert().success();
    // Like `pin` twice: the archive is as asked, so that is no error.
    env.cmd(&["unpin", &name]).assert().success().stdout(predicate::str::contains("was not pinned"));
    env.cmd(&["pin", "database_backup_20200101_000000.zip"]).assert().code(2);
    env.cmd(&["unpin", "database_backup_20200101_000000.zip"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("neither an archive here nor pinned"));
}

/// `backup --dry-run` says what a backup would take, skip and write, with
/// the exit code the backup would have, and writes nothing at all.
#[test]
fn backup_dry_run_writes_nothing_and_predicts_the_run() {
    let env =
        Env::with_extra("databases = [\"user_requests.db\", \"gone.db\"]\n[schedule]\nfull_cron = \"0 0 1 1 *\"\n");
    env.seed();
    std::fs::remove_file(env.data().join("gone.db")).unwrap();
    let out = env.cmd(&["backup", "--dry-run", "--json"]).assert().code(3).get_output().stdout.clone();
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(plan["schema"], 1);
    assert_eq!(plan["kind"], "full", "no full archive yet: {plan}");
    assert_eq!(plan["sources"][0]["name"], "user_requests.db");
    assert_eq!(plan["sources"][0]["action"], "take");
    let size = std::fs::metadata(env.data().join("user_requests.db")).unwrap().len();
    assert_eq!(plan["sources"][0]["size"], size, "{plan}");
    assert_eq!(plan["sources"][1]["action"], "skip");
    assert!(plan["sources"][1]["reason"].as_str().unwrap().contains("gone.db does not exist"), "{plan}");
    assert!(!env.out().exists(), "a dry run creates nothing");

    let printed = env.cmd(&["backup"]).assert().code(3).get_output().stdout.clone();
    let full = PathBuf::from(String::from_utf8(printed).unwrap().trim());
    let full_name = full.file_name().unwrap().to_str().unwrap();
    env.cmd(&["backup", "--dry-run"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains(format!("writes a differential on {full_name}")))
        .stdout(predicate::str::contains("take user_requests.db (sqlite,"))
        .stdout(predicate::str::contains("skip gone.db (sqlite): missing:"));
    let listed = stdout_json(&mut env.cmd(&["list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "the dry run wrote no archive: {listed}");
    env.cmd(&["backup", "--dry-run", "--deliver"]).assert().code(2);
}

/// `prune --dry-run` says what would go and why the rest stays, touching
/// nothing; `prune` then removes exactly that.
#[test]
fn prune_previews_then_applies_retention() {
    let env = Env::with_extra("[retention]\nmax_age_days = 7\n");
    env.seed();
    let latest = env.backup();
    let old = env.out().join("database_backup_20200101_000000.zip");
    std::fs::copy(&latest, &old).unwrap();
    let latest_name = latest.file_name().unwrap().to_str().unwrap();

    let preview = stdout_json(&mut env.cmd(&["prune", "--dry-run", "--json"]));
    assert_eq!(preview["schema"], 1);
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["removed"][0]["name"], "database_backup_20200101_000000.zip", "{preview}");
    assert!(preview["removed"][0]["reason"].as_str().unwrap().starts_with("older than 7 days"), "{preview}");
    assert_eq!(preview["kept"], serde_json::json!([{"name": latest_name, "kept_by": ["count", "newest-verified"]}]));
    assert!(old.exists(), "a dry run removes nothing");
    env.cmd(&["prune", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("would remove database_backup_20200101_000000.zip: older than 7 days"))
        .stdout(predicate::str::contains(format!("keep {latest_name}: count, newest-verified")));

    env.cmd(&["prune"])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed database_backup_20200101_000000.zip: older than 7 days"));
    assert!(!old.exists() && latest.exists());
    let again = stdout_json(&mut env.cmd(&["prune", "--json"]));
    assert_eq!(again["removed"], serde_json::json!([]), "{again}");
}

/// Differentials from the command line: `backup` writes one between full
/// times, `list` says what it needs, `restore latest` (live and `--only`)
/// rebuilds from base + differential, and unchanged cycles are reported.
#[test]
fn differential_archives_list_verify_and_restore_live() {
    let env = Env::with_extra("[schedule]\nfull_cron = \"0 0 1 1 *\"\n");
    env.seed();
    let full = env.backup();
    let db = env.data().join("user_requests.db");
    let before = rows(&db, "requests");
    Connection::open(&db).unwrap().execute_batch("CREATE TABLE marker(x); INSERT INTO marker VALUES (1);").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let diff = env.backup();
    let diff_name = diff.file_name().unwrap().to_string_lossy().into_owned();
    assert!(diff_name.ends_with(".diff.zip"), "{diff_name}");
    let full_name = full.file_name().unwrap().to_string_lossy().into_owned();

    let list = stdout_json(&mut env.cmd(&["list", "--json"]));
    assert_eq!(list[0]["kind"], "differential");
    assert_eq!(list[0]["base"], full_name.as_str());
    assert_eq!(list[1]["kind"], "full");
    assert!(!list[1]["kept_by"].as_array().unwrap().is_empty());
    env.cmd(&["list"]).assert().success().stdout(predicate::str::contains(format!("differential on {full_name}")));
    env.cmd(&["verify", "latest"]).assert().success();

    // Live restore of one database from full + differential.
    Connection::open(&db).unwrap().execute_batch("DELETE FROM marker; DELETE FROM requests;").unwrap();
    env.cmd(&["restore", "latest", "--only", "user_requests.db", "-y"]).assert().success();
    assert_eq!(rows(&db, "requests"), before);
    assert_eq!(rows(&db, "marker"), 1, "the differential's change is back");

    // Cycles that found nothing changed are told below the list.
    let cfg = lifeboat_engine::Config::load(Some(&env.config)).unwrap();
    let state = cfg.open_state().unwrap();
    let id = state.begin_run(lifeboat_core::Trigger::Scheduled, chrono::Utc::now()).unwrap();
    let end = lifeboat_core::state::RunEnd { archive: Some(diff_name.clone()), verified: true, ..Default::default() };
    state.finish_run(id, lifeboat_core::state::RunStatus::Unchanged, &end, chrono::Utc::now()).unwrap();
    env.cmd(&["list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("1 unchanged cycle(s) since {diff_name}")));
}

#[test]
fn restore_over_a_damaged_database_says_it_keeps_it_in_quarantine_and_status_lists_it() {
    let env = Env::new();
    env.seed();
    env.backup();
    let db = env.data().join("premium_system.db");
    corrupt_middle(&db, 64 * 1024);
    let damaged = std::fs::read(&db).unwrap();
    let quarantine = env.out().join("quarantine");
    env.cmd(&["restore", "latest", "--only", "premium_system.db", "--dry-run"]).assert().success().stdout(
        predicate::str::contains("damaged now")
            .and(predicate::str::contains(format!("{}/premium_system.db.<time>/", quarantine.display())))
            .and(predicate::str::contains("what it cannot take is copied to quarantine")),
    );
    let out = env.cmd(&["restore", "latest", "--only", "premium_system.db", "--yes"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("Kept in quarantine") && text.contains(&quarantine.display().to_string()), "{text}");

    let v = stdout_json(&mut env.cmd(&["status", "--json"]));
    let kept = v["quarantine"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{v}");
    assert_eq!(kept[0]["name"], "premium_system.db");
    let dir = PathBuf::from(kept[0]["dir"].as_str().unwrap());
    assert_eq!(std::fs::read(dir.join("premium_system.db")).unwrap(), damaged);
    env.cmd(&["status"]).assert().success().stdout(
        predicate::str::contains("Quarantine:   1 copy").and(predicate::str::contains(dir.display().to_string())),
    );
    let list = String::from_utf8_lossy(&env.cmd(&["list"]).assert().success().get_output().stdout).into_owned();
    assert!(!list.contains("quarantine"), "{list}");
}
