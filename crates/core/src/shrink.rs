//! Shrink detection: a bug that empties a table is faithfully backed up
//! every hour until retention rotates the good archives out. Comparing each
//! new archive with the previous good one catches it while a good copy
//! still exists.

use crate::manifest::Manifest;

/// One database (or one of its tables) that shrank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrink {
    pub database: String,
    /// The table whose rows fell; None: the database's bytes fell.
    pub table: Option<String>,
    /// Rows (or bytes) in the previous archive.
    pub before: u64,
    /// Rows (or bytes) now.
    pub after: u64,
}

impl Shrink {
    /// How much was lost, in percent of before.
    pub fn percent(&self) -> u64 {
        (self.before - self.after) * 100 / self.before.max(1)
    }
}

/// What fell by more than `percent` from `previous` to `current`: each
/// database's bytes and each table's rows (a table that is gone counts as
/// empty). A database missing from `current` is not here: it was skipped,
/// and the partial backup says so.
pub fn compare(previous: &Manifest, current: &Manifest, percent: u32) -> Vec<Shrink> {
    let fell =
        |before: u64, after: u64| before > 0 && after < before && (before - after) * 100 > before * percent as u64;
    let mut out = Vec::new();
    if percent == 0 {
        return out;
    }
    for now in &current.databases {
        let Some(then) = previous.databases.iter().find(|d| d.name == now.name) else { continue };
        for table in &then.tables {
            let after = now.tables.iter().find(|t| t.name == table.name).map_or(0, |t| t.rows);
            if fell(table.rows, after) {
                out.push(Shrink {
                    database: now.name.clone(),
                    table: Some(table.name.clone()),
                    before: table.rows,
                    after,
                });
            }
        }
        if fell(then.size, now.size) {
            out.push(Shrink { database: now.name.clone(), table: None, before: then.size, after: now.size });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{DatabaseEntry, TableCount, Trigger};

    /// (database, bytes, [(table, rows)])
    type Db<'a> = (&'a str, u64, &'a [(&'a str, u64)]);

    fn manifest(dbs: &[Db<'_>]) -> Manifest {
        Manifest {
            base: None,
            format: "lifeboat-backup".into(),
            version: 1,
            created_at: chrono::Utc::now(),
            host: "h".into(),
            trigger: Trigger::Scheduled,
            lifeboat_version: "0".into(),
            databases: dbs
                .iter()
                .map(|(name, size, tables)| DatabaseEntry {
                    name: name.to_string(),
                    size: *size,
                    sha256: String::new(),
                    integrity: "ok".into(),
                    journal_mode: "wal".into(),
                    page_size: 4096,
                    tables: tables.iter().map(|(t, rows)| TableCount { name: t.to_string(), rows: *rows }).collect(),
                    ..Default::default()
                })
                .collect(),
            skipped: Vec::new(),
        }
    }

    #[test]
    fn rows_falling_past_the_limit_name_the_table() {
        let before = manifest(&[("users.db", 100_000, &[("users", 1000), ("payments", 500)])]);
        let after = manifest(&[("users.db", 98_000, &[("users", 200), ("payments", 499)])]);
        let s = compare(&before, &after, 50);
        assert_eq!(s, [Shrink { database: "users.db".into(), table: Some("users".into()), before: 1000, after: 200 }]);
        assert_eq!(s[0].percent(), 80);
    }

    #[test]
    fn bytes_a_dropped_table_and_the_limit_itself() {
        let before = manifest(&[("a.db", 10_000, &[("t", 10), ("gone", 4)])]);
        let after = manifest(&[("a.db", 4_000, &[("t", 5)])]);
        let s = compare(&before, &after, 50);
        assert_eq!(s.iter().map(|s| s.table.as_deref()).collect::<Vec<_>>(), [Some("gone"), None]);
        // Exactly 50 % is not "more than 50 %"; 0 turns it off.
        assert!(compare(&before, &after, 60).iter().all(|s| s.table.as_deref() == Some("gone")));
        assert!(compare(&before, &after, 0).is_empty());
    }

    #[test]
    fn growth_new_tables_and_skipped_databases_are_not_shrinks() {
        let before = manifest(&[("a.db", 100, &[("t", 10)]), ("b.db", 100, &[("t", 10)])]);
        let after = manifest(&[("a.db", 200, &[("t", 20), ("new", 1)])]);
        assert!(compare(&before, &after, 50).is_empty());
    }
}
