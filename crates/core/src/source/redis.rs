//! A Redis server's data, as the RDB snapshot the server itself produces for
//! a replica (`redis-cli --rdb`): one point in time, taken by the server's
//! fork. Checked with `redis-check-rdb`, which also counts the keys.

use std::path::Path;
use std::process::Command;

use super::tool;
use super::{Checked, Identity, Source};
use crate::manifest::{Kind, RDB_SUFFIX, TableCount};
use crate::snapshot::{SkipReason, Snapshot};

/// One `[[sources.redis]]`: `url` is `redis://host:port` (or `rediss://`),
/// without a password; the password file holds `requirepass` or an ACL
/// user's. The entry is `NAME.rdb`.
pub type RedisConfig = super::ServerConfig;

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
    /// `REDISCLI_AUTH`, never the command line.
    fn cli(&self, program: &Path) -> Command {
        let mut cmd = tool::command(program, &[]);
        cmd.arg("-u").arg(&self.cfg.url);
        if let Some(p) = &self.cfg.password {
            cmd.env("REDISCLI_AUTH", p.expose());
        }
        cmd
    }

    /// How long one `redis-cli` run may take.
    fn deadline(&self) -> tool::Deadline {
        tool::Deadline::configured(self.cfg.timeout_secs, format!("sources.redis \"{}\" timeout_secs", self.cfg.name))
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
        let cli = tool::require("redis-cli", "redis-tools").map_err(SkipReason::Other)?;
        let out = tool::run(self.cli(&cli).arg("--rdb").arg(dest), &self.deadline()).map_err(|e| {
            let _ = std::fs::remove_file(dest);
            SkipReason::Other(e)
        })?;
        // redis-cli exits 0 on a few failures too; the file tells.
        let size = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        if !out.status.success() || size == 0 {
            let _ = std::fs::remove_file(dest);
            return Err(SkipReason::Other(self.explain(&tool::said(&out, self.cfg.password.as_ref()))));
        }
        Ok(self.id.snapshot(dest, size))
    }

    fn probe(&self) -> Option<Result<String, String>> {
        let probe = || {
            let cli = tool::require("redis-cli", "redis-tools")?;
            tool::require("redis-check-rdb", "redis-tools")?;
            let out = tool::run(self.cli(&cli).args(["INFO", "server"]), &self.deadline())?;
            let text = String::from_utf8_lossy(&out.stdout);
            match text.lines().find_map(|l| l.strip_prefix("redis_version:")) {
                Some(v) if out.status.success() => Ok(format!("reachable; Redis {}", v.trim())),
                _ => Err(self.explain(&tool::said(&out, self.cfg.password.as_ref()))),
            }
        };
        Some(probe())
    }
}

/// `redis-check-rdb`: the file must parse to its checksum; the keys it read
/// are recorded.
pub(super) fn check(path: &Path) -> Result<Checked, SkipReason> {
    let program = tool::require("redis-check-rdb", "redis-tools").map_err(SkipReason::Other)?;
    let deadline = tool::Deadline::fixed(tool::LOCAL_CHECK_SECS);
    let out = tool::run(tool::command(&program, &[]).arg(path), &deadline).map_err(SkipReason::Other)?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("RDB looks OK") {
        return Err(SkipReason::Corrupt(format!("redis-check-rdb: {}", tool::said(&out, None))));
    }
    let keys = text
        .lines()
        .find_map(|l| l.strip_prefix("[info] ").and_then(|l| l.strip_suffix(" keys read")))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .ok_or_else(|| SkipReason::Other("redis-check-rdb did not say how many keys it read".to_string()))?;
    Ok(Checked { integrity: "ok".to_string(), tables: vec![TableCount { name: KEYS.to_string(), rows: keys }] })
}
