//! Which sources, subtitle URLs and callbacks we accept, and the input options that keep
//! ffmpeg to the protocols we allowed.

use std::path::{Path, PathBuf};

/// A source that passed the rules, ready to hand to ffmpeg.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An `http://` or `https://` URL.
    Http(String),
    /// A canonical local path inside one of the library roots.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("source is empty")]
    Empty,
    #[error("only http and https URLs are accepted (got '{0}:')")]
    Scheme(String),
    #[error("local paths are not accepted: no library roots are configured")]
    NoLibraryRoots,
    #[error("path is outside the configured library roots")]
    OutsideRoots,
    #[error("local file not found")]
    NotFound,
    #[error("URL is malformed: {0}")]
    Malformed(String),
}

impl SourceError {
    pub fn code(&self) -> ghoststream_types::ErrorCode {
        ghoststream_types::ErrorCode::SourceNotAllowed
    }
}

impl Source {
    /// Applies the rules: http(s) URLs; local absolute paths only under `library_roots`
    /// (after resolving symlinks); nothing else (`file:`, `concat:`, `data:`, `pipe:`…).
    pub fn parse(raw: &str, library_roots: &[PathBuf]) -> Result<Source, SourceError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(SourceError::Empty);
        }
        if raw.starts_with('/') || raw.starts_with('\\') || looks_like_windows_path(raw) {
            return Self::local(Path::new(raw), library_roots);
        }
        let Some((scheme, rest)) = raw.split_once(':') else {
            return Err(SourceError::Malformed("no scheme".into()));
        };
        let scheme_lc = scheme.to_ascii_lowercase();
        if scheme_lc != "http" && scheme_lc != "https" {
            let shown: String = scheme.chars().take(20).collect();
            return Err(SourceError::Scheme(shown));
        }
        let Some(after) = rest.strip_prefix("//") else {
            return Err(SourceError::Malformed(
                "expected '//' after the scheme".into(),
            ));
        };
        let host = after.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || host.starts_with('@') {
            return Err(SourceError::Malformed("no host".into()));
        }
        if raw.chars().any(|c| c.is_control() || c == ' ') {
            return Err(SourceError::Malformed(
                "contains spaces or control characters".into(),
            ));
        }
        // Parsers disagree on these (WHATWG reads `\` as `/`, ffmpeg does not; ffmpeg
        // takes the host after the last `@`): a URL that two parsers could read as two
        // hosts is refused rather than guessed at.
        if raw.contains('\\') {
            return Err(SourceError::Malformed("contains a backslash".into()));
        }
        if host.matches('@').count() > 1 {
            return Err(SourceError::Malformed(
                "more than one '@' before the host".into(),
            ));
        }
        if raw.len() > MAX_URL_BYTES {
            return Err(SourceError::Malformed(format!(
                "longer than {MAX_URL_BYTES} bytes"
            )));
        }
        Ok(Source::Http(raw.to_string()))
    }

    fn local(path: &Path, library_roots: &[PathBuf]) -> Result<Source, SourceError> {
        if library_roots.is_empty() {
            return Err(SourceError::NoLibraryRoots);
        }
        let canon = path.canonicalize().map_err(|_| SourceError::NotFound)?;
        for root in library_roots {
            if let Ok(root) = root.canonicalize() {
                if canon.starts_with(&root) && canon.is_file() {
                    return Ok(Source::File(canon));
                }
            }
        }
        Err(SourceError::OutsideRoots)
    }

    /// What ffmpeg/ffprobe get as `-i`.
    pub fn as_input(&self) -> String {
        match self {
            Source::Http(u) => u.clone(),
            Source::File(p) => p.to_string_lossy().into_owned(),
        }
    }

    /// Input options that must stand before `-i`: the protocol and container
    /// whitelists, the egress proxy every HTTP connection goes through, the decoder's
    /// frame size limit, and, for HTTP, reconnects for transient failures inside the run.
    pub fn input_args(&self, rules: &InputRules) -> Vec<String> {
        let mut a: Vec<String> = match self {
            Source::Http(_) => {
                let mut a = vec![
                    "-protocol_whitelist".into(),
                    // `httpproxy` is the CONNECT tunnel that carries https through the proxy.
                    "http,https,tcp,tls,crypto,httpproxy".into(),
                ];
                if let Some(p) = &rules.proxy {
                    a.extend(["-http_proxy".into(), p.clone()]);
                }
                a.extend(
                    [
                        "-rw_timeout".into(),
                        (rules.rw_timeout_secs * 1_000_000).to_string(),
                        "-reconnect".into(),
                        "1".into(),
                        "-reconnect_on_network_error".into(),
                        "1".into(),
                        "-reconnect_delay_max".into(),
                        "4".into(),
                        // Redirects were followed and checked before ffmpeg got the URL.
                        "-max_redirects".into(),
                        "0".into(),
                    ]
                    .map(String::from),
                );
                a
            }
            Source::File(_) => vec!["-protocol_whitelist".into(), "file".into()],
        };
        a.extend(["-format_whitelist".into(), rules.formats()]);
        if let Some(px) = rules.max_pixels {
            a.extend(["-max_pixels".into(), px.to_string()]);
        }
        a
    }
}

/// The longest source, subtitle or callback URL accepted.
pub const MAX_URL_BYTES: usize = 4096;

