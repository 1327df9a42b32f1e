//! A damaged live database with rows newer than its archive: `salvage`
//! reads back every row but those on the damaged page, never touching the
//! live file, and says which rows the archive lacks.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use rusqlite::Connection;

/// The sandbox with the demo's five databases in `data/`.
struct Env(common::Sandbox);

impl Env {
    fn new() -> Env {
        let sb = common::Sandbox::new();
        let (data, out) = (sb.path("data"), sb.path("out"));
        std::fs::write(&sb.config, format!("[backup]\nsource_dir = {data:?}\noutput_dir = {out:?}\n")).unwrap();
        Env(sb)
    }

    fn live(&self) -> PathBuf {
        self.0.path("data/premium_system.db")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.0.cmd(args).output().unwrap()
    }
}

impl std::ops::Deref for Env {
    type Target = common::Sandbox;

    fn deref(&self) -> &common::Sandbox {
        &self.0
    }
}

fn count(db: &Path, table: &str) -> i64 {
    Connection::open(db).unwrap().query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// Adds `n` payments after the archive.
fn pay(db: &Path, n: i64) {
    let c = Connection::open(db).unwrap();
    for i in 0..n {
        c.execute(
            "INSERT INTO payments (user_id, subscription_id, amount_cents, currency, provider, provider_charge_id, paid_at)
             VALUES (1, 1, 500, 'USD', 'stripe', ?1, '2026-12-04 10:00:00')",
            [format!("after-the-archive-{i}")],
        )
        .unwrap();
    }
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
}

/// Overwrites the `payments` leaf page holding payment `id` with garbage;
/// returns how many rows that page held.
fn damage_leaf_of(db: &Path, id: i64) -> u64 {
    let charge: String = Connection::open(db)
        .unwrap()
        .query_row("SELECT provider_charge_id FROM payments WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let mut bytes = std::fs::read(db).unwrap();
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    let needle = charge.as_bytes();
    // The table's leaf (type 0x0D); the UNIQUE index holds the same text on 0x0A pages.
    let page = (0..bytes.len() - needle.len())
        .filter(|&i| &bytes[i..i + needle.len()] == needle)
        .map(|i| i / page_size * page_size)
        .find(|&p| p > 0 && bytes[p] == 0x0D)
        .expect("the payment is on a table leaf");
    let cells = u16::from_be_bytes([bytes[page + 3], bytes[page + 4]]);
    bytes[page..page + page_size].fill(0x5a);
    std::fs::write(db, bytes).unwrap();
    u64::from(cells)
}

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn salvage_keeps_every_readable_row_and_names_the_newer_ones() {
    let env = Env::new();
    assert!(env.run(&["demo", "--no-backup", "--scale-mb", "2"]).status.success());
    assert!(env.run(&["backup"]).status.success());
    let live = env.live();
    let archived = count(&live, "payments");
    pay(&live, 50);
    let middle: i64 = Connection::open(&live)
        .unwrap()
        .query_row("SELECT id FROM payments ORDER BY id LIMIT 1 OFFSET ?1", [archived / 2], |r| r.get(0))
        .unwrap();
    let lost = damage_leaf_of(&live, middle);
    assert!(lost > 0);
    let before = sha256(&live);

    let to = env.dir.path().join("salvaged");
    let out = env.run(&["salvage", "premium_system.db", "--to", to.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["complete"], false);
    assert_eq!(report["integrity"], "ok");
    let payments = report["tables"].as_array().unwrap().iter().find(|t| t["name"] == "payments").unwrap();
    assert_eq!(payments["salvaged"], (archived + 50) as u64 - lost, "{payments}");
    assert_eq!(payments["in_archive"], archived, "{payments}");
    assert_eq!(payments["not_in_archive"], 50, "the newer rows are all back: {payments}");
    assert_eq!(payments["lost"].as_array().unwrap().len(), 1, "{payments}");
    for t in report["tables"].as_array().unwrap().iter().filter(|t| t["name"] != "payments") {
        assert_eq!(t["complete"], true, "{t}");
        assert_eq!(t["salvaged"], t["in_archive"], "{t}");
    }
    assert_eq!(sha256(&live), before, "the live file is never written");

    let salvaged = to.join("premium_system.db");
    assert_eq!(count(&salvaged, "payments"), (archived + 50) - lost as i64);
    assert_eq!(count(&salvaged, "payments WHERE provider_charge_id LIKE 'after-the-archive-%'"), 50);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&salvaged).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // Never over an existing file; a name that is neither a database nor a file.
    let again = env.run(&["salvage", "premium_system.db", "--to", to.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    let unknown = env.run(&["salvage", "nothing.db"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("neither a database of backup.databases"));
}

fn shell(env: &Env, script: &str) -> Output {
    common::shell(&env.config, env.dir.path(), script)
}

fn rows(db: &Path) -> Vec<(i64, String, i64)> {
    let c = Connection::open(db).unwrap();
    let mut stmt = c.prepare("SELECT id, provider_charge_id, amount_cents FROM payments ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// The "A damaged database" recipe of docs/operations.md, exactly as
/// written there: salvage, restore the newest good copy, put the newer rows
/// back. With the damage on rows the archive holds, every payment comes back.
#[test]
fn the_damaged_database_recipe_gets_back_all_but_the_damaged_page() {
    let ops = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md")).unwrap();
    let steps = [
        "lifeboat salvage DB --to SALVAGED",
        "lifeboat restore ARCHIVE --only DB --yes",
        "lifeboat diff SALVAGED/DB live --only DB --sql | sqlite3 LIVE_DB",
    ];
    for step in steps {
        assert!(ops.contains(&format!("`{step}`")), "docs/operations.md gives `{step}`");
    }
    let env = Env::new();
    assert!(env.run(&["demo", "--no-backup", "--scale-mb", "1"]).status.success());
    let made = env.run(&["backup"]);
    assert!(made.status.success());
    let archive = String::from_utf8(made.stdout).unwrap();
    let archive = Path::new(archive.trim()).file_name().unwrap().to_str().unwrap().to_string();
    let live = env.live();
    pay(&live, 50);
    let expected = rows(&live);
    let archived_ids: Vec<i64> = expected.iter().map(|r| r.0).filter(|&id| id <= expected.len() as i64 - 50).collect();
    let middle = archived_ids[archived_ids.len() / 2];
    // The rows on the page about to be damaged are the only ones lost.
    let lost = damage_leaf_of(&live, middle);

    let fill = |step: &str| {
        step.replace("SALVAGED", "salvaged")
            .replace("ARCHIVE", &archive)
            .replace("LIVE_DB", &live.display().to_string())
            .replace("DB", "premium_system.db")
    };
    let salvaged = shell(&env, &fill(steps[0]));
    assert_eq!(salvaged.status.code(), Some(3), "{}", String::from_utf8_lossy(&salvaged.stderr));
    let said = String::from_utf8_lossy(&salvaged.stdout);
    assert!(said.contains(&format!("lifeboat restore {archive} --only premium_system.db --yes")), "{said}");
    for step in &steps[1..] {
        let out = shell(&env, &fill(step));
        assert!(out.status.success(), "{step}: {}", String::from_utf8_lossy(&out.stderr));
    }

    // The damaged page's rows are older than the archive, which gives them
    // back; the salvaged copy gives back the 50 newer ones: everything.
    assert!(lost > 0);
    assert_eq!(rows(&live), expected, "every payment is back");
    let integrity: String =
        Connection::open(&live).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(
        std::fs::read_dir(env.dir.path().join("out/quarantine")).unwrap().count(),
        1,
        "the damaged file was kept"
    );
}
