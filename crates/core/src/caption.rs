//! What a message says about an archive, in the same words on every
//! destination that carries messages: the caption of Telegram's document,
//! Discord's message, the body of the mail. What it is, at a glance, on a
//! phone. Lengths are counted in UTF-16 units, as Telegram counts them,
//! and a caption fits the strictest limit, Telegram's 1024; longer lists
//! are cut with "…".

use std::borrow::Cow;

use crate::catalog::StoredArchive;
use crate::manifest::Manifest;
use crate::seal::Mode;
use crate::state::State;
use crate::units::human_size;

/// A caption's limit, in UTF-16 units.
pub const CAPTION_LIMIT: usize = 1024;

/// Length in UTF-16 units, as Telegram counts it: an emoji such as 📊
/// costs two.
pub fn len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to at most `limit` UTF-16 units, ending in "…" when cut. Never
/// splits a character.
pub fn fit_units(s: &str, limit: usize) -> Cow<'_, str> {
    if len(s) <= limit {
        return Cow::Borrowed(s);
    }
    let budget = limit.saturating_sub(1); // "…" is one unit
    let mut used = 0;
    let end = s
        .char_indices()
        .find(|(_, c)| {
            used += c.len_utf16();
            used > budget
        })
        .map_or(s.len(), |(i, _)| i);
    Cow::Owned(format!("{}…", &s[..end]))
}

/// Reads an archive's manifest for captions; a caption without it is still
/// useful, so failure is only logged (an age archive without an identity on
/// this machine has no readable manifest, by design).
pub fn manifest_of(keys: &crate::seal::Keys, state: Option<&State>, archive: &StoredArchive) -> Option<Manifest> {
    match crate::verify::known_manifest(archive, keys, state) {
        Ok(m) => Some(m),
        Err(crate::verify::VerifyError::Key(e)) => {
            tracing::debug!(archive = %archive.name, "caption without the manifest: {e}");
            None
        }
        Err(e) => {
            tracing::warn!(archive = %archive.name, "cannot read the manifest for the caption: {e}");
            None
        }
    }
}

/// The caption for part `part` of `parts` of an archive sealed as `mode`.
/// `manifest` is None when it could not be read (or no key opens it); the
/// caption then says only what is known. `archive_size` is the size of the
/// whole archive (all parts). A caption never holds a secret.
pub fn caption(
    archive: &str,
    mode: Mode,
    manifest: Option<&Manifest>,
    archive_size: u64,
    part: u32,
    parts: u32,
) -> String {
    let mut head = Vec::new();
    match manifest {
        Some(m) => {
            let flag = if m.is_partial() { "⚠️ PARTIAL backup" } else { "✅ Backup" };
            head.push(format!("{flag} {}", m.created_at.format("%Y-%m-%d %H:%M:%S UTC")));
            head.push(format!("Host: {} · trigger: {}", m.host, m.trigger));
        }
        None => head.push(format!("Backup {archive}")),
    }
    if parts > 1 && mode == Mode::Age {
        head.push(format!("Part {part}/{parts} — join all parts in order: `cat {archive}.* > {archive}`"));
    } else if parts > 1 {
        head.push(format!(
            "Part {part}/{parts} — join all parts in order (7-Zip opens .001 directly, or `cat {archive}.* > {archive}`)"
        ));
    }
    match mode {
        Mode::None => {}
        Mode::ZipAes => head.push("🔒 Encrypted: 7-Zip or a phone unzip app asks for the archive password".into()),
        Mode::Age => head.push(format!(
            "🔒 Sealed with age: `age -d -i key.txt {archive} > backup.zip`, key.txt being the age identity file that holds the private key"
        )),
    }
    head.push(format!("Archive: {} ({})", archive, human_size(archive_size)));
    if let Some(base) = manifest.and_then(|m| m.base.as_ref()) {
        head.push(format!("🧩 Differential: restoring it needs its base {}", base.archive));
    }
    let mut body = Vec::new();
    if let Some(m) = manifest {
        body.push(contents_heading(m));
        for d in &m.databases {
            let integrity = if d.integrity == "ok" { "ok" } else { "INTEGRITY PROBLEM" };
            if !crate::source::kind(d.kind).is_database() {
                body.push(format!("• {} — {}, file, {integrity}", d.name, human_size(d.size)));
            } else {
                body.push(format!("• {} — {}, {} rows, {integrity}", d.name, human_size(d.size), d.total_rows()));
            }
        }
        if m.is_partial() {
            body.push(format!("PARTIAL: {} skipped", m.skipped.len()));
            for s in &m.skipped {
                body.push(format!("✗ {} — {}", s.name, s.reason));
            }
        }
    }
    join_within(head, body)
}

/// "Databases (2, 3.0 MB):", or with a files source's entries counted as
/// files: "Databases (2) and files (5), 3.4 MB:".
fn contents_heading(m: &Manifest) -> String {
    let files = m.databases.iter().filter(|d| !crate::source::kind(d.kind).is_database()).count();
    let databases = m.databases.len() - files;
    let size = human_size(m.total_size());
    match (databases, files) {
        (_, 0) => format!("Databases ({databases}, {size}):"),
        (0, _) => format!("Files ({files}, {size}):"),
        _ => format!("Databases ({databases}) and files ({files}), {size}:"),
    }
}

