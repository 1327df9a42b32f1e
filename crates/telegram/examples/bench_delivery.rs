//! Delivery benchmark (run it with `bench/deliver.sh`, figures in
//! `docs/benchmarks.md`, section "Delivery").
//!
//! `bench_delivery SCHEDULER_BIN SRC_DIR RUN_DIR MAX_UPLOAD_MB [ADMINS=5]`
//!
//! Starts the fake Telegram server (lifeboat-testkit) on 127.0.0.1:0 with
//! the same upload limit as `telegram.max_upload_mb`, writes a config for
//! ADMINS admins in RUN_DIR (wiped first), and runs one real cycle as
//! production does: `lifeboat-scheduler --config … --once` under
//! `/usr/bin/time -v`, so the peak RSS is Lifeboat's alone (the fake server,
//! which keeps every uploaded byte in memory, lives in this process).
//!
//! Then it checks from the fake server's records that each archive file was
//! uploaded exactly once (one multipart request, byte-identical to the file
//! on disk) and sent to each other admin by that upload's `file_id`, and
//! prints one markdown table row. Times come from the clock of this machine:
//! the cycle starts when the scheduler process is spawned; the backup phase
//! ends at the run's `finished_at` (backup + verify, in the state database);
//! the last confirmation is the latest `updated_at` of the archive's
//! delivered outbox rows, written when Telegram's answer was received.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{DateTime, Utc};
use lifeboat_core::state::{OutboxStatus, State};
use lifeboat_testkit::fake_telegram::FakeTelegram;

