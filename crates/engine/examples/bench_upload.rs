//! Uploads one archive to a `[[destinations.s3]]` the way a cycle does, for
//! `bench/s3.sh`: `bench_upload CONFIG DESTINATION ARCHIVE_FILE`.

use std::path::PathBuf;
use std::time::Instant;

use lifeboat_core::catalog::StoredArchive;
use lifeboat_engine::config::Config;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, destination, file] = args.as_slice() else {
        return Err("usage: bench_upload CONFIG DESTINATION ARCHIVE_FILE".into());
    };
    let cfg = Config::load(Some(config.as_ref()))?;
    let path = PathBuf::from(file);
    let name = path.file_name().and_then(|f| f.to_str()).ok_or("no file name")?.to_string();
    let size = std::fs::metadata(&path)?.len();
    let archive = StoredArchive { name, created_at: chrono::Utc::now(), files: vec![path], size };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let started = Instant::now();
    let sent = rt.block_on(async {
        let id = lifeboat_core::destination::DestinationId::s3(destination);
        let store = lifeboat_s3::Store::named(&cfg.destinations.s3, &id, &cfg.retry)?;
        store.upload(&archive, &Default::default()).await
    })?;
    let secs = started.elapsed().as_secs_f64();
    println!("{sent} bytes in {secs:.2} s ({:.0} MB/s)", sent as f64 / secs / 1e6);
    Ok(())
}
