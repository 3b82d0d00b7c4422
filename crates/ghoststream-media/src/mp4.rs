//! The keyframe index of an MP4/MOV file from its sample tables (`stss`, `stts`, `ctts`,
//! `elst` of the first video track), read from the `moov` box instead of a pass over every
//! packet. Pure parsing; the caller does the I/O (a few small reads to find `moov`, one to
//! read it) and falls back to ffprobe when this returns `None`.

/// A box header: its type, the header's length and the whole box's length (`None`: it
/// runs to the end of the file).
pub fn box_header(buf: &[u8]) -> Option<([u8; 4], u64, Option<u64>)> {
    let size = u32::from_be_bytes(buf.get(0..4)?.try_into().ok()?) as u64;
    let kind: [u8; 4] = buf.get(4..8)?.try_into().ok()?;
    match size {
        0 => Some((kind, 8, None)),
        1 => {
            let large = u64::from_be_bytes(buf.get(8..16)?.try_into().ok()?);
            (large >= 16).then_some((kind, 16, Some(large)))
        }
        s if s >= 8 => Some((kind, 8, Some(s))),
        _ => None,
    }
}

/// Whether `head` (the file's first bytes) is an ISO base media file.
pub fn looks_like_mp4(head: &[u8]) -> bool {
    head.get(4..8) == Some(b"ftyp")
}

/// The boxes inside `buf` (a box's payload): type and payload.
fn boxes(buf: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= buf.len() {
        let Some((kind, header, size)) = box_header(&buf[pos..]) else {
            break;
        };
        let end = match size {
            Some(s) => pos.saturating_add(s as usize),
            None => buf.len(),
        };
        if end > buf.len() {
            break;
        }
        out.push((kind, &buf[pos + header as usize..end]));
        pos = end;
    }
    out
}

fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(buf)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
}

fn u32_at(buf: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(pos..pos + 4)?.try_into().ok()?))
}

fn u64_at(buf: &[u8], pos: usize) -> Option<u64> {
    Some(u64::from_be_bytes(buf.get(pos..pos + 8)?.try_into().ok()?))
}

/// `(count, value)` runs of a full box's table (`stts`, `ctts`): version/flags, count, runs.
fn runs(table: &[u8]) -> Option<Vec<(u32, u32)>> {
    let n = u32_at(table, 4)? as usize;
    if table.len() < 8 + n.checked_mul(8)? {
        return None;
    }
    (0..n)
        .map(|i| Some((u32_at(table, 8 + 8 * i)?, u32_at(table, 12 + 8 * i)?)))
        .collect()
}

/// How the track's edit list (`elst`) moves its media times onto the presentation
/// timeline: `(delay, media_time)`, a presentation time of `delay` seconds (empty edits
/// first) where the media at `media_time` (track timescale) plays. One media edit at
/// most, after any empty ones; anything else is left to ffprobe.
fn edit_shift(trak: &[u8], movie_timescale: u32) -> Option<(f64, i64)> {
    let Some(elst) = child(trak, b"edts").and_then(|e| child(e, b"elst")) else {
        return Some((0.0, 0));
    };
    let version = *elst.first()?;
    let n = u32_at(elst, 4)? as usize;
    let entry = if version == 1 { 20 } else { 12 };
    let mut delay = 0u64;
    let mut media = None;
    for i in 0..n {
        let at = 8 + entry * i;
        let (duration, media_time) = if version == 1 {
            (u64_at(elst, at)?, u64_at(elst, at + 8)? as i64)
        } else {
            (
                u32_at(elst, at)? as u64,
                u32_at(elst, at + 4)? as i32 as i64,
            )
        };
        match (media_time, media) {
            (-1, None) => delay += duration,
            (t, None) if t >= 0 => media = Some(t),
            _ => return None,
        }
    }
    if movie_timescale == 0 {
        return None;
    }
    Some((delay as f64 / movie_timescale as f64, media.unwrap_or(0)))
}

