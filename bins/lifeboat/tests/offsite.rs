//! Off-site copies in a real S3-compatible store (SeaweedFS on loopback):
//! a multipart upload byte for byte, `fetch` + `restore` on a fresh server,
//! retention mirrored without ever reaching further than the local policy,
//! and a store that is down being caught up next cycle.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use lifeboat_testkit::servers::SeaweedFs;

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// A bot with `app.db` of about `mb` MB of random bytes, archives in
    /// `out_name`, one S3 destination, and `extra` TOML.
    fn new(s3: &SeaweedFs, mb: u64, extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { config: dir.path().join("lifeboat.toml"), dir };
        common::random_db(&env.path("data"), mb);
        env.write_config(s3, "out", extra);
        env
    }

    fn write_config(&self, s3: &SeaweedFs, out: &str, extra: &str) {
        std::fs::write(
            &self.config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"app.db\"]\ncompression_level = 0\n{extra}\n\
                 [retry]\nattempts = 2\ninitial_delay_secs = 0\nmax_delay_secs = 1\n{}",
                self.path("data"),
                self.path(out),
                common::s3_destination(self.dir.path(), s3),
            ),
        )
        .unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(common::lifeboat(&self.config, self.dir.path(), args))
    }

    /// `backup --deliver` (a whole cycle): the archive path and the output.
    fn cycle(&self, code: i32) -> (PathBuf, String) {
        let out = self.cmd(&["backup", "--deliver"]).assert().code(code).get_output().clone();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let archive = PathBuf::from(stdout.lines().next().unwrap_or_default().trim());
        (archive, stdout + &String::from_utf8_lossy(&out.stderr))
    }

    fn remote(&self) -> Vec<String> {
        let out = self.cmd(&["list", "--remote", "offsite", "--json"]).assert().success().get_output().stdout.clone();
        let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(rows.as_array().unwrap().iter().all(|r| r["schema"] == 1), "{rows}");
        rows.as_array().unwrap().iter().map(|r| r["archive"].as_str().unwrap().to_string()).collect()
    }

    fn write_row(&self) {
        let conn = rusqlite::Connection::open(self.path("data/app.db")).unwrap();
        conn.execute("INSERT INTO blobs (b) VALUES (randomblob(100))", []).unwrap();
    }
}

use common::file_name as name;

