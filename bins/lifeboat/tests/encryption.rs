//! Sealed archives end to end, opened by the real tools: `7z` for zip-aes,
//! the `age` command line for age; `unzip` and `sqlite3` check what comes
//! out. Wrong, missing and unusable keys; damaged sealed files; switching
//! modes; and the secrets never showing anywhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

const PASSWORD: &str = "correct horse battery staple 7Zq";

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(encryption: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { config: dir.path().join("lifeboat.toml"), dir };
        env.set_encryption(encryption);
        env.cmd(&["demo", "--no-backup", "--scale-mb", "0.3"]).assert().success();
        env
    }

    fn set_encryption(&self, encryption: &str) {
        let (data, out) = (self.data(), self.out());
        std::fs::write(
            &self.config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\nskip_unchanged = false\n[encryption]\n{encryption}\n",
                data.display(),
                out.display()
            ),
        )
        .unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data(&self) -> PathBuf {
        self.path("data")
    }

    fn out(&self) -> PathBuf {
        self.path("out")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(common::lifeboat(&self.config, self.dir.path(), args))
    }

    /// Runs `backup` and returns the first file it printed.
    fn backup(&self) -> PathBuf {
        let out = self.cmd(&["backup"]).assert().success().get_output().stdout.clone();
        PathBuf::from(String::from_utf8(out).unwrap().lines().next().expect("backup printed a path").trim())
    }

    fn password_file(&self, password: &str) -> PathBuf {
        let p = self.path("archive.pass");
        std::fs::write(&p, format!("{password}\n")).unwrap();
        p
    }

    /// A new age key pair made by `age-keygen`: (key file, public key).
    fn age_key(&self, name: &str) -> (PathBuf, String) {
        let key = self.path(name);
        let o = StdCommand::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen is installed");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&key).unwrap();
        let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string();
        (key, public)
    }
}

fn run(cmd: &mut StdCommand) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn integrity_ok(db: &Path) {
    let o = run(StdCommand::new("sqlite3").arg(db).arg("PRAGMA integrity_check;"));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok", "{}", db.display());
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn first_db(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "db"))
        .unwrap_or_else(|| panic!("no database in {}", dir.display()))
}

