//! Every JSON shape the CLI prints with `--json`, in one place: the core
//! returns data, and this is how programs read it. Shapes only grow: a
//! field once printed keeps its name and meaning. Each shape is a type, and
//! each object printed at the top (each element, for the listings, which
//! print an array) starts with `"schema": SCHEMA`, the version of the shapes.

use chrono::{DateTime, Utc};
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::destination::DestinationId;
use lifeboat_core::manifest::{TableCount, Trigger};
use lifeboat_core::salvage::{SalvageReport, SchemaFrom, TableSalvage};
use lifeboat_core::schedule::Schedule;
use lifeboat_core::source::sqlite::continuous::ChainCheck;
use lifeboat_core::state::Copy;
use lifeboat_core::verify::VerifyReport;
use lifeboat_cycle::CycleReport;
use lifeboat_engine::backup::{BackupOutcome, DryRun};
use lifeboat_engine::config::Config;
use lifeboat_engine::diagnose::{Diagnosis, Finding};
use lifeboat_engine::restore::{Action, Quarantined, RestoreOutcome, RestorePlan};
use lifeboat_engine::retention;
use lifeboat_engine::rows::diff::DiffReport;
use lifeboat_engine::status::StatusSnapshot;
use serde::Serialize;

use crate::ui::json_time;

/// The version of the shapes below. It changes only when a field changes
/// name or meaning, or goes; new fields leave it as it is.
pub const SCHEMA: u32 = 1;

/// A shape with the schema version first.
#[derive(Serialize)]
pub struct Versioned<T> {
    schema: u32,
    #[serde(flatten)]
    body: T,
}

fn versioned<T>(body: T) -> Versioned<T> {
    Versioned { schema: SCHEMA, body }
}

/// Prints `value` on stdout as indented JSON.
pub fn print(value: &impl Serialize) -> serde_json::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn files(archive: &StoredArchive) -> Vec<String> {
    archive.files.iter().map(|f| f.display().to_string()).collect()
}

/// `backup --json`
#[derive(Serialize)]
pub struct Backup<'a> {
    archive: &'a str,
    files: Vec<String>,
    size: u64,
    status: &'static str,
    databases: Vec<BackedUp<'a>>,
    skipped: Vec<Skipped<'a>>,
}

#[derive(Serialize)]
struct BackedUp<'a> {
    name: &'a str,
    size: u64,
    integrity: &'a str,
    rows: u64,
}

#[derive(Serialize)]
struct Skipped<'a> {
    name: &'a str,
    reason: &'a str,
}

pub fn backup(o: &BackupOutcome) -> Versioned<Backup<'_>> {
    versioned(Backup {
        archive: &o.archive.name,
        files: files(&o.archive),
        size: o.archive.size,
        status: o.status.as_str(),
        databases: o
            .manifest
            .databases
            .iter()
            .map(|d| BackedUp { name: &d.name, size: d.size, integrity: &d.integrity, rows: d.total_rows() })
            .collect(),
        skipped: o.manifest.skipped.iter().map(|s| Skipped { name: &s.name, reason: &s.reason }).collect(),
    })
}

/// `backup --dry-run --json`
#[derive(Serialize)]
pub struct DryRunReport<'a> {
    output_dir: String,
    /// "full" or "differential".
    kind: &'static str,
    base: Option<&'a str>,
    sources: Vec<DrySource<'a>>,
    /// Bytes the sources to be taken would read (servers not counted).
    total_bytes: u64,
    free_bytes: Option<u64>,
}

#[derive(Serialize)]
struct DrySource<'a> {
    name: &'a str,
    source: &'a str,
    kind: &'static str,
    /// Bytes a copy would read; null when not known before the copy.
    size: Option<u64>,
    /// "take" or "skip".
    action: &'static str,
    reason: Option<&'a str>,
}

pub fn dry_run(plan: &DryRun) -> Versioned<DryRunReport<'_>> {
    versioned(DryRunReport {
        output_dir: plan.output_dir.display().to_string(),
        kind: if plan.base.is_some() { "differential" } else { "full" },
        base: plan.base.as_deref(),
        sources: plan
            .sources
            .iter()
            .map(|s| DrySource {
                name: &s.name,
                source: &s.source,
                kind: s.kind.as_str(),
                size: s.size,
                action: if s.skip.is_some() { "skip" } else { "take" },
                reason: s.skip.as_deref(),
            })
            .collect(),
        total_bytes: plan.total_bytes(),
        free_bytes: plan.free_bytes,
    })
}

