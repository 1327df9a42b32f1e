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
