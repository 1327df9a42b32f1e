//! Delivery against the fake Bot API server over real HTTP: real archives
//! from a real backup, faults with Telegram's real bodies.

mod common;

use std::time::Duration;

use common::{at, backup, setup, verify_received};
use lifeboat_core::CancellationToken;
use lifeboat_core::state::OutboxStatus as DeliveryStatus;
use lifeboat_telegram::{Telegram, enqueue_archive};
use lifeboat_testkit::{FakeTelegram, Fault};

#[tokio::test]
async fn three_admins_one_never_started_upload_once_then_file_id() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[101, 202, 303], 3, "");
    fake.fail_chat(202, Fault::NeverStarted);
    let archive = backup(&s, 300, 200, at(5, 0));
    assert_eq!(archive.files.len(), 1);
    let zip_bytes = std::fs::read(&archive.files[0]).unwrap();
    let state = s.state();
    enqueue_archive(&state, &s.cfg.telegram, &archive, at(5, 1)).unwrap();

    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).expect("token configured");
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;

    // Two admins received the very bytes of the archive, and it verifies.
    for chat in [101, 303] {
        let docs = fake.documents(chat);
        assert_eq!(docs.len(), 1, "chat {chat}");
        assert_eq!(docs[0].file_name.as_deref(), Some(archive.name.as_str()));
        let got = fake.file_bytes(docs[0].file_id.as_deref().unwrap()).unwrap();
        assert_eq!(got, zip_bytes);
        let caption = docs[0].caption.clone().unwrap();
        assert!(caption.contains("2026-11-22 05:00:00 UTC") && caption.contains("user_requests.db"), "{caption}");
        assert!(caption.contains("scheduled"));
    }
    verify_received(s.dir.path(), &[(archive.name.clone(), zip_bytes.clone())]);
    // Exactly one multipart upload; the other admin by file_id.
    let sends = fake.calls("sendDocument");
    assert_eq!(sends.iter().filter(|c| c.upload).count(), 1, "{sends:?}");
    assert!(fake.documents(303)[0].by_file_id);
    // No retry toward the admin who never started the bot.
    assert_eq!(fake.calls_for_chat(202).len(), 1);

    assert!(!report.is_complete());
    assert_eq!(report.delivered_chats(), vec![101, 303]);
    assert_eq!(report.failures.len(), 1);
    let f = &report.failures[0];
    assert_eq!(f.chat_id, 202);
    assert!(f.permanent);
    assert!(f.reason.contains("never started the bot"), "{}", f.reason);
    assert!(report.summary().contains("202 failed: never started the bot"), "{}", report.summary());

    let rows = state.deliveries_for(&archive.name).unwrap();
    let status: Vec<_> = rows.iter().map(|r| (r.chat_id, r.status)).collect();
    assert_eq!(
        status,
        vec![(101, DeliveryStatus::Delivered), (202, DeliveryStatus::Failed), (303, DeliveryStatus::Delivered)]
    );
    assert!(rows.iter().filter(|r| r.chat_id != 202).all(|r| r.message_id.is_some() && r.file_id.is_some()));

    // The next cycle has nothing to do, and still does not pester 202.
    let again = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(again.delivered.is_empty() && again.failures.is_empty(), "{again:?}");
    assert_eq!(fake.calls_for_chat(202).len(), 1);

    // The dashboard's re-send reuses the file_id: no new upload.
    let resent = tg.send_archive_to(&s.cfg.surroundings(), 404, &archive, &Default::default()).await.unwrap();
    assert!(!resent.files[0].uploaded);
    assert_eq!(fake.uploads().len(), 1);
    assert_eq!(fake.documents(404).len(), 1);
}

