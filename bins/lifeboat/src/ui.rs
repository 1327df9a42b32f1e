//! Terminal output: logging, the progress bar, and formatting helpers.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lifeboat_engine::backup::ProgressEvent;

/// Logs go to stderr; `RUST_LOG` overrides the quiet default. The backup's
/// own log lines are off by default because the CLI reports its outcome
/// (skipped databases, errors) itself; they would say everything twice.
pub fn init_logging() {
    lifeboat_core::logging::init("warn,lifeboat_engine::backup=off,lifeboat::cycle=off");
}

/// A progress bar on stderr, drawn only when both stdout and stderr are a
/// terminal (piped or `--json` output stays clean).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar, hidden unless `enabled` and on a terminal.
    pub fn new(enabled: bool) -> Self {
        let visible = enabled && std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
        let bar = if visible {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:<28} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {elapsed}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Progress { bar }
    }

    /// Feeds one event of a backup run.
    pub fn on_backup(&self, ev: ProgressEvent) {
        match ev {
            ProgressEvent::Started { databases, total_bytes } => {
                self.bar.set_length(total_bytes);
                self.bar.set_message(format!("snapshotting {databases} databases"));
                self.bar.enable_steady_tick(std::time::Duration::from_millis(200));
            }
            ProgressEvent::Snapshotted { name, skipped } => match skipped {
                Some(reason) => self.bar.println(format!("skipped {name}: {reason}")),
                None => self.bar.set_message(format!("snapshot {name}")),
            },
            ProgressEvent::Compressed { done, total } => {
                self.bar.set_length(total);
                self.bar.set_position(done);
                self.bar.set_message("compressing");
            }
            ProgressEvent::Verifying => self.bar.set_message("verifying the archive"),
            ProgressEvent::Finished => self.bar.finish_and_clear(),
        }
    }

    /// A message while something without byte counts runs.
    pub fn spin(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
        self.bar.enable_steady_tick(std::time::Duration::from_millis(200));
    }

    /// Removes the bar.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// "2026-11-22 10:00:00 UTC".
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// RFC 3339 for JSON.
pub fn json_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// "5 min ago", "3 h ago".
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    if s < 0 {
        return "in the future".into();
    }
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}
