//! How every Lifeboat binary logs: to stderr, filtered by `RUST_LOG`, else by
//! the binary's default. Under systemd, whose journal holds stderr, straight
//! to the journal instead, so each line keeps its priority (`journalctl -p
//! err` shows the errors) and carries no second timestamp or colour codes.
//! `LIFEBOAT_LOG_FORMAT=json` writes one JSON object per line to stderr
//! instead (for log shippers), wherever stderr goes.

use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Names the log format: `json`, or `text` (the default: the journal under
/// systemd, plain lines elsewhere).
pub const FORMAT_ENV: &str = "LIFEBOAT_LOG_FORMAT";

/// Installs the global subscriber once; later calls do nothing.
pub fn init(default_filter: &str) {
    let filter = || quiet_http(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)));
    let format = std::env::var(FORMAT_ENV).unwrap_or_default();
    if format == "json" {
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    if !matches!(format.as_str(), "" | "text") {
        eprintln!("warning: {FORMAT_ENV}={format:?} is not \"json\" or \"text\"; logging as text");
    }
    if stderr_is_journal()
        && let Ok(journal) = tracing_journald::layer()
    {
        let _ = tracing_subscriber::registry().with(filter()).with(journal).try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The HTTP client's own debug lines name the URLs they fetch, and some of
/// Lifeboat's URLs are secrets (the ping URL, the bot token in every Bot API
/// path, a webhook): those crates log at info at most, whatever `RUST_LOG`
/// asks.
const QUIET_HTTP: [&str; 4] = ["reqwest=info", "hyper=info", "hyper_util=info", "h2=info"];

fn quiet_http(filter: EnvFilter) -> EnvFilter {
    QUIET_HTTP.iter().filter_map(|d| d.parse().ok()).fold(filter, EnvFilter::add_directive)
}

/// systemd sets `JOURNAL_STREAM=DEVICE:INODE` for a service whose stderr is
/// connected to the journal; it is ours only if stderr is still that stream
/// (a shell started from the service has other stderr).
fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else { return false };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else { return false };
    names_stream(&stream, meta.dev(), meta.ino())
}

fn names_stream(stream: &str, dev: u64, ino: u64) -> bool {
    stream.split_once(':').is_some_and(|(d, i)| d.parse() == Ok(dev) && i.parse() == Ok(ino))
}

#[cfg(test)]
mod tests {
    use super::names_stream;

    #[test]
    fn journal_stream_must_name_this_stderr() {
        assert!(names_stream("8:12345", 8, 12345));
        assert!(!names_stream("8:12345", 8, 12346));
        assert!(!names_stream("9:12345", 8, 12345));
        assert!(!names_stream("garbage", 8, 12345));
        assert!(!names_stream("", 0, 0));
    }
}
