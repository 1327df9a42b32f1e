//! What every Lifeboat binary says about itself: its version, which names
//! the exact build (`0.1.0 (commit 1463de8, built 2026-12-04)`), and its
//! manual page. A crate of its own so that a new commit rebuilds only it and
//! the binaries, not the libraries.
//!
//! The pages are clap's (name, synopsis, options, commands) followed by the
//! sections clap cannot know: EXIT STATUS, FILES, ENVIRONMENT, EXAMPLES and
//! SEE ALSO. `lifeboat.toml(5)` is made from `config/default.toml` itself, so
//! the manual and the defaults cannot disagree.

mod config_page;

pub use config_page::config_page;

use roff::{Roff, bold, roman};

/// For clap's `#[command(version = lifeboat_about::VERSION)]`.
pub const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("VERGEN_GIT_SHA"), ", built ", env!("VERGEN_BUILD_DATE"), ")");

/// The sections of a page that clap's own text does not cover. Each entry
/// is (term, what it means).
#[derive(Debug, Default)]
pub struct Sections<'a> {
    pub exit_status: &'a [(&'a str, &'a str)],
    pub files: &'a [(&'a str, &'a str)],
    pub environment: &'a [(&'a str, &'a str)],
    /// (command, what it does).
    pub examples: &'a [(&'a str, &'a str)],
    /// Other pages, `name(section)`.
    pub see_also: &'a [&'a str],
}

/// The exit codes every Lifeboat binary shares.
pub const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success."),
    ("1", "Failure: nothing usable was made or restored; the message says why."),
    ("2", "Bad usage or configuration: the message names the option or the config key."),
    ("3", "Partial: some source was skipped, or an archive is still owed to a destination."),
    ("4", "Not started: another cycle or a restore holds the lock. Nothing is wrong; try again later."),
    ("128+N", "Stopped by signal N (130 for Ctrl-C, 143 for SIGTERM), leaving nothing half written."),
];

/// The files every Lifeboat binary reads or writes.
pub const FILES: &[(&str, &str)] = &[
    (
        "/etc/lifeboat/lifeboat.toml",
        "The configuration, read when neither --config nor LIFEBOAT_CONFIG names one; see lifeboat.toml(5).",
    ),
    (
        "OUTPUT_DIR/database_backup_YYYYMMDD_HHMMSS.zip",
        "An archive (.diff.zip a differential, .zip.age sealed with age, .NNN the parts of a split one); OUTPUT_DIR is backup.output_dir.",
    ),
    (
        "OUTPUT_DIR/.lifeboat/state.db",
        "The state database shared by every binary: runs, deliveries, events, heartbeat.",
    ),
    ("OUTPUT_DIR/.lifeboat/cycle.lock", "The lock that lets one cycle or restore run at a time."),
    ("/usr/share/doc/lifeboat/operations.md", "The operator's runbook: install, check, restore, alerts, upgrade."),
];

/// The environment every Lifeboat binary reads.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("LIFEBOAT_CONFIG", "The configuration file when --config is not given."),
    (
        "LIFEBOAT__SECTION__KEY",
        "Overrides one config key, e.g. LIFEBOAT__TELEGRAM__TOKEN_FILE or LIFEBOAT__BACKUP__OUTPUT_DIR (two underscores on each side of the section).",
    ),
    ("LIFEBOAT_ENCRYPTION_PASSWORD", "The zip-aes password, instead of encryption.password_file."),
    ("RUST_LOG", "The log level, e.g. info or lifeboat=debug."),
    (
        "LIFEBOAT_LOG_FORMAT",
        "json: one JSON object per log line on stderr, for log shippers; text (the default): the journal under systemd, plain lines elsewhere.",
    ),
];

/// The manual page of `cmd` in `section` ("1", "8"): clap's sections, then
/// `extra`'s.
pub fn page(cmd: clap::Command, section: &str, extra: &Sections<'_>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).section(section).render(&mut out)?;
    let mut roff = Roff::new();
    list(&mut roff, "EXIT STATUS", extra.exit_status);
    list(&mut roff, "FILES", extra.files);
    list(&mut roff, "ENVIRONMENT", extra.environment);
    if !extra.examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for (command, what) in extra.examples {
            roff.control("TP", [] as [&str; 0]).text([bold(*command)]).text([roman(*what)]);
        }
    }
    if !extra.see_also.is_empty() {
        roff.control("SH", ["SEE ALSO"]);
        let refs: Vec<_> = extra.see_also.iter().enumerate().flat_map(|(i, r)| see_also(i, r)).collect();
        roff.text(refs);
    }
    out.extend_from_slice(roff.to_roff().as_bytes());
    Ok(out)
}

/// An error and its causes, like anyhow's `{:#}`, but a cause whose text
/// the message already holds (errors written as "{context}: {source}") is
/// not said twice. Every binary words its last error so.
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    for cause in std::iter::successors(Some(err), |e| e.source()) {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// For a daemon's hidden `--manpage`: its section 8 page on stdout, with
/// the exit codes, files and environment every binary shares.
pub fn print_daemon_page(cmd: clap::Command, examples: &[(&str, &str)], see_also: &[&str]) -> std::process::ExitCode {
    use std::io::Write as _;
    let extra = Sections { exit_status: EXIT_STATUS, files: FILES, environment: ENVIRONMENT, examples, see_also };
    match page(cmd, "8", &extra).and_then(|p| std::io::stdout().write_all(&p)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the manual page: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn list(roff: &mut Roff, title: &str, entries: &[(&str, &str)]) {
    if entries.is_empty() {
        return;
    }
    roff.control("SH", [title]);
    for (term, what) in entries {
        roff.control("TP", [] as [&str; 0]).text([bold(*term)]).text([roman(*what)]);
    }
}

/// `lifeboat.toml(5)` as bold name and roman section, comma separated.
fn see_also(i: usize, reference: &str) -> Vec<roff::Inline> {
    let (name, section) = reference.split_once('(').unwrap_or((reference, ""));
    let mut out = Vec::new();
    if i > 0 {
        out.push(roman(", "));
    }
    out.push(bold(name));
    if !section.is_empty() {
        out.push(roman(format!("({section}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot create the lock file /x: {}", self.0)
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_said_is_not_repeated() {
        let e = Wrapped(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        let text = error_text(&e);
        assert_eq!(text.matches("permission denied").count(), 1, "{text}");
    }

    #[test]
    fn a_page_has_clap_s_sections_and_ours() {
        let cmd = clap::Command::new("lifeboat-x").about("Does x.").arg(clap::arg!(--config <PATH> "Config file."));
        let extra = Sections {
            exit_status: EXIT_STATUS,
            files: FILES,
            environment: ENVIRONMENT,
            examples: &[("lifeboat-x --config a.toml", "Runs x.")],
            see_also: &["lifeboat.toml(5)", "lifeboat(1)"],
        };
        let text = String::from_utf8(page(cmd, "8", &extra).unwrap()).unwrap();
        for section in ["NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS", "FILES", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"] {
            assert!(text.contains(&format!(".SH {}", roff_quote(section))), "{section}: {text}");
        }
        assert!(text.contains(".TH lifeboat-x 8"), "{text}");
        assert!(text.contains("LIFEBOAT_LOG_FORMAT") && text.contains("128+N"), "{text}");
    }

    fn roff_quote(s: &str) -> String {
        if s.contains(' ') { format!("\"{s}\"") } else { s.to_string() }
    }
}
