//! FLV, the one format every publisher reaches the ladder in: RTMP messages become FLV tags
//! as they are (RTMP carries FLV tag bodies), SRT's MPEG-TS is remuxed to FLV by ffmpeg.
//! Owning the tags lets a publisher that reconnects continue the same timeline.

use bytes::{Buf, Bytes, BytesMut};

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const SCRIPT: u8 = 18;

/// The file header and the zero "previous tag size" after it.
pub const HEADER: [u8; 13] = [b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0];

/// One tag: audio, video or script data with its time in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub kind: u8,
    pub ms: u32,
    pub data: Bytes,
}

impl Tag {
    /// The tag as FLV bytes, with the previous-tag-size trailer.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.data.len() as u32;
        out.push(self.kind);
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.extend_from_slice(&(self.ms & 0x00ff_ffff).to_be_bytes()[1..]);
        out.push((self.ms >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&(len + 11).to_be_bytes());
    }

    /// A video tag that opens a decodable picture: a keyframe that is not a sequence header.
    pub fn is_keyframe(&self) -> bool {
        self.kind == VIDEO && self.data.len() > 1 && self.data[0] >> 4 == 1
    }

    /// An AVC sequence header (the decoder configuration record).
    pub fn is_avc_config(&self) -> bool {
        self.kind == VIDEO && self.data.len() > 5 && self.data[0] & 0x0f == 7 && self.data[1] == 0
    }

    pub fn is_aac_config(&self) -> bool {
        self.kind == AUDIO && self.data.len() > 2 && self.data[0] >> 4 == 10 && self.data[1] == 0
    }

    /// The video codec a tag carries, by its FLV codec id.
    pub fn video_codec(&self) -> Option<&'static str> {
        (self.kind == VIDEO && !self.data.is_empty()).then(|| match self.data[0] & 0x0f {
            7 => "h264",
            2 => "flv1",
            4 | 5 => "vp6",
            _ if self.data[0] & 0x80 != 0 => "enhanced", // enhanced RTMP (HEVC, AV1, VP9)
            _ => "unknown",
        })
    }

    pub fn audio_codec(&self) -> Option<&'static str> {
        (self.kind == AUDIO && !self.data.is_empty()).then(|| match self.data[0] >> 4 {
            10 => "aac",
            2 | 14 => "mp3",
            0 | 3 => "pcm",
            1 => "adpcm",
            4..=6 => "nellymoser",
            7 | 8 => "g711",
            11 => "speex",
            _ => "unknown",
        })
    }
}

/// Reads tags out of an FLV byte stream fed in pieces.
#[derive(Default)]
pub struct Reader {
    buf: BytesMut,
    header_done: bool,
    /// From the file header's flags, once read.
    pub has_audio: Option<bool>,
}

/// A tag larger than this is not media (16 MiB is the format's own limit).
const MAX_TAG: usize = 16 << 20;

impl Reader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole tag, `Ok(None)` when more bytes are needed.
    pub fn next_tag(&mut self) -> Result<Option<Tag>, String> {
        if !self.header_done {
            if self.buf.len() < 9 {
                return Ok(None);
            }
            if &self.buf[..3] != b"FLV" {
                return Err("not an FLV stream".into());
            }
            let skip = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]])
                as usize
                + 4;
            if skip > 1024 {
                return Err("FLV header too long".into());
            }
            if self.buf.len() < skip {
                return Ok(None);
            }
            self.has_audio = Some(self.buf[4] & 0x04 != 0);
            self.buf.advance(skip);
            self.header_done = true;
        }
        if self.buf.len() < 11 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_TAG {
            return Err(format!("FLV tag of {len} bytes"));
        }
        if self.buf.len() < 11 + len + 4 {
            return Ok(None);
        }
        let kind = self.buf[0] & 0x1f;
        let ms = u32::from_be_bytes([self.buf[7], self.buf[4], self.buf[5], self.buf[6]]);
        self.buf.advance(11);
        let data = self.buf.split_to(len).freeze();
        self.buf.advance(4);
        Ok(Some(Tag { kind, ms, data }))
    }
}

/// Picture size from an AVC decoder configuration record (an FLV AVC sequence header's
/// body after its 5-byte prefix): the first SPS, parsed as far as its cropping window.
pub fn avc_size(config: &[u8]) -> Option<(u32, u32)> {
    // configurationVersion, profile, compat, level, lengthSize, numSps.
    if config.len() < 8 || config[0] != 1 {
        return None;
    }
    let n_sps = config[5] & 0x1f;
    if n_sps == 0 {
        return None;
    }
    let len = u16::from_be_bytes([config[6], config[7]]) as usize;
    let sps = config.get(8..8 + len)?;
    sps_size(sps)
}

/// Picture size from an SPS NAL unit (with its one-byte NAL header).
pub fn sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    // Remove emulation prevention bytes (00 00 03).
    let mut rbsp = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal.get(1..)? {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut r = Bits {
        data: &rbsp,
        pos: 0,
    };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // sps id
    let mut chroma = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = r.ue()?;
        if chroma == 3 {
            r.bits(1)?;
        }
        r.ue()?; // bit depth luma
        r.ue()?; // bit depth chroma
        r.bits(1)?; // qpprime
        if r.bits(1)? == 1 {
            let lists = if chroma == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bits(1)? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bits(1)?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max refs
    r.bits(1)?; // gaps
    let w_mbs = r.ue()? + 1;
    let h_units = r.ue()? + 1;
    let frame_mbs_only = r.bits(1)?;
    if frame_mbs_only == 0 {
        r.bits(1)?;
    }
    r.bits(1)?; // direct 8x8
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if r.bits(1)? == 1 {
        cl = r.ue()?;
        cr = r.ue()?;
        ct = r.ue()?;
        cb = r.ue()?;
    }
    let (sub_w, sub_h) = match chroma {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = if chroma == 0 { 1 } else { sub_w };
    let crop_y = (if chroma == 0 { 1 } else { sub_h }) * (2 - frame_mbs_only);
    let w = (w_mbs * 16).checked_sub(crop_x * (cl + cr))?;
    let h = (h_units * 16 * (2 - frame_mbs_only)).checked_sub(crop_y * (ct + cb))?;
    (w > 0 && h > 0 && w <= 16384 && h <= 16384).then_some((w, h))
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | ((byte >> (7 - self.pos % 8)) & 1) as u32;
            self.pos += 1;
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + self.bits(zeros)? as u64).min(u32::MAX as u64) as u32)
    }
    fn se(&mut self) -> Option<i64> {
        let k = self.ue()? as i64;
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let mut out = HEADER.to_vec();
        let a = Tag {
            kind: VIDEO,
            ms: 0x0123_4567,
            data: Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]),
        };
        a.encode(&mut out);
        let mut r = Reader::default();
        r.push(&out[..20]);
        assert_eq!(r.next_tag().unwrap(), None);
        r.push(&out[20..]);
        assert_eq!(r.next_tag().unwrap(), Some(a.clone()));
        assert!(a.is_keyframe());
        assert_eq!(a.video_codec(), Some("h264"));
        let mut bad = Reader::default();
        bad.push(b"GET / HTTP/1.1\r\n");
        assert!(bad.next_tag().is_err());
    }

    #[test]
    fn sps_sizes() {
        // x264, 640x360 high profile (cropped from 640x368).
        let sps = [
            0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00,
            0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
        ];
        assert_eq!(sps_size(&sps), Some((640, 360)));
        assert_eq!(sps_size(&[0x67]), None);
        assert_eq!(avc_size(&[1, 2, 3]), None);
    }
}
