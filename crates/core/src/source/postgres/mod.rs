//! A PostgreSQL database, dumped with the official `pg_dump
//! --format=custom`: one repeatable-read transaction, so writers carry on
//! and the dump is one point in time. Checked with `pg_restore`: its table
//! of contents must read, and its data must decompress to the end, which
//! also counts each table's rows.

mod kind;

pub(super) use kind::KIND;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::Digest;

use super::tool::ToolError;
use super::tool::{self, SecretFile};
use super::{Checked, Identity, ServerError, Source};
use crate::manifest::{Kind, TableCount};
use crate::snapshot::{SkipReason, Snapshot};

/// One `[[sources.postgres]]`: `url` is libpq's, without a password (none
/// given: libpq also reads `~/.pgpass`); the entry is `NAME.pgdump`.
pub type PostgresConfig = super::ServerConfig;

/// Its table in the config.
pub(super) const KEY: &str = "sources.postgres";

/// Suffix of its entry in the archive.
pub const PGDUMP_SUFFIX: &str = ".pgdump";

/// How long libpq waits for the server to answer.
const CONNECT_TIMEOUT_SECS: &str = "15";

/// A configured PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    cfg: PostgresConfig,
    id: Identity,
}

impl PostgresSource {
    /// The source `cfg` configures.
    pub fn new(cfg: &PostgresConfig) -> PostgresSource {
        let id =
            Identity { entry: format!("{}{PGDUMP_SUFFIX}", cfg.name), source: cfg.name.clone(), kind: Kind::Postgres };
        PostgresSource { id, cfg: cfg.clone() }
    }

    /// `program` set up to reach the server: the password in a private
    /// `PGPASSFILE` (in `dir` when given; never on the command line, never
    /// in the environment of other users' `ps`), no prompting, a bounded
    /// connect. Besides the usual variables it gets libpq's own (`PG*`).
    fn command(&self, program: &Path, dir: Option<&Path>) -> Result<(Command, Option<SecretFile>), ToolError> {
        let mut cmd = tool::command(program, &["PG"]);
        cmd.env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECS).arg("--no-password");
        let pass = match &self.cfg.password {
            Some(p) => {
                let escaped = p.expose().replace('\\', "\\\\").replace(':', "\\:");
                let file = SecretFile::new(dir, &format!("*:*:*:*:{escaped}\n"))
                    .map_err(|e| ToolError::Secret { program: program.display().to_string(), source: e })?;
                cmd.env("PGPASSFILE", file.path()).env_remove("PGPASSWORD");
                Some(file)
            }
            None => None,
        };
        Ok((cmd, pass))
    }

    /// How long one of its tools may run.
    fn deadline(&self) -> tool::Deadline {
        tool::Deadline::configured(self.cfg.timeout_secs, format!("{KEY} \"{}\" timeout_secs", self.cfg.name))
    }

    /// Why a failed `pg_dump` failed, in words a person can act on.
    fn explain(&self, said: &str) -> String {
        let db = &self.cfg.name;
        if said.contains("server version mismatch") {
            format!(
                "pg_dump is older than the PostgreSQL server ({said}); install the client of the server's major version or newer (apt-get install postgresql-client-NN)"
            )
        } else if said.contains("password authentication failed") {
            format!("the server refused the password ({said}); check sources.postgres \"{db}\" password_file")
        } else if said.contains("no password supplied") {
            format!("the server asks for a password ({said}); set password_file for sources.postgres \"{db}\"")
        } else if said.contains("does not exist") {
            format!("the database is missing ({said}); check the url of sources.postgres \"{db}\"")
        } else if said.contains("could not connect")
            || said.contains("Connection refused")
            || said.contains("timeout expired")
            || said.contains("could not translate host name")
        {
            format!("the server is unreachable ({said}); is PostgreSQL running and the url right?")
        } else {
            format!("pg_dump failed: {said}")
        }
    }
}

