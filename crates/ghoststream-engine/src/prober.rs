//! A request's sources before any job exists: vetted by the egress rules, probed (once per
//! source, cached, at most half the probe slots per host), bounded, and turned into the
//! plan and segment map the job will use. The engine handle uses it for `/api/probe`;
//! the actor, for starts, from a task of its own.

use crate::error::EngineError;
use crate::job::{field, JobSpec};
use crate::segments::SegmentMap;
use crate::shared::Shared;
use ghoststream_media::plan::{decide, Plan, VideoAction};
use ghoststream_media::probe;
use ghoststream_media::source::Source;
use ghoststream_types::{HwKind, MediaInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a start needs from its source: the media, the plan, the segment map, the encoder.
pub(crate) struct Prepared {
    pub media: MediaInfo,
    pub plan: Plan,
    pub map: Option<SegmentMap>,
    pub hw: HwKind,
}

#[derive(Clone)]
struct CachedProbe {
    /// The source as ffmpeg reads it: after redirects, checked by the egress rules.
    source: Source,
    media: MediaInfo,
    keyframes: Option<Vec<f64>>,
    at: Instant,
}

/// Whether a probe must also produce the source's keyframe index.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyframeNeed {
    No,
    /// Only where the container indexes them (Matroska Cues), read alongside the probe.
    IfCheap,
    Yes,
}

const PROBE_CACHE_TTL: Duration = Duration::from_secs(600);
/// Sources probed at once, and at most half of them from one host.
const PROBE_SLOTS: usize = 4;

/// The probe cache and the probe slots.
pub(crate) struct Prober {
    shared: Arc<Shared>,
    probes: Mutex<HashMap<String, CachedProbe>>,
    /// Requests preparing (probing) at once: a burst of starts must not fork a burst of
    /// ffprobes. Held around `prepare`, never nested.
    probe_slots: tokio::sync::Semaphore,
    /// Probe slots per source host: one slow or endless host cannot hold them all.
    host_slots: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl Prober {
    pub(crate) fn new(shared: Arc<Shared>) -> Prober {
        Prober {
            shared,
            probes: Mutex::new(HashMap::new()),
            probe_slots: tokio::sync::Semaphore::new(PROBE_SLOTS),
            host_slots: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every vetted source (the egress rule or our port changed).
    #[cfg(test)]
    pub(crate) fn seed(&self, raw: &str, source: Source, media: MediaInfo, keyframes: Vec<f64>) {
        if let Ok(mut cache) = self.probes.lock() {
            cache.insert(
                raw.to_string(),
                CachedProbe {
                    source,
                    media,
                    keyframes: Some(keyframes),
                    at: Instant::now(),
                },
            );
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut cache) = self.probes.lock() {
            cache.clear();
        }
    }

    /// A probe slot: first one of the source host's share, then one of the global ones.
    pub(crate) fn hardware(&self) -> &ghoststream_media::hw::Hardware {
        &self.shared.hardware
    }

    pub(crate) async fn slot(&self, source: &Source) -> Option<ProbeSlot<'_>> {
        let host = match source {
            Source::Http(u) => reqwest::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default(),
            Source::File(_) => String::new(),
        };
        let per_host = {
            let mut map = self.host_slots.lock().ok()?;
            // Hosts nobody waits on are forgotten.
            map.retain(|_, s| Arc::strong_count(s) > 1);
            map.entry(host)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(PROBE_SLOTS / 2)))
                .clone()
        };
        let host = per_host.acquire_owned().await.ok()?;
        let global = self.probe_slots.acquire().await.ok()?;
        Some(ProbeSlot {
            _host: host,
            _global: global,
        })
    }

