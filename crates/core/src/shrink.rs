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

/// What fell sharply from `previous` to `current`: each database's bytes
/// and each table's rows by more than `percent` (0: off), and each table's
/// rows by more than `rows` (0: off), whatever its share (a table that is
/// gone counts as empty). A database missing from `current` is not here: it
/// was skipped, and the partial backup says so.
pub fn compare(previous: &Manifest, current: &Manifest, percent: u32, rows: u64) -> Vec<Shrink> {
    let share = |before: u64, after: u64| {
        percent > 0 && before > 0 && after < before && (before - after) * 100 > before * u64::from(percent)
    };
    let fell = |before: u64, after: u64| share(before, after) || (rows > 0 && before.saturating_sub(after) > rows);
    let mut out = Vec::new();
    if percent == 0 && rows == 0 {
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
        if share(then.size, now.size) {
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
        let s = compare(&before, &after, 50, 0);
        assert_eq!(s, [Shrink { database: "users.db".into(), table: Some("users".into()), before: 1000, after: 200 }]);
        assert_eq!(s[0].percent(), 80);
    }

    #[test]
    fn bytes_a_dropped_table_and_the_limit_itself() {
        let before = manifest(&[("a.db", 10_000, &[("t", 10), ("gone", 4)])]);
        let after = manifest(&[("a.db", 4_000, &[("t", 5)])]);
        let s = compare(&before, &after, 50, 0);
        assert_eq!(s.iter().map(|s| s.table.as_deref()).collect::<Vec<_>>(), [Some("gone"), None]);
        // Exactly 50 % is not "more than 50 %"; 0 turns it off.
        assert!(compare(&before, &after, 60, 0).iter().all(|s| s.table.as_deref() == Some("gone")));
        assert!(compare(&before, &after, 0, 0).is_empty());
    }

    #[test]
    fn a_row_limit_catches_what_the_share_lets_through() {
        // A bad deploy deletes a quarter of a large table: under 50 %.
        let before = manifest(&[("a.db", 100_000, &[("payments", 100_000), ("small", 10)])]);
        let after = manifest(&[("a.db", 60_000, &[("payments", 75_000), ("small", 1)])]);
        let tables = |s: Vec<Shrink>| s.into_iter().map(|s| s.table).collect::<Vec<_>>();
        assert_eq!(tables(compare(&before, &after, 50, 0)), [Some("small".to_string())]);
        let both = tables(compare(&before, &after, 50, 10_000));
        assert_eq!(both, [Some("payments".to_string()), Some("small".to_string())]);
        // Rows alone: the database's bytes are judged by share only.
        assert_eq!(tables(compare(&before, &after, 0, 10_000)), [Some("payments".to_string())]);
        assert!(compare(&before, &after, 0, 25_000).is_empty(), "exactly the limit is not more than it");
    }

    #[test]
    fn growth_new_tables_and_skipped_databases_are_not_shrinks() {
        let before = manifest(&[("a.db", 100, &[("t", 10)]), ("b.db", 100, &[("t", 10)])]);
        let after = manifest(&[("a.db", 200, &[("t", 20), ("new", 1)])]);
        assert!(compare(&before, &after, 50, 0).is_empty());
    }
}