/// Joins lines, dropping (and marking) the tail when over the limit: the
/// head (time, part i/n) always survives.
fn join_within(head: Vec<String>, body: Vec<String>) -> String {
    let mut text = head.join("\n");
    for line in body {
        let candidate = format!("{text}\n{line}");
        if len(&candidate) > CAPTION_LIMIT - 2 {
            text.push_str("\n…");
            break;
        }
        text = candidate;
    }
    fit_units(&text, CAPTION_LIMIT).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{DatabaseEntry, Kind, SkippedDatabase, TableCount, Trigger};
    use chrono::TimeZone;

    fn manifest(n: usize, skipped: usize) -> Manifest {
        Manifest {
            base: None,
            format: "lifeboat-backup".into(),
            version: 1,
            created_at: chrono::Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap(),
            host: "box".into(),
            trigger: Trigger::Scheduled,
            lifeboat_version: "0.1.0".into(),
            databases: (0..n)
                .map(|i| DatabaseEntry {
                    name: format!("db_{i}_with_a_rather_long_name_for_testing.db"),
                    size: 1_500_000,
                    sha256: "0".repeat(64),
                    integrity: "ok".into(),
                    journal_mode: "wal".into(),
                    page_size: 4096,
                    tables: vec![TableCount { name: "t".into(), rows: 42 }],
                    ..Default::default()
                })
                .collect(),
            skipped: (0..skipped)
                .map(|i| SkippedDatabase { name: format!("gone{i}.db"), reason: "missing file".into() })
                .collect(),
        }
    }

    #[test]
    fn says_what_it_is() {
        let c = caption("database_backup_20261122_050000.zip", Mode::None, Some(&manifest(2, 1)), 2_100_000, 2, 3);
        assert!(c.contains("2026-11-22 05:00:00 UTC"), "{c}");
        assert!(c.contains("Host: box") && c.contains("scheduled"));
        assert!(c.contains("Part 2/3"));
        assert!(c.contains("db_0_with") && c.contains("1.5 MB") && c.contains("42 rows"));
        assert!(c.contains("PARTIAL: 1 skipped") && c.contains("gone0.db — missing file"));
        assert!(c.contains("2.1 MB"));
    }

    #[test]
    fn a_files_source_is_counted_as_files_without_rows() {
        let mut m = manifest(1, 0);
        m.databases.push(DatabaseEntry {
            name: "uploads/avatar.png".into(),
            kind: Kind::File,
            source: Some("uploads".into()),
            size: 2_000,
            integrity: "ok".into(),
            ..Default::default()
        });
        let c = caption("a.zip", Mode::None, Some(&m), 10, 1, 1);
        assert!(c.contains("Databases (1) and files (1)"), "{c}");
        assert!(c.contains("• uploads/avatar.png — 2.0 kB, file, ok"), "{c}");
        assert!(!c.contains("0 rows"), "{c}");
        m.databases.remove(0);
        let c = caption("a.zip", Mode::None, Some(&m), 10, 1, 1);
        assert!(c.contains("Files (1, "), "{c}");
    }

    #[test]
    fn the_age_advice_is_a_whole_sentence() {
        let c = caption("a.zip", Mode::Age, Some(&manifest(1, 0)), 10, 1, 1);
        let line = c.lines().find(|l| l.contains("age -d")).unwrap();
        assert!(line.ends_with("holds the private key"), "{line}");
    }

    #[test]
    fn stays_within_the_limit() {
        let c = caption("a.zip", Mode::None, Some(&manifest(60, 10)), 1, 1, 1);
        assert!(len(&c) <= CAPTION_LIMIT, "{}", len(&c));
        assert!(c.ends_with('…'));
        assert!(c.starts_with("✅") || c.starts_with("⚠️"));
        let plain = caption("a.zip", Mode::None, None, 10, 1, 1);
        assert!(plain.contains("a.zip") && plain.contains("10 B"));
        assert!(!plain.contains("🔒"));
    }

    #[test]
    fn a_differential_names_its_base() {
        let mut m = manifest(1, 0);
        m.base = Some(crate::manifest::BaseRef {
            archive: "database_backup_20261122_030000.zip".into(),
            created_at: m.created_at,
        });
        let c = caption("database_backup_20261122_050000.diff.zip", Mode::None, Some(&m), 10, 1, 1);
        assert!(c.contains("needs its base database_backup_20261122_030000.zip"), "{c}");
    }

    #[test]
    fn says_how_it_is_sealed() {
        let aes = caption("a.zip", Mode::ZipAes, Some(&manifest(1, 0)), 10, 1, 1);
        assert!(aes.contains("🔒 Encrypted") && aes.contains("password"), "{aes}");
        let age = caption("a.zip.age", Mode::Age, None, 10, 2, 3);
        assert!(age.contains("age -d -i key.txt a.zip.age") && age.contains("cat a.zip.age.*"), "{age}");
        assert!(!age.contains("7-Zip opens .001"), "{age}");
    }
}
