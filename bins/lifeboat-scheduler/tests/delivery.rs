//! `lifeboat-scheduler --once` against the fake Telegram server: the whole
//! cycle delivers to the admins, and problems reach them as alerts.

mod common;

use std::time::Duration;

use common::*;
use lifeboat_core::state::OutboxStatus as DeliveryStatus;
use lifeboat_testkit::fake_telegram::{FakeTelegram, Fault};

const TOKEN: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh";
const SECRET_PART: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn sandbox(fake: &FakeTelegram, admins: &[i64]) -> Sandbox {
    let telegram = format!(
        "[telegram]\ntoken = {TOKEN:?}\napi_url = {:?}\nadmin_ids = {admins:?}\n\n[retry]\nattempts = 2\ninitial_delay_secs = 0\nmax_delay_secs = 1\n",
        fake.api_url()
    );
    Sandbox::new("0 * * * *", &telegram)
}

fn run_once(sb: &Sandbox) -> (i32, String, String) {
    let out = sb.scheduler().arg("--once").output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!stdout.contains(SECRET_PART) && !stderr.contains(SECRET_PART), "the token leaked:\n{stdout}\n{stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn texts(fake: &FakeTelegram, chat: i64) -> Vec<String> {
    fake.sent_messages(chat).into_iter().filter_map(|m| m.text).collect()
}

#[test]
fn once_delivers_the_archive_to_every_admin_and_exits_0() {
    let fake = FakeTelegram::start_blocking();
    let sb = sandbox(&fake, &[111, 222]);
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("delivered to 2 of 2 admins"), "{stdout}");
    let entries = sb.archive_folder_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let on_disk = std::fs::read(sb.output_dir().join(&entries[0])).unwrap();
    // Uploaded once, then re-sent by file_id; the bytes are the archive's.
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "{:?}", uploads.iter().map(|u| (&u.file_name, u.chat_id)).collect::<Vec<_>>());
    assert_eq!(uploads[0].file_name, entries[0]);
    assert!(uploads[0].bytes == on_disk, "uploaded bytes differ from the archive");
    for chat in [111, 222] {
        let docs = fake.documents(chat);
        assert_eq!(docs.len(), 1, "chat {chat}");
        assert_eq!(docs[0].file_name.as_deref(), Some(entries[0].as_str()));
        assert!(texts(&fake, chat).is_empty(), "no alert expected: {:?}", texts(&fake, chat));
    }
}

#[test]
fn skipped_database_alerts_the_admins_and_exits_3() {
    let fake = FakeTelegram::start_blocking();
    let sb = sandbox(&fake, &[111]);
    std::fs::write(sb.source_dir().join("analytics.db"), b"not a database at all, just some text").unwrap();
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("Admins were alerted"), "{stdout}");
    // The partial archive still arrives, and the alert says what and why.
    assert_eq!(fake.documents(111).len(), 1);
    let alerts = texts(&fake, 111);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("partial") && alerts[0].contains("analytics.db"), "{}", alerts[0]);
}

#[test]
fn an_admin_who_never_started_the_bot_is_reported_and_the_others_alerted() {
    let fake = FakeTelegram::start_blocking();
    fake.fail_chat(222, Fault::NeverStarted);
    let sb = sandbox(&fake, &[111, 222]);
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("delivered to 1 of 2 admins") && stdout.contains("222 failed"), "{stdout}");
    assert_eq!(fake.documents(111).len(), 1);
    let alerts = texts(&fake, 111);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("222") && alerts[0].contains("press Start"), "{}", alerts[0]);
}

#[test]
fn all_databases_missing_is_a_failed_cycle_with_an_alert() {
    let fake = FakeTelegram::start_blocking();
    let sb = sandbox(&fake, &[111]);
    for db in &sb.databases {
        std::fs::remove_file(sb.source_dir().join(db)).unwrap();
        let _ = std::fs::remove_file(sb.source_dir().join(format!("{db}-wal")));
        let _ = std::fs::remove_file(sb.source_dir().join(format!("{db}-shm")));
    }
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("Backup failed"), "{stdout}");
    assert!(fake.documents(111).is_empty());
    let alerts = texts(&fake, 111);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("failed") && alerts[0].contains("user_requests.db"), "{}", alerts[0]);
}

