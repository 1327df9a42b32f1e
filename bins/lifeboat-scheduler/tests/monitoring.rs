//! Watching the backups from outside: the dead-man's switch pings a real
//! HTTP server on loopback, and a monitor that hangs cannot hold a cycle up.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lifeboat_testkit::HttpRecorder;

fn with_ping(monitor: &HttpRecorder) -> String {
    format!("[monitoring]\nping_url = \"{}/ping/abc-123\"\n", monitor.url())
}

#[test]
fn a_good_cycle_pings_start_then_success() {
    let monitor = HttpRecorder::start();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(monitor.paths(), ["/ping/abc-123/start", "/ping/abc-123"]);
    assert!(monitor.received().iter().all(|r| r.method == "GET"));
}

#[test]
fn a_partial_cycle_pings_fail() {
    let monitor = HttpRecorder::start();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    std::fs::write(sb.source_dir().join("analytics.db"), b"not a database").unwrap();
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(monitor.paths(), ["/ping/abc-123/start", "/ping/abc-123/fail"]);
}

#[test]
fn a_failed_cycle_pings_fail() {
    let monitor = HttpRecorder::start();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    for db in &sb.databases {
        std::fs::remove_file(sb.source_dir().join(db)).unwrap();
    }
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(monitor.paths(), ["/ping/abc-123/start", "/ping/abc-123/fail"]);
}

#[test]
fn a_hanging_monitor_holds_the_cycle_up_by_its_deadline_at_most() {
    let monitor = HttpRecorder::start_hanging();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    let started = Instant::now();
    let out = sb.scheduler().arg("--once").output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "the backup itself is fine: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.archive_folder_entries().len(), 1);
    // The pings' deadline is 10 s; the backup of two small databases takes
    // well under a second.
    assert!(took < Duration::from_secs(14), "took {took:?}");
    assert!(!monitor.paths().is_empty(), "it did try");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dead-man's switch"), "{stderr}");
    assert!(!stderr.contains("abc-123"), "the URL may hold the monitor's secret: {stderr}");
}

#[test]
fn a_ping_redirected_to_another_host_is_not_followed_and_its_url_never_logged() {
    let elsewhere = HttpRecorder::start_at(std::net::Ipv4Addr::new(127, 0, 0, 2).into());
    let monitor = HttpRecorder::start_redirecting_to(&elsewhere.url());
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    let out = sb.scheduler().arg("--once").env("RUST_LOG", "debug").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(monitor.paths(), ["/ping/abc-123/start", "/ping/abc-123"]);
    assert!(monitor.received().iter().all(|r| r.referer.is_none()), "{:?}", monitor.received());
    assert!(elsewhere.received().is_empty(), "the secret URL went to another host: {:?}", elsewhere.received());
    assert!(stderr.contains("redirect") && stderr.contains("127.0.0.2"), "the operator is told: {stderr}");
    assert!(!stderr.contains("abc-123"), "the URL may hold the monitor's secret: {stderr}");
}

#[test]
fn a_failing_ping_never_logs_its_url_even_at_debug() {
    // Nothing listens on port 1: every try is refused and retried.
    let sb = Sandbox::new("0 * * * *", "[monitoring]\nping_url = \"http://127.0.0.1:1/ping/abc-123\"\n");
    let out = sb.scheduler().arg("--once").env("RUST_LOG", "debug").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("ping failed (cannot connect)"), "{stderr}");
    assert!(!stderr.contains("abc-123"), "the URL may hold the monitor's secret: {stderr}");
}

