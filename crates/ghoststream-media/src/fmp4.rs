//! fMP4 segments as ffmpeg's segment muxer writes them: `ftyp` and `moov`, then a `moof`
//! and `mdat` per fragment. HLS serves the two parts apart: the initialisation section
//! (`#EXT-X-MAP`) and the media segment.

/// Where the initialisation section ends: the byte after the `moov` box, when every box
/// in the file is whole and a fragment follows the `moov`. `None` for anything else.
pub fn init_len(data: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    let mut moov_end = None;
    let mut fragment = false;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().ok()?) as u64;
        let kind = &data[at + 4..at + 8];
        let size = match size {
            1 if at + 16 <= data.len() => {
                u64::from_be_bytes(data[at + 8..at + 16].try_into().ok()?)
            }
            0 => (data.len() - at) as u64,
            s => s,
        };
        if size < 8 || at as u64 + size > data.len() as u64 {
            return None;
        }
        match kind {
            b"moov" => moov_end = Some(at + size as usize),
            b"moof" => fragment = moov_end.is_some(),
            _ => {}
        }
        at += size as usize;
    }
    (at == data.len() && fragment).then_some(moov_end).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn splits_after_the_moov() {
        let mut data = in_box(b"ftyp", b"iso5\0\0\0\0");
        data.extend(in_box(b"moov", &[7; 40]));
        let init = data.len();
        data.extend(in_box(b"moof", &[1; 20]));
        data.extend(in_box(b"mdat", &[2; 100]));
        assert_eq!(init_len(&data), Some(init));
        // Cut short, no fragment, or no moov: not a segment.
        assert_eq!(init_len(&data[..data.len() - 1]), None);
        assert_eq!(init_len(&data[..init]), None);
        let no_moov: Vec<u8> = [in_box(b"ftyp", b"x"), in_box(b"moof", b"y")].concat();
        assert_eq!(init_len(&no_moov), None);
        // A box claiming to be longer than the file.
        let mut bad = data.clone();
        bad[3] = 0xff;
        assert_eq!(init_len(&bad), None);
    }
}
