//! Shared by the CLI test binaries.

use std::path::Path;
use std::process::Command;

/// `lifeboat --config CONFIG ARGS…` run in `dir`, with none of the
/// caller's `LIFEBOAT*` variables (they would change the configuration).
pub fn lifeboat(config: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.arg("--config").arg(config).args(args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT") {
            c.env_remove(k);
        }
    }
    c
}

/// `dir/app.db`: a table `blobs` of about `mb` MB of random (incompressible)
/// bytes, in rows of 4000 bytes.
#[allow(dead_code)] // not every test binary makes one
pub fn random_db(dir: &Path, mb: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {})
         INSERT INTO blobs (b) SELECT randomblob(4000) FROM c;",
        (mb * 1_000_000 / 4100).max(1)
    ))
    .unwrap();
}

/// A bot's folder for end-to-end runs: `data/` (its databases), `out/`
/// (the archives) and `lifeboat.toml`, driven through the `lifeboat` binary.
#[allow(dead_code)] // not every test binary uses it
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    /// Set for TLS servers: the test certificate Lifeboat must trust.
    pub cert: Option<std::path::PathBuf>,
}

#[allow(dead_code)]
impl Sandbox {
    /// An empty sandbox: `data/` exists, no config yet.
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        Sandbox { config: dir.path().join("lifeboat.toml"), dir, cert: None }
    }

    /// `data/app.db` of about `mb` MB of random bytes (see [`random_db`]).
    pub fn with_random_db(mb: u64) -> Sandbox {
        let sb = Sandbox::new();
        random_db(&sb.path("data"), mb);
        sb
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the config: `databases` in `data/`, archives in `out/`
    /// stored without compression, two attempts without waiting, then `extra`.
    pub fn write_config(&self, databases: &[&str], extra: &str) {
        self.write_config_attempts(databases, 2, extra);
    }

    /// [`Self::write_config`] with `attempts` per delivery.
    pub fn write_config_attempts(&self, databases: &[&str], attempts: u32, extra: &str) {
        std::fs::write(
            &self.config,
            format!(
                "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = {databases:?}\ncompression_level = 0\n\
                 [retry]\nattempts = {attempts}\ninitial_delay_secs = 0\nmax_delay_secs = 1\n{extra}\n",
                self.path("data"),
                self.path("out"),
            ),
        )
        .unwrap();
    }

    /// A secret file holding `value`.
    pub fn secret(&self, name: &str, value: &str) -> std::path::PathBuf {
        let p = self.path(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p
    }

    /// `lifeboat ARGS…` with this sandbox's config.
    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = lifeboat(&self.config, self.dir.path(), args);
        if let Some(cert) = &self.cert {
            c.env("SSL_CERT_FILE", cert);
        }
        assert_cmd::Command::from_std(c)
    }

    /// Runs `lifeboat ARGS…` expecting exit `code`: the first line of
    /// stdout (the archive, for a backup) and everything it said.
    pub fn run(&self, args: &[&str], code: i32) -> (std::path::PathBuf, String) {
        let out = self.cmd(args).assert().code(code).get_output().clone();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let first = std::path::PathBuf::from(stdout.lines().next().unwrap_or_default().trim());
        (first, stdout + &String::from_utf8_lossy(&out.stderr))
    }

    /// `backup --deliver` (a whole cycle): the archive and all output.
    pub fn cycle(&self, code: i32) -> (std::path::PathBuf, String) {
        self.run(&["backup", "--deliver"], code)
    }

    /// The archive files in `out/`, sorted.
    pub fn archives(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.path("out")) else { return Vec::new() };
        let mut names: Vec<String> = rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("database_backup_"))
            .collect();
        names.sort();
        names
    }

    /// One committed row in `data/app.db` (made by [`random_db`]): the
    /// next backup has a change.
    pub fn write_row(&self) {
        let conn = rusqlite::Connection::open(self.path("data/app.db")).unwrap();
        conn.execute("INSERT INTO blobs (b) VALUES (randomblob(100))", []).unwrap();
    }
}

