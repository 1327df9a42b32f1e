//! Robustness of the `lifeboat` binary: a full disk, SIGINT/SIGTERM in the
//! middle of a backup, and hostile or odd input. Each must end in a clear
//! error (exit 1, no panic, no backtrace) and lose nothing: no `.tmp`, no
//! partial archive, no working folders, live databases byte-identical.

mod common;

use lifeboat_testkit::tmpfs::Tmpfs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use lifeboat_core::state::{RunStatus, State};
use rusqlite::Connection;

const DBS: [&str; 3] = ["alpha.db", "beta.db", "gamma.db"];

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
    out: PathBuf,
}

impl Env {
    /// A config with the three databases in `data/` and archives in `out`
    /// (default `<tmp>/out`).
    fn new(out: Option<&Path>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("lifeboat.toml");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let out = out.map(Path::to_path_buf).unwrap_or_else(|| dir.path().join("out"));
        let list = DBS.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ");
        std::fs::write(
            &config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [{list}]\ncompression_level = 1\n",
                data.display(),
                out.display()
            ),
        )
        .unwrap();
        Env { dir, config, out }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn args(&self, args: &[&str]) -> StdCommand {
        let mut c = common::lifeboat(&self.config, self.dir.path(), args);
        // A panic would print its backtrace; the tests look for one.
        c.env("RUST_BACKTRACE", "1");
        c
    }

    fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(self.args(args))
    }

    /// Runs a command, returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.args(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Small databases with a few rows each.
    fn small_dbs(&self) {
        for name in DBS {
            blob_db(&self.data().join(name), 50, 300, false);
        }
    }

    fn backup_ok(&self) -> PathBuf {
        let (code, stdout, stderr) = self.run(&["backup"]);
        assert_eq!(code, 0, "{stderr}");
        PathBuf::from(stdout.lines().next().expect("the archive path").trim())
    }

    fn state(&self) -> State {
        State::open(&self.out.join(".lifeboat").join("state.db")).unwrap()
    }
}

/// A database of `rows` rows of `bytes` bytes each: random (incompressible)
/// or random hex (compressible about 2:1, so deflate has work to do).
fn blob_db(path: &Path, rows: u32, bytes: u32, hex: bool) {
    let _ = std::fs::remove_file(path);
    let c = Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE data(id INTEGER PRIMARY KEY, payload BLOB NOT NULL)").unwrap();
    let expr = if hex { "hex(randomblob(?2 / 2))" } else { "randomblob(?2)" };
    c.execute(
        &format!(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1) \
             INSERT INTO data(payload) SELECT {expr} FROM n"
        ),
        [rows, bytes],
    )
    .unwrap();
}

/// No panic, no backtrace, one `error:` line saying what is wrong.
fn assert_clean_error(stderr: &str) {
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "a panic: {stderr}");
    assert!(stderr.contains("error: "), "an error line: {stderr}");
    for line in stderr.lines().filter(|l| l.starts_with("error: ")) {
        if let Some(os) = line.find("(os error ") {
            let cause = &line[..os];
            let cause = &cause[cause.rfind(": ").map(|i| i + 2).unwrap_or(0)..];
            assert_eq!(line.matches(cause).count(), 1, "the cause is said once: {line}");
        }
    }
}

