//! `lifeboat list`: archives with their trigger, status, databases and deliveries.

use anyhow::Result;
use lifeboat_core::catalog;
use lifeboat_core::exit;
use lifeboat_core::units::human_size;
use lifeboat_engine::Config;

use crate::ListArgs;
use crate::json::ListRow;

use super::existing_state;

pub(super) fn list(cfg: &Config, a: &ListArgs) -> Result<i32> {
    let archives = catalog::list(&cfg.backup.output_dir)?;
    let state = existing_state(cfg)?;
    let pins = match &state {
        Some(s) => s.pins()?,
        None => Vec::new(),
    };
    let unopenable: Vec<String> = match &state {
        Some(s) => s.verifications()?.into_iter().filter(|v| v.cannot_open_here()).map(|v| v.archive).collect(),
        None => Vec::new(),
    };
    let kept = lifeboat_engine::retention::explain(cfg, state.as_ref(), chrono::Utc::now())?;
    let mut rows = Vec::with_capacity(archives.len());
    for archive in archives {
        let run = match &state {
            Some(s) => s.run_for_archive(&archive.name)?,
            None => None,
        };
        let delivered = match &state {
            Some(s) => s.delivered_chats(&archive.name)?.len(),
            None => 0,
        };
        let copies = match &state {
            Some(s) => s.copies_of(&archive.name)?,
            None => Vec::new(),
        };
        // The manifest names the databases; the run knows whether it verified.
        let manifest = lifeboat_core::verify::known_manifest(&archive, &cfg.encryption.keys, state.as_ref()).ok();
        let databases =
            manifest.as_ref().map(|m| m.databases.iter().map(|d| d.name.clone()).collect()).unwrap_or_default();
        let trigger = run
            .as_ref()
            .map(|r| r.trigger.as_str().to_string())
            .or_else(|| manifest.as_ref().map(|m| m.trigger.as_str().to_string()))
            .unwrap_or_else(|| "?".into());
        let status = match (&run, &manifest) {
            (Some(r), _) => r.status.as_str().to_string(),
            (None, Some(m)) if m.is_partial() => "partial".into(),
            (None, Some(_)) => "ok".into(),
            (None, None) if archive.sealing() == lifeboat_core::seal::Sealing::Age => "sealed".into(),
            (None, None) => "unreadable".into(),
        };
        let sealed = lifeboat_core::verify::seal_mode(&archive);
        let pinned = pins.iter().find(|p| p.archive == archive.name).map(|p| p.reason.clone());
        let kept_by = kept.iter().find(|(n, _)| *n == archive.name).map(|(_, k)| k.clone()).unwrap_or_default();
        let cannot_open_here = unopenable.contains(&archive.name);
        rows.push(ListRow {
            archive,
            trigger,
            status,
            databases,
            verified: run.map(|r| r.end.verified),
            delivered,
            copies,
            pinned,
            kept_by,
            sealed,
            base: manifest.as_ref().and_then(|m| m.base.as_ref()).map(|b| b.archive.clone()),
            cannot_open_here,
        });
    }
    if a.json {
        crate::json::print(&crate::json::list(&rows))?;
        return Ok(exit::SUCCESS);
    }
    if rows.is_empty() {
        println!("no archives in {} yet; run `lifeboat backup`", cfg.backup.output_dir.display());
        return Ok(exit::SUCCESS);
    }
    println!(
        "{:<23}  {:<11}  {:>9}  {:>3}  {:<8}  {:>9}  ARCHIVE",
        "TIME (UTC)", "TRIGGER", "SIZE", "DBS", "VERIFIED", "DELIVERED"
    );
    for r in &rows {
        let parts = if r.archive.is_split() { format!(" ({} parts)", r.archive.files.len()) } else { String::new() };
        let status = if r.status == "ok" { String::new() } else { format!(" [{}]", r.status) };
        let status = if r.cannot_open_here { format!("{status} [cannot open here]") } else { status };
        let pinned = r.pinned.as_ref().map(|why| format!(" 📌 pinned: {why}")).unwrap_or_default();
        let kind = r.base.as_ref().map(|b| format!(" (differential on {b})")).unwrap_or_default();
        let sealed = match r.sealed {
            lifeboat_core::seal::Mode::None => String::new(),
            mode => format!(" 🔒 {}", mode.as_str()),
        };
        let copies: String = r.copies.iter().map(|c| format!(" {}: {}", c.destination, c.status.as_str())).collect();
        println!(
            "{:<23}  {:<11}  {:>9}  {:>3}  {:<8}  {:>9}  {}{kind}{parts}{sealed}{status}{pinned}{copies}",
            r.archive.created_at.format("%Y-%m-%d %H:%M:%S"),
            r.trigger,
            human_size(r.archive.size),
            r.databases.len(),
            match r.verified {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            },
            if cfg.delivery_enabled() || r.delivered > 0 { r.delivered.to_string() } else { "-".into() },
            r.archive.name,
        );
    }
    // The moments a point-in-time restore can reach, per database.
    let continuous = cfg.continuous_setup();
    let spans: Vec<_> = continuous
        .databases
        .iter()
        .filter_map(|name| lifeboat_core::source::sqlite::continuous::span(&continuous, name).ok().flatten())
        .collect();
    if !spans.is_empty() {
        println!("\nPoint in time (restore latest --at TIME, with an archive taken at or before TIME):");
        for sp in &spans {
            println!(
                "  {:<24} {} to {} UTC, {} increments, {}",
                sp.database,
                sp.from.format("%Y-%m-%d %H:%M:%S"),
                sp.to.format("%Y-%m-%d %H:%M:%S"),
                sp.increments,
                human_size(sp.bytes)
            );
        }
    }
    // Cycles that found nothing changed wrote no archive: say so below.
    if let Some(st) = &state {
        let recent = st.runs(500)?;
        let unchanged: Vec<_> =
            recent.iter().take_while(|r| r.status == lifeboat_core::state::RunStatus::Unchanged).collect();
        if let Some(last) = unchanged.first() {
            println!(
                "\n{} unchanged cycle(s) since {}, the last at {} UTC: nothing changed, nothing written or sent",
                unchanged.len(),
                last.end.archive.as_deref().unwrap_or("the newest archive"),
                last.started_at.format("%Y-%m-%d %H:%M:%S")
            );
        }
    }
    Ok(exit::SUCCESS)
}
