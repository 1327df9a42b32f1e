//! Lifeboat's state as Prometheus metrics: the same text for `lifeboat
//! metrics`, the textfile collector file written after each cycle and the
//! scheduler's `GET /metrics`. Built with the `prometheus` crate's registry
//! and text encoder (the format node_exporter and `promtool` read), named by
//! the Prometheus conventions (`lifeboat_…_seconds`, `_bytes`, `_total`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use prometheus::{Encoder, Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use strum::IntoEnumIterator;

use crate::config::Config;
use crate::status::{self, StatusError};
use lifeboat_core::destination::DestinationKind;
use lifeboat_core::state::{IncidentKind, OutboxStatus, State};

/// The metrics text at `now`. `state` is None before the first run.
pub fn render(cfg: &Config, state: Option<&State>, now: DateTime<Utc>) -> Result<String, StatusError> {
    Ok(collect(cfg, state, now)?.text())
}

/// One value of one metric, as `metrics --json` prints it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// The full name, e.g. `lifeboat_deliveries`.
    pub name: String,
    /// "gauge" or "counter".
    pub kind: &'static str,
    pub help: String,
    /// Label name to value; empty for a metric without labels.
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: f64,
}

/// The same figures as [`render`], one [`Sample`] per value, in the text's order.
pub fn samples(cfg: &Config, state: Option<&State>, now: DateTime<Utc>) -> Result<Vec<Sample>, StatusError> {
    let m = collect(cfg, state, now)?;
    let mut out = Vec::new();
    for family in m.registry.gather() {
        let kind = match family.get_field_type() {
            prometheus::proto::MetricType::COUNTER => "counter",
            _ => "gauge",
        };
        for metric in family.get_metric() {
            let labels = metric.get_label().iter().map(|l| (l.name().to_string(), l.value().to_string())).collect();
            let value =
                if kind == "counter" { metric.get_counter().get_value() } else { metric.get_gauge().get_value() };
            out.push(Sample { name: family.name().to_string(), kind, help: family.help().to_string(), labels, value });
        }
    }
    Ok(out)
}

fn collect(cfg: &Config, state: Option<&State>, now: DateTime<Utc>) -> Result<Metrics, StatusError> {
    let mut m = Metrics::default();
    let snapshot = status::snapshot(cfg, state, now)?;
    let up = f64::from(u8::from(snapshot.scheduler.is_up()));
    m.gauge(
        "scheduler_up",
        "1 while the scheduler's heartbeat is fresh (daemon, or the timer's next run not yet due)",
        up,
    );
    m.gauge("archives", "Archives on disk", snapshot.archives as f64);
    m.gauge("archives_bytes", "Bytes of the archives on disk", snapshot.archive_bytes as f64);
    if let Ok(free) = snapshot.free_bytes {
        m.gauge("disk_free_bytes", "Free space where archives are written", free as f64);
    }
    if let Some(run) = &snapshot.last_run {
        let at = run.finished_at.unwrap_or(run.started_at);
        m.gauge("last_attempt_timestamp_seconds", "When the last run ended", unix(at));
        let took = (at - run.started_at).num_milliseconds().max(0) as f64 / 1000.0;
        m.gauge("last_duration_seconds", "How long the last run took", took);
    }
    let Some(state) = state else { return Ok(m) };

    let incidents = m.gauges("incidents_open", "1 while an incident of this kind is open", &["kind"]);
    for kind in IncidentKind::iter() {
        let open = snapshot.incidents.iter().any(|i| i.kind == kind);
        incidents.with_label_values(&[kind.as_str()]).set(i64::from(open));
    }

    if let Some(run) = state.last_successful_run()? {
        let at = run.finished_at.unwrap_or(run.started_at);
        m.gauge("last_success_timestamp_seconds", "When the last archive was written", unix(at));
        if let Some(size) = run.end.size {
            m.gauge("last_archive_bytes", "Size of the last archive", size as f64);
        }
    }
    if let Some(v) = state.verifications()?.into_iter().next() {
        m.gauge(
            "last_reverify_timestamp_seconds",
            "When a stored archive was last read back in full",
            unix(v.verified_at),
        );
        m.gauge("last_reverify_ok", "1 when that read-back verified", f64::from(u8::from(v.ok)));
    }
    let runs = m.counters("runs_total", "Finished runs by outcome", &["status"]);
    for (status, n) in state.run_totals()? {
        runs.with_label_values(&[status.as_str()]).inc_by(n);
    }
    let deliveries =
        m.gauges("deliveries", "Outbox rows not delivered, by destination and status", &["destination", "status"]);
    for (status, n) in state.delivery_counts()? {
        if matches!(status, OutboxStatus::Pending | OutboxStatus::Failed) {
            deliveries.with_label_values(&[DestinationKind::Telegram.as_str(), status.as_str()]).set(n as i64);
        }
    }
    for (destination, status, n) in state.copy_counts()? {
        if matches!(status, OutboxStatus::Pending | OutboxStatus::Failed) {
            deliveries.with_label_values(&[destination.to_string().as_str(), status.as_str()]).set(n as i64);
        }
    }
    let db_bytes = m.gauges("database_bytes", "Snapshot size of each database", &["database"]);
    let db_rows = m.gauges("database_rows", "Rows in each database's last snapshot", &["database"]);
    let db_ok = m.gauges("database_integrity_ok", "1 when the last check of the database passed", &["database"]);
    for check in state.latest_db_checks()? {
        let db = [check.name.as_str()];
        if let Some(size) = check.size {
            db_bytes.with_label_values(&db).set(size as i64);
        }
        if let Some(rows) = check.rows {
            db_rows.with_label_values(&db).set(rows as i64);
        }
        db_ok.with_label_values(&db).set(i64::from(check.ok));
    }
    if !snapshot.continuous.is_empty() {
        let lag = m.float_gauges(
            "continuous_lag_seconds",
            "Seconds since each database's committed changes were last captured in full ([continuous])",
            &["database"],
        );
        for c in &snapshot.continuous {
            // Never captured: as old as can be, so an alert on the lag fires.
            lag.with_label_values(&[c.database.as_str()]).set(c.lag_secs.unwrap_or(f64::INFINITY));
        }
    }
    Ok(m)
}

