//! `lifeboat fetch` and `lifeboat list --remote`: the off-site copies in an
//! S3 bucket, brought back so a fresh server can restore.

use anyhow::{Context, Result};
use lifeboat_core::exit;
use lifeboat_core::units::human_size;
use lifeboat_engine::Config;

use crate::{FetchArgs, ListArgs};

/// The config table of S3 destinations, under which their keys are read.
pub(super) const STORE_KEY: &str = "destinations.s3";

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

/// Downloads an archive (and a differential's base) into `output_dir`.
pub(super) fn fetch(cfg: &Config, a: &FetchArgs) -> Result<i32> {
    cfg.require_secret(STORE_KEY, Some(a.destination.word()))?;
    let fetched = runtime()?.block_on(lifeboat_s3::fetch(
        &cfg.destinations.s3,
        &cfg.surroundings(),
        &a.destination,
        &a.archive,
    ))?;
    if let Some(warning) = &fetched.warning {
        eprintln!("warning: {warning}");
    }
    for name in &fetched.present {
        eprintln!("{name} is already in {}; left as it is", cfg.backup.output_dir.display());
    }
    if a.json {
        crate::json::print(&crate::json::fetch(&fetched))?;
    } else {
        for path in &fetched.downloaded {
            println!("{}", path.display());
        }
    }
    // By name: `latest` here may be an archive already in the folder.
    let identity = a.identity.as_ref().map(|f| format!(" --identity {}", f.display())).unwrap_or_default();
    eprintln!("restore with: lifeboat restore {}{identity} --yes", fetched.archive);
    Ok(exit::SUCCESS)
}

/// The archives in a bucket, newest first.
pub(super) fn list_remote(cfg: &Config, a: &ListArgs) -> Result<i32> {
    let Some(id) = &a.remote else { return Ok(exit::SUCCESS) };
    let name = id.word();
    cfg.require_secret(STORE_KEY, Some(name))?;
    let listing = runtime()?.block_on(async {
        let store = lifeboat_s3::Store::named(&cfg.destinations.s3, id, &cfg.retry)?;
        store.listing().await
    })?;
    if let Some(warning) = listing.warning() {
        eprintln!("warning: {warning}");
    }
    let remote = listing.archives;
    if a.json {
        crate::json::print(&crate::json::remote(&remote))?;
        return Ok(exit::SUCCESS);
    }
    if remote.is_empty() {
        println!("no archives in {name}");
        return Ok(exit::SUCCESS);
    }
    println!("{:<24} {:>10}  ARCHIVE", "STORED (UTC)", "SIZE");
    for r in &remote {
        println!("{:<24} {:>10}  {}", r.modified.format("%Y-%m-%d %H:%M:%S"), human_size(r.size), r.name);
    }
    Ok(exit::SUCCESS)
}
