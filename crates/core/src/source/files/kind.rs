//! What the rest of Lifeboat asks about files sources as a kind: their
//! config section and its checks, entry names, where a file is restored
//! and what `diagnose` finds.

use std::path::{Path, PathBuf};

use super::{FilesConfig, KEY, check, entry_name, expand, is_glob, normalized};
use crate::config::error::ConfigError;
use crate::finding::Finding;
use crate::manifest::{DatabaseEntry, Kind, Manifest};
use crate::snapshot::SkipReason;
use crate::source::{Checked, LiveTarget, Section, Setup, Source, SourceKind, SourcesConfig};

/// The files kind: `[[sources.files]]`.
pub(in crate::source) struct Files;

pub(in crate::source) static KIND: Files = Files;

impl SourceKind for Files {
    fn kind(&self) -> Kind {
        Kind::File
    }

    fn table(&self) -> Option<&'static str> {
        Some(KEY)
    }

    fn sections<'a>(&self, sources: &'a SourcesConfig) -> Vec<Section<'a>> {
        let section =
            |f: &'a FilesConfig| Section { key: KEY, name: &f.name, entry: format!("{}/", f.name), timeout_secs: None };
        sources.files.iter().map(section).collect()
    }

    /// Paths absolute and never Lifeboat's own secrets or archives.
    fn validate(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { key: KEY, message };
        let secrets = &setup.excluded;
        for f in &setup.sources.files {
            if f.paths.is_empty() {
                return Err(invalid(format!(
                    "\"{}\": paths is empty; list files or globs, e.g. [\"/srv/bot/config.toml\"]",
                    f.name
                )));
            }
            for p in &f.paths {
                if !Path::new(p).is_absolute() || normalized(Path::new(p)).is_none() {
                    return Err(invalid(format!(
                        "\"{}\": path {p:?} must be absolute, without '..' (the scheduler's working folder is not yours)",
                        f.name
                    )));
                }
                if is_glob(p) {
                    glob::Pattern::new(p)
                        .map_err(|e| invalid(format!("\"{}\": {p:?} is not a valid glob: {e}", f.name)))?;
                } else {
                    let real = Path::new(p).canonicalize().unwrap_or_else(|_| PathBuf::from(p));
                    if secrets.iter().any(|x| real == *x || real.starts_with(x) || x.starts_with(&real)) {
                        return Err(invalid(format!(
                            "\"{}\": {p:?} is or holds Lifeboat's own secrets or archives; never archive those",
                            f.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every file its paths name now, one source each.
    fn configured(&self, setup: &Setup<'_>, wanted: &dyn Fn(&str) -> bool) -> Vec<Box<dyn Source>> {
        let mut out: Vec<Box<dyn Source>> = Vec::new();
        for f in setup.sources.files.iter().filter(|f| wanted(&f.name)) {
            let expanded = expand(f, &setup.excluded);
            for w in &expanded.warnings {
                tracing::warn!(source = %f.name, "{w}");
            }
            out.extend(expanded.files.into_iter().map(|file| Box::new(file) as Box<dyn Source>));
        }
        out
    }

    fn check_copy(&self, path: &Path) -> Result<Checked, SkipReason> {
        check(path)
    }

    /// `SOURCE/` then the file's path, each part a plain name (no `..`, no
    /// absolute path), so extracting it can only ever write below a folder.
    fn entry_problem(&self, entry: &DatabaseEntry) -> Option<&'static str> {
        let name = entry.name.as_str();
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() < 2 || !parts.iter().all(|p| crate::manifest::is_plain_name(p)) || name.contains('\\') {
            Some("is not SOURCE/PATH made of plain names (no '..', no absolute path)")
        } else if entry.source.as_deref().is_some_and(|s| s != parts[0]) {
            Some("is not stored under its source's folder")
        } else {
            None
        }
    }

    fn is_database(&self) -> bool {
        false
    }

    fn words(&self) -> &'static str {
        "file"
    }

    /// A file holds no tables.
    fn info_contents(&self, _entry: &DatabaseEntry, _out: &mut String) {}

    /// A file goes back to its path only when a configured files source of
    /// the same name still covers that path; an archive cannot name other
    /// places.
    fn live_target(&self, setup: &Setup<'_>, entry: &DatabaseEntry) -> Option<LiveTarget> {
        let origin = normalized(Path::new(entry.origin.as_deref()?))?;
        let source = setup.sources.files.iter().find(|f| f.name == entry.source_name())?;
        let expected = entry_name(&source.name, &origin)?;
        let covered = source.paths.iter().any(|p| {
            let p = Path::new(p);
            origin == p
                || origin.starts_with(p)
                || glob::Pattern::new(&p.to_string_lossy())
                    .is_ok_and(|g| origin.ancestors().any(|a| g.matches_path_with(a, glob::MatchOptions::new())))
        });
        (covered && expected == entry.name).then_some(LiveTarget::File(origin))
    }

    /// Whether each source's paths name readable files.
    fn diagnose(&self, setup: &Setup<'_>, _last: Option<&Manifest>) -> Vec<Finding> {
        let mut findings = Vec::new();
        let fix_paths = "check sources.files paths (absolute, globs allowed)";
        for f in &setup.sources.files {
            let expanded = expand(f, &setup.excluded);
            findings.extend(expanded.warnings.iter().map(|w| Finding::warn(&f.name, w.clone(), fix_paths)));
            let unreadable: Vec<String> = expanded
                .files
                .iter()
                .filter_map(|s| std::fs::File::open(s.path()).err().map(|e| format!("{}: {e}", s.path().display())))
                .collect();
            let bytes: u64 = expanded.files.iter().map(|s| s.size_hint()).sum();
            if expanded.files.is_empty() {
                findings.push(Finding::warn(&f.name, "its paths name no file", fix_paths));
            } else if !unreadable.is_empty() {
                findings.push(Finding::error(
                    &f.name,
                    format!("cannot read: {}", unreadable.join("; ")),
                    "fix the permissions (Lifeboat's user must read them) or the paths",
                ));
            } else {
                let n = expanded.files.len();
                findings
                    .push(Finding::ok(&f.name, format!("{n} file(s), {} readable", crate::units::human_size(bytes))));
            }
        }
        findings
    }
}
