//! Putting an archived Redis snapshot back into the running server, with no
//! restart and no file of the server's touched.
//!
//! Redis reads an RDB file only when it starts, and a server with
//! `appendonly yes` would not even read it then (it loads its AOF). So the
//! snapshot is loaded into a private `redis-server` of our own, started in
//! a 0700 scratch folder with no TCP port (a unix socket, 0700) and no
//! persistence. The live server is then made equal to it through ordinary
//! commands: one key put back under a throw-away name first (a server
//! that refuses `RESTORE` refuses it before anything is emptied), then
//! `FLUSHALL`, and for every key `RESTORE key ttl payload REPLACE` with the
//! key's `DUMP` and remaining `PTTL` read from the private server,
//! streamed through `redis-cli --pipe` (which speaks to the
//! live server exactly as the backup does: the url, `REDISCLI_AUTH`, TLS).
//! The live server writes those commands to its AOF like any others, so
//! the restored data survives its next restart, AOF on or off. At the end
//! the live server's keys are counted (the restore compares them with the
//! archive's count).
//!
//! A snapshot covers the whole server (every database), so the whole
//! server is emptied first. Keys whose TTL passed since the snapshot are
//! not put back (Redis itself drops them when it loads a dump).

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{KEYS, RedisSource};
use crate::manifest::TableCount;
use crate::source::{ServerError, tool};

/// Keys asked of the private server per round trip.
const BATCH: usize = 1000;

/// Databases the private server has when the live one does not say.
const DEFAULT_DATABASES: u32 = 16;

impl RedisSource {
    /// Makes the live server hold exactly the keys of the verified snapshot
    /// `rdb` (see the module's comment); the keys it holds afterwards.
    pub fn load(&self, rdb: &Path) -> Result<Vec<TableCount>, ServerError> {
        let untouched = |e: tool::ToolError| ServerError::from(e).untouched();
        let cli = tool::require("redis-cli", "redis-tools").map_err(untouched)?;
        let server = tool::require("redis-server", "redis-server").map_err(untouched)?;
        // Up to FLUSHALL, a failure leaves the live server as it was; so
        // does a FLUSHALL the server refuses (one cut short may have run).
        let (mut private, dbs) = self.prepare(&cli, &server, rdb).map_err(ServerError::untouched)?;
        self.flush_all(&cli).map_err(|e| match e {
            e @ ServerError::Refused(_) => e.untouched(),
            e => e,
        })?;
        let sent = self.restore_all(&cli, &mut private, &dbs)?;
        // Counted as the server holds them now: the restore's outcome
        // compares them with the archive's, and says when they differ.
        let live = self.live_keys(&cli)?;
        if live != sent {
            tracing::warn!(
                source = %self.cfg.name,
                "after loading, the server holds {live} keys where {sent} were put back: something wrote to it \
                 or deleted from it meanwhile"
            );
        }
        Ok(vec![TableCount { name: KEYS.to_string(), rows: live }])
    }

    /// Everything before the first change to the live server: it answers,
    /// the private server holds the snapshot, the live server takes a
    /// throw-away `RESTORE`. The private server and its databases with
    /// keys.
    fn prepare(&self, cli: &Path, server: &Path, rdb: &Path) -> Result<(Private, Vec<(u32, u64)>), ServerError> {
        // The live server first: a wrong password or a server that is down
        // is found before anything else is started.
        let databases = self.live_databases(cli)?;
        let mut private = Private::start(server, rdb, databases, &self.deadline()).map_err(|e| match e {
            ServerError::Refused(why) => {
                ServerError::Refused(format!("{why}; nothing was changed; {}", manual_fallback(&self.cfg.name)))
            }
            e => e,
        })?;
        let dbs = private.keyspace()?;
        self.probe_restore(cli, &mut private, &dbs)?;
        Ok((private, dbs))
    }

