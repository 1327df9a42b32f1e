//! The rules every section of the configuration is parsed by, whichever
//! crate holds the section: its errors (naming the key at fault), its
//! secrets (read once from files, never echoed), shared value rules and the
//! retry policy. The loading itself, and the whole `Config`, live above the
//! kinds, in `lifeboat-engine`.

pub mod error;
pub mod retry;
pub mod secret;
pub mod value;

pub use error::ConfigError;
pub use retry::RetryConfig;
pub use secret::{Secret, SecretFile, SecretProblem, SecretUrl, UnreadSecret};
pub use value::{MAX_TIMEOUT_SECS, MB};