/// `backup --deliver --json`
#[derive(Serialize)]
pub struct Cycle<'a> {
    archive: Option<&'a str>,
    files: Vec<String>,
    status: &'static str,
    error: Option<String>,
    delivery_enabled: bool,
    removed: &'a [String],
    summary: String,
    exit_code: i32,
}

pub fn cycle<'a>(cfg: &Config, report: &'a CycleReport, code: i32) -> Versioned<Cycle<'a>> {
    versioned(Cycle {
        archive: report.backup.as_ref().ok().map(|o| o.archive.name.as_str()),
        files: report.backup.as_ref().map(|o| files(&o.archive)).unwrap_or_default(),
        status: report.backup.as_ref().map(|o| o.status.as_str()).unwrap_or("failed"),
        error: report.backup.as_ref().err().map(|e| e.to_string()),
        delivery_enabled: cfg.delivery_enabled(),
        removed: &report.removed,
        summary: report.summary(),
        exit_code: code,
    })
}

/// One element of `list --json`.
#[derive(Serialize)]
pub struct Listed<'a> {
    name: &'a str,
    created_at: String,
    trigger: &'a str,
    status: &'a str,
    size: u64,
    files: Vec<String>,
    databases: &'a [String],
    verified: Option<bool>,
    delivered: usize,
    copies: Vec<ListedCopy<'a>>,
    pinned: Option<&'a str>,
    kept_by: &'a [String],
    encryption: &'static str,
    kind: &'static str,
    base: Option<&'a str>,
}

#[derive(Serialize)]
struct ListedCopy<'a> {
    destination: &'a DestinationId,
    status: &'static str,
    attempts: u32,
    last_error: Option<&'a str>,
}

impl<'a> From<&'a Copy> for ListedCopy<'a> {
    fn from(c: &'a Copy) -> Self {
        ListedCopy {
            destination: &c.destination,
            status: c.status.as_str(),
            attempts: c.attempts,
            last_error: c.last_error.as_deref(),
        }
    }
}

/// One archive as `list` shows it, in its table or as JSON ([`list`]).
pub(crate) struct ListRow {
    pub archive: StoredArchive,
    pub trigger: String,
    pub status: String,
    pub databases: Vec<String>,
    pub verified: Option<bool>,
    pub delivered: usize,
    /// Each other destination's row for it (bucket, Discord, email).
    pub copies: Vec<lifeboat_core::state::Copy>,
    /// Why it is pinned, when it is.
    pub pinned: Option<String>,
    /// Why retention keeps it ("count", "daily", "pin", "last-good:NAME"…);
    /// empty: the next cycle removes it.
    pub kept_by: Vec<String>,
    /// How it is sealed.
    pub sealed: lifeboat_core::seal::Mode,
    /// A differential's base (None: a full archive).
    pub base: Option<String>,
    /// Its last read-back found it sealed to keys this machine lacks.
    pub cannot_open_here: bool,
}

/// `list --json`
pub fn list(rows: &[ListRow]) -> Vec<Versioned<Listed<'_>>> {
    rows.iter()
        .map(|r| {
            versioned(Listed {
                name: &r.archive.name,
                created_at: json_time(r.archive.created_at),
                trigger: &r.trigger,
                status: &r.status,
                size: r.archive.size,
                files: files(&r.archive),
                databases: &r.databases,
                verified: r.verified,
                delivered: r.delivered,
                copies: r.copies.iter().map(ListedCopy::from).collect(),
                pinned: r.pinned.as_deref(),
                kept_by: &r.kept_by,
                encryption: r.sealed.as_str(),
                kind: if r.base.is_some() || r.archive.is_differential() { "differential" } else { "full" },
                base: r.base.as_deref(),
            })
        })
        .collect()
}

/// One element of `list --remote NAME --json`.
#[derive(Serialize)]
pub struct Remote<'a> {
    archive: &'a str,
    size: u64,
    modified: DateTime<Utc>,
}

/// `list --remote NAME --json`
pub fn remote(archives: &[lifeboat_s3::Remote]) -> Vec<Versioned<Remote<'_>>> {
    archives.iter().map(|r| versioned(Remote { archive: &r.name, size: r.size, modified: r.modified })).collect()
}

/// `metrics --json`: the figures of the Prometheus text, one object per value.
#[derive(Serialize)]
pub struct Metrics<'a> {
    metrics: &'a [lifeboat_engine::metrics::Sample],
}

