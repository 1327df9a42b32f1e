//! Writing the archive ZIP: databases at the root, `backup_info.txt`,
//! `manifest.json`; deflate in parallel; streamed. OWNER: H1.

use crate::manifest::Manifest;

/// The `backup_info.txt` text for people (readable on a phone).
pub fn info_text(manifest: &Manifest) -> String {
    let _ = manifest;
    unimplemented!("H1")
}