    /// Applies the egress rules to every URL of a request: the source and subtitles are
    /// replaced by where their redirects lead; the callback must point somewhere allowed.
    pub(crate) async fn vet(&self, spec: &mut JobSpec) -> Result<(), EngineError> {
        let egress = &self.shared.egress;
        let mut errors = Vec::new();
        let cached = self.probes.lock().ok().and_then(|cache| {
            cache
                .get(&spec.source_raw)
                .filter(|c| c.at.elapsed() < PROBE_CACHE_TTL)
                .map(|c| c.source.clone())
        });
        match cached {
            Some(s) => spec.source = s,
            None => match egress.vet(&spec.source).await {
                Ok(s) => spec.source = s,
                Err(r) => errors.push(field(&["source"], r.to_string(), r.code().as_str())),
            },
        }
        for (i, sub) in spec.subtitles.iter_mut().enumerate() {
            match egress.vet(&sub.source).await {
                Ok(s) => sub.source = s,
                Err(r) => errors.push(field(
                    &["subtitles", &i.to_string(), "url"],
                    r.to_string(),
                    r.code().as_str(),
                )),
            }
        }
        if let Some(cb) = &spec.callback_url {
            if let Err(r) = self.check_callback(cb).await {
                errors.push(field(&["callback_url"], r.to_string(), r.code().as_str()));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Invalid(errors))
        }
    }

