//! Whether a URL's host takes a connection, without sending anything: how
//! diagnose checks an endpoint where any request would count (a webhook's
//! post is an alert, a monitor's request is a ping).

use std::time::Duration;

/// Why a URL's host does not take a connection. The words name the host
/// and port, never the URL's path (often the secret).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A URL without a host (or a port its scheme implies).
    #[error("the URL names no host")]
    NoHost,
    /// The name lookup did not finish in time.
    #[error("{host} did not resolve within {} s", within.as_secs())]
    ResolveTimeout { host: String, within: Duration },
    /// The name does not resolve.
    #[error("{host} does not resolve: {source}")]
    Unresolved {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The name resolves to nothing.
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    /// The last address tried refused the connection.
    #[error("cannot connect to {host} ({addr}): {source}")]
    Refused {
        host: String,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The last address tried did not answer in time.
    #[error("{host} ({addr}) did not answer within {} s", within.as_secs())]
    Silent { host: String, addr: std::net::SocketAddr, within: Duration },
}

/// Whether `url`'s host resolves and one of its addresses takes a TCP
/// connection within `within`; the words name the host and port, never the
/// URL's path (often the secret). Nothing is sent.
pub async fn connects(url: &url::Url, within: Duration) -> Result<String, ConnectError> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(ConnectError::NoHost);
    };
    let addrs: Vec<_> = tokio::time::timeout(within, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| ConnectError::ResolveTimeout { host: host.to_string(), within })?
        .map_err(|source| ConnectError::Unresolved { host: host.to_string(), source })?
        .collect();
    let mut last = ConnectError::NoAddress { host: host.to_string() };
    for addr in addrs {
        match tokio::time::timeout(within, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(format!("{host} answers on port {port}")),
            Ok(Err(source)) => last = ConnectError::Refused { host: host.to_string(), addr, source },
            Err(_) => last = ConnectError::Silent { host: host.to_string(), addr, within },
        }
    }
    Err(last)
}
