//! The keyframe index of a Matroska file from its Cues element, read with two small reads
//! instead of a pass over every packet. Pure parsing; the caller does the I/O and falls
//! back to ffprobe when this returns `None`.

const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CLUSTER: u32 = 0x1F43_B675;
const CUES: u32 = 0x1C53_BB6B;
const CUE_POINT: u32 = 0xBB;
const CUE_TIME: u32 = 0xB3;
const CUE_TRACK_POSITIONS: u32 = 0xB7;
const CUE_TRACK: u32 = 0xF7;

/// (id, data offset, data size; `None` = unknown size) of the element at `pos`.
fn element(buf: &[u8], pos: usize) -> Option<(u32, usize, Option<u64>)> {
    let first = *buf.get(pos)?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return None;
    }
    let id = buf
        .get(pos..pos + id_len)?
        .iter()
        .fold(0u32, |a, b| (a << 8) | *b as u32);
    let spos = pos + id_len;
    let s0 = *buf.get(spos)?;
    let size_len = s0.leading_zeros() as usize + 1;
    if size_len > 8 {
        return None;
    }
    let mut size = (s0 as u64) & (0xFF >> size_len);
    let mut all_ones = size == (0xFF >> size_len) as u64;
    for b in buf.get(spos + 1..spos + size_len)? {
        size = (size << 8) | *b as u64;
        all_ones &= *b == 0xFF;
    }
    Some((id, spos + size_len, (!all_ones).then_some(size)))
}

fn uint(buf: &[u8]) -> u64 {
    buf.iter().take(8).fold(0u64, |a, b| (a << 8) | *b as u64)
}

/// Children of the element whose data is `buf[start..end]`.
fn children(buf: &[u8], start: usize, end: usize) -> Vec<(u32, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let Some((id, data, size)) = element(buf, pos) else {
            break;
        };
        let Some(size) = size else { break };
        let stop = data.saturating_add(size as usize);
        out.push((id, data, stop.min(buf.len())));
        if stop > end {
            break;
        }
        pos = stop;
    }
    out
}

/// What the head of the file says: where Cues is (absolute offset), the timestamp scale
/// (ns) and the video track's number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Head {
    pub cues_offset: u64,
    pub scale_ns: u64,
    pub video_track: u64,
}

/// Parses the first bytes of a file (64 KiB is plenty for files written by ffmpeg or
/// mkvmerge).
pub fn parse_head(buf: &[u8]) -> Option<Head> {
    let (id, data, _) = element(buf, 0)?;
    if id != 0x1A45_DFA3 {
        return None;
    }
    let (_, _, ebml_size) = element(buf, 0)?;
    let seg_pos = data + ebml_size? as usize;
    let (seg_id, seg_data, _) = element(buf, seg_pos)?;
    if seg_id != SEGMENT {
        return None;
    }
    let (mut cues, mut scale, mut video) = (None, 1_000_000u64, None);
    for (id, start, end) in children(buf, seg_data, buf.len()) {
        match id {
            SEEK_HEAD => {
                for (sid, s, e) in children(buf, start, end) {
                    if sid != SEEK {
                        continue;
                    }
                    let kids = children(buf, s, e);
                    let target = kids
                        .iter()
                        .find(|k| k.0 == SEEK_ID)
                        .map(|k| uint(&buf[k.1..k.2]));
                    let at = kids
                        .iter()
                        .find(|k| k.0 == SEEK_POSITION)
                        .map(|k| uint(&buf[k.1..k.2]));
                    if let (Some(t), Some(a)) = (target, at) {
                        if t == CUES as u64 {
                            cues = Some(seg_data as u64 + a);
                        }
                    }
                }
            }
            INFO => {
                if let Some(k) = children(buf, start, end)
                    .iter()
                    .find(|k| k.0 == TIMESTAMP_SCALE)
                {
                    scale = uint(&buf[k.1..k.2]);
                }
            }
            TRACKS => {
                for (tid, s, e) in children(buf, start, end) {
                    if tid != TRACK_ENTRY {
                        continue;
                    }
                    let kids = children(buf, s, e);
                    let ty = kids
                        .iter()
                        .find(|k| k.0 == TRACK_TYPE)
                        .map(|k| uint(&buf[k.1..k.2]));
                    let num = kids
                        .iter()
                        .find(|k| k.0 == TRACK_NUMBER)
                        .map(|k| uint(&buf[k.1..k.2]));
                    if ty == Some(1) && video.is_none() {
                        video = num;
                    }
                }
            }
            CLUSTER => break,
            _ => {}
        }
    }
    Some(Head {
        cues_offset: cues?,
        scale_ns: scale.max(1),
        video_track: video?,
    })
}

/// The total length of the element starting at `buf[0]` (header included), if known.
pub fn element_len(buf: &[u8]) -> Option<u64> {
    let (id, data, size) = element(buf, 0)?;
    (id == CUES).then_some(data as u64 + size?)
}

/// Keyframe times (seconds) of the video track from a whole Cues element.
pub fn parse_cues(buf: &[u8], head: &Head) -> Option<Vec<f64>> {
    let (id, data, size) = element(buf, 0)?;
    if id != CUES {
        return None;
    }
    let end = data + size? as usize;
    if end > buf.len() {
        return None;
    }
    let mut out = Vec::new();
    for (cid, s, e) in children(buf, data, end) {
        if cid != CUE_POINT {
            continue;
        }
        let kids = children(buf, s, e);
        let time = kids
            .iter()
            .find(|k| k.0 == CUE_TIME)
            .map(|k| uint(&buf[k.1..k.2]))?;
        let for_video = kids.iter().filter(|k| k.0 == CUE_TRACK_POSITIONS).any(|k| {
            children(buf, k.1, k.2)
                .iter()
                .any(|t| t.0 == CUE_TRACK && uint(&buf[t.1..t.2]) == head.video_track)
        });
        if for_video {
            out.push(time as f64 * head.scale_ns as f64 / 1e9);
        }
    }
    let out = crate::probe::sorted_unique(out);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against ffprobe on a real file: the same keyframes.
    #[tokio::test]
    async fn cues_match_ffprobe() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.mkv");
        crate::probe::ffmpeg_makes(
            &f,
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x90:rate=25:duration=9",
                "-f",
                "lavfi",
                "-i",
                "sine=duration=9",
                "-c:v",
                "libx264",
                "-g",
                "30",
                "-c:a",
                "aac",
                "-shortest",
            ],
        );
        let bytes = std::fs::read(&f).unwrap();
        let head = parse_head(&bytes[..bytes.len().min(65536)]).unwrap();
        let off = head.cues_offset as usize;
        let len = element_len(&bytes[off..]).unwrap() as usize;
        let cues = parse_cues(&bytes[off..off + len], &head).unwrap();
        crate::probe::assert_same_keyframes(&f, &cues).await;
    }

    #[test]
    fn garbage_is_none() {
        assert!(parse_head(b"not a matroska file at all").is_none());
        assert!(parse_head(&[]).is_none());
        assert!(parse_cues(
            &[0xFF; 16],
            &Head {
                cues_offset: 0,
                scale_ns: 1,
                video_track: 1
            }
        )
        .is_none());
    }
}
