//! Parser for `ffmpeg -progress pipe:1` key=value blocks. Pure, fed line by line.

/// One completed progress block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressBlock {
    pub frame: u64,
    pub fps: f64,
    /// Output position of this run in seconds (ffmpeg's `out_time_us`; excludes
    /// `-output_ts_offset`).
    pub out_time_secs: f64,
    pub total_size_bytes: u64,
    pub bitrate_kbps: Option<f64>,
    pub speed: Option<f64>,
    /// `progress=end`: ffmpeg has finished writing.
    pub end: bool,
}

#[derive(Debug, Default)]
pub struct ProgressParser {
    cur: ProgressBlock,
}

impl ProgressParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line; returns a block when the line closes one (`progress=…`).
    pub fn push_line(&mut self, line: &str) -> Option<ProgressBlock> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        match key {
            "frame" => self.cur.frame = value.parse().unwrap_or(self.cur.frame),
            "fps" => self.cur.fps = value.parse().unwrap_or(0.0),
            // out_time_ms is microseconds too in ffmpeg 4–6; prefer out_time_us.
            "out_time_us" | "out_time_ms" => {
                if let Ok(us) = value.parse::<i64>() {
                    self.cur.out_time_secs = (us.max(0) as f64) / 1_000_000.0;
                }
            }
            "total_size" => self.cur.total_size_bytes = value.parse().unwrap_or(0),
            "bitrate" => {
                self.cur.bitrate_kbps = value
                    .strip_suffix("kbits/s")
                    .and_then(|v| v.trim().parse().ok())
            }
            "speed" => self.cur.speed = value.strip_suffix('x').and_then(|v| v.trim().parse().ok()),
            "progress" => {
                self.cur.end = value == "end";
                let block = self.cur.clone();
                self.cur.end = false;
                return Some(block);
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from ffmpeg 5.1 (`-progress pipe:1 -stats_period 0.5`).
    const CAPTURED: &str = "frame=61
fps=0.00
stream_0_0_q=28.0
bitrate= 201.9kbits/s
total_num_frames=61
total_size=51888
out_time_us=2056000
out_time_ms=2056000
out_time=00:00:02.056000
dup_frames=0
drop_frames=0
speed=4.06x
progress=continue
frame=200
fps=155.21
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us=8011144
out_time_ms=8011144
out_time=00:00:08.011144
dup_frames=0
drop_frames=0
speed=6.22x
progress=end
";

    #[test]
    fn parses_captured_blocks() {
        let mut p = ProgressParser::new();
        let blocks: Vec<_> = CAPTURED.lines().filter_map(|l| p.push_line(l)).collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].frame, 61);
        assert!((blocks[0].out_time_secs - 2.056).abs() < 1e-9);
        assert_eq!(blocks[0].bitrate_kbps, Some(201.9));
        assert_eq!(blocks[0].speed, Some(4.06));
        assert_eq!(blocks[0].total_size_bytes, 51888);
        assert!(!blocks[0].end);
        assert_eq!(blocks[1].frame, 200);
        assert_eq!(blocks[1].bitrate_kbps, None);
        assert_eq!(blocks[1].total_size_bytes, 0);
        assert!(blocks[1].end);
    }

    #[test]
    fn ignores_noise() {
        let mut p = ProgressParser::new();
        assert!(p.push_line("garbage").is_none());
        assert!(p.push_line("out_time_us=N/A").is_none());
        let b = p.push_line("progress=continue").unwrap();
        assert_eq!(b.out_time_secs, 0.0);
    }
}
