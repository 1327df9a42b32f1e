//! Tests of the fake Bot API server itself: real teloxide requests against it,
//! and raw HTTP where the exact status and body matter.

use std::time::{Duration, Instant};

use lifeboat_testkit::fake_telegram::{FakeTelegram, Fault};
use teloxide::prelude::*;
use teloxide::types::{ChatId, InputFile, UpdateKind};
use teloxide::{ApiError, RequestError};

const TOKEN: &str = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn bot(fake: &FakeTelegram) -> Bot {
    Bot::new(TOKEN).set_api_url(reqwest::Url::parse(&fake.api_url()).unwrap())
}

async fn raw_post(fake: &FakeTelegram, method: &str, json: serde_json::Value) -> (u16, serde_json::Value, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.api_url()))
        .json(&json)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null), text)
}

#[tokio::test]
async fn teloxide_round_trip_upload_then_file_id() {
    let fake = FakeTelegram::start().await;
    let bot = bot(&fake);
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.username(), lifeboat_testkit::fake_telegram::BOT_USERNAME);
    let info = bot.get_webhook_info().await.unwrap();
    assert!(info.url.is_none());

    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let msg = bot
        .send_document(ChatId(11), InputFile::memory(bytes.clone()).file_name("a.zip"))
        .caption("backup")
        .await
        .unwrap();
    let doc = msg.document().unwrap();
    assert_eq!(doc.file_name.as_deref(), Some("a.zip"));
    assert_eq!(doc.file.size, bytes.len() as u32);
    let file_id = doc.file.id.clone();

    let again = bot.send_document(ChatId(22), InputFile::file_id(file_id.clone())).await.unwrap();
    assert_eq!(again.document().unwrap().file.id, file_id);

    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "the file_id send is no upload");
    assert_eq!(uploads[0].bytes, bytes);
    assert_eq!(uploads[0].file_name, "a.zip");
    assert_eq!(uploads[0].caption.as_deref(), Some("backup"));
    let sends = fake.calls("sendDocument");
    assert_eq!(sends.len(), 2);
    assert!(sends[0].upload && !sends[1].upload);
    assert_eq!(sends[1].chat_id, Some(22));
    assert!(fake.documents(22)[0].by_file_id);
    assert_eq!(fake.file_bytes(&file_id.0).unwrap(), bytes);
    let got = fake.received_files(22);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].file_name.as_str(), &got[0].bytes), ("a.zip", &bytes));

    // A file_id the server never gave is refused as Telegram does.
    let err = bot.send_document(ChatId(22), InputFile::file_id("nope".to_string().into())).await.unwrap_err();
    assert!(err.to_string().contains("wrong file identifier"), "{err}");
}

