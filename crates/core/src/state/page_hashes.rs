//! The SHA-256 of every page of each database in a full archive, kept when
//! the archive is written. A differential against that archive then needs
//! only these to know which pages changed, not the archive's contents: on
//! a server that seals with age and holds no private key (it cannot read
//! its own archives, by design) differentials still work. Hashes of pages
//! say nothing of the data beyond whether it changed; they are never used
//! to verify or restore an archive's contents.

use rusqlite::{OptionalExtension, params};

use super::{Result, State};
use crate::delta::PageHashes;

impl State {
    /// Keeps the page hashes of database `entry` in the full archive `archive`.
    pub fn remember_page_hashes(&self, archive: &str, entry: &str, pages: &PageHashes) -> Result<()> {
        self.conn.execute(
            "INSERT INTO page_hashes (archive, entry, sha256, size, block, hashes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(archive, entry) DO UPDATE SET sha256 = ?3, size = ?4, block = ?5, hashes = ?6",
            params![archive, entry, pages.sha256, pages.size as i64, pages.block, pages.blob()],
        )?;
        Ok(())
    }

    /// The page hashes kept for `entry` of `archive`, if any (a row that no
    /// longer fits its size counts as none).
    pub fn page_hashes(&self, archive: &str, entry: &str) -> Result<Option<PageHashes>> {
        let row: Option<(String, i64, u32, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT sha256, size, block, hashes FROM page_hashes WHERE archive = ?1 AND entry = ?2",
                params![archive, entry],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row.and_then(|(sha256, size, block, blob)| PageHashes::from_blob(block, size as u64, sha256, &blob)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::open;

    #[test]
    fn remembers_replaces_and_forgets() {
        let (_d, s) = open();
        let pages = PageHashes { block: 4096, size: 5000, sha256: "ab".into(), hashes: vec![[1; 32], [2; 32]] };
        assert_eq!(s.page_hashes("a.zip.age", "x.db").unwrap(), None);
        s.remember_page_hashes("a.zip.age", "x.db", &pages).unwrap();
        assert_eq!(s.page_hashes("a.zip.age", "x.db").unwrap(), Some(pages.clone()));
        let other = PageHashes { size: 4096, hashes: vec![[3; 32]], ..pages };
        s.remember_page_hashes("a.zip.age", "x.db", &other).unwrap();
        assert_eq!(s.page_hashes("a.zip.age", "x.db").unwrap(), Some(other));
        assert_eq!(s.page_hashes("a.zip.age", "y.db").unwrap(), None);
        s.archive_removed("a.zip.age", chrono::Utc::now()).unwrap();
        assert_eq!(s.page_hashes("a.zip.age", "x.db").unwrap(), None);
    }
}
