//! Test rig: media made with lavfi (cached under target/), a Range-capable media server
//! that also records POSTs (callbacks), and the real `ghoststream` binary on 127.0.0.1:0.
//! One file on purpose, longer than 500 lines: every end-to-end test file uses this rig.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "fixture ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PGS (Blu-ray) subtitle stream showing one white box `(x, y, w, h)` on a `width` x
/// `height` picture from `shown.0` to `shown.1` seconds: two display sets (the box, then
/// an empty composition that clears it), each of PCS, WDS, PDS/ODS and END segments.
pub fn pgs_box(width: u16, height: u16, rect: (u16, u16, u16, u16), shown: (f64, f64)) -> Vec<u8> {
    let (x, y, w, h) = rect;
    fn segment(out: &mut Vec<u8>, pts: f64, kind: u8, body: &[u8]) {
        out.extend_from_slice(b"PG");
        out.extend_from_slice(&((pts * 90_000.0) as u32).to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.push(kind);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
    let be = |v: u16| v.to_be_bytes();
    let pcs = |number: u16, state: u8, object: bool| {
        let mut b = Vec::new();
        b.extend_from_slice(&be(width));
        b.extend_from_slice(&be(height));
        b.push(0x10); // frame rate (unused)
        b.extend_from_slice(&be(number));
        b.push(state);
        b.push(0); // palette update
        b.push(0); // palette id
        b.push(object as u8);
        if object {
            b.extend_from_slice(&be(0)); // object id
            b.push(0); // window id
            b.push(0); // not cropped
            b.extend_from_slice(&be(x));
            b.extend_from_slice(&be(y));
        }
        b
    };
    let mut wds = vec![1u8, 0];
    for v in [x, y, w, h] {
        wds.extend_from_slice(&be(v));
    }
    // Palette entry 1: white (Y 235, Cr 128, Cb 128), opaque.
    let pds = [0u8, 0, 1, 235, 128, 128, 255];
    // Run-length lines: `w` pixels of entry 1, then the end of the line.
    let mut rle = Vec::new();
    for _ in 0..h {
        rle.extend_from_slice(&[
            0x00,
            0xC0 | (w >> 8) as u8,
            (w & 0xff) as u8,
            0x01,
            0x00,
            0x00,
        ]);
    }
    let mut ods = Vec::new();
    ods.extend_from_slice(&be(0)); // object id
    ods.push(0); // version
    ods.push(0xC0); // first and last fragment
    let len = (rle.len() + 4) as u32;
    ods.extend_from_slice(&len.to_be_bytes()[1..]);
    ods.extend_from_slice(&be(w));
    ods.extend_from_slice(&be(h));
    ods.extend_from_slice(&rle);
    let mut out = Vec::new();
    // An empty composition at 0 first: ffmpeg moves an input's first timestamp to 0.
    segment(&mut out, 0.0, 0x16, &pcs(0, 0x80, false));
    segment(&mut out, 0.0, 0x17, &wds);
    segment(&mut out, 0.0, 0x80, &[]);
    segment(&mut out, shown.0, 0x16, &pcs(1, 0x80, true));
    segment(&mut out, shown.0, 0x17, &wds);
    segment(&mut out, shown.0, 0x14, &pds);
    segment(&mut out, shown.0, 0x15, &ods);
    segment(&mut out, shown.0, 0x80, &[]);
    segment(&mut out, shown.1, 0x16, &pcs(2, 0x00, false));
    segment(&mut out, shown.1, 0x17, &wds);
    segment(&mut out, shown.1, 0x80, &[]);
    out
}

/// An MP4 (its `moov` after the media, so no chunk offset moves) with a Dolby Vision
/// configuration record (`dvcC`) added to its first video sample entry; every box around
/// it grows by as much.
pub fn with_dovi(mp4: &[u8], profile: u8, compat: u8) -> Vec<u8> {
    let mut d = mp4.to_vec();
    let size = |d: &[u8], i: usize| u32::from_be_bytes(d[i..i + 4].try_into().unwrap()) as usize;
    let find = |d: &[u8], from: usize, to: usize, name: &[u8]| {
        let mut i = from;
        while i + 8 <= to {
            if &d[i + 4..i + 8] == name {
                return i;
            }
            i += size(d, i);
        }
        panic!("no {} box", String::from_utf8_lossy(name));
    };
    let mut path = Vec::new();
    let (mut from, mut to) = (0, d.len());
    for name in [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"] {
        let i = find(&d, from, to, name);
        path.push(i);
        // stsd's entries follow its version, flags and count.
        from = i + if name == b"stsd" { 16 } else { 8 };
        to = i + size(&d, i);
    }
    let entry = from;
    path.push(entry);
    let bits: u16 = (u16::from(profile) << 9) | (6 << 3) | (1 << 2) | 1; // level 6, RPU, BL
    let mut dvcc = vec![0, 0, 0, 32, b'd', b'v', b'c', b'C', 1, 0];
    dvcc.extend_from_slice(&bits.to_be_bytes());
    dvcc.push(compat << 4);
    dvcc.extend_from_slice(&[0; 19]);
    let at = entry + size(&d, entry);
    d.splice(at..at, dvcc.iter().copied());
    for i in path {
        let grown = (size(&d, i) + dvcc.len()) as u32;
        d[i..i + 4].copy_from_slice(&grown.to_be_bytes());
    }
    d
}

/// Tiny media made once per test run.
pub fn media_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir().join("test-media-v1");
        std::fs::create_dir_all(&dir).unwrap();
        let make = |name: &str, args: &[&str]| {
            let path = dir.join(name);
            if !path.exists() {
                let tmp = dir.join(format!("tmp-{name}"));
                let mut a: Vec<&str> = args.to_vec();
                let t = tmp.to_str().unwrap().to_string();
                a.push(&t);
                ffmpeg(&a);
                std::fs::rename(&tmp, &path).unwrap();
            }
        };
        let av = |size: &str, secs: &str, g: &str| -> Vec<String> {
            vec![
                "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=25:duration={secs}"),
                "-f", "lavfi", "-i", &format!("sine=frequency=440:sample_rate=48000:duration={secs}"),
                "-c:v", "libx264", "-preset", "ultrafast", "-g", g, "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "96k", "-shortest", "-f", "matroska",
            ]
            .into_iter()
            .map(String::from)
            .collect()
        };
        let run = |name: &str, v: Vec<String>| {
            let r: Vec<&str> = v.iter().map(String::as_str).collect();
            make(name, &r);
        };
        run("h264.mkv", av("640x360", "8", "50"));
        // The same in MP4, its index (moov) at the end as ffmpeg writes it by default.
        let mut mp4 = av("640x360", "8", "50");
        mp4.truncate(mp4.len() - 2);
        mp4.extend(["-f".to_string(), "mp4".to_string()]);
        run("h264.mp4", mp4);
        run("long.mkv", av("320x180", "24", "25"));
        run("abr.mkv", av("640x480", "3", "25"));
        run("short.mkv", av("320x180", "3", "25"));
        make(
            "surround.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=3",
                "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=3",
                "-filter_complex", "[1:a]pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0[a]",
                "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "matroska",
            ],
        );
        make(
            "hdr10.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2",
                "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
                "-x265-params", "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
                "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
                "-f", "matroska",
            ],
        );
        make(
            "sdr10.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2",
                "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
                "-x265-params", "log-level=error", "-color_primaries", "bt709", "-color_trc", "bt709",
                "-colorspace", "bt709", "-f", "matroska",
            ],
        );
        // An image subtitle track (PGS, as on a Blu-ray): a white 100x40 box at (20, 20)
        // from 1.5 s to 3 s, written here byte by byte (ffmpeg has no PGS encoder).
        let sup = dir.join("box.sup");
        if !sup.exists() {
            std::fs::write(&sup, pgs_box(320, 180, (20, 20, 100, 40), (1.5, 3.0))).unwrap();
        }
        make(
            "pgs.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=4",
                "-i", sup.to_str().unwrap(),
                "-map", "0:v", "-map", "1:s", "-c:v", "libx264", "-preset", "ultrafast",
                "-g", "25", "-pix_fmt", "yuv420p", "-c:s", "copy", "-f", "matroska",
            ],
        );
        // Dolby Vision: an HDR10 HEVC MP4 (its index at the end), and the same with a DV
        // configuration record put in its sample entry: profile 8.1 (an HDR10 base layer)
        // and profile 5 (none).
        make(
            "hdr10.mp4",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2",
                "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
                "-x265-params", "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
                "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
                "-tag:v", "hvc1", "-f", "mp4",
            ],
        );
        for (name, profile, compat) in [("dv81.mp4", 8, 1), ("dv5.mp4", 5, 0)] {
            let p = dir.join(name);
            if !p.exists() {
                let base = std::fs::read(dir.join("hdr10.mp4")).unwrap();
                std::fs::write(&p, with_dovi(&base, profile, compat)).unwrap();
            }
        }
        // Two audio tracks: English stereo AAC and French 5.1 AC-3.
        make(
            "twoaudio.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=3",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
                "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000:duration=3",
                "-filter_complex", "[2:a]pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0[s]",
                "-map", "0:v", "-map", "1:a", "-map", "[s]",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
                "-c:a:0", "aac", "-ac:a:0", "2", "-c:a:1", "ac3",
                "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre",
                "-f", "matroska",
            ],
        );
        // Two audio tracks and a SubRip track, 8 s: English stereo AAC titled "English",
        // French 5.1 AC-3 flagged default, English subtitles.
        let langs_srt = dir.join("langs.srt");
        if !langs_srt.exists() {
            std::fs::write(&langs_srt, "1\n00:00:02,000 --> 00:00:03,500\nFirst line\n\n2\n00:00:05,250 --> 00:00:06,000\nSecond line\n").unwrap();
        }
        make(
            "langs.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=8",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
                "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000:duration=8",
                "-i", langs_srt.to_str().unwrap(),
                "-filter_complex", "[2:a]pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0[s]",
                "-map", "0:v", "-map", "1:a", "-map", "[s]", "-map", "3:s",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
                "-c:a:0", "aac", "-ac:a:0", "2", "-c:a:1", "ac3", "-c:s", "srt",
                "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=English",
                "-metadata:s:a:1", "language=fre", "-metadata:s:s:0", "language=eng",
                "-disposition:a:0", "0", "-disposition:a:1", "default",
                "-f", "matroska",
            ],
        );
        // Grain that a one-pass encoder has to guess at: a bitrate target is hard to hit.
        make(
            "grain.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=8,noise=alls=30:allf=t",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-g", "50",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "matroska",
            ],
        );
        // Two embedded text tracks: SubRip (French, default) and ASS (English, forced,
        // titled), beside an H.264/AAC stream.
        for (name, text) in [
            ("fr.srt", "1\n00:00:01,000 --> 00:00:02,500\nBonjour\n\n2\n00:00:06,000 --> 00:00:07,000\nAu revoir\n"),
            ("signs.srt", "1\n00:00:03,000 --> 00:00:04,000\nA sign\n"),
        ] {
            let p = dir.join(name);
            if !p.exists() {
                std::fs::write(&p, text).unwrap();
            }
        }
        let (fr, signs) = (dir.join("fr.srt"), dir.join("signs.srt"));
        make(
            "subs.mkv",
            &[
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=8",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
                "-i", fr.to_str().unwrap(), "-i", signs.to_str().unwrap(),
                "-map", "0:v", "-map", "1:a", "-map", "2:s", "-map", "3:s",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "96k", "-c:s:0", "srt", "-c:s:1", "ass",
                "-metadata:s:s:0", "language=fre", "-metadata:s:s:1", "language=eng",
                "-metadata:s:s:1", "title=Signs", "-disposition:s:0", "default",
                "-disposition:s:1", "forced", "-f", "matroska",
            ],
        );
        for (name, text) in [("en.vtt", "Hello from the English track"), ("es.vtt", "Hola desde la pista")] {
            let p = dir.join(name);
            if !p.exists() {
                std::fs::write(&p, format!("WEBVTT\n\n00:00:00.500 --> 00:00:02.000\n{text}\n\n00:00:05.000 --> 00:00:07.000\n{text} again\n")).unwrap();
            }
        }
        dir
    })
}