pub fn metrics(samples: &[lifeboat_engine::metrics::Sample]) -> Versioned<Metrics<'_>> {
    versioned(Metrics { metrics: samples })
}

/// `prune [--dry-run] --json`
#[derive(Serialize)]
pub struct Prune<'a> {
    dry_run: bool,
    /// Removed (or, in a dry run, to be removed), with why.
    removed: Vec<Removed<'a>>,
    /// Kept, with every reason that keeps it.
    kept: Vec<Kept<'a>>,
}

#[derive(Serialize)]
struct Removed<'a> {
    name: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Kept<'a> {
    name: &'a str,
    kept_by: &'a [String],
}

pub fn prune(verdicts: &[retention::Verdict], dry_run: bool) -> Versioned<Prune<'_>> {
    versioned(Prune {
        dry_run,
        removed: verdicts
            .iter()
            .filter_map(|v| Some(Removed { name: &v.name, reason: v.removal.as_deref()? }))
            .collect(),
        kept: verdicts
            .iter()
            .filter(|v| v.removal.is_none())
            .map(|v| Kept { name: &v.name, kept_by: &v.kept_by })
            .collect(),
    })
}

/// `salvage --json`
#[derive(Serialize)]
pub struct Salvage<'a> {
    database: &'a str,
    output: String,
    /// Every row of every table was read.
    complete: bool,
    /// "damaged" or "archive": where the new file's schema came from.
    schema_from: &'static str,
    /// The archive compared with, if any.
    archive: Option<&'a str>,
    integrity: &'a str,
    tables: Vec<SalvagedTable<'a>>,
    not_created: Vec<NotCreated<'a>>,
}

#[derive(Serialize)]
struct SalvagedTable<'a> {
    name: &'a str,
    salvaged: u64,
    complete: bool,
    /// Rowid ranges that could not be read: [from, until) (until null: to the end).
    lost: Vec<(i64, Option<i64>)>,
    stopped: Option<&'a str>,
    in_archive: Option<u64>,
    not_in_archive: Option<u64>,
}

#[derive(Serialize)]
struct NotCreated<'a> {
    name: &'a str,
    error: &'a str,
}

pub fn salvage<'a>(name: &'a str, archive: Option<&'a str>, r: &'a SalvageReport) -> Versioned<Salvage<'a>> {
    versioned(Salvage {
        database: name,
        output: r.output.display().to_string(),
        complete: r.complete(),
        schema_from: match r.schema_from {
            SchemaFrom::Damaged => "damaged",
            SchemaFrom::Reference => "archive",
        },
        archive,
        integrity: &r.integrity,
        tables: r.tables.iter().map(salvaged_table).collect(),
        not_created: r.not_created.iter().map(|(name, error)| NotCreated { name, error }).collect(),
    })
}

fn salvaged_table(t: &TableSalvage) -> SalvagedTable<'_> {
    SalvagedTable {
        name: &t.name,
        salvaged: t.salvaged,
        complete: t.complete(),
        lost: t.lost.iter().map(|l| (l.from, l.until)).collect(),
        stopped: t.stopped.as_deref(),
        in_archive: t.in_reference,
        not_in_archive: t.not_in_reference,
    }
}

/// `diff A B --json`: the report's own fields (`databases`, as the design
/// fixes them) after the two sides' labels.
#[derive(Serialize)]
pub struct Diff<'a> {
    a: &'a str,
    b: &'a str,
    #[serde(flatten)]
    report: &'a DiffReport,
}

pub fn diff<'a>(a: &'a str, b: &'a str, report: &'a DiffReport) -> Versioned<Diff<'a>> {
    versioned(Diff { a, b, report })
}

/// `verify --json`
#[derive(Serialize)]
pub struct Verify<'a> {
    archive: &'a str,
    files: Vec<String>,
    /// The archive's own verdict (the chains have theirs).
    ok: bool,
    databases: Vec<Verdict<'a>>,
    problems: Vec<String>,
    /// With `--continuous`: each database's increment chains.
    #[serde(skip_serializing_if = "Option::is_none")]
    continuous: Option<Vec<Chains<'a>>>,
}

#[derive(Serialize)]
struct Verdict<'a> {
    name: &'a str,
    size: u64,
    checksum_ok: bool,
    integrity: &'a str,
    ok: bool,
}

/// One database's increment chains, read in full.
#[derive(Serialize)]
struct Chains<'a> {
    database: &'a str,
    ok: bool,
    chains: usize,
    increments: usize,
    /// The newest moment `restore --at` reaches, when there is one.
    newest: Option<String>,
    problems: &'a [String],
}

