//! What the configuration's loading asks of every kind's section, and the
//! reading of a secret file they share. A kind's section is parsed by its
//! own crate; the loading, above the kinds, goes through this trait.

use crate::config::error::{ConfigError, invalid};
use crate::config::secret::{SecretFile, SecretProblem};
use crate::destination::DestinationId;

/// Hands a secret that could not be read to the load, which stops there
/// or keeps it for the operation that needs it.
pub type Keep<'a> = &'a mut dyn FnMut(SecretProblem) -> Result<(), ConfigError>;

/// What the configuration's loading asks of a kind's section once it is
/// parsed: the same three things of every kind, so that the loading names
/// none of them.
pub trait Section {
    /// The files holding its secrets (an empty path: none), declared into
    /// the one list, `Config::secret_files`.
    fn secret_files(&self) -> Vec<SecretFile>;

    /// Checks its values but for its secrets; the first problem.
    fn validate(&self) -> Result<(), ConfigError>;

    /// Reads its secrets from their files, once at load. A value that
    /// cannot be used stops the load; a file that cannot be read is handed
    /// to `keep`.
    fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError>;

    /// The outbox ids of the destinations it configures that keep
    /// archives, in the order reports list them; none by default (a kind
    /// that only carries alerts).
    fn ids(&self) -> Vec<DestinationId> {
        Vec::new()
    }
}

/// A kind configured as a list (`[[destinations.KIND]]`): each entry in
/// turn, the first problem stopping the rest.
impl<T: Section> Section for Vec<T> {
    fn secret_files(&self) -> Vec<SecretFile> {
        self.iter().flat_map(Section::secret_files).collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.iter().try_for_each(Section::validate)
    }

    fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        self.iter_mut().try_for_each(|one| one.resolve_secrets(&mut *keep))
    }

    fn ids(&self) -> Vec<DestinationId> {
        self.iter().flat_map(Section::ids).collect()
    }
}

/// The text of the secret file `file` (`what` in words, `key` at fault),
/// without its line ending; empty is refused. No message quotes it.
pub fn read_secret(key: &'static str, what: &str, file: &std::path::Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| invalid(key, format!("cannot read {what} {}: {e}", file.display())))?;
    let text = text.trim_end_matches(['\r', '\n']);
    if text.trim().is_empty() {
        return Err(invalid(key, format!("{what} {} is empty", file.display())));
    }
    Ok(text.to_string())
}
