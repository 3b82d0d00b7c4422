//! The addresses this machine answers on.

/// The URLs a server bound to `host` answers on: every interface's for 0.0.0.0 (see
/// [`lan_urls`]), otherwise just that address.
pub fn urls(host: &str, port: u16) -> Vec<String> {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => vec![format!("http://{ip}:{port}")],
        _ => lan_urls(port),
    }
}

/// `http://<ip>:<port>` for every IPv4 address of an up, non-loopback interface
/// (virtual bridges of containers last), then loopback.
pub fn lan_urls(port: u16) -> Vec<String> {
    let mut lan = Vec::new();
    let mut virt = Vec::new();
    if let Ok(ifaces) = if_addrs::get_if_addrs() {
        for i in ifaces {
            let std::net::IpAddr::V4(ip) = i.ip() else {
                continue;
            };
            if ip.is_loopback() || ip.is_link_local() {
                continue;
            }
            let url = format!("http://{ip}:{port}");
            let n = i.name.as_str();
            if ["docker", "br-", "veth", "virbr", "vmnet", "vboxnet"]
                .iter()
                .any(|p| n.starts_with(p))
            {
                virt.push(url);
            } else {
                lan.push(url);
            }
        }
    }
    lan.sort();
    lan.dedup();
    lan.extend(virt);
    lan.push(format!("http://127.0.0.1:{port}"));
    lan
}
