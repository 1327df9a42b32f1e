//! Sealing archives: how an archive is protected (`[encryption] mode`), the
//! keys this process holds, and the age layer.
//!
//! `zip-aes` archives are ordinary ZIPs whose every entry is AES-256
//! encrypted (WinZip AE-2); [`crate::archive`] writes them and
//! [`crate::verify`] reads them with the password. `age` archives are a
//! verified ZIP encrypted to public keys as `….zip.age`: [`seal_file`]
//! writes one, `open_age` opens one as a seekable stream, so the ZIP
//! inside is read in place, never decrypted to disk.
//!
//! Secrets (the password, an identity file's text) live in [`Secret`]s:
//! they never show in `Debug`, `Display` or an error. Errors name where a
//! secret came from, never what it is.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use strum::{IntoStaticStr, VariantNames};
use tokio_util::sync::CancellationToken;

use crate::config::secret::Secret;

/// Environment variable that may hold the `zip-aes` password itself, for
/// deployments that inject secrets through the environment.
pub const PASSWORD_ENV: &str = "LIFEBOAT_ENCRYPTION_PASSWORD";

pub use crate::catalog::{AGE_SUFFIX, Sealing};

/// The most bytes of an age header read before it goes to the age crate,
/// whose header parser takes time quadratic in the header's size (a
/// 250 KB header of junk: a minute). A header Lifeboat writes for
/// [`MAX_RECIPIENTS`] ssh-rsa keys takes about 12 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most stanzas an age header may hold: one per recipient, and the
/// one age adds.
pub const MAX_STANZAS: usize = 64;
/// The most keys `encryption.recipients` may name, so that every sealed
/// archive stays within [`MAX_HEADER_BYTES`] and [`MAX_STANZAS`].
pub const MAX_RECIPIENTS: usize = 32;

/// How new archives are sealed. The modes are declared in the order the
/// docs list them, which `Mode::VARIANTS` keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, IntoStaticStr, VariantNames)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Mode {
    /// Plain ZIP.
    #[default]
    None,
    /// Every entry AES-256 encrypted under a password.
    ZipAes,
    /// The whole ZIP encrypted to age recipients.
    Age,
}

impl Mode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The secrets this process holds for reading archives: the zip-aes
/// password and an age identity, each with where it came from (for errors).
#[derive(Clone, Default)]
pub struct Keys {
    password: Option<(Secret, String)>,
    identity: Option<(Secret, PathBuf)>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("password", &self.password.as_ref().map(|(s, from)| (s, from)))
            .field("identity", &self.identity.as_ref().map(|(s, from)| (s, from)))
            .finish()
    }
}

/// A key that cannot be used, or an archive the keys do not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A secret file could not be read or holds no usable key.
    #[error("{from}: {why}")]
    Unusable {
        /// The file (or variable) it came from.
        from: String,
        /// What is wrong, without the secret.
        why: KeyFileProblem,
    },
    /// An age archive and no identity.
    #[error(
        "{archive} is sealed with age and this machine holds no identity for it (the server only needs the recipients' public keys); pass --identity FILE with the private key, or decrypt it where the key is: age -d -i key.txt {archive} > backup.zip"
    )]
    NoIdentity { archive: String },
    /// The identity does not open the archive.
    #[error(
        "cannot open here: the identity in {from} does not open {archive}, which was sealed to other recipients (no sign of damage); open it where one of their keys is: age -d -i KEY {archive} > backup.zip"
    )]
    WrongIdentity {
        /// The identity file.
        from: String,
        archive: String,
    },
    /// A zip-aes archive and no password.
    #[error(
        "{archive} is encrypted (zip-aes) and no password is configured; set encryption.password_file (or {PASSWORD_ENV})"
    )]
    NoPassword { archive: String },
    /// The password does not open the archive.
    #[error("the password in {from} does not open {archive}")]
    WrongPassword {
        /// Where the password came from.
        from: String,
        archive: String,
    },
    /// Not an age file, or a damaged one.
    #[error("{archive} is not a readable age file ({why}); it may be truncated or damaged: copy it again")]
    NotAge { archive: String, why: String },
}