    /// How many databases the live server has (`CONFIG GET databases`),
    /// or the default when it does not answer that (CONFIG renamed away).
    fn live_databases(&self, cli: &Path) -> Result<u32, ServerError> {
        let out = tool::run(self.cli(cli).arg("PING"), &self.deadline())?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || text.trim() != "PONG" {
            let said = tool::said(&out, self.cfg.password.as_ref());
            return Err(ServerError::Refused(self.explain_load(&said)));
        }
        let out = tool::run(self.cli(cli).args(["CONFIG", "GET", "databases"]), &self.deadline())?;
        let said = String::from_utf8_lossy(&out.stdout);
        let found = said.lines().nth(1).and_then(|n| n.trim().parse::<u32>().ok());
        Ok(found.unwrap_or(DEFAULT_DATABASES).max(DEFAULT_DATABASES))
    }

    /// Puts one key of the snapshot into the live server under a throw-away
    /// name (expiring within a minute) and removes it again: a server that
    /// refuses `RESTORE` (an ACL, a renamed command, a payload from a newer
    /// Redis) refuses it here, before anything is emptied.
    fn probe_restore(&self, cli: &Path, private: &mut Private, dbs: &[(u32, u64)]) -> Result<(), ServerError> {
        let sample = private.sample(dbs).map_err(|e| self.private_failed(&e, "nothing was changed"))?;
        let Some(payload) = sample else { return Ok(()) };
        let probe = format!("lifeboat:restore-probe:{}", std::process::id());
        let (fed, out) = self.pipe(cli, |w| {
            command(w, &[b"RESTORE", probe.as_bytes(), b"60000", &payload, b"REPLACE"])?;
            command(w, &[b"DEL", probe.as_bytes()])
        })?;
        fed.map_err(|e| ServerError::Refused(format!("cannot talk to redis-cli: {e}; nothing was changed")))?;
        if !out.status.success() {
            let said = tool::said(&out, self.cfg.password.as_ref());
            return Err(ServerError::Refused(format!(
                "the server refuses RESTORE ({said}); nothing was changed; {}",
                manual_fallback(&self.cfg.name)
            )));
        }
        Ok(())
    }

    /// `FLUSHALL` on the live server.
    fn flush_all(&self, cli: &Path) -> Result<(), ServerError> {
        let out = tool::run(self.cli(cli).arg("FLUSHALL"), &self.deadline())?;
        if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != "OK" {
            let said = tool::said(&out, self.cfg.password.as_ref());
            return Err(ServerError::Refused(format!(
                "the server refuses FLUSHALL ({said}); nothing was changed; {}",
                manual_fallback(&self.cfg.name)
            )));
        }
        Ok(())
    }

    /// Puts back every key the private server holds into the emptied live
    /// server, through one `redis-cli --pipe`; how many keys were sent.
    fn restore_all(&self, cli: &Path, private: &mut Private, dbs: &[(u32, u64)]) -> Result<u64, ServerError> {
        let (streamed, output) = self.pipe(cli, |w| stream(private, dbs, w))?;
        let sent = streamed.map_err(|e| {
            self.private_failed(&e, "the live server was emptied and may hold only part of the snapshot now")
        })?;
        if !output.status.success() {
            let said = tool::said(&output, self.cfg.password.as_ref());
            return Err(ServerError::Refused(format!(
                "the server refused part of the restore ({said}); it was emptied and may hold only part of the \
                 snapshot now; {}",
                manual_fallback(&self.cfg.name)
            )));
        }
        Ok(sent)
    }

    fn private_failed(&self, e: &std::io::Error, state: &str) -> ServerError {
        ServerError::Refused(format!(
            "reading the snapshot back from the private redis-server failed ({e}); {state}; {}",
            manual_fallback(&self.cfg.name)
        ))
    }