/// `promtool check metrics` on `text`: the linter Prometheus ships.
fn promtool_accepts(text: &str) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus; .ci/run installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_cycle_rewrites_the_metrics_file_for_the_textfile_collector() {
    let sb = Sandbox::new("0 * * * *", "");
    let file = sb.dir.path().join("textfile").join("lifeboat.prom");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    sb.write_config("0 * * * *", &format!("[monitoring]\nmetrics_file = {:?}\n", file.display().to_string()));
    let before = chrono::Utc::now().timestamp();
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).unwrap();
    promtool_accepts(&text);
    assert!(text.contains("lifeboat_runs_total{status=\"ok\"} 1"), "{text}");
    assert!(text.contains("lifeboat_database_integrity_ok{database=\"analytics.db\"} 1"), "{text}");
    assert!(text.contains("lifeboat_database_rows{database=\"user_requests.db\"}"), "{text}");
    let success: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("lifeboat_last_success_timestamp_seconds "))
        .expect("last success")
        .parse()
        .unwrap();
    assert!(success >= before as f64, "{success} < {before}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o644, "readable by the collector");
    let leftovers: Vec<_> =
        std::fs::read_dir(file.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    // A second, partial cycle: the file says so.
    std::fs::write(sb.source_dir().join("analytics.db"), b"not a database").unwrap();
    sb.scheduler().arg("--once").output().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    promtool_accepts(&text);
    assert!(text.contains("lifeboat_runs_total{status=\"partial\"} 1"), "{text}");
    assert!(text.contains("lifeboat_database_integrity_ok{database=\"analytics.db\"} 0"), "{text}");
}

#[test]
fn the_daemon_serves_metrics_over_http() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sb = Sandbox::new("0 0 1 1 *", &format!("[monitoring]\nmetrics_listen = \"127.0.0.1:{port}\"\n"));
    let mut child = spawn(sb.scheduler());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let text = wait_for(Duration::from_secs(30), || {
        rt.block_on(async { reqwest::get(&url).await.ok()?.error_for_status().ok()?.text().await.ok() })
    })
    .expect("GET /metrics answered");
    promtool_accepts(&text);
    assert!(text.contains("lifeboat_scheduler_up"), "{text}");
    signal(&child, "TERM");
    let (code, stderr, _) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn idle_connections_cannot_crowd_out_a_scrape_and_are_closed_after_the_bound() {
    use std::io::{Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sb = Sandbox::new("0 0 1 1 *", &format!("[monitoring]\nmetrics_listen = \"127.0.0.1:{port}\"\n"));
    let mut child = spawn(sb.scheduler());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let scrape = || rt.block_on(async { reqwest::get(&url).await.ok()?.error_for_status().ok()?.text().await.ok() });
    wait_for(Duration::from_secs(30), scrape).expect("GET /metrics answered");

    // 300 connections: half idle, half sending a request one byte at a time.
    let mut held: Vec<std::net::TcpStream> = (0..300)
        .map(|i| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            if i % 2 == 0 {
                c.write_all(b"GET /metrics HTTP/1.1\r\nHo").unwrap();
            }
            c
        })
        .collect();
    let started = Instant::now();
    let text = scrape().expect("a scrape answers past the held connections");
    assert!(text.contains("lifeboat_scheduler_up"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let fds = std::fs::read_dir(format!("/proc/{}/fd", child.id())).unwrap().count();
    assert!(fds < 150, "the daemon holds {fds} descriptors");

    // Past the bound every held connection has been closed by the daemon.
    std::thread::sleep(Duration::from_secs(12));
    for (i, c) in held.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 64];
        let read = c.read(&mut buf);
        let still_open = match &read {
            Ok(n) => *n > 0,
            Err(e) => matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        };
        assert!(!still_open, "connection {i} is still open: {read:?}");
    }
    assert!(scrape().is_some());
    signal(&child, "TERM");
    let (code, stderr, _) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_metrics_port_in_use_stops_the_daemon_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let sb = Sandbox::new("0 0 1 1 *", &format!("[monitoring]\nmetrics_listen = \"{addr}\"\n"));
    let mut child = spawn(sb.scheduler());
    let (code, stderr, _) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("monitoring.metrics_listen") && stderr.contains(&addr.to_string()), "{stderr}");
}

#[test]
fn each_cycle_reads_back_a_stored_archive_and_a_damaged_one_is_an_incident() {
    let sb = Sandbox::new("0 * * * *", "");
    let once = || {
        sb.write_a_row(true); // a change, so each cycle writes an archive
        let out = sb.scheduler().arg("--once").output().unwrap();
        std::thread::sleep(Duration::from_millis(1100)); // distinct archive names
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(once().0, Some(0));
    let first = sb.archive_folder_entries().remove(0);
    assert_eq!(once().0, Some(0));
    let v = sb.state().verifications().unwrap();
    assert_eq!((v.len(), v[0].archive.as_str(), v[0].ok), (1, first.as_str(), true), "{v:?}");

    // The disk rots under the first archive.
    let path = sb.output_dir().join(&first);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&path, bytes).unwrap();
    // Re-read in turn: the second archive (never re-read), then the first.
    let (_, out) = once();
    assert!(!out.contains("FAILED"), "{out}");
    let (code, out) = once();
    assert_eq!(code, Some(0), "the new backup itself is fine");
    assert!(out.contains(&format!("re-verified {first}: FAILED")), "{out}");
    let open = sb.state().open_incidents().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].detail.contains(&first), "{open:?}");

    // Gone from the disk: the incident closes on the next read-back.
    std::fs::remove_file(&path).unwrap();
    once();
    assert!(sb.state().open_incidents().unwrap().is_empty());
}

/// A new age key pair made by `age-keygen`: (key file, public key).
fn age_key(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    let made = std::process::Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen is installed");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string();
    (key, public)
}