/// What is wrong with a secret file, in words that follow its name. The
/// age crate's own words, where it gave some, are kept as `detail`; they
/// never hold the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileProblem {
    /// The file cannot be read.
    #[error("cannot read it: {detail}")]
    Unreadable { detail: String },
    /// A password file with no password in it.
    #[error("is empty; put the archive password in it (e.g. `openssl rand -base64 24 > FILE`)")]
    EmptyPassword,
    /// Looks like an age identity file, and is not a well-formed one.
    #[error("does not parse as an age identity file: {detail}")]
    UnparsableIdentity { detail: String },
    /// An age identity of a kind Lifeboat cannot use (a plugin's, say).
    #[error("holds an identity Lifeboat cannot use: {detail}")]
    UnusableIdentity { detail: String },
    /// An age identity file with no key in it.
    #[error("holds no age identity")]
    NoIdentity,
    /// An SSH key under a passphrase.
    #[error(
        "is a passphrase-protected SSH key, and a service cannot type a passphrase; use an age key (age-keygen) or an unprotected copy of the SSH key kept offline"
    )]
    PassphraseProtected,
    /// An SSH key of a kind age cannot decrypt with.
    #[error("is an SSH key of a kind age does not support; use an age key (age-keygen), ssh-ed25519 or ssh-rsa")]
    UnsupportedSsh,
    /// Neither kind of key.
    #[error("holds neither an age identity (AGE-SECRET-KEY-1…) nor an SSH private key")]
    NotAKey,
}

impl Keys {
    /// No secrets.
    pub fn none() -> Keys {
        Keys::default()
    }

    /// Reads the zip-aes password from `file` (trailing newline removed).
    pub fn read_password_file(file: &Path) -> Result<Secret, KeyError> {
        let from = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| KeyError::Unusable {
            from: from.clone(),
            why: KeyFileProblem::Unreadable { detail: e.to_string() },
        })?;
        let password = text.trim_end_matches(['\n', '\r']);
        if password.trim().is_empty() {
            return Err(KeyError::Unusable { from, why: KeyFileProblem::EmptyPassword });
        }
        Ok(Secret::new(password))
    }

    /// Sets the password and where it came from.
    pub fn set_password(&mut self, password: Secret, from: impl Into<String>) {
        self.password = Some((password, from.into()));
    }

    /// Reads an age identity file: age keys (`AGE-SECRET-KEY-1…`, as
    /// `age-keygen` writes them) or an unencrypted SSH private key.
    pub fn set_identity_file(&mut self, file: &Path) -> Result<(), KeyError> {
        let from = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| KeyError::Unusable {
            from: from.clone(),
            why: KeyFileProblem::Unreadable { detail: e.to_string() },
        })?;
        let text = Secret::new(text);
        parse_identities(text.expose(), &from).map_err(|why| KeyError::Unusable { from, why })?;
        self.identity = Some((text, file.to_path_buf()));
        Ok(())
    }

    /// The password, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|(s, _)| s.expose())
    }

    /// Whether an age identity is held.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// The error for an AES entry the keys do not open.
    pub(crate) fn password_error(&self, archive: &str) -> KeyError {
        match &self.password {
            Some((_, from)) => KeyError::WrongPassword { from: from.clone(), archive: archive.to_string() },
            None => KeyError::NoPassword { archive: archive.to_string() },
        }
    }
}

