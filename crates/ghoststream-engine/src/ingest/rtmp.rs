//! The RTMP listener: `rml_rtmp` does the handshake, chunking and AMF; we decide who may
//! publish, and turn audio and video messages into FLV tags for the session.

use super::flv::{self, Tag};
use super::session::{Meta, Publisher};
use super::Ingest;
use ghoststream_types::IngestProtocol;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// New connections per second at most; past it they are closed at once (a flood).
const ACCEPTS_PER_SECOND: u32 = 50;

pub(super) async fn serve(ingest: Ingest, listener: TcpListener) {
    let stop = ingest.inner.stop.clone();
    let mut second = tokio::time::Instant::now();
    let mut in_second = 0u32;
    let mut flood_noted = false;
    loop {
        let (sock, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("live: RTMP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if second.elapsed() >= Duration::from_secs(1) {
            second = tokio::time::Instant::now();
            in_second = 0;
            flood_noted = false;
        }
        in_second += 1;
        if in_second > ACCEPTS_PER_SECOND {
            if !flood_noted {
                ingest.error(format!(
                    "more than {ACCEPTS_PER_SECOND} RTMP connections a second (last from {peer}); closing the excess"
                ));
                flood_noted = true;
            }
            drop(sock);
            continue;
        }
        let pending = ingest.inner.pending.fetch_add(1, Ordering::SeqCst) + 1;
        if pending > ingest.inner.cfg.max_pending_connections {
            ingest.inner.pending.fetch_sub(1, Ordering::SeqCst);
            if !flood_noted {
                ingest.error(format!(
                    "too many RTMP connections that are not publishing (live.max_pending_connections; last from {peer}); closing the excess"
                ));
                flood_noted = true;
            }
            drop(sock);
            continue;
        }
        let me = ingest.clone();
        ingest.inner.tasks.spawn(async move {
            let mut guard = Pending(Some(me.clone()));
            if let Err(e) = connection(&me, sock, peer, &mut guard).await {
                me.error(format!("RTMP {peer}: {e}"));
            }
        });
    }
}

/// Counts a connection as pending until it publishes (or ends).
struct Pending(Option<Ingest>);

impl Pending {
    fn release(&mut self) {
        if let Some(i) = self.0.take() {
            i.inner.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.release();
    }
}

async fn write(sock: &mut TcpStream, results: &[ServerSessionResult]) -> std::io::Result<()> {
    for r in results {
        if let ServerSessionResult::OutboundResponse(p) = r {
            sock.write_all(&p.bytes).await?;
        }
    }
    Ok(())
}

async fn connection(
    ingest: &Ingest,
    mut sock: TcpStream,
    peer: SocketAddr,
    pending: &mut Pending,
) -> Result<(), String> {
    let cfg = &ingest.inner.cfg;
    let _ = sock.set_nodelay(true);
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(cfg.handshake_timeout_seconds.max(1));
    let idle = Duration::from_secs(cfg.idle_timeout_seconds.max(1));
    let stop = ingest.inner.stop.clone();
    let mut buf = vec![0u8; 64 * 1024];

    // Handshake (C0/C1/C2): the first byte must be RTMP's version 3, so a TLS ClientHello
    // or an HTTP request is told apart at once.
    let mut hs = Handshake::new(PeerType::Server);
    let mut first = true;
    let leftover = loop {
        let n = tokio::time::timeout_at(deadline, sock.read(&mut buf))
            .await
            .map_err(|_| "handshake not finished in time; closed".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        let lead = if first { buf[0] } else { 3 };
        first = false;
        match lead {
            0x16 => {
                return Err(
                    "a TLS ClientHello on the RTMP port (rtmps is not served); closed".into(),
                )
            }
            b'G' | b'P' | b'H' | b'O' | b'D' => {
                return Err("an HTTP request on the RTMP port; closed".into())
            }
            _ => {}
        }
        match hs.process_bytes(&buf[..n]) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                sock.write_all(&response_bytes)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                sock.write_all(&response_bytes)
                    .await
                    .map_err(|e| e.to_string())?;
                break remaining_bytes;
            }
            Err(e) => return Err(format!("not an RTMP handshake ({e:?}); closed")),
        }
    };

    let mut config = ServerSessionConfig::new();
    config.chunk_size = 4096;
    let (mut session, initial) =
        ServerSession::new(config).map_err(|e| format!("session: {e:?}"))?;
    write(&mut sock, &initial)
        .await
        .map_err(|e| e.to_string())?;
    let mut publisher: Option<Publisher> = None;
    let mut input = leftover;
    loop {
        if !input.is_empty() {
            let results = session
                .handle_input(&input)
                .map_err(|e| format!("bad RTMP data ({e:?}); closed"))?;
            input.clear();
            let mut out = Vec::new();
            for r in results {
                match r {
                    ServerSessionResult::OutboundResponse(_) => out.push(r),
                    ServerSessionResult::RaisedEvent(ev) => {
                        let more =
                            event(ingest, &mut session, ev, peer, &mut publisher, pending).await?;
                        match more {
                            Step::Reply(rs) => out.extend(rs),
                            Step::Refused(rs) => {
                                let _ = write(&mut sock, &rs).await;
                                // Let the publisher read its status before the close.
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                return Ok(());
                            }
                            Step::Done => {
                                let _ = write(&mut sock, &out).await;
                                return Ok(());
                            }
                        }
                    }
                    ServerSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
            write(&mut sock, &out).await.map_err(|e| e.to_string())?;
        }
        let kicked = publisher.as_ref().map(|p| p.kicked.clone());
        let read = async {
            match &publisher {
                // Before publishing, everything must be done by the handshake deadline.
                None => tokio::time::timeout_at(deadline, sock.read(&mut buf)).await,
                Some(_) => tokio::time::timeout(idle, sock.read(&mut buf)).await,
            }
        };
        let n = tokio::select! {
            r = read => match r {
                Err(_) if publisher.is_none() => {
                    return Err("connected but did not publish in time; closed".into())
                }
                Err(_) => return Err(format!("sent nothing for {} s; dropped", idle.as_secs())),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(n)) => n,
            },
            _ = async {
                match &kicked {
                    Some(k) => k.cancelled().await,
                    None => std::future::pending().await,
                }
            } => {
                return Ok(());
            }
            _ = stop.cancelled() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buf[..n]);
    }
}

enum Step {
    Reply(Vec<ServerSessionResult>),
    /// The publish was refused: send this and close.
    Refused(Vec<ServerSessionResult>),
    /// The publisher finished: close.
    Done,
}

async fn event(
    ingest: &Ingest,
    session: &mut ServerSession,
    ev: ServerSessionEvent,
    peer: SocketAddr,
    publisher: &mut Option<Publisher>,
    pending: &mut Pending,
) -> Result<Step, String> {
    let err = |e: rml_rtmp::sessions::ServerSessionError| format!("session: {e:?}");
    match ev {
        ServerSessionEvent::ConnectionRequested {
            request_id,
            app_name,
        } => {
            let app = app_name.split('?').next().unwrap_or_default();
            if app != "live" {
                let rs = session
                    .reject_request(
                        request_id,
                        "NetConnection.Connect.Rejected",
                        "publish to rtmp://<this pc>/live/<stream key>",
                    )
                    .map_err(err)?;
                ingest.error(format!(
                    "{peer}: RTMP app '{}' refused (only 'live')",
                    app.chars().take(40).collect::<String>()
                ));
                return Ok(Step::Refused(rs));
            }
            Ok(Step::Reply(
                session.accept_request(request_id).map_err(err)?,
            ))
        }
        ServerSessionEvent::PublishStreamRequested {
            request_id,
            stream_key,
            ..
        } => {
            if publisher.is_some() {
                let rs = session
                    .reject_request(
                        request_id,
                        "NetStream.Publish.Denied",
                        "one stream per connection",
                    )
                    .map_err(err)?;
                return Ok(Step::Refused(rs));
            }
            let key = stream_key.split('?').next().unwrap_or_default().to_string();
            match ingest.claim(&key, peer, IngestProtocol::Rtmp) {
                Ok(p) => {
                    tracing::info!("live: RTMP publisher {peer} live on '{}'", p.name());
                    *publisher = Some(p);
                    pending.release();
                    Ok(Step::Reply(
                        session.accept_request(request_id).map_err(err)?,
                    ))
                }
                Err(r) => {
                    let rs = session
                        .reject_request(request_id, r.rtmp_code(), r.reason())
                        .map_err(err)?;
                    Ok(Step::Refused(rs))
                }
            }
        }
        ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
            let rs = session
                .reject_request(
                    request_id,
                    "NetStream.Play.Failed",
                    "this server takes publishers; watch at /streams/<key>/master.m3u8",
                )
                .map_err(err)?;
            Ok(Step::Refused(rs))
        }
        ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
            if let Some(p) = publisher.as_ref() {
                let kbps = match (metadata.video_bitrate_kbps, metadata.audio_bitrate_kbps) {
                    (None, None) => None,
                    (v, a) => Some(v.unwrap_or(0) + a.unwrap_or(0)),
                };
                p.meta(Meta {
                    width: metadata.video_width,
                    height: metadata.video_height,
                    fps: metadata.video_frame_rate.map(|f| f as f64),
                    kbps,
                    has_audio: Some(metadata.audio_codec_id.is_some()),
                });
            }
            Ok(Step::Reply(Vec::new()))
        }
        ServerSessionEvent::AudioDataReceived {
            data, timestamp, ..
        } => media(publisher, flv::AUDIO, data, timestamp.value).await,
        ServerSessionEvent::VideoDataReceived {
            data, timestamp, ..
        } => media(publisher, flv::VIDEO, data, timestamp.value).await,
        ServerSessionEvent::PublishStreamFinished { .. } => {
            *publisher = None;
            Ok(Step::Done)
        }
        _ => Ok(Step::Reply(Vec::new())),
    }
}

async fn media(
    publisher: &mut Option<Publisher>,
    kind: u8,
    data: bytes::Bytes,
    ms: u32,
) -> Result<Step, String> {
    let Some(p) = publisher.as_ref() else {
        return Err("media before publish; closed".into());
    };
    if data.is_empty() {
        return Ok(Step::Reply(Vec::new()));
    }
    if !p.send(Tag { kind, ms, data }).await {
        return Ok(Step::Done);
    }
    Ok(Step::Reply(Vec::new()))
}