pub fn verify<'a>(
    report: &'a VerifyReport,
    archive: &StoredArchive,
    chains: Option<&'a [ChainCheck]>,
) -> Versioned<Verify<'a>> {
    versioned(Verify {
        archive: &report.archive,
        files: files(archive),
        ok: report.is_ok(),
        databases: report
            .databases
            .iter()
            .map(|d| Verdict {
                name: &d.name,
                size: d.size,
                checksum_ok: d.checksum_ok,
                integrity: &d.integrity,
                ok: d.ok,
            })
            .collect(),
        problems: report.all_problems(),
        continuous: chains.map(|all| {
            all.iter()
                .map(|c| Chains {
                    database: &c.database,
                    ok: c.problems.is_empty(),
                    chains: c.chains,
                    increments: c.increments,
                    newest: c.newest.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    problems: &c.problems,
                })
                .collect()
        }),
    })
}

/// `status --json`
#[derive(Serialize)]
pub struct Status<'a> {
    now: String,
    last_backup: Option<LastBackup<'a>>,
    schedule: &'a str,
    warnings: &'a [String],
    next_run: Option<String>,
    scheduler: Scheduler,
    storage: Storage,
    quarantine: Vec<QuarantineEntry<'a>>,
    last_24h: Last24h,
    no_good_copy: Vec<NoGoodCopy<'a>>,
    incidents: Vec<OpenIncident<'a>>,
    delivery: Delivery,
    offsite: Vec<Offsite<'a>>,
    /// `[continuous]`, when enabled: each database's lag and reachable span.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    continuous: Vec<Continuous<'a>>,
}

#[derive(Serialize)]
struct Continuous<'a> {
    database: &'a str,
    lag_secs: Option<f64>,
    reaches_from: Option<String>,
    reaches_to: Option<String>,
}

#[derive(Serialize)]
struct LastBackup<'a> {
    started_at: String,
    finished_at: Option<String>,
    trigger: &'static str,
    status: &'static str,
    archive: Option<&'a str>,
    size: Option<u64>,
    databases_ok: u32,
    databases_skipped: u32,
    verified: bool,
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct Scheduler {
    state: &'static str,
    heartbeat_at: Option<String>,
    pid: Option<u32>,
}

#[derive(Serialize)]
struct Storage {
    output_dir: String,
    archives: usize,
    used_bytes: u64,
    free_bytes: Option<u64>,
}

/// A quarantined database, in `status` and in `restore --yes`.
#[derive(Serialize)]
struct QuarantineEntry<'a> {
    name: &'a str,
    dir: String,
    bytes: u64,
}

impl<'a> From<&'a Quarantined> for QuarantineEntry<'a> {
    fn from(q: &'a Quarantined) -> Self {
        QuarantineEntry { name: &q.name, dir: q.dir.display().to_string(), bytes: q.bytes }
    }
}

#[derive(Serialize)]
struct Last24h {
    ok: u32,
    partial: u32,
    failed: u32,
    unchanged: u32,
}

#[derive(Serialize)]
struct NoGoodCopy<'a> {
    source: &'a str,
    last_good_archive: Option<&'a str>,
    last_good_at: Option<String>,
    for_secs: Option<i64>,
}

#[derive(Serialize)]
struct OpenIncident<'a> {
    kind: &'static str,
    opened_at: String,
    detail: &'a str,
}

#[derive(Serialize)]
struct Delivery {
    enabled: bool,
    admins: usize,
    pending: usize,
}

#[derive(Serialize)]
struct Offsite<'a> {
    destination: &'a DestinationId,
    archive: Option<&'a str>,
    status: Option<&'static str>,
    attempts: Option<u32>,
    last_error: Option<&'a str>,
    updated_at: Option<String>,
}