fn parse_identities(text: &str, from: &str) -> Result<Vec<Box<dyn age::Identity>>, KeyFileProblem> {
    if text.contains("AGE-SECRET-KEY-") {
        let ids = age::IdentityFile::from_buffer(text.as_bytes())
            .map_err(|e| KeyFileProblem::UnparsableIdentity { detail: e.to_string() })?
            .into_identities()
            .map_err(|e| KeyFileProblem::UnusableIdentity { detail: e.to_string() })?;
        return if ids.is_empty() { Err(KeyFileProblem::NoIdentity) } else { Ok(ids) };
    }
    match age::ssh::Identity::from_buffer(text.as_bytes(), Some(from.to_string())) {
        Ok(id @ age::ssh::Identity::Unencrypted(_)) => Ok(vec![Box::new(id)]),
        Ok(age::ssh::Identity::Encrypted(_)) => Err(KeyFileProblem::PassphraseProtected),
        Ok(age::ssh::Identity::Unsupported(_)) => Err(KeyFileProblem::UnsupportedSsh),
        Err(_) => Err(KeyFileProblem::NotAKey),
    }
}

/// One public key archives are sealed to (`encryption.recipients`): an age
/// key or an SSH one, parsed once at load. It shows as it was configured.
#[derive(Clone)]
pub struct Recipient {
    text: String,
    key: RecipientKey,
}

#[derive(Clone)]
enum RecipientKey {
    Age(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Recipient {
    /// The key as age encrypts to it.
    fn as_age(&self) -> &dyn age::Recipient {
        match &self.key {
            RecipientKey::Age(r) => r,
            RecipientKey::Ssh(r) => r,
        }
    }

    /// The key as configured (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::str::FromStr for Recipient {
    type Err = RecipientError;

    fn from_str(text: &str) -> Result<Recipient, RecipientError> {
        parse_recipient(text)
    }
}

/// Why a text is not a key archives can be sealed to; it names the text
/// (a public key, no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    /// `age1…` that does not parse; `detail` is the age crate's word.
    #[error("{text:?} is not an age public key ({detail})")]
    NotAgeKey { text: String, detail: String },
    /// Neither an age key nor a supported SSH key.
    #[error("{text:?} is neither an age public key (age1…) nor an ssh-ed25519/ssh-rsa public key")]
    NotAKey { text: String },
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.text, f)
    }
}

/// Parses one age recipient: `age1…` or an `ssh-ed25519`/`ssh-rsa` public key.
pub fn parse_recipient(text: &str) -> Result<Recipient, RecipientError> {
    let text = text.trim();
    let key = if text.starts_with("age1") {
        text.parse::<age::x25519::Recipient>()
            .map(RecipientKey::Age)
            .map_err(|e| RecipientError::NotAgeKey { text: text.to_string(), detail: e.to_string() })?
    } else {
        text.parse::<age::ssh::Recipient>()
            .map(RecipientKey::Ssh)
            .map_err(|_| RecipientError::NotAKey { text: text.to_string() })?
    };
    Ok(Recipient { text: text.to_string(), key })
}

const CHUNK: usize = 256 * 1024;

/// An age encryptor to every one of `recipients`.
fn encryptor(recipients: &[Recipient]) -> io::Result<age::Encryptor> {
    age::Encryptor::with_recipients(recipients.iter().map(Recipient::as_age))
        .map_err(|e| io::Error::other(format!("cannot encrypt to the configured recipients: {e}")))
}

/// A writer that encrypts what is written to it to `recipients` into
/// `out`; `finish()` it to write the last chunk. For the increments
/// continuous capture writes.
pub(crate) fn age_writer<W: Write>(out: W, recipients: &[Recipient]) -> io::Result<age::stream::StreamWriter<W>> {
    encryptor(recipients)?.wrap_output(out)
}

/// Writes `plain` encrypted to `recipients` as a new private file `out`,
/// fsynced; returns the sealed file's SHA-256 (hex), computed as it was
/// written, for [`check_sealed`].
pub fn seal_file(
    plain: &Path,
    out: &Path,
    recipients: &[Recipient],
    cancel: &CancellationToken,
) -> Result<String, io::Error> {
    let encryptor = encryptor(recipients)?;
    let file = crate::archive::create_private_file(out)?;
    let hashing = crate::fsutil::Hashing::new(BufWriter::with_capacity(CHUNK, file));
    let mut writer = encryptor.wrap_output(hashing)?;
    let mut input = BufReader::with_capacity(0, File::open(plain)?);
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
    }
    let crate::fsutil::Hashing { inner, hasher } = writer.finish()?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(hex::encode(hasher.finalize()))
}