/// Names in the archive folder other than Lifeboat's state folder and `keep`.
fn stray_files(out: &Path, keep: &[PathBuf]) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(out) else { return vec![] };
    rd.flatten()
        .filter(|e| !keep.contains(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lifeboat")
        .collect()
}

fn file_bytes(paths: &[PathBuf]) -> Vec<Vec<u8>> {
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn live(env: &Env) -> Vec<PathBuf> {
    DBS.iter().map(|d| env.data().join(d)).collect()
}

// ---- full disk ------------------------------------------------------------------

/// `fraction`: beta.db's size against the free space. Random bytes do not
/// compress, so above 1 the snapshot itself does not fit, and about 0.5 the
/// compressed copy or the archive (each the database's size again) does not.
fn backup_onto_a_full_disk(fraction: f64) {
    let Some(disk) = Tmpfs::mount(1024) else { return };
    let env = Env::new(Some(&disk.path().join("backups")));
    env.small_dbs();
    let first = env.backup_ok();
    let first_bytes = file_bytes(std::slice::from_ref(&first));

    let free = lifeboat_core::fsutil::available_space(&env.out).unwrap();
    blob_db(&env.data().join("beta.db"), (free as f64 * fraction / 4096.0).ceil() as u32, 4000, false);
    let live_before = file_bytes(&live(&env));
    let (code, stdout, stderr) = env.run(&["backup"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_clean_error(&stderr);
    assert!(stderr.contains("no space left"), "{stderr}");
    assert!(stderr.contains(env.out.to_str().unwrap()), "names the folder: {stderr}");
    assert!(stderr.contains("free space"), "says what to do: {stderr}");
    assert!(stdout.trim().is_empty(), "no archive path printed: {stdout}");

    assert_eq!(stray_files(&env.out, std::slice::from_ref(&first)), Vec::<String>::new());
    assert_eq!(file_bytes(std::slice::from_ref(&first)), first_bytes, "the earlier archive is untouched");
    assert_eq!(file_bytes(&live(&env)), live_before, "the live databases are untouched");
    env.cmd(&["verify", first.to_str().unwrap()]).assert().success();
    let runs = env.state().runs(10).unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed, "{runs:?}");
    assert!(runs.iter().all(|r| r.status != RunStatus::Running));
    assert!(!stderr.contains("ZipWriter"), "no library noise: {stderr}");
}

#[test]
fn backup_whose_snapshot_does_not_fit_exits_1_saying_the_disk_is_full() {
    backup_onto_a_full_disk(1.5);
}

#[test]
fn backup_whose_archive_does_not_fit_exits_1_saying_the_disk_is_full() {
    backup_onto_a_full_disk(0.5);
}

/// A disk with no byte left: even the state database cannot be opened
/// (WAL needs its -shm file). The error must say the disk is full, not
/// "disk I/O error ... check that the folder is writable".
#[test]
fn backup_and_status_on_a_disk_with_no_byte_left_say_the_disk_is_full() {
    let Some(disk) = Tmpfs::mount(1024) else { return };
    let env = Env::new(Some(&disk.path().join("backups")));
    env.small_dbs();
    let first = env.backup_ok();
    let first_bytes = file_bytes(std::slice::from_ref(&first));
    let filler = env.out.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0x5Au8; 4096];
        while f.write_all(&block).is_ok() {}
    }
    let filler_len = std::fs::metadata(&filler).unwrap().len();

    for args in [&["backup"][..], &["status"]] {
        let (code, stdout, stderr) = env.run(args);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        assert_clean_error(&stderr);
        assert!(stderr.contains("no space left") && stderr.contains("free space"), "{args:?}: {stderr}");
        assert!(!stderr.contains("writable"), "{args:?}: not a permission problem: {stderr}");
    }
    assert_eq!(file_bytes(std::slice::from_ref(&first)), first_bytes, "the earlier archive is untouched");
    assert_eq!(std::fs::metadata(&filler).unwrap().len(), filler_len);
    let strays = stray_files(&env.out, &[first.clone(), filler.clone()]);
    assert_eq!(strays, Vec::<String>::new());

    std::fs::remove_file(&filler).unwrap();
    env.cmd(&["status"]).assert().success();
    let second = env.backup_ok();
    env.cmd(&["verify", second.to_str().unwrap()]).assert().success();
    assert!(env.state().runs(10).unwrap().iter().all(|r| r.status != RunStatus::Running));
}

#[test]
fn restore_onto_a_full_disk_fails_clearly_and_leaves_nothing() {
    let Some(disk) = Tmpfs::mount(512) else { return };
    let env = Env::new(None);
    for name in DBS {
        blob_db(&env.data().join(name), 60, 4000, false);
    }
    env.backup_ok();
    let live_before = file_bytes(&live(&env));
    let to = disk.path().join("restored");
    let (code, stdout, stderr) = env.run(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_clean_error(&stderr);
    assert!(stderr.contains("no space left") && stderr.contains("nothing was kept"), "{stderr}");
    let left: Vec<_> =
        std::fs::read_dir(&to).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing half-written: {left:?}");
    assert_eq!(file_bytes(&live(&env)), live_before, "the live databases are untouched");
}

// ---- signals ------------------------------------------------------------------

/// Three databases of ~25 MB of hex text, made once and copied per test:
/// big enough that a debug-build backup takes a few seconds.
fn big_templates() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        for name in DBS {
            blob_db(&dir.path().join(name), 25_000, 1000, true);
        }
        dir
    })
    .path()
}

