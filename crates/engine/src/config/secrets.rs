//! Reading the secrets the config names by file (the bot token, store keys,
//! webhook URL, SMTP and database passwords, encryption keys): each file is
//! read once at load, must be non-empty, and is never echoed in an error.
//! A command that uses only some of them loads with
//! [`SecretsNeeded::WhenUsed`]: a file it cannot read is then remembered
//! ([`Config::unread_secrets`]) and refused only by the operation that
//! needs it ([`Config::require_secret`]), so a server being rebuilt can list
//! and restore before its bot token is back.
//!
//! [`Config::secret_files`] is the one list of those files: a files source
//! never archives them, and a file other users can read is warned about.

use std::path::Path;

use lifeboat_core::destination::Section;

use super::{Config, ConfigError, Secret, SecretFile, SecretProblem, SecretsNeeded, UnreadSecret, invalid};

/// Where a load puts the secrets it could not read: an error when every
/// secret is needed, else kept for later.
pub(super) struct Unread {
    needed: SecretsNeeded,
    pub(super) found: Vec<UnreadSecret>,
}

impl Unread {
    pub(super) fn new(needed: SecretsNeeded) -> Unread {
        Unread { needed, found: Vec::new() }
    }

    /// `problem` stops the load, or is kept when it may wait for its use.
    fn keep(&mut self, problem: SecretProblem) -> Result<(), ConfigError> {
        match (self.needed, problem.error) {
            (SecretsNeeded::WhenUsed, ConfigError::Invalid { key, message }) => {
                self.found.push(UnreadSecret { key, owner: problem.owner, problem: message });
                Ok(())
            }
            (_, error) => Err(error),
        }
    }

    /// The value, or None when its problem was kept.
    fn read<T>(&mut self, owner: Option<&str>, read: Result<T, ConfigError>) -> Result<Option<T>, ConfigError> {
        match read {
            Ok(v) => Ok(Some(v)),
            Err(error) => self.keep(SecretProblem { owner: owner.map(str::to_string), error }).map(|()| None),
        }
    }

    /// True when a problem with `key` was kept.
    fn kept(&self, key: &str) -> bool {
        self.found.iter().any(|u| u.key == key)
    }
}

/// The key naming the configuration file when it holds a secret itself.
pub const CONFIG_FILE_KEY: &str = "the configuration file";