/// First admin's chat id; the others follow.
const FIRST_ADMIN: i64 = 9_100_001;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(4..=5).contains(&args.len()) {
        eprintln!("usage: bench_delivery SCHEDULER_BIN SRC_DIR RUN_DIR MAX_UPLOAD_MB [ADMINS=5]");
        std::process::exit(2);
    }
    let scheduler = PathBuf::from(&args[0]);
    let src = std::fs::canonicalize(&args[1]).unwrap_or_else(|e| fail(&format!("source dir {}: {e}", args[1])));
    let run_dir = PathBuf::from(&args[2]);
    let max_mb: u64 = args[3].parse().unwrap_or_else(|_| fail("MAX_UPLOAD_MB must be a number"));
    let n_admins: i64 = args.get(4).map_or(5, |a| a.parse().unwrap_or_else(|_| fail("ADMINS must be a number")));
    let admins: Vec<i64> = (0..n_admins).map(|i| FIRST_ADMIN + i).collect();

    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| fail(&format!("{}: {e}", run_dir.display())));
    let run_dir = std::fs::canonicalize(&run_dir).unwrap();
    let out = run_dir.join("backups");

    let fake = FakeTelegram::start_blocking();
    // The official server's 50 MB, or what a local Bot API server allows.
    fake.set_upload_limit(max_mb * 1_000_000);
    let config = run_dir.join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ncompression_level = 6\n\n\
             [telegram]\ntoken = \"123456:BENCHbenchBENCHbenchBENCHbench_0123\"\napi_url = {:?}\nadmin_ids = {admins:?}\nmax_upload_mb = {max_mb}\n",
            src.display().to_string(),
            out.display().to_string(),
            fake.api_url(),
        ),
    )
    .unwrap();

    let time_file = run_dir.join("time.txt");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v").arg("-o").arg(&time_file).arg(&scheduler).arg("--config").arg(&config).arg("--once");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LIFEBOAT") {
            cmd.env_remove(&k);
        }
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let load1 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let t0_utc = Utc::now();
    let t0 = Instant::now();
    let output =
        cmd.output().unwrap_or_else(|e| fail(&format!("cannot run /usr/bin/time {}: {e}", scheduler.display())));
    let process_wall = t0.elapsed().as_secs_f64();
    std::fs::write(run_dir.join("scheduler.out"), &output.stdout).unwrap();
    std::fs::write(run_dir.join("scheduler.err"), &output.stderr).unwrap();
    if !output.status.success() {
        fail(&format!(
            "the cycle failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let time_v = std::fs::read_to_string(&time_file).unwrap_or_default();
    let peak_rss_kb: u64 = time_field(&time_v, "Maximum resident set size (kbytes)")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(&format!("no peak RSS in {}", time_file.display())));
    // CPU time is steadier than wall time on a shared machine.
    let cpu_s: f64 = ["User time (seconds)", "System time (seconds)"]
        .iter()
        .filter_map(|f| time_field(&time_v, f)?.parse::<f64>().ok())
        .sum();

    // What Lifeboat recorded.
    let state = State::open(&out.join(".lifeboat/state.db")).unwrap_or_else(|e| fail(&e.to_string()));
    let run = state.runs(1).unwrap().into_iter().next().unwrap_or_else(|| fail("no run recorded"));
    let archive = run.end.archive.clone().unwrap_or_else(|| fail("the run has no archive"));
    let backup_end = run.finished_at.unwrap_or_else(|| fail("the run did not finish"));
    let rows = state.deliveries_for(&archive).unwrap();
    let files: Vec<PathBuf> = {
        let mut names: Vec<&str> = rows.iter().map(|r| r.file_name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.iter().map(|n| out.join(n)).collect()
    };
    let parts = files.len();
    let archive_bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    if rows.len() != parts * admins.len() || rows.iter().any(|r| r.status != OutboxStatus::Delivered) {
        fail(&format!("not every (file, admin) outbox row is delivered: {rows:#?}"));
    }
    let last_confirmed: DateTime<Utc> = rows.iter().map(|r| r.updated_at).max().unwrap();

    // What the server saw: one upload per file, the rest by its file_id.
    let uploads = fake.uploads();
    let mut by_file: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let ups: Vec<_> = uploads.iter().filter(|u| u.file_name == name).collect();
        if ups.len() != 1 {
            fail(&format!("{name} was uploaded {} times, expected once", ups.len()));
        }
        let up = ups[0];
        let on_disk = std::fs::read(f).unwrap();
        if up.bytes != on_disk {
            fail(&format!("{name}: the uploaded bytes differ from the file on disk"));
        }
        let mut resent = 0;
        for &chat in admins.iter().filter(|&&c| c != up.chat_id) {
            let docs = fake.documents(chat);
            let doc = docs
                .iter()
                .find(|d| d.file_name.as_deref() == Some(name.as_str()) || d.file_id.as_deref() == Some(&up.file_id));
            match doc {
                Some(d) if d.by_file_id && d.file_id.as_deref() == Some(up.file_id.as_str()) => resent += 1,
                Some(_) => fail(&format!("{name} reached {chat} but not by the uploaded file_id")),
                None => fail(&format!("{name} never reached {chat}")),
            }
        }
        by_file.insert(name, (ups.len(), resent));
    }
    let send_calls = fake.calls("sendDocument");
    let upload_calls = send_calls.iter().filter(|c| c.upload).count();
    let uploaded_bytes: u64 = send_calls.iter().filter(|c| c.upload).map(|c| c.upload_size).sum();
    let file_id_calls = send_calls.iter().filter(|c| !c.upload).count();
    let failed_calls = send_calls.iter().filter(|c| c.status != 200).count();
    if upload_calls != parts || uploaded_bytes != archive_bytes {
        fail(&format!(
            "{upload_calls} upload requests ({uploaded_bytes} B) for {parts} files ({archive_bytes} B): \
             something was uploaded twice"
        ));
    }
    if file_id_calls != parts * (admins.len() - 1) || failed_calls != 0 {
        fail(&format!("{file_id_calls} file_id sends and {failed_calls} failed sendDocument calls"));
    }
    let first_send = send_calls.iter().map(|c| c.at).min().unwrap();

    let secs = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_milliseconds() as f64 / 1000.0;
    let backup_s = secs(t0_utc, backup_end);
    let delivery_s = secs(backup_end, last_confirmed);
    let total_s = secs(t0_utc, last_confirmed);
    let first_send_s = first_send.duration_since(t0).as_secs_f64();
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        // Where the delivery time goes: request starts (server clock) and
        // confirmations (the outbox), both from the cycle's start.
        let mut lines: Vec<(f64, String)> = send_calls
            .iter()
            .map(|c| {
                let what =
                    if c.upload { format!("upload {:.1} MB", c.upload_size as f64 / 1e6) } else { "by file_id".into() };
                (c.at.duration_since(t0).as_secs_f64(), format!("request  chat {:?} {what}", c.chat_id.unwrap_or(0)))
            })
            .collect();
        lines.extend(rows.iter().map(|r| {
            (
                secs(t0_utc, r.updated_at),
                format!("confirmed chat {} {} (part {}/{})", r.chat_id, r.file_name, r.part, r.parts),
            )
        }));
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (t, l) in lines {
            eprintln!("  {t:7.3} s  {l}");
        }
    }
    for (name, (up, resent)) in &by_file {
        eprintln!("  {name}: {up} upload, {resent} file_id sends");
    }
    eprintln!(
        "  first sendDocument at {first_send_s:.2} s; process exit at {process_wall:.2} s; verified: {}",
        run.end.verified
    );
    println!(
        "| {max_mb} | {} | {:.1} MB | {parts} | {upload_calls} | {file_id_calls} | {backup_s:.2} | {delivery_s:.2} | \
         **{total_s:.2}** | {process_wall:.2} | {:.1} MiB | {cpu_s:.2} | {load1} |",
        admins.len(),
        archive_bytes as f64 / 1e6,
        peak_rss_kb as f64 / 1024.0,
    );
}

/// A `/usr/bin/time -v` field, e.g. "Maximum resident set size (kbytes)".
fn time_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

fn fail(msg: &str) -> ! {
    eprintln!("bench_delivery: {msg}");
    std::process::exit(1)
}
