//! Records the commit and the build date for `--version`. Outside a git
//! checkout (a source tarball) vergen falls back to a placeholder and says
//! so as a build warning; the build never fails for it.

use vergen_gitcl::{Build, Emitter, Gitcl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let build = Build::builder().build_date(true).build();
    let git = Gitcl::builder().sha(true).build();
    Emitter::default().add_instructions(&build)?.add_instructions(&git)?.emit()?;
    Ok(())
}
