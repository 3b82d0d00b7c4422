//! The egress proxy: every HTTP connection that ffmpeg, ffprobe or our own client makes for
//! a source, a subtitle, a callback or a GhostHub goes through this loopback listener, so
//! the egress rule is applied where the connection is made, not only when a request first
//! arrives:
//!
//! - a playlist's nested URLs (HLS segments, DASH fragments) are vetted one by one;
//! - a name is resolved here, judged, and the connection goes to exactly the address that
//!   was judged (no second lookup that DNS rebinding could answer differently);
//! - the host is the one ffmpeg itself parsed from the URL, so a parser differential can
//!   only lead it to a host that is then vetted.
//!
//! Plain HTTP arrives in absolute form (`GET http://host/path`) and is forwarded in origin
//! form with `Connection: close`, one request per connection. HTTPS arrives as `CONNECT
//! host:443` and is tunnelled as opaque bytes (TLS stays end to end, SNI untouched).
//! A refusal is `403` with the reason as its body, and a warning in the log.

use super::Egress;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Marks the proxy's own answers in their status line (`HTTP/1.1 403 GhostStream: …`).
pub const REASON_MARK: &str = ghoststream_media::errors::EGRESS_MARK;

/// The longest request head a client may send the proxy.
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Connections open through the proxy at once; past that a new one is answered 503.
const MAX_TUNNELS: usize = 512;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Listens on `127.0.0.1:0` until `stop` is cancelled; returns the bound address.
pub async fn start(egress: Arc<Egress>, stop: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_TUNNELS));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((mut client, _)) = accepted else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                let _ = answer(&mut client, 503, "too many connections through the proxy").await;
                continue;
            };
            let (egress, stop) = (egress.clone(), stop.clone());
            tokio::spawn(async move {
                let _slot = slot;
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = handle(&egress, client) => {}
                }
            });
        }
    });
    Ok(addr)
}

/// What the client asked for.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `CONNECT host:port`: a tunnel.
    Tunnel { host: String, port: u16 },
    /// `METHOD http://host:port/path`: one request, forwarded in origin form.
    Forward {
        host: String,
        port: u16,
        /// The request head rewritten for the origin server.
        head: Vec<u8>,
    },
}