/// A tiny HTTP/1.1 file server with Range support; `?rate=N` throttles to N bytes/s;
/// `&slow_from=N` starts that throttle at offset N; `?cut_once=N` cuts the first answer for that URL after N bytes (a dropped connection);
/// `/redirect?to=URL` answers 302; `set_down(true)` makes it refuse every request (the
/// source went away); POSTs are recorded (callback receiver).
pub struct MediaServer {
    pub base: String,
    posts: Arc<Mutex<Vec<(String, String)>>>,
    faults: Arc<Faults>,
}

#[derive(Default)]
struct Faults {
    down: std::sync::atomic::AtomicBool,
    cut: Mutex<std::collections::HashSet<String>>,
    gets: std::sync::atomic::AtomicUsize,
}

impl MediaServer {
    pub fn start() -> MediaServer {
        let dir = media_dir().to_path_buf();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let posts = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Faults::default());
        let (p2, f2) = (posts.clone(), faults.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let dir = dir.clone();
                let (posts, faults) = (p2.clone(), f2.clone());
                std::thread::spawn(move || {
                    if faults.down.load(std::sync::atomic::Ordering::SeqCst) {
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    }
                    let _ = serve_one(stream, &dir, &posts, &faults);
                });
            }
        });
        MediaServer {
            base,
            posts,
            faults,
        }
    }

    /// While down, every connection is closed at once, before any answer.
    pub fn set_down(&self, down: bool) {
        self.faults
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// GET and HEAD requests answered so far.
    pub fn gets(&self) -> usize {
        self.faults.gets.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Accepted POSTs (path, body); attempts that got 503 are not listed.
    pub fn posts(&self) -> Vec<(String, String)> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| !p.ends_with("#attempt"))
            .cloned()
            .collect()
    }

    /// Every POST attempt to `path`, including refused ones.
    pub fn attempts(&self, path: &str) -> usize {
        let key = format!("{path}#attempt");
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == key)
            .count()
    }
}

