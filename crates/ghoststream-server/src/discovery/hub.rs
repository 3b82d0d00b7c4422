//! Push registration with a GhostHub: `POST <hub>/api/ghoststream/servers/register` at
//! start, every `register_interval`, and on demand, backing off on failure;
//! `…/unregister {name}` on stop. Also the rendezvous announce.

use ghoststream_types::Registration;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// The local address that routes to `hub_url`'s host (no packet is sent).
pub fn local_address_for(hub_url: &str) -> Option<IpAddr> {
    let rest = hub_url.split_once("://").map(|x| x.1).unwrap_or(hub_url);
    let authority = rest.split(['/', '?', '#']).next()?;
    let with_port = if authority
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let target: SocketAddr = with_port.to_socket_addrs().ok()?.find(|a| a.is_ipv4())?;
    let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect(target).ok()?;
    sock.local_addr().ok().map(|a| a.ip())
}

pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339()
}

/// POSTs `body` to `url` through the egress proxy (`client`), so that the hub's address
/// is judged by the egress rule on every connection; the outcome as a [`Registration`].
pub async fn post(client: Option<reqwest::Client>, url: &str, body: &Value) -> Registration {
    let detail = match client {
        None => Err("no HTTP client".to_string()),
        Some(c) => match c.post(url).json(body).send().await {
            Ok(r)
                if r.status() == reqwest::StatusCode::FORBIDDEN
                    && r.headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain")) =>
            {
                // The egress proxy's refusal carries its reason.
                Err(r.text().await.unwrap_or_else(|_| "HTTP 403".into()))
            }
            Ok(r) if r.status().is_success() => Ok(format!("HTTP {}", r.status().as_u16())),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(e) if e.is_connect() => Err("cannot connect".to_string()),
            Err(e) if e.is_timeout() => Err("timed out".to_string()),
            Err(e) => Err(e.to_string()),
        },
    };
    let (ok, detail) = match detail {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Registration {
        at: now_iso(),
        ok,
        detail,
        target: url.to_string(),
    }
}

pub fn register_url(hub: &str) -> String {
    format!(
        "{}/api/ghoststream/servers/register",
        hub.trim_end_matches('/')
    )
}

pub fn unregister_url(hub: &str) -> String {
    format!(
        "{}/api/ghoststream/servers/unregister",
        hub.trim_end_matches('/')
    )
}

/// Delay before the next try after `failures` failures in a row: 5 s doubling, at most
/// the normal interval.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    if failures == 0 {
        return interval;
    }
    let d = Duration::from_secs(5u64.saturating_mul(1u64 << (failures - 1).min(10)));
    d.min(interval).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_interval() {
        let i = Duration::from_secs(300);
        let v: Vec<u64> = (0..8).map(|f| backoff(f, i).as_secs()).collect();
        assert_eq!(v, [300, 5, 10, 20, 40, 80, 160, 300]);
    }

    #[test]
    fn routes_to_loopback() {
        assert_eq!(
            local_address_for("http://127.0.0.1:5000/x"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(local_address_for("not a url"), None);
        assert_eq!(
            register_url("http://hub:5000/"),
            "http://hub:5000/api/ghoststream/servers/register"
        );
    }
}
