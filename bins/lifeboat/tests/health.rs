//! Honest health, end to end: Telegram broken on purpose makes `diagnose`
//! fail and say why, every cycle that leaves an archive owed exits 3 and
//! pings `/fail` with the reason (an unchanged one too), and the journal
//! names the cause; hooks run around a cycle with its result; alerts reach
//! a webhook.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use lifeboat_testkit::{FakeTelegram, HttpRecorder};

const TOKEN: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi";
const ADMIN: i64 = 111;

/// `lifeboat-scheduler --config CONFIG --once`, built beside `lifeboat`.
fn scheduler_once(sb: &common::Sandbox) -> Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lifeboat")).with_file_name("lifeboat-scheduler");
    let mut c = Command::new(bin);
    c.arg("--config").arg(&sb.config).arg("--once").current_dir(sb.dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT") {
            c.env_remove(k);
        }
    }
    c.output().unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The bodies of the `/fail` pings the monitor got.
fn fail_bodies(monitor: &HttpRecorder) -> Vec<String> {
    monitor.received().into_iter().filter(|r| r.path.ends_with("/fail")).map(|r| r.body).collect()
}

#[test]
fn telegram_broken_on_purpose_fails_diagnose_exits_3_pings_fail_with_why_until_it_is_repaired() {
    let sb = common::Sandbox::with_random_db(1);
    let monitor = HttpRecorder::start();
    let fake = FakeTelegram::start_blocking();
    let configure = |api_url: &str| {
        sb.write_config_attempts(
            &["app.db"],
            1,
            &format!(
                "[telegram]\ntoken = {TOKEN:?}\napi_url = {api_url:?}\nadmin_ids = [{ADMIN}]\n\
                 [monitoring]\nping_url = \"{}/ping/abc-123\"\n",
                monitor.url()
            ),
        )
    };
    // Broken on purpose: nothing listens on port 1.
    configure("http://127.0.0.1:1");

    let out = sb.cmd(&["diagnose"]).output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("[error] telegram: the Bot API does not answer"), "{said}");
    assert!(said.contains("cannot connect to the Telegram API at 127.0.0.1"), "{said}");
    assert!(said.contains("Connection refused"), "the cause is said: {said}");
    assert!(said.contains("check that this server reaches 127.0.0.1"), "{said}");
    assert!(!said.contains("token configured"), "{said}");
    assert!(said.contains("monitoring.ping_url") && said.contains("answers on port"), "{said}");
    assert!(!said.contains(TOKEN) && !said.contains("abc-123"), "{said}");

    // The first cycle: the archive is owed to the admin.
    let out = scheduler_once(&sb);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    let archive = sb.archives().pop().expect("an archive was written");
    assert!(said.contains("Connection refused"), "the journal says why: {said}");
    assert!(!said.contains(TOKEN), "{said}");
    let bodies = fail_bodies(&monitor);
    assert_eq!(bodies.len(), 1, "{:?}", monitor.paths());
    assert!(bodies[0].contains(&archive) && bodies[0].contains(&ADMIN.to_string()), "{}", bodies[0]);

    // Nothing changed: no new archive, but the old one is still owed.
    let out = scheduler_once(&sb);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "an unchanged cycle with an archive owed is not a success: {said}");
    assert_eq!(sb.archives().len(), 1, "{said}");
    assert!(said.contains("Still owed") && said.contains(&archive), "{said}");
    let bodies = fail_bodies(&monitor);
    assert_eq!(bodies.len(), 2, "{:?}", monitor.paths());
    assert!(bodies[1].contains("Unchanged") && bodies[1].contains("Still owed"), "{}", bodies[1]);
    assert!(bodies[1].contains(&format!("{archive} to telegram admin {ADMIN}")), "{}", bodies[1]);
    assert!(bodies[1].contains("Connection refused"), "{}", bodies[1]);
    assert_eq!(monitor.paths().iter().filter(|p| p.ends_with("/ping/abc-123")).count(), 0, "never a success ping");

    // Repaired: the owed archive goes out, and all is well again.
    configure(&fake.api_url());
    let out = sb.cmd(&["diagnose"]).output().unwrap();
    let said = text(&out);
    assert!(said.contains("telegram: the Bot API at 127.0.0.1 answers: the token is accepted"), "{said}");
    let out = scheduler_once(&sb);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(fake.documents(ADMIN).len(), 1, "{said}");
    assert_eq!(monitor.paths().last().map(String::as_str), Some("/ping/abc-123"));
}