/// Why a sealed file, read back without a key, is not what was written or
/// not an age file at all.
#[derive(Debug, thiserror::Error)]
pub enum SealCheckError {
    /// Its bytes do not all read.
    #[error("cannot read it back: {source}")]
    ReadBack {
        #[source]
        source: io::Error,
    },
    /// Its header does not read.
    #[error("cannot read it: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    /// It reads, and hashes otherwise than what was written.
    #[error("the sealed file read back differs from what was written (a failing disk?)")]
    Differs,
    /// Its header is not one Lifeboat writes.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// Its header is within bounds, and age does not parse it.
    #[error("its age header does not parse: {source}")]
    Unparsable {
        #[source]
        source: age::DecryptError,
    },
}

/// What is wrong with the first bytes of a file that should start with an
/// age header, found before the age crate reads them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// No age header at all.
    #[error("it does not start with an age header")]
    NotAge,
    /// More stanzas than Lifeboat ever writes.
    #[error(
        "its age header holds more than {MAX_STANZAS} stanzas; Lifeboat seals to at most {MAX_RECIPIENTS} recipients, so it did not write this header"
    )]
    TooManyStanzas,
    /// The file ends inside its header.
    #[error("its age header stops before its end: the file is truncated")]
    Truncated,
    /// A header longer than Lifeboat ever writes.
    #[error(
        "its age header does not end within {} KiB; Lifeboat never writes one that large, so it did not write this file",
        MAX_HEADER_BYTES / 1024
    )]
    TooLarge,
}

/// Reads a sealed file back without a key: it must hash to `sha256` (what
/// was written) and start with a well-formed age header.
pub fn check_sealed(files: &[PathBuf], sha256: &str) -> Result<(), SealCheckError> {
    if read_all(files)? != sha256 {
        return Err(SealCheckError::Differs);
    }
    check_header(files)
}

/// Without a key, what can be checked of a stored age archive: every byte
/// reads, and the age header parses.
pub fn check_readable(files: &[PathBuf]) -> Result<(), SealCheckError> {
    read_all(files)?;
    check_header(files)
}

/// Reads every byte; returns their SHA-256 (hex).
fn read_all(files: &[PathBuf]) -> Result<String, SealCheckError> {
    let mut reader =
        crate::parts::MultiFileReader::open(files).map_err(|source| SealCheckError::ReadBack { source })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hex::encode(hasher.finalize())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(SealCheckError::ReadBack { source }),
        }
    }
}

fn check_header(files: &[PathBuf]) -> Result<(), SealCheckError> {
    let mut reader =
        crate::parts::MultiFileReader::open(files).map_err(|source| SealCheckError::ReadBack { source })?;
    check_header_bounds(&mut reader)?;
    age::Decryptor::new(BufReader::new(reader)).map(|_| ()).map_err(|source| SealCheckError::Unparsable { source })
}

/// Checks that `input`, from where it stands, starts with a whole age
/// header within [`MAX_HEADER_BYTES`] and [`MAX_STANZAS`], reading no more
/// than that; leaves `input` where it was.
fn check_header_bounds<R: Read + Seek>(input: &mut R) -> Result<(), SealCheckError> {
    let cannot = |source: io::Error| SealCheckError::Read { source };
    let start = input.stream_position().map_err(cannot)?;
    let mut head = Vec::with_capacity(MAX_HEADER_BYTES);
    input.by_ref().take(MAX_HEADER_BYTES as u64).read_to_end(&mut head).map_err(cannot)?;
    input.seek(io::SeekFrom::Start(start)).map_err(cannot)?;
    Ok(header_within_bounds(&head)?)
}