/// The file name of `p`.
#[allow(dead_code)]
pub fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Archive names have a one-second resolution: waits until the next
/// backup gets a name of its own.
#[allow(dead_code)]
pub fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// `[destinations.discord]` posting to `webhook_url` (written to
/// `dir/webhook-url`, the secret file), parts of at most `mb` MB.
#[allow(dead_code)]
pub fn discord_destination(dir: &Path, webhook_url: &str, mb: u64) -> String {
    let file = dir.join("webhook-url");
    std::fs::write(&file, format!("{webhook_url}\n")).unwrap();
    format!("[destinations.discord]\nwebhook_url_file = {file:?}\nmax_upload_mb = {mb}\n")
}

/// `[destinations.email]` through `smtp` (its password file in `dir`) to
/// two recipients, attachments up to `mb` MB.
#[allow(dead_code)]
pub fn email_destination(dir: &Path, smtp: &lifeboat_testkit::smtp::SmtpServer, mb: u64) -> String {
    let password = smtp.password_file(dir);
    format!(
        "[destinations.email]\nsmtp_url = {:?}\npassword_file = {password:?}\nfrom = \"Lifeboat <backup@example.test>\"\n\
         to = [\"ops@example.test\", \"owner@example.test\"]\nmax_attachment_mb = {mb}\n",
        smtp.url()
    )
}

/// `[[sources.redis]]` named `cache`: `redis`, its password in a file in
/// `dir`.
#[allow(dead_code)] // not every test binary runs Redis
pub fn redis_source(dir: &Path, redis: &lifeboat_testkit::servers::Redis) -> String {
    let pw = redis.password_file(dir);
    format!("[[sources.redis]]\nname = \"cache\"\nurl = {:?}\npassword_file = {pw:?}\n", redis.url())
}

/// `[[destinations.s3]]` named `offsite`: `s3`'s bucket under prefix
/// `bot/`, its secret key in a file in `dir`.
#[allow(dead_code)]
pub fn s3_destination(dir: &Path, s3: &lifeboat_testkit::servers::SeaweedFs) -> String {
    let secret = s3.secret_file(dir);
    format!(
        "[[destinations.s3]]\nname = \"offsite\"\nendpoint = {:?}\nbucket = {:?}\nprefix = \"bot/\"\n\
         access_key_id = {:?}\nsecret_access_key_file = {secret:?}\n",
        s3.endpoint, s3.bucket, s3.access_key,
    )
}

/// `script` in `sh`, as an operator types it: `lifeboat` on the PATH with
/// `config` as LIFEBOAT_CONFIG (none of the caller's other `LIFEBOAT*`
/// variables), run in `dir`.
#[allow(dead_code)] // not every test binary runs scripts
pub fn shell(config: &Path, dir: &Path, script: &str) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_lifeboat")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("sh");
    c.arg("-c").arg(script).current_dir(dir).env("PATH", path).env("LIFEBOAT_CONFIG", config);
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT") && k != "LIFEBOAT_CONFIG" {
            c.env_remove(k);
        }
    }
    c.stdin(std::process::Stdio::null()).output().unwrap()
}

/// Seven keys of every Redis type (a string, a list, a hash, a set, a
/// sorted set, a key with a TTL, and one in database 3).
#[allow(dead_code)] // not every test binary runs Redis
pub fn redis_keys_of_every_type(redis: &lifeboat_testkit::servers::Redis) {
    redis.cli(&["SET", "greeting", "hello world"]);
    redis.cli(&["RPUSH", "queue", "a", "b", "c"]);
    redis.cli(&["HSET", "user:1", "name", "Ada", "lang", "en"]);
    redis.cli(&["SADD", "tags", "x", "y"]);
    redis.cli(&["ZADD", "scores", "1", "one", "2", "two"]);
    redis.cli(&["SET", "session", "abc", "EX", "86400"]);
    redis.cli(&["-n", "3", "SET", "in-db-3", "yes"]);
}

/// The options of a scheduled backup now, as the scheduler's cycle runs it.
#[allow(dead_code)] // not every test binary runs the library's backup
pub fn scheduled_now() -> lifeboat_engine::backup::BackupOptions<'static> {
    lifeboat_engine::backup::BackupOptions {
        trigger: lifeboat_core::manifest::Trigger::Scheduled,
        only: None,
        progress: None,
        cancel: Default::default(),
        now: chrono::Utc::now(),
    }
}
