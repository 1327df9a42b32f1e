//! A copy of each stored archive's manifest, kept when the archive is
//! written. An age-sealed archive cannot be read on a server without the
//! private key, by design; this copy still tells what it holds (names, sizes,
//! checksums, row counts: no row data, no secret), so the unchanged check,
//! the shrink alert, captions and `list` work the same in every mode. It is
//! never used to verify or restore: those read the archive itself.

use rusqlite::{OptionalExtension, params};

use super::{Result, State};
use crate::manifest::Manifest;

impl State {
    /// Keeps `manifest` as the copy for `archive`.
    pub fn remember_manifest(&self, archive: &str, manifest: &Manifest) -> Result<()> {
        let json = serde_json::to_string(manifest).expect("a manifest always serializes");
        self.conn.execute(
            "INSERT INTO manifests (archive, manifest) VALUES (?1, ?2)
             ON CONFLICT(archive) DO UPDATE SET manifest = ?2",
            params![archive, json],
        )?;
        Ok(())
    }

    /// The copy kept for `archive`, if any (one that no longer parses counts
    /// as none).
    pub fn manifest_copy(&self, archive: &str) -> Result<Option<Manifest>> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT manifest FROM manifests WHERE archive = ?1", params![archive], |r| r.get(0))
            .optional()?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{FORMAT, Trigger, VERSION};
    use crate::state::tests_support::open;

    #[test]
    fn remembers_replaces_and_forgets() {
        let (_d, s) = open();
        let mut m = Manifest {
            base: None,
            format: FORMAT.into(),
            version: VERSION,
            created_at: chrono::Utc::now(),
            host: "h".into(),
            trigger: Trigger::Scheduled,
            lifeboat_version: "0".into(),
            databases: Vec::new(),
            skipped: Vec::new(),
        };
        assert_eq!(s.manifest_copy("a.zip.age").unwrap(), None);
        s.remember_manifest("a.zip.age", &m).unwrap();
        m.host = "other".into();
        s.remember_manifest("a.zip.age", &m).unwrap();
        assert_eq!(s.manifest_copy("a.zip.age").unwrap(), Some(m));
        s.archive_removed("a.zip.age", chrono::Utc::now()).unwrap();
        assert_eq!(s.manifest_copy("a.zip.age").unwrap(), None);
    }
}
