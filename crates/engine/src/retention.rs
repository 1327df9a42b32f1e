//! Retention: which archives to remove, as a pure function of the list and
//! `now`, and applying it.
//!
//! Rules ([`select`]):
//! - an archive older than `max_age_days` goes;
//! - beyond the `max_count` newest archives, the older ones go;
//! - but the newest *verified* archive is never removed (even when it is
//!   old: it is what a restore would need), nor, for every configured
//!   source, the newest verified archive holding a good copy of it
//!   (`last-good:<source>`), however long that source has been failing and
//!   every newer archive has been partial; nor any archive still
//!   waiting for delivery to an admin, nor a pinned one (a shrink alert
//!   pins the last archive from before the shrink; `lifeboat unpin`);
//! - and with GFS tiers (`keep_hourly`…`keep_monthly`, restic `forget`
//!   semantics) an archive a tier keeps stays although count or age would
//!   remove it;
//! - with `[continuous]` increments on disk, the newest archive taken at or
//!   before the oldest of them stays too (`continuous`): a point-in-time
//!   restore starts from an archive taken at or before its moment.
//!
//! "Verified": every archive on disk was verified before its rename (backup
//! writes under a temporary name), so an archive counts as verified unless
//! the state database records its run as not verified. Archives Lifeboat has
//! no run for (copied in by hand) count as verified too: their integrity is
//! checked when someone verifies or restores them. Split archives are one
//! archive; all their parts are removed together.
//!
//! [`apply`] also forgets events older than [`EVENTS_KEPT_DAYS`], so the
//! state database stays small however many strangers write to the bot.

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use lifeboat_core::state::{Level, State, StateError};

/// One archive as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Logical archive name.
    pub name: String,
    /// Creation time (from its name).
    pub created_at: DateTime<Utc>,
    /// It verified (see the module comment).
    pub verified: bool,
    /// Some admin has not received it yet.
    pub awaiting_delivery: bool,
    /// Pinned (by a shrink alert or by hand): kept until unpinned.
    pub pinned: bool,
    /// A differential's base: kept as long as the differential is.
    pub base: Option<String>,
    /// The configured sources it holds a good copy of (a differential's
    /// unchanged sources through its base, which is then kept as "base").
    pub holds: Vec<String>,
}

/// An archive to remove, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// Logical archive name.
    pub name: String,
    /// Why, for the log.
    pub reason: String,
}

/// The period an archive falls in, for one tier ("2026-11-22 10", "2026-W47"…).
type Bucket = fn(&DateTime<Utc>) -> String;

/// GFS tiers (restic `forget` semantics): for each of the last N hours,
/// days, ISO weeks and months that have an archive, the newest archive of
/// that period is kept. 0 turns a tier off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tiers {
    /// Hours.
    pub hourly: u32,
    /// Days (UTC).
    pub daily: u32,
    /// ISO weeks.
    pub weekly: u32,
    /// Months.
    pub monthly: u32,
}

impl Tiers {
    /// The tiers `cfg` sets.
    pub fn of(cfg: &Config) -> Tiers {
        let r = &cfg.retention;
        Tiers { hourly: r.keep_hourly, daily: r.keep_daily, weekly: r.keep_weekly, monthly: r.keep_monthly }
    }

    /// The tiers that keep each archive (by name). `sorted` is newest first.
    fn keep<'a>(&self, sorted: &[&'a Candidate]) -> std::collections::HashMap<&'a str, Vec<&'static str>> {
        use chrono::Datelike;
        let buckets: [(&'static str, u32, Bucket); 4] = [
            ("hourly", self.hourly, |t| t.format("%Y-%m-%d %H").to_string()),
            ("daily", self.daily, |t| t.format("%Y-%m-%d").to_string()),
            ("weekly", self.weekly, |t| {
                let w = t.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }),
            ("monthly", self.monthly, |t| t.format("%Y-%m").to_string()),
        ];
        let mut kept: std::collections::HashMap<&str, Vec<&'static str>> = std::collections::HashMap::new();
        for (tier, count, bucket) in buckets {
            let mut left = count;
            let mut last: Option<String> = None;
            for c in sorted {
                if left == 0 {
                    break;
                }
                let b = bucket(&c.created_at);
                // Newest first: the first archive of a new period is that
                // period's newest.
                if last.as_ref() != Some(&b) {
                    kept.entry(c.name.as_str()).or_default().push(tier);
                    left -= 1;
                    last = Some(b);
                }
            }
        }
        kept
    }
}

