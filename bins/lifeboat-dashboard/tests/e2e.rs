//! The real binary against the fake Telegram server: menu, access control,
//! edits in place, Backup now, and the owner's two-step restore.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lifeboat_core::state::PinOrigin;
use lifeboat_dashboard::callback::{self, Action, ArchiveStamp};
use lifeboat_dashboard::text;
use lifeboat_engine::Config;
use lifeboat_testkit::sqlite::{make_wal_db, rows_in_t};
use lifeboat_testkit::{FakeTelegram, daemon};
use serde_json::Value;

const TOKEN: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZsecretTOKEN";
const OWNER: i64 = 111;
const ADMIN: i64 = 222;
const STRANGER: i64 = 999;
const DBS: [&str; 2] = ["users.db", "prices.db"];

struct Dash {
    child: Child,
    fake: FakeTelegram,
    dir: tempfile::TempDir,
    cfg: Config,
}

impl Drop for Dash {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Dash {
    start_with("", |_| {})
}

/// The dashboard with `extra` appended to its config, after `before` ran on
/// that config (to seed the state database).
fn start_with(extra: &str, before: impl FnOnce(&Config)) -> Dash {
    let fake = FakeTelegram::start_blocking();
    fake.require_token(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for db in DBS {
        make_wal_db(&data.join(db), 50);
    }
    let toml = format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"users.db\", \"prices.db\"]\n\
         [telegram]\ntoken = {TOKEN:?}\napi_url = {:?}\nadmin_ids = [{OWNER}, {ADMIN}]\nowner_id = {OWNER}\n\
         [retry]\nattempts = 2\ninitial_delay_secs = 0\nmax_delay_secs = 1\n{extra}",
        data.display().to_string(),
        dir.path().join("backups").display().to_string(),
        fake.api_url()
    );
    let cfg = Config::from_toml(&toml).unwrap();
    before(&cfg);
    let child = daemon::spawn(env!("CARGO_BIN_EXE_lifeboat-dashboard"), dir.path(), &toml);
    let d = Dash { child, fake, dir, cfg };
    // Updates wait in the fake's queue; getMe means the dispatcher is starting.
    wait("getMe", || !d.fake.calls("getMe").is_empty());
    d
}

impl Dash {
    fn stderr(&self) -> String {
        daemon::stderr(self.dir.path())
    }

    /// `/admin` from `user`; returns the menu's message id.
    fn open_menu(&self, user: i64) -> i64 {
        let before = self.fake.sent_messages(user).len();
        self.fake.send_text(user, "/admin");
        wait("the menu", || self.fake.sent_messages(user).len() > before);
        let menu = self.fake.sent_messages(user).last().unwrap().clone();
        assert_eq!(buttons(menu.reply_markup.as_ref()).len(), 5, "{menu:?}");
        menu.message_id
    }

    /// Presses and waits for the answer; returns (answer text, alert).
    fn press(&self, user: i64, message_id: i64, data: &str) -> (Option<String>, bool) {
        let id = self.fake.press_button(user, message_id, data);
        wait("the callback answer", || self.fake.callback_answers().iter().any(|a| a.callback_query_id == id));
        let a = self.fake.callback_answers().into_iter().find(|a| a.callback_query_id == id).unwrap();
        (a.text, a.show_alert)
    }

    fn text_of(&self, chat: i64, message_id: i64) -> String {
        self.fake.message(chat, message_id).and_then(|m| m.text).unwrap_or_default()
    }

    fn keyboard_of(&self, chat: i64, message_id: i64) -> Vec<Action> {
        let m = self.fake.message(chat, message_id).unwrap();
        buttons(m.reply_markup.as_ref()).iter().map(|d| callback::parse(d).unwrap()).collect()
    }