impl PostgresSource {
    /// Loads the verified dump `dump` into the configured database with
    /// `pg_restore --clean --if-exists` in one transaction (any error and
    /// nothing changed), then counts its tables' rows (none when counting
    /// fails: the load is done, and the restore's row check says they
    /// differ). A database that does not exist yet is created first, owned
    /// by the url's role. An error means the database was left as it was
    /// (but for a database created here, left empty).
    pub fn load(&self, dump: &Path) -> Result<Vec<TableCount>, ServerError> {
        if let Target::Missing { db, .. } = self.target(dump.parent())? {
            self.create(&db, dump.parent())?;
        }
        let pg_restore = require("pg_restore")?;
        let (mut cmd, _pass) = self.command(&pg_restore, dump.parent())?;
        cmd.args(["--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname"])
            .arg(&self.cfg.url)
            .arg(dump);
        let out = tool::run(&mut cmd, &self.deadline())?;
        if !out.status.success() {
            let said = tool::said(&out, self.cfg.password.as_ref());
            return Err(ServerError::Refused(format!(
                "pg_restore failed and changed nothing (it runs in one transaction): {said}"
            )));
        }
        Ok(self.count_rows(dump.parent()).unwrap_or_else(|e| {
            tracing::warn!("{KEY} \"{}\": loaded, but counting its rows failed: {e}", self.cfg.name);
            Vec::new()
        }))
    }

    /// Before a restore loads a dump: whether the database answers, and
    /// what has to happen first (Some: it is created). Err: why a load
    /// would fail, in words a person can act on.
    pub fn restore_check(&self) -> Result<Option<String>, ServerError> {
        match self.target(None)? {
            Target::Present => Ok(None),
            Target::Missing { db, role, can_create: true } => {
                Ok(Some(format!("database \"{db}\" does not exist: it is created first, owned by role \"{role}\"")))
            }
            Target::Missing { db, role, can_create: false } => Err(ServerError::Refused(format!(
                "database \"{db}\" does not exist, and role \"{role}\" may not create databases; create it as a \
                 superuser first (createdb -O {role} {db}), or give the role CREATEDB"
            ))),
        }
    }

    /// Whether the url's database exists, asked of the server.
    fn target(&self, dir: Option<&Path>) -> Result<Target, ServerError> {
        let url = &self.cfg.url;
        match self.psql(url.as_str(), "SELECT 1", dir) {
            Ok(_) => return Ok(Target::Present),
            // The server's own words: the one case a missing database is told by.
            Err(PsqlError::Said(said)) if said.contains("database") && said.contains("does not exist") => {}
            Err(e) => return Err(self.refused(e)),
        }
        let Some(db) = database_name(url.url()) else {
            return Err(ServerError::Refused(format!("the url of {KEY} \"{}\" names no database", self.cfg.name)));
        };
        let query = format!(
            "SELECT current_user, (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user), \
             EXISTS (SELECT 1 FROM pg_database WHERE datname = {})",
            literal(&db)
        );
        let out = self.maintenance(&query, dir)?;
        let fields: Vec<&str> = out.trim().split('\u{1f}').collect();
        match fields.as_slice() {
            [_, _, "t"] => Ok(Target::Present),
            [role, can, "f"] => Ok(Target::Missing { db, role: role.to_string(), can_create: *can == "t" }),
            _ => Err(ServerError::Refused(format!("asking the server whether database \"{db}\" exists: {out}"))),
        }
    }

    /// Creates database `db`, owned by the url's role (who creates it).
    fn create(&self, db: &str, dir: Option<&Path>) -> Result<(), ServerError> {
        self.maintenance(&format!("CREATE DATABASE {}", identifier(db)), dir).map(|_| ())
    }

    /// Runs `query` in the server's maintenance database (`postgres`, else
    /// `template1`) as the url's role: what it printed.
    fn maintenance(&self, query: &str, dir: Option<&Path>) -> Result<String, ServerError> {
        let mut last = PsqlError::Said(String::new());
        for db in ["postgres", "template1"] {
            let Some(url) = with_database(self.cfg.url.url(), db) else { break };
            match self.psql(&url, query, dir) {
                Ok(out) => return Ok(out),
                Err(e) => last = e,
            }
        }
        Err(self.refused(last))
    }