/// Which archives to remove, oldest last in the list's order (newest first).
pub fn select(archives: &[Candidate], max_age_days: i64, max_count: i64, now: DateTime<Utc>) -> Vec<Removal> {
    select_with(archives, max_age_days, max_count, Tiers::default(), now)
}

/// [`select`] with GFS tiers: an archive is kept when `max_age_days` and
/// `max_count` keep it, or a tier keeps it, or it is protected (newest
/// verified, owed a delivery, pinned).
pub fn select_with(
    archives: &[Candidate],
    max_age_days: i64,
    max_count: i64,
    tiers: Tiers,
    now: DateTime<Utc>,
) -> Vec<Removal> {
    judge(archives, max_age_days, max_count, tiers, now).into_iter().filter_map(|j| j.removal).collect()
}

/// Why each archive is kept ("count", "hourly"…"monthly", "newest-verified",
/// "last-good:<source>", "delivery", "pin", "base"), newest first; an empty
/// list means retention removes it.
pub fn kept_by(
    archives: &[Candidate],
    max_age_days: i64,
    max_count: i64,
    tiers: Tiers,
    now: DateTime<Utc>,
) -> Vec<(String, Vec<String>)> {
    judge(archives, max_age_days, max_count, tiers, now).into_iter().map(|j| (j.name, j.kept_by)).collect()
}

struct Judgement {
    name: String,
    kept_by: Vec<String>,
    removal: Option<Removal>,
}

fn judge(
    archives: &[Candidate],
    max_age_days: i64,
    max_count: i64,
    tiers: Tiers,
    now: DateTime<Utc>,
) -> Vec<Judgement> {
    let mut sorted: Vec<&Candidate> = archives.iter().collect();
    sorted.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.name.cmp(&a.name)));
    let newest_verified = sorted.iter().find(|c| c.verified).map(|c| c.name.as_str());
    // The newest verified archive is kept anyway: "last-good" names only
    // the older archives a failing source still needs.
    let last_good: Vec<(&str, &str)> =
        last_good(&sorted).into_iter().filter(|(_, name)| Some(*name) != newest_verified).collect();
    let tiered = tiers.keep(&sorted);
    let max_age = chrono::Duration::days(max_age_days.max(0));
    let keep = usize::try_from(max_count.max(0)).unwrap_or(usize::MAX);
    let mut kept: Vec<Vec<String>> = Vec::with_capacity(sorted.len());
    for (i, c) in sorted.iter().enumerate() {
        let age = now.signed_duration_since(c.created_at);
        let mut kept_by = Vec::new();
        if age <= max_age && i < keep {
            kept_by.push("count".to_string());
        }
        kept_by.extend(tiered.get(c.name.as_str()).into_iter().flatten().map(|t| t.to_string()));
        if Some(c.name.as_str()) == newest_verified {
            kept_by.push("newest-verified".to_string());
        }
        kept_by.extend(
            last_good
                .iter()
                .filter(|(_, name)| *name == c.name.as_str())
                .map(|(source, _)| format!("last-good:{source}")),
        );
        if c.awaiting_delivery {
            kept_by.push("delivery".to_string());
        }
        if c.pinned {
            kept_by.push("pin".to_string());
        }
        kept.push(kept_by);
    }
    // A kept differential is useless without its base.
    let needed: Vec<&str> =
        sorted.iter().zip(&kept).filter(|(_, k)| !k.is_empty()).filter_map(|(c, _)| c.base.as_deref()).collect();
    let mut out = Vec::with_capacity(sorted.len());
    for (c, mut kept_by) in sorted.iter().zip(kept) {
        if needed.contains(&c.name.as_str()) {
            kept_by.push("base".to_string());
        }
        let age = now.signed_duration_since(c.created_at);
        let removal = kept_by.is_empty().then(|| Removal {
            name: c.name.clone(),
            reason: if age > max_age {
                format!("older than {max_age_days} days ({} days old)", age.num_days())
            } else {
                format!("beyond the {max_count} newest archives")
            },
        });
        out.push(Judgement { name: c.name.clone(), kept_by, removal });
    }
    out
}