    pub(crate) async fn check_callback(&self, url: &str) -> Result<(), crate::egress::Refusal> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| crate::egress::Refusal::Malformed(e.to_string()))?;
        self.shared.egress.check_url(&parsed).await
    }

    async fn probe_cached(
        &self,
        source: &Source,
        raw: &str,
        keyframes: KeyframeNeed,
    ) -> Result<CachedProbe, String> {
        let cached = self.probes.lock().ok().and_then(|cache| {
            cache
                .get(raw)
                .filter(|c| c.at.elapsed() < PROBE_CACHE_TTL)
                .cloned()
        });
        if let Some(c) = &cached {
            if keyframes != KeyframeNeed::Yes || c.keyframes.is_some() {
                return Ok(c.clone());
            }
        }
        let t = &self.shared.config.transcoding;
        let timeout = Duration::from_secs(t.probe_timeout.max(1));
        // A container's own index (Matroska Cues, MP4 sample tables) costs a few small
        // reads, so for an HLS job it is read alongside ffprobe rather than after it: a
        // remux then waits for one probe, not two.
        let (media, fast) = match cached {
            Some(c) => (c.media, None),
            None => {
                let rules = self.shared.input_rules();
                let probing = probe::probe(&t.ffprobe_path, source, timeout, &rules);
                let (media, fast) = if keyframes == KeyframeNeed::No {
                    (probing.await, None)
                } else {
                    tokio::join!(
                        probing,
                        container_keyframes(self.shared.egress.client(), source)
                    )
                };
                (media.map_err(|e| e.to_string())?, fast)
            }
        };
        let indexed = media.container.contains("matroska") || media.container.contains("mp4");
        let fast = fast.filter(|_| indexed);
        let keyframes = match (fast, keyframes) {
            (Some(k), _) => Some(k),
            (None, KeyframeNeed::Yes) if indexed => {
                match container_keyframes(self.shared.egress.client(), source).await {
                    Some(k) => Some(k),
                    None => Some(self.scan_keyframes(source, timeout).await?),
                }
            }
            (None, KeyframeNeed::Yes) => Some(self.scan_keyframes(source, timeout).await?),
            (None, _) => None,
        };
        let entry = CachedProbe {
            source: source.clone(),
            media,
            keyframes,
            at: Instant::now(),
        };
        if let Ok(mut cache) = self.probes.lock() {
            if cache.len() > 256 {
                cache.retain(|_, v| v.at.elapsed() < PROBE_CACHE_TTL);
            }
            cache.insert(raw.to_string(), entry.clone());
        }
        Ok(entry)
    }

    async fn scan_keyframes(&self, source: &Source, timeout: Duration) -> Result<Vec<f64>, String> {
        let t = &self.shared.config.transcoding;
        probe::keyframes(
            &t.ffprobe_path,
            source,
            timeout * 3,
            &self.shared.input_rules(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Probe once per source (cached), decide the plan, and for HLS the segment map.
    pub(crate) async fn prepare(&self, spec: &JobSpec) -> Result<Prepared, String> {
        let cached = self
            .probe_cached(
                &spec.source,
                &spec.source_raw,
                if spec.mode.is_hls() {
                    KeyframeNeed::IfCheap
                } else {
                    KeyframeNeed::No
                },
            )
            .await?;
        let mut media = cached.media;
        let config = &self.shared.config;
        check_source_bounds(&media, config.transcoding.max_source_pixels)?;
        let mut wish = spec.wish(config);
        let mut plan = decide(&media, &wish);
        // Copied video is cut on the source's keyframes, which an input seek cannot hit
        // exactly; a job that starts later re-encodes video so its cut is exact. Two
        // passes are an encoder's, so they re-encode too.
        let exact_cut = spec.start_time > 0.0 && spec.mode.is_hls();
        let burn = spec
            .burn_subtitle
            .filter(|_| spec.check_burn(&media).is_ok());
        if plan.copies_video() && (exact_cut || spec.two_pass || burn.is_some()) {
            wish.video_codec = if spec.video_codec == ghoststream_types::VideoCodec::Copy {
                ghoststream_types::VideoCodec::H264
            } else {
                spec.video_codec
            };
            wish.bitrate_kbps =
                wish.bitrate_kbps
                    .or(Some(ghoststream_media::plan::auto_bitrate_kbps(
                        media.video.as_ref().map(|v| v.height).unwrap_or(720),
                    )));
            plan = decide(&media, &wish);
            if let Some(v) = plan.streams.video.as_mut() {
                v.reason = if exact_cut {
                    format!(
                        "start_time {} needs an exact cut; {}",
                        spec.start_time, v.reason
                    )
                } else if let Some(s) = burn {
                    format!(
                        "subtitle stream {s} is drawn into the picture; {}",
                        v.reason
                    )
                } else {
                    format!("two_pass needs the video encoded; {}", v.reason)
                };
            }
        }
        if let Some(s) = burn {
            plan.burn_subtitle = Some(s);
            if let Some(sp) = plan.streams.subtitle.iter_mut().find(|p| p.index == s) {
                sp.action = ghoststream_types::StreamAction::Transcode;
                sp.target_codec = Some("burned in".into());
                sp.reason = "drawn into the video (burn_subtitle)".into();
            }
        }
        let codec = match &plan.video {
            VideoAction::Encode { codec, .. } => Some(*codec),
            _ => None,
        };
        let hw = match codec {
            Some(c) => self.shared.hardware.pick(spec.hw_request, c),
            None => ghoststream_types::HwKind::Software,
        };
        // libplacebo's Vulkan device is ffmpeg's filter device, which VAAPI and QSV need
        // for their uploads: those jobs encode in software.
        let hw = match hw {
            ghoststream_types::HwKind::Vaapi | ghoststream_types::HwKind::Qsv
                if plan.dovi_reshape =>
            {
                ghoststream_types::HwKind::Software
            }
            other => other,
        };
        let remaining = (media.duration - spec.start_time).max(0.0);
        let seg = config.transcoding.segment_duration;
        let first = config.transcoding.first_segment_duration;
        let map = if !spec.mode.is_hls() {
            None
        } else if plan.copies_video() {
            let kf = self
                .probe_cached(&spec.source, &spec.source_raw, KeyframeNeed::Yes)
                .await?;
            media = kf.media.clone();
            Some(SegmentMap::from_keyframes(
                kf.keyframes.as_deref().unwrap_or(&[]),
                0.0,
                media.duration,
                seg,
                first,
            ))
        } else if codec.is_some_and(|c| ghoststream_media::command::fixed_gop(c, hw)) {
            // An encoder that keeps its own keyframe interval: every segment is one
            // interval long, the first too.
            let fps = media.video.as_ref().map(|v| v.fps).unwrap_or(25.0);
            let (_, seg) = ghoststream_media::command::gop_for(fps, seg);
            Some(SegmentMap::fixed(remaining, seg, seg))
        } else {
            Some(SegmentMap::fixed(remaining, seg, first))
        };
        // A consumer card's NVENC sessions are few: a job that would open one too many
        // encodes in software, and its plan says why.
        let hw = if hw == ghoststream_types::HwKind::Nvenc {
            let configured = config.hardware.nvenc_max_sessions;
            let full = tokio::task::spawn_blocking(move || {
                let (open, name) = ghoststream_media::hw::nvenc_sessions_open()?;
                ghoststream_media::hw::nvenc_sessions_full(open, &name, configured)
            })
            .await
            .ok()
            .flatten();
            match full {
                Some(why) => {
                    if let Some(v) = plan.streams.video.as_mut() {
                        v.reason = format!("{}; {why}", v.reason);
                    }
                    ghoststream_types::HwKind::Software
                }
                None => hw,
            }
        } else {
            hw
        };
        // HDR to SDR on a GPU tone mapper proven at start, where one fits beside the
        // encoder; zscale otherwise.
        if let VideoAction::Encode { tone_map: true, .. } = &plan.video {
            let proven = &self.shared.hardware.gpu_tone;
            if let Some(t) =
                ghoststream_media::command::pick_gpu_tone(proven, hw).filter(|_| !plan.dovi_reshape)
            {
                plan.gpu_tone = Some(t);
                if let Some(v) = plan.streams.video.as_mut() {
                    v.reason = format!("{}; tone-mapped on the GPU ({})", v.reason, t.filter());
                }
            }
        }
        choose_decoder(&mut plan, &media, &self.shared.hardware, hw);
        Ok(Prepared {
            media,
            plan,
            map,
            hw,
        })
    }
}

/// Decoding on a GPU where its trial passed for this source's format: the encoder's own
/// GPU first (the frames never leave it), else the first that proved it (its frames are
/// read back for the software encoder). Only for a picture that needs nothing but
/// scaling, and burned subtitles where that GPU's overlay passed its trial; tone mapping
/// and Dolby Vision decode in software. The plan
/// says which, and why not.
fn choose_decoder(
    plan: &mut Plan,
    media: &MediaInfo,
    hardware: &ghoststream_media::hw::Hardware,
    hw: ghoststream_types::HwKind,
) {
    use ghoststream_media::hw::{decode_label, DECODE_KINDS};
    let (
        VideoAction::Encode {
            tone_map, ten_bit, ..
        },
        Some(v),
    ) = (&plan.video, &media.video)
    else {
        return;
    };
    let source_ten = v.bit_depth > 8;
    let Some(label) = decode_label(&v.codec, source_ten) else {
        return;
    };
    if !hardware.decoding_tried() {
        return;
    }
    let candidates: Vec<ghoststream_types::HwKind> = std::iter::once(hw)
        .chain(DECODE_KINDS)
        .filter(|k| DECODE_KINDS.contains(k))
        .filter(|k| *k == hw || hw == ghoststream_types::HwKind::Software)
        .collect();
    let proven = candidates
        .into_iter()
        .find(|k| hardware.decode_proven(*k, &v.codec, source_ten));
    let burn = plan.burn_subtitle.is_some();
    let note = match proven {
        _ if *tone_map || *ten_bit || plan.dovi_reshape => {
            format!("{label} decoded in software (the picture is converted before scaling)")
        }
        Some(k) if burn && !hardware.overlay_proven(k) => format!(
            "{label} decoded in software (subtitles are drawn in software: no GPU overlay proved it)"
        ),
        Some(k) => {
            plan.decode = Some(k);
            let drawn = ghoststream_media::command::gpu_overlay(k)
                .filter(|_| burn)
                .map(|o| format!(", subtitles drawn there ({o})"))
                .unwrap_or_default();
            format!(
                "{label} decoded on the GPU ({}){drawn}",
                ghoststream_media::hw::decoder_of(k)
            )
        }
        None => format!("{label} decoded in software (no GPU decoder proved it)"),
    };
    if let Some(s) = plan.streams.video.as_mut() {
        s.reason = format!("{}; {note}", s.reason);
    }
}

/// Held while a request probes its source.
pub(crate) struct ProbeSlot<'a> {
    _host: tokio::sync::OwnedSemaphorePermit,
    _global: tokio::sync::SemaphorePermit<'a>,
}

/// What a source must be before any encoder runs on it: a file of known length (an
/// endless stream would fill the disk), with frames no larger than the limit (a huge frame
/// costs ffmpeg gigabytes).
fn check_source_bounds(media: &MediaInfo, max_pixels: u64) -> Result<(), String> {
    if !(media.duration > 0.0 && media.duration.is_finite()) {
        return Err(
            "the source has no known length (a live or endless stream?); only files can be transcoded"
                .into(),
        );
    }
    if let Some(v) = &media.video {
        if u64::from(v.width) * u64::from(v.height) > max_pixels {
            return Err(format!(
                "the source's frames are {}x{}, more than transcoding.max_source_pixels ({max_pixels}) allows",
                v.width, v.height
            ));
        }
    }
    Ok(())
}

/// Bytes `[from, from + len)` of a source; HTTP sources must honour Range (206).
async fn read_range(
    client: &reqwest::Client,
    source: &Source,
    from: u64,
    len: u64,
) -> Option<Vec<u8>> {
    match source {
        Source::Http(url) => {
            let r = client
                .get(url)
                .header("Range", format!("bytes={from}-{}", from + len - 1))
                .send()
                .await
                .ok()?;
            if r.status().as_u16() != 206 {
                return None;
            }
            r.bytes().await.ok().map(|b| b.to_vec())
        }
        Source::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                use std::io::{Read, Seek};
                let mut f = std::fs::File::open(path).ok()?;
                f.seek(std::io::SeekFrom::Start(from)).ok()?;
                let mut buf = Vec::new();
                f.take(len).read_to_end(&mut buf).ok()?;
                Some(buf)
            })
            .await
            .ok()?
        }
    }
}

