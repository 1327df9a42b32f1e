//! A Redis server's data, as the RDB snapshot the server itself produces for
//! a replica (`redis-cli --rdb`): one point in time, taken by the server's
//! fork. Checked with `redis-check-rdb`, which also counts the keys. A
//! live restore puts it back key by key (`load.rs`).

mod kind;
mod load;

pub(super) use kind::KIND;

use std::io::{BufReader, Read};
use std::path::Path;
use std::process::Command;

use sha2::Digest;

use super::tool;
use super::{Checked, Identity, ServerError, ServerUrl, Source};
use crate::manifest::{Kind, TableCount};
use crate::snapshot::{SkipReason, Snapshot};

/// One `[[sources.redis]]`: `url` is `redis://host:port` (or `rediss://`),
/// without a password; the password file holds `requirepass` or an ACL
/// user's. The entry is `NAME.rdb`.
pub type RedisConfig = super::ServerConfig;

/// Its table in the config.
pub(super) const KEY: &str = "sources.redis";

/// Suffix of its entry in the archive.
pub const RDB_SUFFIX: &str = ".rdb";

/// The table name a Redis snapshot's key count is recorded under.
pub const KEYS: &str = "keys";

/// A configured Redis server.
#[derive(Debug, Clone)]
pub struct RedisSource {
    cfg: RedisConfig,
    id: Identity,
}

impl RedisSource {
    /// The source `cfg` configures.
    pub fn new(cfg: &RedisConfig) -> RedisSource {
        let id = Identity { entry: format!("{}{RDB_SUFFIX}", cfg.name), source: cfg.name.clone(), kind: Kind::Redis };
        RedisSource { id, cfg: cfg.clone() }
    }

    /// `redis-cli` for this server; the password goes through
    /// `REDISCLI_AUTH`, never the command line. An ACL user in the url
    /// (`redis://USER@host:port`) goes as `--user USER` with the url
    /// without it: redis-cli reads a lone name before `@` as a password
    /// (for the default user), and then ignores `REDISCLI_AUTH`.
    fn cli(&self, program: &Path) -> Command {
        let mut cmd = tool::command(program, &[]);
        let (url, user) = split_user(&self.cfg.url);
        cmd.arg("-u").arg(url);
        if let Some(user) = user {
            cmd.arg("--user").arg(user);
        }
        if let Some(p) = &self.cfg.password {
            cmd.env("REDISCLI_AUTH", p.expose());
        }
        cmd
    }

    /// How long one `redis-cli` run may take.
    fn deadline(&self) -> tool::Deadline {
        tool::Deadline::configured(self.cfg.timeout_secs, format!("{KEY} \"{}\" timeout_secs", self.cfg.name))
    }

    fn explain(&self, said: &str) -> String {
        let name = &self.cfg.name;
        if said.contains("NOAUTH") {
            format!("the server asks for a password ({said}); set password_file for sources.redis \"{name}\"")
        } else if said.contains("WRONGPASS") || said.contains("invalid password") {
            format!("the server refused the password ({said}); check sources.redis \"{name}\" password_file")
        } else if said.contains("Could not connect") || said.contains("Connection refused") {
            format!("the server is unreachable ({said}); is Redis running and the url right?")
        } else {
            format!("redis-cli --rdb failed: {said}")
        }
    }
}

impl Source for RedisSource {
    fn identity(&self) -> &Identity {
        &self.id
    }

    fn snapshot(&self, dest: &Path) -> Result<Snapshot, SkipReason> {
        let cli = tool::require("redis-cli", "redis-tools")?;
        let out = tool::run(self.cli(&cli).arg("--rdb").arg(dest), &self.deadline()).inspect_err(|_| {
            let _ = std::fs::remove_file(dest);
        })?;
        // redis-cli exits 0 on a few failures too; the file tells.
        let size = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        if !out.status.success() || size == 0 {
            let _ = std::fs::remove_file(dest);
            return Err(SkipReason::Failed(self.explain(&tool::said(&out, self.cfg.password.as_ref()))));
        }
        let fingerprint = fingerprint(dest).map_err(SkipReason::io("cannot read the snapshot"))?;
        Ok(Snapshot { fingerprint: Some(fingerprint), ..self.id.snapshot(dest, size) })
    }

    fn probe(&self) -> Result<Option<String>, ServerError> {
        let cli = tool::require("redis-cli", "redis-tools")?;
        tool::require("redis-check-rdb", "redis-tools")?;
        let out = tool::run(self.cli(&cli).args(["INFO", "server"]), &self.deadline())?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.lines().find_map(|l| l.strip_prefix("redis_version:")) {
            Some(v) if out.status.success() => Ok(Some(format!("reachable; Redis {}", v.trim()))),
            _ => Err(ServerError::Refused(self.explain(&tool::said(&out, self.cfg.password.as_ref())))),
        }
    }
}