/// Containers a source may be: media files, never a list of other URLs or files.
/// Matched against the demuxer's names (`mov,mp4,…` matches `mov`).
const MEDIA_DEMUXERS: &str = "matroska,mov,mpegts,avi,flv,mpeg,mpegvideo,asf,ogg,wav,mp3,aac,flac,ac3,eac3,dts,truehd,mlp,h264,hevc,m4v,vc1,ivf,obu,nut,mxf,dv,rm,wtv,caf,aiff,w64,wv,ape,tta,dsf,amr,yuv4mpegpipe,mjpeg,\
srt,ass,webvtt,microdvd,subviewer,subviewer1,sami,mpl2,jacosub,pjs,realtext,vplayer,stl,aqtitle,scc,mpsub,lrc";

/// Playlist containers: each entry is another URL that ffmpeg opens itself.
const PLAYLIST_DEMUXERS: &str = "hls,dash";

/// What ffmpeg and ffprobe may open besides the URL they are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRules {
    pub rw_timeout_secs: u64,
    /// The egress proxy (`http://127.0.0.1:<port>`): every HTTP connection ffmpeg makes,
    /// nested ones included, is checked there as it is made.
    pub proxy: Option<String>,
    /// HLS and DASH playlists as sources (`security.allow_playlist_sources`). The concat
    /// demuxer and other containers that name files are never allowed.
    pub playlists: bool,
    /// Frames larger than this are not decoded (ffmpeg runs only; ffprobe reads headers).
    pub max_pixels: Option<u64>,
}

impl Default for InputRules {
    fn default() -> Self {
        InputRules {
            rw_timeout_secs: 15,
            proxy: None,
            playlists: false,
            max_pixels: None,
        }
    }
}

impl InputRules {
    /// The `-format_whitelist` value.
    pub fn formats(&self) -> String {
        if self.playlists {
            format!("{MEDIA_DEMUXERS},{PLAYLIST_DEMUXERS}")
        } else {
            MEDIA_DEMUXERS.to_string()
        }
    }
}

fn looks_like_windows_path(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

/// Rule for `callback_url`: plain http(s) URL.
pub fn check_callback_url(raw: &str) -> Result<(), SourceError> {
    match Source::parse(raw, &[])? {
        Source::Http(_) => Ok(()),
        Source::File(_) => Err(SourceError::Scheme("file".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https() {
        assert!(matches!(
            Source::parse("http://pi:5000/a.mkv", &[]),
            Ok(Source::Http(_))
        ));
        assert!(matches!(
            Source::parse("HTTPS://pi/a.mkv", &[]),
            Ok(Source::Http(_))
        ));
    }

    #[test]
    fn refuses_other_protocols() {
        for bad in [
            "file:///etc/passwd",
            "concat:/etc/passwd|/etc/hosts",
            "data:video/mp4;base64,AAAA",
            "pipe:0",
            "rtmp://x/y",
            "subfile,,start,0,end,10,,:/etc/passwd",
        ] {
            assert!(Source::parse(bad, &[]).is_err(), "{bad} accepted");
        }
        assert_eq!(Source::parse("  ", &[]), Err(SourceError::Empty));
        assert!(Source::parse("http://", &[]).is_err());
        assert!(Source::parse("http:/x", &[]).is_err());
    }

    #[test]
    fn refuses_urls_that_parsers_read_differently() {
        for bad in [
            "http://pi.lan\\@127.0.0.1/x.mkv",
            "http://a@b@127.0.0.1/x.mkv",
            "http://pi/a\\b.mkv",
        ] {
            assert!(
                matches!(Source::parse(bad, &[]), Err(SourceError::Malformed(_))),
                "{bad} accepted"
            );
        }
        let long = format!("http://pi/{}", "a".repeat(MAX_URL_BYTES));
        assert!(Source::parse(&long, &[]).is_err());
        assert!(Source::parse("http://user:pw@pi/x.mkv", &[]).is_ok());
    }

    #[test]
    fn input_args_name_the_proxy_and_keep_playlists_out() {
        let src = Source::Http("http://pi/x.mkv".into());
        let rules = InputRules {
            proxy: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        let a = src.input_args(&rules).join(" ");
        assert!(a.contains("-http_proxy http://127.0.0.1:9"), "{a}");
        assert!(a.contains("httpproxy"), "{a}");
        let formats = rules.formats();
        for f in formats.split(',') {
            assert!(
                !["hls", "dash", "concat", "imf", "lavfi"].contains(&f),
                "{f}"
            );
        }
        let open = InputRules {
            playlists: true,
            ..Default::default()
        };
        assert!(open.formats().split(',').any(|f| f == "hls"));
        assert!(!open.formats().split(',').any(|f| f == "concat"));
        let file = Source::File("/m/x.mkv".into());
        assert!(file
            .input_args(&rules)
            .join(" ")
            .contains("-format_whitelist"));
        assert!(!file.input_args(&rules).join(" ").contains("-http_proxy"));
    }

    #[test]
    fn local_paths_only_inside_roots() {
        assert_eq!(
            Source::parse("/etc/passwd", &[]),
            Err(SourceError::NoLibraryRoots)
        );
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("a.mkv");
        std::fs::write(&inside, b"x").unwrap();
        let roots = vec![root.path().to_path_buf()];
        assert!(matches!(
            Source::parse(inside.to_str().unwrap(), &roots),
            Ok(Source::File(_))
        ));
        assert_eq!(
            Source::parse("/etc/passwd", &roots),
            Err(SourceError::OutsideRoots)
        );
        let dotdot = format!("{}/../../etc/passwd", root.path().display());
        assert_eq!(
            Source::parse(&dotdot, &roots),
            Err(SourceError::OutsideRoots)
        );
        #[cfg(unix)]
        {
            let link = root.path().join("escape.mkv");
            std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
            assert_eq!(
                Source::parse(link.to_str().unwrap(), &roots),
                Err(SourceError::OutsideRoots)
            );
        }
    }
}
