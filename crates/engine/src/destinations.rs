//! The registry of the kinds of destination, the one place that lists
//! them: each kind's section in `[destinations]` (and the bots' tables at
//! the top), gathered here and gone through by the loading, which names no
//! kind itself, and how each kind opens what it configures. A kind's
//! section is parsed, read and checked by the kind's own folder.

use lifeboat_core::config::error::ConfigError;
use lifeboat_core::config::secret::SecretFile;
use lifeboat_core::destination::{DestinationId, Keep, Opened, Section, Surroundings};
use lifeboat_messaging::discord::DiscordConfig;
use lifeboat_messaging::discord::bot_section::{self as discord_bot, DiscordBotConfig};
use lifeboat_messaging::email::{self, EmailConfig};
use lifeboat_messaging::webhook::{self, WebhookConfig};
use lifeboat_s3::{S3Config, section as s3};

use lifeboat_telegram::TelegramConfig;

/// The sections the kinds of destination open from: `[destinations]`, the
/// bots' tables and `[telegram]`.
#[derive(Clone, Copy)]
pub struct Sections<'a> {
    pub destinations: &'a DestinationsConfig,
    pub bots: &'a Bots,
    pub telegram: &'a TelegramConfig,
}

/// Every kind of destination, one entry each: each opens its configured
/// destinations from its own section and the surroundings every kind gets
/// (see [`Opened`]). The order is the order the cycle hands archives and
/// alerts to them, and diagnose probes them.
type OpenKind = fn(Sections<'_>, &Surroundings, &mut Opened);
const KINDS: &[OpenKind] = &[
    |of, around, out| lifeboat_s3::open_configured(&of.destinations.s3, around, out),
    |of, around, out| {
        let (section, bot) = (&of.destinations.discord, &of.bots.discord);
        lifeboat_messaging::discord::open_configured(section, bot, around, out)
    },
    |of, around, out| lifeboat_messaging::email::open_configured(&of.destinations.email, around, out),
    |of, around, out| lifeboat_messaging::discord::dm::open_configured(&of.bots.discord, around, out),
    |of, around, out| lifeboat_telegram::destination::open_configured(of.telegram, around, out),
    |of, around, out| lifeboat_messaging::webhook::open_configured(&of.destinations.webhook, around, out),
];

/// Every destination `sections` configure, opened by its kind: the sinks
/// archives go to, the notifiers alerts go to, and what diagnose probes.
pub fn open(sections: Sections<'_>, around: &Surroundings) -> Opened {
    let mut out = Opened::default();
    for open_kind in KINDS {
        open_kind(sections, around, &mut out);
    }
    out
}

/// The top-level table `name` taken out of `top` and read as a `T`; an
/// error names the key at fault as it does for any other section.
fn take_table<T: serde::de::DeserializeOwned>(
    top: &mut config::Map<String, config::Value>,
    name: &str,
) -> Result<T, config::ConfigError> {
    let value =
        top.remove(name).unwrap_or_else(|| config::Value::new(None, config::Map::<String, config::Value>::new()));
    let one: config::Map<String, T> =
        config::Value::new(None, config::Map::from([(name.to_string(), value)])).try_deserialize()?;
    Ok(one.into_values().next().expect("the one table"))
}

/// `[[destinations.*]]`: where archives go besides the Telegram admins,
/// and who else hears alerts. Each field is one kind's section, parsed,
/// read and checked by the kind's own folder.
#[derive(Debug, Clone, Default)]
pub struct DestinationsConfig {
    pub s3: Vec<S3Config>,
    pub discord: DiscordConfig,
    pub email: EmailConfig,
    /// Alerts only: a webhook carries no archives.
    pub webhook: Vec<WebhookConfig>,
}

/// `[destinations]` as written, see [`DestinationsConfig`].
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestinationsFile {
    #[serde(default)]
    s3: Vec<s3::S3File>,
    #[serde(default)]
    discord: DiscordConfig,
    #[serde(default)]
    email: email::EmailFile,
    #[serde(default)]
    webhook: Vec<webhook::WebhookFile>,
}

impl DestinationsFile {
    /// Each kind's section parsed from its table, once, at load.
    pub(crate) fn parse(self) -> Result<DestinationsConfig, ConfigError> {
        Ok(DestinationsConfig {
            s3: s3::parse(self.s3)?,
            discord: self.discord,
            email: self.email.parse()?,
            webhook: webhook::parse(self.webhook)?,
        })
    }
}

/// The sections a kind of destination has outside `[destinations]`, at the
/// top of the configuration: the bots it runs. Each is read, checked and
/// given its secrets through the `Section` trait, like the destinations' own.
#[derive(Debug, Clone)]
pub struct Bots {
    /// `[discord]`: the Discord bot (`lifeboat-discord`).
    pub discord: DiscordBotConfig,
}

/// [`Bots`] as written.
pub(crate) struct BotsFile {
    discord: discord_bot::DiscordFile,
}

impl Bots {
    /// Their tables' names, at the top of the configuration.
    pub(crate) fn tables() -> impl Iterator<Item = &'static str> {
        [discord_bot::TABLE].into_iter()
    }

    /// Their keys holding lists of whole numbers.
    pub(crate) fn int_lists() -> impl Iterator<Item = &'static str> {
        discord_bot::INT_LISTS.iter().copied()
    }

    fn sections(&self) -> [&dyn Section; 1] {
        [&self.discord]
    }

    /// The files holding their secrets.
    pub(crate) fn secret_files(&self) -> Vec<SecretFile> {
        self.sections().iter().flat_map(|s| s.secret_files()).collect()
    }

    /// Checks them but for their secrets.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.sections().iter().try_for_each(|s| s.validate())
    }

    /// Reads their secrets (see [`Section::resolve_secrets`]).
    pub(crate) fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        [&mut self.discord as &mut dyn Section].into_iter().try_for_each(|s| s.resolve_secrets(&mut *keep))
    }
}