pub fn status<'a>(cfg: &Config, s: &'a StatusSnapshot, schedule: &'a Schedule) -> Versioned<Status<'a>> {
    versioned(Status {
        now: json_time(s.now),
        last_backup: s.last_run.as_ref().map(|r| LastBackup {
            started_at: json_time(r.started_at),
            finished_at: r.finished_at.map(json_time),
            trigger: r.trigger.as_str(),
            status: r.status.as_str(),
            archive: r.end.archive.as_deref(),
            size: r.end.size,
            databases_ok: r.end.databases_ok,
            databases_skipped: r.end.databases_skipped,
            verified: r.end.verified,
            detail: r.end.detail.as_deref(),
        }),
        schedule: schedule.as_str(),
        warnings: &s.warnings,
        next_run: s.next_run.map(json_time),
        scheduler: Scheduler {
            state: s.scheduler.as_str(),
            heartbeat_at: s.heartbeat.as_ref().map(|h| json_time(h.at)),
            pid: s.heartbeat.as_ref().map(|h| h.pid),
        },
        storage: Storage {
            output_dir: cfg.backup.output_dir.display().to_string(),
            archives: s.archives,
            used_bytes: s.archive_bytes,
            free_bytes: s.free_bytes.as_ref().ok().copied(),
        },
        quarantine: s.quarantined.iter().map(QuarantineEntry::from).collect(),
        last_24h: Last24h {
            ok: s.last_24h.ok,
            partial: s.last_24h.partial,
            failed: s.last_24h.failed,
            unchanged: s.last_24h.unchanged,
        },
        no_good_copy: s
            .without_good_copy
            .iter()
            .map(|g| NoGoodCopy {
                source: &g.source,
                last_good_archive: g.last_good.as_ref().map(|(a, _)| a.as_str()),
                last_good_at: g.last_good.as_ref().map(|(_, t)| json_time(*t)),
                for_secs: g.last_good.as_ref().map(|(_, t)| (s.now - *t).num_seconds()),
            })
            .collect(),
        incidents: s
            .incidents
            .iter()
            .map(|i| OpenIncident { kind: i.kind.as_str(), opened_at: json_time(i.opened_at), detail: &i.detail })
            .collect(),
        delivery: Delivery {
            enabled: cfg.delivery_enabled(),
            admins: cfg.telegram.admin_ids.len(),
            pending: s.pending_deliveries,
        },
        offsite: s
            .stores
            .iter()
            .map(|(store, latest)| Offsite {
                destination: store,
                archive: latest.as_ref().map(|c| c.archive.as_str()),
                status: latest.as_ref().map(|c| c.status.as_str()),
                attempts: latest.as_ref().map(|c| c.attempts),
                last_error: latest.as_ref().and_then(|c| c.last_error.as_deref()),
                updated_at: latest.as_ref().map(|c| json_time(c.updated_at)),
            })
            .collect(),
        continuous: s
            .continuous
            .iter()
            .map(|c| Continuous {
                database: &c.database,
                lag_secs: c.lag_secs,
                reaches_from: c.span.as_ref().map(|sp| json_time(sp.from)),
                reaches_to: c.span.as_ref().map(|sp| json_time(sp.to)),
            })
            .collect(),
    })
}

/// `diagnose --json`
#[derive(Serialize)]
pub struct Diagnose<'a> {
    worst: &'static str,
    findings: &'a [Finding],
}

pub fn diagnose(d: &Diagnosis) -> Versioned<Diagnose<'_>> {
    versioned(Diagnose { worst: d.worst().as_str(), findings: &d.findings })
}

/// `restore --dry-run --json` (and `restore --json` without `--yes`)
#[derive(Serialize)]
pub struct Plan<'a> {
    archive: &'a str,
    files: Vec<String>,
    created_at: DateTime<Utc>,
    trigger: Trigger,
    target: String,
    databases: Vec<Planned<'a>>,
    unconfigured: &'a [String],
    manual: &'a [String],
    /// Everything that would stop the restore before it writes.
    problems: &'a [String],
    /// `--at TIME`: the moment asked and, per database, the moment reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<At<'a>>,
}

#[derive(Serialize)]
struct At<'a> {
    asked: DateTime<Utc>,
    databases: Vec<AtDatabase<'a>>,
    left_out: &'a [String],
}

#[derive(Serialize)]
struct AtDatabase<'a> {
    name: &'a str,
    reached: DateTime<Utc>,
    chain_start: DateTime<Utc>,
    increments: usize,
}

#[derive(Serialize)]
struct Planned<'a> {
    name: &'a str,
    dest: String,
    size: u64,
    rows: u64,
    action: &'static str,
    current: Option<Current<'a>>,
    schema_changes: &'a [String],
    damaged: Option<&'a str>,
    /// What its restore does first (a database created).
    first: Option<&'a str>,
}