impl Config {
    /// Every file holding one of Lifeboat's secrets that this configuration
    /// names: each kind's secret keys, and the configuration file when it
    /// holds the bot token itself. Reading a new secret from a file means
    /// listing its key here, or a files source could archive it.
    pub fn secret_files(&self) -> Vec<SecretFile> {
        let mut out = Vec::new();
        let mut add = |key: &'static str, owner: Option<&str>, path: &Path| {
            if !path.as_os_str().is_empty() {
                out.push(SecretFile { key, owner: owner.map(str::to_string), path: path.to_path_buf() });
            }
        };
        for s in self.telegram.secret_files() {
            add(s.key, s.owner.as_deref(), &s.path);
        }
        for s in self.bots.secret_files() {
            add(s.key, s.owner.as_deref(), &s.path);
        }
        add("encryption.password_file", None, &self.encryption.password_file);
        add("encryption.identity_file", None, &self.encryption.identity_file);
        for kind in lifeboat_core::source::KINDS {
            for s in kind.secret_files(&self.sources) {
                add(s.key, s.owner.as_deref(), &s.path);
            }
        }
        for s in self.destinations.secret_files() {
            add(s.key, s.owner.as_deref(), &s.path);
        }
        if let Some(file) = self.file.as_deref().filter(|_| self.file_holds_secret) {
            add(CONFIG_FILE_KEY, None, file);
        }
        out
    }

    /// What the kinds of source are given: their sections, where the
    /// SQLite databases are, the files a files source never archives and
    /// the secrets that could not be read.
    pub fn source_setup(&self) -> lifeboat_core::source::Setup<'_> {
        lifeboat_core::source::Setup {
            sources: &self.sources,
            databases: &self.backup.databases,
            source_dir: &self.backup.source_dir,
            excluded: lifeboat_core::source::excluded_paths(self.secret_files(), &self.backup.output_dir),
            unread: &self.unread_secrets,
        }
    }

    /// The secret files this configuration names that a
    /// [`SecretsNeeded::WhenUsed`] load could not read.
    pub fn unread_secrets(&self) -> &[UnreadSecret] {
        &self.unread_secrets
    }

    /// Refuses, as the load would have, when the secret under `key` (of
    /// `owner`, for the kinds there may be several of) could not be read:
    /// what an operation calls before it uses that secret.
    pub fn require_secret(&self, key: &str, owner: Option<&str>) -> Result<(), ConfigError> {
        super::secret::require(&self.unread_secrets, key, owner)
    }

    /// One warning for each secret file other users may read, as ssh warns
    /// about a private key.
    pub fn exposed_secret_files(&self) -> Vec<String> {
        self.secret_files().iter().filter_map(SecretFile::exposure).collect()
    }

    /// Reads the bot token from its file, when the file names it.
    pub(super) fn resolve_token(&mut self, unread: &mut Unread) -> Result<(), ConfigError> {
        self.telegram.resolve_secrets(&mut |p| unread.keep(p))
    }

    /// Reads the secrets of the bots a kind of destination runs.
    pub(super) fn resolve_bot_secrets(&mut self, unread: &mut Unread) -> Result<(), ConfigError> {
        self.bots.resolve_secrets(&mut |p| unread.keep(p))
    }

    /// Reads the secrets each kind of destination names by file.
    pub(super) fn resolve_destination_secrets(&mut self, unread: &mut Unread) -> Result<(), ConfigError> {
        self.destinations.resolve_secrets(&mut |p| unread.keep(p))
    }

    /// Reads the secrets each kind of source names by file.
    pub(super) fn resolve_source_passwords(&mut self, unread: &mut Unread) -> Result<(), ConfigError> {
        for kind in lifeboat_core::source::KINDS {
            kind.resolve_secrets(&mut self.sources).into_iter().try_for_each(|p| unread.keep(p))?;
        }
        Ok(())
    }

    /// Reads the encryption secrets the mode needs (`env_password`: the
    /// value of [`lifeboat_core::seal::PASSWORD_ENV`]); a mode without a usable
    /// secret stops here, naming the key.
    pub(super) fn resolve_keys(
        &mut self,
        env_password: Option<String>,
        unread: &mut Unread,
    ) -> Result<(), ConfigError> {
        use lifeboat_core::seal::{Keys, Mode, PASSWORD_ENV};
        let e = &mut self.encryption;
        let unusable = |key, err: lifeboat_core::seal::KeyError| invalid(key, err.to_string());
        if !e.password_file.as_os_str().is_empty() {
            let password =
                Keys::read_password_file(&e.password_file).map_err(|x| unusable("encryption.password_file", x));
            if let Some(password) = unread.read(None, password)? {
                let from = e.password_file.display().to_string();
                e.keys.set_password(password, from);
            }
        } else if let Some(p) = env_password.filter(|p| !p.trim().is_empty()) {
            e.keys.set_password(Secret::new(p), PASSWORD_ENV);
        }
        if !e.identity_file.as_os_str().is_empty() {
            let file = e.identity_file.clone();
            let set = e.keys.set_identity_file(&file).map_err(|x| unusable("encryption.identity_file", x));
            unread.read(None, set)?;
        }
        if e.recipients.len() > lifeboat_core::seal::MAX_RECIPIENTS {
            return Err(invalid(
                "encryption.recipients",
                format!(
                    "{} keys; at most {} (an age header that large is refused when read back): seal to fewer, e.g. one key per team",
                    e.recipients.len(),
                    lifeboat_core::seal::MAX_RECIPIENTS
                ),
            ));
        }
        let problem = match e.mode {
            // Said already, as the file that could not be read.
            Mode::ZipAes if unread.kept("encryption.password_file") => Ok(()),
            Mode::ZipAes if e.keys.password().is_none() => Err(invalid(
                "encryption.password_file",
                format!(
                    "mode = \"zip-aes\" needs a password: put it in a file (chmod 600) and name it here, or set {PASSWORD_ENV}"
                ),
            )),
            Mode::Age if e.recipients.is_empty() => Err(invalid(
                "encryption.recipients",
                "mode = \"age\" needs at least one public key, e.g. recipients = [\"age1…\"] from `age-keygen -y key.txt`",
            )),
            // Checked now: otherwise every backup would fail its read-back.
            Mode::Age
                if e.keys.has_identity()
                    && !lifeboat_core::seal::identity_matches(&e.keys, &e.recipients).unwrap_or(false) =>
            {
                Err(invalid(
                    "encryption.identity_file",
                    format!(
                        "the key in {} opens none of encryption.recipients; add its public key (age-keygen -y {}) to recipients, or name the right file",
                        e.identity_file.display(),
                        e.identity_file.display()
                    ),
                ))
            }
            _ => Ok(()),
        };
        // A key that opens none of today's recipients may still open older
        // archives: only a backup, which reads its own archive back, needs it
        // to open the new ones.
        match problem {
            Err(error) if error.key() == Some("encryption.identity_file") => {
                unread.keep(SecretProblem { owner: None, error })
            }
            other => other,
        }
    }
}
