//! Where this server may send requests on a client's behalf: sources, subtitle URLs and
//! callbacks. Any LAN or internet address is fine; loopback, link-local (cloud metadata
//! included), unspecified, multicast and broadcast addresses are refused unless
//! `security.allowed_targets` lists them, and this server's own listener is always refused.
//! Redirects are followed here, hop by hop under the same rule, and the final URL,
//! re-serialised, is what ffmpeg gets, with `-max_redirects 0` so that it cannot be led
//! anywhere else. A name that does not resolve is refused.
//!
//! The check at request time gives clear 422 answers; the one that holds is in [`proxy`]:
//! every connection ffmpeg, ffprobe and our own HTTP client make goes through it and is
//! judged again as it is made, to the address that was judged.

pub mod proxy;

use ghoststream_media::source::Source;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// Why a target was refused. `code()` is the stable field error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{host} is {addr}, a {kind} address; list it in security.allowed_targets to allow it")]
    Forbidden {
        host: String,
        addr: IpAddr,
        kind: &'static str,
    },
    #[error("{host}:{port} is this server's own API")]
    OwnApi { host: String, port: u16 },
    #[error("a redirect led to {0}, which is not an http(s) URL")]
    RedirectScheme(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("URL is malformed: {0}")]
    Malformed(String),
    #[error("{0} does not resolve to an address")]
    Unresolvable(String),
}

impl Refusal {
    pub fn code(&self) -> ghoststream_types::ErrorCode {
        ghoststream_types::ErrorCode::SourceNotAllowed
    }
}

const MAX_REDIRECTS: usize = 8;