/// Run by the timer (`lifeboat-scheduler --once`, no daemon watching), a
/// cycle that leaves an archive owed opens the stuck-delivery incident at
/// its end and tells the admins once (over a webhook: Telegram is the
/// channel that is down); the next failing cycle does not tell them again,
/// and the cycle that delivers clears it.
#[test]
fn a_timer_run_cycle_opens_the_stuck_delivery_incident_once_and_clears_it() {
    let sb = common::Sandbox::with_random_db(1);
    let endpoint = HttpRecorder::start();
    let fake = FakeTelegram::start_blocking();
    let url = sb.secret("ops.url", &format!("{}/alerts/secret-789", endpoint.url()));
    let configure = |api_url: &str| {
        sb.write_config_attempts(
            &["app.db"],
            1,
            &format!(
                "[telegram]\ntoken = {TOKEN:?}\napi_url = {api_url:?}\nadmin_ids = [{ADMIN}]\n\
                 [[destinations.webhook]]\nname = \"ops\"\nurl_file = {url:?}\nformat = \"json\"\n"
            ),
        )
    };
    let told = |what: &str| endpoint.bodies().iter().filter(|b| b.contains(what)).count();
    const OPENED: &str = "Archives are not reaching their destinations";
    configure("http://127.0.0.1:1");

    let out = scheduler_once(&sb);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("incident opened: Archives are not reaching"), "{}", text(&out));
    assert_eq!(told(OPENED), 1, "{:?}", endpoint.bodies());
    sb.write_row();
    let out = scheduler_once(&sb);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(told(OPENED), 1, "an open incident is not announced again: {:?}", endpoint.bodies());
    let status = sb.cmd(&["status"]).output().unwrap();
    assert!(text(&status).contains(OPENED), "{}", text(&status));

    configure(&fake.api_url());
    let out = scheduler_once(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(told("pending archives are delivered"), 1, "{:?}", endpoint.bodies());
    assert!(endpoint.bodies().iter().all(|b| !b.contains("secret-789") && !b.contains(TOKEN)));
}

#[test]
fn a_revoked_token_is_an_error_in_diagnose_with_what_to_do() {
    let sb = common::Sandbox::with_random_db(1);
    let fake = FakeTelegram::start_blocking();
    fake.require_token("999:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    sb.write_config(
        &["app.db"],
        &format!("[telegram]\ntoken = {TOKEN:?}\napi_url = {:?}\nadmin_ids = [{ADMIN}]\n", fake.api_url()),
    );
    let out = sb.cmd(&["diagnose"]).output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Telegram rejected the bot token"), "{said}");
    assert!(said.contains("@BotFather"), "{said}");
    assert!(!said.contains(TOKEN), "{said}");
}

