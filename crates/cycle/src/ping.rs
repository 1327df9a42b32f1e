//! The dead-man's switch: a monitor outside this machine (healthchecks.io,
//! Uptime Kuma, Cronitor…) expects `{ping_url}/start` when a cycle starts
//! and `{ping_url}` or `{ping_url}/fail` when it ends, and alerts when
//! neither comes: the only watcher that sees the whole machine go down.
//!
//! A failed cycle's ping is a POST whose body says why (healthchecks.io
//! shows it beside the failure), so whoever is paged reads the reason
//! without logging in to this machine.
//!
//! A ping never fails or holds up a backup: each request has a short
//! timeout and a few retries, all within [`DEADLINE`], and whatever goes
//! wrong is logged and forgotten.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::task::JoinHandle;

/// One request's timeout.
const TIMEOUT: Duration = Duration::from_secs(3);
/// All tries of one ping together.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The largest body a failure ping carries (healthchecks.io keeps 100 kB).
pub const MAX_BODY: usize = 10_000;

/// How the cycle ended, as the monitor hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked: GET `{ping_url}`.
    Success,
    /// Failed, partial, or an archive still owed: POST `{ping_url}/fail`
    /// with these words as the body.
    Fail(String),
}

/// The pings of one cycle.
pub struct Pinger {
    base: String,
    client: reqwest::Client,
    start: Option<JoinHandle<()>>,
}

impl Pinger {
    /// Sends `/start` in the background; None when no HTTP client can be
    /// built.
    pub fn start(ping_url: &reqwest::Url) -> Option<Pinger> {
        let base = ping_url.as_str().trim_end_matches('/').to_string();
        let client = match reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(same_origin_only))
            .referer(false)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("dead-man's switch off: cannot build an HTTP client: {e}");
                return None;
            }
        };
        let start = tokio::spawn(send(client.clone(), format!("{base}/start"), None));
        Some(Pinger { base, client, start: Some(start) })
    }

    /// Sends the end of the cycle, after `/start` went or gave up so the
    /// monitor sees them in order; both together within [`DEADLINE`].
    pub async fn finish(mut self, outcome: Outcome) {
        let (url, body) = match outcome {
            Outcome::Success => (self.base.clone(), None),
            Outcome::Fail(why) => (format!("{}/fail", self.base), Some(cut(why, MAX_BODY))),
        };
        let start = self.start.take();
        let both = async move {
            if let Some(start) = start {
                let _ = start.await;
            }
            send(self.client, url, body).await;
        };
        if tokio::time::timeout(DEADLINE, both).await.is_err() {
            tracing::warn!("the dead-man's switch got no answer within {DEADLINE:?}; the backup is not held up longer");
        }
    }
}

/// Follows a redirect only within the ping URL's own origin: the URL is the
/// monitor's secret, and a redirect elsewhere would hand it to another host.
fn same_origin_only(attempt: reqwest::redirect::Attempt) -> reqwest::redirect::Action {
    let first = attempt.previous().first().map(reqwest::Url::origin);
    if attempt.previous().len() > 5 || first != Some(attempt.url().origin()) {
        attempt.stop()
    } else {
        attempt.follow()
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// One ping (a GET, or a POST of `body` as plain text), retried on errors and non-2xx answers, within [`DEADLINE`].
/// The URL may carry the monitor's secret: no line here names it.
async fn send(client: reqwest::Client, url: String, body: Option<String>) {
    let once = || async {
        let request = match &body {
            None => client.get(&url),
            Some(text) => {
                client.post(&url).header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8").body(text.clone())
            }
        };
        request.send().await?.error_for_status()
    };
    let retried = once
        .retry(ExponentialBuilder::default().with_min_delay(Duration::from_millis(500)).with_max_times(2))
        .notify(|e: &reqwest::Error, wait| tracing::debug!("ping failed ({}); again in {wait:?}", what_failed(e)));
    match tokio::time::timeout(DEADLINE, retried).await {
        Ok(Ok(answer)) if answer.status().is_redirection() => tracing::warn!(
            "the dead-man's switch monitor answered with a redirect to {}, which is not followed (the ping URL is a \
             secret); set monitoring.ping_url to the monitor's own address",
            redirect_host(&answer)
        ),
        Ok(Ok(_)) => tracing::debug!("pinged the monitor"),
        Ok(Err(e)) => tracing::warn!("the dead-man's switch ping failed: {}", e.without_url()),
        Err(_) => tracing::warn!("the dead-man's switch ping got no answer within {DEADLINE:?}"),
    }
}

/// What went wrong, without the URL (reqwest's own words include it).
fn what_failed(e: &reqwest::Error) -> String {
    match e.status() {
        Some(status) => format!("answered {status}"),
        None if e.is_timeout() => "timed out".into(),
        None if e.is_connect() => "cannot connect".into(),
        None => "the request failed".into(),
    }
}

/// The host a redirect points to (never its path: that may be a secret too).
fn redirect_host(answer: &reqwest::Response) -> String {
    answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| answer.url().join(l).ok())
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "another address".into())
}
