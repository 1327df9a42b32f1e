//! `[hooks]`: the operator's commands around a cycle (flush a cache, pause
//! a worker, tell a pager). Each is a command line run with `/bin/sh -c`,
//! in its own process group, with the environment a server tool gets (PATH,
//! HOME, the locale; never a `LIFEBOAT*` secret) plus the cycle's
//! `LIFEBOAT_*` variables. What it prints goes to the log, line by line;
//! past `hooks.timeout_secs` it is killed with every process it started.

use std::path::Path;

use crate::config::Config;
use lifeboat_core::source::tool::{self, Deadline, ToolError};

/// The shell every hook runs under.
pub const SHELL: &str = "/bin/sh";
/// Lines of a hook's output written to the log, at most (the last ones).
pub const MAX_LOGGED_LINES: usize = 50;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `hooks.before`: before the cycle; a failure skips it.
    Before,
    /// `hooks.after`: after every cycle that ran.
    After,
    /// `hooks.on_failure`: after a cycle that failed, was partial or was skipped.
    OnFailure,
}

impl Stage {
    /// Its key in the configuration.
    pub fn key(self) -> &'static str {
        match self {
            Stage::Before => "hooks.before",
            Stage::After => "hooks.after",
            Stage::OnFailure => "hooks.on_failure",
        }
    }

    /// The command lines `cfg` gives for this stage, in order.
    pub fn commands(self, cfg: &Config) -> &[String] {
        match self {
            Stage::Before => &cfg.hooks.before,
            Stage::After => &cfg.hooks.after,
            Stage::OnFailure => &cfg.hooks.on_failure,
        }
    }
}

/// Why a hook did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// It ran and exited non-zero, or was killed by a signal.
    #[error("{key} `{command}` {status}{}", said_suffix(.said))]
    Failed {
        key: &'static str,
        command: String,
        /// "exited with status 3", "was killed by signal 9".
        status: String,
        /// Its last lines of output, if any.
        said: String,
    },
    /// It ran past `hooks.timeout_secs` and was killed.
    #[error(
        "{key} `{command}` ran past hooks.timeout_secs ({secs} s) and was stopped with every process it started; \
         raise hooks.timeout_secs if it needs longer"
    )]
    TimedOut { key: &'static str, command: String, secs: u64 },
    /// The shell could not be started or waited for.
    #[error("cannot run {key} `{command}`: {source}")]
    Run {
        key: &'static str,
        command: String,
        #[source]
        source: ToolError,
    },
}

fn said_suffix(said: &str) -> String {
    if said.is_empty() { String::new() } else { format!(": {said}") }
}

/// A command line as messages show it: one line, at most 120 characters.
fn shown(command: &str) -> String {
    let one: String = command.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= 120 {
        return one;
    }
    let mut cut: String = one.chars().take(119).collect();
    cut.push('…');
    cut
}

/// Runs one command line at `stage` with `env` added; its output is logged.
pub fn run_one(cfg: &Config, stage: Stage, command: &str, env: &[(&str, String)]) -> Result<(), HookError> {
    let key = stage.key();
    let name = shown(command);
    let mut cmd = tool::command(Path::new(SHELL), &[]);
    cmd.arg("-c").arg(command).current_dir(std::env::current_dir().unwrap_or_else(|_| "/".into()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let deadline = Deadline::configured(cfg.hooks.timeout_secs, "hooks.timeout_secs");
    let out = match tool::run(&mut cmd, &deadline) {
        Ok(out) => out,
        Err(ToolError::TimedOut { secs, .. }) => return Err(HookError::TimedOut { key, command: name, secs }),
        Err(source) => return Err(HookError::Run { key, command: name, source }),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    for line in &lines[lines.len().saturating_sub(MAX_LOGGED_LINES)..] {
        tracing::info!(target: "lifeboat::hooks", "{key} `{name}` said: {line}");
    }
    if out.status.success() {
        tracing::info!(target: "lifeboat::hooks", "{key} `{name}` succeeded");
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    let status = match (out.status.code(), out.status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "failed".to_string(),
    };
    let said = tool::said(&out, None);
    Err(HookError::Failed { key, command: name, status, said })
}

/// Runs `stage`'s commands in order. `hooks.before` stops at the first that
/// fails (its error is returned first); the others all run, and every
/// failure is returned, for the caller to report.
pub fn run(cfg: &Config, stage: Stage, env: &[(&str, String)]) -> Vec<HookError> {
    let mut failed = Vec::new();
    for command in stage.commands(cfg) {
        if let Err(e) = run_one(cfg, stage, command, env) {
            failed.push(e);
            if stage == Stage::Before {
                break;
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(hooks: &str) -> Config {
        Config::from_toml(&format!("[hooks]\n{hooks}")).unwrap()
    }

    #[test]
    fn a_hook_gets_its_variables_and_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let c = cfg(&format!("after = [\"env > {}\"]\n", out.display()));
        let failed = run(&c, Stage::After, &[("LIFEBOAT_RESULT", "ok".into())]);
        assert!(failed.is_empty(), "{failed:?}");
        let env = std::fs::read_to_string(&out).unwrap();
        assert!(env.lines().any(|l| l == "LIFEBOAT_RESULT=ok"), "{env}");
        assert!(env.lines().all(|l| !l.starts_with("LIFEBOAT_") || l.starts_with("LIFEBOAT_RESULT")), "{env}");
    }

    #[test]
    fn before_stops_at_the_first_failure_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let c = cfg(&format!("before = [\"echo worker busy >&2; exit 3\", \"touch {}\"]\n", ran.display()));
        let failed = run(&c, Stage::Before, &[]);
        assert_eq!(failed.len(), 1);
        let said = failed[0].to_string();
        assert!(
            said.contains("hooks.before") && said.contains("exited with status 3") && said.contains("worker busy"),
            "{said}"
        );
        assert!(!ran.exists(), "the second before hook must not run");
    }

    #[test]
    fn a_hook_past_its_deadline_is_killed_with_its_children() {
        // A duration no other process on this machine sleeps: it finds them.
        let marker = format!("3000.{}", std::process::id());
        let c = cfg(&format!("timeout_secs = 1\nafter = [\"sleep {marker} & sleep {marker}\"]\n"));
        let started = std::time::Instant::now();
        let failed = run(&c, Stage::After, &[]);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(matches!(failed[0], HookError::TimedOut { secs: 1, .. }), "{}", failed[0]);
        assert!(failed[0].to_string().contains("raise hooks.timeout_secs"), "{}", failed[0]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let left = lifeboat_testkit::daemon::processes_with(&marker);
        assert!(left.is_empty(), "{left:?}");
    }
}