#[test]
fn hooks_run_around_a_cycle_with_its_result_and_a_failing_before_hook_skips_it() {
    let sb = common::Sandbox::with_random_db(1);
    let log = sb.path("hooks.log");
    let monitor = HttpRecorder::start();
    let hooks = |before: &str| {
        format!(
            "[monitoring]\nping_url = \"{}/ping/h\"\n\
             [hooks]\nbefore = [{before:?}]\n\
             after = [\"echo after $LIFEBOAT_RESULT $LIFEBOAT_EXIT_CODE $LIFEBOAT_TRIGGER $LIFEBOAT_ARCHIVE >> {log}\"]\n\
             on_failure = [\"echo on_failure $LIFEBOAT_RESULT >> {log}\", \"echo hook output to the log; exit 4\"]\n",
            monitor.url(),
            log = log.display()
        )
    };
    sb.write_config(&["app.db"], &hooks(&format!("echo before $LIFEBOAT_TRIGGER >> {}", log.display())));
    let (archive, said) = sb.cycle(0);
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines, format!("before manual\nafter ok 0 manual {}\n", archive.display()), "{said}");

    // A database goes missing: partial, and on_failure runs too; its
    // failure is reported, not the cycle's result.
    std::fs::remove_file(&log).unwrap();
    sb.write_config(&["app.db", "gone.db"], &hooks("true"));
    let (_, said) = sb.cycle(3);
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(lines.starts_with("after partial 3 manual "), "{lines}");
    assert!(lines.ends_with("on_failure partial\n"), "{lines}");
    assert!(said.contains("hook output to the log"), "its output is in the log: {said}");
    assert!(
        said.contains("Hook failed: hooks.on_failure `echo hook output to the log; exit 4` exited with status 4"),
        "{said}"
    );

    // A before hook that fails skips the cycle: nothing written, reported
    // as failed, the monitor told why.
    std::fs::remove_file(&log).unwrap();
    let before = sb.archives();
    sb.write_config(&["app.db"], &hooks("echo the worker will not pause >&2; exit 7"));
    let (_, said) = sb.cycle(1);
    assert_eq!(sb.archives(), before, "{said}");
    assert!(said.contains("the cycle was skipped: hooks.before"), "{said}");
    assert!(said.contains("exited with status 7: the worker will not pause"), "{said}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "on_failure failed\n", "no after hook for a skipped cycle");
    let bodies = fail_bodies(&monitor);
    assert!(bodies.last().is_some_and(|b| b.contains("the worker will not pause")), "{bodies:?}");
}

#[test]
fn a_hook_past_its_timeout_is_stopped_and_the_cycle_skipped() {
    let sb = common::Sandbox::with_random_db(1);
    sb.write_config(&["app.db"], "[hooks]\nbefore = [\"sleep 30\"]\ntimeout_secs = 1\n");
    let started = std::time::Instant::now();
    let (_, said) = sb.cycle(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(said.contains("ran past hooks.timeout_secs (1 s)"), "{said}");
    assert!(sb.archives().is_empty(), "{said}");
}

#[test]
fn a_partial_cycle_alerts_a_webhook_when_telegram_is_not_configured() {
    let sb = common::Sandbox::with_random_db(1);
    let endpoint = HttpRecorder::start_answering(&[503]);
    let url = sb.secret("ops.url", &format!("{}/alerts/secret-456", endpoint.url()));
    sb.write_config(
        &["app.db", "gone.db"],
        &format!("[[destinations.webhook]]\nname = \"ops\"\nurl_file = {url:?}\nformat = \"slack\"\n"),
    );
    let (_, said) = sb.cycle(3);
    let bodies = endpoint.bodies();
    assert_eq!(bodies.len(), 2, "a 503, then the alert: {said}");
    let v: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    assert!(v["text"].as_str().unwrap().contains("gone.db"), "{v}");
    assert!(said.contains("Admins were alerted"), "{said}");
    assert!(!said.contains("secret-456"), "{said}");
}

#[test]
fn metrics_json_carries_the_same_figures_as_the_text() {
    let sb = common::Sandbox::with_random_db(1);
    sb.write_config(&["app.db"], "");
    sb.run(&["backup"], 0);
    let out = sb.cmd(&["metrics", "--json"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["schema"], 1, "{v}");
    let samples = v["metrics"].as_array().unwrap();
    let find = |name: &str, label: Option<(&str, &str)>| {
        samples.iter().find(|s| s["name"] == name && label.is_none_or(|(k, val)| s["labels"][k] == val)).cloned()
    };
    let archives = find("lifeboat_archives", None).expect("lifeboat_archives");
    assert_eq!((archives["value"].as_f64(), archives["kind"].as_str()), (Some(1.0), Some("gauge")));
    let runs = find("lifeboat_runs_total", Some(("status", "ok"))).expect("runs_total{status=ok}");
    assert_eq!((runs["value"].as_f64(), runs["kind"].as_str()), (Some(1.0), Some("counter")));
    let text = sb.cmd(&["metrics"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    for s in samples {
        let name = s["name"].as_str().unwrap();
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} is in the text too");
    }
}
