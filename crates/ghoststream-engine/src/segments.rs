//! The fixed segment map of an HLS job and the playlists drawn from it. The map is decided
//! before the first playlist is served and never changes, so players can seek anywhere and
//! an encoder restarted at segment `n` writes exactly the segments the playlist promised.

use ghoststream_media::command::secs;
use ghoststream_types::Variant;

/// Segment start times on the output timeline (0 = the job's `start_time`).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentMap {
    starts: Vec<f64>,
    total: f64,
}

impl SegmentMap {
    /// Fixed segments for encodes with forced keyframes: a short first one (the first
    /// picture comes sooner), then `segment_secs` each. A tail shorter than half a second
    /// joins the segment before it.
    pub fn fixed(total_secs: f64, segment_secs: f64, first_secs: f64) -> SegmentMap {
        let total = total_secs.max(0.001);
        let first = first_secs.clamp(0.5, segment_secs);
        let mut starts = vec![0.0];
        let mut next = first;
        while next < total - 0.5 {
            starts.push(next);
            next += segment_secs;
        }
        SegmentMap { starts, total }
    }

    /// Segments on the source's own keyframes (copy path): each as close to
    /// `segment_secs` as the keyframes allow. `keyframes` and `origin` are on the source
    /// timeline; `origin` (the keyframe the job starts at) becomes output time 0.
    pub fn from_keyframes(
        keyframes: &[f64],
        origin: f64,
        total_secs: f64,
        segment_secs: f64,
        first_secs: f64,
    ) -> SegmentMap {
        let total = total_secs.max(0.001);
        let mut starts = vec![0.0];
        for k in keyframes {
            let t = k - origin;
            let last = *starts.last().unwrap_or(&0.0);
            let want = if starts.len() == 1 {
                first_secs.min(segment_secs)
            } else {
                segment_secs
            };
            if t >= last + want - 0.05 && t < total - 0.25 {
                starts.push(t);
            }
        }
        SegmentMap { starts, total }
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    pub fn total(&self) -> f64 {
        self.total
    }

    pub fn start(&self, i: usize) -> f64 {
        self.starts.get(i).copied().unwrap_or(self.total)
    }

    pub fn end(&self, i: usize) -> f64 {
        self.starts.get(i + 1).copied().unwrap_or(self.total)
    }

    pub fn duration(&self, i: usize) -> f64 {
        self.end(i) - self.start(i)
    }

    pub fn max_duration(&self) -> f64 {
        (0..self.len())
            .map(|i| self.duration(i))
            .fold(0.0, f64::max)
    }

    /// The segment containing output time `t`.
    pub fn index_at(&self, t: f64) -> usize {
        match self.starts.binary_search_by(|s| s.total_cmp(&t)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
}

/// A subtitle track as listed in the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleEntry {
    pub name: String,
    pub language: String,
    pub default: bool,
    pub forced: bool,
}

/// The RFC 6381 name of a video stream for `CODECS`: the codec (ffprobe's name), its
/// height (the level a picture that size needs at up to 60 fps, where the level is not
/// known), 10-bit or not, and the level the source states (HEVC: ffprobe's level × 30).
pub fn video_codec_tag(codec: &str, height: u32, ten_bit: bool, level: Option<i32>) -> String {
    let tier = |small: u32, mid: u32, big: u32| match height {
        0..=1080 => small,
        1081..=2160 => mid,
        _ => big,
    };
    match codec {
        "hevc" => {
            let level = level
                .filter(|l| (30..=186).contains(l))
                .map(|l| l as u32)
                .unwrap_or_else(|| tier(123, 153, 183));
            if ten_bit {
                format!("hvc1.2.4.L{level}.90")
            } else {
                format!("hvc1.1.6.L{level}.90")
            }
        }
        // Main profile, seq_level_idx (4.1 = 9, 5.1 = 13, 6.1 = 17), main tier.
        "av1" => format!(
            "av01.0.{:02}M.{}",
            tier(9, 13, 17),
            if ten_bit { "10" } else { "08" }
        ),
        "vp9" => {
            let level = tier(41, 51, 61);
            if ten_bit {
                format!("vp09.02.{level}.10")
            } else {
                format!("vp09.00.{level}.08")
            }
        }
        _ => "avc1.640028".to_string(),
    }
}

/// The RFC 6381 name of an audio codec (ffprobe's name) for `CODECS`.
pub fn audio_codec_tag(codec: &str) -> &'static str {
    match codec {
        "mp3" => "mp4a.40.34",
        "ac3" => "ac-3",
        "eac3" => "ec-3",
        "opus" => "opus",
        "flac" => "fLaC",
        _ => "mp4a.40.2",
    }
}

/// `#EXT-X-STREAM-INF` codecs string for a rendition: its video and every audio codec
/// a player may get with it.
pub fn codecs_attr(video: Option<&str>, audio: &[&str]) -> String {
    let mut parts: Vec<&str> = video.into_iter().collect();
    for a in audio {
        if !parts.contains(a) {
            parts.push(a);
        }
    }
    parts.join(",")
}

fn quoted(s: &str) -> String {
    s.replace(['"', '\n', '\r'], "'")
}

/// An audio track as listed in the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioEntry {
    pub name: String,
    pub language: String,
    pub channels: u32,
    pub default: bool,
    /// Its playlist, relative to the master.
    pub playlist: String,
}

