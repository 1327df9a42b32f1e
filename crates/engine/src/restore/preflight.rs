//! Before any write, everything a restore needs, checked at once: the
//! differential's base beside the archive, each server reachable (and a
//! missing PostgreSQL database creatable), each live folder writable (the
//! plan adds what it refused itself: a symbolic link on a live path,
//! something not a file where one goes back, a `--to` file already there). The
//! plan lists every problem found, so a dry run shows all a real run would
//! meet, and a real run with any problem writes nothing.

use std::path::Path;

use super::{Action, RestorePlan};
use crate::config::Config;

/// Fills in `plan.problems`, and what each database's restore does first.
pub(super) fn check(cfg: &Config, plan: &mut RestorePlan) {
    let mut problems = Vec::new();
    if let Some(base) = &plan.manifest.base {
        let folder = archive_folder(plan);
        if !base_beside(plan) {
            problems.push(format!(
                "{} is a differential and its base {} is not in {}: bring it there first (`lifeboat fetch \
                 DESTINATION {}`), or restore with --from DESTINATION, which brings both",
                plan.archive.name,
                base.archive,
                folder.display(),
                base.archive
            ));
        }
    }
    if let Some(dir) = &plan.to
        && let Some(why) = unwritable(dir)
    {
        problems.push(format!("--to {}: {why}", dir.display()));
    }
    let setup = cfg.source_setup();
    for d in plan.databases.iter_mut() {
        match &d.action {
            Action::LoadDump { source, .. } => {
                let Some(entry) = plan.manifest.database(&d.name) else { continue };
                match lifeboat_core::source::kind(entry.kind).restore_check(&setup, source) {
                    Ok(first) => d.first = first,
                    Err(why) => problems.push(format!("{}: {why}", d.name)),
                }
            }
            Action::Replace { .. } | Action::ReplaceUnreadable { .. } | Action::Create | Action::WriteBack { .. } => {
                if let Some(why) = d.dest.parent().and_then(unwritable) {
                    problems.push(format!("{}: {why}", d.name));
                }
            }
            Action::WriteFile => {}
        }
    }
    plan.problems = problems;
}

/// The folder `plan`'s archive is in.
fn archive_folder(plan: &RestorePlan) -> &Path {
    plan.archive.files.first().and_then(|f| f.parent()).unwrap_or(Path::new("."))
}

/// Whether `plan`'s archive, a differential, has its base beside it.
fn base_beside(plan: &RestorePlan) -> bool {
    let Some(base) = &plan.manifest.base else { return false };
    let folder = archive_folder(plan);
    lifeboat_core::catalog::ArchiveName::parse(&base.archive).is_ok_and(|n| n.part().is_none())
        && lifeboat_core::catalog::resolve(folder, &folder.join(&base.archive).to_string_lossy()).is_ok()
}

/// Why files cannot be created in folder `dir` (or in the nearest folder
/// above it that exists, where it would be created), or None.
fn unwritable(dir: &Path) -> Option<String> {
    use rustix::fs::Access;
    let existing = dir.ancestors().find(|a| a.as_os_str().is_empty() || a.exists())?;
    let existing = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
    if !existing.is_dir() {
        return Some(format!("{} is not a folder", existing.display()));
    }
    match rustix::fs::access(existing, Access::WRITE_OK | Access::EXEC_OK) {
        Ok(()) => None,
        Err(e) => Some(format!(
            "cannot write into {} ({}); run as the user who owns it, or fix its permissions",
            existing.display(),
            std::io::Error::from(e)
        )),
    }
}

/// For a dry run: verifies the archive in full (with its base), as the
/// restore would before writing, into a scratch folder in the system's
/// temporary folder; what fails joins `plan.problems`. Skipped when the
/// base is missing (said already).
pub fn verify_archive(cfg: &Config, plan: &mut RestorePlan) {
    if plan.manifest.base.is_some() && !base_beside(plan) {
        return;
    }
    let scratch = match tempfile::Builder::new().prefix("lifeboat-plan-").tempdir() {
        Ok(s) => s,
        Err(e) => {
            plan.problems.push(format!("cannot verify {}: no scratch folder ({e})", plan.archive.name));
            return;
        }
    };
    let opts = lifeboat_core::verify::VerifyOptions { integrity_check: true };
    match lifeboat_core::verify::verify(&plan.archive, &cfg.encryption.keys, scratch.path(), opts) {
        Ok(report) if report.is_ok() => {}
        Ok(report) => plan
            .problems
            .extend(report.all_problems().into_iter().map(|p| format!("{} did not verify: {p}", plan.archive.name))),
        Err(e) => plan.problems.push(format!("{} did not verify: {e}", plan.archive.name)),
    }
}
