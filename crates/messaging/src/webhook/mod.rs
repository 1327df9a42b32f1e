//! Alerts as HTTP POSTs to any endpoint (`[[destinations.webhook]]`): an
//! ntfy topic, a Slack-compatible incoming webhook, or any receiver of JSON
//! ([`mod@format`] writes each). A webhook carries alerts only, never archives.
//!
//! A 429 waits for `Retry-After` (at most a minute) and a 5xx or a network
//! error is retried per `[retry]`; another refusal is not retried. The URL
//! is a secret (whoever holds it can post): it never appears in logs,
//! errors or `Debug`, and a redirect is not followed.

pub mod format;
mod section;
pub use section::{WebhookConfig, WebhookFile, WebhookFormat, parse};

use std::time::Duration;

use backon::Retryable;
use lifeboat_core::config::{RetryConfig, SecretUrl};
use lifeboat_core::destination::{
    AlertError, Answer, BoxFuture, DestinationKind, Notifier, NotifierKind, Opened, Probe, ProbeContext, ProbeError,
    Surroundings,
};
use lifeboat_core::state::FailureCode;

use crate::connects;

/// A `Retry-After` longer than this is not sat out inside a cycle.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// One request's deadline.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What to fix when a webhook's host does not answer.
const FIX: &str = "check the URL in its url_file and this server's outbound network (firewall, DNS, proxy); alerts reach \
                   the other destinations meanwhile";

/// Opens every configured webhook: alerts, and its probe.
pub fn open_configured(section: &[WebhookConfig], around: &Surroundings, out: &mut Opened) {
    for webhook in WebhookDestination::from_config(section, around) {
        let webhook = std::sync::Arc::new(webhook);
        out.notifiers.push(webhook.clone());
        out.probes.push(webhook);
    }
}

/// One configured webhook.
pub struct WebhookDestination {
    name: String,
    format: WebhookFormat,
    /// The URL (a secret: never logged).
    url: SecretUrl,
    http: reqwest::Client,
    retry: RetryConfig,
    host: String,
}

impl std::fmt::Debug for WebhookDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDestination")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("url", &"[redacted]")
            .finish()
    }
}

/// One failed POST.
#[derive(Debug)]
struct PostError {
    error: AlertError,
    retry_after: Option<Duration>,
}

impl WebhookDestination {
    /// Every configured webhook with its URL; one whose HTTP client cannot
    /// be built is logged and left out.
    pub fn from_config(section: &[WebhookConfig], around: &Surroundings) -> Vec<WebhookDestination> {
        section.iter().filter_map(|w| WebhookDestination::new(w, &around.retry)).collect()
    }

    fn new(w: &WebhookConfig, retry: &RetryConfig) -> Option<WebhookDestination> {
        let url = w.url.clone()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|e| tracing::error!("{}: cannot set up HTTP: {}", w.id(), e.without_url()))
            .ok()?;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Some(WebhookDestination { name: w.name.clone(), format: w.format, url, http, retry: retry.clone(), host })
    }

    /// How logs and reports name it ("webhook:ops").
    pub fn id(&self) -> lifeboat_core::destination::DestinationId {
        lifeboat_core::destination::DestinationId::webhook(&self.name)
    }

    /// Whether its host resolves and takes a connection. Nothing is posted:
    /// a post would be an alert.
    async fn ask(&self, within: Duration) -> Result<String, ProbeError> {
        connects(self.url.expose(), within)
            .await
            .map(|said| format!("{said} (format {}; nothing was posted)", self.format.as_str()))
            .map_err(|e| ProbeError::new(FailureCode::Transient, e.to_string(), FIX))
    }

    /// Posts `text`, with retry.
    async fn post(&self, text: &str) -> Result<(), AlertError> {
        let req = format::request(self.format, text, &self.host);
        let attempt = || async {
            let mut request = self
                .http
                .post(self.url.expose().clone())
                .header(reqwest::header::CONTENT_TYPE, req.content_type)
                .body(req.body.clone());
            for (name, value) in &req.headers {
                request = request.header(*name, value.as_str());
            }
            let resp = request.send().await.map_err(|e| PostError {
                error: AlertError::transient(FailureCode::Transient, self.network_words(&e)),
                retry_after: None,
            })?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Err(self.refused(status, retry_after))
        };
        attempt
            .retry(self.retry.backoff())
            .when(|e: &PostError| !e.error.permanent && e.retry_after.is_none_or(|w| w <= LONGEST_WAIT))
            .adjust(|e: &PostError, d| d.map(|d| e.retry_after.unwrap_or(d)))
            .notify(|e: &PostError, d: Duration| {
                tracing::warn!(wait_ms = d.as_millis() as u64, "{}: {}; retrying in {d:?}", self.id(), e.error.message);
            })
            .await
            .map_err(|e| e.error)
    }

    /// What a refusal means.
    fn refused(&self, status: reqwest::StatusCode, retry_after: Option<Duration>) -> PostError {
        let id = self.id();
        let error = match status.as_u16() {
            429 => AlertError::transient(FailureCode::Transient, format!("{id}: rate limited (429 Too Many Requests)")),
            s if s >= 500 => {
                AlertError::transient(FailureCode::Transient, format!("{id}: the endpoint answered {status}"))
            }
            300..=399 => AlertError::permanent(
                FailureCode::Refused,
                format!(
                    "{id}: the endpoint answered with a redirect ({status}), which is not followed (the URL is a secret); put the final URL in url_file"
                ),
            ),
            401 | 403 | 404 | 410 => AlertError::permanent(
                FailureCode::BadCredentials,
                format!(
                    "{id}: the endpoint refused the webhook ({status}); the URL is wrong or was revoked: put the current one in url_file"
                ),
            ),
            _ => {
                AlertError::permanent(FailureCode::Refused, format!("{id}: the endpoint refused the alert ({status})"))
            }
        };
        PostError { error, retry_after: if status.as_u16() == 429 { retry_after } else { None } }
    }

    /// A network error in words, with the host but never the URL.
    fn network_words(&self, e: &reqwest::Error) -> String {
        let host = self.url.expose().host_str().unwrap_or("the endpoint");
        let mut words = if e.is_timeout() {
            format!("{}: {host} did not answer within {} s", self.id(), TIMEOUT.as_secs())
        } else {
            format!("{}: cannot reach {host}", self.id())
        };
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            words = format!("{words}: {s}");
            source = s.source();
        }
        words
    }
}

impl Probe for WebhookDestination {
    fn subject(&self) -> String {
        self.id().to_string()
    }

    fn probe<'a>(&'a self, ask: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>> {
        Box::pin(async move { self.ask(ask.within).await.map(Answer::Fine) })
    }
}

impl Notifier for WebhookDestination {
    fn kind(&self) -> NotifierKind {
        DestinationKind::Webhook.into()
    }

    fn has_recipients(&self) -> bool {
        true
    }

    fn alert<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        Box::pin(self.post(text))
    }
}
