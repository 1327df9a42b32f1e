//! Talking to Discord: the REST client and the gateway shard, both pointed
//! at `discord.api_url`, and answering interactions.
//!
//! Rate limits are twilight's: it waits out each route's bucket from the
//! `X-RateLimit-*` headers, keeps under the global 50 requests a second, and
//! sends a request that got a 429 again after its `retry_after`. A 5xx or a
//! lost connection is retried here, a few times with backoff.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use lifeboat_messaging::discord::DiscordBotConfig;
use serde_json::{Value, json};
use twilight_gateway::{ConfigBuilder, Intents, Shard, ShardId};
use twilight_http::Client;
use twilight_http::error::ErrorType;
use twilight_model::application::interaction::Interaction;
use twilight_model::channel::message::{Component, MessageFlags};
use twilight_model::http::interaction::{InteractionResponse, InteractionResponseData, InteractionResponseType};
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;

use crate::App;

/// Why the bot cannot talk to Discord.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `discord.api_url` cannot be used.
    #[error(
        "discord.api_url {url:?}: {why}; use \"https://discord.com/api\", or a local proxy's \"http://HOST:PORT/api\""
    )]
    ApiUrl {
        /// The URL configured.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Asking the API for the gateway's address failed.
    #[error(
        "cannot ask {api} for the gateway's address (GET /gateway/bot); check discord.token_file, discord.api_url and the network"
    )]
    Gateway {
        /// The API asked.
        api: String,
        #[source]
        source: twilight_http::Error,
    },
    /// The answer did not parse.
    #[error("{api} answered GET /gateway/bot with something that is not a gateway address")]
    GatewayBody {
        /// The API asked.
        api: String,
        #[source]
        source: twilight_http::response::DeserializeBodyError,
    },
}

/// The REST client for `cfg`: Discord itself, or the host `api_url` names
/// (twilight adds `/api/v10`, so the URL's path must be `/api`).
pub fn http_client(cfg: &DiscordBotConfig) -> Result<Client, ConnectError> {
    let url = &cfg.api_url;
    let bad = |why| ConnectError::ApiUrl { url: url.to_string(), why };
    if url.path().trim_end_matches('/') != "/api" {
        return Err(bad("its path must be /api (the client adds the version, /api/v10)"));
    }
    let builder = Client::builder().token(cfg.token.expose().to_string()).timeout(Duration::from_secs(30));
    if is_official(cfg) {
        return Ok(builder.build());
    }
    let host = url.host_str().ok_or_else(|| bad("it names no host"))?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok(builder.proxy(host, url.scheme() == "http").build())
}

/// Whether `api_url` is Discord's own API.
pub fn is_official(cfg: &DiscordBotConfig) -> bool {
    cfg.api_url.host_str() == Some("discord.com") && cfg.api_url.scheme() == "https"
}

/// The gateway shard: Discord's own gateway for Discord's API; otherwise
/// the gateway the configured API names (`GET /gateway/bot`). No intents:
/// slash commands and buttons arrive without any.
pub async fn shard(cfg: &DiscordBotConfig, http: &Client) -> Result<Shard, ConnectError> {
    let mut config = ConfigBuilder::new(cfg.token.expose().to_string(), Intents::empty());
    if !is_official(cfg) {
        let api = cfg.api_url.to_string();
        let info =
            http.gateway().authed().await.map_err(|source| ConnectError::Gateway { api: api.clone(), source })?;
        let info = info.model().await.map_err(|source| ConnectError::GatewayBody { api, source })?;
        config = config.proxy_url(info.url);
    }
    Ok(Shard::with_config(ShardId::ONE, config.build()))
}

/// Discord's epoch (2015-01-01T00:00:00Z), in Unix milliseconds.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// When Discord made the object with this id: a snowflake holds its time
/// (milliseconds since Discord's epoch, above bit 22). Confirmations are
/// timed by it, so they expire by Discord's clock, whatever this machine's
/// says and however late the event arrives.
pub fn snowflake_time(id: u64) -> chrono::DateTime<chrono::Utc> {
    let ms = (id >> 22) as i64 + DISCORD_EPOCH_MS;
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Whether a failed request is worth sending again: a 5xx, a timeout or a
/// lost connection. A 4xx is final (a 429 twilight already waited out). An
/// error body that is not Discord's JSON is a proxy's page (Cloudflare's
/// 502): worth another try too.
pub fn retryable(e: &twilight_http::Error) -> bool {
    match e.kind() {
        ErrorType::Response { status, .. } => status.is_server_error(),
        ErrorType::RequestError | ErrorType::RequestTimedOut | ErrorType::Parsing { .. } => true,
        _ => false,
    }
}

/// The HTTP status of a refused request, if it was one.
pub fn status(e: &twilight_http::Error) -> Option<u16> {
    match e.kind() {
        ErrorType::Response { status, .. } => Some(status.get()),
        _ => None,
    }
}

/// The backoff of a request retried here: 4 tries within about 8 s.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(4))
        .with_max_times(3)
        .with_jitter()
}

/// A message: text, flags (64: ephemeral) and components, in Discord's
/// wire shape.
#[derive(Debug, Clone, Default)]
pub struct Say {
    pub content: String,
    pub ephemeral: bool,
    /// Button rows; None leaves the message's as they are when editing.
    pub components: Option<Vec<Component>>,
}

