//! The plan and the outcome in words, for the CLI and the dashboard.

use std::fmt;

use super::{Action, RestoreOutcome, RestorePlan};
use crate::units::human_size;

impl fmt::Display for RestorePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(
            f,
            "Restore from {} (taken {} on {}, {}, {} database{}{})",
            self.archive.name,
            m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            m.host,
            m.trigger,
            m.databases.len(),
            if m.databases.len() == 1 { "" } else { "s" },
            if self.archive.is_split() { format!(", {} parts", self.archive.files.len()) } else { String::new() }
        )?;
        for d in &self.databases {
            let what = match &d.action {
                Action::Replace { current_size, journal_mode, .. } => format!(
                    "REPLACE {} (now {}, {journal_mode} mode, kept; written through SQLite so open connections stay valid)",
                    d.dest.display(),
                    human_size(*current_size)
                ),
                Action::ReplaceUnreadable { reason } => format!(
                    "REPLACE {} — it is not a readable database ({reason}); it is moved aside as {}.unreadable-<time>, not deleted",
                    d.dest.display(),
                    d.name
                ),
                Action::Create => format!("CREATE {} (it does not exist)", d.dest.display()),
                Action::WriteFile => format!("WRITE {} (new file, 0600)", d.dest.display()),
                Action::LoadDump { source } => format!(
                    "LOAD into {} (sources.postgres \"{source}\"): pg_restore --clean --if-exists, in one transaction",
                    d.dest.display()
                ),
                Action::WriteBack { exists: true } => {
                    format!("REPLACE {} (written beside it, then renamed over it)", d.dest.display())
                }
                Action::WriteBack { exists: false } => format!("CREATE {} (it does not exist)", d.dest.display()),
            };
            writeln!(f, "  {:<24} {:>10}, {:>9} rows → {what}", d.name, human_size(d.size), d.rows)?;
            for c in &d.schema_changes {
                writeln!(f, "      schema differs: {c}")?;
            }
        }
        let left_out: Vec<&str> = m
            .databases
            .iter()
            .filter(|e| {
                !self.databases.iter().any(|d| d.name == e.name)
                    && !self.unconfigured.contains(&e.name)
                    && !self.manual.contains(&e.name)
            })
            .map(|e| e.name.as_str())
            .collect();
        if !left_out.is_empty() {
            writeln!(f, "  not restored (not selected): {}", left_out.join(", "))?;
        }
        if !self.unconfigured.is_empty() {
            writeln!(
                f,
                "  not restored (not in backup.databases or [[sources.*]] here; restore it with --to DIR): {}",
                self.unconfigured.join(", ")
            )?;
        }
        if !self.manual.is_empty() {
            writeln!(
                f,
                "  not restored live (Redis loads a snapshot only when it starts; restore it with --to DIR, then follow the steps printed): {}",
                self.manual.join(", ")
            )?;
        }
        if self.schema_differs() {
            writeln!(
                f,
                "  The archive's tables differ from the live database's: it may belong to another application \
                 or another version of the bot. {}",
                if self.force_schema {
                    "Replacing anyway (--force-schema)."
                } else {
                    "Nothing will be replaced unless you add --force-schema."
                }
            )?;
        }
        if self.is_live() {
            write!(
                f,
                "Before writing, the archive is verified in full and a safety snapshot of what is being replaced is taken."
            )
        } else {
            write!(f, "Before writing, the archive is verified in full. Live databases are not touched.")
        }
    }
}

impl fmt::Display for RestoreOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Restored from {}:", self.archive)?;
        for d in &self.restored {
            writeln!(
                f,
                "  ✓ {:<24} {:>9} rows → {}{}",
                d.name,
                d.total_rows(),
                d.dest.display(),
                if d.rows_match_manifest { "" } else { " (row counts differ from the manifest!)" }
            )?;
        }
        match &self.safety_archive {
            Some(s) => writeln!(f, "Safety snapshot of the replaced databases: {s}")?,
            None => writeln!(f, "No safety snapshot was taken.")?,
        }
        for n in &self.notes {
            writeln!(f, "Note: {n}")?;
        }
        Ok(())
    }
}