#[test]
fn a_large_archive_goes_off_site_whole_and_a_fresh_server_restores_it() {
    let s3 = SeaweedFs::start();
    let env = Env::new(&s3, 120, "");
    let (archive, said) = env.cycle(0);
    assert!(said.contains("sent to s3:offsite"), "{said}");
    let local = std::fs::read(&archive).unwrap();
    assert!(local.len() > 100_000_000, "{} bytes: a multipart upload", local.len());
    let object = s3.object(&format!("bot/{}", name(&archive))).expect("the object is there");
    assert!(object == local, "the object's bytes equal the local archive's");
    assert_eq!(env.remote(), [name(&archive)]);

    // A fresh server: only the config, an empty archive folder.
    env.write_config(&s3, "fresh", "");
    let out = env.cmd(&["fetch", "offsite", "latest"]).assert().success().get_output().stdout.clone();
    let fetched = PathBuf::from(String::from_utf8_lossy(&out).trim());
    assert_eq!(fetched, env.path("fresh").join(name(&archive)));
    assert!(std::fs::read(&fetched).unwrap() == local);
    let to = env.path("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]).assert().success();
    let rows: i64 = rusqlite::Connection::open(to.join("app.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, (120_000_000 / 4100) as i64);
    // Again, as JSON: it is there already, and left as it is.
    let out = env.cmd(&["fetch", "offsite", "latest", "--json"]).assert().success().get_output().stdout.clone();
    let again: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(again["schema"], 1);
    assert_eq!(again["downloaded"], serde_json::json!([]), "{again}");
    assert_eq!(again["present"], serde_json::json!([name(&archive)]), "{again}");
    // Asking for what the bucket does not hold says what it does hold.
    env.cmd(&["fetch", "offsite", "database_backup_20200101_000000.zip"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("list --remote offsite"));
}

#[test]
fn retention_on_the_bucket_follows_the_local_policy_and_never_goes_further() {
    let s3 = SeaweedFs::start();
    let env = Env::new(&s3, 1, "[retention]\nmax_count = 2");
    let mut made = Vec::new();
    for _ in 0..4 {
        env.write_row();
        made.push(name(&env.cycle(0).0));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    // Local retention kept the newest two; the bucket drops what it
    // removed (the oldest one in the cycle after it was removed).
    env.write_row();
    made.push(name(&env.cycle(0).0));
    let remote = env.remote();
    let local = lifeboat_core::catalog::list(&env.path("out")).unwrap();
    assert_eq!(local.len(), 2);
    for l in &local {
        assert!(remote.contains(&l.name), "what the local policy keeps stays off-site: {remote:?}");
    }
    assert!(!remote.contains(&made[0]) && !remote.contains(&made[1]), "{remote:?}");

    // A fresh server with an empty folder deletes nothing off-site.
    let before = env.remote();
    env.write_config(&s3, "fresh", "[retention]\nmax_count = 1");
    env.write_row();
    let (newest, _) = env.cycle(0);
    env.write_row();
    env.cycle(0);
    let after = env.remote();
    for b in &before {
        assert!(after.contains(b), "{b} was deleted by a server that never had it: {after:?}");
    }
    assert!(after.contains(&name(&newest)));
}

#[test]
fn the_last_good_copy_of_a_database_that_keeps_failing_stays_here_and_off_site() {
    let s3 = SeaweedFs::start();
    let env = Env::new(&s3, 1, "[retention]\nmax_count = 2");
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, config.replace("[\"app.db\"]", "[\"app.db\", \"premium.db\"]")).unwrap();
    let premium = env.path("data/premium.db");
    let conn = rusqlite::Connection::open(&premium).unwrap();
    conn.execute_batch(
        "CREATE TABLE payments (id INTEGER PRIMARY KEY, note TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
         INSERT INTO payments (note) SELECT hex(randomblob(500)) FROM n;",
    )
    .unwrap();
    drop(conn);
    let (good, _) = env.cycle(0);
    let size = std::fs::metadata(&premium).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&premium).unwrap();
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(size / 2)).unwrap();
    std::io::Write::write_all(&mut f, &vec![0xA5; 64 * 1024]).unwrap();
    drop(f);
    // Twice max_count partial cycles, each archive without premium.db.
    for _ in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        env.write_row();
        let (_, said) = env.cycle(3);
        assert!(said.contains("premium.db"), "{said}");
    }
    let local: Vec<String> =
        lifeboat_core::catalog::list(&env.path("out")).unwrap().into_iter().map(|a| a.name).collect();
    assert!(local.contains(&name(&good)), "the only archive holding premium.db was removed: {local:?}");
    assert_eq!(local.len(), 3, "the two newest and the last good copy: {local:?}");
    assert!(env.remote().contains(&name(&good)), "the bucket followed a removal retention must not make");
    let out = env.cmd(&["list", "--json"]).assert().success().get_output().stdout.clone();
    let list: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let row = list.as_array().unwrap().iter().find(|r| r["name"] == name(&good).as_str()).expect("listed");
    assert_eq!(row["kept_by"], serde_json::json!(["last-good:premium.db"]), "{list}");
}

#[test]
fn after_a_live_restore_diagnose_and_the_next_cycle_agree_on_what_goes_off_site() {
    let s3 = SeaweedFs::start();
    let env = Env::new(&s3, 1, "");
    env.cycle(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.write_row();
    env.cmd(&["restore", "latest", "--yes"]).assert().success();
    let safety: Vec<String> = lifeboat_core::catalog::list(&env.path("out"))
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .filter(|n| !env.remote().contains(n))
        .collect();
    assert_eq!(safety.len(), 1, "the restore's safety snapshot: {safety:?}");
    let out = env.cmd(&["diagnose", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = v["findings"].as_array().unwrap().iter().find(|f| f["subject"] == "s3:offsite").unwrap();
    assert_eq!(store["level"], "ok", "diagnose promises an upload: {store}");

    // The next cycle indeed never sends the safety snapshot: it stays on
    // this server.
    env.cycle(0);
    assert!(!env.remote().contains(&safety[0]), "{:?}", env.remote());
    let out = env.cmd(&["diagnose", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = v["findings"].as_array().unwrap().iter().find(|f| f["subject"] == "s3:offsite").unwrap();
    assert_eq!(store["level"], "ok", "{store}");
}

#[test]
fn a_store_that_is_down_is_caught_up_next_cycle() {
    let mut s3 = SeaweedFs::start();
    let env = Env::new(&s3, 1, "");
    s3.kill();
    let (first, said) = env.cycle(3);
    assert!(said.contains("not yet sent to s3:offsite"), "{said}");
    let list = env.cmd(&["status"]).assert().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&list).contains("offsite"), "{}", String::from_utf8_lossy(&list));
    // Retention keeps an archive still owed to the store.
    assert!(first.is_file());
    let metrics = env.cmd(&["metrics"]).assert().success().get_output().stdout.clone();
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains(r#"lifeboat_deliveries{destination="s3:offsite",status="pending"} 1"#), "{metrics}");
    let diag = env.cmd(&["diagnose"]).assert().code(1).get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&diag).contains("[error] s3:offsite"), "{}", String::from_utf8_lossy(&diag));
    s3.run();
    catches_up(&env, &s3, &first);
    let diag = env.cmd(&["diagnose"]).assert().get_output().stdout.clone();
    assert!(
        String::from_utf8_lossy(&diag).contains("[ok   ] s3:offsite: reachable, 2 archive(s)"),
        "{}",
        String::from_utf8_lossy(&diag)
    );
}

#[test]
fn a_store_killed_mid_upload_holds_no_half_archive_and_is_caught_up() {
    let mut s3 = SeaweedFs::start();
    let env = Env::new(&s3, 60, "");
    let mut cycle = common::lifeboat(&env.config, env.dir.path(), &["backup", "--deliver"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !s3.upload_in_progress() {
        assert!(cycle.try_wait().unwrap().is_none(), "the cycle ended before its upload could be interrupted");
        assert!(std::time::Instant::now() < deadline, "no upload started within 120 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    s3.kill();
    let out = cycle.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("not yet sent to s3:offsite"), "{said}");
    let first = PathBuf::from(said.lines().next().unwrap().trim());
    s3.run();
    assert!(!env.remote().contains(&name(&first)), "no half object is listed");
    assert!(s3.object(&format!("bot/{}", name(&first))).is_none());

    std::thread::sleep(std::time::Duration::from_millis(1100));
    catches_up(&env, &s3, &first);
}

/// The next cycle stores its own archive and the owed `first`, whole.
fn catches_up(env: &Env, s3: &SeaweedFs, first: &Path) {
    env.write_row();
    let (second, said) = env.cycle(0);
    assert!(said.contains("sent to s3:offsite"), "{said}");
    let remote = env.remote();
    assert!(remote.contains(&name(first)) && remote.contains(&name(&second)), "{remote:?}");
    assert!(s3.object(&format!("bot/{}", name(first))).unwrap() == std::fs::read(first).unwrap());
}

#[test]
fn wrong_keys_are_named_and_never_shown() {
    let s3 = SeaweedFs::start();
    let env = Env::new(&s3, 1, "");
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(env.path("s3-secret"), "not-the-secret-key-123\n").unwrap();
    let (_, said) = env.cycle(3);
    assert!(said.contains("SignatureDoesNotMatch"), "{said}");
    assert!(!said.contains("not-the-secret-key-123") && !said.contains(&s3.secret_key), "{said}");
    env.cmd(&["list", "--remote", "offsite"]).assert().code(1);
    let state = std::fs::read(env.path("out/.lifeboat/state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&state).contains("not-the-secret-key-123"));
    assert!(config.contains("secret_access_key_file"));
}

#[test]
fn a_store_that_never_answers_fails_listing_and_upload_within_its_timeout() {
    let silent = lifeboat_testkit::servers::Silent::start();
    let dir = tempfile::tempdir().unwrap();
    common::random_db(&dir.path().join("data"), 1);
    let secret = dir.path().join("s3-secret");
    std::fs::write(&secret, "not-a-real-secret-key\n").unwrap();
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"app.db\"]\n\
             [retry]\nattempts = 1\ninitial_delay_secs = 0\nmax_delay_secs = 1\n\
             [[destinations.s3]]\nname = \"offsite\"\nendpoint = \"http://127.0.0.1:{}\"\nbucket = \"b\"\n\
             access_key_id = \"key\"\nsecret_access_key_file = {secret:?}\ntimeout_secs = 2\n",
            dir.path().join("data"),
            dir.path().join("out"),
            silent.port,
        ),
    )
    .unwrap();
    let run = |args: &[&str], code: i32| {
        let started = std::time::Instant::now();
        let out = Command::from_std(common::lifeboat(&config, dir.path(), args))
            .timeout(std::time::Duration::from_secs(120))
            .assert()
            .code(code)
            .get_output()
            .clone();
        let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(30), "{args:?} took {took:?}: {said}");
        said
    };
    let said = run(&["list", "--remote", "offsite"], 1);
    assert!(said.contains("did not answer in time"), "{said}");
    let said = run(&["backup", "--deliver"], 3);
    assert!(said.contains("not yet sent to s3:offsite") && said.contains("did not answer in time"), "{said}");
}

/// The manifest.json of the ZIP at `archive`.
fn manifest_of(archive: &Path) -> serde_json::Value {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    serde_json::from_reader(zip.by_name("manifest.json").unwrap()).unwrap()
}

/// A ZIP holding only `manifest` as its manifest.json.
fn zip_with_manifest(manifest: &serde_json::Value) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("manifest.json", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(&serde_json::to_vec(manifest).unwrap()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// The archive files (and their temporary files) in `dir`.
fn archive_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("database_backup_"))
        .collect()
}

#[test]
fn a_manifest_naming_its_base_outside_the_archive_folder_writes_nothing_there() {
    let s3 = SeaweedFs::start();
    let env = Env::new(&s3, 1, "");
    let (full, _) = env.cycle(0);
    let manifest = manifest_of(&full);
    let made: chrono::DateTime<chrono::Utc> = serde_json::from_value(manifest["created_at"].clone()).unwrap();
    let absolute = env.path("victim2/notes.txt");
    // The base names, each with the key a fetch that trusted it would ask for.
    let hostile = [
        (
            "../victim/notes.txt".to_string(),
            env.path("victim/notes.txt"),
            "bot/%252E%252E/victim/notes.txt".to_string(),
        ),
        (absolute.display().to_string(), absolute.clone(), format!("bot{}", absolute.display())),
    ];
    env.write_config(&s3, "fresh", "");
    for (i, (base, victim, key)) in hostile.iter().enumerate() {
        std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
        std::fs::write(victim, "the operator's notes").unwrap();
        s3.put_object(key, b"the bucket's bytes");
        let at = made + chrono::Duration::seconds(10 * (i as i64 + 1));
        let mut m = manifest.clone();
        m["created_at"] = serde_json::json!(at);
        m["base"] = serde_json::json!({ "archive": base, "created_at": made });
        let name = format!("database_backup_{}.diff.zip", at.format("%Y%m%d_%H%M%S"));
        s3.put_object(&format!("bot/{name}"), &zip_with_manifest(&m));

        let out = env.cmd(&["fetch", "offsite", &name]).assert().code(1).get_output().clone();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(std::fs::read_to_string(victim).unwrap(), "the operator's notes", "{base}");
        assert!(said.contains("not a full archive's name"), "{base}: {said}");
        let beside: Vec<_> =
            std::fs::read_dir(victim.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(beside, ["notes.txt"], "{base}: nothing is written beside the victim");
        assert!(archive_files(&env.path("fresh")).is_empty(), "{base}: nothing is left behind");
    }
}

#[test]
fn odd_keys_are_skipped_and_an_object_under_another_archives_name_is_refused() {
    let s3 = SeaweedFs::start();
    let env = Env::new(&s3, 1, "");
    let (older, _) = env.cycle(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.write_row();
    let (newer, _) = env.cycle(0);
    s3.put_object("bot/notes%0Aline.zip", b"another writer's object");

    let out = env.cmd(&["list", "--remote", "offsite"]).assert().success().get_output().clone();
    let (listed, said) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(listed.contains(&name(&older)) && listed.contains(&name(&newer)), "{listed}");
    assert!(said.contains("1 object(s) under the prefix were skipped"), "{said}");

    env.write_config(&s3, "fresh", "");
    let out = env.cmd(&["fetch", "offsite", "latest"]).assert().success().get_output().clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 object(s) under the prefix were skipped"));
    let fetched = env.path("fresh").join(name(&newer));
    assert!(std::fs::read(&fetched).unwrap() == std::fs::read(&newer).unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&fetched).unwrap().permissions().mode() & 0o777, 0o600);

    // The older archive's bytes under a newer name.
    let stamp = name(&newer)["database_backup_".len().."database_backup_YYYYMMDD_HHMMSS".len()].to_string();
    let later = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y%m%d_%H%M%S").unwrap() + chrono::Duration::hours(1);
    let swapped = format!("database_backup_{}.zip", later.format("%Y%m%d_%H%M%S"));
    s3.put_object(&format!("bot/{swapped}"), &std::fs::read(&older).unwrap());
    let out = env.cmd(&["fetch", "offsite", &swapped]).assert().code(1).get_output().clone();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is not the archive its name says"), "{said}");
    assert_eq!(archive_files(&env.path("fresh")), [name(&newer)], "nothing of it is left behind");
}

/// A loopback "store" answering every request with a ListObjects page
/// that never ends; returns its address.
fn endless_listing() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let entry = "<Contents><Key>bot/database_backup_20261122_010000.zip</Key>\
                    <LastModified>2026-11-22T01:00:00.000Z</LastModified><Size>1</Size></Contents>";
                let chunk = entry.repeat(500);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n\
                      <?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>bot-backups</Name>",
                );
                while stream.write_all(chunk.as_bytes()).is_ok() {}
            });
        }
    });
    addr
}

/// The resident memory (VmRSS, kB) of process `pid`.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_endless_bucket_listing_ends_with_a_clear_error_in_bounded_memory() {
    let addr = endless_listing();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(dir.path().join("s3-secret"), "secret\n").unwrap();
    std::fs::write(
        &config,
        format!(
            "[backup]\noutput_dir = \"out\"\n[retry]\nattempts = 1\n\
             [[destinations.s3]]\nname = \"offsite\"\nendpoint = \"http://{addr}\"\nbucket = \"bot-backups\"\n\
             prefix = \"bot/\"\naccess_key_id = \"key\"\nsecret_access_key_file = \"s3-secret\"\n"
        ),
    )
    .unwrap();
    let mut child = common::lifeboat(&config, dir.path(), &["list", "--remote", "offsite"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(rss_kb(child.id()));
        if peak > 1_000_000 || started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still listing after {:?} at {peak} kB resident", started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("listing bucket bot-backups stopped: a listing page passed 8 MiB"), "{said}");
    assert!(peak < 300_000, "{peak} kB resident");
}