impl Say {
    /// An ephemeral text.
    pub fn private(content: impl Into<String>) -> Say {
        Say { content: content.into(), ephemeral: true, components: None }
    }

    /// The same text with these buttons.
    pub fn with_buttons(mut self, buttons: Vec<Component>) -> Say {
        self.components = Some(buttons);
        self
    }

    /// The same text with its buttons removed.
    pub fn without_buttons(mut self) -> Say {
        self.components = Some(Vec::new());
        self
    }

    fn data(&self) -> InteractionResponseData {
        InteractionResponseData {
            content: Some(crate::text::clip(&self.content, crate::text::MAX_MESSAGE)),
            flags: self.ephemeral.then_some(MessageFlags::EPHEMERAL),
            components: self.components.clone(),
            ..Default::default()
        }
    }
}

/// One row of buttons: (custom id, label, style: 1 primary, 2 secondary,
/// 4 danger).
pub fn buttons(row: &[(&str, &str, u8)]) -> Vec<Component> {
    let components: Vec<Value> = row
        .iter()
        .map(|(id, label, style)| json!({ "type": 2, "custom_id": id, "label": label, "style": style }))
        .collect();
    let row = json!({ "type": 1, "components": components });
    vec![serde_json::from_value(row).expect("a row of buttons in Discord's shape")]
}

impl App {
    /// Answers `interaction` at once (the 3-second acknowledgement).
    pub async fn reply(&self, interaction: &Interaction, say: Say) {
        self.respond(interaction, InteractionResponseType::ChannelMessageWithSource, Some(say.data())).await;
    }

    /// Acknowledges `interaction` with "thinking…", to edit later with
    /// [`App::edit`] (within the token's 15 minutes).
    pub async fn defer(&self, interaction: &Interaction, ephemeral: bool) {
        let data =
            InteractionResponseData { flags: ephemeral.then_some(MessageFlags::EPHEMERAL), ..Default::default() };
        self.respond(interaction, InteractionResponseType::DeferredChannelMessageWithSource, Some(data)).await;
    }

    /// Answers a button press by changing the message it is on.
    pub async fn update(&self, interaction: &Interaction, say: Say) {
        self.respond(interaction, InteractionResponseType::UpdateMessage, Some(say.data())).await;
    }

    async fn respond(
        &self,
        interaction: &Interaction,
        kind: InteractionResponseType,
        data: Option<InteractionResponseData>,
    ) {
        let response = InteractionResponse { kind, data };
        let client = self.http.interaction(self.application_id);
        // Retried only briefly: past 3 s Discord refuses the acknowledgement.
        let sent = (|| async { client.create_response(interaction.id, &interaction.token, &response).await })
            .retry(ExponentialBuilder::default().with_min_delay(Duration::from_millis(200)).with_max_times(2))
            .when(retryable)
            .await;
        if let Err(e) = sent {
            tracing::warn!("cannot answer an interaction: {e}");
        }
    }

    /// Edits the original answer to the interaction with `token`. Returns
    /// false when it could not (the token expired after 15 minutes, or
    /// Discord kept failing).
    pub async fn edit(&self, token: &str, say: &Say) -> bool {
        let client = self.http.interaction(self.application_id);
        let content = crate::text::clip(&say.content, crate::text::MAX_MESSAGE);
        let sent = (|| async {
            client.update_response(token).content(Some(&content)).components(say.components.as_deref()).await
        })
        .retry(backoff())
        .when(retryable)
        .await;
        match sent {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("cannot edit an answer: {e}");
                false
            }
        }
    }

    /// Sends `text` to `user` as a direct message.
    pub async fn dm(&self, user: Id<UserMarker>, text: &str) -> Result<(), DmError> {
        let content = crate::text::clip(text, crate::text::MAX_MESSAGE);
        let opened = (|| async { self.http.create_private_channel(user).await })
            .retry(backoff())
            .when(retryable)
            .await
            .map_err(|source| DmError::Open { user: user.get(), source })?;
        let channel = opened.model().await.map_err(|source| DmError::Parse { user: user.get(), source })?;
        (|| async { self.http.create_message(channel.id).content(&content).await })
            .retry(backoff())
            .when(retryable)
            .await
            .map_err(|source| DmError::Send { user: user.get(), source })?;
        Ok(())
    }
}

/// Why a direct message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum DmError {
    /// Opening the DM channel failed.
    #[error("cannot open a direct message channel with user {user}; they may share no server with the bot")]
    Open {
        user: u64,
        #[source]
        source: twilight_http::Error,
    },
    /// Discord's answer was not a channel.
    #[error("Discord's answer to opening a direct message with user {user} did not parse")]
    Parse {
        user: u64,
        #[source]
        source: twilight_http::response::DeserializeBodyError,
    },
    /// Posting the message failed.
    #[error("cannot send a direct message to user {user}; they may have DMs from server members turned off")]
    Send {
        user: u64,
        #[source]
        source: twilight_http::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snowflake_tells_its_time() {
        // Discord's documented example: 175928847299117063 is 2016-04-30 11:18:25.796 UTC.
        let t = snowflake_time(175_928_847_299_117_063);
        assert_eq!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "2016-04-30T11:18:25.796Z");
    }
}