impl BotsFile {
    /// Takes their tables out of the configuration's `top` level, whose
    /// other sections are the engine's.
    pub(crate) fn take(top: &mut config::Map<String, config::Value>) -> Result<BotsFile, config::ConfigError> {
        Ok(BotsFile { discord: take_table(top, discord_bot::TABLE)? })
    }

    /// Each parsed from its table, once, at load.
    pub(crate) fn parse(self) -> Result<Bots, ConfigError> {
        Ok(Bots { discord: self.discord.parse()? })
    }
}

impl DestinationsConfig {
    /// Every kind's section: the registry the loading goes through, in
    /// the order secrets are listed and read and sections checked.
    fn sections(&self) -> [&dyn Section; 4] {
        [&self.s3, &self.discord, &self.email, &self.webhook]
    }

    fn sections_mut(&mut self) -> [&mut dyn Section; 4] {
        [&mut self.s3, &mut self.discord, &mut self.email, &mut self.webhook]
    }

    /// The files holding every kind's secrets.
    pub(crate) fn secret_files(&self) -> Vec<SecretFile> {
        self.sections().iter().flat_map(|s| s.secret_files()).collect()
    }

    /// Checks every kind's section but for its secrets.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.sections().iter().try_for_each(|s| s.validate())
    }

    /// Reads every kind's secrets (see [`Section::resolve_secrets`]).
    pub(crate) fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        self.sections_mut().into_iter().try_for_each(|s| s.resolve_secrets(&mut *keep))
    }

    /// The outbox id of every configured destination besides Telegram, in
    /// the order reports list them.
    pub fn ids(&self) -> Vec<DestinationId> {
        self.sections().iter().flat_map(|s| s.ids()).collect()
    }

    /// The ids of the configured buckets, as written (`s3:NAME`): the
    /// stores that keep a copy of every archive and every continuous
    /// increment, for those who point people to them.
    pub fn store_ids(&self) -> Vec<String> {
        self.s3.iter().map(|s3| s3.id().to_string()).collect()
    }
}