/// The presentation times (seconds) of the first video track's sync samples, sorted.
/// `None` when the file has no such track, is fragmented (its samples are not in `moov`),
/// marks every sample as sync (no `stss`), or has edits this does not follow.
pub fn keyframes(moov: &[u8]) -> Option<Vec<f64>> {
    let mvhd = child(moov, b"mvhd")?;
    let movie_timescale = if *mvhd.first()? == 1 {
        u32_at(mvhd, 20)?
    } else {
        u32_at(mvhd, 12)?
    };
    let trak = boxes(moov)
        .into_iter()
        .filter(|(k, _)| k == b"trak")
        .map(|(_, t)| t)
        .find(|t| {
            child(t, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .and_then(|h| h.get(8..12))
                == Some(b"vide")
        })?;
    let mdia = child(trak, b"mdia")?;
    let mdhd = child(mdia, b"mdhd")?;
    let timescale = if *mdhd.first()? == 1 {
        u32_at(mdhd, 20)?
    } else {
        u32_at(mdhd, 12)?
    };
    if timescale == 0 {
        return None;
    }
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    let stss = child(stbl, b"stss")?;
    let sync_count = u32_at(stss, 4)? as usize;
    if sync_count == 0 || stss.len() < 8 + sync_count.checked_mul(4)? {
        return None;
    }
    let sync: Vec<u32> = (0..sync_count)
        .map(|i| u32_at(stss, 8 + 4 * i))
        .collect::<Option<_>>()?;
    let stts = runs(child(stbl, b"stts")?)?;
    let ctts = match child(stbl, b"ctts") {
        Some(c) => {
            // Version 1 offsets are signed; version 0 ones are too in practice (ffmpeg).
            runs(c)?
        }
        None => Vec::new(),
    };
    let (delay, shift) = edit_shift(trak, movie_timescale)?;
    let total: u64 = stts.iter().map(|(n, _)| *n as u64).sum();
    if total == 0 {
        return None;
    }
    // Walk the samples once, in order, picking out the sync ones (stss is ascending).
    let mut out = Vec::with_capacity(sync.len());
    let mut want = sync.iter().copied().peekable();
    let (mut dts, mut sample) = (0i64, 1u32);
    let mut ctts_runs = ctts
        .iter()
        .flat_map(|(n, off)| std::iter::repeat_n(*off as i32 as i64, *n as usize));
    'samples: for (count, delta) in &stts {
        for _ in 0..*count {
            let cts = ctts_runs.next().unwrap_or(0);
            while want.peek().is_some_and(|s| *s < sample) {
                want.next();
            }
            if want.peek() == Some(&sample) {
                out.push(delay + (dts + cts - shift) as f64 / timescale as f64);
                want.next();
            }
            if want.peek().is_none() {
                break 'samples;
            }
            dts += *delta as i64;
            sample = sample.checked_add(1)?;
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    fn full(kind: &[u8; 4], version: u8, body: &[u32]) -> Vec<u8> {
        let mut p = vec![version, 0, 0, 0];
        for x in body {
            p.extend_from_slice(&x.to_be_bytes());
        }
        bx(kind, &p)
    }

    fn trak(handler: &[u8; 4], stbl: Vec<u8>, elst: Option<Vec<u8>>) -> Vec<u8> {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0u8; 12]);
        // mdhd v0: ctime, mtime, timescale 1000, duration.
        let mdhd = full(b"mdhd", 0, &[0, 0, 1000, 10_000, 0]);
        let minf = bx(b"minf", &bx(b"stbl", &stbl));
        let mdia = bx(b"mdia", &[mdhd, bx(b"hdlr", &hdlr), minf].concat());
        let mut t = Vec::new();
        if let Some(e) = elst {
            t.extend(bx(b"edts", &e));
        }
        t.extend(mdia);
        bx(b"trak", &t)
    }

    #[test]
    fn sync_samples_at_their_presentation_times() {
        // 10 samples of 100 ms; sync at 1, 5 and 9; B-frame style composition offsets of
        // 200 ms on every sample, shifted back by the edit list's 200 ms.
        let stbl = [
            full(b"stts", 0, &[1, 10, 100]),
            full(b"ctts", 0, &[1, 10, 200]),
            full(b"stss", 0, &[3, 1, 5, 9]),
        ]
        .concat();
        let elst = full(b"elst", 0, &[1, 1000, 200, 0x0001_0000]);
        let audio = trak(b"soun", full(b"stts", 0, &[0]), None);
        let moov = [mvhd(), audio, trak(b"vide", stbl.clone(), Some(elst))].concat();
        assert_eq!(keyframes(&moov), Some(vec![0.0, 0.4, 0.8]));
        // An empty edit of 50 ms (movie timescale 600) first: everything starts that late.
        let delayed = full(
            b"elst",
            0,
            &[2, 30, u32::MAX, 0x0001_0000, 1000, 200, 0x0001_0000],
        );
        let moov = [mvhd(), trak(b"vide", stbl, Some(delayed))].concat();
        let got = keyframes(&moov).unwrap();
        assert!(
            got.iter()
                .zip([0.05, 0.45, 0.85])
                .all(|(a, b)| (a - b).abs() < 1e-9),
            "{got:?}"
        );
    }

    fn mvhd() -> Vec<u8> {
        full(b"mvhd", 0, &[0, 0, 600, 6000])
    }

    #[test]
    fn what_it_does_not_follow_is_left_to_ffprobe() {
        let stbl = |sync: bool| {
            let mut s = full(b"stts", 0, &[1, 10, 100]);
            if sync {
                s.extend(full(b"stss", 0, &[1, 1]));
            }
            s
        };
        let moov = |t: Vec<u8>| [mvhd(), t].concat();
        // Every sample a keyframe (no stss), two media edits, no video at all.
        assert_eq!(keyframes(&moov(trak(b"vide", stbl(false), None))), None);
        let two = full(b"elst", 0, &[2, 500, 0, 0x0001_0000, 500, 900, 0x0001_0000]);
        assert_eq!(keyframes(&moov(trak(b"vide", stbl(true), Some(two)))), None);
        assert_eq!(keyframes(&moov(trak(b"soun", stbl(true), None))), None);
        assert_eq!(
            keyframes(&moov(trak(b"vide", stbl(true), None))),
            Some(vec![0.0])
        );
        // No movie header, or truncated tables: refused, not read past.
        assert_eq!(keyframes(&trak(b"vide", stbl(true), None)), None);
        let mut short = full(b"stss", 0, &[5, 1]);
        short.truncate(short.len() - 2);
        assert_eq!(keyframes(&moov(trak(b"vide", short, None))), None);
    }

    /// The moov box of a real file, walked as the prober does.
    fn moov_of(bytes: &[u8]) -> &[u8] {
        let mut pos = 0usize;
        loop {
            let (kind, header, size) = box_header(&bytes[pos..]).unwrap();
            let end = pos + size.unwrap() as usize;
            if &kind == b"moov" {
                return &bytes[pos + header as usize..end];
            }
            pos = end;
        }
    }

    /// Against ffprobe on real files (B-frames, an edit list; moov first and last): the
    /// same keyframes.
    #[tokio::test]
    async fn sample_tables_match_ffprobe() {
        let dir = tempfile::tempdir().unwrap();
        // The third starts its video 0.1 s late: an empty edit comes first.
        for (name, moov_first) in [("first.mp4", true), ("last.mp4", false), ("late.mp4", true)] {
            let f = dir.path().join(name);
            let late: &[&str] = if name == "late.mp4" {
                &["-itsoffset", "0.1"]
            } else {
                &[]
            };
            let faststart: &[&str] = if moov_first {
                &["-movflags", "+faststart"]
            } else {
                &[]
            };
            let inputs = [
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x90:rate=30:duration=9",
            ];
            let rest = [
                "-f",
                "lavfi",
                "-i",
                "sine=duration=9",
                "-c:v",
                "libx264",
                "-bf",
                "3",
            ];
            let gop = ["-g", "45", "-keyint_min", "10", "-c:a", "aac", "-shortest"];
            crate::probe::ffmpeg_makes(&f, &[late, &inputs, &rest, &gop, faststart].concat());
            let bytes = std::fs::read(&f).unwrap();
            let ours = keyframes(moov_of(&bytes)).unwrap();
            crate::probe::assert_same_keyframes(&f, &ours).await;
        }
    }

    #[test]
    fn box_headers() {
        assert_eq!(
            box_header(b"\0\0\0\x18ftypisom"),
            Some((*b"ftyp", 8, Some(24)))
        );
        let mut large = b"\0\0\0\x01mdat".to_vec();
        large.extend_from_slice(&(1u64 << 33).to_be_bytes());
        assert_eq!(box_header(&large), Some((*b"mdat", 16, Some(1 << 33))));
        assert_eq!(box_header(b"\0\0\0\0mdat"), Some((*b"mdat", 8, None)));
        assert_eq!(box_header(b"\0\0\0\x04mdat"), None);
        assert!(looks_like_mp4(b"\0\0\0\x18ftypisom"));
        assert!(!looks_like_mp4(b"\x1a\x45\xdf\xa3"));
    }
}
