//! Re-verifying what is stored: each cycle reads back, in full (CRCs,
//! manifest checksums, `integrity_check` of every database inside), the
//! archive verified longest ago. Over a retention period every archive is
//! read again, and a disk that rots is found while good copies still exist.
//! A failure is an incident: one alert, one more when no stored archive
//! fails any longer.

use chrono::{DateTime, Utc};
use lifeboat_core::catalog::{self, StoredArchive};
use lifeboat_core::seal::{self, KeyError, Sealing};
use lifeboat_core::state::{CANNOT_OPEN_HERE, Incident, IncidentKind, State, StateError, Verification};
use lifeboat_core::verify::{self, VerifyError, VerifyOptions};
use lifeboat_engine::config::Config;

/// Space kept free beside the extracted copies.
const ROOM: u64 = 64 * 1024 * 1024;

/// What one re-verification found.
#[derive(Debug, Clone, PartialEq)]
pub struct Reverified {
    /// The archive read back.
    pub archive: String,
    /// It verified.
    pub ok: bool,
    /// "ok" or what failed.
    pub detail: String,
    /// The corrupt-archive incident this opened or closed.
    pub incident: Option<Change>,
}

/// What a re-verification did to the corrupt-archive incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Opened it, with what fails.
    Opened(String),
    /// Closed it: no stored archive fails any longer.
    Closed(Incident),
}

/// The stored archive verified longest ago: by its last read-back, or, never
/// read back, by when it was written (every archive is verified before it
/// gets its name). `skip` (the archive just written) is not a candidate.
pub fn pick<'a>(stored: &'a [StoredArchive], done: &[Verification], skip: Option<&str>) -> Option<&'a StoredArchive> {
    let last = |a: &StoredArchive| done.iter().find(|v| v.archive == a.name).map_or(a.created_at, |v| v.verified_at);
    stored.iter().filter(|a| Some(a.name.as_str()) != skip).min_by_key(|a| (last(a), a.created_at))
}

/// Reads one archive back (blocking: file system and SQLite), records the
/// result, and opens or closes the corrupt-archive incident. Returns None
/// when there is nothing to re-verify.
pub fn run(
    cfg: &Config,
    state: &State,
    skip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Reverified>, StateError> {
    let Ok(stored) = catalog::list(&cfg.backup.output_dir) else { return Ok(None) };
    let done = state.verifications()?;
    let Some(archive) = pick(&stored, &done, skip) else { return Ok(None) };
    // Reading it back extracts its databases: on a disk without room for
    // them, that is a full disk (the disk-low incident), not a bad archive.
    let keys = &cfg.encryption.keys;
    if archive.sealing() == Sealing::Age && !keys.has_identity() {
        // No key here by design: read every byte and parse the age header,
        // which finds a failing disk; contents are checked where the key is.
        let (ok, detail) = match seal::check_readable(&archive.files) {
            Ok(()) => (true, "ok (sealed with age; no identity here, so read back without decrypting)".to_string()),
            Err(why) => (false, why.to_string()),
        };
        return record(state, &stored, archive, ok, detail, now);
    }
    if let Ok(manifest) = verify::read_manifest(archive, keys) {
        let needed: u64 = manifest.databases.iter().map(|d| d.size).fold(0, u64::saturating_add);
        if lifeboat_core::fsutil::space_for(&cfg.state_dir()).is_ok_and(|free| free < needed.saturating_add(ROOM)) {
            tracing::warn!("not re-verifying {} this cycle: too little free space to extract it", archive.name);
            return Ok(None);
        }
    }
    let scratch = tempfile::Builder::new().prefix(".reverify-").tempdir_in(cfg.state_dir());
    let (ok, detail) = match scratch {
        Err(e) => return Err(StateError::Folder { path: cfg.state_dir(), source: e }),
        Ok(scratch) => match verify::verify(archive, keys, scratch.path(), VerifyOptions { integrity_check: true }) {
            Ok(report) if report.is_ok() => (true, "ok".to_string()),
            Ok(report) => (false, report.all_problems().join("; ")),
            // Sealed to recipients whose keys are elsewhere (a key rotated
            // since, another server's archive): this machine's lack of a
            // key is no damage. The bytes are still read back.
            Err(VerifyError::Key(why @ KeyError::WrongIdentity { .. })) => match seal::check_readable(&archive.files) {
                Ok(()) => (true, format!("{CANNOT_OPEN_HERE}: {why}; read back without decrypting")),
                Err(damage) => (false, damage.to_string()),
            },
            // A differential this machine opens, whose base it does not (a
            // base sealed to other recipients before this machine got its
            // key): no sign of damage either. Its own bytes are read back
            // as a sealed archive's are; the base on its own turn.
            Err(VerifyError::Base { base, source })
                if sealed_elsewhere(&source) && archive.sealing() == Sealing::Age =>
            {
                match seal::check_readable(&archive.files) {
                    Ok(()) => (
                        true,
                        format!(
                            "{CANNOT_OPEN_HERE}: its base {base} is sealed to recipients whose keys are not here \
                             ({source}); read back without rebuilding"
                        ),
                    ),
                    Err(damage) => (false, damage.to_string()),
                }
            }
            Err(e) => (false, e.to_string()),
        },
    };
    record(state, &stored, archive, ok, detail, now)
}

/// True when `e` says only that the keys held here do not open an archive.
fn sealed_elsewhere(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Key(KeyError::WrongIdentity { .. } | KeyError::NoIdentity { .. }))
}

/// Records a read-back and opens or closes the corrupt-archive incident.
fn record(
    state: &State,
    stored: &[StoredArchive],
    archive: &StoredArchive,
    ok: bool,
    detail: String,
    now: DateTime<Utc>,
) -> Result<Option<Reverified>, StateError> {
    state.record_verification(&Verification {
        archive: archive.name.clone(),
        verified_at: now,
        ok,
        detail: detail.clone(),
    })?;
    let failing: Vec<Verification> =
        state.verifications()?.into_iter().filter(|v| !v.ok && stored.iter().any(|a| a.name == v.archive)).collect();
    let incident = if let Some(bad) = failing.first() {
        let what = format!("{} no longer verifies: {}", bad.archive, bad.detail);
        state.open_incident(IncidentKind::ArchiveCorrupt, &what, now)?.then_some(Change::Opened(what))
    } else {
        state.close_incident(IncidentKind::ArchiveCorrupt, now)?.map(Change::Closed)
    };
    Ok(Some(Reverified { archive: archive.name.clone(), ok, detail, incident }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, 0, 0).unwrap()
    }

    fn archive(h: u32) -> StoredArchive {
        StoredArchive { name: catalog::archive_name(at(h)), created_at: at(h), files: Vec::new(), size: 1 }
    }

    fn done(a: &StoredArchive, h: u32) -> Verification {
        Verification { archive: a.name.clone(), verified_at: at(h), ok: true, detail: "ok".into() }
    }

    #[test]
    fn the_archive_verified_longest_ago_never_the_new_one() {
        let stored = [archive(3), archive(2), archive(1)];
        let skip = Some(stored[0].name.as_str());
        assert_eq!(pick(&stored, &[], skip).unwrap().name, stored[2].name, "written first, verified first");
        let v = [done(&stored[2], 4)];
        assert_eq!(pick(&stored, &v, skip).unwrap().name, stored[1].name, "written at 2, before the read-back at 4");
        let v = [done(&stored[2], 5), done(&stored[1], 4)];
        assert_eq!(pick(&stored, &v, skip).unwrap().name, stored[1].name, "read back at 4, before 5");
        assert!(pick(&stored[..1], &[], skip).is_none(), "only the new one");
    }
}