#[tokio::test]
async fn first_admin_refusing_moves_the_upload_to_the_next() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[11, 22, 33], 3, "");
    fake.fail_chat(11, Fault::Blocked);
    fake.fail_chat(22, Fault::MigratedTo(-1009876543210));
    let archive = backup(&s, 50, 50, at(6, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(6, 0)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert_eq!(fake.uploads().len(), 1);
    assert_eq!(fake.uploads()[0].chat_id, 33);
    assert_eq!(report.delivered_chats(), vec![33]);
    let reasons: Vec<_> = report.failures.iter().map(|f| (f.chat_id, f.reason.clone(), f.permanent)).collect();
    assert!(reasons[0].1.contains("blocked the bot") && reasons[0].2, "{reasons:?}");
    assert!(reasons[1].1.contains("-1009876543210") && reasons[1].2, "{reasons:?}");
    assert_eq!(fake.calls_for_chat(11).len(), 1);
    assert_eq!(fake.calls_for_chat(22).len(), 1);
}

#[tokio::test]
async fn waits_exactly_retry_after_on_429() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7], 3, "");
    let archive = backup(&s, 50, 50, at(7, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(7, 0)).unwrap();
    fake.fail_next_method("sendDocument", 1, Fault::TooManyRequests { retry_after: 1 });
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(report.is_complete(), "{report:?}");
    let calls = fake.calls("sendDocument");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, 429);
    let waited = calls[1].at - calls[0].at;
    // The backoff alone would be 0 s here (initial_delay_secs = 0).
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    assert!(waited < Duration::from_millis(2500), "waited {waited:?}");
}

#[tokio::test]
async fn dropped_connection_then_success() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7, 8], 3, "");
    let archive = backup(&s, 50, 50, at(8, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(8, 0)).unwrap();
    fake.fail_next_method("sendDocument", 1, Fault::DropConnection);
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(report.is_complete(), "{report:?}");
    let calls = fake.calls("sendDocument");
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), vec![0, 200, 200]);
    assert_eq!(fake.uploads().len(), 1);
}

#[tokio::test]
async fn attempts_exhausted_stay_pending_and_go_next_cycle() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7], 2, "");
    let archive = backup(&s, 50, 50, at(9, 0));
    let state = s.state();
    enqueue_archive(&state, &s.cfg.telegram, &archive, at(9, 0)).unwrap();
    fake.fail_next_method("sendDocument", 2, Fault::DropConnection);
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(report.delivered.is_empty());
    assert_eq!(report.failures.len(), 1);
    assert!(!report.failures[0].permanent);
    assert!(report.failures[0].reason.contains("network"), "{}", report.failures[0].reason);
    assert!(report.summary().contains("retried next cycle"), "{}", report.summary());
    assert_eq!(fake.calls("sendDocument").len(), 2, "retry.attempts = 2");
    let row = &state.deliveries_for(&archive.name).unwrap()[0];
    assert_eq!(row.status, DeliveryStatus::Pending);
    assert!(row.last_error.is_some());
    assert_eq!(state.archives_awaiting_delivery().unwrap(), vec![archive.name.clone()]);

    let next = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(next.is_complete(), "{next:?}");
    let row = &state.deliveries_for(&archive.name).unwrap()[0];
    assert_eq!(row.status, DeliveryStatus::Delivered);
    assert!(state.archives_awaiting_delivery().unwrap().is_empty());
    assert_eq!(fake.documents(7).len(), 1);
}

#[tokio::test]
async fn too_large_is_permanent_and_says_what_to_do() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7, 8], 3, "");
    let archive = backup(&s, 50, 50, at(10, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(10, 0)).unwrap();
    fake.set_upload_limit(1000);
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert_eq!(report.failures.len(), 2);
    assert!(report.failures.iter().all(|f| f.permanent && f.reason.contains("max_upload_mb")), "{report:?}");
    // One attempt in all: the file is too large for anyone.
    assert_eq!(fake.calls("sendDocument").len(), 1);
    assert_eq!(fake.calls("sendDocument")[0].status, 413);
    let rows = s.state().deliveries_for(&archive.name).unwrap();
    assert!(rows.iter().all(|r| r.status == DeliveryStatus::Failed));
}