    fn sigterm(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "did not stop within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn buttons(markup: Option<&Value>) -> Vec<String> {
    let Some(rows) = markup.and_then(|m| m["inline_keyboard"].as_array()) else { return Vec::new() };
    rows.iter()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .map(|b| b["callback_data"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn backup(cfg: &Config) -> String {
    let st = cfg.open_state().unwrap();
    let out = lifeboat_engine::backup::run(
        cfg,
        &st,
        lifeboat_engine::backup::BackupOptions {
            trigger: lifeboat_core::Trigger::Manual,
            only: None,
            progress: None,
            cancel: Default::default(),
            now: chrono::Utc::now(),
        },
    )
    .unwrap();
    out.archive.name
}

#[test]
fn admin_menu_every_screen_edits_in_place_and_sigterm_stops() {
    let mut d = start();
    // The menu is set in the admins' chats only; strangers see no commands.
    for id in [OWNER, ADMIN] {
        let cmds = d.fake.commands_for(id).expect("setMyCommands for this chat");
        let names: Vec<&str> = cmds.as_array().unwrap().iter().map(|c| c["command"].as_str().unwrap()).collect();
        assert_eq!(names, ["admin", "start"]);
    }
    assert_eq!(d.fake.commands(), None, "nothing in the default scope");

    let menu = d.open_menu(ADMIN);
    let screens = [
        (Action::Status, "Status"),
        (Action::Logs { offset: 0 }, "Logs"),
        (Action::Health, "Health"),
        (Action::Backups, "Backups"),
        (Action::Menu, "Choose"),
    ];
    for (i, (action, title)) in screens.into_iter().enumerate() {
        let (answer, alert) = d.press(ADMIN, menu, &action.encode());
        assert!(!alert, "{answer:?}");
        assert_eq!(d.fake.edits().len(), i + 1, "one edit per press");
        let edit = d.fake.edits().last().unwrap().clone();
        assert_eq!((edit.chat_id, edit.message_id), (ADMIN, menu), "edited in place");
        assert!(d.text_of(ADMIN, menu).contains(title), "{title}: {}", d.text_of(ADMIN, menu));
        if action != Action::Menu {
            assert!(d.keyboard_of(ADMIN, menu).contains(&Action::Menu), "a Back button on {title}");
        }
    }
    // Status says Unknown with no scheduler, and shows the 5 menu buttons' worth of screens without new messages.
    assert_eq!(d.fake.sent_messages(ADMIN).len(), 1, "no new messages, only edits");
    d.press(ADMIN, menu, &Action::Status.encode());
    assert!(d.text_of(ADMIN, menu).contains("Unknown"));

    // Logs page on: many long events do not fit one message.
    let st = d.cfg.open_state().unwrap();
    for i in 0..80 {
        let msg = format!("event {i} {}", "y".repeat(200));
        st.log_event(lifeboat_core::state::Level::Info, "test", &msg, chrono::Utc::now()).unwrap();
    }
    d.press(ADMIN, menu, &Action::Logs { offset: 0 }.encode());
    let first = d.text_of(ADMIN, menu);
    assert!(first.contains("event 79 ") && text::tg_len(&first) <= text::MAX_MESSAGE, "{first}");
    let Some(next) =
        d.keyboard_of(ADMIN, menu).into_iter().find(|a| matches!(a, Action::Logs { offset } if *offset > 0))
    else {
        panic!("no next page button: {:?}", d.keyboard_of(ADMIN, menu))
    };
    d.press(ADMIN, menu, &next.encode());
    let second = d.text_of(ADMIN, menu);
    assert!(!second.contains("event 79 ") && second.contains("event "), "{second}");
    assert!(d.keyboard_of(ADMIN, menu).contains(&Action::Logs { offset: 0 }), "a button back to the newest");

    // /start works the same.
    d.fake.send_text(OWNER, "/start");
    wait("the owner's menu", || d.fake.sent_messages(OWNER).len() == 1);

    let status = d.sigterm();
    assert!(status.success(), "{status:?}\n{}", d.stderr());
    let log = d.stderr();
    assert!(!log.contains("secretTOKEN"), "the token reached the logs:\n{log}");
}

#[test]
fn strangers_and_forged_buttons_get_a_refusal_and_no_data() {
    let d = start();
    let menu = d.open_menu(ADMIN);

    d.fake.send_text(STRANGER, "/admin");
    wait("the refusal", || !d.fake.sent_messages(STRANGER).is_empty());
    let refusal = d.fake.sent_messages(STRANGER)[0].clone();
    assert_eq!(refusal.text.as_deref(), Some(text::REFUSAL));
    assert!(buttons(refusal.reply_markup.as_ref()).is_empty(), "no keyboard for strangers");

    let stamp = ArchiveStamp::from_archive_name("database_backup_20261122_031500.zip").unwrap();
    let forged = [
        Action::Status.encode(),
        Action::BackupNow.encode(),
        Action::RestoreYes(stamp, 1).encode(),
        "garbage".to_string(),
    ];
    for (i, data) in forged.iter().enumerate() {
        let (answer, alert) = d.press(STRANGER + 1 + i as i64, menu, data);
        assert_eq!(answer.as_deref(), Some(text::REFUSAL_ALERT), "{data}");
        assert!(alert, "{data}");
    }
    // A stranger writing or pressing in a loop hears once, and fills nothing.
    for _ in 0..20 {
        d.fake.send_text(STRANGER, "/admin");
    }
    let (answer, _) = d.press(STRANGER, menu, &forged[0]);
    assert_eq!(answer, None, "answered (no spinner), but silently");
    wait("the flood to be read", || d.fake.pending_updates() == 0);
    assert!(d.fake.edits().is_empty(), "nothing edited for a stranger");
    assert!(d.fake.uploads().is_empty());
    assert_eq!(d.fake.sent_messages(STRANGER).len(), 1, "one refusal, nothing else");
    assert!(!Path::new(&d.cfg.backup.output_dir).join("database_backup").exists());

    // Each refusal is on record with the user id; the flood is not.
    let st = d.cfg.open_state().unwrap();
    let refused = st.events(50, 0).unwrap().into_iter().filter(|e| e.message.contains("refused")).collect::<Vec<_>>();
    assert_eq!(refused.len(), 5, "{refused:?}");
    for id in STRANGER..STRANGER + 5 {
        assert!(refused.iter().any(|e| e.message.contains(&id.to_string())), "{id}: {refused:?}");
    }

    // An admin's out-of-date or forged data is answered, not acted on.
    let (answer, _) = d.press(ADMIN, menu, "v0:s");
    assert_eq!(answer.as_deref(), Some(text::TOAST_UNKNOWN_BUTTON));
    assert!(d.fake.edits().is_empty());
}

#[test]
fn the_dashboard_stays_out_of_group_chats() {
    let d = start();
    const GROUP: i64 = -100_123;
    d.fake.send_text_in(ADMIN, GROUP, "/admin");
    wait("the one-line answer", || !d.fake.sent_messages(GROUP).is_empty());
    d.fake.send_text_in(STRANGER, GROUP, "/admin");
    d.fake.send_text_in(ADMIN, GROUP, "hello everyone");
    // Pressing an old menu button inside the group shows nothing there either.
    let id = d.fake.press_button_in(ADMIN, GROUP, 1, &Action::Status.encode());
    wait("the press answered", || d.fake.callback_answers().iter().any(|a| a.callback_query_id == id));
    // A private /admin after all of that is handled, so the group updates were.
    d.open_menu(ADMIN);
    let in_group = d.fake.sent_messages(GROUP);
    assert_eq!(in_group.len(), 1, "one line, once: {in_group:?}");
    assert_eq!(in_group[0].text.as_deref(), Some(text::PRIVATE_ONLY));
    assert!(buttons(in_group[0].reply_markup.as_ref()).is_empty(), "no menu in the group");
    assert!(d.fake.edits().iter().all(|e| e.chat_id != GROUP), "no screen edited into the group");
    let answer = d.fake.callback_answers().into_iter().find(|a| a.callback_query_id == id).unwrap();
    assert_eq!((answer.text.as_deref(), answer.show_alert), (Some(text::PRIVATE_ONLY), true));
}

#[test]
fn owner_restores_in_two_steps_and_other_admins_cannot() {
    let d = start();
    let archive = backup(&d.cfg);
    let stamp = ArchiveStamp::from_archive_name(&archive).unwrap();
    let live: PathBuf = d.cfg.backup.source_dir.join("users.db");
    make_wal_db(&live, 25);
    assert_eq!(rows_in_t(&live), 75);

    // A plain admin sees no Restore button, and forging one does nothing.
    let admin_menu = d.open_menu(ADMIN);
    d.press(ADMIN, admin_menu, &Action::Backups.encode());
    let kb = d.keyboard_of(ADMIN, admin_menu);
    assert!(kb.contains(&Action::Resend(stamp)), "{kb:?}");
    assert!(!kb.iter().any(|a| matches!(a, Action::RestoreAsk(_))), "{kb:?}");
    let edits = d.fake.edits().len();
    let (answer, alert) = d.press(ADMIN, admin_menu, &Action::RestoreAsk(stamp).encode());
    assert_eq!((answer.as_deref(), alert), (Some(text::ALERT_OWNER_ONLY), true));
    assert_eq!(d.fake.edits().len(), edits, "no edit for a refused restore");

    // The owner asks: the confirmation says what will be replaced.
    let menu = d.open_menu(OWNER);
    d.press(OWNER, menu, &Action::Backups.encode());
    assert!(d.keyboard_of(OWNER, menu).contains(&Action::RestoreAsk(stamp)));
    d.press(OWNER, menu, &Action::RestoreAsk(stamp).encode());
    let confirm = d.text_of(OWNER, menu);
    assert!(confirm.contains("REPLACE") && confirm.contains("users.db") && confirm.contains(&archive), "{confirm}");
    let Some(Action::RestoreYes(_, nonce)) = d.keyboard_of(OWNER, menu).into_iter().next() else {
        panic!("no Yes button: {:?}", d.keyboard_of(OWNER, menu))
    };

    // The other admin replays the owner's exact Yes data: refused, and the owner's confirmation survives.
    let (answer, alert) = d.press(ADMIN, admin_menu, &Action::RestoreYes(stamp, nonce).encode());
    assert_eq!((answer.as_deref(), alert), (Some(text::ALERT_OWNER_ONLY), true));
    assert_eq!(rows_in_t(&live), 75, "nothing restored");

    // A guessed nonce from the owner's client is refused and uses the confirmation up.
    let (answer, alert) = d.press(OWNER, menu, &Action::RestoreYes(stamp, nonce ^ 1).encode());
    assert_eq!((answer.as_deref(), alert), (Some(text::ALERT_CONFIRMATION_EXPIRED), true));
    let (answer, _) = d.press(OWNER, menu, &Action::RestoreYes(stamp, nonce).encode());
    assert_eq!(answer.as_deref(), Some(text::ALERT_CONFIRMATION_EXPIRED));
    assert_eq!(rows_in_t(&live), 75, "nothing restored");

    // Asked again and confirmed: restored, and the message says so.
    d.press(OWNER, menu, &Action::RestoreAsk(stamp).encode());
    let Some(Action::RestoreYes(_, nonce)) = d.keyboard_of(OWNER, menu).into_iter().next() else { panic!() };
    let (_, alert) = d.press(OWNER, menu, &Action::RestoreYes(stamp, nonce).encode());
    assert!(!alert);
    wait("the restore result", || {
        d.text_of(OWNER, menu).contains("Restore finished") || d.text_of(OWNER, menu).contains("failed")
    });
    assert!(d.text_of(OWNER, menu).contains("Restore finished"), "{}", d.text_of(OWNER, menu));
    assert_eq!(rows_in_t(&live), 50, "the archive's rows are back");
    assert!(d.keyboard_of(OWNER, menu).contains(&Action::Menu));
}

#[test]
fn backup_now_sends_every_admin_a_verified_zip_and_a_second_press_does_not_start_another() {
    let d = start();
    let menu = d.open_menu(OWNER);
    let (_, alert) = d.press(OWNER, menu, &Action::BackupNow.encode());
    assert!(!alert);
    let (second, _) = d.press(OWNER, menu, &Action::BackupNow.encode());
    wait("the backup result", || {
        d.text_of(OWNER, menu).contains("Backup finished") || d.text_of(OWNER, menu).contains("failed")
    });
    let result = d.text_of(OWNER, menu);
    assert!(result.contains("Backup finished"), "{result}\n{}", d.stderr());
    // The second press came while the first ran (a backup takes longer than a round trip) or after it.
    assert!(second.as_deref() == Some(text::TOAST_ALREADY_RUNNING) || second.is_none(), "{second:?}");

    let started =
        d.fake.edits().into_iter().find(|e| e.text.as_deref().is_some_and(|t| t.contains("Started at"))).unwrap();
    assert_eq!(buttons(started.reply_markup.as_ref()).len(), 5, "the menu stays usable while it runs");
    assert!(d.fake.edits().iter().all(|e| e.message_id == menu), "all in place");

    let archives = lifeboat_core::catalog::list(&d.cfg.backup.output_dir).unwrap();
    assert_eq!(archives.len(), 1, "one backup, not two: {archives:?}");
    assert_eq!(d.fake.uploads().len(), 1, "uploaded once, then sent by file_id");
    for admin in [OWNER, ADMIN] {
        let docs = d.fake.documents(admin);
        assert_eq!(docs.len(), 1, "admin {admin}: {docs:?}");
        assert_eq!(docs[0].file_name.as_deref(), Some(archives[0].name.as_str()));
        let bytes = d.fake.file_bytes(docs[0].file_id.as_deref().unwrap()).unwrap();
        // What the admin got verifies on its own: CRCs, checksums, integrity.
        let got = d.dir.path().join(format!("got-{admin}"));
        std::fs::create_dir_all(&got).unwrap();
        let copy = got.join(&archives[0].name);
        std::fs::write(&copy, &bytes).unwrap();
        let stored = lifeboat_core::catalog::resolve(&got, &archives[0].name).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let opts = lifeboat_core::verify::VerifyOptions { integrity_check: true };
        let report =
            lifeboat_core::verify::verify(&stored, &lifeboat_core::seal::Keys::none(), scratch.path(), opts).unwrap();
        assert!(report.is_ok(), "admin {admin}: {report:?}");
    }
}

#[test]
fn backup_now_while_another_cycle_runs_says_who_holds_it() {
    let d = start();
    let lock = lifeboat_core::lock::CycleLock::try_acquire(&d.cfg.lock_path(), "scheduled cycle (test)").unwrap();
    let menu = d.open_menu(ADMIN);
    d.press(ADMIN, menu, &Action::BackupNow.encode());
    wait("the busy message", || d.text_of(ADMIN, menu).contains("Another backup cycle is running"));
    assert!(d.text_of(ADMIN, menu).contains("scheduled cycle (test)"), "{}", d.text_of(ADMIN, menu));
    assert!(d.keyboard_of(ADMIN, menu).contains(&Action::Menu));
    assert!(lifeboat_core::catalog::list(&d.cfg.backup.output_dir).unwrap().is_empty());

    // A confirmed restore does not wait behind the cycle either: it says so and touches nothing.
    let archive = backup(&d.cfg);
    let stamp = ArchiveStamp::from_archive_name(&archive).unwrap();
    let live = d.cfg.backup.source_dir.join("users.db");
    make_wal_db(&live, 5);
    let menu = d.open_menu(OWNER);
    d.press(OWNER, menu, &Action::RestoreAsk(stamp).encode());
    let Some(Action::RestoreYes(_, nonce)) = d.keyboard_of(OWNER, menu).into_iter().next() else { panic!() };
    d.press(OWNER, menu, &Action::RestoreYes(stamp, nonce).encode());
    wait("the restore result", || d.text_of(OWNER, menu).contains("Not restored"));
    assert!(d.text_of(OWNER, menu).contains("scheduled cycle (test)"), "{}", d.text_of(OWNER, menu));
    assert_eq!(rows_in_t(&live), 55, "the live database is untouched");
    drop(lock);
}

#[test]
fn no_token_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[telegram]\nadmin_ids = [1]\n").unwrap();
    // -c is --config, as in every Lifeboat binary.
    for flag in ["--config", "-c"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lifeboat-dashboard"))
            .arg(flag)
            .arg(&cfg)
            .env_remove("LIFEBOAT_CONFIG")
            .env_remove("LIFEBOAT__TELEGRAM__TOKEN")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no bot token") && err.contains("telegram.token"), "{flag}: {err}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_lifeboat-dashboard")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("/etc/lifeboat/lifeboat.toml"));
}

#[test]
fn pressing_an_archive_resends_it_to_whoever_pressed_by_file_id_when_known() {
    let d = start();
    let archive = backup(&d.cfg);
    let stamp = ArchiveStamp::from_archive_name(&archive).unwrap();
    let menu = d.open_menu(ADMIN);
    d.press(ADMIN, menu, &Action::Backups.encode());
    assert!(d.text_of(ADMIN, menu).contains(&archive));

    // An upload slower than Telegram's answer deadline: the press is
    // answered first, and the document follows.
    d.fake.set_answer_deadline(Duration::from_millis(700));
    d.fake.set_upload_delay(Duration::from_millis(1500));
    let (answer, alert) = d.press(ADMIN, menu, &Action::Resend(stamp).encode());
    assert_eq!((answer.as_deref(), alert), (Some(text::resending(&archive).as_str()), false));
    // Other presses are served while the upload runs.
    d.press(ADMIN, menu, &Action::Status.encode());
    wait("the re-sent document", || d.fake.documents(ADMIN).len() == 1);
    d.fake.set_upload_delay(Duration::ZERO);
    let docs = d.fake.documents(ADMIN);
    assert_eq!(docs[0].file_name.as_deref(), Some(archive.as_str()));
    assert!(!docs[0].by_file_id, "no file_id known yet: uploaded");
    let on_disk = std::fs::read(d.cfg.backup.output_dir.join(&archive)).unwrap();
    assert_eq!(d.fake.uploads()[0].bytes, on_disk);
    assert!(d.fake.documents(OWNER).is_empty(), "only to whoever pressed");

    // Once the outbox knows Telegram's file_id, no upload is needed.
    let st = d.cfg.open_state().unwrap();
    st.enqueue_deliveries(&archive, &[(archive.clone(), 1, 1)], &[OWNER], chrono::Utc::now()).unwrap();
    let row = st.deliveries_for(&archive).unwrap()[0].id;
    st.mark_delivered(row, docs[0].file_id.as_deref().unwrap(), 1, chrono::Utc::now()).unwrap();
    d.press(OWNER, d.open_menu(OWNER), &Action::Resend(stamp).encode());
    wait("the document by file_id", || d.fake.documents(OWNER).len() == 1);
    let docs = d.fake.documents(OWNER);
    assert_eq!(docs.len(), 1);
    assert!(docs[0].by_file_id, "re-sent by file_id");
    assert_eq!(d.fake.uploads().len(), 1, "no second upload");

    // A failure is told to the admin, not swallowed.
    d.fake.fail_next_method("sendDocument", 1, lifeboat_testkit::Fault::TooLarge);
    let (_, alert) = d.press(ADMIN, menu, &Action::Resend(stamp).encode());
    assert!(!alert);
    wait("the failure message", || {
        d.fake.sent_messages(ADMIN).iter().any(|m| m.text.as_deref().unwrap_or("").contains("Could not send"))
    });

    // An archive that is gone.
    std::fs::remove_file(d.cfg.backup.output_dir.join(&archive)).unwrap();
    let (answer, _) = d.press(ADMIN, menu, &Action::Resend(stamp).encode());
    assert_eq!(answer.as_deref(), Some(text::TOAST_ARCHIVE_GONE));
}

#[test]
fn health_tells_which_admin_never_started_the_bot() {
    let d = start();
    d.fake.fail_chat(ADMIN, lifeboat_testkit::Fault::NeverStarted);
    let menu = d.open_menu(OWNER);
    d.press(OWNER, menu, &Action::BackupNow.encode());
    wait("the backup result", || d.text_of(OWNER, menu).contains("Backup finished"));
    let result = d.text_of(OWNER, menu);
    assert!(result.contains("with problems") && result.contains(&ADMIN.to_string()), "{result}");

    d.press(OWNER, menu, &Action::Health.encode());
    let health = d.text_of(OWNER, menu);
    assert!(health.contains(&format!("<code>{OWNER}</code>: ✅ ok, last delivery")), "{health}");
    assert!(
        health.contains(&format!("<code>{ADMIN}</code>: ❌ never started the bot — ask them to press Start")),
        "{health}"
    );
    assert!(health.contains("<code>users.db</code>: ✅ ok"), "{health}");

    d.press(OWNER, menu, &Action::Status.encode());
    let status = d.text_of(OWNER, menu);
    assert!(status.contains("Last 24 h: 0 ok, 1 partial") || status.contains("Last 24 h: 1 ok"), "{status}");
    assert!(status.contains("2 databases") && status.contains("Archives: 1 using"), "{status}");
}

/// The dashboard with one admin and the fake's address, not started.
fn bare_dashboard(fake: &FakeTelegram) -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let toml = format!(
        "[backup]\noutput_dir = {:?}\n[telegram]\ntoken = {TOKEN:?}\napi_url = {:?}\nadmin_ids = [{ADMIN}]\n",
        dir.path().join("b").display().to_string(),
        fake.api_url()
    );
    std::fs::write(&cfg, toml).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat-dashboard"));
    c.arg("--config").arg(&cfg).env_remove("LIFEBOAT_CONFIG");
    (dir, c)
}

#[test]
fn a_rejected_token_fails_clearly_without_printing_it() {
    let fake = FakeTelegram::start_blocking();
    fake.require_token("999:SomeOtherTokenSomeOtherTokenSomeOther");
    let (_dir, mut dashboard) = bare_dashboard(&fake);
    let out = dashboard.env("RUST_LOG", "debug").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("check telegram.token") && err.contains("Invalid bot token"), "{err}");
    assert!(!err.contains("secretTOKEN"), "{err}");
}

#[test]
fn a_bot_served_elsewhere_is_refused_unless_taken_over() {
    let fake = FakeTelegram::start_blocking();
    fake.set_webhook("https://my-bot.example.org/hook");
    let (_dir, mut dashboard) = bare_dashboard(&fake);
    let out = dashboard.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a configuration problem: {err}");
    assert!(err.contains("my-bot.example.org") && err.contains("@BotFather"), "{err}");
    assert!(fake.calls("deleteWebhook").is_empty(), "the other program keeps its webhook");
    assert!(fake.calls("setMyCommands").is_empty(), "and its command menu");

    let mut child = dashboard.arg("--take-over-webhook").stderr(Stdio::null()).spawn().unwrap();
    wait("the webhook to be removed", || !fake.calls("deleteWebhook").is_empty());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn stale_backups_alert_every_admin_once() {
    // The last backup finished 2 minutes ago; stale after 1.
    let d = start_with("[monitoring]\nstale_after_minutes = 1\n", |cfg| {
        let st = cfg.open_state().unwrap();
        let at = chrono::Utc::now() - chrono::Duration::minutes(2);
        let id = st.begin_run(lifeboat_core::Trigger::Scheduled, at).unwrap();
        st.finish_run(id, lifeboat_core::state::RunStatus::Ok, &Default::default(), at).unwrap();
    });
    let stale = |chat| {
        d.fake
            .sent_messages(chat)
            .iter()
            .filter(|m| m.text.as_deref().unwrap_or("").starts_with("🔴 Lifeboat: Backups have stopped"))
            .count()
    };
    wait("the staleness alert", || stale(OWNER) == 1 && stale(ADMIN) == 1);
    let st = d.cfg.open_state().unwrap();
    let open = st.open_incidents().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    // Status shows it.
    let menu = d.open_menu(ADMIN);
    d.press(ADMIN, menu, &Action::Status.encode());
    assert!(d.text_of(ADMIN, menu).contains("Backups have stopped"), "{}", d.text_of(ADMIN, menu));
    assert_eq!((stale(OWNER), stale(ADMIN)), (1, 1), "once, not every minute");
}

#[test]
fn the_owners_acknowledge_under_a_shrink_alert_unpins_the_archive() {
    let d = start();
    let archive = backup(&d.cfg);
    let st = d.cfg.open_state().unwrap();
    let reason = "kept by a shrink alert: users.db: table t 50 → 5 rows (−90 %)";
    st.pin(&archive, reason, PinOrigin::ShrinkAlert, chrono::Utc::now()).unwrap();
    let stamp = ArchiveStamp::from_archive_name(&archive).unwrap();
    let data = lifeboat_telegram::ack::callback_data(&archive).unwrap();
    // An admin who is not the owner is refused.
    let admins = d.open_menu(ADMIN);
    let (answer, alert) = d.press(ADMIN, admins, &data);
    assert!(alert && answer.as_deref() == Some(text::unpin_owner_only(&archive).as_str()), "{answer:?}");
    assert_eq!(st.pins().unwrap().len(), 1);
    let message = d.open_menu(OWNER);
    let (answer, alert) = d.press(OWNER, message, &data);
    assert!(alert && answer.as_deref().unwrap_or("").contains("Acknowledged"), "{answer:?}");
    assert!(st.pins().unwrap().is_empty());
    assert!(d.keyboard_of(OWNER, message).is_empty(), "the button is gone");
    // Pressed again (or after `lifeboat unpin`): said, nothing else.
    let (answer, _) = d.press(OWNER, message, &Action::Unpin(stamp).encode());
    assert_eq!(answer.as_deref(), Some(text::already_unpinned(&archive).as_str()));
    // A stranger cannot.
    st.pin(&archive, "again", PinOrigin::ShrinkAlert, chrono::Utc::now()).unwrap();
    let (answer, _) = d.press(STRANGER, message, &data);
    assert_eq!(answer.as_deref(), Some(text::REFUSAL_ALERT));
    assert_eq!(st.pins().unwrap().len(), 1);
}

/// Callback data can be forged: an Acknowledge press against an archive
/// pinned by hand (no shrink alert exists) leaves the pin, whoever presses.
#[test]
fn a_forged_acknowledge_never_removes_a_pin_made_by_hand() {
    let d = start();
    let archive = backup(&d.cfg);
    let st = d.cfg.open_state().unwrap();
    st.pin(&archive, "legal hold", PinOrigin::Hand, chrono::Utc::now()).unwrap();
    let data = lifeboat_telegram::ack::callback_data(&archive).unwrap();
    for who in [ADMIN, OWNER] {
        let menu = d.open_menu(who);
        let (answer, _) = d.press(who, menu, &data);
        assert!(answer.as_deref().unwrap_or("").contains("stays pinned"), "{who}: {answer:?}");
        let pins = st.pins().unwrap();
        assert_eq!(pins.len(), 1, "{who}");
        assert_eq!((pins[0].reason.as_str(), pins[0].origin), ("legal hold", PinOrigin::Hand));
    }
}

#[test]
fn an_age_archive_is_resent_and_its_restore_points_to_the_command_line() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("key.txt");
    let made = Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen is installed");
    assert!(made.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string();
    let d = start_with(&format!("[encryption]\nmode = \"age\"\nrecipients = [{public:?}]\n"), |_| {});
    let archive = backup(&d.cfg);
    assert!(archive.ends_with(".zip.age"), "{archive}");
    let stamp = ArchiveStamp::from_archive_name(&archive).unwrap();
    let menu = d.open_menu(OWNER);
    d.press(OWNER, menu, &Action::Backups.encode());
    assert!(d.text_of(OWNER, menu).contains(&archive), "{}", d.text_of(OWNER, menu));

    // Re-sent as stored, sealed.
    d.press(OWNER, menu, &Action::Resend(stamp).encode());
    wait("the re-sent document", || d.fake.documents(OWNER).len() == 1);
    let doc = &d.fake.documents(OWNER)[0];
    assert_eq!(doc.file_name.as_deref(), Some(archive.as_str()));
    assert!(doc.caption.as_deref().unwrap_or("").contains("age -d"), "{:?}", doc.caption);
    assert_eq!(d.fake.uploads()[0].bytes, std::fs::read(d.cfg.backup.output_dir.join(&archive)).unwrap());

    // Restore: the server holds no key, and the owner is told where to go.
    d.press(OWNER, menu, &Action::RestoreAsk(stamp).encode());
    let said = d.text_of(OWNER, menu);
    assert!(said.contains("holds no key") && said.contains("--identity"), "{said}");
    assert!(!d.keyboard_of(OWNER, menu).iter().any(|a| matches!(a, Action::RestoreYes(..))));
}

#[test]
fn status_shows_each_databases_continuous_lag_and_span() {
    let d = start_with("[continuous]\nenabled = true\n", |cfg| {
        let st = cfg.open_state().unwrap();
        lifeboat_core::source::sqlite::continuous::capture(&cfg.continuous_setup(), &st, "users.db", &chrono::Utc::now)
            .unwrap();
    });
    let menu = d.open_menu(ADMIN);
    d.press(ADMIN, menu, &Action::Status.encode());
    let text = d.text_of(ADMIN, menu);
    let users = text.lines().find(|l| l.starts_with("Continuous: <b>users.db</b>")).unwrap_or_else(|| panic!("{text}"));
    assert!(users.contains(" lag ") && users.contains("restore --at reaches"), "{text}");
    let prices =
        text.lines().find(|l| l.starts_with("Continuous: <b>prices.db</b>")).unwrap_or_else(|| panic!("{text}"));
    assert!(prices.contains("never captured"), "{text}");
}
