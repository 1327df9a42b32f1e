//! `[retry]`: how every destination retries inside one cycle.

use serde::Deserialize;

/// `[retry]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per delivery per cycle, at least 1.
    pub attempts: u32,
    /// First backoff delay.
    pub initial_delay_secs: u64,
    /// Backoff ceiling.
    pub max_delay_secs: u64,
}

impl RetryConfig {
    /// The backoff every destination retries with inside one cycle:
    /// exponential from `initial_delay_secs` to `max_delay_secs`, with
    /// jitter, `attempts` tries in all. The jitter is added on top of the
    /// delay, so each wait is capped again: no wait passes `max_delay_secs`.
    pub fn backoff(&self) -> impl backon::Backoff {
        use backon::BackoffBuilder;
        let ceiling = std::time::Duration::from_secs(self.max_delay_secs);
        backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_secs(self.initial_delay_secs))
            .with_max_delay(ceiling)
            .with_max_times(self.attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
            .map(move |wait| wait.min(ceiling))
    }
}