/// `url` without its user name, and the name (percent-decoded), when it
/// has one; a url without one is passed on as written.
fn split_user(url: &ServerUrl) -> (String, Option<String>) {
    let parsed = url.url();
    if parsed.username().is_empty() {
        return (url.as_str().to_string(), None);
    }
    let user = percent_encoding::percent_decode_str(parsed.username()).decode_utf8_lossy().into_owned();
    let mut bare = parsed.clone();
    if bare.set_username("").is_err() {
        return (url.as_str().to_string(), None);
    }
    (bare.to_string(), Some(user))
}

/// `redis-check-rdb`: the file must parse to its checksum; the keys it read
/// are recorded.
pub(super) fn check(path: &Path) -> Result<Checked, SkipReason> {
    let program = tool::require("redis-check-rdb", "redis-tools")?;
    let deadline = tool::Deadline::fixed(tool::LOCAL_CHECK_SECS);
    let out = tool::run(tool::command(&program, &[]).arg(path), &deadline)?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("RDB looks OK") {
        return Err(SkipReason::Corrupt(format!("redis-check-rdb: {}", tool::said(&out, None))));
    }
    let keys = text
        .lines()
        .find_map(|l| l.strip_prefix("[info] ").and_then(|l| l.strip_suffix(" keys read")))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .ok_or_else(|| SkipReason::Failed("redis-check-rdb did not say how many keys it read".to_string()))?;
    Ok(Checked { integrity: "ok".to_string(), tables: vec![TableCount { name: KEYS.to_string(), rows: keys }] })
}