    /// Runs one `redis-cli --pipe` against the live server with what `feed`
    /// writes as its input: what `feed` returned, and redis-cli's output
    /// (its status fails when the server answered any command with an
    /// error). When `feed` fails, nothing more is sent.
    fn pipe<T>(
        &self,
        cli: &Path,
        feed: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
    ) -> Result<(std::io::Result<T>, std::process::Output), ServerError> {
        let mut cmd = self.cli(cli);
        // Our own deadline bounds the whole load; redis-cli's own (30 s
        // without a reply) would cut a large load short.
        cmd.args(["--pipe", "--pipe-timeout", "0"]);
        let program = tool::program_name(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| tool::ToolError::Spawn { program: program.clone(), source: e })?;
        let watchdog = tool::Watchdog::start(&child, &program, &self.deadline());
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let mut stdin = BufWriter::with_capacity(256 * 1024, child.stdin.take().expect("piped"));
        let fed = feed(&mut stdin).and_then(|t| stdin.flush().map(|()| t));
        drop(stdin);
        if fed.is_err() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let status = child.wait().map_err(|e| tool::ToolError::Io { program: program.clone(), source: e });
        watchdog.finish()?;
        let status = status?;
        let (out, err) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
        Ok((fed, std::process::Output { status, stdout: out, stderr: err }))
    }

    /// Keys in every database of the live server.
    fn live_keys(&self, cli: &Path) -> Result<u64, ServerError> {
        let out = tool::run(self.cli(cli).args(["INFO", "keyspace"]), &self.deadline())?;
        if !out.status.success() {
            let said = tool::said(&out, self.cfg.password.as_ref());
            return Err(ServerError::Refused(self.explain_load(&said)));
        }
        Ok(keyspace(&String::from_utf8_lossy(&out.stdout)).iter().map(|(_, n)| n).sum())
    }

    fn explain_load(&self, said: &str) -> String {
        let why = self.explain(said);
        let why = why.strip_prefix("redis-cli --rdb failed: ").map(|s| format!("redis-cli failed: {s}")).unwrap_or(why);
        format!("{why}; nothing was changed")
    }
}

/// What to do when the live load cannot be done: the steps by hand.
fn manual_fallback(name: &str) -> String {
    format!(
        "to load the snapshot by hand instead, restore it into a folder (lifeboat restore ARCHIVE --only {name} \
         --to DIR --yes) and follow the steps it prints (docs/operations.md, section 9)"
    )
}

/// Reads everything from a child's pipe on a thread of its own, so a
/// chatty child never blocks on a full pipe while we write to it.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Writes, for each database, `SELECT` and one `RESTORE` per key of the
/// private server to `out` (redis-cli's stdin); the keys sent.
fn stream(private: &mut Private, dbs: &[(u32, u64)], mut out: &mut dyn Write) -> std::io::Result<u64> {
    let mut sent = 0u64;
    for (db, _) in dbs {
        let db = db.to_string();
        private.call(&[b"SELECT", db.as_bytes()])?;
        command(&mut out, &[b"SELECT", db.as_bytes()])?;
        let mut cursor = b"0".to_vec();
        loop {
            let reply = private.call(&[b"SCAN", &cursor, b"COUNT", BATCH.to_string().as_bytes()])?;
            let (next, keys) = scan_reply(reply)?;
            for key in &keys {
                private.send(&[b"DUMP", key])?;
                private.send(&[b"PTTL", key])?;
            }
            private.flush()?;
            for key in &keys {
                let dump = private.reply()?;
                let ttl = private.reply()?;
                // Gone since the SCAN (its TTL passed): nothing to put back.
                let (Reply::Bulk(Some(payload)), Reply::Int(ttl)) = (dump, ttl) else { continue };
                let ttl = match ttl {
                    -1 => 0,
                    t if t < 0 => continue,
                    // 0 would mean "no TTL" to RESTORE.
                    t => t.max(1),
                };
                command(&mut out, &[b"RESTORE", key, ttl.to_string().as_bytes(), &payload, b"REPLACE"])?;
                sent += 1;
            }
            if next == b"0" {
                break;
            }
            cursor = next;
        }
    }
    Ok(sent)
}

