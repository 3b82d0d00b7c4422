//! WebVTT for HLS: cues shifted to the job's start and the timestamp map header that
//! aligns them with MPEG-TS segments.

/// Embedded text tracks a stream extracts at most; the rest are named in the job's log.
pub const MAX_EMBEDDED: usize = 32;

/// Whether an embedded subtitle track is text that converts to WebVTT (SubRip, ASS/SSA,
/// mov_text, WebVTT). Image tracks (PGS, DVB, VobSub) are not: they can only be burned in.
pub fn is_text(codec: &str) -> bool {
    matches!(
        codec,
        "subrip" | "srt" | "ass" | "ssa" | "mov_text" | "webvtt" | "text"
    )
}

/// Parses `HH:MM:SS.mmm` or `MM:SS.mmm` into seconds.
fn parse_ts(s: &str) -> Option<f64> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (
            h.parse::<f64>().ok()?,
            m.parse::<f64>().ok()?,
            s.replace(',', ".").parse::<f64>().ok()?,
        ),
        [m, s] => (
            0.0,
            m.parse::<f64>().ok()?,
            s.replace(',', ".").parse::<f64>().ok()?,
        ),
        _ => return None,
    };
    Some(h * 3600.0 + m * 60.0 + sec)
}

fn fmt_ts(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// Shifts every cue by `-offset_secs`, drops cues that end before 0, and puts the
/// `X-TIMESTAMP-MAP` header after `WEBVTT`: output time 0 is `origin_secs` on the
/// segments' timeline (0 for MPEG-TS, [`crate::command::FMP4_ORIGIN_SECS`] for fMP4).
pub fn prepare_vtt(text: &str, offset_secs: f64, origin_secs: f64) -> String {
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let mut blocks = text.split("\n\n");
    let header = blocks.next().unwrap_or("WEBVTT");
    let header: Vec<&str> = header
        .lines()
        .filter(|l| !l.starts_with("X-TIMESTAMP-MAP"))
        .collect();
    let mut out = String::new();
    out.push_str(header.first().copied().unwrap_or("WEBVTT"));
    out.push_str(&format!(
        "\nX-TIMESTAMP-MAP=MPEGTS:{},LOCAL:00:00:00.000\n",
        (origin_secs * 90_000.0).round() as u64
    ));
    for l in header.iter().skip(1) {
        out.push_str(l);
        out.push('\n');
    }
    for block in blocks {
        let block = block.trim_matches('\n');
        if block.is_empty() {
            continue;
        }
        let mut lines: Vec<String> = Vec::new();
        let mut keep = true;
        for line in block.lines() {
            if let Some((a, rest)) = line.split_once("-->") {
                let rest = rest.trim_start();
                let (b, settings) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                match (parse_ts(a), parse_ts(b)) {
                    (Some(a), Some(b)) => {
                        let (a, b) = (a - offset_secs, b - offset_secs);
                        if b <= 0.0 {
                            keep = false;
                            break;
                        }
                        let mut l = format!("{} --> {}", fmt_ts(a), fmt_ts(b));
                        if !settings.trim().is_empty() {
                            l.push(' ');
                            l.push_str(settings.trim());
                        }
                        lines.push(l);
                    }
                    _ => lines.push(line.to_string()),
                }
            } else {
                lines.push(line.to_string());
            }
        }
        if keep {
            out.push('\n');
            out.push_str(&lines.join("\n"));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_and_drops_cues() {
        let src = "\u{feff}WEBVTT\n\n1\n00:00.500 --> 00:02.000\nearly\n\n00:00:05.000 --> 00:00:07.250 align:start\nlater\nsecond line\n\n00:03.000 --> 00:04.500\nacross\n";
        let out = prepare_vtt(src, 4.0, 0.0);
        assert_eq!(
            out,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n00:00:01.000 --> 00:00:03.250 align:start\nlater\nsecond line\n\n00:00:00.000 --> 00:00:00.500\nacross\n"
        );
    }

    #[test]
    fn text_tracks_are_told_from_image_ones() {
        for c in ["subrip", "ass", "ssa", "mov_text", "webvtt"] {
            assert!(is_text(c), "{c}");
        }
        for c in [
            "hdmv_pgs_subtitle",
            "dvb_subtitle",
            "dvd_subtitle",
            "unknown",
        ] {
            assert!(!is_text(c), "{c}");
        }
    }

    #[test]
    fn no_offset_keeps_cues_and_a_single_map() {
        let once = prepare_vtt("WEBVTT\n\n00:01.000 --> 00:02.000\nhi\n", 0.0, 10.0);
        assert!(once.contains("00:00:01.000 --> 00:00:02.000\nhi"));
        // fMP4 segments start 10 s into their timeline.
        assert!(once.contains("X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000"));
        assert_eq!(
            prepare_vtt(&once, 0.0, 10.0)
                .matches("X-TIMESTAMP-MAP")
                .count(),
            1
        );
    }
}