/// The master playlist: one `EXT-X-STREAM-INF` per variant, the audio group when the
/// audio tracks are renditions of their own, subtitle groups, relative URIs carrying the
/// stream token.
pub fn master_playlist(
    variants: &[Variant],
    codecs: &str,
    audio: &[AudioEntry],
    subtitles: &[SubtitleEntry],
    query: &str,
) -> String {
    let mut p = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for a in audio {
        p.push_str(&format!(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"{}\",LANGUAGE=\"{}\",DEFAULT={},AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}{query}\"\n",
            quoted(&a.name),
            quoted(&a.language),
            yes_no(a.default),
            a.channels,
            a.playlist,
        ));
    }
    for (i, s) in subtitles.iter().enumerate() {
        p.push_str(&format!(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"{}\",LANGUAGE=\"{}\",DEFAULT={},AUTOSELECT={},FORCED={},URI=\"sub{i}.m3u8{query}\"\n",
            quoted(&s.name),
            quoted(&s.language),
            yes_no(s.default),
            // A forced track is chosen by language alone, so it must be selectable.
            yes_no(s.default || s.forced),
            yes_no(s.forced),
        ));
    }
    // Audio renditions are counted at the bitrate of the largest.
    let audio_kbps = if audio.is_empty() {
        160
    } else {
        64 * audio
            .iter()
            .map(|a| a.channels)
            .max()
            .unwrap_or(2)
            .clamp(2, 7) as u64
    };
    for v in variants {
        let bandwidth = (v.bitrate_kbps as u64 + audio_kbps) * 1000;
        p.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{codecs}\"{}{}\n{}{query}\n",
            bandwidth * 4 / 5,
            v.width,
            v.height,
            if audio.is_empty() { "" } else { ",AUDIO=\"audio\"" },
            if subtitles.is_empty() { "" } else { ",SUBTITLES=\"subs\"" },
            v.playlist,
        ));
    }
    p
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "YES"
    } else {
        "NO"
    }
}

