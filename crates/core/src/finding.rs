//! One finding of `diagnose`: how bad, about what, what to do. A file of
//! its own, so that each kind of source can say what it found without
//! depending on the whole diagnosis.

use serde::Serialize;
use strum::IntoStaticStr;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    Ok,
    /// Works, but needs a look.
    Warn,
    /// Broken: backups are or will be missing something.
    Error,
}

impl Severity {
    /// "ok", "warn" or "error".
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One thing diagnose looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Severity,
    /// What it is about: a database name, "output_dir", "scheduler", ...
    pub subject: String,
    /// What was found.
    pub message: String,
    /// What to do about it, when something is to be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Finding {
    /// All is well with `subject`.
    pub fn ok(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { level: Severity::Ok, subject: subject.into(), message: message.into(), action: None }
    }
    /// `subject` works but needs a look; `action` says what to do.
    pub fn warn(subject: impl Into<String>, message: impl Into<String>, action: impl Into<String>) -> Self {
        Finding { level: Severity::Warn, subject: subject.into(), message: message.into(), action: Some(action.into()) }
    }
    /// `subject` is broken; `action` says what to do.
    pub fn error(subject: impl Into<String>, message: impl Into<String>, action: impl Into<String>) -> Self {
        Finding {
            level: Severity::Error,
            subject: subject.into(),
            message: message.into(),
            action: Some(action.into()),
        }
    }
}
