//! `lifeboat verify`: every check on one archive, nothing written outside scratch.

use anyhow::{Context, Result};
use lifeboat_core::catalog;
use lifeboat_core::exit;
use lifeboat_core::source::sqlite::continuous::{self, ChainCheck};
use lifeboat_core::units::human_size;
use lifeboat_engine::Config;

use crate::VerifyArgs;
use crate::ui::Progress;

use super::{exit_on_signal_removing_scratch, yield_to_signal_handler};

pub(super) fn verify(cfg: &Config, a: &VerifyArgs) -> Result<i32> {
    let archive = catalog::resolve(&cfg.backup.output_dir, &a.archive)?;
    // Verify cannot stop between steps, and its scratch folder holds whole
    // extracted databases: on a signal, remove it and exit. The handler is
    // installed before the folder exists, so no signal can outrun it.
    let prefix = format!("lifeboat-verify-{}-", std::process::id());
    exit_on_signal_removing_scratch(prefix.clone(), "verify");
    let scratch = tempfile::Builder::new().prefix(&prefix).tempdir().context("creating a scratch folder")?;
    let bar = Progress::new(!a.json);
    bar.spin(&format!("verifying {}", archive.name));
    let report = lifeboat_core::verify::verify(
        &archive,
        &cfg.encryption.keys,
        scratch.path(),
        lifeboat_core::verify::VerifyOptions { integrity_check: true },
    )
    .with_context(|| format!("cannot verify {}", archive.name));
    yield_to_signal_handler();
    let report = report?;
    bar.clear();
    let ok = report.is_ok();
    let chains = if a.continuous { Some(check_chains(cfg, scratch.path())?) } else { None };
    let chains_ok = chains.iter().flatten().all(|c| c.problems.is_empty());
    if a.json {
        crate::json::print(&crate::json::verify(&report, &archive, chains.as_deref()))?;
    } else {
        println!("{}", report.archive);
        for d in &report.databases {
            println!(
                "  {:<5} {:<28} {:>9}  checksum {}  integrity {}",
                if d.ok { "ok" } else { "FAIL" },
                d.name,
                human_size(d.size),
                if d.checksum_ok { "ok" } else { "MISMATCH" },
                d.integrity
            );
        }
        for p in &report.problems {
            println!("  problem: {p}");
        }
        if ok {
            println!("archive ok: {} databases verified", report.databases.len());
        } else {
            eprintln!("error: {} did not verify; use another archive (`lifeboat list`)", report.archive);
        }
        for c in chains.iter().flatten() {
            print_chains(c);
        }
    }
    Ok(if ok && chains_ok { exit::SUCCESS } else { exit::FAILURE })
}

/// `--continuous`: every database's increment chains read in full.
fn check_chains(cfg: &Config, scratch: &std::path::Path) -> Result<Vec<ChainCheck>> {
    let state = super::existing_state(cfg)?;
    let setup = cfg.continuous_setup();
    setup
        .databases
        .iter()
        .map(|name| {
            continuous::check_chains(&setup, state.as_ref(), name, scratch)
                .with_context(|| format!("cannot check the continuous increments of {name}"))
        })
        .collect()
}

fn print_chains(c: &ChainCheck) {
    let name = &c.database;
    let newest = c.newest.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string());
    match (c.problems.is_empty(), c.increments) {
        (true, 0) => println!("continuous {name}: no increments"),
        (true, n) => println!(
            "continuous {name}: ok, {} chain(s), {n} increments, newest moment {}",
            c.chains,
            newest.unwrap_or_default()
        ),
        (false, _) => {
            println!("continuous {name}: FAIL");
            for p in &c.problems {
                println!("  problem: {p}");
            }
        }
    }
}
