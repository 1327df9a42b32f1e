//! A Lifeboat daemon (the dashboard, the Discord bot) started as its real
//! binary, for end-to-end tests: its config in a folder of the test's, its
//! log beside it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts the binary `bin` (a test's `env!("CARGO_BIN_EXE_…")`) with the
/// config `toml`, written to `dir/lifeboat.toml` (none from
/// `LIFEBOAT_CONFIG`), logging at debug level to `dir/stderr.log`.
pub fn spawn(bin: &str, dir: &Path, toml: &str) -> Child {
    let config = dir.join("lifeboat.toml");
    std::fs::write(&config, toml).unwrap();
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    Command::new(bin)
        .arg("--config")
        .arg(&config)
        .env_remove("LIFEBOAT_CONFIG")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// What the daemon [`spawn`]ed with `dir` has logged so far.
pub fn stderr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

/// The command lines of this machine's processes that contain `marker`:
/// what a test that kills a process group looks for afterwards.
pub fn processes_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}