#[test]
fn zip_aes_archive_opens_with_7z_and_the_password_only() {
    let env = Env::new("");
    let pass = env.password_file(PASSWORD);
    env.set_encryption(&format!("mode = \"zip-aes\"\npassword_file = {:?}", pass.display()));
    let archive = env.backup();
    assert!(archive.to_string_lossy().ends_with(".zip"), "{}", archive.display());

    // 7-Zip opens it with the password, and says every entry is AES-256.
    let o = run(StdCommand::new("7z").args(["l", "-slt", &format!("-p{PASSWORD}")]).arg(&archive));
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{listing}");
    let methods: Vec<&str> = listing.lines().filter(|l| l.starts_with("Method = ")).collect();
    assert!(methods.len() >= 3 && methods.iter().all(|m| m.contains("AES-256")), "{methods:?}");
    assert!(run(StdCommand::new("7z").args(["t", &format!("-p{PASSWORD}")]).arg(&archive)).status.success());
    let x = env.path("x");
    let o =
        run(StdCommand::new("7z").args(["x", &format!("-p{PASSWORD}"), &format!("-o{}", x.display())]).arg(&archive));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    integrity_ok(&first_db(&x));
    assert!(std::fs::read_to_string(x.join("manifest.json")).unwrap().contains("\"sha256\""));

    // A wrong password fails; a plain reader gets nothing out.
    assert!(!run(StdCommand::new("7z").args(["t", "-pwrong"]).arg(&archive)).status.success());
    let plain = env.path("plain");
    std::fs::create_dir(&plain).unwrap();
    let o = run(StdCommand::new("unzip").args(["-o", "-P", ""]).arg(&archive).arg("-d").arg(&plain));
    assert!(!o.status.success());
    let leaked = std::fs::read_dir(&plain)
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path()).is_ok_and(|b| b.starts_with(b"SQLite format 3") || b.starts_with(b"{")));
    assert!(!leaked, "unzip without the password extracted readable content");
    // No table name or manifest text in the archive's bytes.
    let bytes = std::fs::read(&archive).unwrap();
    for word in [&b"CREATE TABLE"[..], b"integrity", b"Lifeboat backup", PASSWORD.as_bytes()] {
        assert!(
            !bytes.windows(word.len()).any(|w| w == word),
            "{:?} readable in the archive",
            String::from_utf8_lossy(word)
        );
    }

    // Lifeboat verifies, lists and restores it with the configured password.
    env.cmd(&["verify", "latest"]).assert().success();
    let list = env.cmd(&["list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["encryption"], "zip-aes");
    let to = env.path("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "-y"]).assert().success();
    integrity_ok(&first_db(&to));
    env.cmd(&["restore", "latest", "-y"]).assert().success();
    integrity_ok(&first_db(&env.data()));
}

#[test]
fn wrong_or_missing_password_is_a_clear_error_and_writes_nothing() {
    let env = Env::new("");
    let pass = env.password_file(PASSWORD);
    env.set_encryption(&format!("mode = \"zip-aes\"\npassword_file = {:?}", pass.display()));
    env.backup();
    std::fs::write(&pass, "not the password\n").unwrap();
    for args in
        [vec!["verify", "latest"], vec!["restore", "latest", "--to", "restored", "-y"], vec!["restore", "latest", "-y"]]
    {
        let before = std::fs::read(first_db(&env.data())).unwrap();
        let o = env.cmd(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("the password in {} does not open", pass.display())), "{}", stderr(&o));
        assert!(!env.path("restored").exists(), "{args:?} wrote something");
        assert_eq!(std::fs::read(first_db(&env.data())).unwrap(), before, "{args:?} touched the live database");
    }
    // With encryption turned off (no password at all), the old archive
    // still says what it needs.
    env.set_encryption("");
    let o = env.cmd(&["verify", "latest"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("encrypted (zip-aes) and no password is configured"), "{}", stderr(&o));
}

#[test]
fn a_mode_without_a_usable_secret_stops_at_start_with_exit_2() {
    let env = Env::new("");
    let cases = [
        ("mode = \"zip-aes\"".to_string(), "encryption.password_file"),
        ("mode = \"zip-aes\"\npassword_file = \"/nonexistent/pass\"".to_string(), "encryption.password_file"),
        (
            format!("mode = \"zip-aes\"\npassword_file = {:?}", env.password_file("\n").display()),
            "encryption.password_file",
        ),
        ("mode = \"age\"".to_string(), "encryption.recipients"),
        ("mode = \"age\"\nrecipients = [\"age1nope\"]".to_string(), "encryption.recipients"),
        ("mode = \"rot13\"".to_string(), "mode"),
    ];
    for (section, key) in cases {
        env.set_encryption(&section);
        let o = env.cmd(&["backup"]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{section}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{section}: {}", stderr(&o));
    }
    // An identity that opens none of the recipients would fail every backup.
    let (_, public) = env.age_key("a.txt");
    let (other, _) = env.age_key("b.txt");
    env.set_encryption(&format!("mode = \"age\"\nrecipients = [{public:?}]\nidentity_file = {:?}", other.display()));
    let o = env.cmd(&["backup"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("encryption.identity_file") && stderr(&o).contains("opens none"), "{}", stderr(&o));
    let archives = std::fs::read_dir(env.out())
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("database_backup")).count());
    assert_eq!(archives.unwrap_or(0), 0, "a refused configuration wrote an archive");
}

#[test]
fn age_archive_opens_with_the_age_cli_and_with_lifeboat_given_the_key() {
    let env = Env::new("");
    let (key, public) = env.age_key("key.txt");
    env.set_encryption(&format!("mode = \"age\"\nrecipients = [{public:?}]"));
    let sealed = env.backup();
    assert!(sealed.to_string_lossy().ends_with(".zip.age"), "{}", sealed.display());
    assert!(
        !std::fs::read_dir(env.out()).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".zip"))
    );

    // The Debian age tool decrypts it; the ZIP inside is sound.
    let zip = env.path("backup.zip");
    let o = run(StdCommand::new("age").arg("-d").arg("-i").arg(&key).arg("-o").arg(&zip).arg(&sealed));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run(StdCommand::new("unzip").arg("-t").arg(&zip)).status.success());
    let x = env.path("x");
    assert!(run(StdCommand::new("unzip").arg("-q").arg(&zip).arg("-d").arg(&x)).status.success());
    integrity_ok(&first_db(&x));

    // Without the key this server cannot read it, and says how to.
    let o = env.cmd(&["verify", "latest"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no identity") && stderr(&o).contains("--identity"), "{}", stderr(&o));
    let list = env.cmd(&["list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["encryption"], "age");
    // The state database lost: the archive is still listed, from its name.
    std::fs::rename(env.out().join(".lifeboat"), env.path("state-away")).unwrap();
    let list = env.cmd(&["list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!((list[0]["encryption"].as_str(), list[0]["status"].as_str()), (Some("age"), Some("sealed")), "{list}");
    std::fs::rename(env.path("state-away"), env.out().join(".lifeboat")).unwrap();

    // With it: verify, restore --to, live restore.
    env.cmd(&["verify", "latest", "--identity", key.to_str().unwrap()]).assert().success();
    let to = env.path("restored");
    env.cmd(&["restore", "latest", "--to", to.to_str().unwrap(), "--identity", key.to_str().unwrap(), "-y"])
        .assert()
        .success();
    integrity_ok(&first_db(&to));
    env.cmd(&["restore", "latest", "--identity", key.to_str().unwrap(), "-y"]).assert().success();
    integrity_ok(&first_db(&env.data()));

    // A wrong identity: a clear error, exit 1, nothing written.
    let (other, _) = env.age_key("other.txt");
    let o =
        env.cmd(&["restore", "latest", "--to", "wrong", "--identity", other.to_str().unwrap(), "-y"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("the identity in {} does not open", other.display())), "{}", stderr(&o));
    assert!(!env.path("wrong").exists());
    // verify says it cannot open it here, which is no verdict of damage.
    let o = env.cmd(&["verify", "latest", "--identity", other.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot open here") && stderr(&o).contains("no sign of damage"), "{}", stderr(&o));
    // A missing identity file is a usage error.
    let o = env.cmd(&["verify", "latest", "--identity", "/nonexistent/key.txt"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn an_archive_sealed_by_the_age_cli_verifies_with_lifeboat() {
    let env = Env::new("");
    let plain = env.backup();
    let (key, public) = env.age_key("key.txt");
    let sealed = PathBuf::from(format!("{}.age", plain.display()));
    let o = run(StdCommand::new("age").arg("-r").arg(&public).arg("-o").arg(&sealed).arg(&plain));
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(&plain).unwrap();
    env.cmd(&["verify", sealed.to_str().unwrap(), "--identity", key.to_str().unwrap()]).assert().success();
}

#[test]
fn damaged_sealed_files_are_refused_with_nothing_written() {
    let env = Env::new("");
    let (key, public) = env.age_key("key.txt");
    env.set_encryption(&format!("mode = \"age\"\nrecipients = [{public:?}]\nidentity_file = {:?}", key.display()));
    let sealed = env.backup();
    let good = std::fs::read(&sealed).unwrap();
    let pass = env.password_file(PASSWORD);
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for (what, bytes) in [("truncated", good[..good.len() * 2 / 3].to_vec()), ("bit-flipped", flipped)] {
        std::fs::write(&sealed, &bytes).unwrap();
        let o = env.cmd(&["verify", "latest"]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        let o = env.cmd(&["restore", "latest", "--to", "restored", "-y"]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert!(!env.path("restored").exists(), "{what}: something was written");
    }
    std::fs::write(&sealed, &good).unwrap();
    env.cmd(&["verify", "latest"]).assert().success();

    // The same for zip-aes: a flipped byte in an entry fails its
    // authentication code.
    env.set_encryption(&format!("mode = \"zip-aes\"\npassword_file = {:?}", pass.display()));
    let archive = env.backup();
    let mut bytes = std::fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&archive, bytes).unwrap();
    let o = env.cmd(&["restore", "latest", "--to", "restored", "-y"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!env.path("restored").exists());
}

#[test]
fn switching_modes_leaves_every_older_archive_readable_and_splits_sealed_ones() {
    let env = Env::new("");
    let (key, public) = env.age_key("key.txt");
    let pass = env.password_file(PASSWORD);
    let keys =
        format!("password_file = {:?}\nrecipients = [{public:?}]\nidentity_file = {:?}", pass.display(), key.display());
    let mut made = Vec::new();
    for mode in ["none", "zip-aes", "age"] {
        env.set_encryption(&format!("mode = \"{mode}\"\n{keys}"));
        made.push(env.backup());
    }
    // Over the 1 MB limit set here, the age archive splits into
    // .zip.age.001, … (incompressible rows keep it large).
    let conn = rusqlite::Connection::open(first_db(&env.data())).unwrap();
    conn.execute_batch(
        "CREATE TABLE noise(b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
         INSERT INTO noise SELECT randomblob(1024) FROM n;",
    )
    .unwrap();
    drop(conn);
    env.set_encryption(&format!("mode = \"age\"\n{keys}"));
    std::fs::write(
        &env.config,
        std::fs::read_to_string(&env.config)
            .unwrap()
            .replace("[encryption]", "[telegram]\nmax_upload_mb = 1\n[encryption]"),
    )
    .unwrap();
    let o = env.cmd(&["backup"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let first = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().trim().to_string();
    assert!(first.ends_with(".zip.age.001"), "{first}");
    let list = env.cmd(&["list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let modes: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["encryption"].as_str().unwrap()).collect();
    assert_eq!(modes, ["age", "age", "zip-aes", "none"]);
    for a in list.as_array().unwrap() {
        env.cmd(&["verify", a["name"].as_str().unwrap()]).assert().success();
    }
    // Joined parts decrypt with the age tool.
    let name = list[0]["name"].as_str().unwrap();
    let joined = env.path("joined.age");
    let mut all = Vec::new();
    for f in list[0]["files"].as_array().unwrap() {
        all.extend(std::fs::read(f.as_str().unwrap()).unwrap());
    }
    std::fs::write(&joined, all).unwrap();
    let o = run(StdCommand::new("age").arg("-d").arg("-i").arg(&key).arg("-o").arg(env.path("j.zip")).arg(&joined));
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    assert!(run(StdCommand::new("unzip").arg("-t").arg(env.path("j.zip"))).status.success());
}

#[test]
fn secrets_never_show_in_output_logs_state_or_archives() {
    let env = Env::new("");
    let (key, public) = env.age_key("key.txt");
    let identity_secret =
        std::fs::read_to_string(&key).unwrap().lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().to_string();
    let pass = env.password_file(PASSWORD);
    let mut seen = Vec::new();
    for mode in ["zip-aes", "age"] {
        env.set_encryption(&format!(
            "mode = \"{mode}\"\npassword_file = {:?}\nrecipients = [{public:?}]\nidentity_file = {:?}",
            pass.display(),
            key.display()
        ));
        for args in [vec!["backup"], vec!["verify", "latest"], vec!["list"], vec!["status"], vec!["diagnose"]] {
            let o = env.cmd(&args).env("RUST_LOG", "trace").output().unwrap();
            seen.push(String::from_utf8_lossy(&o.stdout).into_owned());
            seen.push(stderr(&o));
        }
        // A wrong password's error names the file, never the secret.
        std::fs::write(&pass, "wrong horse\n").unwrap();
        let o = env.cmd(&["verify", "latest"]).env("RUST_LOG", "trace").output().unwrap();
        seen.push(stderr(&o));
        std::fs::write(&pass, format!("{PASSWORD}\n")).unwrap();
    }
    // Everything Lifeboat wrote: archives, the state database, its logs.
    for entry in walk(&env.out()) {
        seen.push(String::from_utf8_lossy(&std::fs::read(entry).unwrap()).into_owned());
    }
    let all = seen.join("\n");
    assert!(all.contains("backup"), "nothing was captured");
    for secret in [PASSWORD, "wrong horse", identity_secret.as_str(), &identity_secret[20..40]] {
        assert!(!all.contains(secret), "a secret ({} chars) leaked", secret.len());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// Runs `cmd`, killing it and failing if it takes longer than `secs`.
fn within(cmd: &mut StdCommand, secs: u64) -> std::process::Output {
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("start lifeboat");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn an_age_file_with_a_huge_junk_header_gets_a_quick_verdict() {
    let env = Env::new("");
    let (key, public) = env.age_key("key.txt");
    env.set_encryption(&format!("mode = \"age\"\nrecipients = [{public:?}]\nidentity_file = {:?}", key.display()));
    let good = env.backup();
    // 1 MB of stanzas, then an end and a few bytes of payload.
    let mut junk = b"age-encryption.org/v1\n".to_vec();
    while junk.len() < 1_000_000 {
        junk.extend_from_slice(
            b"-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        );
    }
    junk.extend_from_slice(b"--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    junk.extend_from_slice(&[0u8; 64]);
    let name = "database_backup_20200101_000000.zip.age";
    std::fs::write(env.out().join(name), &junk).unwrap();

    let o = within(&mut common::lifeboat(&env.config, env.dir.path(), &["verify", name]), 20);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("more than 64 stanzas"), "{}", stderr(&o));
    let o = within(&mut common::lifeboat(&env.config, env.dir.path(), &["list"]), 20);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = String::from_utf8_lossy(&o.stdout);
    assert!(listed.contains(name) && listed.contains(&good.file_name().unwrap().to_string_lossy().into_owned()));
    // The same junk as one stanza's body: bounded by size instead.
    let mut body = b"age-encryption.org/v1\n-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n".to_vec();
    while body.len() < 1_000_000 {
        body.extend_from_slice(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    }
    body.extend_from_slice(b"AAAA\n--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    std::fs::write(env.out().join(name), &body).unwrap();
    let o = within(&mut common::lifeboat(&env.config, env.dir.path(), &["verify", name]), 20);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not end within 16 KiB"), "{}", stderr(&o));
}

/// `sqlite3 .dump` of every database in `dir`, by file name.
fn dumps(dir: &Path) -> Vec<(String, String)> {
    let mut dbs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    dbs.sort();
    dbs.iter()
        .map(|db| {
            let o = run(StdCommand::new("sqlite3").arg(db).arg(".dump"));
            (db.file_name().unwrap().to_string_lossy().into_owned(), String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .collect()
}

/// Under age without an identity on the server, `schedule.full_cron` makes
/// differentials: only the pages that changed since the full archive,
/// found by the page hashes kept when it was written, since the server
/// cannot read the archive itself. Nothing warns that it cannot; given the
/// key, verify rebuilds it and a restore onto an emptied server brings
/// every database back as it was backed up.
#[test]
fn differentials_under_age_without_an_identity_restore_with_the_key() {
    let env = Env::new("");
    let (key, public) = env.age_key("key.txt");
    env.set_encryption(&format!("mode = \"age\"\nrecipients = [{public:?}]"));
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, format!("{text}[schedule]\nfull_cron = \"0 0 1 1 *\"\n")).unwrap();
    let full = env.backup();
    let full_name = full.file_name().unwrap().to_string_lossy().into_owned();
    assert!(full_name.ends_with(".zip.age") && !full_name.contains(".diff."), "{full_name}");

    let db = env.data().join("premium_system.db");
    let o = run(StdCommand::new("sqlite3").arg(&db).arg(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, t TEXT); \
         INSERT INTO notes (t) VALUES ('one'), ('two'), ('three');",
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = env.cmd(&["backup"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("has no effect"), "{}", stderr(&o));
    let diff = PathBuf::from(String::from_utf8_lossy(&o.stdout).lines().next().unwrap().trim());
    let diff_name = diff.file_name().unwrap().to_string_lossy().into_owned();
    assert!(diff_name.ends_with(".diff.zip.age"), "a differential without a key here: {diff_name}");
    let (full_size, diff_size) = (std::fs::metadata(&full).unwrap().len(), std::fs::metadata(&diff).unwrap().len());
    assert!(diff_size * 4 < full_size, "the differential is {diff_size} bytes, the full archive {full_size}");
    let o = env.cmd(&["status", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["warnings"], serde_json::json!([]), "{json}");

    let backed_up = dumps(&env.data());
    assert!(backed_up.iter().any(|(_, d)| d.contains("'three'")), "{backed_up:?}");
    let key = key.to_str().unwrap();
    env.cmd(&["verify", "latest", "--identity", key]).assert().success();
    // The server loses every database; the key restores them all.
    for f in std::fs::read_dir(env.data()).unwrap().flatten() {
        std::fs::remove_file(f.path()).unwrap();
    }
    env.cmd(&["restore", "latest", "--identity", key, "--yes"]).assert().success();
    assert_eq!(dumps(&env.data()), backed_up);
    integrity_ok(&db);
}

#[test]
fn diagnose_names_the_newest_good_copy_and_the_key_and_that_command_restores() {
    let env = Env::new("");
    let (key, public) = env.age_key("key.txt");
    env.set_encryption(&format!("mode = \"age\"\nrecipients = [{public:?}]"));
    let good = env.backup();
    let good = good.file_name().unwrap().to_string_lossy().into_owned();
    let good = good.as_str();
    let db = env.data().join("premium_system.db");
    let size = std::fs::metadata(&db).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(size / 2)).unwrap();
    std::io::Write::write_all(&mut f, &vec![0xA5; 64 * 1024]).unwrap();
    drop(f);
    // Two more cycles: `latest` is now a partial archive without it.
    for _ in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let o = env.cmd(&["backup"]).assert().code(3).get_output().clone();
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
        assert!(
            said.contains(&format!("its newest good copy: `lifeboat restore {good} --only premium_system.db")),
            "{said}"
        );
    }
    let out = env.cmd(&["diagnose", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = v["findings"].as_array().unwrap().iter().find(|f| f["subject"] == "premium_system.db").unwrap();
    let action = finding["action"].as_str().unwrap();
    let advised = format!("lifeboat restore {good} --only premium_system.db --identity KEY_FILE");
    assert!(action.contains(&advised), "{action}");

    let command: Vec<&str> =
        advised.split(' ').skip(1).map(|w| if w == "KEY_FILE" { key.to_str().unwrap() } else { w }).collect();
    let mut args = command.clone();
    args.push("-y");
    env.cmd(&args).assert().success();
    integrity_ok(&db);
}
