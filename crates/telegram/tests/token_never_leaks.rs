//! The bot token and the archive password never appear in logs, errors,
//! reports, captions, the state database, an archive's bytes or `Debug`
//! output, whatever goes wrong. One test per binary: it installs
//! the global subscriber (which also bridges teloxide's `log` records).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{TOKEN, at, backup, setup};
use lifeboat_core::CancellationToken;
use lifeboat_telegram::{Telegram, enqueue_archive};
use lifeboat_testkit::{FakeTelegram, Fault};
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The zip-aes password the archives are sealed with.
const PASSWORD: &str = "Tr0ub4dor&3-Qx7vLm29zKw";

/// Not the token nor the password, nor any 8-character piece of either (a
/// cut secret).
fn assert_clean(what: &str, text: &str) {
    for secret in [TOKEN.split_once(':').unwrap().1, PASSWORD] {
        for i in 0..=secret.len() - 8 {
            let piece = &secret[i..i + 8];
            assert!(!text.contains(piece), "{what} contains {piece:?}, a piece of a secret:\n{text}");
        }
    }
}

#[tokio::test]
async fn token_never_leaks_from_a_failing_delivery() {
    let buf = Buf::default();
    let writer = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init()
        .expect("first subscriber in this test binary");

    let fake = FakeTelegram::start().await;
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("archive.pass");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let sealed = format!("[encryption]\nmode = \"zip-aes\"\npassword_file = {:?}\n", password_file.display());
    let s = setup(&fake, &[1, 2, 3], 2, &sealed);
    fake.fail_chat(2, Fault::NeverStarted);
    // Chat 1 loses its connection twice (network errors carry the URL, which
    // holds the token); chat 3 is throttled, then gets through.
    fake.fail_next_method("sendDocument", 2, Fault::DropConnection);
    let archive = backup(&s, 50, 50, at(5, 0));
    let state = s.state();
    enqueue_archive(&state, &s.cfg.telegram, &archive, at(5, 0)).unwrap();
    let tg = Telegram::from_config(&s.cfg.telegram, &s.cfg.surroundings()).unwrap();
    let r1 = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(!r1.failures.is_empty(), "{r1:?}");

    // A proxy answers with pages that echo the request path (and so the
    // token) after some text: a 502 in text/plain whose cut at 120
    // characters falls inside the token, and an HTML 404.
    fake.fail_next_method("sendDocument", 1, Fault::EchoPath { padding: 40, html: false });
    fake.fail_next_method("sendDocument", 1, Fault::EchoPath { padding: 0, html: true });
    let proxied = backup(&s, 50, 50, at(6, 0));
    enqueue_archive(&state, &s.cfg.telegram, &proxied, at(6, 0)).unwrap();
    let r_proxy = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    let proxy_text = format!("{r_proxy:?}");
    assert!(proxy_text.contains("not the Bot API"), "{proxy_text}");
    assert_clean("proxy report", &proxy_text);
    let recorded: Vec<_> =
        state.deliveries_for(&proxied.name).unwrap().into_iter().filter_map(|r| r.last_error).collect();
    assert!(recorded.iter().any(|e| e.contains("not the Bot API")), "the proxy's answer is recorded: {recorded:?}");
    assert_clean("recorded errors", &recorded.join("\n"));

    // Nothing listening at all: connect errors name the URL too.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut dead = s.cfg.clone();
    dead.telegram.api_url = format!("http://127.0.0.1:{port}").parse().unwrap();
    let tg_dead = Telegram::from_config(&dead.telegram, &dead.surroundings()).unwrap();
    let r2 = tg_dead.deliver_pending(&dead.surroundings(), &CancellationToken::new()).await;
    assert!(r2.failures.iter().any(|f| f.reason.contains("network")), "{r2:?}");
    let alert = tg_dead.alert("hello").await.unwrap_err();

    // A token Telegram refuses.
    fake.require_token("1:some_other_token_aaaaaaaaaaaaaaaaaaaaaaaa");
    let r3 = tg.deliver_pending(&s.cfg.surroundings(), &CancellationToken::new()).await;
    assert!(!r3.problems.is_empty(), "{r3:?}");

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("delivery failed"), "the capture works:\n{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    assert!(logs.contains("cannot connect to the Telegram API"), "{logs}");
    assert_clean("logs", &logs);
    for (what, text) in [
        ("Telegram Debug", format!("{tg:?} {tg_dead:?}")),
        ("Config Debug", format!("{:?}", s.cfg)),
        ("reports", format!("{r1:?} {r2:?} {r3:?} {} {} {}", r1.summary(), r2.summary(), r3.summary())),
        ("alert error", format!("{alert} {alert:?}")),
    ] {
        assert_clean(what, &text);
    }
    let mut stored = String::new();
    for name in [&archive.name, &proxied.name] {
        for row in state.deliveries_for(name).unwrap() {
            stored += &format!("{:?}\n", row.last_error);
        }
    }
    let db = std::fs::read(s.cfg.state_path()).unwrap();
    assert_clean("state database file", &String::from_utf8_lossy(&db));
    // What Telegram received: captions and the archives' bytes.
    let captions: Vec<String> = (1..=3).flat_map(|c| fake.documents(c)).filter_map(|d| d.caption).collect();
    assert!(captions.iter().any(|c| c.contains("🔒 Encrypted")), "{captions:?}");
    assert_clean("captions", &captions.join("\n"));
    assert!(!fake.uploads().is_empty());
    for upload in fake.uploads() {
        assert_clean("an uploaded archive", &String::from_utf8_lossy(&upload.bytes));
    }
    for e in state.events(1000, 0).unwrap() {
        stored += &e.message;
        stored += "\n";
    }
    assert!(stored.contains("never started"), "{stored}");
    assert_clean("state database", &stored);
}