/// For each source some verified archive holds, the newest such archive:
/// (source, archive), in the order the sources first appear. `sorted` is
/// newest first.
fn last_good<'a>(sorted: &[&'a Candidate]) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for c in sorted.iter().filter(|c| c.verified) {
        for source in &c.holds {
            if !out.iter().any(|(s, _)| s == source) {
                out.push((source.as_str(), c.name.as_str()));
            }
        }
    }
    out
}

/// Retention could not run (or could not remove something).
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// Listing the archives.
    #[error(transparent)]
    Catalog(#[from] lifeboat_core::catalog::CatalogError),
    #[error(transparent)]
    State(#[from] StateError),
    /// Some files could not be removed (the others were).
    #[error("could not remove {}; check the folder's permissions", .0.iter().map(|(p, e)| format!("{} ({e})", p.display())).collect::<Vec<_>>().join(", "))]
    Remove(Vec<(std::path::PathBuf, std::io::Error)>),
}

/// Why retention keeps each archive on disk now (see [`kept_by`]), newest
/// first. Without a state database every archive counts as verified, owed
/// nothing and unpinned.
pub fn explain(
    cfg: &Config,
    state: Option<&State>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Vec<String>)>, RetentionError> {
    Ok(preview(cfg, state, now)?.into_iter().map(|v| (v.name, v.kept_by)).collect())
}

fn candidates(
    cfg: &Config,
    stored: &[lifeboat_core::catalog::StoredArchive],
    state: Option<&State>,
) -> Result<Vec<Candidate>, StateError> {
    let (awaiting, pinned) = match state {
        Some(s) => (s.archives_awaiting_delivery()?, s.pins()?.into_iter().map(|p| p.archive).collect()),
        None => (Vec::new(), Vec::new()),
    };
    let configured: Vec<&str> = cfg.sources.names(&cfg.backup.databases).collect();
    let mut out = Vec::with_capacity(stored.len());
    for a in stored {
        let verified = verified(state, &a.name)?;
        // An archive whose manifest cannot be read (sealed with a key this
        // server lacks, and no stored copy) holds nothing retention can
        // vouch for; count and age still keep it.
        let manifest = manifest_of(cfg, a, state).ok();
        out.push(Candidate {
            name: a.name.clone(),
            created_at: a.created_at,
            verified,
            awaiting_delivery: awaiting.contains(&a.name),
            pinned: pinned.contains(&a.name),
            base: manifest.as_ref().and_then(|m| m.base.as_ref()).map(|b| b.archive.clone()),
            holds: manifest.as_ref().map(|m| good_copies(m, &configured)).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// An archive's manifest: the copy the state database keeps of every
/// archive Lifeboat wrote, else read from the archive (one copied in by
/// hand). Retention runs every cycle: reading each archive, sealed ones
/// decrypted, would cost far more than one row.
fn manifest_of(
    cfg: &Config,
    archive: &lifeboat_core::catalog::StoredArchive,
    state: Option<&State>,
) -> Result<lifeboat_core::manifest::Manifest, lifeboat_core::verify::VerifyError> {
    match state.and_then(|s| s.manifest_copy(&archive.name).ok().flatten()) {
        Some(copy) => Ok(copy),
        None => lifeboat_core::verify::known_manifest(archive, &cfg.encryption.keys, state),
    }
}

/// The archive verified (see the module comment): no run recorded it as not.
fn verified(state: Option<&State>, archive: &str) -> Result<bool, StateError> {
    Ok(match state {
        Some(s) => s.run_for_archive(archive)?.is_none_or(|r| r.end.verified),
        None => true,
    })
}

/// The configured sources `manifest` holds a good copy of: those with an
/// entry and not skipped (a files source that lost some files is skipped
/// too, and its older complete copy stays the good one).
pub fn good_copies(manifest: &lifeboat_core::manifest::Manifest, configured: &[&str]) -> Vec<String> {
    configured
        .iter()
        .filter(|s| manifest.databases.iter().any(|e| e.source_name() == **s))
        .filter(|s| !manifest.skipped.iter().any(|k| k.name == **s))
        .map(|s| s.to_string())
        .collect()
}

/// The newest verified archive in `output_dir` holding a good copy of
/// `source` (the one retention keeps as `last-good:<source>`), if any.
pub fn newest_good_copy(
    cfg: &Config,
    state: Option<&State>,
    source: &str,
) -> Result<Option<lifeboat_core::catalog::StoredArchive>, RetentionError> {
    for a in lifeboat_core::catalog::list(&cfg.backup.output_dir)? {
        let verified = verified(state, &a.name)?;
        let Ok(m) = manifest_of(cfg, &a, state) else { continue };
        if verified && !good_copies(&m, &[source]).is_empty() {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// A configured source the newest archive holds no good copy of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoGoodCopy {
    /// The source's configured name.
    pub source: String,
    /// The newest verified archive holding a good copy, and when it was
    /// made: the source has had no newer good copy since. None: no archive
    /// here holds one.
    pub last_good: Option<(String, DateTime<Utc>)>,
}

/// The configured sources the newest archive in `archives` (newest first)
/// lacks a good copy of, each with its newest good copy.
pub fn sources_without_good_copy(
    cfg: &Config,
    state: Option<&State>,
    archives: &[lifeboat_core::catalog::StoredArchive],
) -> Result<Vec<NoGoodCopy>, StateError> {
    if archives.is_empty() {
        return Ok(Vec::new());
    }
    let configured: Vec<&str> = cfg.sources.names(&cfg.backup.databases).collect();
    // last_good None here: the newest archive holds it.
    let mut found: Vec<NoGoodCopy> = Vec::new();
    for (i, a) in archives.iter().enumerate() {
        if found.len() == configured.len() {
            break;
        }
        let verified = verified(state, &a.name)?;
        let holds = match manifest_of(cfg, a, state) {
            Ok(m) if verified => good_copies(&m, &configured),
            // The newest archive unreadable here: nothing to say.
            Err(_) if i == 0 => return Ok(Vec::new()),
            _ => Vec::new(),
        };
        for source in holds {
            if !found.iter().any(|f| f.source == source) {
                found.push(NoGoodCopy { source, last_good: (i > 0).then(|| (a.name.clone(), a.created_at)) });
            }
        }
    }
    Ok(configured
        .iter()
        .filter_map(|source| match found.iter().find(|f| f.source == *source) {
            Some(f) => f.last_good.is_some().then(|| f.clone()),
            None => Some(NoGoodCopy { source: source.to_string(), last_good: None }),
        })
        .collect())
}

/// The command that restores `source` from its newest good copy, naming
/// the archive (`latest` may be a partial archive without it by the next
/// cycle) and, for age archives on a server without the identity, where
/// the key goes. None: no archive here holds a good copy.
pub fn restore_advice(cfg: &Config, state: Option<&State>, source: &str) -> Option<String> {
    let archive = newest_good_copy(cfg, state, source).ok().flatten()?;
    let identity = if cfg.encryption.mode == lifeboat_core::seal::Mode::Age
        && cfg.encryption.identity_file.as_os_str().is_empty()
    {
        " --identity KEY_FILE` (KEY_FILE: the age identity file kept off this server)"
    } else {
        "`"
    };
    Some(format!("`lifeboat restore {} --only {source}{identity}", archive.name))
}

/// What retention decides for one archive on disk now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Logical archive name.
    pub name: String,
    /// Why it stays (see [`kept_by`]); empty when it goes.
    pub kept_by: Vec<String>,
    /// Why it goes, when it does.
    pub removal: Option<String>,
}

/// What [`apply`] would do now, archive by archive, newest first: nothing
/// is removed or recorded.
pub fn preview(cfg: &Config, state: Option<&State>, now: DateTime<Utc>) -> Result<Vec<Verdict>, RetentionError> {
    let stored = lifeboat_core::catalog::list(&cfg.backup.output_dir)?;
    Ok(verdicts(cfg, &stored, state, now)?)
}

fn verdicts(
    cfg: &Config,
    stored: &[lifeboat_core::catalog::StoredArchive],
    state: Option<&State>,
    now: DateTime<Utc>,
) -> Result<Vec<Verdict>, StateError> {
    let r = &cfg.retention;
    let judged = judge(&candidates(cfg, stored, state)?, r.max_age_days, r.max_count, Tiers::of(cfg), now);
    // `restore --at` starts from an archive taken at or before the moment:
    // the newest one from before the oldest continuous increment stays.
    let continuous = cfg.continuous_setup();
    let oldest_increment = continuous
        .databases
        .iter()
        .filter_map(|name| lifeboat_core::source::sqlite::continuous::span(&continuous, name).ok().flatten())
        .map(|s| s.from)
        .min();
    let under_increments = oldest_increment
        .and_then(|t| stored.iter().filter(|a| a.created_at <= t).max_by_key(|a| a.created_at))
        .map(|a| a.name.as_str());
    Ok(judged
        .into_iter()
        .map(|j| {
            let mut v = Verdict { name: j.name, kept_by: j.kept_by, removal: j.removal.map(|r| r.reason) };
            if Some(v.name.as_str()) == under_increments {
                v.kept_by.push("continuous".to_string());
                v.removal = None;
            }
            v
        })
        .collect())
}

/// How long the events behind Logs are kept.
pub const EVENTS_KEPT_DAYS: i64 = 90;

/// Applies retention to `cfg.backup.output_dir`: removes every file of the
/// selected archives, forgets their finished deliveries, logs each removal
/// and prunes old events. Returns what was removed.
pub fn apply(cfg: &Config, state: &State, now: DateTime<Utc>) -> Result<Vec<Removal>, RetentionError> {
    let removed = apply_judged(cfg, state, now)?.into_iter();
    Ok(removed.filter_map(|v| Some(Removal { name: v.name, reason: v.removal? })).collect())
}

/// [`apply`], returning its verdict on every archive (what it removed, and
/// what keeps each of the others), from the one judgement it acted on.
pub fn apply_judged(cfg: &Config, state: &State, now: DateTime<Utc>) -> Result<Vec<Verdict>, RetentionError> {
    let stored = lifeboat_core::catalog::list(&cfg.backup.output_dir)?;
    let judged = verdicts(cfg, &stored, Some(state), now)?;
    let mut removed = 0;
    let mut failures = Vec::new();
    for (v, reason) in judged.iter().filter_map(|v| Some((v, v.removal.as_deref()?))) {
        let archive = stored.iter().find(|a| a.name == v.name).expect("judged from the list");
        let mut ok = true;
        for f in &archive.files {
            match std::fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    ok = false;
                    state.log_event(Level::Warn, "retention", &format!("cannot remove {}: {e}", f.display()), now)?;
                    failures.push((f.clone(), e));
                }
            }
        }
        if ok {
            state.archive_removed(&v.name, now)?;
            state.log_event(Level::Info, "retention", &format!("removed {}: {reason}", v.name), now)?;
            removed += 1;
        }
    }
    if removed > 0 {
        let _ = lifeboat_core::fsutil::sync_dir(&cfg.backup.output_dir);
    }
    state.prune_events(now - Duration::days(EVENTS_KEPT_DAYS))?;
    if failures.is_empty() { Ok(judged) } else { Err(RetentionError::Remove(failures)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    /// A verified, delivered, unpinned full archive made at `at`.
    fn made_at(at: DateTime<Utc>) -> Candidate {
        Candidate {
            base: None,
            holds: Vec::new(),
            name: lifeboat_core::catalog::archive_name(at),
            created_at: at,
            verified: true,
            awaiting_delivery: false,
            pinned: false,
        }
    }

    /// An archive `hours` before `now`.
    fn c(hours: i64) -> Candidate {
        made_at(now() - chrono::Duration::hours(hours))
    }

    fn names(r: &[Removal]) -> Vec<String> {
        r.iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn nothing_to_remove() {
        assert!(select(&[], 7, 50, now()).is_empty());
        let list: Vec<Candidate> = (0..10).map(c).collect();
        assert!(select(&list, 7, 50, now()).is_empty());
    }

    #[test]
    fn a_kept_differential_keeps_its_base_and_a_removed_one_does_not() {
        // Full at 30 h, differentials on it at 2 h and 40 h... and an old
        // full at 50 h whose only differential (45 h) goes too.
        let mut list = vec![c(2), c(30), c(45), c(50)];
        list[0].base = Some(list[1].name.clone());
        list[2].base = Some(list[3].name.clone());
        let kept = kept_by(&list, 7, 1, Tiers::default(), now());
        assert_eq!(kept[0].1, vec!["count", "newest-verified"]);
        assert_eq!(kept[1].1, vec!["base"], "the base of a kept differential stays");
        assert!(kept[2].1.is_empty() && kept[3].1.is_empty(), "{kept:?}");
        let r = select_with(&list, 7, 1, Tiers::default(), now());
        assert_eq!(names(&r), vec![list[2].name.clone(), list[3].name.clone()]);
    }

    #[test]
    fn older_than_max_age_goes() {
        let list = vec![c(1), c(24 * 7 - 1), c(24 * 7 + 1), c(24 * 30)];
        let r = select(&list, 7, 50, now());
        assert_eq!(names(&r), vec![list[2].name.clone(), list[3].name.clone()]);
        assert!(r[1].reason.contains("older than 7 days (30 days old)"), "{}", r[1].reason);
    }

    #[test]
    fn exactly_max_age_is_kept() {
        let list = vec![c(0), c(24 * 7)];
        assert!(select(&list, 7, 50, now()).is_empty());
    }

    #[test]
    fn beyond_max_count_goes_newest_kept() {
        // Given out of order: select sorts by time itself.
        let list = vec![c(3), c(0), c(4), c(1), c(2)];
        let r = select(&list, 7, 3, now());
        assert_eq!(names(&r), vec![c(3).name, c(4).name]);
        assert!(r.iter().all(|r| r.reason == "beyond the 3 newest archives"));
    }

    #[test]
    fn newest_verified_is_never_removed_even_when_old() {
        // Everything is old: the newest still stays.
        let list = vec![c(24 * 10), c(24 * 11), c(24 * 12)];
        let r = select(&list, 7, 50, now());
        assert_eq!(names(&r), vec![c(24 * 11).name, c(24 * 12).name]);
    }

    #[test]
    fn newest_verified_is_kept_when_newer_ones_failed_verification() {
        let mut list = vec![c(0), c(1), c(2), c(3)];
        list[0].verified = false;
        list[1].verified = false;
        // max_count 1 would keep only c(0), which is unverified; the newest
        // verified one, c(2), stays too.
        let r = select(&list, 7, 1, now());
        assert_eq!(names(&r), vec![c(1).name, c(3).name]);
    }

    #[test]
    fn a_pinned_archive_is_kept_whatever_the_rules_say() {
        let mut list = vec![c(0), c(1), c(2), c(24 * 30)];
        list[2].pinned = true;
        list[3].pinned = true;
        let r = select(&list, 7, 1, now());
        assert_eq!(names(&r), vec![c(1).name]);
    }

    #[test]
    fn awaiting_delivery_is_kept() {
        let mut list = vec![c(0), c(24 * 8), c(24 * 9), c(1)];
        list[2].awaiting_delivery = true;
        let r = select(&list, 7, 2, now());
        assert_eq!(names(&r), vec![c(24 * 8).name]);
    }

    #[test]
    fn age_and_count_together() {
        let list: Vec<Candidate> = (0..6).map(|d| c(d * 48)).collect(); // 0,2,4,6,8,10 days
        let r = select(&list, 7, 3, now());
        assert_eq!(names(&r), vec![c(6 * 24).name, c(8 * 24).name, c(10 * 24).name]);
        assert!(r[0].reason.starts_with("beyond"));
        assert!(r[1].reason.starts_with("older"));
    }

    #[test]
    fn archive_from_the_future_is_not_old() {
        let list = vec![c(-5), c(0)];
        assert!(select(&list, 1, 5, now()).is_empty());
    }

    #[test]
    fn apply_removes_every_part_and_keeps_what_waits() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("backups");
        std::fs::create_dir_all(&out).unwrap();
        let cfg = Config::from_toml(&format!(
            "[backup]\noutput_dir = {:?}\n[retention]\nmax_age_days = 7\nmax_count = 2\n",
            out.to_str().unwrap()
        ))
        .unwrap();
        let st = State::open(&cfg.state_path()).unwrap();
        let a0 = c(0).name;
        let a1 = c(24).name;
        let a2 = c(48).name; // beyond count, but waiting for delivery
        let a3 = c(72).name; // split, beyond count
        let a4 = c(24 * 9).name; // old
        for n in [&a0, &a1, &a2, &a4] {
            std::fs::write(out.join(n), b"zip").unwrap();
        }
        for p in 1..=3 {
            std::fs::write(out.join(lifeboat_core::catalog::part_name(&a3, p)), b"part").unwrap();
        }
        std::fs::write(out.join("unrelated.txt"), b"keep me").unwrap();
        st.enqueue_deliveries(&a2, &[(a2.clone(), 1, 1)], &[42], now()).unwrap();
        let removed = apply(&cfg, &st, now()).unwrap();
        let mut got = names(&removed);
        got.sort();
        let mut want = vec![a3.clone(), a4.clone()];
        want.sort();
        assert_eq!(got, want);
        let mut left: Vec<String> =
            std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let mut expect = vec![a0, a1, a2, "unrelated.txt".to_string(), ".lifeboat".to_string()];
        expect.sort();
        assert_eq!(left, expect);
        let events = st.events(10, 0).unwrap();
        assert_eq!(events.iter().filter(|e| e.source == "retention").count(), 2);
        assert!(apply(&cfg, &st, now()).unwrap().is_empty(), "idempotent");
    }

    /// Archives at these (day, hour) of November 2026, newest first in the result.
    fn at_hours(points: &[(u32, u32)]) -> Vec<Candidate> {
        points.iter().map(|&(d, h)| made_at(Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap())).collect()
    }

    fn kept(list: &[Candidate], tiers: Tiers, max_count: i64, now: DateTime<Utc>) -> Vec<String> {
        let removed = names(&select_with(list, 36_500, max_count, tiers, now));
        let mut kept: Vec<String> = list.iter().map(|c| c.name.clone()).filter(|n| !removed.contains(n)).collect();
        kept.sort();
        kept.reverse();
        kept
    }

    fn name(d: u32, h: u32) -> String {
        lifeboat_core::catalog::archive_name(Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap())
    }

    #[test]
    fn hourly_keeps_the_newest_of_each_of_the_last_n_hours_that_have_one() {
        // Two archives in hour 10 (the newest of it wins), a gap at hour 8.
        let mut list = at_hours(&[(22, 11), (22, 9), (22, 7)]);
        let extra = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
        let early = Utc.with_ymd_and_hms(2026, 11, 22, 10, 5, 0).unwrap();
        for at in [extra, early] {
            list.push(made_at(at));
        }
        let tiers = Tiers { hourly: 3, ..Tiers::default() };
        assert_eq!(
            kept(&list, tiers, 1, now()),
            [name(22, 11), lifeboat_core::catalog::archive_name(extra), name(22, 9)],
            "max_count 1 keeps the newest; the tier the newest of hours 11, 10 and 9 (hour 8 has none)"
        );
    }

    #[test]
    fn daily_weekly_monthly_over_gaps_of_days_in_utc() {
        // 2026-11-02 is a Monday; 2026-10-31 a Saturday.
        let list = at_hours(&[(22, 23), (22, 1), (21, 12), (18, 6), (9, 0), (2, 0), (1, 23)]);
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let daily = Tiers { daily: 3, ..Tiers::default() };
        assert_eq!(
            kept(&list, daily, 1, now),
            [name(22, 23), name(21, 12), name(18, 6)],
            "days 22, 21, 18: gaps skipped"
        );
        let weekly = Tiers { weekly: 3, ..Tiers::default() };
        // ISO weeks: 22nd (W47, Sunday), 21st and 18th (W47), 9th (W46), 2nd (W45), 1st (W44).
        assert_eq!(kept(&list, weekly, 1, now), [name(22, 23), name(9, 0), name(2, 0)]);
        let monthly = Tiers { monthly: 2, ..Tiers::default() };
        let mut with_october = list.clone();
        let oct = Utc.with_ymd_and_hms(2026, 10, 31, 22, 0, 0).unwrap();
        with_october.push(made_at(oct));
        assert_eq!(kept(&with_october, monthly, 1, now), [name(22, 23), lifeboat_core::catalog::archive_name(oct)]);
    }

    #[test]
    fn tiers_off_change_nothing_and_tiers_add_to_count_and_age() {
        let list = at_hours(&[(22, 11), (22, 10), (21, 10), (20, 10)]);
        assert_eq!(select_with(&list, 7, 2, Tiers::default(), now()), select(&list, 7, 2, now()));
        let daily = Tiers { daily: 3, ..Tiers::default() };
        // Count keeps 11:00 and 10:00 of the 22nd; the tier keeps the 21st and 20th too.
        assert!(select_with(&list, 7, 2, daily, now()).is_empty());
        // Age removes what no tier keeps.
        let old = at_hours(&[(22, 11), (1, 10)]);
        assert_eq!(names(&select_with(&old, 7, 50, Tiers::default(), now())), [name(1, 10)]);
        assert!(select_with(&old, 7, 50, Tiers { monthly: 1, daily: 2, ..Tiers::default() }, now()).is_empty());
    }

    #[test]
    fn kept_by_says_why_each_archive_stays() {
        let mut list = at_hours(&[(22, 11), (22, 10), (21, 10), (20, 9)]);
        list[3].pinned = true;
        let why = kept_by(&list, 7, 1, Tiers { daily: 2, ..Tiers::default() }, now());
        let why: Vec<(String, Vec<&str>)> =
            why.iter().map(|(n, k)| (n.clone(), k.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            why,
            [
                (name(22, 11), vec!["count", "daily", "newest-verified"]),
                (name(22, 10), vec![]),
                (name(21, 10), vec!["daily"]),
                (name(20, 9), vec!["pin"]),
            ]
        );
    }

    #[test]
    fn a_clock_that_jumped_backwards_sorts_by_the_archives_own_times() {
        // Written in the order 10:00, 12:00, then 11:00 (the clock went back):
        // the tiers see the times, not the order of writing.
        let list = at_hours(&[(22, 10), (22, 12), (22, 11)]);
        let tiers = Tiers { hourly: 2, ..Tiers::default() };
        assert_eq!(kept(&list, tiers, 1, now()), [name(22, 12), name(22, 11)]);
    }

    /// An archive `hours` before `now` holding good copies of `sources`.
    fn holding(hours: i64, sources: &[&str]) -> Candidate {
        Candidate { holds: sources.iter().map(|s| s.to_string()).collect(), ..c(hours) }
    }

    fn kept_by_of(list: &[Candidate], max_count: i64) -> Vec<(String, Vec<String>)> {
        kept_by(list, 7, max_count, Tiers::default(), now())
    }

    #[test]
    fn the_last_good_copy_of_a_failing_source_outlives_max_count() {
        // premium.db has failed for the 5 newest cycles: only the two oldest
        // archives hold it.
        let mut list: Vec<Candidate> = (0..5).map(|h| holding(h, &["bot.db"])).collect();
        list.extend((5..7).map(|h| holding(h, &["bot.db", "premium.db"])));
        let removed = names(&select(&list, 7, 3, now()));
        assert_eq!(removed, [c(3).name, c(4).name, c(6).name]);
        let why = kept_by_of(&list, 3);
        assert_eq!(why[5].1, ["last-good:premium.db"]);
        assert_eq!(why[0].1, ["count", "newest-verified"]);
    }

    #[test]
    fn an_unverified_archive_is_no_good_copy() {
        let list = vec![
            holding(0, &["bot.db"]),
            Candidate { verified: false, ..holding(1, &["bot.db", "premium.db"]) },
            holding(2, &["bot.db", "premium.db"]),
        ];
        let why = kept_by_of(&list, 1);
        assert!(why[1].1.is_empty(), "{why:?}");
        assert_eq!(why[2].1, ["last-good:premium.db"]);
    }

    #[test]
    fn a_differential_holding_the_last_good_copy_keeps_its_base() {
        let base = holding(3, &["bot.db", "premium.db"]);
        let list = vec![
            holding(0, &["bot.db"]),
            holding(1, &["bot.db"]),
            Candidate { base: Some(base.name.clone()), ..holding(2, &["bot.db", "premium.db"]) },
            base.clone(),
        ];
        let why = kept_by_of(&list, 1);
        assert_eq!(why[2].1, ["last-good:premium.db"]);
        assert_eq!(why[3].1, ["base"]);
        assert_eq!(names(&select(&list, 7, 1, now())), [c(1).name]);
    }

    #[test]
    fn a_source_every_archive_holds_needs_no_extra_archive() {
        let list: Vec<Candidate> = (0..6).map(|h| holding(h, &["bot.db", "cache"])).collect();
        assert_eq!(names(&select(&list, 7, 2, now())).len(), 4);
    }

    #[test]
    fn apply_forgets_old_events_and_keeps_recent_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::from_toml(&format!(
            "[backup]\noutput_dir = {:?}\nsource_dir = {:?}\n",
            dir.path().join("out").display().to_string(),
            dir.path().join("src").display().to_string()
        ))
        .unwrap();
        std::fs::create_dir_all(&cfg.backup.output_dir).unwrap();
        let state = cfg.open_state().unwrap();
        state
            .log_event(Level::Warn, "dashboard", "old stranger", now() - Duration::days(EVENTS_KEPT_DAYS + 1))
            .unwrap();
        state.log_event(Level::Warn, "dashboard", "recent stranger", now() - Duration::days(1)).unwrap();
        apply(&cfg, &state, now()).unwrap();
        let left: Vec<String> = state.events(10, 0).unwrap().into_iter().map(|e| e.message).collect();
        assert_eq!(left, ["recent stranger"]);
    }
}