#[test]
fn sigterm_during_delivery_is_a_clean_stop_and_the_outbox_keeps_the_rest() {
    let fake = FakeTelegram::start_blocking();
    let telegram = format!(
        "[telegram]\ntoken = {TOKEN:?}\napi_url = {:?}\nadmin_ids = [111]\n\n[retry]\nattempts = 3\ninitial_delay_secs = 120\nmax_delay_secs = 120\n",
        fake.api_url()
    );
    let sb = Sandbox::new("0 * * * *", &telegram);
    // The first upload loses its connection: the stop comes during the backoff.
    fake.fail_next_method("sendDocument", 1, Fault::DropConnection);
    let mut once = {
        let mut cmd = sb.scheduler();
        cmd.arg("--once");
        spawn(cmd)
    };
    wait_for(Duration::from_secs(30), || (!fake.calls("sendDocument").is_empty()).then_some(()))
        .expect("delivery started");
    signal(&once, "TERM");
    let (code, stderr, took) = wait_exit(&mut once, Duration::from_secs(30));
    assert_eq!(code, 0, "a clean stop, as documented: {stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?} to stop");
    let archive = &sb.archive_folder_entries()[0];
    let rows = sb.state().deliveries_for(archive).unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.status == DeliveryStatus::Pending), "still owed: {rows:?}");

    // The next cycle delivers (its own, newer archive supersedes the old one).
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(fake.documents(111).len(), 1, "the newest archive, once");
}

#[test]
fn a_table_emptied_between_backups_alerts_loudly_and_pins_the_archive_before_it() {
    let fake = FakeTelegram::start_blocking();
    let config = format!(
        "[telegram]\ntoken = {TOKEN:?}\napi_url = {:?}\nadmin_ids = [111]\n\n[retention]\nmax_count = 1\n",
        fake.api_url()
    );
    let sb = Sandbox::new("0 * * * *", &config);
    let (code, stdout, _) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}");
    let before = sb.archive_folder_entries();
    assert_eq!(before.len(), 1);

    // A bug deletes 80 % of the payments.
    let db = rusqlite::Connection::open(sb.source_dir().join("user_requests.db")).unwrap();
    let total: i64 = db.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
    db.execute("DELETE FROM payments WHERE id % 5 != 0", []).unwrap();
    let left: i64 = db.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
    drop(db);
    std::thread::sleep(Duration::from_millis(1100)); // a new archive name

    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "the archive is still written: {stdout}\n{stderr}");
    assert!(stdout.contains("SHRANK user_requests.db: table payments"), "{stdout}");
    let alert = fake
        .sent_messages(111)
        .into_iter()
        .find(|m| m.text.as_deref().unwrap_or("").contains("shrank sharply"))
        .expect("a shrink alert");
    let text = alert.text.clone().unwrap();
    assert!(text.contains(&format!("table payments {total} → {left} rows")), "{text}");
    assert!(text.contains(&before[0]), "names the pinned archive: {text}");
    let diff = format!("`lifeboat diff {} live --only user_requests.db`", before[0]);
    assert!(text.contains(&diff), "offers the diff that shows what was removed: {text}");
    let markup = alert.reply_markup.expect("an Acknowledge button");
    let data = markup["inline_keyboard"][0][0]["callback_data"].as_str().unwrap().to_string();
    assert_eq!(data, lifeboat_telegram::ack::callback_data(&before[0]).unwrap());

    // max_count = 1, yet the archive from before the shrink survives.
    let now = sb.archive_folder_entries();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.contains(&before[0]));
    let pins = sb.state().pins().unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(pins[0].archive, before[0]);

    // Once unpinned, retention takes it on the next cycle.
    assert!(sb.state().unpin(&before[0]).unwrap());
    std::thread::sleep(Duration::from_millis(1100));
    let (code, stdout, _) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}");
    assert!(!sb.archive_folder_entries().contains(&before[0]));
}