/// A registry whose names all start with `lifeboat_`. Registering can only
/// fail on a name given twice or an invalid name: a bug here, not input.
struct Metrics {
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new_custom(Some("lifeboat".into()), None).expect("a valid prefix");
        Metrics { registry }
    }
}

impl Metrics {
    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        let g = Gauge::with_opts(Opts::new(name, help)).expect("a valid metric");
        g.set(value);
        self.registry.register(Box::new(g)).expect("each metric once");
    }

    fn gauges(&mut self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
        self.registry.register(Box::new(g.clone())).expect("each metric once");
        g
    }

    fn float_gauges(&mut self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        let g = GaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
        self.registry.register(Box::new(g.clone())).expect("each metric once");
        g
    }

    fn counters(&mut self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
        self.registry.register(Box::new(c.clone())).expect("each metric once");
        c
    }

    fn text(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("writing to memory cannot fail");
        String::from_utf8(out).expect("the text encoder writes UTF-8")
    }
}

/// Why a path cannot be the metrics file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsTargetError {
    /// A folder stands there.
    #[error("{} is a folder; give a file path, e.g. /var/lib/node_exporter/lifeboat.prom", path.display())]
    Folder { path: PathBuf },
    /// A device, FIFO or socket stands there.
    #[error(
        "{} is not a regular file (a device, FIFO or socket), and writing the metrics would replace it; give the path of a file, e.g. /var/lib/node_exporter/lifeboat.prom",
        path.display()
    )]
    NotAFile { path: PathBuf },
}

/// Why the metrics file was not (re)written.
#[derive(Debug, thiserror::Error)]
pub enum MetricsFileError {
    /// The path is not one to write the metrics to.
    #[error(transparent)]
    Target(#[from] MetricsTargetError),
    /// Writing or renaming the new file failed.
    #[error("{source}")]
    Write {
        #[source]
        source: std::io::Error,
    },
}

impl From<std::io::Error> for MetricsFileError {
    fn from(source: std::io::Error) -> MetricsFileError {
        MetricsFileError::Write { source }
    }
}

/// Whether `path` may be (re)written as the metrics file: absent, or a
/// regular file. The write renames a new file over it, which would replace
/// a device, FIFO or socket (as root, `/dev/full` itself) with a file.
pub fn check_target(path: &Path) -> Result<(), MetricsTargetError> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if meta.is_file() {
        Ok(())
    } else if meta.is_dir() {
        Err(MetricsTargetError::Folder { path: path.to_path_buf() })
    } else {
        Err(MetricsTargetError::NotAFile { path: path.to_path_buf() })
    }
}

/// Writes [`render`]'s text to `path` atomically (a temporary file in the
/// same folder, then a rename), so a collector never reads half a file.
pub fn write_file(path: &Path, text: &str) -> Result<(), MetricsFileError> {
    use std::io::Write as _;
    // Checked again at each write: the path may have changed since start-up.
    check_target(path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".lifeboat-metrics-").tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    // Collectors run as another user: the file is world-readable, unlike
    // everything else Lifeboat writes (it holds no data, only figures).
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::write_file;

    #[test]
    fn a_metrics_file_that_became_a_fifo_is_refused_and_left_as_it_is() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("lifeboat.prom");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = write_file(&fifo, "lifeboat_up 1\n").unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
        let file = dir.path().join("metrics.prom");
        write_file(&file, "lifeboat_up 1\n").unwrap();
        write_file(&file, "lifeboat_up 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "lifeboat_up 2\n");
    }
}