    /// `psql -c query` against `url`: its output, or why it gave none.
    fn psql(&self, url: &str, query: &str, dir: Option<&Path>) -> Result<String, PsqlError> {
        let psql = require("psql")?;
        let (mut cmd, _pass) = self.command(&psql, dir)?;
        cmd.args(["-X", "-A", "-t", "-F", "\u{1f}", "-v", "ON_ERROR_STOP=1", "-c", query, "--dbname"]).arg(url);
        let out = tool::run(&mut cmd, &self.deadline())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(PsqlError::Said(tool::said(&out, self.cfg.password.as_ref())))
        }
    }

    /// A failed `psql` as the server's failure: what the server said,
    /// explained, or why psql could not run.
    fn refused(&self, e: PsqlError) -> ServerError {
        match e {
            PsqlError::Tool(e) => ServerError::Tool(e),
            PsqlError::Said(said) => ServerError::Refused(self.explain(&said)),
        }
    }

    /// Exact rows of every table in the live database, named as in a dump
    /// (`schema.table`).
    pub fn count_rows(&self, dir: Option<&Path>) -> Result<Vec<TableCount>, ServerError> {
        const QUERY: &str = "SELECT n.nspname || '.' || c.relname, \
            (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text \
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
            ORDER BY 1";
        let psql = require("psql")?;
        let (mut cmd, _pass) = self.command(&psql, dir)?;
        cmd.args(["-X", "-A", "-t", "-F", "\u{1f}", "-c", QUERY, "--dbname"]).arg(&self.cfg.url);
        let out = tool::run(&mut cmd, &self.deadline())?;
        if !out.status.success() {
            return Err(ServerError::Refused(format!(
                "counting rows: {}",
                tool::said(&out, self.cfg.password.as_ref())
            )));
        }
        let mut tables: Vec<TableCount> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('\u{1f}'))
            .map(|(name, rows)| TableCount { name: name.to_string(), rows: rows.trim().parse().unwrap_or(0) })
            .collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tables)
    }
}

impl Source for PostgresSource {
    fn identity(&self) -> &Identity {
        &self.id
    }

    fn snapshot(&self, dest: &Path) -> Result<Snapshot, SkipReason> {
        let pg_dump = require("pg_dump")?;
        let (mut cmd, _pass) = self.command(&pg_dump, dest.parent())?;
        cmd.arg("--format=custom").arg("--file").arg(dest).arg("--dbname").arg(&self.cfg.url);
        let out = tool::run(&mut cmd, &self.deadline()).inspect_err(|_| {
            let _ = std::fs::remove_file(dest);
        })?;
        if !out.status.success() {
            let _ = std::fs::remove_file(dest);
            return Err(SkipReason::Failed(self.explain(&tool::said(&out, self.cfg.password.as_ref()))));
        }
        let size = std::fs::metadata(dest).map_err(SkipReason::io("the dump vanished"))?.len();
        let fingerprint = fingerprint(dest).map_err(SkipReason::io("cannot read the dump"))?;
        Ok(Snapshot { fingerprint: Some(fingerprint), ..self.id.snapshot(dest, size) })
    }

    fn probe(&self) -> Result<Option<String>, ServerError> {
        let pg_dump = require("pg_dump")?;
        let version = tool::version(&pg_dump).unwrap_or_else(|| "pg_dump".into());
        let (mut cmd, _pass) = self.command(&pg_dump, None)?;
        cmd.args(["--schema-only", "--file", "/dev/null", "--dbname"]).arg(&self.cfg.url);
        let out = tool::run(&mut cmd, &self.deadline())?;
        if out.status.success() {
            Ok(Some(format!("reachable; {version} can dump it")))
        } else {
            Err(ServerError::Refused(self.explain(&tool::said(&out, self.cfg.password.as_ref()))))
        }
    }
}

/// Why one `psql` run gave no output.
#[derive(Debug, thiserror::Error)]
enum PsqlError {
    /// psql could not be run to its end.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// It ran and failed: what it said (the server's words, the password
    /// left out).
    #[error("{0}")]
    Said(String),
}

/// Whether the database a url names exists on its server.
enum Target {
    Present,
    /// It does not: `role` (the url's) may create it when `can_create`.
    Missing {
        db: String,
        role: String,
        can_create: bool,
    },
}

/// The database a libpq URL names (its path), decoded.
fn database_name(url: &url::Url) -> Option<String> {
    let path = url.path().trim_start_matches('/');
    let name = url::form_urlencoded::parse(format!("x={}", path.replace('+', "%2B")).as_bytes()).next()?.1.into_owned();
    (!name.is_empty()).then_some(name)
}

