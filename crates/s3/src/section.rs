//! `[[destinations.s3]]`: the typed section, its parse from the file, the
//! secret key it reads and its checks.

use std::path::PathBuf;

use serde::Deserialize;

use lifeboat_core::config::error::{ConfigError, invalid};
use lifeboat_core::config::secret::{Secret, SecretFile, SecretProblem};
use lifeboat_core::config::value::{MAX_TIMEOUT_SECS, http_url};
use lifeboat_core::destination::{DestinationId, Keep, Section};

/// One `[[destinations.s3]]`: an S3-compatible bucket (AWS, MinIO,
/// SeaweedFS, R2, B2). Its Debug shows no secret: [`Secret`]
/// never does.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Its name, for `fetch`, `list --remote` and reports.
    pub name: String,
    /// The service's http(s) URL; None (`""`) = AWS itself.
    pub endpoint: Option<url::Url>,
    /// The bucket (it must exist).
    pub bucket: String,
    /// Prepended to each archive's name to make its key.
    pub prefix: String,
    /// The region ("us-east-1" where the service has none).
    pub region: String,
    /// The access key id; "" = `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// The file holding the secret access key; "" = `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key_file: std::path::PathBuf,
    /// The secret access key, from the file or the environment.
    pub secret_access_key: Secret,
    /// How long one request to the store may take: a listing page, or one
    /// part of an upload (parts are 8 MiB, so a large archive is not bound
    /// by it as a whole). Connecting has its own 10 s.
    pub timeout_secs: u64,
}

impl S3Config {
    /// Where the store answers, as a client library takes it (no trailing
    /// `/`, which would double in the bucket's path); None: AWS itself.
    pub fn endpoint_text(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|u| u.as_str().trim_end_matches('/'))
    }

    /// Its id in the off-site outbox.
    pub fn id(&self) -> DestinationId {
        DestinationId::s3(&self.name)
    }
}

const KEY: &str = "destinations.s3";

/// One `[[destinations.s3]]` as written, see [`S3Config`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3File {
    name: String,
    #[serde(default)]
    endpoint: String,
    bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    secret_access_key_file: PathBuf,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_timeout() -> u64 {
    300
}

fn default_region() -> String {
    "us-east-1".to_string()
}

/// Every bucket, each with a plain name of its own.
pub fn parse(files: Vec<S3File>) -> Result<Vec<S3Config>, ConfigError> {
    let mut s3: Vec<S3Config> = Vec::new();
    for file in files {
        if !lifeboat_core::manifest::is_plain_name(&file.name) || s3.iter().any(|other| other.name == file.name) {
            return Err(invalid(
                KEY,
                format!("name {:?} must be a plain name of its own, e.g. \"offsite\"", file.name),
            ));
        }
        s3.push(file.parse()?);
    }
    Ok(s3)
}

impl S3File {
    /// The bucket, endpoint and prefix checked; the secret key is read
    /// later, with the other secrets.
    fn parse(self) -> Result<S3Config, ConfigError> {
        let name = &self.name;
        if self.bucket.trim().is_empty() {
            return Err(invalid(KEY, format!("\"{name}\": bucket is empty; name an existing bucket")));
        }
        let endpoint = match self.endpoint.as_str() {
            "" => None,
            text => Some(http_url(text).ok_or_else(|| {
                invalid(
                    KEY,
                    format!("\"{name}\": endpoint {text:?} is not an http(s) URL, e.g. \"http://127.0.0.1:8333\""),
                )
            })?),
        };
        if self.prefix.starts_with('/') {
            return Err(invalid(KEY, format!("\"{name}\": prefix must not start with '/'")));
        }
        Ok(S3Config {
            name: self.name,
            endpoint,
            bucket: self.bucket,
            prefix: self.prefix,
            region: self.region,
            access_key_id: self.access_key_id,
            secret_access_key_file: self.secret_access_key_file,
            secret_access_key: Secret::default(),
            timeout_secs: self.timeout_secs,
        })
    }
}

impl Section for S3Config {
    fn secret_files(&self) -> Vec<SecretFile> {
        vec![SecretFile {
            key: "destinations.s3.secret_access_key_file",
            owner: Some(self.name.clone()),
            path: self.secret_access_key_file.clone(),
        }]
    }

    fn ids(&self) -> Vec<DestinationId> {
        vec![self.id()]
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_TIMEOUT_SECS).contains(&self.timeout_secs) {
            return Err(invalid(
                KEY,
                format!(
                    "\"{}\": timeout_secs is {}; allowed: 1 to {MAX_TIMEOUT_SECS} seconds",
                    self.name, self.timeout_secs
                ),
            ));
        }
        Ok(())
    }

    /// The bucket's keys: the files named, else the standard AWS
    /// environment variables.
    fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        let d = self;
        if d.access_key_id.is_empty() {
            d.access_key_id = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
        }
        let secret = if !d.secret_access_key_file.as_os_str().is_empty() {
            let file = &d.secret_access_key_file;
            std::fs::read_to_string(file).map(|text| Some(Secret::new(text.trim()))).map_err(|e| {
                invalid(KEY, format!("\"{}\": cannot read secret_access_key_file {}: {e}", d.name, file.display()))
            })
        } else {
            Ok(std::env::var("AWS_SECRET_ACCESS_KEY").ok().map(|v| Secret::new(v.trim())))
        };
        let keys = secret.and_then(|secret| {
            let secret = secret.unwrap_or_default();
            if d.access_key_id.is_empty() || secret.is_empty() {
                return Err(invalid(
                    KEY,
                    format!(
                        "\"{}\": needs access_key_id and secret_access_key_file (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                        d.name
                    ),
                ));
            }
            Ok(secret)
        });
        match keys {
            Ok(secret) => d.secret_access_key = secret,
            Err(error) => keep(SecretProblem::of(&d.name, error))?,
        }
        Ok(())
    }
}