#[tokio::test]
async fn parts_arrive_in_order_within_the_limit() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7, 8], 3, "max_upload_mb = 1");
    fake.set_upload_limit(1_000_000);
    // Random-ish notes compress poorly: the archive needs several parts.
    let archive = backup(&s, 3200, 1000, at(11, 0));
    assert!(archive.files.len() >= 2, "{archive:?}");
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(11, 0)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(report.is_complete(), "{}", report.summary());
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), archive.files.len(), "one upload per part");
    assert!(uploads.iter().all(|u| u.bytes.len() <= 1_000_000));
    for chat in [7, 8] {
        let docs = fake.documents(chat);
        let names: Vec<_> = docs.iter().map(|d| d.file_name.clone().unwrap()).collect();
        let want: Vec<_> = archive.files.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, want, "chat {chat}: parts in order");
        for (i, d) in docs.iter().enumerate() {
            let c = d.caption.as_deref().unwrap();
            assert!(c.contains(&format!("Part {}/{}", i + 1, docs.len())), "{c}");
        }
        let parts: Vec<(String, Vec<u8>)> = docs
            .iter()
            .map(|d| (d.file_name.clone().unwrap(), fake.file_bytes(d.file_id.as_deref().unwrap()).unwrap()))
            .collect();
        verify_received(s.dir.path(), &parts);
    }
}

#[tokio::test]
async fn bad_token_stops_the_run_and_says_so() {
    let fake = FakeTelegram::start().await;
    fake.require_token("1:another_token_entirely_aaaaaaaaaaaaaaaaaaaa");
    let s = setup(&fake, &[7, 8], 3, "");
    let archive = backup(&s, 50, 50, at(12, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(12, 0)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(tg.token_rejected());
    assert!(report.problems.iter().any(|p| p.contains("telegram.token")), "{report:?}");
    assert_eq!(fake.all_calls().len(), 1, "no call after the token was refused");
    let rows = s.state().deliveries_for(&archive.name).unwrap();
    assert!(rows.iter().all(|r| r.status == DeliveryStatus::Pending), "the admins are not at fault");
    let again = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(!again.problems.is_empty());
    assert_eq!(fake.all_calls().len(), 1);
}

/// A boolean form field as teloxide sends it (JSON or multipart text).
fn flag(call: &lifeboat_testkit::fake_telegram::Call, name: &str) -> bool {
    matches!(&call.params[name], serde_json::Value::Bool(true)) || call.params[name] == "true"
}

#[tokio::test]
async fn routine_archives_are_quiet_and_alerts_ring() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[1, 2], 1, "");
    let archive = backup(&s, 50, 20, at(5, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(5, 1)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    assert!(tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await.is_complete());
    let sends = fake.calls("sendDocument");
    assert_eq!(sends.len(), 2);
    assert!(sends.iter().all(|c| flag(c, "disable_notification")), "{sends:?}");
    tg.alert("⚠️ backup failed").await.unwrap();
    assert!(fake.calls("sendMessage").iter().all(|c| !flag(c, "disable_notification")));

    // quiet_routine = false: archives ring too.
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[1], 1, "[monitoring]\nquiet_routine = false");
    let archive = backup(&s, 50, 20, at(6, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(6, 1)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    assert!(tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await.is_complete());
    assert!(fake.calls("sendDocument").iter().all(|c| !flag(c, "disable_notification")));
}

#[tokio::test]
async fn alert_reaches_every_admin_it_can() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[1, 2, 3], 2, "");
    fake.fail_chat(2, Fault::NeverStarted);
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let long = "x".repeat(5000);
    let r = tg.alert(&long).await.unwrap();
    assert_eq!(r.sent, vec![1, 3]);
    assert_eq!(r.failed.len(), 1);
    assert!(r.failed[0].1.contains("never started"));
    assert_eq!(lifeboat_telegram::limits::len(fake.sent_messages(1)[0].text.as_ref().unwrap()), 4096);
    fake.fail_chat(1, Fault::Blocked);
    fake.fail_chat(3, Fault::ChatNotFound);
    let err = tg.alert("again").await.unwrap_err();
    assert!(err.to_string().contains("blocked"), "{err}");
}

#[tokio::test]
async fn cancelled_before_start_sends_nothing() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7], 3, "");
    let archive = backup(&s, 50, 50, at(13, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(13, 0)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &cancel).await;
    assert!(report.interrupted && !report.is_complete());
    assert!(fake.all_calls().is_empty());
    assert_eq!(s.state().pending_deliveries().unwrap().len(), 1);
}

