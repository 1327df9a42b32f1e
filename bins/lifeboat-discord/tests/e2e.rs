//! The real binary against the fake Discord: the gateway session, the
//! commands it registers, `/backup now`, strangers refused, and the
//! owner's two-step restore.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use lifeboat_testkit::fake_discord_bot::{self, Reply};
use lifeboat_testkit::sqlite::{make_wal_db, rows_in_t};
use lifeboat_testkit::{BotFault, FakeDiscordBot, daemon};

const OWNER: u64 = 1_187_000_000_000_000_111;
const ADMIN: u64 = 1_187_000_000_000_000_222;
const STRANGER: u64 = 1_187_000_000_000_000_999;
const DBS: [&str; 2] = ["users.db", "prices.db"];
const WAIT: Duration = Duration::from_secs(60);

struct Bot {
    child: Child,
    fake: FakeDiscordBot,
    dir: tempfile::TempDir,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Bot {
    let fake = FakeDiscordBot::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for db in DBS {
        make_wal_db(&data.join(db), 50);
    }
    let token_file = dir.path().join("discord.token");
    std::fs::write(&token_file, format!("{}\n", fake_discord_bot::TOKEN)).unwrap();
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let toml = format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"users.db\", \"prices.db\"]\n\
         [discord]\ntoken_file = {:?}\napi_url = {:?}\nadmin_ids = [{ADMIN}]\nowner_id = {OWNER}\n\
         [retry]\nattempts = 2\ninitial_delay_secs = 0\nmax_delay_secs = 1\n",
        data.display().to_string(),
        dir.path().join("backups").display().to_string(),
        token_file.display().to_string(),
        fake.api_url()
    );
    let child = daemon::spawn(env!("CARGO_BIN_EXE_lifeboat-discord"), dir.path(), &toml);
    let bot = Bot { child, fake, dir };
    assert!(bot.fake.wait_ready(WAIT), "no gateway session:\n{}", bot.stderr());
    bot.wait("the commands registered", || !bot.fake.commands().is_null());
    bot
}

impl Bot {
    fn stderr(&self) -> String {
        daemon::stderr(self.dir.path())
    }

    fn wait(&self, what: &str, mut done: impl FnMut() -> bool) {
        let end = Instant::now() + WAIT;
        while !done() {
            assert!(Instant::now() < end, "timed out waiting for {what}:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The newest answer to `token` whose text contains `needle`.
    fn reply_containing(&self, token: &str, needle: &str) -> Reply {
        self.fake.wait_reply(token, WAIT, |r| r.content().contains(needle)).unwrap_or_else(|| {
            panic!("no reply containing {needle:?}: {:#?}\n{}", self.fake.replies(token), self.stderr())
        })
    }

    fn archives(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.dir.path().join("backups")) else { return Vec::new() };
        let mut names: Vec<String> =
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".zip")).collect();
        names.sort();
        names
    }

    fn db(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join("data").join(name)
    }

    /// `/backup now` from the admin, to its end; returns the final answer.
    fn backup_now(&self) -> Reply {
        let token = self.fake.slash(ADMIN, "backup", "now", &[]);
        self.reply_containing(&token, "Backup done")
    }
}

#[test]
fn a_refused_token_or_no_token_is_a_usage_error_that_never_prints_it() {
    let fake = FakeDiscordBot::start();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("discord.token");
    let wrong = "MTE4NzAwMDAwMDAwMDAwMDAwMQ.GfAk3d.not-the-right-signature_0123456789";
    std::fs::write(&token_file, wrong).unwrap();
    let config = |token: &Path| {
        let path = dir.path().join("lifeboat.toml");
        std::fs::write(
            &path,
            format!(
                "[backup]\noutput_dir = {:?}\n[discord]\ntoken_file = {:?}\napi_url = {:?}\nowner_id = {OWNER}\n",
                dir.path().join("backups").display().to_string(),
                token.display().to_string(),
                fake.api_url()
            ),
        )
        .unwrap();
        path
    };
    let run = |cfg: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_lifeboat-discord"))
            .arg("--config")
            .arg(cfg)
            .env_remove("LIFEBOAT_CONFIG")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run(&config(&token_file));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("refused the bot token") && !stderr.contains("not-the-right"), "{stderr}");
    let (code, stderr) = run(&config(Path::new("")));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("discord.token_file"), "{stderr}");
}

#[test]
fn the_bot_identifies_registers_its_commands_and_resumes_a_dropped_session() {
    let bot = start();
    let commands = bot.fake.commands();
    let names: Vec<&str> = commands.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["backup", "backups", "restore"]);
    assert!(bot.fake.requests().iter().all(|r| r.authorized || r.path.starts_with("/interactions")));

    bot.fake.drop_gateway();
    // Dispatched while the connection is down: delivered after the resume.
    let token = bot.fake.slash(ADMIN, "backup", "status", &[]);
    bot.reply_containing(&token, "Status");
    assert!(bot.fake.replies(&token)[0].ephemeral(), "only the admin sees it");
    let (identifies, resumes, _, connections) = bot.fake.gateway_counts();
    assert_eq!((identifies, resumes), (1, 1), "one session, resumed");
    assert_eq!(connections, 2);

    // SIGTERM (systemd's stop): a clean exit.
    let mut bot = bot;
    let killed = Command::new("kill").arg("-TERM").arg(bot.child.id().to_string()).status().unwrap();
    assert!(killed.success());
    let end = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = bot.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "did not stop within 15 s of SIGTERM:\n{}", bot.stderr());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{}", bot.stderr());
    assert!(bot.stderr().contains("Discord bot stopped"));
}

