//! [`DestinationId`]: how the outbox, reports, alerts and logs name one
//! configured destination ("telegram", "s3:offsite", "email"). One parser
//! and one formatter, so the form stored in the state database and the form
//! people read cannot drift apart.

use std::fmt;
use std::str::FromStr;

/// The kinds of destination, as their ids begin.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum DestinationKind {
    /// The bot's admins.
    Telegram,
    /// An S3-compatible bucket; one of several, so it has a name.
    S3,
    /// A Discord channel's webhook.
    Discord,
    /// Mail through an SMTP relay.
    Email,
    /// Alerts as HTTP POSTs; one of several, so it has a name.
    Webhook,
}

impl DestinationKind {
    /// As ids and logs spell it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether more than one of this kind can be configured, each by a name.
    pub(crate) fn is_named(self) -> bool {
        matches!(self, DestinationKind::S3 | DestinationKind::Webhook)
    }

    /// Its table in the configuration, as written there: `[[destinations.KIND]]`
    /// for a kind there may be several of, else `[destinations.KIND]`; None
    /// for Telegram, whose section is `[telegram]`.
    pub fn table(self) -> Option<String> {
        match self {
            DestinationKind::Telegram => None,
            kind if kind.is_named() => Some(format!("[[destinations.{}]]", kind.as_str())),
            kind => Some(format!("[destinations.{}]", kind.as_str())),
        }
    }

    /// The tables of every kind that has one, in the registry's order.
    pub fn tables() -> Vec<String> {
        <DestinationKind as strum::VariantArray>::VARIANTS.iter().filter_map(|k| k.table()).collect()
    }
}

/// One configured destination: its kind, and its name where the kind can
/// be configured more than once. Written `kind` or `kind:name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationId {
    kind: DestinationKind,
    name: Option<String>,
}

impl DestinationId {
    /// The Telegram admins.
    pub const TELEGRAM: DestinationId = DestinationId { kind: DestinationKind::Telegram, name: None };
    /// The Discord channel.
    pub const DISCORD: DestinationId = DestinationId { kind: DestinationKind::Discord, name: None };
    /// The mailboxes.
    pub const EMAIL: DestinationId = DestinationId { kind: DestinationKind::Email, name: None };

    /// The bucket configured as `[[destinations.s3]] name`.
    pub fn s3(name: &str) -> DestinationId {
        DestinationId { kind: DestinationKind::S3, name: Some(name.to_string()) }
    }

    /// The webhook configured as `[[destinations.webhook]] name`.
    pub fn webhook(name: &str) -> DestinationId {
        DestinationId { kind: DestinationKind::Webhook, name: Some(name.to_string()) }
    }

    pub fn kind(&self) -> DestinationKind {
        self.kind
    }

    /// The configured name, for the kinds that have one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What people call it on a command line: its name, or its kind where
    /// it has none (`offsite`, `email`).
    pub fn word(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.as_str())
    }
}

impl fmt::Display for DestinationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        match &self.name {
            Some(name) => write!(f, ":{name}"),
            None => Ok(()),
        }
    }
}

/// What carries an alert, as logs and reports name it: a kind of
/// destination, or the Discord bot's direct messages to its owner, which
/// carry alerts and no archives and so are no destination of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifierKind {
    /// A configured destination of this kind.
    Destination(DestinationKind),
    /// The Discord bot's direct messages to its owner (`discord-dm`).
    DiscordOwner,
}

impl NotifierKind {
    /// As logs and reports spell it ("telegram", "discord-dm").
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Destination(kind) => kind.as_str(),
            NotifierKind::DiscordOwner => "discord-dm",
        }
    }
}

impl From<DestinationKind> for NotifierKind {
    fn from(kind: DestinationKind) -> NotifierKind {
        NotifierKind::Destination(kind)
    }
}

impl fmt::Display for NotifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not a destination id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a destination: write telegram, discord, email, s3:NAME or webhook:NAME")]
pub struct BadDestinationId {
    pub text: String,
}

impl FromStr for DestinationId {
    type Err = BadDestinationId;

    fn from_str(text: &str) -> Result<DestinationId, BadDestinationId> {
        let bad = || BadDestinationId { text: text.to_string() };
        let (kind, name) = match text.split_once(':') {
            Some((kind, name)) => (kind, Some(name)),
            None => (text, None),
        };
        let kind: DestinationKind = kind.parse().map_err(|_| bad())?;
        match name {
            Some(name) if kind.is_named() && !name.is_empty() => {
                Ok(DestinationId { kind, name: Some(name.to_string()) })
            }
            None if !kind.is_named() => Ok(DestinationId { kind, name: None }),
            _ => Err(bad()),
        }
    }
}

/// In JSON as it is written: `"s3:offsite"`.
impl serde::Serialize for DestinationId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl PartialEq<str> for DestinationId {
    fn eq(&self, text: &str) -> bool {
        match (&self.name, text.split_once(':')) {
            (None, None) => self.kind.as_str() == text,
            (Some(name), Some((kind, n))) => self.kind.as_str() == kind && name == n,
            _ => false,
        }
    }
}

impl PartialEq<&str> for DestinationId {
    fn eq(&self, text: &&str) -> bool {
        self == *text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_reads_back_as_written() {
        for id in [
            DestinationId::TELEGRAM,
            DestinationId::DISCORD,
            DestinationId::EMAIL,
            DestinationId::s3("offsite"),
            DestinationId::webhook("ops:night"),
        ] {
            let text = id.to_string();
            assert_eq!(text.parse::<DestinationId>(), Ok(id.clone()), "{text}");
            assert!(id == *text.as_str(), "{text}");
        }
        assert_eq!(DestinationId::s3("offsite").to_string(), "s3:offsite");
        assert_eq!(DestinationId::TELEGRAM.to_string(), "telegram");
    }

    #[test]
    fn each_kind_but_telegram_has_its_table_an_array_where_it_has_names() {
        assert_eq!(
            DestinationKind::tables(),
            ["[[destinations.s3]]", "[destinations.discord]", "[destinations.email]", "[[destinations.webhook]]"]
        );
    }

    #[test]
    fn a_kind_without_its_name_or_with_one_it_cannot_have_is_refused() {
        for text in ["s3", "s3:", "webhook", "telegram:x", "ftp:x", "", "Telegram"] {
            assert!(text.parse::<DestinationId>().is_err(), "{text}");
        }
    }
}
