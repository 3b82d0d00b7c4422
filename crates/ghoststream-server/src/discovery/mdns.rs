//! mDNS advertisement of `_ghoststream._tcp.local.` with mdns-sd: a unique instance per
//! install, the chosen interfaces' IPv4 addresses, the bound port and the TXT keys GhostHub
//! and the SDK read. Re-announced when addresses or capabilities change.

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub const SERVICE_TYPE: &str = "_ghoststream._tcp.local.";

/// What is advertised; compared to decide on a re-announce.
#[derive(Debug, Clone, PartialEq)]
pub struct Advert {
    pub instance: String,
    pub host: String,
    pub port: u16,
    pub interfaces: Vec<String>,
    pub addrs: Vec<Ipv4Addr>,
    pub txt: BTreeMap<String, String>,
}

/// Up IPv4 interfaces to advertise on: `wanted` by name, or every non-loopback,
/// non-virtual one; loopback when nothing else exists (a lone machine still finds itself).
pub fn interfaces(wanted: &[String]) -> Vec<(String, Ipv4Addr)> {
    let all: Vec<(String, Ipv4Addr)> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(ip) => Some((i.name.clone(), ip)),
            _ => None,
        })
        .collect();
    let virt = |n: &str| {
        [
            "docker",
            "br-",
            "veth",
            "virbr",
            "vmnet",
            "vboxnet",
            "tailscale",
            "zt",
        ]
        .iter()
        .any(|p| n.starts_with(p))
    };
    let mut chosen: Vec<(String, Ipv4Addr)> = if wanted.is_empty() {
        all.iter()
            .filter(|(n, ip)| !ip.is_loopback() && !ip.is_link_local() && !virt(n))
            .cloned()
            .collect()
    } else {
        all.iter()
            .filter(|(n, _)| wanted.iter().any(|w| w == n))
            .cloned()
            .collect()
    };
    if chosen.is_empty() && wanted.is_empty() {
        chosen = all.into_iter().filter(|(_, ip)| ip.is_loopback()).collect();
    }
    chosen.sort_by_key(|a| a.1);
    chosen.dedup();
    chosen
}

/// A DNS label from the instance name: lowercase letters, digits and dashes.
pub fn host_label(instance: &str) -> String {
    let mut s: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').chars().take(63).collect()
}

pub struct Advertiser {
    daemon: ServiceDaemon,
    current: Option<Advert>,
}

impl Advertiser {
    pub fn new() -> Result<Advertiser, String> {
        let daemon = ServiceDaemon::new().map_err(|e| format!("mDNS could not start: {e}"))?;
        Ok(Advertiser {
            daemon,
            current: None,
        })
    }

    pub fn current(&self) -> Option<&Advert> {
        self.current.as_ref()
    }

    /// Registers `advert`, replacing what was there when anything changed (or `force`).
    pub fn announce(&mut self, advert: Advert, force: bool) -> Result<bool, String> {
        if !force && self.current.as_ref() == Some(&advert) {
            return Ok(false);
        }
        if let Some(old) = self.current.take() {
            let _ = self.daemon.unregister(&full_name(&old.instance));
        }
        // Only the chosen interfaces: mdns-sd enables every interface by default.
        let _ = self.daemon.disable_interface(IfKind::All);
        let kinds: Vec<IfKind> = advert
            .interfaces
            .iter()
            .map(|n| IfKind::Name(n.clone()))
            .collect();
        self.daemon
            .enable_interface(kinds)
            .map_err(|e| e.to_string())?;
        let addrs: Vec<std::net::IpAddr> = advert
            .addrs
            .iter()
            .map(|a| std::net::IpAddr::V4(*a))
            .collect();
        let props: Vec<(&str, &str)> = advert
            .txt
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let info = ServiceInfo::new(
            SERVICE_TYPE,
            &advert.instance,
            &format!("{}.local.", advert.host),
            &addrs[..],
            advert.port,
            &props[..],
        )
        .map_err(|e| format!("mDNS record refused: {e}"))?;
        self.daemon
            .register(info)
            .map_err(|e| format!("mDNS register failed: {e}"))?;
        self.current = Some(advert);
        Ok(true)
    }

    /// Goodbye packets, then the daemon stops.
    pub fn shutdown(mut self) {
        if let Some(old) = self.current.take() {
            if let Ok(rx) = self.daemon.unregister(&full_name(&old.instance)) {
                let _ = rx.recv_timeout(std::time::Duration::from_secs(2));
            }
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(2));
        }
    }
}

pub fn full_name(instance: &str) -> String {
    format!("{instance}.{SERVICE_TYPE}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(host_label("GhostStream-a1b2c3"), "ghoststream-a1b2c3");
        assert_eq!(host_label("Living Room PC!-x9"), "living-room-pc-x9");
    }

    #[test]
    fn explicit_interfaces_only() {
        let lo = interfaces(&["lo".to_string()]);
        assert!(lo.iter().all(|(n, ip)| n == "lo" && ip.is_loopback()));
        assert!(interfaces(&["no-such-if0".to_string()]).is_empty());
    }
}
