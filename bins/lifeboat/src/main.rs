//! `lifeboat`: the operator's command line. A thin layer over
//! `lifeboat-core`: it parses arguments, loads the configuration, calls one
//! core operation, prints the result (as text or `--json`) and maps it to
//! the exit codes the design fixes: 0 success, 1 failure, 2 bad usage or
//! configuration, 3 partial.

mod commands;
mod json;
mod manual;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use lifeboat_core::destination::DestinationId;

/// Consistent, verified backups of a Telegram bot's SQLite databases.
#[derive(Debug, Parser)]
#[command(name = "lifeboat", version = lifeboat_about::VERSION, about, long_about = None)]
#[command(after_help = "Exit codes: 0 success, 1 failure, 2 bad usage or configuration, 3 partial \
                        (some database skipped), 4 another backup or restore is running, 130 Ctrl-C.\n\
                        Configuration: built-in defaults <- --config FILE (or LIFEBOAT_CONFIG, or \
                        /etc/lifeboat/lifeboat.toml) <- LIFEBOAT__SECTION__KEY environment variables.")]
pub struct Cli {
    /// The configuration file (TOML). Without it, LIFEBOAT_CONFIG, then /etc/lifeboat/lifeboat.toml, then the built-in defaults.
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a verified archive now and print its path.
    Backup(BackupArgs),
    /// List the archives: time, trigger, size, databases, verified, delivered.
    List(ListArgs),
    /// Download an archive (and a differential's base) from an S3 destination into backup.output_dir.
    Fetch(FetchArgs),
    /// Check an archive: CRCs, manifest checksums, integrity of every database inside.
    Verify(VerifyArgs),
    /// Restore databases from an archive: shows the plan, then restores with --yes.
    Restore(RestoreArgs),
    /// Row-level differences between two copies: archives, `latest`, `live` or SQLite files (exit 0 either way).
    Diff(DiffArgs),
    /// Write every table of an archive as DIR/DATABASE/TABLE.jsonl (or .csv).
    Export(ExportArgs),
    /// Last backup, next run, scheduler state, storage and counts.
    Status(JsonArg),
    /// Check the live databases and the setup: what is wrong and what to do.
    Diagnose(JsonArg),
    /// Create the five demo databases in backup.source_dir (if missing) and back them up.
    Demo(DemoArgs),
    /// Pin an archive: retention keeps it until `unpin`.
    Pin(PinArgs),
    /// Unpin an archive (also what "Acknowledge" on a shrink alert does).
    Unpin(PinArgs),
    /// Read every row still readable in a damaged database into a new file, compared with its newest good archive.
    Salvage(SalvageArgs),
    /// Apply retention now, as a cycle would; with --dry-run, what it would remove and why each kept archive stays.
    Prune(PruneArgs),
    /// Print Prometheus metrics (the same text as monitoring.metrics_file and /metrics).
    Metrics(JsonArg),
    /// Print the shell completion script: `lifeboat completions bash > /etc/bash_completion.d/lifeboat`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages: lifeboat(1) and one per command into DIR/man1, lifeboat.toml(5) into DIR/man5.
    Manpages {
        /// The manual's root, e.g. /usr/local/share/man.
        dir: PathBuf,
    },
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// List the archives in this `[[destinations.s3]]` bucket instead.
    #[arg(long, value_name = "DESTINATION", value_parser = s3_destination)]
    pub remote: Option<DestinationId>,
}

/// `fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The `[[destinations.s3]]` name.
    #[arg(value_parser = s3_destination)]
    pub destination: DestinationId,
    /// `latest` or an archive's name.
    #[arg(default_value = "latest")]
    pub archive: String,
    /// An age private key (age-keygen's key.txt or an SSH key): with it, a .zip.age differential's manifest is read to bring its base too.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Print what was downloaded as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pin` / `unpin`.
