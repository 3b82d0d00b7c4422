//! The SRT listener, with `srt-tokio` (a Rust SRT implementation): unlike ffmpeg's libsrt
//! listener, which takes one caller and cannot see the stream id before accepting, it
//! serves every key on one UDP port and lets us refuse a caller during the handshake,
//! with a reason code, before any media flows. What a caller sends (MPEG-TS) is remuxed
//! to FLV by an ffmpeg of its own (`-c copy`) and goes into the session like an RTMP
//! publisher's tags.

use super::flv;
use super::session::Publisher;
use super::{Ingest, Refusal};
use futures_util::StreamExt;
use ghoststream_types::IngestProtocol;
use srt_protocol::packet::{RejectReason, ServerRejectReason};
use srt_tokio::{ConnectionRequest, SrtListener};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(super) async fn bind(
    addr: &str,
) -> std::io::Result<(SrtListener, srt_tokio::SrtIncoming, u16)> {
    let udp = tokio::net::UdpSocket::bind(addr).await?;
    let local = udp.local_addr()?;
    let (listener, incoming) = SrtListener::builder()
        .latency(Duration::from_millis(120))
        .socket(udp)
        .bind(local)
        .await?;
    Ok((listener, incoming, local.port()))
}

pub(super) async fn serve(
    ingest: Ingest,
    listener: SrtListener,
    mut incoming: srt_tokio::SrtIncoming,
) {
    let _listener = listener; // dropping it closes the port
    let stop = ingest.inner.stop.clone();
    loop {
        let req = tokio::select! {
            _ = stop.cancelled() => return,
            r = incoming.incoming().next() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let me = ingest.clone();
        ingest
            .inner
            .tasks
            .spawn(async move { caller(me, req).await });
    }
}

/// The key in a stream id: `key`, `live/key`, `publish:live/key`, or the SRT access
/// control form `#!::r=live/key,m=publish`. `Err`: the caller wants to play, not publish.
pub(super) fn key_of(stream_id: &str) -> Result<String, String> {
    let mut resource = stream_id.trim().to_string();
    if let Some(rest) = resource.strip_prefix("#!::") {
        let mut r = None;
        for kv in rest.split(',') {
            match kv.split_once('=') {
                Some(("r", v)) => r = Some(v.to_string()),
                Some(("m", m)) if m != "publish" => {
                    return Err(format!("mode '{m}': this server takes publishers"))
                }
                _ => {}
            }
        }
        resource = r.unwrap_or_default();
    } else if let Some(rest) = resource.strip_prefix("publish:") {
        resource = rest.to_string();
    } else if resource.starts_with("read:") || resource.starts_with("play:") {
        return Err("this server takes publishers; watch at /streams/<key>/".into());
    }
    let resource = resource.trim_matches('/');
    Ok(resource
        .strip_prefix("live/")
        .unwrap_or(resource)
        .to_string())
}

async fn caller(ingest: Ingest, req: ConnectionRequest) {
    let peer = req.remote();
    let sid = req.stream_id().map(|s| s.to_string()).unwrap_or_default();
    let key = match key_of(&sid) {
        Ok(k) => k,
        Err(why) => {
            ingest.error(format!("SRT {peer}: refused: {why}"));
            let _ = req
                .reject(RejectReason::Server(ServerRejectReason::BadMode))
                .await;
            return;
        }
    };
    let publisher = match ingest.claim(&key, peer, IngestProtocol::Srt) {
        Ok(p) => p,
        Err(r) => {
            let code = match &r {
                Refusal::BadName(_) => ServerRejectReason::Notfound,
                Refusal::Denied(_) => ServerRejectReason::Forbidden,
            };
            let _ = req.reject(RejectReason::Server(code)).await;
            return;
        }
    };
    let socket = match req.accept(None).await {
        Ok(s) => s,
        Err(e) => {
            ingest.error(format!("SRT {peer}: handshake failed: {e}"));
            return;
        }
    };
    if let Err(e) = pump(&ingest, socket, &publisher).await {
        ingest.error(format!("SRT {peer}: {e}"));
    }
}

/// Caller → ffmpeg (TS in, FLV out) → tags → the session.
async fn pump(
    ingest: &Ingest,
    mut socket: srt_tokio::SrtSocket,
    publisher: &Publisher,
) -> Result<(), String> {
    let idle = Duration::from_secs(ingest.inner.cfg.idle_timeout_seconds.max(1));
    let mut cmd = ghoststream_media::process::command(&ingest.inner.ffmpeg);
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-probesize",
        "1000000",
        "-analyzeduration",
        "1000000",
        "-f",
        "mpegts",
        "-i",
        "pipe:0",
        "-map",
        "0:v:0?",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        "pipe:1",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start ffmpeg: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let errors = tokio::spawn(async move {
        let mut s = String::new();
        let _ = (&mut stderr).take(8192).read_to_string(&mut s).await;
        s
    });
    let into_ffmpeg = async {
        loop {
            match tokio::time::timeout(idle, socket.next()).await {
                Err(_) => return Err(format!("sent nothing for {} s; dropped", idle.as_secs())),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok((_, bytes)))) => {
                    if stdin.write_all(&bytes).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    };
    let out_of_ffmpeg = async {
        let mut reader = flv::Reader::default();
        let mut told = false;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok::<(), String>(());
            }
            reader.push(&buf[..n]);
            while let Some(tag) = reader.next_tag()? {
                // The FLV header says whether audio follows: the session is told once.
                if !told {
                    if let Some(a) = reader.has_audio {
                        told = true;
                        publisher.meta(super::Meta {
                            has_audio: Some(a),
                            ..Default::default()
                        });
                    }
                }
                if tag.kind == flv::SCRIPT {
                    continue;
                }
                if !publisher.send(tag).await {
                    return Ok(());
                }
            }
        }
    };
    let result = tokio::select! {
        r = into_ffmpeg => r,
        r = out_of_ffmpeg => r,
        _ = publisher.kicked.cancelled() => Ok(()),
    };
    ghoststream_media::process::stop(&mut child, Duration::from_secs(1)).await;
    let stderr = errors.await.unwrap_or_default();
    if let Some(line) = stderr.lines().last().filter(|l| !l.trim().is_empty()) {
        if result.is_ok() {
            tracing::debug!("live: SRT remux: {line}");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids() {
        assert_eq!(key_of("abc").unwrap(), "abc");
        assert_eq!(key_of("live/abc").unwrap(), "abc");
        assert_eq!(key_of("publish:live/abc").unwrap(), "abc");
        assert_eq!(key_of("#!::r=live/abc,m=publish").unwrap(), "abc");
        assert!(key_of("#!::r=live/abc,m=request").is_err());
        assert!(key_of("read:live/abc").is_err());
    }
}