#[test]
fn an_unchanged_cycle_writes_and_sends_nothing() {
    let fake = FakeTelegram::start_blocking();
    let sb = sandbox(&fake, &[111, 222]);
    let (code, stdout, _) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}");
    std::thread::sleep(Duration::from_millis(1100));
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "unchanged is success: {stdout}\n{stderr}");
    assert!(stdout.contains("Unchanged: no database changed since"), "{stdout}");
    assert_eq!(sb.archive_folder_entries().len(), 1, "one archive");
    assert_eq!(fake.uploads().len(), 1, "one upload");
    for chat in [111, 222] {
        assert_eq!(fake.documents(chat).len(), 1, "one document for {chat}");
        assert!(texts(&fake, chat).is_empty(), "no alert: {:?}", texts(&fake, chat));
    }
    let runs = runs(&sb.state_path());
    assert_eq!(runs[0].status, lifeboat_core::state::RunStatus::Unchanged, "{runs:?}");
    assert_eq!(runs[0].end.archive.as_deref(), Some(sb.archive_folder_entries()[0].as_str()));

    // A write still in the -wal file, never checkpointed, is a change.
    sb.write_a_row(false);
    assert!(std::fs::metadata(sb.source_dir().join(format!("{}-wal", sb.databases[0]))).unwrap().len() > 0);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, stdout, _) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("Backup ok"), "{stdout}");
    assert_eq!(sb.archive_folder_entries().len(), 2);
    assert_eq!(fake.documents(111).len(), 2);
    // The database that did not change is in the new archive too: it waited,
    // hashed but not compressed, until the other one turned out changed.
    let newest = lifeboat_core::catalog::list(&sb.output_dir()).unwrap().remove(0);
    let m = lifeboat_core::verify::read_manifest(&newest, &lifeboat_core::seal::Keys::none()).unwrap();
    let names: Vec<&str> = m.databases.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, sb.databases.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Sealed with age and no private key on the server: the cycle still knows
/// what the last archive holds (the state keeps its manifest), so an
/// unchanged hour sends nothing and the caption lists the databases.
#[test]
fn an_age_sealed_cycle_without_a_key_still_skips_what_did_not_change() {
    let fake = FakeTelegram::start_blocking();
    let sb = sandbox(&fake, &[111]);
    let key = sb.output_dir().with_file_name("key.txt");
    let made = std::process::Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen is installed");
    assert!(made.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string();
    let extra = format!(
        "[telegram]\ntoken = {TOKEN:?}\napi_url = {:?}\nadmin_ids = [111]\n[encryption]\nmode = \"age\"\nrecipients = [{public:?}]\n",
        fake.api_url()
    );
    sb.write_config("0 * * * *", &extra);
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let entries = sb.archive_folder_entries();
    assert!(entries.len() == 1 && entries[0].ends_with(".zip.age"), "{entries:?}");
    let caption = fake.documents(111)[0].caption.clone().unwrap_or_default();
    assert!(caption.contains(&sb.databases[0]) && caption.contains("age -d"), "{caption}");
    std::thread::sleep(Duration::from_millis(1100));
    let (code, stdout, _) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("Unchanged"), "{stdout}");
    assert_eq!(sb.archive_folder_entries().len(), 1);
    assert_eq!(fake.documents(111).len(), 1);
}