/// The keyframe index from the container's own index, where it has one: Matroska Cues or
/// MP4 sample tables, a few small reads instead of ffprobe reading every packet. `None`
/// (ffprobe then) when anything does not fit.
async fn container_keyframes(
    client: Option<&reqwest::Client>,
    source: &Source,
) -> Option<Vec<f64>> {
    let client = client?;
    let head = read_range(client, source, 0, 64 * 1024).await?;
    let keyframes = if ghoststream_media::mp4::looks_like_mp4(&head) {
        mp4_keyframes(client, source, &head).await?
    } else {
        mkv_keyframes(client, source, &head).await?
    };
    // An index that does not start at the beginning is not an index of every keyframe.
    (keyframes.first().copied().unwrap_or(f64::MAX) < 1.0).then_some(keyframes)
}

async fn mkv_keyframes(client: &reqwest::Client, source: &Source, head: &[u8]) -> Option<Vec<f64>> {
    use ghoststream_media::mkv;
    let head = mkv::parse_head(head)?;
    let len = mkv::element_len(&read_range(client, source, head.cues_offset, 16).await?)?;
    if len > 64 * 1024 * 1024 {
        return None;
    }
    mkv::parse_cues(
        &read_range(client, source, head.cues_offset, len).await?,
        &head,
    )
}

/// Walks the top-level boxes (one 16-byte read each past the first 64 KiB) to `moov`.
async fn mp4_keyframes(client: &reqwest::Client, source: &Source, head: &[u8]) -> Option<Vec<f64>> {
    use ghoststream_media::mp4;
    let mut pos = 0u64;
    for _ in 0..64 {
        let at = pos as usize;
        let header = if at + 16 <= head.len() {
            head[at..at + 16].to_vec()
        } else {
            read_range(client, source, pos, 16).await?
        };
        let (kind, header_len, size) = mp4::box_header(&header)?;
        if &kind == b"moov" {
            let size = size?;
            if size > 64 * 1024 * 1024 {
                return None;
            }
            let end = pos + size;
            let moov = if end as usize <= head.len() {
                head[at + header_len as usize..end as usize].to_vec()
            } else {
                let whole = read_range(client, source, pos, size).await?;
                whole.get(header_len as usize..)?.to_vec()
            };
            return mp4::keyframes(&moov);
        }
        pos = pos.checked_add(size?)?;
    }
    None
}