fn serve_one(
    mut s: TcpStream,
    dir: &Path,
    posts: &Mutex<Vec<(String, String)>>,
    faults: &Faults,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let first: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let (method, target) = (
        first.first().copied().unwrap_or(""),
        first.get(1).copied().unwrap_or("/"),
    );
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method == "POST" {
        // Every attempt is counted; a stand-in for a GhostHub that is down at first
        // (/flaky/…) answers 503 to the first two.
        let attempt = {
            let mut p = posts.lock().unwrap();
            p.push((format!("{path}#attempt"), String::new()));
            p.iter()
                .filter(|(q, _)| *q == format!("{path}#attempt"))
                .count()
        };
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let n = s.read(&mut tmp)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&tmp[..n]);
        }
        if path.starts_with("/flaky/") && path.ends_with("/register") && attempt <= 2 {
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown")?;
            return Ok(());
        }
        posts
            .lock()
            .unwrap()
            .push((path.to_string(), String::from_utf8_lossy(&body).to_string()));
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")?;
        return Ok(());
    }
    faults
        .gets
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if path == "/redirect" {
        let to = query.strip_prefix("to=").unwrap_or("");
        let h = format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        s.write_all(h.as_bytes())?;
        return Ok(());
    }
    let name = path.trim_start_matches('/');
    let file = (!name.contains("..") && !name.contains('/'))
        .then(|| dir.join(name))
        .filter(|p| p.is_file());
    let Some(file) = file else {
        s.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
        )?;
        return Ok(());
    };
    let data = std::fs::read(&file)?;
    let len = data.len();
    let (status, start, end) = match headers.get("range").and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: usize = a.parse().unwrap_or(0);
            let b: usize = b.parse().unwrap_or(len - 1).min(len - 1);
            if a >= len {
                let h = format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                s.write_all(h.as_bytes())?;
                return Ok(());
            }
            ("206 Partial Content", a, b)
        }
        None => ("200 OK", 0, len - 1),
    };
    let ctype = match name.rsplit('.').next() {
        Some("vtt") => "text/vtt",
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "application/javascript",
        _ => "video/x-matroska",
    };
    let mut h = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nConnection: close\r\n",
        end - start + 1
    );
    if status.starts_with("206") {
        h.push_str(&format!("Content-Range: bytes {start}-{end}/{len}\r\n"));
    }
    h.push_str("\r\n");
    s.write_all(h.as_bytes())?;
    if method == "HEAD" {
        return Ok(());
    }
    let rate: Option<usize> = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("rate="))
        .and_then(|v| v.parse().ok());
    let mut body = &data[start..=end];
    let cut: Option<usize> = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("cut_once="))
        .and_then(|v| v.parse().ok());
    if let Some(n) = cut {
        if faults.cut.lock().unwrap().insert(target.to_string()) {
            body = &body[..n.min(body.len())];
        }
    }
    // `slow_from=N`: the throttle starts at file offset N (probes stay fast).
    let slow_from: usize = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("slow_from="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if rate.is_some() && slow_from > start {
        let fast = (slow_from - start).min(body.len());
        s.write_all(&body[..fast])?;
        body = &body[fast..];
    }
    match rate {
        None => s.write_all(body)?,
        Some(r) => {
            let chunk = (r / 10).max(1);
            for c in body.chunks(chunk) {
                if faults.down.load(std::sync::atomic::Ordering::SeqCst) {
                    // Gone: the connection drops mid-answer.
                    let _ = s.shutdown(Shutdown::Both);
                    return Ok(());
                }
                s.write_all(c)?;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    Ok(())
}

/// Options for a server under test.
#[derive(Default, Clone)]
pub struct Opts {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub state: Option<PathBuf>,
    pub host: Option<String>,
    /// Advertise over mDNS on loopback (off by default: tests run side by side).
    pub mdns: bool,
    pub wrap: Vec<String>,
    pub port: Option<u16>,
}

impl Opts {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Another loopback address (127.0.0.2…), for clients that key servers by host.
    pub fn host(mut self, h: &str) -> Self {
        self.host = Some(h.into());
        self
    }
    pub fn mdns(mut self) -> Self {
        self.mdns = true;
        self
    }
    /// A fixed port instead of any free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Runs the server under a wrapper command (`unshare …`), which must exec its arguments.
    pub fn wrap(mut self, argv: &[&str]) -> Self {
        self.wrap = argv.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn state(mut self, p: &Path) -> Self {
        self.state = Some(p.to_path_buf());
        self
    }

    /// Runs the server in a mount namespace of its own with a 1 MiB tmpfs at `dir` (a
    /// disk that fills up).
    pub fn small_disk_at(self, dir: &Path) -> Self {
        let mount = format!(
            "mount -t tmpfs -o size=1m tmpfs {} && exec \"$@\"",
            dir.display()
        );
        self.wrap(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &mount,
            "sh",
        ])
    }
}

/// Asserts an error answer's status and `code`.
pub fn assert_refused((status, body): (u16, Value), want: u16, code: &str) {
    assert_eq!(
        (status, body["code"].as_str()),
        (want, Some(code)),
        "{body}"
    );
}

/// The real `ghoststream` binary on 127.0.0.1:0.
pub struct Gs {
    pub child: Child,
    pub base: String,
    pub state: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

impl Gs {
    pub fn start(opts: Opts) -> Gs {
        let (tmp, state) = match &opts.state {
            Some(p) => (None, p.clone()),
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut cmd = match opts.wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(env!("CARGO_BIN_EXE_ghoststream"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_ghoststream")),
        };
        cmd.arg("serve")
            .args([
                "--host",
                opts.host.as_deref().unwrap_or("127.0.0.1"),
                "--port",
                &opts.port.unwrap_or(0).to_string(),
            ])
            .args(if opts.mdns {
                &[][..]
            } else {
                &["--no-mdns"][..]
            })
            .env("GHOSTSTREAM__MDNS__INTERFACES", "[\"lo\"]")
            .env("GHOSTSTREAM__DISCOVERY__UDP_PORT", "0")
            // Live ingest on any free ports: tests run side by side.
            .env("GHOSTSTREAM__LIVE__RTMP_PORT", "0")
            .env("GHOSTSTREAM__LIVE__SRT_PORT", "0")
            // The test media servers are on loopback, which sources may not reach by default.
            .env(
                "GHOSTSTREAM__SECURITY__ALLOWED_TARGETS",
                "[\"127.0.0.0/8\"]",
            )
            .arg("--state-dir")
            .arg(&state)
            .args(&opts.args)
            .env("RUST_LOG", "warn")
            .env("GHOSTSTREAM_CONFIG", state.join("ghoststream.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start ghoststream");
        let mut out = child.stdout.take().unwrap();
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while out.read(&mut b).map(|n| n == 1).unwrap_or(false) && b[0] != b'\n' {
            line.push(b[0]);
        }
        let line = String::from_utf8_lossy(&line).to_string();
        let addr = line
            .rsplit("http://")
            .next()
            .filter(|_| line.contains("listening"))
            .unwrap_or_else(|| panic!("server did not start: {line:?}"))
            .trim()
            .to_string();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        Gs {
            child,
            base: format!("http://{addr}"),
            state,
            _tmp: tmp,
            // Idle connections are dropped before the server's keep-alive limit (the header
            // read timeout), as well-behaved clients do, so none is reused as it closes.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .pool_idle_timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.req(reqwest::Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.req(reqwest::Method::POST, path, Some(body.to_string()), &[])
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.req(reqwest::Method::PUT, path, Some(body.to_string()), &[])
            .await
    }

    pub async fn req(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut rb = self.http.request(m, url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        let r = rb.send().await.expect("request");
        let code = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Starts a job; panics unless 200.
    pub async fn start_job(&self, body: Value) -> Value {
        let (code, v) = self.post("/api/transcode/start", body).await;
        assert_eq!(code, 200, "start failed: {v}");
        v
    }

    pub async fn status(&self, job: &Value) -> Value {
        let id = job["job_id"].as_str().unwrap();
        let token = job["control_token"].as_str().unwrap();
        let (code, v) = self
            .req(
                reqwest::Method::GET,
                &format!("/api/transcode/{id}/status"),
                None,
                &[("X-GhostStream-Control-Token", token)],
            )
            .await;
        assert_eq!(code, 200, "status failed: {v}");
        v
    }

    /// Waits until the server counts `n` WebSocket clients: it counts one when its upgrade
    /// task runs, which may come after the client's handshake.
    pub async fn wait_for_ws_clients(&self, n: usize, within: Duration) {
        let t0 = Instant::now();
        loop {
            let (_, clients) = self.get("/api/clients").await;
            let ws = clients
                .as_array()
                .map(|a| a.iter().filter(|c| c["transport"] == "ws").count())
                .unwrap_or(0);
            if ws == n {
                return;
            }
            assert!(
                t0.elapsed() < within,
                "{ws} of {n} WebSocket clients registered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the job reaches one of `statuses`.
    pub async fn wait_for(&self, job: &Value, statuses: &[&str], timeout: Duration) -> Value {
        let t0 = Instant::now();
        loop {
            let s = self.status(job).await;
            if statuses.contains(&s["status"].as_str().unwrap_or("")) {
                return s;
            }
            assert!(
                t0.elapsed() < timeout,
                "job never reached {statuses:?}: {s}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn control(&self, m: reqwest::Method, job: &Value, suffix: &str) -> (u16, Value) {
        let id = job["job_id"].as_str().unwrap();
        let token = job["control_token"].as_str().unwrap();
        self.req(
            m,
            &format!("/api/transcode/{id}{suffix}"),
            None,
            &[("X-GhostStream-Control-Token", token)],
        )
        .await
    }

    pub async fn log(&self, job: &Value) -> String {
        let (_, v) = self.control(reqwest::Method::GET, job, "/log").await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Downloads a URL (playlist, segment) with the job's stream URL query.
    pub async fn fetch(&self, url: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(url).send().await.expect("fetch");
        (
            r.status().as_u16(),
            r.bytes().await.unwrap_or_default().to_vec(),
        )
    }

    /// A stream job's master playlist, as text.
    pub async fn master(&self, job: &Value) -> String {
        let (_, body) = self.fetch(job["stream_url"].as_str().unwrap()).await;
        String::from_utf8(body).unwrap()
    }

    /// ffmpeg/ffprobe processes whose parent is this server.
    pub fn children(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    /// SIGTERM and wait for the exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.stop_with(nix::sys::signal::Signal::SIGTERM)
    }

    /// Sends `signal` and waits (up to 20 s) for the server to exit.
    pub fn stop_with(&mut self, signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal);
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "server did not stop on {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Live (non-zombie) ffmpeg/ffprobe processes whose parent is `pid`, or that were our
/// children and got orphaned (parent 1) — identified by `ffmpeg` in the name.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((comm_part, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = comm_part.split_once('(').map(|x| x.1).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields.first().copied().unwrap_or("");
        let ppid: i32 = fields.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        if ppid == pid
            && state != "Z"
            && (comm.starts_with("ffmpeg") || comm.starts_with("ffprobe"))
        {
            out.push(p);
        }
    }
    out
}

/// Waits up to `within` for `cond`.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// ffprobe a file: (codec, width, height, pix_fmt, start_time, duration, audio channels).
pub fn probe_file(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn probe_bytes(bytes: &[u8], ext: &str) -> Value {
    let f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    probe_file(f.path())
}

pub fn stream_of<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"]
        .as_array()?
        .iter()
        .find(|s| s["codec_type"] == kind)
}

/// The job's stream URL with `file` in place of master.m3u8.
pub fn stream_file_url(job: &Value, file: &str) -> String {
    job["stream_url"]
        .as_str()
        .unwrap()
        .replace("master.m3u8", file)
}

/// Runs a Node script of the test clients (in tests/) off the async runtime; panics with
/// its output unless it exits 0. Returns stdout.
pub async fn run_node(script: &str, args: Vec<String>, env: Vec<(String, String)>) -> String {
    let root = repo_root();
    run_program(
        "node".into(),
        root.join(script),
        args,
        env,
        root.join("tests"),
    )
    .await
}

/// Runs a script of `tests/sdk/` with the published SDK's virtualenv; panics unless it
/// exits 0, and returns its stdout.
pub async fn run_sdk_script(script: &str, args: Vec<String>) -> String {
    let root = repo_root();
    let python = root.join("tests/.venv/bin/python");
    assert!(
        python.exists(),
        "the SDK's virtualenv is missing at {}: run scripts/setup.sh first",
        python.display()
    );
    let script = root.join("tests/sdk").join(script);
    run_program(python, script, args, Vec::new(), root).await
}

/// `program script args…` off the runtime; panics unless it exits 0; its stdout.
async fn run_program(
    program: PathBuf,
    script: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: PathBuf,
) -> String {
    let shown = script.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .arg(script)
            .args(args)
            .envs(env)
            .current_dir(dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{shown} failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One HTTP/1.1 request over a raw socket, for what clients normalise away (`..` paths)
/// or refuse to finish (bodies the server rejects early). Returns (status, whole answer).
pub fn raw_http(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The server may answer before the body is sent; keep reading after a failed write.
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|_| s.write_all(body.as_bytes()));
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).to_string();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

/// hls.js in Debian's Chromium plays the job's stream (from a page the media server
/// serves) and seeks to 80 %; panics unless both happen.
pub async fn play_in_chromium(media: &MediaServer, job: &Value) {
    let stdout = run_player(media, job, "tests/browser/hls_play.mjs").await;
    assert!(
        stdout.contains("ok plays") && stdout.contains("ok seek"),
        "{stdout}"
    );
}

/// Runs a player script (`tests/browser/*.mjs`) on the job's stream in hls.js in
/// Chromium, from the test page the media server serves; returns its output.
pub async fn run_player(media: &MediaServer, job: &Value, script: &str) -> String {
    let root = repo_root();
    let hls = root.join("tests/node_modules/hls.js/dist/hls.min.js");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    for (path, what) in [
        (hls.clone(), "hls.js (npm install in tests/)"),
        (PathBuf::from(chromium), "Chromium (apt package chromium)"),
    ] {
        assert!(
            path.exists(),
            "{what} is missing at {}: run scripts/setup.sh first",
            path.display()
        );
    }
    let dir = media_dir();
    std::fs::copy(&hls, dir.join("hls.min.js")).unwrap();
    std::fs::copy(
        root.join("tests/browser/player.html"),
        dir.join("player.html"),
    )
    .unwrap();
    let page = media.url("player.html");
    let stream = job["stream_url"].as_str().unwrap().to_string();
    run_node(script, vec![page, stream], vec![]).await
}