/// `head`: at most [`MAX_HEADER_BYTES`] from the start of the file.
fn header_within_bounds(head: &[u8]) -> Result<(), HeaderError> {
    let mut lines = head.split(|&b| b == b'\n');
    if lines.next() != Some(b"age-encryption.org/v1".as_slice()) {
        return Err(HeaderError::NotAge);
    }
    let mut stanzas = 0;
    for line in lines {
        if line.starts_with(b"---") {
            return Ok(());
        }
        if line.starts_with(b"-> ") {
            stanzas += 1;
            if stanzas > MAX_STANZAS {
                return Err(HeaderError::TooManyStanzas);
            }
        }
    }
    if head.len() < MAX_HEADER_BYTES {
        return Err(HeaderError::Truncated);
    }
    Err(HeaderError::TooLarge)
}

/// Whether the identity held opens what is sealed to `recipients`: a few
/// bytes are sealed and opened in memory, which works for every key kind.
pub fn identity_matches(keys: &Keys, recipients: &[Recipient]) -> Result<bool, KeyError> {
    let sealed = (|| -> io::Result<Vec<u8>> {
        let mut w = encryptor(recipients)?.wrap_output(Vec::new())?;
        w.write_all(b"lifeboat")?;
        w.finish()
    })();
    let Ok(sealed) = sealed else { return Ok(false) };
    match open_age(io::Cursor::new(sealed), keys, "a test message") {
        Ok(_) => Ok(true),
        Err(KeyError::WrongIdentity { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A readable and seekable stream.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Opens an age-sealed archive as the seekable ZIP stream inside it.
pub(crate) fn open_age<R: Read + Seek + Send + 'static>(
    mut input: R,
    keys: &Keys,
    archive: &str,
) -> Result<Box<dyn ReadSeek>, KeyError> {
    let Some((text, from)) = &keys.identity else {
        return Err(KeyError::NoIdentity { archive: archive.to_string() });
    };
    let from = from.display().to_string();
    let identities =
        parse_identities(text.expose(), &from).map_err(|why| KeyError::Unusable { from: from.clone(), why })?;
    let not_age = |e: age::DecryptError| KeyError::NotAge { archive: archive.to_string(), why: e.to_string() };
    check_header_bounds(&mut input)
        .map_err(|why| KeyError::NotAge { archive: archive.to_string(), why: why.to_string() })?;
    let decryptor = age::Decryptor::new(input).map_err(not_age)?;
    if decryptor.is_scrypt() {
        return Err(KeyError::NotAge {
            archive: archive.to_string(),
            why: "it is sealed with a passphrase, which Lifeboat never does".into(),
        });
    }
    match decryptor.decrypt(identities.iter().map(|i| i.as_ref())) {
        Ok(stream) => Ok(Box::new(stream)),
        Err(age::DecryptError::NoMatchingKeys) => Err(KeyError::WrongIdentity { from, archive: archive.to_string() }),
        Err(e) => Err(not_age(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_spellings_match_the_config() {
        assert_eq!(Mode::VARIANTS, ["none", "zip-aes", "age"]);
        for (mode, text) in [(Mode::None, "none"), (Mode::ZipAes, "zip-aes"), (Mode::Age, "age")] {
            assert_eq!(mode.as_str(), text);
            assert_eq!(toml::Value::String(text.into()).try_into::<Mode>().unwrap(), mode);
        }
    }

    fn key_pair() -> (String, String) {
        let id = age::x25519::Identity::generate();
        let public = id.to_public().to_string();
        use age::secrecy::ExposeSecret;
        (id.to_string().expose_secret().to_string(), public)
    }

    #[test]
    fn seal_then_open_round_trips_and_seeks() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("a.zip");
        let body: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(&plain, &body).unwrap();
        let (secret, public) = key_pair();
        let sealed = d.path().join("a.zip.age");
        let sha = seal_file(&plain, &sealed, &[public.parse().unwrap()], &CancellationToken::new()).unwrap();
        check_sealed(std::slice::from_ref(&sealed), &sha).unwrap();
        let key = d.path().join("key.txt");
        std::fs::write(&key, format!("# created: now\n{secret}\n")).unwrap();
        let mut keys = Keys::none();
        keys.set_identity_file(&key).unwrap();
        let mut r = open_age(File::open(&sealed).unwrap(), &keys, "a.zip.age").unwrap();
        r.seek(io::SeekFrom::Start(1_000_000)).unwrap();
        let mut four = [0u8; 4];
        r.read_exact(&mut four).unwrap();
        assert_eq!(four, 250_000u32.to_le_bytes());
        r.seek(io::SeekFrom::Start(0)).unwrap();
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, body);
    }

    #[test]
    fn wrong_or_missing_identity_is_named() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("a.zip");
        std::fs::write(&plain, b"PK").unwrap();
        let (_, public) = key_pair();
        let sealed = d.path().join("a.zip.age");
        seal_file(&plain, &sealed, &[public.parse().unwrap()], &CancellationToken::new()).unwrap();
        let err = open_age(File::open(&sealed).unwrap(), &Keys::none(), "a.zip.age").err().unwrap();
        assert!(matches!(err, KeyError::NoIdentity { .. }), "{err}");
        let (other, _) = key_pair();
        let key = d.path().join("other.txt");
        std::fs::write(&key, &other).unwrap();
        let mut keys = Keys::none();
        keys.set_identity_file(&key).unwrap();
        let err = open_age(File::open(&sealed).unwrap(), &keys, "a.zip.age").err().unwrap();
        assert!(err.to_string().contains("other.txt") && err.to_string().contains("does not open"), "{err}");
        assert!(!err.to_string().contains(&other) && !format!("{keys:?}").contains(&other));
    }

    #[test]
    fn headers_past_the_bounds_are_refused_before_age_parses_them() {
        let (_, public) = key_pair();
        let mut sealed = encryptor(&[public.parse().unwrap()]).unwrap().wrap_output(Vec::new()).unwrap();
        sealed.write_all(b"lifeboat").unwrap();
        let sealed = sealed.finish().unwrap();
        let head = &sealed[..sealed.len().min(MAX_HEADER_BYTES)];
        assert_eq!(header_within_bounds(head), Ok(()));
        let mut junk = b"age-encryption.org/v1\n".to_vec();
        while junk.len() < MAX_HEADER_BYTES {
            junk.extend_from_slice(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
        }
        assert!(
            header_within_bounds(&junk[..MAX_HEADER_BYTES])
                .unwrap_err()
                .to_string()
                .contains("does not end within 16 KiB")
        );
        let mut many = b"age-encryption.org/v1\n".to_vec();
        many.extend_from_slice(&b"-> X25519 AAAA\nAAAA\n".repeat(MAX_STANZAS + 1));
        many.extend_from_slice(b"--- AAAA\n");
        assert!(header_within_bounds(&many).unwrap_err().to_string().contains("more than 64 stanzas"));
        assert!(
            header_within_bounds(b"age-encryption.org/v1\n-> X25519 AAAA\n")
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(
            header_within_bounds(b"PK\x03\x04").unwrap_err().to_string().contains("does not start with an age header")
        );
    }

    #[test]
    fn check_sealed_notices_a_flipped_byte() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("a.zip");
        std::fs::write(&plain, vec![7u8; 100_000]).unwrap();
        let sealed = d.path().join("a.zip.age");
        let sha = seal_file(&plain, &sealed, &[key_pair().1.parse().unwrap()], &CancellationToken::new()).unwrap();
        let mut bytes = std::fs::read(&sealed).unwrap();
        let n = bytes.len() - 10;
        bytes[n] ^= 1;
        std::fs::write(&sealed, bytes).unwrap();
        assert!(check_sealed(&[sealed], &sha).unwrap_err().to_string().contains("differs"));
    }

    #[test]
    fn recipients_and_identities_are_checked() {
        assert!(parse_recipient(&key_pair().1).is_ok());
        assert!(parse_recipient("age1notakey").is_err());
        assert!(
            parse_recipient("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN").is_ok()
        );
        assert!(parse_recipient("hello").err().unwrap().to_string().contains("neither"));
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("k");
        std::fs::write(&f, "not a key").unwrap();
        let e = Keys::none().set_identity_file(&f).unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
    }
}