/// `url` naming database `db` instead (None: a URL with no path to
/// replace, such as `postgresql:name`).
fn with_database(url: &url::Url, db: &str) -> Option<String> {
    if url.cannot_be_a_base() {
        return None;
    }
    let mut url = url.clone();
    url.set_path(&format!("/{db}"));
    Some(url.to_string())
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `text` as an SQL identifier.
fn identifier(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `pg_restore --list` reads the table of contents; `pg_restore
/// --data-only` then streams every table's data (nothing is restored), and
/// its `COPY` blocks give the rows per table.
pub(super) fn check(path: &Path) -> Result<Checked, SkipReason> {
    let pg_restore = require("pg_restore")?;
    let deadline = tool::Deadline::fixed(tool::LOCAL_CHECK_SECS);
    let listed = tool::run(tool::command(&pg_restore, &[]).arg("--list").arg(path), &deadline)?;
    if !listed.status.success() {
        return Err(SkipReason::Corrupt(format!("pg_restore --list: {}", tool::said(&listed, None))));
    }
    let mut child = tool::command(&pg_restore, &[])
        .args(["--data-only", "--file=-"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ToolError::Spawn { program: "pg_restore".to_string(), source: e })?;
    let watchdog = tool::Watchdog::start(&child, "pg_restore", &deadline);
    let stdout = child.stdout.take().expect("piped");
    let counted = count_copy_rows(BufReader::with_capacity(256 * 1024, stdout));
    let out = child.wait_with_output();
    watchdog.finish()?;
    let out = out.map_err(|e| ToolError::Io { program: "pg_restore".to_string(), source: e })?;
    let tables = counted.map_err(SkipReason::io("reading pg_restore's output"))?;
    if !out.status.success() {
        return Err(SkipReason::Corrupt(format!("pg_restore --data-only: {}", tool::said(&out, None))));
    }
    Ok(Checked { integrity: "ok".to_string(), tables })
}

/// Rows per table in a plain SQL script's `COPY … FROM stdin;` blocks (a
/// row is one line: COPY escapes newlines inside values).
fn count_copy_rows(input: impl BufRead) -> std::io::Result<Vec<TableCount>> {
    let mut tables: Vec<TableCount> = Vec::new();
    let mut current: Option<usize> = None;
    for line in input.split(b'\n') {
        let line = line?;
        match current {
            Some(_) if line == b"\\." => current = None,
            Some(i) => tables[i].rows += 1,
            None => {
                if let Some(rest) = line.strip_prefix(b"COPY ") {
                    let name = qualified_name(&String::from_utf8_lossy(rest));
                    tables.push(TableCount { name, rows: 0 });
                    current = Some(tables.len() - 1);
                }
            }
        }
    }
    Ok(tables)
}

/// `schema.table` from the start of a COPY statement's target, identifiers
/// unquoted (`s2."odd name" (x) FROM stdin;` → `s2.odd name`).
pub(crate) fn qualified_name(target: &str) -> String {
    let mut parts = Vec::new();
    let mut chars = target.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        part.push('"');
                    } else {
                        break;
                    }
                } else {
                    part.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c == ' ' {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        parts.push(part);
        if chars.peek() == Some(&'.') {
            chars.next();
        } else {
            break;
        }
    }
    parts.join(".")
}

/// SHA-256 of a custom-format dump with its creation time zeroed: two dumps
/// of unchanged data are byte for byte the same apart from that time. A
/// header this does not know is hashed whole (every dump then counts as a
/// change, never the other way round).
fn fingerprint(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 64];
    let got = crate::fsutil::read_full(&mut file, &mut head)?;
    let mut hasher = sha2::Sha256::new();
    let mut head = head[..got].to_vec();
    if let Some(range) = creation_time(&head) {
        head[range].fill(0);
    }
    hasher.update(&head);
    std::io::copy(&mut BufReader::with_capacity(256 * 1024, file.by_ref()), &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Where a custom-format header keeps its creation time: after the magic
/// `PGDMP`, three version bytes, the integer and offset sizes, the format
/// and the compression (an integer before archive version 1.15, one byte
/// since), seven integers (sign byte + int size bytes each).
fn creation_time(head: &[u8]) -> Option<std::ops::Range<usize>> {
    if head.len() < 11 || &head[..5] != b"PGDMP" {
        return None;
    }
    let (major, minor, int_size) = (head[5], head[6], usize::from(head[8]));
    if !(1..=8).contains(&int_size) || major != 1 {
        return None;
    }
    let compression = if minor >= 15 { 1 } else { 1 + int_size };
    let start = 11 + compression;
    let end = start + 7 * (1 + int_size);
    (end <= head.len()).then_some(start..end)
}

/// `program` from the PostgreSQL client tools: on `PATH`, else in
/// Debian's per-version folders (the server-side programs live there),
/// newest first.
fn require(program: &str) -> Result<std::path::PathBuf, ToolError> {
    tool::require_in(program, "postgresql-client", &debian_dirs())
}

/// `/usr/lib/postgresql/VERSION/bin`, newest version first.
fn debian_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| r.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort_by_key(|d| {
        std::cmp::Reverse(
            d.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()),
        )
    });
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_failures_are_explained() {
        let cfg = PostgresConfig {
            name: "main".into(),
            url: "postgresql://u@h/db".parse().unwrap(),
            password_file: std::path::PathBuf::new(),
            password: None,
            timeout_secs: crate::source::DEFAULT_TOOL_TIMEOUT_SECS,
        };
        let s = PostgresSource::new(&cfg);
        // pg_dump 15's words when the server is 16.
        let said = "pg_dump: error: aborting because of server version mismatch / pg_dump: detail: server version: 16.4; pg_dump version: 15.18";
        let why = s.explain(said);
        assert!(why.contains("older than the PostgreSQL server") && why.contains("server version: 16.4"), "{why}");
        assert!(s.explain("FATAL:  password authentication failed for user \"u\"").contains("password_file"));
        assert!(
            s.explain("connection to server at \"127.0.0.1\", port 1 failed: Connection refused")
                .contains("unreachable")
        );
        assert!(s.explain("FATAL:  database \"db\" does not exist").contains("database is missing"));
    }

    fn u(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn the_database_of_a_url_is_read_and_replaced() {
        assert_eq!(database_name(&u("postgresql://u@h:5432/bot")).as_deref(), Some("bot"));
        assert_eq!(database_name(&u("postgresql://u@h/my%20db?sslmode=require")).as_deref(), Some("my db"));
        assert_eq!(database_name(&u("postgresql://u@h")), None);
        assert_eq!(
            with_database(&u("postgresql://u@h:5432/bot?sslmode=require"), "postgres").as_deref(),
            Some("postgresql://u@h:5432/postgres?sslmode=require")
        );
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(identifier("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn qualified_names_are_unquoted() {
        assert_eq!(qualified_name("public.users (id, name) FROM stdin;"), "public.users");
        assert_eq!(qualified_name("s2.\"odd name\" (x) FROM stdin;"), "s2.odd name");
        assert_eq!(qualified_name("\"we\"\"ird\".\"a.b\" (x) FROM stdin;"), "we\"ird.a.b");
    }

    #[test]
    fn copy_blocks_count_rows() {
        let sql = "SET x;\nCOPY public.t (a) FROM stdin;\n1\n2\n\\.\n\nCOPY public.e (a) FROM stdin;\n\\.\n";
        let t = count_copy_rows(sql.as_bytes()).unwrap();
        assert_eq!(
            t,
            vec![TableCount { name: "public.t".into(), rows: 2 }, TableCount { name: "public.e".into(), rows: 0 }]
        );
    }

    #[test]
    fn the_creation_time_is_found_in_both_header_layouts() {
        let mut v114 = b"PGDMP\x01\x0e\x00\x04\x08\x01".to_vec();
        v114.extend([0u8; 60]);
        assert_eq!(creation_time(&v114), Some(16..51));
        let mut v115 = b"PGDMP\x01\x0f\x00\x04\x08\x01".to_vec();
        v115.extend([0u8; 60]);
        assert_eq!(creation_time(&v115), Some(12..47));
        assert_eq!(creation_time(b"SQLite format 3\0"), None);
    }
}