/// What a planned action knows of what is there now (null for the actions
/// that know nothing).
#[derive(Serialize)]
#[serde(untagged)]
enum Current<'a> {
    Replace { current_size: u64, journal_mode: &'a str, page_size: u32 },
    Unreadable { reason: &'a str },
    Dump { source: &'a str },
    File { exists: bool },
}

fn action(a: &Action) -> (&'static str, Option<Current<'_>>) {
    match a {
        Action::Replace { current_size, journal_mode, page_size } => {
            ("replace", Some(Current::Replace { current_size: *current_size, journal_mode, page_size: *page_size }))
        }
        Action::ReplaceUnreadable { reason } => ("replace-unreadable", Some(Current::Unreadable { reason })),
        Action::Create => ("create", None),
        Action::WriteFile => ("write-file", None),
        Action::LoadDump { source, .. } => ("load-dump", Some(Current::Dump { source })),
        Action::WriteBack { exists } => ("write-back", Some(Current::File { exists: *exists })),
    }
}

pub fn restore_plan(plan: &RestorePlan) -> Versioned<Plan<'_>> {
    versioned(Plan {
        archive: &plan.archive.name,
        files: files(&plan.archive),
        created_at: plan.manifest.created_at,
        trigger: plan.manifest.trigger,
        target: match &plan.to {
            Some(d) => d.display().to_string(),
            None => "live".to_string(),
        },
        databases: plan
            .databases
            .iter()
            .map(|d| {
                let (action, current) = action(&d.action);
                Planned {
                    name: &d.name,
                    dest: d.dest.display().to_string(),
                    size: d.size,
                    rows: d.rows,
                    action,
                    current,
                    schema_changes: &d.schema_changes,
                    damaged: d.damaged.as_deref(),
                    first: d.first.as_deref(),
                }
            })
            .collect(),
        unconfigured: &plan.unconfigured,
        manual: &plan.manual,
        problems: &plan.problems,
        at: plan.at.as_ref().map(|at| At {
            asked: at.asked,
            databases: at
                .databases
                .iter()
                .map(|r| AtDatabase {
                    name: &r.database,
                    reached: r.reached,
                    chain_start: r.chain_start,
                    increments: r.increments.len(),
                })
                .collect(),
            left_out: &at.left_out,
        }),
    })
}

/// `restore --yes --json`
#[derive(Serialize)]
pub struct Restored<'a> {
    archive: &'a str,
    safety_archive: Option<&'a str>,
    quarantined: Vec<QuarantineEntry<'a>>,
    restored: Vec<RestoredDatabase<'a>>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct RestoredDatabase<'a> {
    name: &'a str,
    dest: String,
    rows: u64,
    rows_match_manifest: bool,
    tables: &'a [TableCount],
}

pub fn restore_outcome(o: &RestoreOutcome) -> Versioned<Restored<'_>> {
    versioned(Restored {
        archive: &o.archive,
        safety_archive: o.safety_archive.as_deref(),
        quarantined: o.quarantined.iter().map(QuarantineEntry::from).collect(),
        restored: o
            .restored
            .iter()
            .map(|d| RestoredDatabase {
                name: &d.name,
                dest: d.dest.display().to_string(),
                rows: d.total_rows(),
                rows_match_manifest: d.rows_match_manifest,
                tables: &d.tables,
            })
            .collect(),
        notes: &o.notes,
    })
}

/// `pin --json` and `unpin --json`
#[derive(Serialize)]
pub struct Pin<'a> {
    archive: &'a str,
    /// Pinned after the command.
    pinned: bool,
    /// Whether it was pinned before.
    was_pinned: bool,
    /// Why, while pinned.
    reason: Option<&'a str>,
}

pub fn pin<'a>(archive: &'a str, pinned: bool, was_pinned: bool, reason: Option<&'a str>) -> Versioned<Pin<'a>> {
    versioned(Pin { archive, pinned, was_pinned, reason })
}

/// `fetch --json`
#[derive(Serialize)]
pub struct Fetch {
    /// The archive fetched (`latest` resolved to its name).
    archive: String,
    /// Files downloaded into `backup.output_dir`, in order.
    downloaded: Vec<String>,
    /// Archives already there, left as they were.
    present: Vec<String>,
    /// Keys of the bucket the listing skipped, if any.
    warning: Option<String>,
}

pub fn fetch(f: &lifeboat_s3::Fetched) -> Versioned<Fetch> {
    versioned(Fetch {
        archive: f.archive.clone(),
        downloaded: f.downloaded.iter().map(|p| p.display().to_string()).collect(),
        present: f.present.clone(),
        warning: f.warning.clone(),
    })
}