#[test]
fn an_admins_backup_now_makes_a_verified_archive_and_replies_with_its_name() {
    let bot = start();
    let token = bot.fake.slash(ADMIN, "backup", "now", &[]);
    let done = bot.reply_containing(&token, "Backup done");
    let replies = bot.fake.replies(&token);
    assert_eq!((replies[0].how, replies[0].kind), ("callback", 5), "deferred first: {replies:#?}");
    assert!(replies[0].ephemeral());
    let archives = bot.archives();
    assert_eq!(archives.len(), 1, "{archives:?}");
    assert!(done.content().contains(&archives[0]), "{}", done.content());
    assert!(done.content().contains("Databases: 2 of 2"), "{}", done.content());
    assert!(done.content().contains("Verified: yes"), "{}", done.content());

    let token = bot.fake.slash(ADMIN, "backups", "list", &[]);
    let list = bot.reply_containing(&token, &archives[0]);
    assert!(list.content().contains("verified"), "{}", list.content());
    assert!(bot.fake.replies(&token)[0].ephemeral());
}

#[test]
fn a_backup_that_outlives_its_interaction_token_reports_by_dm() {
    let bot = start();
    // Discord no longer takes this interaction's answer or edits (as after
    // 15 minutes): the result still reaches the admin, by DM.
    bot.fake.age_interactions(Duration::from_secs(16 * 60));
    let token = bot.fake.slash(ADMIN, "backup", "now", &[]);
    bot.wait("the DM", || bot.fake.dms().iter().any(|d| d.recipient == ADMIN && d.content.contains("Backup done")));
    assert!(bot.fake.replies(&token).is_empty());
    assert_eq!(bot.archives().len(), 1);
}

#[test]
fn strangers_are_refused_without_data_and_admins_may_not_restore() {
    let bot = start();
    // A global 429 and a 502 on the way: the refusal still arrives.
    bot.fake.fail_next([BotFault::RateLimited { retry_after: 0.2, global: true }, BotFault::Server(502)]);
    for (command, sub) in [("backup", "now"), ("backups", "list"), ("backup", "status")] {
        let token = bot.fake.slash(STRANGER, command, sub, &[]);
        let r = bot.reply_containing(&token, "not allowed");
        assert!(r.ephemeral());
        assert_eq!(bot.fake.replies(&token).len(), 1, "a refusal and nothing else");
    }
    let token = bot.fake.slash(STRANGER, "restore", "", &[("archive", "latest")]);
    bot.reply_containing(&token, "not allowed");
    let token = bot.fake.slash(ADMIN, "restore", "", &[("archive", "latest")]);
    bot.reply_containing(&token, "Only the owner");
    let token = bot.fake.press(STRANGER, "restore:yes:1:x.zip");
    bot.reply_containing(&token, "not allowed");
    assert!(bot.archives().is_empty(), "a stranger made nothing happen");
}

#[test]
fn the_owners_restore_shows_the_plan_and_confirm_restores_but_an_expired_confirm_does_nothing() {
    let bot = start();
    let archive = bot.backup_now();
    let name = bot.archives().pop().unwrap();
    assert!(archive.content().contains(&name));
    make_wal_db(&bot.db("users.db"), 25);
    assert_eq!(rows_in_t(&bot.db("users.db")), 75);

    // Asked, then confirmed after the confirmation expired: nothing happens.
    let token = bot.fake.slash(OWNER, "restore", "", &[("archive", "latest")]);
    let plan = bot.reply_containing(&token, "Confirm restore");
    assert!(plan.content().contains(&name) && plan.content().contains("REPLACE"), "{}", plan.content());
    let confirm = plan.buttons().into_iter().find(|b| b.starts_with("restore:yes:")).unwrap();
    let late = bot.fake.press_after(OWNER, &confirm, Duration::from_secs(61));
    bot.reply_containing(&late, "expired");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rows_in_t(&bot.db("users.db")), 75, "an expired confirmation restored nothing");

    // Asked again, confirmed in time: restored, with a safety snapshot.
    let token = bot.fake.slash(OWNER, "restore", "", &[("archive", "latest"), ("database", "users.db")]);
    let plan = bot.reply_containing(&token, "Confirm restore");
    assert!(!plan.content().contains("prices.db"), "only the database asked for: {}", plan.content());
    let confirm = plan.buttons().into_iter().find(|b| b.starts_with("restore:yes:")).unwrap();
    let press = bot.fake.press(OWNER, &confirm);
    let done = bot.reply_containing(&press, "Restore finished");
    assert!(done.content().contains("Safety snapshot"), "{}", done.content());
    assert_eq!(rows_in_t(&bot.db("users.db")), 50);

    // The same button again: used up.
    let again = bot.fake.press(OWNER, &confirm);
    bot.reply_containing(&again, "no longer valid");
}
