//! The version string of every Lifeboat binary, `0.1.0 (commit 1463de8,
//! built 2026-12-04)`, so that a bug report names the exact build. A crate
//! of its own so that a new commit rebuilds only it and the binaries, not
//! the libraries.

/// For clap's `#[command(version = lifeboat_version::LONG)]`.
pub const LONG: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("VERGEN_GIT_SHA"), ", built ", env!("VERGEN_BUILD_DATE"), ")");
