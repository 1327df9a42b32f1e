//! Continuous protection (`[continuous]`): every `interval_secs`, each
//! SQLite database's committed changes become an increment, and the
//! increments not yet in each `[[destinations.s3]]` are copied there; once
//! an hour, chains older than `keep_days` are removed. Runs beside the cycles (it
//! takes no cycle lock: it only reads the live databases), one capture at
//! a time (its own lock, `continuous.lock`, which a scheduled archive's
//! chain proof takes too).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use lifeboat_core::CancellationToken;
use lifeboat_core::source::sqlite::continuous::{self, Captured};
use lifeboat_core::state::State;
use lifeboat_engine::config::Config;

/// How often old chains are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the capture loop when `[continuous]` is enabled, and the loop
/// copying increments to every `[[destinations.s3]]`.
pub fn spawn(cfg: &Config, stop: CancellationToken) {
    if !cfg.continuous.enabled {
        return;
    }
    let c = cfg.clone();
    let s = stop.clone();
    tokio::spawn(async move { run(c, s).await });
    if !cfg.destinations.s3.is_empty() {
        let cfg = cfg.clone();
        tokio::spawn(async move { copy(cfg, stop).await });
    }
}

/// Every `interval_secs`, copies the increments each store does not hold
/// yet (and deletes those retention removed). Apart from the capture, so
/// a store that is slow or down never delays one: it gets everything
/// since, in order, once it answers.
async fn copy(cfg: Config, stop: CancellationToken) {
    let stores: Vec<lifeboat_s3::Store> = cfg
        .destinations
        .s3
        .iter()
        .filter_map(|s3| match lifeboat_s3::Store::open(s3, &cfg.retry) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("continuous increments are not copied to destinations.s3 \"{}\": {e}", s3.name);
                None
            }
        })
        .collect();
    let (setup, around) = (cfg.continuous_setup(), cfg.surroundings());
    let mut ticks = tokio::time::interval(cfg.continuous.interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The last problem said per store: said again only when it changes.
    let mut said: HashMap<String, String> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        for store in &stores {
            let done = tokio::select! {
                _ = stop.cancelled() => return,
                done = lifeboat_s3::copy_increments(&setup, &around, store, &stop) => done,
            };
            match done {
                Ok(c) => {
                    if said.remove(store.name()).is_some() {
                        tracing::info!(store = store.name(), "continuous increments reach the store again");
                    }
                    if c.uploaded + c.deleted > 0 {
                        tracing::debug!(
                            store = store.name(),
                            uploaded = c.uploaded,
                            bytes = c.bytes,
                            deleted = c.deleted,
                            "continuous increments copied"
                        );
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if said.get(store.name()) != Some(&text) {
                        tracing::warn!(
                            store = store.name(),
                            "continuous increments not copied (tried again every interval): {text}"
                        );
                        said.insert(store.name().to_string(), text);
                    }
                }
            }
        }
    }
}

async fn run(cfg: Config, stop: CancellationToken) {
    tracing::info!(
        "continuous capture every {} s of {} database(s) into {}",
        cfg.continuous.interval_secs,
        cfg.backup.databases.len(),
        cfg.backup.output_dir.join(continuous::FOLDER).display()
    );
    let interval = cfg.continuous.interval();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<tokio::time::Instant> = None;
    // The last problem said per database: said again only when it changes.
    let mut said: HashMap<String, String> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let prune = last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY);
        let c = cfg.continuous_setup();
        let state_path = cfg.state_path();
        let done = tokio::task::spawn_blocking(move || {
            // One capture at a time: a chain proof captures too.
            let Ok(_lock) = continuous::proof::lock(&c, "continuous capture (lifeboat-scheduler)") else {
                return anyhow::Ok(Vec::new());
            };
            let state = State::open(&state_path)?;
            let results = continuous::capture_all(&c, &state, &Utc::now);
            if prune {
                for name in &c.databases {
                    match continuous::prune(&c, &state, name, Utc::now()) {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(database = %name, "removed {n} increment(s) older than continuous.keep_days")
                        }
                        Err(e) => tracing::warn!(database = %name, "continuous retention: {e}"),
                    }
                }
            }
            anyhow::Ok(results)
        })
        .await;
        if prune {
            last_prune = Some(tokio::time::Instant::now());
        }
        let results = match done {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!("continuous capture: {e}");
                continue;
            }
            Err(e) => {
                tracing::error!("continuous capture stopped unexpectedly: {e}");
                continue;
            }
        };
        for r in results {
            match r.result {
                Ok(Captured::Written { kind, generation, seq, pages, bytes }) => {
                    if said.remove(&r.name).is_some() {
                        tracing::info!(database = %r.name, "continuous capture works again");
                    }
                    tracing::debug!(database = %r.name, kind = kind.words(), generation, seq, pages, bytes, "increment written");
                }
                Ok(_) => {}
                Err(e) => {
                    let text = e.to_string();
                    if said.get(&r.name) != Some(&text) {
                        tracing::warn!(database = %r.name, "continuous capture failed: {text}");
                        said.insert(r.name.clone(), text);
                    }
                }
            }
        }
    }
}
