//! What continuous protection is given of the configuration.

use std::path::PathBuf;

use crate::seal::{Keys, Recipient};

/// What continuous protection reads of the configuration: where the
/// databases and Lifeboat's folders are, the keys increments are sealed
/// and opened with, and how long they are kept. Built by
/// `Config::continuous_setup`.
#[derive(Debug, Clone)]
pub struct Setup {
    /// `backup.source_dir`: the folder the live databases are in.
    pub source_dir: PathBuf,
    /// `backup.databases`: the databases captured.
    pub databases: Vec<String>,
    /// `backup.output_dir`: the increments go into its [`super::FOLDER`].
    pub output_dir: PathBuf,
    /// Lifeboat's own folder (`output_dir/.lifeboat`): the shadows and the
    /// capture lock.
    pub state_dir: PathBuf,
    /// What opens sealed increments.
    pub keys: Keys,
    /// The age recipients new increments are sealed to; None: not sealed.
    pub recipients: Option<Vec<Recipient>>,
    /// `continuous.keep_days`.
    pub keep_days: i64,
    /// Every store that keeps a copy of the increments (`[[destinations.s3]]`,
    /// by id): a removed increment is recorded for each to delete.
    pub stores: Vec<String>,
}