#[tokio::test]
async fn messages_edits_and_callback_answers() {
    let fake = FakeTelegram::start().await;
    let bot = bot(&fake);
    let m = bot.send_message(ChatId(5), "menu").await.unwrap();
    bot.edit_message_text(ChatId(5), m.id, "status").await.unwrap();
    // Same content again: Telegram's "message is not modified".
    let err = bot.edit_message_text(ChatId(5), m.id, "status").await.unwrap_err();
    assert!(err.to_string().contains("message is not modified"), "{err}");
    let pressed = fake.press_button(5, m.id.0 as i64, "x");
    bot.answer_callback_query(teloxide::types::CallbackQueryId(pressed)).text("no").show_alert(true).await.unwrap();
    // A query never sent, or answered after the deadline, is refused as Telegram does.
    let err = bot.answer_callback_query(teloxide::types::CallbackQueryId("cbq999".into())).await.unwrap_err();
    assert!(err.to_string().contains("query is too old"), "{err}");
    fake.set_answer_deadline(std::time::Duration::ZERO);
    let late = fake.press_button(5, m.id.0 as i64, "y");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let err = bot.answer_callback_query(teloxide::types::CallbackQueryId(late)).await.unwrap_err();
    assert!(err.to_string().contains("query is too old"), "{err}");
    assert_eq!(fake.sent_messages(5)[0].text.as_deref(), Some("status"));
    assert_eq!(fake.edits().len(), 1);
    assert_eq!(fake.callback_answers()[0].text.as_deref(), Some("no"));
    assert!(fake.callback_answers()[0].show_alert);
    // Lower-case method names route too.
    let (status, body, _) = raw_post(&fake, "sendmessage", serde_json::json!({"chat_id": 5, "text": "hi"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["message_id"], 2);
}

#[tokio::test]
async fn faults_have_real_bodies() {
    let fake = FakeTelegram::start().await;
    let bot = bot(&fake);
    fake.fail_chat(1, Fault::NeverStarted);
    fake.fail_chat(2, Fault::Blocked);
    fake.fail_chat(3, Fault::MigratedTo(-1001234));
    fake.fail_chat(4, Fault::ChatNotFound);

    let (status, body, text) = raw_post(&fake, "sendMessage", serde_json::json!({"chat_id": 1, "text": "x"})).await;
    assert_eq!(status, 403);
    assert_eq!(body["description"], "Forbidden: bot can't initiate conversation with a user");
    assert_eq!(body["error_code"], 403);
    assert!(!text.contains("parameters"), "{text}");

    match bot.send_message(ChatId(1), "x").await.unwrap_err() {
        RequestError::Api(ApiError::Unknown(d)) => assert!(d.starts_with("Forbidden:")),
        e => panic!("{e:?}"),
    }
    assert!(matches!(bot.send_message(ChatId(2), "x").await, Err(RequestError::Api(ApiError::BotBlocked))));
    assert!(matches!(bot.send_message(ChatId(3), "x").await, Err(RequestError::MigrateToChatId(ChatId(-1001234)))));
    assert!(matches!(bot.send_message(ChatId(4), "x").await, Err(RequestError::Api(ApiError::ChatNotFound))));
    fake.clear_chat(4);
    bot.send_message(ChatId(4), "x").await.unwrap();

    fake.fail_next(2, Fault::TooManyRequests { retry_after: 3 });
    let (status, body, _) = raw_post(&fake, "sendMessage", serde_json::json!({"chat_id": 9, "text": "x"})).await;
    assert_eq!(status, 429);
    assert_eq!(body["parameters"]["retry_after"], 3);
    match bot.send_message(ChatId(9), "x").await.unwrap_err() {
        RequestError::RetryAfter(s) => assert_eq!(s.seconds(), 3),
        e => panic!("{e:?}"),
    }
    bot.send_message(ChatId(9), "x").await.unwrap();

    fake.fail_next_method("sendMessage", 1, Fault::DropConnection);
    bot.get_me().await.unwrap();
    assert!(matches!(bot.send_message(ChatId(9), "x").await, Err(RequestError::Network(_))));
    bot.send_message(ChatId(9), "x").await.unwrap();
    assert_eq!(fake.calls("sendmessage").iter().filter(|c| c.status == 0).count(), 1);

    fake.set_upload_limit(10);
    let err = bot.send_document(ChatId(9), InputFile::memory(vec![1u8; 11]).file_name("b.zip")).await.unwrap_err();
    assert!(matches!(err, RequestError::Api(ApiError::RequestEntityTooLarge)), "{err:?}");
    assert!(fake.uploads().is_empty());

    // A proxy's HTML 502 (raw, because teloxide waits 10 s on any 5xx).
    fake.fail_next(1, Fault::ServerErrorHtml { status: 502 });
    let (status, body, text) = raw_post(&fake, "getMe", serde_json::json!({})).await;
    assert_eq!(status, 502);
    assert!(body.is_null() && text.contains("<html>"));
    fake.fail_next(1, Fault::ServerError { status: 500 });
    let (status, body, _) = raw_post(&fake, "getMe", serde_json::json!({})).await;
    assert_eq!((status, body["description"].as_str()), (500, Some("Internal Server Error")));

    fake.require_token("999:other");
    assert!(matches!(bot.get_me().await, Err(RequestError::Api(ApiError::InvalidToken))));
}

#[tokio::test]
async fn long_poll_waits_then_delivers_injected_updates() {
    let fake = FakeTelegram::start().await;
    let bot = bot(&fake);

    // Nothing queued: the poll lasts its timeout.
    let t = Instant::now();
    let ups = bot.get_updates().timeout(1).await.unwrap();
    assert!(ups.is_empty());
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());

    // An update arriving mid-poll ends it at once.
    let poll = tokio::spawn({
        let bot = bot.clone();
        async move { bot.get_updates().timeout(10).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let id = fake.send_text(777, "/admin");
    let ups = poll.await.unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].id.0 as i64, id);
    match &ups[0].kind {
        UpdateKind::Message(m) => {
            assert_eq!(m.text(), Some("/admin"));
            assert_eq!(m.from.as_ref().unwrap().id.0, 777);
        }
        k => panic!("{k:?}"),
    }

    // The bot's own message, then a (forged) button press on it.
    let sent = bot.send_message(ChatId(777), "menu").await.unwrap();
    let cb = fake.press_button(777, sent.id.0 as i64, "restore:../../etc");
    let ups = bot.get_updates().offset(id as i32 + 1).timeout(5).await.unwrap();
    assert_eq!(ups.len(), 1, "the offset confirmed the first update");
    match &ups[0].kind {
        UpdateKind::CallbackQuery(q) => {
            assert_eq!(q.id.0, cb);
            assert_eq!(q.data.as_deref(), Some("restore:../../etc"));
            assert_eq!(q.from.id.0, 777);
            assert_eq!(q.regular_message().unwrap().text(), Some("menu"));
        }
        k => panic!("{k:?}"),
    }
    let _ = bot.get_updates().offset(ups[0].id.0 as i32 + 1).timeout(0).await.unwrap();
    assert_eq!(fake.pending_updates(), 0);
}

#[test]
fn starts_from_sync_code() {
    let fake = FakeTelegram::start_blocking();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let me = rt.block_on(bot(&fake).get_me().send()).unwrap();
    assert!(me.user.is_bot);
    assert_eq!(fake.calls("GetMe").len(), 1);
}

#[tokio::test]
async fn a_second_poller_ends_the_first_with_409() {
    let fake = FakeTelegram::start().await;
    let bot = bot(&fake);
    let first = tokio::spawn({
        let bot = bot.clone();
        async move { bot.get_updates().timeout(10).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let second = bot.get_updates().timeout(1).await.unwrap();
    assert!(second.is_empty());
    let first = first.await.unwrap();
    assert!(matches!(first, Err(RequestError::Api(ApiError::TerminatedByOtherGetUpdates))), "{first:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(fake.calls("getUpdates").iter().map(|c| c.status).filter(|s| *s == 409).count(), 1);
}