/// With full_cron set, the cycle after a full archive sends a differential:
/// a small archive whose caption names the base it needs.
#[test]
fn between_full_times_the_cycle_delivers_a_differential_naming_its_base() {
    let fake = FakeTelegram::start_blocking();
    let sb = sandbox(&fake, &[111]);
    std::fs::write(
        sb.config_path(),
        // Full archives on 1 January only: never due between these two runs.
        std::fs::read_to_string(sb.config_path())
            .unwrap()
            .replace("[schedule]\n", "[schedule]\nfull_cron = \"0 0 1 1 *\"\n"),
    )
    .unwrap();
    assert!(std::fs::read_to_string(sb.config_path()).unwrap().contains("full_cron"));
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let full = sb.archive_folder_entries();
    assert!(full.len() == 1 && !full[0].contains(".diff."), "the first archive is full: {full:?}");
    sb.write_a_row(true);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let entries = sb.archive_folder_entries();
    let diff =
        entries.iter().find(|e| e.ends_with(".diff.zip")).unwrap_or_else(|| panic!("no differential: {entries:?}"));
    let docs = fake.documents(111);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].file_name.as_deref(), Some(diff.as_str()));
    let caption = docs[1].caption.clone().unwrap_or_default();
    assert!(caption.contains(&format!("needs its base {}", full[0])), "{caption}");
    let sizes: Vec<u64> =
        [&full[0], diff].iter().map(|n| std::fs::metadata(sb.output_dir().join(n)).unwrap().len()).collect();
    assert!(sizes[1] < sizes[0], "the differential is smaller: {sizes:?}");
}

/// The names of the documents `chat` received, in order.
fn received(fake: &FakeTelegram, chat: i64) -> Vec<String> {
    fake.documents(chat).into_iter().filter_map(|d| d.file_name).collect()
}

/// Every differential a chat received came after its base (the only full
/// archive on disk), whatever failed on the way.
fn assert_every_chat_has_the_base_first(fake: &FakeTelegram, sb: &Sandbox, chats: &[i64]) {
    let entries = sb.archive_folder_entries();
    let fulls: Vec<&String> = entries.iter().filter(|e| !e.contains(".diff.")).collect();
    assert_eq!(fulls.len(), 1, "one full archive expected: {entries:?}");
    for &chat in chats {
        let docs = received(fake, chat);
        let Some(first_diff) = docs.iter().position(|d| d.contains(".diff.")) else { continue };
        assert!(
            docs[..first_diff].contains(fulls[0]),
            "chat {chat} holds a differential without its base {}: {docs:?}",
            fulls[0]
        );
    }
}

/// A 502 on a full archive's upload to one admin, then a differential the
/// next cycle, then an admin added to the configuration: every chat that
/// receives a differential has received its base first.
#[test]
fn a_failed_full_upload_never_leaves_a_chat_with_a_differential_and_no_base() {
    let fake = FakeTelegram::start_blocking();
    let sb = sandbox(&fake, &[111, 222]);
    let text = std::fs::read_to_string(sb.config_path()).unwrap();
    std::fs::write(sb.config_path(), text.replace("[schedule]\n", "[schedule]\nfull_cron = \"0 0 1 1 *\"\n")).unwrap();
    fake.fail_chat(111, Fault::ServerError { status: 502 });
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 3, "the full archive is still owed to 111: {stdout}\n{stderr}");
    assert!(received(&fake, 111).is_empty());
    fake.clear_chat(111);

    sb.write_a_row(true);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(sb.archive_folder_entries().iter().any(|e| e.contains(".diff.")), "no differential was made");
    assert_eq!(received(&fake, 111).len(), 2, "111 gets the base, then the differential");
    assert_every_chat_has_the_base_first(&fake, &sb, &[111, 222]);

    // An admin added later has no outbox row for the base.
    let text = std::fs::read_to_string(sb.config_path()).unwrap();
    std::fs::write(sb.config_path(), text.replace("admin_ids = [111, 222]", "admin_ids = [111, 222, 333]")).unwrap();
    sb.write_a_row(true);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, stdout, stderr) = run_once(&sb);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(received(&fake, 333).len(), 2, "333 gets the base, then the newest differential");
    assert_every_chat_has_the_base_first(&fake, &sb, &[111, 222, 333]);
}
