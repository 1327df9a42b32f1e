//! Shared setup for delivery tests: real databases, a real backup archive,
//! and a configuration pointing at the fake Bot API server.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::state::State;
use lifeboat_core::verify::{self, VerifyOptions};
use lifeboat_core::{CancellationToken, Trigger};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupOptions};
use lifeboat_testkit::FakeTelegram;
use lifeboat_testkit::sqlite::{Mode, create_ledger};

/// A token that looks real (config validation checks the shape).
pub const TOKEN: &str = "7000000001:AAHq3ZxV9kLmN0pRtYw2BcDeFgHiJkL7sUo";

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub cfg: Config,
}

impl Setup {
    pub fn out(&self) -> PathBuf {
        self.cfg.backup.output_dir.clone()
    }
    pub fn state(&self) -> State {
        self.cfg.open_state().unwrap()
    }
}

/// Two ledger databases (`payments` rows each with `note_bytes` of text)
/// and a config for `admins`, retrying `attempts` times with no delay.
pub fn setup(fake: &FakeTelegram, admins: &[i64], attempts: u32, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sqlite_data");
    let out = dir.path().join("backups");
    std::fs::create_dir_all(&src).unwrap();
    let ids = admins.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
    let cfg = Config::from_toml(&format!(
        r#"
[backup]
source_dir = {src:?}
output_dir = {out:?}
databases = ["user_requests.db", "analytics.db"]
[telegram]
token = "{TOKEN}"
api_url = "{url}"
admin_ids = [{ids}]
{extra}
[retry]
attempts = {attempts}
initial_delay_secs = 0
max_delay_secs = 1
"#,
        src = src.to_str().unwrap(),
        out = out.to_str().unwrap(),
        url = fake.api_url(),
    ))
    .unwrap();
    Setup { dir, cfg }
}

/// Makes the databases and runs a real backup; returns the stored archive.
pub fn backup(s: &Setup, payments: u64, note_bytes: usize, at: DateTime<Utc>) -> StoredArchive {
    for name in &s.cfg.backup.databases {
        let p = s.cfg.backup.source_dir.join(name);
        if !p.exists() {
            create_ledger(&p, Mode::Wal, payments, note_bytes).unwrap();
        }
    }
    let state = s.state();
    let outcome = backup::run(
        &s.cfg,
        &state,
        BackupOptions {
            trigger: Trigger::Scheduled,
            only: None,
            progress: None,
            cancel: CancellationToken::new(),
            now: at,
        },
    )
    .unwrap();
    outcome.archive
}

pub fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

/// Writes received bytes under `name` in a fresh folder and verifies them
/// as an archive: CRCs, manifest checksums and integrity_check of each
/// database inside.
pub fn verify_received(dir: &Path, parts: &[(String, Vec<u8>)]) {
    let folder = tempfile::tempdir_in(dir).unwrap();
    let mut files = Vec::new();
    for (name, bytes) in parts {
        let p = folder.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        files.push(p);
    }
    let name = parts[0].0.trim_end_matches(".001").to_string();
    let archive =
        StoredArchive { name, created_at: Utc::now(), size: parts.iter().map(|p| p.1.len() as u64).sum(), files };
    let scratch = tempfile::tempdir_in(dir).unwrap();
    let report = verify::verify(
        &archive,
        &lifeboat_core::seal::Keys::none(),
        scratch.path(),
        VerifyOptions { integrity_check: true },
    )
    .unwrap();
    assert!(report.is_ok(), "received archive does not verify: {report:?}");
    assert_eq!(report.databases.len(), 2);
}
