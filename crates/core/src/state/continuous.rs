//! Where the continuous capture of each SQLite database stands: the last
//! increment written, and how far into the `-wal` file it read. Written
//! after the increment file and the rebuilt copy, so a capture stopped in
//! between finds an increment newer than this row and adopts it (see
//! `source::sqlite::continuous`). Also how far each off-site store has
//! copied each database's increments, the increments retention removed that
//! a store still holds, and the lowest number a new chain may take.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, State, time_at, ts};
use crate::source::sqlite::continuous::wal::WalPosition;

/// One database's capture position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturePosition {
    /// The name in `backup.databases`.
    pub database: String,
    /// The chain it is in.
    pub generation: u32,
    /// The last increment written.
    pub seq: u64,
    /// That increment's sha256 (hex): the next one names it.
    pub chain_hash: String,
    /// device:inode of the database file followed.
    pub file_id: String,
    /// What the database file looked like when last read (see
    /// `source::sqlite::continuous`): an empty `-wal` and the same stamp
    /// mean nothing was committed since.
    pub db_stamp: String,
    pub page_size: u32,
    /// The database's size in pages after the last increment.
    pub db_pages: u32,
    /// How far into the `-wal` file it read.
    pub wal: WalPosition,
    /// When the last increment was read.
    pub captured_at: DateTime<Utc>,
    /// When the database was last read up to its newest commit (with or
    /// without anything new): the lag is measured from here.
    pub checked_at: DateTime<Utc>,
}

const COLUMNS: &str = "database, generation, seq, chain_hash, file_id, db_stamp, page_size, db_pages, salt1, salt2, \
                       checkpoint_seq, frames, checksum1, checksum2, captured_at, checked_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CapturePosition> {
    Ok(CapturePosition {
        database: r.get(0)?,
        generation: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        chain_hash: r.get(3)?,
        file_id: r.get(4)?,
        db_stamp: r.get(5)?,
        page_size: r.get(6)?,
        db_pages: r.get(7)?,
        wal: WalPosition {
            salt1: r.get(8)?,
            salt2: r.get(9)?,
            checkpoint_seq: r.get(10)?,
            frames: r.get::<_, i64>(11)? as u64,
            checksum: (r.get(12)?, r.get(13)?),
        },
        captured_at: time_at(r, 14, "continuous", "captured_at")?,
        checked_at: time_at(r, 15, "continuous", "checked_at")?,
    })
}

impl State {
    /// The capture position of `database`, if it has one.
    pub(crate) fn capture_position(&self, database: &str) -> Result<Option<CapturePosition>> {
        Ok(self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM continuous WHERE database = ?1"), [database], row)
            .optional()?)
    }

    /// Every database's capture position, by name.
    pub fn capture_positions(&self) -> Result<Vec<CapturePosition>> {
        let mut st = self.conn.prepare(&format!("SELECT {COLUMNS} FROM continuous ORDER BY database"))?;
        let rows = st.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Records where the capture of `p.database` stands.
    pub fn set_capture_position(&self, p: &CapturePosition) -> Result<()> {
        self.conn.execute(
            &format!(
                "INSERT OR REPLACE INTO continuous ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ),
            params![
                p.database,
                p.generation,
                p.seq as i64,
                p.chain_hash,
                p.file_id,
                p.db_stamp,
                p.page_size,
                p.db_pages,
                p.wal.salt1,
                p.wal.salt2,
                p.wal.checkpoint_seq,
                p.wal.frames as i64,
                p.wal.checksum.0,
                p.wal.checksum.1,
                ts(p.captured_at),
                ts(p.checked_at),
            ],
        )?;
        Ok(())
    }

    /// Records that `database` was read up to its newest commit at `at`
    /// and held nothing new.
    pub(crate) fn capture_checked(&self, database: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute("UPDATE continuous SET checked_at = ?2 WHERE database = ?1", params![database, ts(at)])?;
        Ok(())
    }

    /// Forgets the capture position of `database`: the next capture starts
    /// a new chain.
    pub(crate) fn forget_capture_position(&self, database: &str) -> Result<()> {
        self.conn.execute("DELETE FROM continuous WHERE database = ?1", [database])?;
        Ok(())
    }
}

/// How far one store has copied one database's increments: every
/// increment up to (`generation`, `seq`) in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPosition {
    pub generation: u32,
    pub seq: u64,
}

impl State {
    /// How far `destination` has copied `database`'s increments.
    pub fn upload_position(&self, destination: &str, database: &str) -> Result<Option<UploadPosition>> {
        Ok(self
            .conn
            .query_row(
                "SELECT generation, seq FROM continuous_uploads WHERE destination = ?1 AND database = ?2",
                [destination, database],
                |r| Ok(UploadPosition { generation: r.get(0)?, seq: r.get::<_, i64>(1)? as u64 }),
            )
            .optional()?)
    }

    /// Records that `destination` holds `database`'s increments up to `p`.
    pub fn set_upload_position(
        &self,
        destination: &str,
        database: &str,
        p: UploadPosition,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO continuous_uploads (destination, database, generation, seq, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![destination, database, p.generation, p.seq as i64, ts(at)],
        )?;
        Ok(())
    }

    /// Records that local retention removes increment `file` of
    /// `database`, so that each of `destinations` deletes its copy too.
    pub(crate) fn retire_increment(&self, destinations: &[String], database: &str, file: &str) -> Result<()> {
        for d in destinations {
            self.conn.execute(
                "INSERT OR IGNORE INTO continuous_retired (destination, database, file) VALUES (?1, ?2, ?3)",
                params![d, database, file],
            )?;
        }
        Ok(())
    }

    /// The increments of `database` that `destination` still holds and
    /// local retention removed.
    pub fn retired_increments(&self, destination: &str, database: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT file FROM continuous_retired WHERE destination = ?1 AND database = ?2 ORDER BY file")?;
        let rows = st.query_map([destination, database], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    /// `destination` deleted its copy of `file`.
    pub fn forget_retired_increment(&self, destination: &str, database: &str, file: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM continuous_retired WHERE destination = ?1 AND database = ?2 AND file = ?3",
            [destination, database, file],
        )?;
        Ok(())
    }

    /// The lowest chain number a new chain of `database` may take (1 when
    /// none was recorded).
    pub fn next_generation_floor(&self, database: &str) -> Result<u32> {
        Ok(self
            .conn
            .query_row("SELECT generation FROM continuous_next_generation WHERE database = ?1", [database], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(1))
    }

    /// Raises the lowest chain number a new chain of `database` may take
    /// to `generation` (never lowers it).
    pub fn raise_generation_floor(&self, database: &str, generation: u32) -> Result<()> {
        self.conn.execute(
            "INSERT INTO continuous_next_generation (database, generation) VALUES (?1, ?2) \
             ON CONFLICT (database) DO UPDATE SET generation = max(generation, excluded.generation)",
            params![database, generation],
        )?;
        Ok(())
    }
}