/// An address block: `127.0.0.0/8`, `::1/128`, or a bare address (one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{s}' is not an address or address/prefix"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': prefix must be 0–{max}"))?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The kind of address we refuse by default, or `None` for an ordinary LAN/internet one.
pub fn restricted_kind(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(a) => {
            if a.is_loopback() {
                Some("loopback")
            } else if a.is_link_local() {
                Some("link-local")
            } else if a.is_unspecified() {
                Some("unspecified")
            } else if a.is_multicast() || a == Ipv4Addr::BROADCAST {
                Some("multicast or broadcast")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if a.is_loopback() {
                Some("loopback")
            } else if a.is_unspecified() {
                Some("unspecified")
            } else if a.is_multicast() {
                Some("multicast")
            } else if a.segments()[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

/// Whether `ip` is an address of this machine (binding to it succeeds only then).
fn is_own_address(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    ip.is_loopback()
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The policy for outgoing requests, and the client that follows redirects under it.
pub struct Egress {
    allowed: std::sync::RwLock<Vec<Cidr>>,
    own_port: AtomicU16,
    /// Built on first use: an idle server holds no HTTP client.
    client: std::sync::OnceLock<Option<reqwest::Client>>,
    /// The egress proxy, once it listens.
    proxy: std::sync::OnceLock<SocketAddr>,
    /// Bytes fetched through the proxy (sources, subtitles), for `/metrics`.
    pub(crate) bytes_in: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Egress {
    pub fn new(allowed: Vec<Cidr>) -> Egress {
        Egress {
            allowed: std::sync::RwLock::new(allowed),
            own_port: AtomicU16::new(0),
            client: std::sync::OnceLock::new(),
            proxy: std::sync::OnceLock::new(),
            bytes_in: Default::default(),
        }
    }

    /// Bytes fetched through the egress proxy since the start.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records where the egress proxy listens; clients built afterwards use it.
    pub fn set_proxy(&self, addr: SocketAddr) {
        let _ = self.proxy.set(addr);
    }

    /// `http://127.0.0.1:<port>`, for ffmpeg's `-http_proxy`.
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy.get().map(|a| format!("http://{a}"))
    }

    /// Replaces the allowed address blocks (a settings change).
    pub fn set_allowed(&self, allowed: Vec<Cidr>) {
        if let Ok(mut a) = self.allowed.write() {
            *a = allowed;
        }
    }

    /// The port this server listens on (0: not listening).
    pub fn set_own_port(&self, port: u16) {
        self.own_port.store(port, Ordering::Relaxed);
    }

    /// A client that follows no redirects and connects only through the egress proxy
    /// (none at all before the proxy listens).
    pub fn client(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                let proxy = reqwest::Proxy::all(self.proxy_url()?).ok()?;
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .proxy(proxy)
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(Duration::from_secs(10))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// The rule for one resolved address of `host`.
    pub fn check_addr(&self, host: &str, addr: SocketAddr) -> Result<(), Refusal> {
        let own = self.own_port.load(Ordering::Relaxed);
        if own != 0 && addr.port() == own && is_own_address(addr.ip()) {
            return Err(Refusal::OwnApi {
                host: host.to_string(),
                port: own,
            });
        }
        let allowed = self
            .allowed
            .read()
            .map(|a| a.iter().any(|c| c.contains(addr.ip())))
            .unwrap_or(false);
        if allowed {
            return Ok(());
        }
        match restricted_kind(addr.ip()) {
            Some(kind) => Err(Refusal::Forbidden {
                host: host.to_string(),
                addr: canonical(addr.ip()),
                kind,
            }),
            None => Ok(()),
        }
    }

    /// Resolves the URL's host and checks every address it has.
    pub async fn check_url(&self, url: &reqwest::Url) -> Result<(), Refusal> {
        let port = url.port_or_known_default().unwrap_or(80);
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(Refusal::Malformed("no host".into()));
        };
        self.resolve_checked(host, port).await.map(|_| ())
    }

    /// The addresses of `host`, each judged by the rule: every one must pass. A name that
    /// does not resolve (in 5 s) is refused.
    pub async fn resolve_checked(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let lookup = tokio::net::lookup_host((bare.to_string(), port));
                match tokio::time::timeout(Duration::from_secs(5), lookup).await {
                    Ok(Ok(a)) => a.collect(),
                    _ => Vec::new(),
                }
            }
        };
        if addrs.is_empty() {
            return Err(Refusal::Unresolvable(host.to_string()));
        }
        for a in &addrs {
            self.check_addr(host, *a)?;
        }
        Ok(addrs)
    }

    /// Checks a URL and every redirect it leads to; returns the URL ffmpeg should read
    /// (`raw` itself when nothing redirected). Network failures are not refusals: the
    /// last URL is returned and the probe reports the cause.
    pub async fn follow(&self, raw: &str) -> Result<String, Refusal> {
        let mut url = reqwest::Url::parse(raw).map_err(|e| Refusal::Malformed(e.to_string()))?;
        for _ in 0..=MAX_REDIRECTS {
            self.check_url(&url).await?;
            let Some(client) = self.client() else {
                return Ok(url.to_string());
            };
            let answer = client
                .get(url.clone())
                .header(reqwest::header::RANGE, "bytes=0-0")
                .send()
                .await;
            let location = match answer {
                Ok(r) if r.status().is_redirection() => r
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                _ => None,
            };
            let Some(location) = location else {
                // Re-serialised: ffmpeg reads exactly what was judged.
                return Ok(url.to_string());
            };
            let next = url
                .join(&location)
                .map_err(|e| Refusal::Malformed(format!("redirect to '{location}': {e}")))?;
            if !matches!(Source::parse(next.as_str(), &[]), Ok(Source::Http(_))) {
                return Err(Refusal::RedirectScheme(
                    next.as_str().chars().take(80).collect(),
                ));
            }
            url = next;
        }
        Err(Refusal::TooManyRedirects)
    }

    /// `follow` for a parsed source: local files pass unchanged.
    pub async fn vet(&self, source: &Source) -> Result<Source, Refusal> {
        match source {
            Source::Http(u) => Ok(Source::Http(self.follow(u).await?)),
            file => Ok(file.clone()),
        }
    }
}

/// Parses `security.allowed_targets`.
pub fn parse_allowed(list: &[String]) -> Result<Vec<Cidr>, String> {
    list.iter().map(|s| s.parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn restricted_kinds() {
        for (ip, kind) in [
            ("127.0.0.1", Some("loopback")),
            ("127.8.9.10", Some("loopback")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("169.254.169.254", Some("link-local")),
            ("fe80::1", Some("link-local")),
            ("0.0.0.0", Some("unspecified")),
            ("::", Some("unspecified")),
            ("224.0.0.251", Some("multicast or broadcast")),
            ("255.255.255.255", Some("multicast or broadcast")),
            ("192.168.1.20", None),
            ("10.0.0.5", None),
            ("fd00::5", None),
            ("93.184.216.34", None),
        ] {
            assert_eq!(restricted_kind(ip.parse().unwrap()), kind, "{ip}");
        }
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(c.contains("127.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!c.contains("128.0.0.1".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("169.254.1.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("pi.local".parse::<Cidr>().is_err());
    }

    #[test]
    fn allowed_lifts_the_refusal_but_never_for_our_own_port() {
        let e = Egress::new(vec![]);
        assert!(matches!(
            e.check_addr("localhost", sa("127.0.0.1:80")),
            Err(Refusal::Forbidden {
                kind: "loopback",
                ..
            })
        ));
        assert!(e.check_addr("pi", sa("192.168.1.20:5000")).is_ok());
        let e = Egress::new(parse_allowed(&["127.0.0.0/8".into()]).unwrap());
        assert!(e.check_addr("localhost", sa("127.0.0.1:80")).is_ok());
        e.set_own_port(8765);
        assert!(matches!(
            e.check_addr("localhost", sa("127.0.0.1:8765")),
            Err(Refusal::OwnApi { port: 8765, .. })
        ));
        assert!(matches!(
            e.check_addr("x", sa("0.0.0.0:8765")),
            Err(Refusal::OwnApi { .. })
        ));
        // Another machine on the LAN on the same port is not us.
        assert!(e.check_addr("pi", sa("192.0.2.77:8765")).is_ok());
    }

    #[tokio::test]
    async fn names_are_resolved_before_they_are_judged() {
        let e = Egress::new(vec![]);
        let url = reqwest::Url::parse("http://localhost:9/x.mkv").unwrap();
        assert!(matches!(
            e.check_url(&url).await,
            Err(Refusal::Forbidden {
                kind: "loopback",
                ..
            })
        ));
        let url = reqwest::Url::parse("http://[::ffff:169.254.169.254]/latest").unwrap();
        assert!(matches!(
            e.check_url(&url).await,
            Err(Refusal::Forbidden {
                kind: "link-local",
                ..
            })
        ));
    }
}
