//! Watching the backups between cycles: every minute the dashboard and the
//! scheduler daemon (either alone suffices) look for conditions that need
//! people, and so does every cycle at its end (a machine run by the timer
//! has no daemon watching). Each is an incident in the state database: the
//! admins hear once when it opens and once when it clears, never every
//! minute, and never twice when several processes look (the database lets
//! one of them open or close it).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lifeboat_core::destination::Notifier;
use lifeboat_core::state::{HeartbeatState, Incident, IncidentKind, Level, OutboxStatus, Process, State, StateError};
use lifeboat_core::units::{human_duration, human_size, plural};
use lifeboat_core::{catalog, fsutil};
use lifeboat_engine::config::Config;

/// How often the daemons look.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Looks every [`EVERY`] until `stop`, from the process named `source`.
/// A look that fails (the state database busy or gone) is logged and tried
/// again next minute.
pub async fn run(cfg: Config, stop: tokio_util::sync::CancellationToken, source: &'static str) {
    let notifiers = crate::destinations(&cfg).notifiers;
    let since = Utc::now();
    loop {
        if let Err(e) = look(&cfg, &notifiers, since, Utc::now(), source).await {
            tracing::warn!("watching the backups failed this time: {e}");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// What changed in one look.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// Incidents this look opened (and alerted).
    pub opened: Vec<IncidentKind>,
    /// Incidents this look closed (and announced as recovered).
    pub closed: Vec<IncidentKind>,
}

/// Looks once at `now`, opening and closing incidents and telling the
/// admins through `notifiers`. `watching_since` stands in for the last
/// success when there never was one: a fresh install is not stale at once.
pub async fn look(
    cfg: &Config,
    notifiers: &[Arc<dyn Notifier>],
    watching_since: DateTime<Utc>,
    now: DateTime<Utc>,
    source: &str,
) -> Result<Changes, StateError> {
    look_with(cfg, notifiers, watching_since, now, source, false).await
}

/// [`look`] at the end of a cycle that started at `started_at`. A
/// scheduled cycle is the scheduler at work (the daemon's, or the timer's,
/// whose heartbeat is written only after its cycle, so a long cycle
/// outlives the previous one's): the scheduler counts as running.
pub async fn look_after_cycle(
    cfg: &Config,
    notifiers: &[Arc<dyn Notifier>],
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
    source: &str,
    scheduled: bool,
) -> Result<Changes, StateError> {
    look_with(cfg, notifiers, started_at, now, source, scheduled).await
}

async fn look_with(
    cfg: &Config,
    notifiers: &[Arc<dyn Notifier>],
    watching_since: DateTime<Utc>,
    now: DateTime<Utc>,
    source: &str,
    scheduler_running: bool,
) -> Result<Changes, StateError> {
    let state = cfg.open_state()?;
    let mut seen = conditions(cfg, &state, watching_since, now)?;
    if scheduler_running {
        for (kind, detail) in seen.iter_mut() {
            if *kind == IncidentKind::SchedulerSilent {
                *detail = None;
            }
        }
    }
    let mut changes = Changes::default();
    let mut messages = Vec::new();
    for (kind, detail) in seen {
        match detail {
            Some(detail) => {
                if state.open_incident(kind, &detail, now)? {
                    state.log_event(Level::Error, source, &format!("incident opened: {detail}"), now)?;
                    messages.push(opened_text(kind, &detail));
                    changes.opened.push(kind);
                }
            }
            None => {
                if let Some(incident) = state.close_incident(kind, now)? {
                    let text = recovered_text(&incident, now);
                    state.log_event(Level::Info, source, &text, now)?;
                    messages.push(text);
                    changes.closed.push(kind);
                }
            }
        }
    }
    drop(state);
    for text in messages {
        for d in crate::messengers(notifiers) {
            if let Err(e) = d.alert(&text).await {
                tracing::warn!("could not tell the admins ({}): {e}", d.kind());
            }
        }
    }
    Ok(changes)
}

/// Each kind with Some(what is wrong) when its condition holds at `now`.
pub fn conditions(
    cfg: &Config,
    state: &State,
    watching_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(IncidentKind, Option<String>)>, StateError> {
    let m = &cfg.monitoring;
    let mut seen = Vec::new();

    // A check that is off (or has nothing to judge) reports "fine", so an
    // incident it opened before does not stay open for ever.
    if m.stale_after_minutes == 0 {
        seen.push((IncidentKind::Stale, None));
    } else {
        let last = state.last_successful_run()?.map(|r| r.finished_at.unwrap_or(r.started_at));
        let since = last.unwrap_or(watching_since);
        let limit = Duration::minutes(m.stale_after_minutes as i64);
        let stale = now - since > limit;
        seen.push((
            IncidentKind::Stale,
            stale.then(|| match last {
                Some(t) => format!(
                    "no successful backup for {} (the last one at {})",
                    human_duration((now - t).num_seconds()),
                    t.format("%Y-%m-%d %H:%M UTC")
                ),
                None => format!(
                    "no successful backup yet, {} after watching started",
                    human_duration((now - since).num_seconds())
                ),
            }),
        ));
    }

    let heartbeat = state.heartbeat(Process::Scheduler)?;
    let silent = heartbeat.as_ref().filter(|hb| {
        hb.state != HeartbeatState::Stopped && now > hb.at + Duration::seconds(hb.stale_after_secs as i64)
    });
    seen.push((
        IncidentKind::SchedulerSilent,
        silent.map(|hb| {
            format!(
                "the scheduler (pid {}) has been silent for {}: it is dead or hung (systemctl status lifeboat-scheduler)",
                hb.pid,
                human_duration((now - hb.at).num_seconds())
            )
        }),
    ));

    // Owed after the cycle that tried it: the first failed cycle opens the
    // incident (the ping's /fail says it at once, this tells the people).
    let mut stuck: Vec<(String, String, DateTime<Utc>)> = Vec::new();
    if cfg.delivery_enabled() {
        for d in state.pending_deliveries()?.into_iter().filter(|d| d.attempts > 0) {
            if cfg.telegram.admin_ids.contains(&d.chat_id) {
                stuck.push((d.archive, format!("telegram admin {}", d.chat_id), d.created_at));
            }
        }
    }
    for id in cfg.destinations.ids() {
        for c in state.copies(&id, OutboxStatus::Pending)?.into_iter().filter(|c| c.attempts > 0) {
            stuck.push((c.archive, id.to_string(), c.updated_at));
        }
    }
    seen.push((
        IncidentKind::DeliveriesStuck,
        stuck.iter().map(|(_, _, at)| *at).min().map(|oldest| {
            let mut who: Vec<&str> = stuck.iter().map(|(_, w, _)| w.as_str()).collect();
            who.sort_unstable();
            who.dedup();
            let mut archives: Vec<&str> = stuck.iter().map(|(a, _, _)| a.as_str()).collect();
            archives.sort_unstable();
            archives.dedup();
            format!(
                "{} still owed after a cycle tried to deliver {} (the oldest for {}) to {}; `lifeboat diagnose` \
                 says which destination does not answer and what to do",
                plural(archives.len(), "archive"),
                if archives.len() == 1 { "it" } else { "them" },
                human_duration((now - oldest).num_seconds().max(0)),
                who.join(", ")
            )
        }),
    ));

    seen.push((IncidentKind::ContinuousLag, continuous_lag(cfg, state, watching_since, now)?));

    // The next backup needs room for its snapshots and its archive.
    let needed = state.latest_db_checks()?.iter().filter_map(|c| c.size).sum::<u64>()
        + catalog::list(&cfg.backup.output_dir).ok().and_then(|a| a.first().map(|a| a.size)).unwrap_or(0);
    if needed == 0 {
        seen.push((IncidentKind::DiskLow, None));
    } else if let Ok(free) = fsutil::space_for(&cfg.backup.output_dir) {
        seen.push((
            IncidentKind::DiskLow,
            (free < needed).then(|| {
                format!(
                    "{} free in {}, the next backup needs about {}",
                    human_size(free),
                    cfg.backup.output_dir.display(),
                    human_size(needed)
                )
            }),
        ));
    }
    Ok(seen)
}

/// `[continuous]`: the databases whose changes were not captured for ten
/// intervals (the daemon stopped, a full disk, a database gone), and the
/// increments a store has not taken for as long (the store down), in words.
fn continuous_lag(
    cfg: &Config,
    state: &State,
    watching_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<String>, StateError> {
    if !cfg.continuous.enabled {
        return Ok(None);
    }
    let limit = Duration::seconds(10 * cfg.continuous.interval_secs as i64);
    let positions = state.capture_positions()?;
    let behind: Vec<String> = cfg
        .backup
        .databases
        .iter()
        .filter_map(|name| {
            let last = positions.iter().find(|p| &p.database == name).map(|p| p.checked_at);
            let since = last.unwrap_or(watching_since);
            (now - since > limit).then(|| match last {
                Some(_) => format!("{name} for {}", human_duration((now - since).num_seconds())),
                None => format!("{name} never"),
            })
        })
        .collect();
    let not_copied = not_copied(cfg, state, limit, now)?;
    let mut said = Vec::new();
    if !behind.is_empty() {
        said.push(format!(
            "changes not captured for over ten intervals of {} s: {}; restore --at cannot reach the moments since. \
             Check that lifeboat-scheduler runs as a daemon and its log (journalctl -u lifeboat-scheduler)",
            cfg.continuous.interval_secs,
            behind.join(", ")
        ));
    }
    if !not_copied.is_empty() {
        said.push(format!(
            "increments not copied off site for over ten intervals: {}; a new server restores only what the store \
             holds. `lifeboat diagnose` says whether the store answers; the copies resume by themselves, in order",
            not_copied.join(", ")
        ));
    }
    Ok((!said.is_empty()).then(|| said.join("\n")))
}

/// Per `[[destinations.s3]]` and database, the oldest increment the store
/// has not taken yet, when it is older than `limit`, in words.
fn not_copied(cfg: &Config, state: &State, limit: Duration, now: DateTime<Utc>) -> Result<Vec<String>, StateError> {
    use lifeboat_core::source::sqlite::continuous::{Paths, increment};
    let mut out = Vec::new();
    let continuous = cfg.continuous_setup();
    for s3 in &cfg.destinations.s3 {
        let id = s3.id().to_string();
        for name in &cfg.backup.databases {
            let copied = state.upload_position(&id, name)?;
            let oldest = increment::list(&Paths::new(&continuous, name).dir)
                .unwrap_or_default()
                .into_iter()
                .filter(|s| copied.is_none_or(|p| (s.generation, s.seq) > (p.generation, p.seq)))
                .map(|s| s.captured_at)
                .min();
            if let Some(t) = oldest.filter(|t| now - *t > limit) {
                out.push(format!("{name} to {} for {}", s3.name, human_duration((now - t).num_seconds())));
            }
        }
    }
    Ok(out)
}

/// An incident's name, for alerts and screens.
pub fn title(kind: IncidentKind) -> &'static str {
    match kind {
        IncidentKind::Stale => "Backups have stopped",
        IncidentKind::SchedulerSilent => "The scheduler is not running",
        IncidentKind::DeliveriesStuck => "Archives are not reaching their destinations",
        IncidentKind::DiskLow => "The backup disk is nearly full",
        IncidentKind::ArchiveCorrupt => "A stored archive is damaged",
        IncidentKind::ContinuousLag => "Continuous protection has fallen behind",
        IncidentKind::ChainMismatch => "A continuous chain does not match its archive",
    }
}

pub(crate) fn opened_text(kind: IncidentKind, detail: &str) -> String {
    format!("🔴 Lifeboat: {}\n{detail}\nYou will hear again when it recovers.", title(kind))
}

pub(crate) fn recovered_text(incident: &Incident, now: DateTime<Utc>) -> String {
    let what = match incident.kind {
        IncidentKind::Stale => "backups are succeeding again",
        IncidentKind::SchedulerSilent => "the scheduler is beating again",
        IncidentKind::DeliveriesStuck => "pending archives are delivered",
        IncidentKind::DiskLow => "there is room for the next backup",
        IncidentKind::ArchiveCorrupt => "no stored archive fails verification any longer",
        IncidentKind::ContinuousLag => "every database's changes are captured (and copied off site) again",
        IncidentKind::ChainMismatch => "every chain proven since matches its archive",
    };
    format!("✅ Lifeboat recovered: {what} (after {}).", human_duration((now - incident.opened_at).num_seconds()))
}
