//! `lifeboat manpages DIR`: lifeboat(1) and one page per command in
//! `DIR/man1`, lifeboat.toml(5) in `DIR/man5`. The daemons print their own
//! section 8 pages (`lifeboat-scheduler --manpage`).

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use lifeboat_about::{ENVIRONMENT, EXIT_STATUS, FILES, Sections};

use crate::Cli;

const EXAMPLES: &[(&str, &str)] = &[
    ("lifeboat backup", "A verified archive now; prints its path."),
    ("lifeboat list", "The archives: time, trigger, size, databases, verified, delivered."),
    ("lifeboat verify latest", "CRCs, checksums and integrity_check of every database in the newest archive."),
    ("lifeboat restore latest --dry-run", "The plan of a restore, writing nothing."),
    (
        "lifeboat restore latest --only premium_system.db --yes",
        "Restores one database live, after a safety snapshot of the current one.",
    ),
    (
        "lifeboat restore latest --to /tmp/restored",
        "Extracts and checks the databases into a folder, touching nothing live.",
    ),
    (
        "lifeboat diff latest live --only premium_system.db",
        "Rows added, removed and changed in one database since the newest archive.",
    ),
    (
        "lifeboat diff ARCHIVE live --only DB --sql | sqlite3 LIVE_DB",
        "Puts back into the live database the rows the archive has and it lacks, keeping newer ones.",
    ),
    ("lifeboat export latest --to /tmp/export", "Every table of the newest archive as JSON lines."),
    ("lifeboat prune --dry-run", "What retention would remove now, and why each kept archive stays."),
    ("lifeboat fetch offsite latest", "Downloads the newest archive from the S3 destination named offsite."),
    ("lifeboat diagnose", "Checks the live setup and says what is wrong and what to do."),
];

const SEE_ALSO: &[&str] = &["lifeboat.toml(5)", "lifeboat-scheduler(8)", "lifeboat-dashboard(8)"];

/// The optional tables, from the registries of kinds of source and of
/// destination.
fn sources_and_destinations() -> String {
    let sources: Vec<String> =
        lifeboat_core::source::KINDS.iter().filter_map(|k| k.table()).map(|t| format!("[[{t}]]")).collect();
    let destinations = lifeboat_core::destination::DestinationKind::tables();
    format!(
        "Optional tables, none by default: {} (more to back up), {} (more places for the archives and \
         alerts). Their keys are listed in /usr/share/doc/lifeboat/README.md, with an example in the package's \
         /etc/lifeboat/lifeboat.toml.",
        words(&sources),
        words(&destinations)
    )
}

/// `a`, `a and b`, `a, b and c`.
fn words(items: &[String]) -> String {
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Writes the pages, printing each path.
pub fn write(dir: &Path) -> anyhow::Result<i32> {
    // The folder itself may be made, never a path of missing parents: a
    // typo would otherwise leave a tree of new folders behind.
    make(dir).with_context(|| format!("cannot create {} (its parent folder must exist)", dir.display()))?;
    let (man1, man5) = (dir.join("man1"), dir.join("man5"));
    for d in [&man1, &man5] {
        make(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut cli = Cli::command();
    // Built, the command lists `help` too, so every page it names exists.
    cli.build();
    let main = Sections {
        exit_status: EXIT_STATUS,
        files: FILES,
        environment: ENVIRONMENT,
        examples: EXAMPLES,
        see_also: SEE_ALSO,
    };
    save(&man1.join("lifeboat.1"), &lifeboat_about::page(cli.clone(), "1", &main)?)?;
    let sub =
        Sections { exit_status: EXIT_STATUS, see_also: &["lifeboat(1)", "lifeboat.toml(5)"], ..Sections::default() };
    for c in cli.get_subcommands() {
        let name = format!("lifeboat-{}", c.get_name());
        let cmd = c.clone().display_name(&name).bin_name(format!("lifeboat {}", c.get_name()));
        save(&man1.join(format!("{name}.1")), &lifeboat_about::page(cmd, "1", &sub)?)?;
    }
    let tables = sources_and_destinations();
    let more = [("SOURCES AND DESTINATIONS", tables.as_str())];
    let config = lifeboat_about::config_page(lifeboat_engine::config::DEFAULT_TOML, &more);
    save(&man5.join("lifeboat.toml.5"), &config)?;
    Ok(lifeboat_core::exit::SUCCESS)
}

fn make(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

fn save(path: &Path, page: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_are_listed_from_the_registries_in_words() {
        let text = sources_and_destinations();
        assert!(
            text.contains("[[sources.postgres]], [[sources.redis]] and [[sources.files]] (more to back up)"),
            "{text}"
        );
        assert!(text.contains("[destinations.email] and [[destinations.webhook]] (more places"), "{text}");
        assert_eq!(words(&["a".into()]), "a");
        assert_eq!(words(&[]), "");
    }
}