/// SHA-256 of an RDB snapshot without what differs between two snapshots
/// of the same data: the auxiliary fields at its start (creation time,
/// memory in use, replication offset, …) and the checksum at its end,
/// which covers them. A file this does not read is hashed whole (every
/// snapshot then counts as a change, never the other way round).
fn fingerprint(path: &Path) -> std::io::Result<String> {
    let size = std::fs::metadata(path)?.len();
    let mut hasher = sha2::Sha256::new();
    let mut file = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    match data_start(&mut file) {
        Ok(Some((start, first))) if size >= start + 8 => {
            hasher.update(RDB_MAGIC);
            hasher.update([first]);
            std::io::copy(&mut file.take(size - start - 8), &mut hasher)?;
        }
        _ => {
            let mut file = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
            std::io::copy(&mut file, &mut hasher)?;
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The first bytes of every RDB file; a version follows.
const RDB_MAGIC: &[u8] = b"REDIS";
/// The opcode of an auxiliary field (a name and a value, both strings).
const RDB_AUX: u8 = 0xFA;

/// Reads past the RDB header and its auxiliary fields: the offset just
/// after the first byte of the data and that byte, or None when this is
/// no RDB file this understands (no checksum before version 5).
fn data_start(r: &mut impl Read) -> std::io::Result<Option<(u64, u8)>> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head)?;
    let version = std::str::from_utf8(&head[5..]).ok().and_then(|v| v.parse::<u32>().ok());
    if &head[..5] != RDB_MAGIC || version.is_none_or(|v| v < 5) {
        return Ok(None);
    }
    let mut at = head.len() as u64;
    loop {
        let opcode = byte(r)?;
        at += 1;
        if opcode != RDB_AUX {
            return Ok(Some((at, opcode)));
        }
        for _ in 0..2 {
            match skip_string(r)? {
                Some(n) => at += n,
                None => return Ok(None),
            }
        }
    }
}

fn byte(r: &mut impl Read) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// An RDB length: (Ok: the length, or Err: a special encoding's number)
/// and the bytes it took, or None when it is not one.
fn length(r: &mut impl Read) -> std::io::Result<Option<(Result<u64, u8>, u64)>> {
    let first = byte(r)?;
    let big_endian = |r: &mut dyn Read, n: usize| -> std::io::Result<u64> {
        let mut buf = [0u8; 8];
        r.read_exact(&mut buf[8 - n..])?;
        Ok(u64::from_be_bytes(buf))
    };
    Ok(match first >> 6 {
        0 => Some((Ok(u64::from(first & 0x3F)), 1)),
        1 => Some((Ok((u64::from(first & 0x3F) << 8) | u64::from(byte(r)?)), 2)),
        2 if first == 0x80 => Some((Ok(big_endian(r, 4)?), 5)),
        2 if first == 0x81 => Some((Ok(big_endian(r, 8)?), 9)),
        3 => Some((Err(first & 0x3F), 1)),
        _ => None,
    })
}

/// Skips one RDB string (plain, an integer, or LZF-compressed): the bytes
/// it took, or None when it is not one.
fn skip_string(r: &mut impl Read) -> std::io::Result<Option<u64>> {
    let skip = |r: &mut dyn Read, n: u64| -> std::io::Result<u64> {
        let skipped = std::io::copy(&mut r.take(n), &mut std::io::sink())?;
        if skipped < n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(n)
    };
    Ok(match length(r)? {
        Some((Ok(n), took)) => Some(took + skip(r, n)?),
        Some((Err(0), took)) => Some(took + skip(r, 1)?),
        Some((Err(1), took)) => Some(took + skip(r, 2)?),
        Some((Err(2), took)) => Some(took + skip(r, 4)?),
        Some((Err(3), took)) => {
            let (Some((Ok(compressed), a)), Some((Ok(_), b))) = (length(r)?, length(r)?) else { return Ok(None) };
            Some(took + a + b + skip(r, compressed)?)
        }
        _ => None,
    })
}

/// How to load a restored Redis snapshot `rdb` by hand (a live restore
/// does it without a restart where this machine has `redis-server`):
/// Redis reads its dump file only when it starts.
pub fn steps(rdb: &Path) -> String {
    format!(
        "to load {} into Redis by hand: stop Redis (systemctl stop redis-server); find its dump file \
         (redis-cli CONFIG GET dir, CONFIG GET dbfilename; usually /var/lib/redis/dump.rdb); \
         with appendonly on, also move its appendonly files aside; copy {} over the dump file, \
         chown redis:redis it; start Redis (systemctl start redis-server) and check with redis-cli DBSIZE",
        rdb.display(),
        rdb.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RDB string of `s`, plain.
    fn string(s: &[u8]) -> Vec<u8> {
        [&[s.len() as u8][..], s].concat()
    }

    /// An RDB file: the header, aux fields `ctime` and `used-mem` (as
    /// 32-bit integers), a 14-bit-long aux field, key `a` = `value`, a
    /// checksum.
    fn rdb(ctime: u32, used: u32, value: &[u8]) -> Vec<u8> {
        let mut f = b"REDIS0010".to_vec();
        f.extend([RDB_AUX]);
        f.extend(string(b"ctime"));
        f.extend([0xC2]);
        f.extend(ctime.to_le_bytes());
        f.extend([RDB_AUX]);
        f.extend(string(b"used-mem"));
        f.extend([0xC2]);
        f.extend(used.to_le_bytes());
        f.extend([RDB_AUX]);
        f.extend(string(b"repl-id"));
        f.extend([0x40, 100]);
        f.extend([b'x'; 100]);
        f.extend([0xFE, 0x00, 0xFB, 0x01, 0x00, 0x00]);
        f.extend(string(b"a"));
        f.extend(string(value));
        f.extend([0xFF]);
        f.extend((ctime ^ used).to_le_bytes());
        f.extend([0u8; 4]);
        f
    }

    fn of(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dump.rdb");
        std::fs::write(&p, bytes).unwrap();
        fingerprint(&p).unwrap()
    }

    #[test]
    fn an_acl_user_leaves_the_url_for_its_own_option() {
        let split = |url: &str| split_user(&url.parse().unwrap());
        assert_eq!(split("redis://127.0.0.1:6379"), ("redis://127.0.0.1:6379".to_string(), None));
        assert_eq!(
            split("redis://backup@127.0.0.1:6379/2"),
            ("redis://127.0.0.1:6379/2".to_string(), Some("backup".to_string()))
        );
        assert_eq!(split("rediss://a%40b@h:1"), ("rediss://h:1".to_string(), Some("a@b".to_string())));
    }

    #[test]
    fn two_snapshots_of_the_same_data_have_one_fingerprint() {
        assert_eq!(of(&rdb(1, 2, b"b")), of(&rdb(1_800_000_000, 900_000, b"b")));
        assert_ne!(of(&rdb(1, 2, b"b")), of(&rdb(1, 2, b"c")));
    }

    #[test]
    fn a_file_it_does_not_read_is_hashed_whole() {
        let mut truncated = rdb(1, 2, b"b");
        truncated.truncate(20);
        let whole = hex::encode(sha2::Sha256::digest(&truncated));
        assert_eq!(of(&truncated), whole);
        let old = [b"REDIS0004".as_slice(), &rdb(1, 2, b"b")[9..]].concat();
        assert_eq!(of(&old), hex::encode(sha2::Sha256::digest(&old)));
    }
}
