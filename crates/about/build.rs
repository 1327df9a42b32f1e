//! Records the commit and the build date for `--version`. Outside a git
//! checkout (a source tarball) the commit reads "unknown" and vergen says
//! why as a build warning; the build never fails for it.

use vergen_gitcl::{Build, Emitter, Gitcl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let build = Build::builder().build_date(true).build();
    let git = Gitcl::builder().sha(true).build();
    let mut out = Vec::new();
    Emitter::default().add_instructions(&build)?.add_instructions(&git)?.emit_to(&mut out)?;
    let out = String::from_utf8(out)?;
    print!("{out}");
    if !out.contains("VERGEN_GIT_SHA=") {
        println!("cargo:rustc-env=VERGEN_GIT_SHA=unknown");
    }
    Ok(())
}