/// After a key rotation this machine's identity cannot open the older
/// archives: their read-back says so and alarms nobody, while an archive
/// that is really damaged still opens the incident.
#[test]
fn an_archive_sealed_to_other_recipients_is_not_called_damaged_but_a_damaged_one_is() {
    let keys = tempfile::tempdir().unwrap();
    let (old_key, old_public) = age_key(keys.path(), "old.txt");
    let (new_key, new_public) = age_key(keys.path(), "new.txt");
    let sealed_to = |key: &std::path::Path, public: &str| {
        format!(
            "[encryption]\nmode = \"age\"\nrecipients = [{public:?}]\nidentity_file = {:?}\n",
            key.display().to_string()
        )
    };
    let sb = Sandbox::new("0 * * * *", &sealed_to(&old_key, &old_public));
    let once = || {
        sb.write_a_row(true);
        let out = sb.scheduler().arg("--once").output().unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(once().0, Some(0));
    let first = sb.archive_folder_entries().remove(0);
    assert!(first.ends_with(".zip.age"), "{first}");

    sb.write_config("0 * * * *", &sealed_to(&new_key, &new_public));
    let (code, out) = once();
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
    let v = sb.state().verifications().unwrap();
    let read = v.iter().find(|v| v.archive == first).unwrap_or_else(|| panic!("{first} was not read back: {v:?}"));
    assert!(read.ok && read.cannot_open_here(), "{read:?}");
    assert!(sb.state().open_incidents().unwrap().is_empty(), "no alarm for a key this machine lacks");

    // The second archive, sealed to the key held here, rots on the disk.
    let second = sb.archive_folder_entries().into_iter().find(|e| *e != first).unwrap();
    let path = sb.output_dir().join(&second);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&path, bytes).unwrap();
    let (_, out) = once();
    assert!(out.contains(&format!("re-verified {second}: FAILED")), "{out}");
    let open = sb.state().open_incidents().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].detail.contains(&second) && !open[0].detail.contains(&first), "{open:?}");
}

/// Under age without an identity, `schedule.full_cron` makes differentials
/// (against the page hashes kept when the full archive was written), and
/// nothing warns that it cannot. When the machine later gets a key of its
/// own, its differentials against the older base (sealed to the old key)
/// are read back as "cannot open here", never as damaged.
#[test]
fn full_cron_makes_differentials_under_age_without_an_identity_and_a_later_key_raises_no_alarm() {
    let keys = tempfile::tempdir().unwrap();
    let (_, old_public) = age_key(keys.path(), "old.txt");
    let (new_key, new_public) = age_key(keys.path(), "new.txt");
    let sealed_to = |public: &str, identity: Option<&std::path::Path>| {
        let identity = identity.map(|k| format!("identity_file = {:?}\n", k.display().to_string())).unwrap_or_default();
        format!("[encryption]\nmode = \"age\"\nrecipients = [{public:?}]\n{identity}")
    };
    let sb = Sandbox::new("0 * * * *", &sealed_to(&old_public, None));
    let with_full_cron = || {
        let text = std::fs::read_to_string(sb.config_path()).unwrap();
        std::fs::write(sb.config_path(), text.replace("[schedule]\n", "[schedule]\nfull_cron = \"0 0 1 1 *\"\n"))
            .unwrap();
    };
    with_full_cron();
    let once = || {
        sb.write_a_row(true);
        let out = sb.scheduler().arg("--once").output().unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(!said.contains("FAILED") && !said.contains("has no effect"), "{said}");
        said
    };
    once();
    once();
    let names = sb.archive_folder_entries();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with(".zip.age") && !names[0].contains(".diff."), "{names:?}");
    assert!(names[1].ends_with(".diff.zip.age"), "a differential without any key here: {names:?}");

    // The machine gets a key of its own; new archives are sealed to it.
    sb.write_config("0 * * * *", &sealed_to(&new_public, Some(&new_key)));
    with_full_cron();
    for _ in 0..6 {
        once();
    }
    let names = sb.archive_folder_entries();
    assert!(names[2..].iter().all(|n| n.ends_with(".diff.zip.age")), "{names:?}");
    let v = sb.state().verifications().unwrap();
    assert!(v.iter().all(|v| v.ok), "{v:?}");
    let read = v.iter().find(|v| v.archive == names[2]).unwrap_or_else(|| panic!("{} not read back: {v:?}", names[2]));
    assert!(read.cannot_open_here() && read.detail.contains("its base"), "{read:?}");
    assert!(sb.state().open_incidents().unwrap().is_empty(), "no alarm for a key this machine lacks");
}
