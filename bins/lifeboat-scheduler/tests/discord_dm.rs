//! `lifeboat-scheduler --once` with the Discord bot configured: its owner
//! gets one direct message per scheduled cycle, a note when it went well and
//! the alert when it did not.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use lifeboat_testkit::BotFault;
use lifeboat_testkit::fake_discord_bot::{self, FakeDiscordBot};

const OWNER: u64 = 1_187_000_000_000_000_111;
const ADMIN: u64 = 1_187_000_000_000_000_222;

fn sandbox(fake: &FakeDiscordBot) -> Sandbox {
    let sb = Sandbox::new("0 * * * *", "");
    let token = sb.dir.path().join("discord.token");
    std::fs::write(&token, fake_discord_bot::TOKEN).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let discord = format!(
        "[discord]\ntoken_file = {:?}\napi_url = {:?}\nowner_id = {OWNER}\nadmin_ids = [{ADMIN}]\n\n\
         [retry]\nattempts = 2\ninitial_delay_secs = 0\nmax_delay_secs = 1\n",
        token.display().to_string(),
        fake.api_url()
    );
    sb.write_config("0 * * * *", &discord);
    sb
}

#[test]
fn a_scheduled_cycle_dms_the_owner_once_with_files_size_and_backup_id() {
    let fake = FakeDiscordBot::start();
    let sb = sandbox(&fake);
    // A 502 on the way: retried, still one message.
    fake.fail_next([BotFault::Server(502)]);
    let out = sb.scheduler().arg("--once").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("fake-bot-signature"), "the token leaked: {stderr}");
    let dms = fake.dms();
    assert_eq!(dms.len(), 1, "{dms:#?}\n{stderr}");
    assert_eq!(dms[0].recipient, OWNER);
    let archive = sb.archive_folder_entries().into_iter().find(|n| n.ends_with(".zip")).unwrap();
    for part in ["Backup created", "Files: 2 database(s)", "Size: ", &format!("Backup ID: {archive}")] {
        assert!(dms[0].content.contains(part), "{part}: {}", dms[0].content);
    }
}

#[test]
fn a_failed_cycle_reaches_the_owner_as_the_alert() {
    let fake = FakeDiscordBot::start();
    let sb = sandbox(&fake);
    for db in &sb.databases {
        std::fs::remove_file(sb.source_dir().join(db)).unwrap();
    }
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let dms = fake.dms();
    assert_eq!(dms.len(), 1, "{dms:#?}");
    assert!(!dms[0].content.contains("Backup created"), "{}", dms[0].content);
}
