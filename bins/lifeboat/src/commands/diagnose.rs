//! `lifeboat diagnose`: what is wrong with the live setup, and what to do.

use anyhow::Result;
use chrono::Utc;
use lifeboat_core::diagnose::{self, Severity};
use lifeboat_core::{Config, exit};

use crate::JsonArg;
use crate::ui::Progress;

use super::exit_on_signal_removing_scratch;

pub(super) fn diagnose(cfg: &Config, a: &JsonArg) -> Result<i32> {
    let bar = Progress::new(!a.json);
    bar.spin("checking the databases on snapshots");
    // Diagnose cannot stop between steps, and its snapshot folders hold
    // copies of the live databases: on a signal, remove ours and exit.
    exit_on_signal_removing_scratch(diagnose::scratch_prefix(), "diagnose");
    let d = diagnose::run(cfg, Utc::now());
    bar.clear();
    if a.json {
        let v = crate::json::diagnose(&d);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for f in &d.findings {
            println!("[{:<5}] {}: {}", f.level.as_str(), f.subject, f.message);
            if let Some(action) = &f.action {
                println!("        -> {action}");
            }
        }
        let (w, e) = d.findings.iter().fold((0, 0), |(w, e), f| match f.level {
            Severity::Warn => (w + 1, e),
            Severity::Error => (w, e + 1),
            Severity::Ok => (w, e),
        });
        println!("{e} error(s), {w} warning(s)");
    }
    Ok(if d.has_errors() { exit::FAILURE } else { exit::SUCCESS })
}