async fn handle(egress: &Egress, mut client: TcpStream) {
    let (head, rest) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            let _ = answer(&mut client, 400, &e).await;
            return;
        }
        Err(_) => return,
    };
    let target = match parse_head(&head) {
        Ok(t) => t,
        Err(e) => {
            let _ = answer(&mut client, 400, &e).await;
            return;
        }
    };
    let (host, port) = match &target {
        Target::Tunnel { host, port } | Target::Forward { host, port, .. } => (host, *port),
    };
    let addrs = match egress.resolve_checked(host, port).await {
        Ok(a) => a,
        Err(refusal) => {
            tracing::warn!("egress refused {host}:{port}: {refusal}");
            let _ = answer(&mut client, 403, &format!("source not allowed: {refusal}")).await;
            return;
        }
    };
    let mut upstream = None;
    let mut failure = (502, "source unreachable: no address".to_string());
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                upstream = Some(s);
                break;
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                failure = (502, "source unreachable: connection refused".into());
            }
            Ok(Err(e)) => failure = (502, format!("source unreachable: {e}")),
            Err(_) => failure = (504, "source unreachable: connection timed out".into()),
        }
    }
    let Some(mut upstream) = upstream else {
        let _ = answer(&mut client, failure.0, &failure.1).await;
        return;
    };
    let first = match target {
        Target::Tunnel { .. } => {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            rest
        }
        Target::Forward { head, .. } => [head, rest].concat(),
    };
    if upstream.write_all(&first).await.is_err() {
        return;
    }
    let mut upstream = Counted {
        inner: upstream,
        read: egress.bytes_in.clone(),
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// A connection that adds the bytes read from it to a counter as they arrive.
struct Counted<T> {
    inner: T,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        r
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads up to the blank line that ends the head; returns the head and any bytes after it.
async fn read_head(client: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("connection closed before the request head ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err("request head too large".into());
        }
    }
}

/// Headers that speak to the proxy, not to the origin server.
fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

fn parse_head(head: &[u8]) -> Result<Target, String> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line".into());
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return Err("malformed request line".into());
    }
    if method == "CONNECT" {
        let (host, port) = split_authority(target)?;
        return Ok(Target::Tunnel { host, port });
    }
    if target.contains('\\') {
        return Err("the request target contains a backslash".into());
    }
    let url = reqwest::Url::parse(target).map_err(|e| format!("request target: {e}"))?;
    if url.scheme() != "http" {
        return Err("only http:// targets are forwarded; https goes through CONNECT".into());
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("the request target has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut out = format!("{method} {path} {version}\r\n");
    for h in lines.filter(|l| !l.is_empty()) {
        let name = h.split(':').next().unwrap_or_default().trim();
        if !hop_by_hop(name) {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(Target::Forward {
        host,
        port,
        head: out.into_bytes(),
    })
}

/// `host:port` or `[v6]:port`.
fn split_authority(a: &str) -> Result<(String, u16), String> {
    let bad = || format!("'{a}' is not host:port");
    let (host, port) = a.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '\\', '@', ' ']) {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Answers in place of the origin. The reason is also the status line's phrase, after
/// [`REASON_MARK`]: ffmpeg logs that line, and the job's error quotes it.
async fn answer(client: &mut TcpStream, status: u16, reason: &str) -> std::io::Result<()> {
    let phrase: String = reason
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .take(300)
        .collect();
    let msg = format!(
        "HTTP/1.1 {status} {REASON_MARK}{phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reason}",
        reason.len()
    );
    client.write_all(msg.as_bytes()).await?;
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_requests_are_forwarded_in_origin_form() {
        let head = b"GET http://pi.lan:5000/media/a.mkv?x=1 HTTP/1.1\r\nHost: pi.lan:5000\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive\r\nRange: bytes=0-\r\n\r\n";
        let Target::Forward { host, port, head } = parse_head(head).unwrap() else {
            panic!()
        };
        assert_eq!((host.as_str(), port), ("pi.lan", 5000));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /media/a.mkv?x=1 HTTP/1.1\r\nHost: pi.lan:5000\r\nRange: bytes=0-\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            parse_head(b"CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap(),
            Target::Tunnel {
                host: "::1".into(),
                port: 443
            }
        );
    }

    #[test]
    fn odd_requests_are_refused() {
        for bad in [
            &b"GET /relative HTTP/1.1\r\n\r\n"[..],
            b"GET http://a\\@127.0.0.1/ HTTP/1.1\r\n\r\n",
            b"GET ftp://host/x HTTP/1.1\r\n\r\n",
            b"CONNECT host HTTP/1.1\r\n\r\n",
            b"CONNECT a@b:443 HTTP/1.1\r\n\r\n",
            b"GET  http://x/ HTTP/1.1\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
        ] {
            assert!(parse_head(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// A listener on `ip`, which records whether anyone connected.
    async fn target(ip: &str) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let l = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (addr, hits)
    }

    async fn through(proxy: SocketAddr, head: String) -> String {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn each_connection_is_judged_when_it_is_made() {
        let allowed = Arc::new(Egress::new(
            super::super::parse_allowed(&["127.0.0.2/32".into()]).unwrap(),
        ));
        let stop = CancellationToken::new();
        let proxy = start(allowed.clone(), stop.clone()).await.unwrap();
        let (ok, ok_hits) = target("127.0.0.2").await;
        let (bad, bad_hits) = target("127.0.0.3").await;
        let r = through(
            proxy,
            format!("GET http://{ok}/a HTTP/1.1\r\nHost: {ok}\r\n\r\n"),
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("ok"), "{r}");
        let r = through(
            proxy,
            format!("GET http://{bad}/a HTTP/1.1\r\nHost: {bad}\r\n\r\n"),
        )
        .await;
        assert!(
            r.starts_with("HTTP/1.1 403") && r.contains("loopback"),
            "{r}"
        );
        let r = through(proxy, format!("CONNECT {bad} HTTP/1.1\r\n\r\n")).await;
        assert!(r.starts_with("HTTP/1.1 403"), "{r}");
        // A name is resolved here and judged by what it resolves to.
        let r = through(
            proxy,
            format!("GET http://localhost:{}/a HTTP/1.1\r\n\r\n", bad.port()),
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 403"), "{r}");
        let r = through(
            proxy,
            "GET http://no-such-host.invalid/a HTTP/1.1\r\n\r\n".into(),
        )
        .await;
        assert!(
            r.starts_with("HTTP/1.1 403") && r.contains("resolve"),
            "{r}"
        );
        assert_eq!(ok_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(bad_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        stop.cancel();
    }
}
