//! UDP discovery for networks that block multicast: `GHOSTSTREAM_DISCOVER` is answered
//! with `GHOSTSTREAM_ANNOUNCE:<port>:<version>:<hw csv>`; anything else is ignored, and
//! answers are rate-limited per sender and overall.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

pub const DISCOVER: &[u8] = b"GHOSTSTREAM_DISCOVER";

/// Token buckets: per sender (burst 5, 2/s) and overall (burst 200, 200/s).
pub struct Limiter {
    per_ip: HashMap<IpAddr, (f64, Instant)>,
    global: (f64, Instant),
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            per_ip: HashMap::new(),
            global: (200.0, Instant::now()),
        }
    }
}

fn take(bucket: &mut (f64, Instant), burst: f64, rate: f64, now: Instant) -> bool {
    let refill = now.duration_since(bucket.1).as_secs_f64() * rate;
    bucket.0 = (bucket.0 + refill).min(burst);
    bucket.1 = now;
    if bucket.0 >= 1.0 {
        bucket.0 -= 1.0;
        true
    } else {
        false
    }
}

impl Limiter {
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.per_ip.len() > 4096 {
            self.per_ip
                .retain(|_, b| now.duration_since(b.1) < Duration::from_secs(10));
        }
        let b = self.per_ip.entry(ip).or_insert((5.0, now));
        if !take(b, 5.0, 2.0, now) {
            return false;
        }
        take(&mut self.global, 200.0, 200.0, now)
    }
}

/// The answer to a valid request, if `datagram` is one.
pub fn answer(datagram: &[u8], port: u16, hw_csv: &str) -> Option<Vec<u8>> {
    let trimmed = datagram.strip_suffix(b"\n").unwrap_or(datagram);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    (trimmed == DISCOVER).then(|| {
        format!(
            "GHOSTSTREAM_ANNOUNCE:{port}:{}:{hw_csv}",
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
    })
}

/// Runs the responder until `stop`; `hw_csv` is read per answer.
pub async fn serve(
    socket: Arc<UdpSocket>,
    http_port: u16,
    hw_csv: impl Fn() -> String + Send + 'static,
    stop: CancellationToken,
) {
    let mut limiter = Limiter::default();
    let mut buf = [0u8; 512];
    loop {
        let (n, from) = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        if let Some(reply) = answer(&buf[..n], http_port, &hw_csv()) {
            if limiter.allow(from.ip(), Instant::now()) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        assert_eq!(
            answer(b"GHOSTSTREAM_DISCOVER", 8765, "nvenc,software").unwrap(),
            format!(
                "GHOSTSTREAM_ANNOUNCE:8765:{}:nvenc,software",
                env!("CARGO_PKG_VERSION")
            )
            .into_bytes()
        );
        assert!(answer(b"GHOSTSTREAM_DISCOVER\n", 1, "software").is_some());
        for junk in [
            &b"ghoststream_discover"[..],
            b"GHOSTSTREAM_DISCOVERX",
            b"",
            b"\xff\x00",
        ] {
            assert!(answer(junk, 1, "software").is_none());
        }
    }

    #[test]
    fn rate_limited() {
        let mut l = Limiter::default();
        let t = Instant::now();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let allowed = (0..20).filter(|_| l.allow(ip, t)).count();
        assert_eq!(allowed, 5);
        assert!(l.allow(ip, t + Duration::from_secs(1)));
        let other: IpAddr = "10.0.0.10".parse().unwrap();
        assert!(l.allow(other, t));
    }
}