/// Copies the big databases into `env` and starts `lifeboat backup`,
/// returning once it is mid-run: compression has produced bytes.
fn start_big_backup(env: &Env) -> std::process::Child {
    for name in DBS {
        std::fs::copy(big_templates().join(name), env.data().join(name)).unwrap();
    }
    let mut child = env.args(&["backup"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    loop {
        let compressing = std::fs::read_dir(&env.out).ok().into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(".lifeboat-work-")
                && std::fs::read_dir(e.path())
                    .map(|rd| rd.flatten().any(|f| f.file_name().to_string_lossy().ends_with(".zip")))
                    .unwrap_or(false)
        });
        if compressing {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the backup ended before it could be interrupted");
        assert!(started.elapsed() < Duration::from_secs(30), "the backup never started compressing");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup ended before it could be interrupted; use bigger databases"
    );
    child
}

fn interrupt_mid_backup(signal: &str) {
    let env = Env::new(None);
    let mut child = start_big_backup(&env);
    let live_before = file_bytes(&live(&env));
    let sent = Instant::now();
    let kill = StdCommand::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());

    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("lifeboat backup still running 10 s after SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let waited = sent.elapsed();
    let mut stderr = String::new();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(waited < Duration::from_secs(5), "stopped promptly after SIG{signal}: {waited:?}");
    let number = if signal == "INT" { 2 } else { 15 };
    assert_eq!(
        status.code(),
        Some(128 + number),
        "a clean exit with the shell's code, not death by signal: {status:?} {stderr}"
    );
    assert_clean_error(&stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.trim().is_empty(), "no archive path printed: {stdout}");

    assert_eq!(stray_files(&env.out, &[]), Vec::<String>::new(), "no .tmp, partial archive or working folder");
    assert_eq!(file_bytes(&live(&env)), live_before, "the live databases are untouched");
    let runs = env.state().runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Interrupted, "{runs:?}");
    assert!(runs[0].finished_at.is_some() && runs[0].end.archive.is_none());

    // The next backup works, and verifies.
    let archive = env.backup_ok();
    env.cmd(&["verify", archive.to_str().unwrap()]).assert().success();
}

#[test]
fn sigint_mid_backup_stops_cleanly() {
    interrupt_mid_backup("INT");
}

#[test]
fn sigterm_mid_backup_stops_cleanly() {
    interrupt_mid_backup("TERM");
}

