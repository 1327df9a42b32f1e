//! The configuration's error: what cannot be used, with the key at fault.
//! A file of its own, so that whatever checks a section (each kind of
//! source) can say what is wrong without depending on the loading.

use std::path::PathBuf;

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config`/`LIFEBOAT_CONFIG` does not exist.
    #[error(
        "config file {path} not found (named by {source_of_name}); pass an existing file or drop the option to use the built-in defaults"
    )]
    FileMissing {
        /// The path given.
        path: PathBuf,
        /// `--config` or `LIFEBOAT_CONFIG`.
        source_of_name: &'static str,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("config: {0}")]
    Parse(String),
    /// A value of the right type but not allowed.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// `section.key`
        key: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl ConfigError {
    /// The key at fault, for an invalid value.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

pub fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}
