//! `lifeboat diagnose`: what is wrong with the live setup, and what to do.

use anyhow::Result;
use std::time::Duration;

use chrono::Utc;
use lifeboat_core::destination::{Answer, ProbeContext, ProbeError};
use lifeboat_core::exit;
use lifeboat_engine::Config;
use lifeboat_engine::diagnose::{self, Finding, Severity};

use crate::JsonArg;
use crate::ui::Progress;

use super::{exit_on_signal_removing_scratch, yield_to_signal_handler};

pub(super) fn diagnose(cfg: &Config, a: &JsonArg) -> Result<i32> {
    let bar = Progress::new(!a.json);
    bar.spin("checking the databases on snapshots");
    // Diagnose cannot stop between steps, and its snapshot folders hold
    // copies of the live databases: on a signal, remove ours and exit.
    exit_on_signal_removing_scratch(diagnose::scratch_prefix(), "diagnose");
    let mut d = diagnose::run(cfg, Utc::now());
    yield_to_signal_handler();
    check_destinations(cfg, &mut d.findings)?;
    d.findings.extend(check_ping_url(cfg)?);
    bar.clear();
    if a.json {
        crate::json::print(&crate::json::diagnose(&d))?;
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

/// How long diagnose waits for one outside service to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// `monitoring.ping_url`: its host resolves and takes a connection. Nothing
/// is requested (any request would count as a ping), and the URL is not
/// shown: its path is the monitor's secret.
fn check_ping_url(cfg: &Config) -> Result<Option<Finding>> {
    let Some(url) = &cfg.monitoring.ping_url else { return Ok(None) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let subject = "monitoring.ping_url";
    Ok(Some(match rt.block_on(lifeboat_messaging::connects(url, PROBE_TIMEOUT)) {
        Ok(said) => Finding::ok(subject, format!("the monitor's host: {said} (nothing was pinged)")),
        Err(e) => Finding::error(
            subject,
            e.to_string(),
            "check the URL's host and this server's outbound network (firewall, DNS, proxy); until it answers, the \
             monitor hears nothing and pages you for a missing ping",
        ),
    }))
}

/// Each configured destination, as its kind probes it (Telegram's bot
/// answers, a bucket answers and holds the newest archive, a relay takes
/// the login, a webhook's host answers, Discord takes the bot's token).
/// Nothing is posted, uploaded or mailed. An answer that stands in for the
/// settings' fine finding on its subject takes that finding's place (or
/// follows the settings' findings when there is none); the others follow,
/// in the cycle's order of kinds.
fn check_destinations(cfg: &Config, findings: &mut Vec<Finding>) -> Result<()> {
    let probes = lifeboat_cycle::probes(cfg);
    if probes.is_empty() {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let find_newest = || newest_to_store(cfg).map(|a| a.name);
    let ask = ProbeContext::new(PROBE_TIMEOUT, &find_newest);
    let finding = |subject: String, probed| match probed {
        Ok(Answer::Fine(message)) => Finding::ok(subject, message),
        Ok(Answer::Behind { message, action }) => Finding::warn(subject, message, action),
        Err(ProbeError { message, fix, .. }) => Finding::error(subject, message, fix),
    };
    let (standing_in, added): (Vec<_>, Vec<_>) = probes.iter().partition(|p| p.answers_for_settings());
    for p in standing_in {
        let answer = finding(p.subject(), rt.block_on(p.probe(&ask)));
        match findings.iter_mut().find(|f| f.subject == answer.subject && f.level == Severity::Ok) {
            Some(settings) => *settings = answer,
            None => findings.push(answer),
        }
    }
    findings.extend(added.into_iter().map(|p| finding(p.subject(), rt.block_on(p.probe(&ask)))));
    Ok(())
}

/// The newest archive a cycle sends to the destinations. A live restore's
/// safety snapshot (`pre-restore`) is kept on this server only: no cycle
/// queues it, so it is never reported as owed to a bucket.
fn newest_to_store(cfg: &Config) -> Option<lifeboat_core::catalog::StoredArchive> {
    let state = super::existing_state(cfg).ok().flatten();
    lifeboat_core::catalog::list(&cfg.backup.output_dir).ok()?.into_iter().find(|a| {
        lifeboat_core::verify::known_manifest(a, &cfg.encryption.keys, state.as_ref())
            .map_or(true, |m| m.trigger != lifeboat_core::Trigger::PreRestore)
    })
}