/// SIGINT while a live restore takes its safety snapshot: it stops at once,
/// restores nothing, leaves no partial safety archive nor scratch folder, and
/// the live databases are byte-identical.
#[test]
fn sigint_during_a_live_restore_restores_nothing_and_leaves_nothing() {
    let env = Env::new(None);
    for name in DBS {
        std::fs::copy(big_templates().join(name), env.data().join(name)).unwrap();
    }
    let (code, stdout, stderr) = env.run(&["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let archive_files: Vec<PathBuf> = stdout.lines().map(|l| PathBuf::from(l.trim())).collect();
    Connection::open(env.data().join("alpha.db")).unwrap().execute("DELETE FROM data WHERE id > 100", []).unwrap();
    let live_before = file_bytes(&live(&env));

    let mut child =
        env.args(&["restore", "latest", "--yes"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    // The safety snapshot is a backup run: its working folder appears in out.
    while !std::fs::read_dir(&env.out)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".lifeboat-work-"))
    {
        assert!(child.try_wait().unwrap().is_none(), "the restore ended before the safety snapshot was seen");
        assert!(started.elapsed() < Duration::from_secs(30), "no safety snapshot started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Instant::now();
    assert!(StdCommand::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(sent.elapsed() < Duration::from_secs(5), "stopped promptly: {:?}", sent.elapsed());
    assert_eq!(out.status.code(), Some(130), "Ctrl-C's code: {stderr}");
    assert_clean_error(&stderr);
    assert!(stderr.contains("cancelled") && stderr.contains("before stopping: none"), "{stderr}");
    assert_eq!(file_bytes(&live(&env)), live_before, "the live databases are byte-identical");
    assert_eq!(stray_files(&env.out, &archive_files), Vec::<String>::new(), "no safety archive, no working folder");
    let scratch: Vec<_> = std::fs::read_dir(env.out.join(".lifeboat"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".restore-"))
        .collect();
    assert!(scratch.is_empty(), "{scratch:?}");
    assert!(env.state().runs(10).unwrap().iter().all(|r| r.status != RunStatus::Running));
}

/// SIGKILL cannot be handled: the working folder and the "running" run stay
/// behind. The next `lifeboat backup` (holding the lock, so no live run is
/// touched) removes the leftovers and records the killed run as interrupted.
#[test]
fn the_backup_after_a_sigkill_cleans_up_and_closes_the_killed_run() {
    let env = Env::new(None);
    let mut child = start_big_backup(&env);
    let live_before = file_bytes(&live(&env));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.state().runs(10).unwrap()[0].status, RunStatus::Running, "killed: nothing could record it");

    let (code, stdout, stderr) = env.run(&["backup"]);
    assert_eq!(code, 0, "{stderr}");
    // The whole archive or its parts, one path a line.
    let files: Vec<PathBuf> = stdout.lines().map(|l| PathBuf::from(l.trim())).collect();
    assert_eq!(stray_files(&env.out, &files), Vec::<String>::new(), "leftovers removed");
    let runs = env.state().runs(10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let killed = runs.iter().find(|r| r.end.archive.is_none()).unwrap();
    assert_eq!(killed.status, RunStatus::Interrupted, "{runs:?}");
    assert!(killed.finished_at.is_some());
    assert!(runs.iter().all(|r| r.status != RunStatus::Running));
    assert_eq!(file_bytes(&live(&env)), live_before, "the live databases are untouched");
    env.cmd(&["status"]).assert().success().stdout(predicates::str::contains("ok [manual]"));
}

// ---- hostile and odd input -------------------------------------------------------

#[test]
fn output_dir_that_is_a_file_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("backups");
    std::fs::write(&file, b"not a folder").unwrap();
    let env = Env::new(Some(&file));
    env.small_dbs();
    // A configuration error (exit 2) naming the key and the path, for every
    // command, before anything is written.
    for args in [&["backup"][..], &["list"], &["status"], &["verify"]] {
        let (code, stdout, stderr) = env.run(args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert_clean_error(&stderr);
        assert!(stderr.contains("backup.output_dir") && stderr.contains(file.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains("not a folder"), "{stderr}");
        assert_eq!(stderr.matches("not a folder").count(), 1, "said once: {stderr}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"not a folder", "the file is untouched");
}

#[test]
fn a_database_path_that_is_a_folder_is_skipped_with_its_reason() {
    // As root, permissions do not stop reads; a folder in the database's
    // place is the unreadable source that root meets too.
    let env = Env::new(None);
    env.small_dbs();
    std::fs::remove_file(env.data().join("beta.db")).unwrap();
    std::fs::create_dir(env.data().join("beta.db")).unwrap();
    let (code, stdout, stderr) = env.run(&["backup"]);
    assert_eq!(code, 3, "partial: {stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("beta.db was skipped"), "{stderr}");
    let archive = PathBuf::from(stdout.lines().next().unwrap().trim());
    env.cmd(&["verify", archive.to_str().unwrap()]).assert().success();
    assert!(env.data().join("beta.db").is_dir(), "the folder is left alone");
}

/// A file named like an archive, with these bytes, next to a good archive.
fn verify_rejects(bytes: impl FnOnce(&[u8]) -> Vec<u8>, what: &str) {
    let env = Env::new(None);
    env.small_dbs();
    let good = env.backup_ok();
    let good_bytes = std::fs::read(&good).unwrap();
    let bad = env.dir.path().join("database_backup_20200101_000000.zip");
    std::fs::write(&bad, bytes(&good_bytes)).unwrap();
    let (code, stdout, stderr) = env.run(&["verify", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{what}: {stdout}{stderr}");
    assert_clean_error(&stderr);
    assert!(stderr.contains("database_backup_20200101_000000.zip"), "{what}: names the file: {stderr}");
    let (code, _, stderr) = env.run(&["verify", bad.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "{what} --json: {stderr}");
    assert_clean_error(&stderr);
    assert_eq!(std::fs::read(&good).unwrap(), good_bytes);
    env.cmd(&["verify", "latest"]).assert().success();
}

#[test]
fn verify_a_truncated_zip_exits_1() {
    verify_rejects(|good| good[..good.len() * 2 / 3].to_vec(), "truncated");
}

#[test]
fn verify_random_bytes_exits_1() {
    verify_rejects(
        |good| {
            // A fixed-seed LCG: deterministic "random" bytes.
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            (0..good.len())
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                })
                .collect()
        },
        "random",
    );
}

#[test]
fn verify_an_empty_file_exits_1() {
    verify_rejects(|_| Vec::new(), "empty");
}

/// Rewrites the archive with `name`'s bytes changed (a valid ZIP with good
/// CRCs, but the manifest's sha256 no longer matches).
fn tamper(archive: &Path, name: &str) {
    let mut zin = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let tmp = archive.with_extension("tampered");
    let mut zout = zip::ZipWriter::new(std::fs::File::create(&tmp).unwrap());
    for i in 0..zin.len() {
        let mut e = zin.by_index(i).unwrap();
        let entry = e.name().unwrap().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if entry == name {
            // Change one row's payload inside the file: still a database.
            let scratch = tempfile::tempdir().unwrap();
            let db = scratch.path().join(name);
            std::fs::write(&db, &data).unwrap();
            Connection::open(&db).unwrap().execute("UPDATE data SET payload = x'00' WHERE id = 1", []).unwrap();
            data = std::fs::read(&db).unwrap();
        }
        zout.start_file(entry, zip::write::SimpleFileOptions::default()).unwrap();
        zout.write_all(&data).unwrap();
    }
    zout.finish().unwrap();
    std::fs::rename(&tmp, archive).unwrap();
}

#[test]
fn restore_of_a_tampered_archive_is_refused_and_writes_nothing() {
    let env = Env::new(None);
    env.small_dbs();
    let archive = env.backup_ok();
    tamper(&archive, "beta.db");
    // The live databases move on after the backup: a restore would change them.
    Connection::open(env.data().join("beta.db")).unwrap().execute("DELETE FROM data WHERE id > 10", []).unwrap();
    let live_before = file_bytes(&live(&env));
    let archives_before = lifeboat_core::catalog::list(&env.out).unwrap().len();

    let to = env.dir.path().join("restored");
    for args in [
        vec!["restore", archive.to_str().unwrap(), "--yes"],
        vec!["restore", "latest", "--only", "alpha.db", "--yes"],
        vec!["restore", "latest", "--to", to.to_str().unwrap(), "--yes"],
    ] {
        let (code, stdout, stderr) = env.run(&args);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        assert_clean_error(&stderr);
        assert!(stderr.contains("did not verify") && stderr.contains("beta.db"), "{args:?}: {stderr}");
        assert_eq!(file_bytes(&live(&env)), live_before, "{args:?}: the live databases are byte-identical");
        assert!(!to.join("alpha.db").exists() && !to.join("beta.db").exists(), "{args:?}");
    }
    // Refused before the safety snapshot: no new archive either.
    assert_eq!(lifeboat_core::catalog::list(&env.out).unwrap().len(), archives_before);
    env.cmd(&["verify", archive.to_str().unwrap()]).assert().code(1);
}

/// `lifeboat list | head -1`: the reader closes the pipe early. Not a bug
/// report, not a panic message; a quiet non-zero exit like any Unix tool.
#[test]
fn a_reader_closing_the_pipe_early_is_not_an_internal_error() {
    let env = Env::new(None);
    env.small_dbs();
    env.backup_ok();
    for args in [&["list"][..], &["verify"], &["status"]] {
        // The read end is closed before the child starts, so its first print
        // fails with EPIPE whatever the timing (closing it after spawn raced
        // with other tests' forks, which briefly hold a copy of it).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env.args(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("internal error") && !stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(0), "{args:?}: the output was not delivered");
    }
}

/// `restore --to` a file, or a path under a file: a usage error (exit 2)
/// naming the file, found before the archive is verified; nothing written.
#[test]
fn restore_to_a_file_is_a_usage_error() {
    let env = Env::new(None);
    env.small_dbs();
    env.backup_ok();
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, b"keep me").unwrap();
    for to in [file.clone(), file.join("sub")] {
        let (code, stdout, stderr) = env.run(&["restore", "latest", "--to", to.to_str().unwrap(), "--yes"]);
        assert_eq!(code, 2, "{stdout}{stderr}");
        assert_clean_error(&stderr);
        assert!(stderr.contains(&format!("{} is a file, not a folder", file.display())), "{stderr}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

/// A pipe and a device where databases should be: backup skips
/// them (partial, exit 3) and diagnose names them as "not a regular file",
/// without blocking on the pipe.
#[test]
fn a_pipe_and_a_device_in_place_of_databases() {
    let env = Env::new(None);
    env.small_dbs();
    for name in ["beta.db", "gamma.db"] {
        std::fs::remove_file(env.data().join(name)).unwrap();
    }
    let fifo = StdCommand::new("mkfifo").arg(env.data().join("beta.db")).status().unwrap();
    assert!(fifo.success());
    std::os::unix::fs::symlink("/dev/zero", env.data().join("gamma.db")).unwrap();
    for args in [&["backup"][..], &["diagnose"]] {
        let mut child = env.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("{args:?} hangs on a pipe or a device");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains("panicked"), "{text}");
        assert_eq!(out.status.code(), Some(if args[0] == "backup" { 3 } else { 1 }), "{args:?}: {text}");
        for name in ["beta.db", "gamma.db"] {
            let line = text.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name}: {text}"));
            assert!(line.contains("not a regular file"), "{args:?}: {line}");
        }
    }
}

/// Ctrl-C during `lifeboat verify` (whole databases extracted) or `lifeboat
/// diagnose` (snapshots of the live databases): their scratch folders in
/// TMPDIR hold the bot's data and must not be left there.
fn sigint_leaves_no_scratch(args: &[&str]) {
    let env = Env::new(None);
    for name in DBS {
        std::fs::copy(big_templates().join(name), env.data().join(name)).unwrap();
    }
    let (code, _, stderr) = env.run(&["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let tmp = env.dir.path().join("tmpdir");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = env.args(args).env("TMPDIR", &tmp).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while std::fs::read_dir(&tmp).unwrap().next().is_none() {
        assert!(child.try_wait().unwrap().is_none(), "{args:?} ended before its scratch folder was seen");
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(StdCommand::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{args:?}: Ctrl-C's code: {stderr}");
    assert!(!stderr.contains("panicked") && stderr.contains("interrupted"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "{args:?}: scratch left behind: {left:?}");
}

#[test]
fn sigint_during_verify_leaves_no_extracted_databases() {
    sigint_leaves_no_scratch(&["verify", "latest"]);
}

#[test]
fn sigint_during_diagnose_leaves_no_snapshots() {
    sigint_leaves_no_scratch(&["diagnose"]);
}

impl Env {
    /// Adds `extra` TOML to the configuration.
    fn append_config(&self, extra: &str) {
        let mut text = std::fs::read_to_string(&self.config).unwrap();
        text.push_str(extra);
        std::fs::write(&self.config, text).unwrap();
    }
}

#[test]
fn a_metrics_file_that_is_not_a_regular_file_is_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let env = Env::new(None);
    env.small_dbs();
    let fifo = env.dir.path().join("metrics.fifo");
    assert!(StdCommand::new("mkfifo").arg(&fifo).status().unwrap().success());
    let link = env.dir.path().join("metrics.link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let base = std::fs::read_to_string(&env.config).unwrap();
    for target in [&fifo, &link] {
        std::fs::write(&env.config, format!("{base}[monitoring]\nmetrics_file = {:?}\n", target.display())).unwrap();
        let (code, _, stderr) = env.run(&["backup", "--deliver"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("monitoring.metrics_file") && stderr.contains("not a regular file"), "{stderr}");
        assert!(
            !env.out.exists() || std::fs::read_dir(&env.out).unwrap().all(|e| e.unwrap().file_name() == ".lifeboat")
        );
    }
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
}

#[test]
fn a_secret_file_other_users_can_read_is_warned_about_at_start_and_in_diagnose() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new(None);
    env.small_dbs();
    let pw = env.dir.path().join("zip.pw");
    std::fs::write(&pw, "zip-aes-password-1\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.append_config(&format!("[encryption]\nmode = \"zip-aes\"\npassword_file = {:?}\n", pw.display()));
    let (code, _, stderr) = env.run(&["status"]);
    assert_eq!(code, 0, "{stderr}");
    let line = stderr.lines().find(|l| l.contains("WARN") && l.contains("encryption.password_file")).expect(&stderr);
    assert!(
        line.contains(&pw.display().to_string()) && line.contains("0644") && line.contains("chmod o-rwx"),
        "{line}"
    );
    assert!(!stderr.contains("zip-aes-password-1"), "{stderr}");
    let out = env.cmd(&["diagnose", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = v["findings"].as_array().unwrap().iter().any(|f| {
        f["level"] == "warn"
            && f["subject"] == "secrets"
            && f["message"].as_str().unwrap().contains("encryption.password_file")
    });
    assert!(found, "{v:#}");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, _, stderr) = env.run(&["status"]);
    assert!(!stderr.contains("encryption.password_file"), "{stderr}");
}

#[test]
fn a_misspelled_lifeboat_variable_is_warned_about_with_the_right_spelling() {
    let env = Env::new(None);
    let out = env.args(&["status"]).env("LIFEBOAT_TELEGRAM_TOKEN", "42:do-not-echo-this-value").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = stderr.lines().find(|l| l.contains("LIFEBOAT_TELEGRAM_TOKEN")).expect(&stderr);
    assert!(line.contains("WARN") && line.contains("LIFEBOAT__TELEGRAM__TOKEN"), "{line}");
    assert!(!stderr.contains("do-not-echo-this-value"), "{stderr}");
}