/// One command in Redis's protocol (an array of bulk strings).
fn command(out: &mut (impl Write + ?Sized), args: &[&[u8]]) -> std::io::Result<()> {
    write!(out, "*{}\r\n", args.len())?;
    for a in args {
        write!(out, "${}\r\n", a.len())?;
        out.write_all(a)?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

/// `dbN:keys=K,…` lines of `INFO keyspace`: each database and its keys.
fn keyspace(info: &str) -> Vec<(u32, u64)> {
    info.lines()
        .filter_map(|l| {
            let (db, rest) = l.trim().strip_prefix("db")?.split_once(':')?;
            let keys = rest.split(',').find_map(|f| f.strip_prefix("keys="))?;
            Some((db.parse().ok()?, keys.parse().ok()?))
        })
        .collect()
}

/// A reply in Redis's protocol.
#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

fn bad(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.into())
}

/// SCAN's reply: the next cursor and the keys.
fn scan_reply(reply: Reply) -> std::io::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let Reply::Array(Some(mut parts)) = reply else { return Err(bad(format!("SCAN answered {reply:?}"))) };
    if parts.len() != 2 {
        return Err(bad("SCAN answered an array that is not a cursor and keys"));
    }
    let keys = parts.pop().expect("two");
    let (Reply::Bulk(Some(cursor)), Reply::Array(Some(keys))) = (parts.pop().expect("two"), keys) else {
        return Err(bad("SCAN answered an array that is not a cursor and keys"));
    };
    let keys = keys
        .into_iter()
        .map(|k| match k {
            Reply::Bulk(Some(k)) => Ok(k),
            other => Err(bad(format!("SCAN answered a key that is {other:?}"))),
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok((cursor, keys))
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(bad("the private redis-server closed the connection"));
    }
    line.truncate(line.len() - 2);
    let (kind, rest) = line.split_first().ok_or_else(|| bad("an empty reply line"))?;
    let text = String::from_utf8_lossy(rest).into_owned();
    let number = || text.parse::<i64>().map_err(|_| bad(format!("not a number in a reply: {text:?}")));
    Ok(match kind {
        b'+' => Reply::Simple(text),
        b'-' => Reply::Error(text),
        b':' => Reply::Int(number()?),
        b'$' => match number()? {
            n if n < 0 => Reply::Bulk(None),
            n => {
                let mut data = vec![0u8; n as usize + 2];
                r.read_exact(&mut data)?;
                data.truncate(n as usize);
                Reply::Bulk(Some(data))
            }
        },
        b'*' => match number()? {
            n if n < 0 => Reply::Array(None),
            n => Reply::Array(Some((0..n).map(|_| read_reply(r)).collect::<std::io::Result<_>>()?)),
        },
        other => return Err(bad(format!("an unknown reply type {:?}", *other as char))),
    })
}

/// A `redis-server` of our own holding the snapshot: no TCP port, a 0700
/// unix socket in a 0700 folder, nothing persisted. Killed when dropped.
struct Private {
    child: Child,
    _dir: tempfile::TempDir,
    conn: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
}

impl Private {
    /// Starts it on `rdb` with `databases` databases and waits until it has
    /// loaded the snapshot (within `deadline`).
    fn start(server: &Path, rdb: &Path, databases: u32, deadline: &tool::Deadline) -> Result<Private, ServerError> {
        // A short folder of its own in the temporary folder: a socket's path
        // is limited to about a hundred bytes.
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-redis-")
            .tempdir()
            .map_err(|e| ServerError::Refused(format!("cannot create a folder for a private redis-server: {e}")))?;
        let socket = dir.path().join("redis.sock");
        let log = dir.path().join("redis.log");
        let (rdb_dir, rdb_name) = (rdb.parent().unwrap_or(Path::new(".")), rdb.file_name().unwrap_or_default());
        let mut cmd = tool::command(server, &[]);
        cmd.args(["--port", "0", "--unixsocketperm", "700", "--save", "", "--appendonly", "no"])
            .args(["--databases", &databases.to_string(), "--daemonize", "no", "--unixsocket"])
            .arg(&socket)
            .arg("--logfile")
            .arg(&log)
            .arg("--dir")
            .arg(rdb_dir)
            .arg("--dbfilename")
            .arg(rdb_name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child =
            cmd.spawn().map_err(|e| tool::ToolError::Spawn { program: "redis-server".to_string(), source: e })?;
        let mut private = Started { child: Some(child), log: log.clone() };
        let limit = Instant::now() + Duration::from_secs(deadline.secs());
        loop {
            if let Some(status) = private.exited() {
                return Err(ServerError::Refused(format!(
                    "a private redis-server could not load the snapshot (it {status}: {}); {}",
                    private.log_tail(),
                    "is this machine's redis-server older than the server the snapshot came from?"
                )));
            }
            if let Ok(stream) = UnixStream::connect(&socket) {
                let writer = stream.try_clone().map_err(|e| ServerError::Refused(format!("{socket:?}: {e}")))?;
                let mut p = Private {
                    child: private.child.take().expect("running"),
                    _dir: dir,
                    conn: BufReader::with_capacity(256 * 1024, stream),
                    writer: BufWriter::new(writer),
                };
                loop {
                    match p.call(&[b"PING"]) {
                        Ok(Reply::Simple(pong)) if pong == "PONG" => return Ok(p),
                        // Still reading the snapshot.
                        Ok(Reply::Error(e)) if e.starts_with("LOADING") && Instant::now() < limit => {
                            std::thread::sleep(Duration::from_millis(100))
                        }
                        Ok(other) => {
                            return Err(ServerError::Refused(format!(
                                "a private redis-server loading the snapshot answered {other:?}"
                            )));
                        }
                        Err(e) => {
                            return Err(ServerError::Refused(format!(
                                "a private redis-server loading the snapshot stopped answering: {e}"
                            )));
                        }
                    }
                }
            }
            if Instant::now() >= limit {
                return Err(deadline.expired("redis-server").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        command(&mut self.writer, args)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }

    fn reply(&mut self) -> std::io::Result<Reply> {
        read_reply(&mut self.conn)
    }

    /// One command and its reply; an error reply is an error.
    fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        self.send(args)?;
        self.flush()?;
        match self.reply()? {
            Reply::Error(e) if !e.starts_with("LOADING") => Err(bad(format!("the private redis-server said {e}"))),
            r => Ok(r),
        }
    }

    /// The `DUMP` of one key of the snapshot, or None when it holds none.
    fn sample(&mut self, dbs: &[(u32, u64)]) -> std::io::Result<Option<Vec<u8>>> {
        let Some((db, _)) = dbs.first() else { return Ok(None) };
        self.call(&[b"SELECT", db.to_string().as_bytes()])?;
        let (_, keys) = scan_reply(self.call(&[b"SCAN", b"0", b"COUNT", b"100"])?)?;
        for key in keys {
            if let Reply::Bulk(Some(payload)) = self.call(&[b"DUMP", &key])? {
                return Ok(Some(payload));
            }
        }
        Ok(None)
    }

    /// Its databases and their keys.
    fn keyspace(&mut self) -> Result<Vec<(u32, u64)>, ServerError> {
        match self.call(&[b"INFO", b"keyspace"]) {
            Ok(Reply::Bulk(Some(text))) => Ok(keyspace(&String::from_utf8_lossy(&text))),
            Ok(other) => Err(ServerError::Refused(format!("a private redis-server answered INFO with {other:?}"))),
            Err(e) => Err(ServerError::Refused(format!("a private redis-server stopped answering: {e}"))),
        }
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The private server while it starts: killed if it never answers.
struct Started {
    child: Option<Child>,
    log: PathBuf,
}

impl Started {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last lines of its log, for a message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        lines[lines.len().saturating_sub(2)..].join(" / ")
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_keyspaces_are_read() {
        let mut r = &b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$3\r\nb\r\n\r\n:-1\r\n$-1\r\n-ERR no\r\n"[..];
        let (cursor, keys) = scan_reply(read_reply(&mut r).unwrap()).unwrap();
        assert_eq!((cursor, keys), (b"0".to_vec(), vec![b"a".to_vec(), b"b\r\n".to_vec()]));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(-1));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Bulk(None));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Error("ERR no".into()));
        assert!(read_reply(&mut r).is_err(), "closed");
        let info = "# Keyspace\r\ndb0:keys=6,expires=1,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n";
        assert_eq!(keyspace(info), [(0, 6), (3, 1)]);
    }
}