#[derive(Debug, Args)]
pub struct PinArgs {
    /// An archive: `latest`, a file name in backup.output_dir, or a path.
    pub archive: String,
    /// Why (shown by `list`).
    #[arg(long, default_value = "pinned by hand")]
    pub reason: String,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `salvage`.
#[derive(Debug, Args)]
pub struct SalvageArgs {
    /// A database of backup.databases (read from its live file), or the path of a damaged copy (a quarantined one).
    pub database: String,
    /// Write the new database as DIR/DATABASE (default: backup.output_dir/salvaged/YYYYMMDD_HHMMSS/).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// An age private key, to compare with archives sealed with age.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove nothing: say what would go and why each kept archive stays.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Also send the archive to the admins on Telegram (as the scheduler does).
    #[arg(long)]
    pub deliver: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Copy and write nothing: say what a backup would take and skip, and
    /// which archive it would write (exit 3 if it would skip a source, 1 if it
    /// would take none).
    #[arg(long, conflicts_with = "deliver")]
    pub dry_run: bool,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An archive: `latest`, a file name in backup.output_dir, or a path (the ZIP or its .zip.001).
    #[arg(default_value = "latest")]
    pub archive: String,
    /// Also read every chain of continuous increments in full: hashes, a rebuild and integrity_check of each.
    #[arg(long)]
    pub continuous: bool,
    /// An age private key (age-keygen's key.txt or an SSH key) to open a .zip.age archive.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// An archive: `latest`, a file name in backup.output_dir, or a path (the ZIP or its .zip.001).
    pub archive: String,
    /// Restore only this database (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Write the databases as plain files into DIR instead of replacing the live ones.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Replace live databases even when their tables differ from the archive's.
    #[arg(long)]
    pub force_schema: bool,
    /// Point in time: rebuild the SQLite databases as of TIME (RFC 3339, or `YYYY-MM-DD HH:MM:SS` in UTC)
    /// from the archive (`latest`: the newest taken at or before TIME) and the continuous increments.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// An age private key (age-keygen's key.txt or an SSH key) to open a .zip.age archive.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Fetch what the restore needs (the archive, a differential's base) from this `[[destinations.s3]]` into backup.output_dir first.
    #[arg(long, value_name = "DESTINATION", value_parser = s3_destination)]
    pub from: Option<DestinationId>,
    /// Show the plan and stop (with --from, the archive is still fetched into backup.output_dir).
    #[arg(long)]
    pub dry_run: bool,
    /// Carry out the plan (without it, the plan is shown and nothing is written).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `diff`.
#[derive(Debug, Args)]
#[command(after_help = "A and B: an archive's name, `latest`, a path to an archive (or its .001 part), \
                        `live` (a snapshot of each configured database, taken as a backup would), `@TIME` \
                        (each database rebuilt from its continuous increments as of TIME, UTC), or a path \
                        to an SQLite file. Rows are matched by PRIMARY KEY (rowid where there is none). \
                        Exit 0 whether or not anything differs; 1 if a side cannot be read; 2 bad usage.\n\
                        Put back what a bad deploy deleted: \
                        `lifeboat diff ARCHIVE live --only DB --sql | sqlite3 LIVE.db`")]
pub struct DiffArgs {
    /// The older side.
    pub a: String,
    /// The newer side.
    pub b: String,
    /// Compare only this database (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Compare only this table.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Print the rows themselves (as JSON objects): `+` added, `-` removed, `~` changed (A, then B).
    #[arg(long, conflicts_with_all = ["json", "sql"])]
    pub rows: bool,
    /// Print the counts as JSON.
    #[arg(long, conflicts_with = "sql")]
    pub json: bool,
    /// Print INSERT statements that put back into B the rows B lacks (removed rows), for `| sqlite3 B.db`; needs one database.
    #[arg(long)]
    pub sql: bool,
    /// An age private key (age-keygen's key.txt or an SSH key) to open .zip.age archives.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// `export --format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per row.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// `export`.
#[derive(Debug, Args)]
#[command(after_help = "Integers are exact, BLOBs base64, NULL is null (an empty CSV field). Only SQLite \
                        databases are exported. Existing files are never overwritten (exit 2); new folders \
                        are 0700 and files 0600.")]
pub struct ExportArgs {
    /// An archive: `latest`, a file name in backup.output_dir, or a path (the ZIP or its .zip.001).
    pub archive: String,
    /// Export only this database (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// The files' format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// The folder to write into (created 0700 when missing).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// An age private key (age-keygen's key.txt or an SSH key) to open a .zip.age archive.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of each generated database in MB (the benchmark uses ~60).
    #[arg(long, hide = true, default_value_t = lifeboat_demo::DEFAULT_SCALE_MB)]
    pub scale_mb: f64,
    /// Seed of the generated rows.
    #[arg(long, hide = true, default_value_t = lifeboat_demo::DEFAULT_SEED)]
    pub seed: u64,
    /// Only create the databases; do not run a backup.
    #[arg(long, hide = true)]
    pub no_backup: bool,
}

/// A `[[destinations.s3]]` named on the command line; whether one is
/// configured under that name is checked where it is looked up.
fn s3_destination(name: &str) -> Result<DestinationId, std::convert::Infallible> {
    Ok(DestinationId::s3(name))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ui::init_logging();
    // A bug must still end as one `error:` line and exit 1, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        // The reader went away (`lifeboat list | head -1`): not a bug. Stop
        // quietly, as a tool killed by SIGPIPE would; unwinding still
        // removes scratch folders and releases the lock.
        if what.starts_with("failed printing to stdout") && what.contains("Broken pipe") {
            return;
        }
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error (a bug in Lifeboat, please report it): {what}{at}");
    }));
    let code = match std::panic::catch_unwind(|| match &cli.command {
        // Need no configuration: they describe the command line itself.
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "lifeboat", &mut std::io::stdout());
            Ok(lifeboat_core::exit::SUCCESS)
        }
        Command::Manpages { dir } => manual::write(dir),
        _ => commands::run(cli),
    }) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            eprintln!("error: {}", lifeboat_about::error_text(err.as_ref()));
            commands::exit_code_of(&err)
        }
        Err(_) => lifeboat_core::exit::FAILURE,
    };
    ExitCode::from(code as u8)
}
