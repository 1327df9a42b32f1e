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