#[test]
fn no_token_means_disabled() {
    let cfg = lifeboat_engine::Config::from_toml("").unwrap();
    assert!(Telegram::from_config(&cfg.telegram, &cfg.surroundings()).is_none());
    let r = lifeboat_telegram::DeliveryReport::disabled();
    assert!(r.disabled && !r.is_complete());
    assert!(r.summary().contains("disabled"));
}

#[tokio::test]
async fn after_an_outage_only_the_latest_archive_is_sent() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7], 3, "");
    let state = s.state();
    let old = backup(&s, 50, 50, at(14, 0));
    enqueue_archive(&state, &s.cfg.telegram, &old, at(14, 0)).unwrap();
    let new = backup(&s, 50, 50, at(15, 0));
    enqueue_archive(&state, &s.cfg.telegram, &new, at(15, 0)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(report.is_complete(), "{report:?}");
    let docs = fake.documents(7);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].file_name.as_deref(), Some(new.name.as_str()));
    assert_eq!(state.deliveries_for(&old.name).unwrap()[0].status, DeliveryStatus::Superseded);
    assert!(state.archives_awaiting_delivery().unwrap().is_empty());
}

/// teloxide waits 10 s before reading any 5xx: this is the one such test.
#[tokio::test]
async fn proxy_html_502_is_retried() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7], 3, "");
    let archive = backup(&s, 50, 50, at(16, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(16, 0)).unwrap();
    fake.fail_next_method("sendDocument", 1, Fault::ServerErrorHtml { status: 502 });
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(report.is_complete(), "{report:?}");
    let statuses: Vec<u16> = fake.calls("sendDocument").iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![502, 200]);
}

#[tokio::test]
async fn a_long_flood_wait_is_left_for_the_next_cycle() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[7], 3, "");
    let archive = backup(&s, 50, 50, at(17, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(17, 0)).unwrap();
    fake.fail_next_method("sendDocument", 1, Fault::TooManyRequests { retry_after: 3600 });
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let t = std::time::Instant::now();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.calls("sendDocument").len(), 1);
    assert_eq!(report.failures.len(), 1);
    assert!(!report.failures[0].permanent);
    assert!(report.failures[0].reason.contains("retry after 3600"), "{}", report.failures[0].reason);
    assert_eq!(s.state().pending_deliveries().unwrap().len(), 1);
}

#[tokio::test]
async fn five_admins_one_upload_four_file_id_sends() {
    let fake = FakeTelegram::start().await;
    let s = setup(&fake, &[1, 2, 3, 4, 5], 3, "");
    let archive = backup(&s, 50, 50, at(18, 0));
    enqueue_archive(&s.state(), &s.cfg.telegram, &archive, at(18, 0)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let report = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(report.is_complete(), "{}", report.summary());
    let sends = fake.calls("sendDocument");
    assert_eq!(sends.len(), 5);
    assert_eq!(sends.iter().filter(|c| c.upload).count(), 1);
    assert!(sends.iter().skip(1).all(|c| !c.upload && c.upload_size == 0));
    assert!(report.summary().contains("1 uploaded, 4 by file_id"), "{}", report.summary());
}
