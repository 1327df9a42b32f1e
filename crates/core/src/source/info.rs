//! `backup_info.txt`: what a person reads about an archive, each entry in
//! its kind's words. The archive format stores it as given.

use super::{KINDS, kind};
use crate::manifest::Manifest;
use crate::units::human_size;

/// The `backup_info.txt` text for people (readable on a phone).
pub fn info_text(manifest: &Manifest) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let status = if manifest.skipped.is_empty() { "complete" } else { "PARTIAL: some databases were skipped" };
    let _ = writeln!(s, "Lifeboat backup ({status})");
    let _ = writeln!(s, "Time:     {}", manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC"));
    let _ = writeln!(s, "Host:     {}", manifest.host);
    let _ = writeln!(s, "Trigger:  {}", manifest.trigger);
    let _ = writeln!(s, "Lifeboat: {}", manifest.lifeboat_version);
    if let Some(base) = &manifest.base {
        let _ = writeln!(s, "Kind:     DIFFERENTIAL: restoring it needs its base {}", base.archive);
    }
    let _ = writeln!(
        s,
        "Contents: {} entr{}, {} in total",
        manifest.databases.len(),
        if manifest.databases.len() == 1 { "y" } else { "ies" },
        human_size(manifest.total_size())
    );
    for db in &manifest.databases {
        let _ = writeln!(s);
        let kind = kind(db.kind);
        let _ = writeln!(s, "== {} ==", db.name);
        let _ = writeln!(s, "Source:    {} ({})", db.source_name(), kind.words());
        if let Some(origin) = &db.origin {
            let mode = db.mode.map(|m| format!(", mode {m:o}")).unwrap_or_default();
            let _ = writeln!(s, "Path:      {origin}{mode}");
        }
        let _ = writeln!(s, "Size:      {} ({} bytes)", human_size(db.size), db.size);
        let _ = writeln!(s, "Integrity: {}", db.integrity);
        kind.info_copy(db, &mut s);
        let _ = writeln!(s, "SHA-256:   {}", db.sha256);
        match &db.delta {
            Some(d) if d.entry.is_some() => {
                let _ = writeln!(s, "Stored:    {} changed page(s) against the base", d.changed_blocks);
            }
            Some(_) => {
                let _ = writeln!(s, "Stored:    not at all: unchanged since the base");
            }
            None => {}
        }
        kind.info_contents(db, &mut s);
    }
    if !manifest.skipped.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "== Skipped ==");
        for sk in &manifest.skipped {
            let _ = writeln!(s, "{}: {}", sk.name, sk.reason);
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Restore: lifeboat restore <this archive> (see docs/operations.md).");
    for k in KINDS {
        if let Some(note) = k.info_note().filter(|_| manifest.databases.iter().any(|d| d.kind == k.kind())) {
            let _ = writeln!(s, "{note}");
        }
    }
    if manifest.base.is_some() {
        let _ = writeln!(s, "Format of the .pages entries: docs/archive-format.md.");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::tests::manifest;

    #[test]
    fn info_text_tells_a_person_everything() {
        let t = info_text(&manifest());
        for want in [
            "PARTIAL",
            "2026-11-22 05:00:01 UTC",
            "bothost",
            "scheduled",
            "== a.db ==",
            "12.3 MB (12345678 bytes)",
            "Integrity: ok",
            "users: 7 rows",
            "2 (10 rows)",
            &"ab".repeat(32),
            "b.db: missing",
        ] {
            assert!(t.contains(want), "{want:?} not in\n{t}");
        }
        // Short lines read well on a phone.
        assert!(t.lines().all(|l| l.len() <= 90), "{t}");
    }
}