/// A VOD variant playlist listing every segment, with ENDLIST from the first request.
/// fMP4 segments each follow their own initialisation section (`#EXT-X-MAP`).
pub fn variant_playlist(map: &SegmentMap, variant: usize, query: &str, fmp4: bool) -> String {
    use ghoststream_media::command::{init_name, segment_name};
    let target = map.max_duration().ceil().max(1.0) as u64;
    let version = if fmp4 { 7 } else { 3 };
    let mut p = format!(
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    for i in 0..map.len() {
        if fmp4 {
            p.push_str(&format!(
                "#EXT-X-MAP:URI=\"{}{query}\"\n",
                init_name(variant, i as u32)
            ));
        }
        p.push_str(&format!(
            "#EXTINF:{},\n{}{query}\n",
            secs(map.duration(i)),
            segment_name(variant, i as u32, fmp4)
        ));
    }
    p.push_str("#EXT-X-ENDLIST\n");
    p
}

/// A subtitle playlist: the whole WebVTT file as one segment.
pub fn subtitle_playlist(total: f64, index: usize, query: &str) -> String {
    let target = total.ceil().max(1.0) as u64;
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:{},\nsub{index}.vtt{query}\n#EXT-X-ENDLIST\n",
        secs(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_map() {
        let m = SegmentMap::fixed(10.0, 4.0, 4.0);
        assert_eq!(m.len(), 3);
        assert_eq!((m.start(2), m.duration(2)), (8.0, 2.0));
        assert_eq!(m.index_at(7.9), 1);
        assert_eq!(m.index_at(8.0), 2);
        assert_eq!(SegmentMap::fixed(8.0, 4.0, 4.0).len(), 2);
        let m = SegmentMap::fixed(8.03, 4.0, 4.0);
        assert_eq!(m.len(), 2);
        assert!((m.duration(1) - 4.03).abs() < 1e-9);
        assert_eq!(SegmentMap::fixed(8.6, 4.0, 4.0).len(), 3);
        assert_eq!(SegmentMap::fixed(0.2, 4.0, 1.0).len(), 1);
        // A short first segment, then the usual length.
        let m = SegmentMap::fixed(10.0, 4.0, 1.0);
        assert_eq!(m.starts, vec![0.0, 1.0, 5.0, 9.0]);
        assert_eq!(SegmentMap::fixed(9.3, 4.0, 1.0).starts, vec![0.0, 1.0, 5.0]);
    }

    #[test]
    fn keyframe_map_groups_to_target() {
        let kf = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.5, 9.0, 12.0, 12.9];
        let m = SegmentMap::from_keyframes(&kf, 0.0, 13.0, 4.0, 4.0);
        assert_eq!(m.starts, vec![0.0, 4.0, 9.0]);
        let m = SegmentMap::from_keyframes(&kf, 0.0, 13.0, 4.0, 1.0);
        assert_eq!(m.starts, vec![0.0, 1.0, 5.0, 9.0]);
        // Origin shifts to the job's first keyframe.
        let m = SegmentMap::from_keyframes(&[2.0, 4.0, 6.0, 8.0], 2.0, 8.0, 4.0, 4.0);
        assert_eq!(m.starts, vec![0.0, 4.0]);
    }

    #[test]
    fn codec_tags() {
        assert_eq!(video_codec_tag("h264", 720, false, Some(31)), "avc1.640028");
        assert_eq!(
            video_codec_tag("hevc", 2160, true, Some(153)),
            "hvc1.2.4.L153.90"
        );
        assert_eq!(
            video_codec_tag("hevc", 720, false, None),
            "hvc1.1.6.L123.90"
        );
        assert_eq!(video_codec_tag("av1", 1080, false, None), "av01.0.09M.08");
        assert_eq!(video_codec_tag("av1", 2160, true, None), "av01.0.13M.10");
        assert_eq!(video_codec_tag("vp9", 360, false, None), "vp09.00.41.08");
    }

    #[test]
    fn playlists_snapshot() {
        let m = SegmentMap::fixed(10.0, 4.0, 4.0);
        assert_eq!(
            variant_playlist(&m, 0, "?gst=T", false),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXTINF:4.000,\nv0_00000.ts?gst=T\n#EXTINF:4.000,\nv0_00001.ts?gst=T\n#EXTINF:2.000,\nv0_00002.ts?gst=T\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(
            variant_playlist(&SegmentMap::fixed(6.0, 4.0, 4.0), 1, "?gst=T", true),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-MAP:URI=\"v1_00000_init.mp4?gst=T\"\n#EXTINF:4.000,\nv1_00000.m4s?gst=T\n\
#EXT-X-MAP:URI=\"v1_00001_init.mp4?gst=T\"\n#EXTINF:2.000,\nv1_00001.m4s?gst=T\n#EXT-X-ENDLIST\n"
        );
        let v = Variant {
            name: "720p".into(),
            width: 1280,
            height: 720,
            resolution: "1280x720".into(),
            bitrate_kbps: 4000,
            playlist: "v0.m3u8".into(),
        };
        let subs = [
            SubtitleEntry {
                name: "English \"CC\"".into(),
                language: "en".into(),
                default: true,
                forced: false,
            },
            SubtitleEntry {
                name: "Signs".into(),
                language: "fre".into(),
                default: false,
                forced: true,
            },
        ];
        assert_eq!(
            master_playlist(std::slice::from_ref(&v), "avc1.640028,mp4a.40.2", &[], &subs, "?gst=T"),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English 'CC'\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI=\"sub0.m3u8?gst=T\"\n\
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Signs\",LANGUAGE=\"fre\",DEFAULT=NO,AUTOSELECT=YES,FORCED=YES,URI=\"sub1.m3u8?gst=T\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=4160000,AVERAGE-BANDWIDTH=3328000,RESOLUTION=1280x720,CODECS=\"avc1.640028,mp4a.40.2\",SUBTITLES=\"subs\"\nv0.m3u8?gst=T\n"
        );
        let audio = [
            AudioEntry {
                name: "English".into(),
                language: "eng".into(),
                channels: 2,
                default: true,
                playlist: "v1.m3u8".into(),
            },
            AudioEntry {
                name: "fre".into(),
                language: "fre".into(),
                channels: 6,
                default: false,
                playlist: "v2.m3u8".into(),
            },
        ];
        let m = master_playlist(&[v], "avc1.640028,mp4a.40.2", &audio, &[], "?gst=T");
        assert!(m.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"v1.m3u8?gst=T\"\n"), "{m}");
        assert!(m.contains("NAME=\"fre\",LANGUAGE=\"fre\",DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"6\",URI=\"v2.m3u8?gst=T\""), "{m}");
        assert!(m.contains(",AUDIO=\"audio\"\nv0.m3u8?gst=T\n"), "{m}");
    }
}
