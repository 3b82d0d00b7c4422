//! Answers built from job state: playlists and files, downloads, stats, sharing.

use super::*;

impl Actor {
    /// The stream gate, in the order clients see: no such job (404), then the token or
    /// the API key, then a stream token revoked by cancel.
    pub(super) fn pass(&self, id: Uuid, gate: StreamGate) -> Result<(), EngineError> {
        let job = self.jobs.get(&id).ok_or(EngineError::NotFound)?;
        let revoked = job.rec.stream_revoked;
        let ended =
            || EngineError::JobEnded("the job was cancelled; its stream token is revoked".into());
        match gate {
            StreamGate::Enforced(Err(e)) => Err(EngineError::Token(e)),
            StreamGate::Enforced(Ok(Scope::Stream)) if revoked => Err(ended()),
            StreamGate::Enforced(Ok(_)) => Ok(()),
            StreamGate::Open { token, api_key_ok } => {
                let token_ok = matches!(token, Some(s) if !(s == Scope::Stream && revoked));
                if token_ok || api_key_ok {
                    Ok(())
                } else {
                    Err(EngineError::ApiKeyRequired)
                }
            }
        }
    }

    /// Finished jobs per UTC day (or, with `hourly`, per UTC hour), oldest first, for the
    /// last `n` of them (empty ones too), from the whole history in the store.
    pub(super) async fn daily(&self, n: u32, hourly: bool) -> ghoststream_types::DailyStats {
        let now = Utc::now();
        let (step, fmt, n) = if hourly {
            (
                chrono::Duration::hours(1),
                "%Y-%m-%dT%H",
                n.clamp(1, 168) as i64,
            )
        } else {
            (chrono::Duration::days(1), "%Y-%m-%d", n.clamp(1, 90) as i64)
        };
        let label = |t: chrono::DateTime<Utc>| t.format(fmt).to_string();
        let mut out: Vec<ghoststream_types::DayStats> = (0..n)
            .rev()
            .map(|i| ghoststream_types::DayStats {
                day: label(now - step * i as i32),
                completed: 0,
                failed: 0,
                cancelled: 0,
                average_speed: 0.0,
                hw_usage: BTreeMap::new(),
                transcoded: 0,
                transcode_speed: 0.0,
                copied: 0,
                copy_speed: 0.0,
            })
            .collect();
        let index: HashMap<String, usize> = out
            .iter()
            .enumerate()
            .map(|(i, d)| (d.day.clone(), i))
            .collect();
        // (all, transcodes, copies): sum of speeds and jobs with one.
        let mut speeds = vec![[(0.0, 0u32); 3]; out.len()];
        let first = &out[0].day;
        let since = if hourly {
            chrono::NaiveDateTime::parse_from_str(&format!("{first}:00:00"), "%Y-%m-%dT%H:%M:%S")
                .map(|t| t.and_utc())
                .unwrap_or(now)
        } else {
            chrono::NaiveDate::parse_from_str(first, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
                .unwrap_or(now)
        };
        let ended = self.store.ended_by(since, hourly).await.unwrap_or_default();
        for e in ended {
            let Some(&idx) = index.get(&e.day) else {
                continue;
            };
            let d = &mut out[idx];
            let n = e.jobs as u32;
            match e.status.as_str() {
                "ready" => {
                    let kind = match e.delivery.as_deref() {
                        Some("transcode") => {
                            d.transcoded += n;
                            Some(1)
                        }
                        Some("direct" | "remux") => {
                            d.copied += n;
                            Some(2)
                        }
                        _ => None,
                    };
                    d.completed += n;
                    for k in std::iter::once(0).chain(kind) {
                        speeds[idx][k].0 += e.speed_sum;
                        speeds[idx][k].1 += e.speeds as u32;
                    }
                }
                "error" => d.failed += n,
                "cancelled" => d.cancelled += n,
                _ => continue,
            }
            if let Some(hw) = e.hw {
                *d.hw_usage.entry(hw).or_insert(0) += n;
            }
        }
        let avg = |(sum, n): (f64, u32)| {
            if n > 0 {
                ((sum / n as f64) * 100.0).round() / 100.0
            } else {
                0.0
            }
        };
        for (d, s) in out.iter_mut().zip(speeds) {
            d.average_speed = avg(s[0]);
            d.transcode_speed = avg(s[1]);
            d.copy_speed = avg(s[2]);
        }
        ghoststream_types::DailyStats { days: out }
    }

    pub(super) fn shared(&self) -> SharedStreams {
        let mut streams = BTreeMap::new();
        let mut total = 0;
        let mut sessions = 0;
        for (id, j) in &self.jobs {
            if j.share_key.is_none()
                || j.rec.status.is_terminal() && j.rec.status != JobStatus::Ready
            {
                continue;
            }
            if j.rec.files_removed {
                continue;
            }
            total += j.viewers();
            sessions += j.sessions.len() as u32;
            if j.viewers() > 1 {
                streams.insert(
                    id.to_string(),
                    SharedStream {
                        source: crate::redact::redact_url(&j.rec.source),
                        viewers: j.viewers(),
                        status: j.rec.status,
                        progress: j.rec.progress,
                    },
                );
            }
        }
        SharedStreams {
            active_shared_streams: streams.len() as u32,
            total_viewers: total,
            viewer_sessions: sessions,
            streams,
        }
    }

    pub(super) fn stats(&self) -> Stats {
        let t = &self.totals;
        Stats {
            total_jobs_processed: t.successful + t.failed + t.cancelled,
            successful_jobs: t.successful,
            failed_jobs: t.failed,
            cancelled_jobs: t.cancelled,
            current_queue_length: self.queue.len() as u32,
            active_jobs: self.running as u32,
            average_transcode_speed: if t.speed_count > 0 {
                ((t.speed_sum / t.speed_count as f64) * 100.0).round() / 100.0
            } else {
                0.0
            },
            total_bytes_processed: t.bytes,
            uptime_seconds: self.inner.started.elapsed().as_secs_f64(),
            hw_accel_usage: t.hw_usage.clone(),
        }
    }

    pub(super) async fn stream_file(&mut self, id: Uuid, name: &str, reply: Waiter) {
        let ahead = self.inner.config.transcoding.restart_ahead_segments;
        let Some(job) = self.jobs.get_mut(&id) else {
            let _ = reply.send(Err(EngineError::NotFound));
            return;
        };
        if !job.rec.mode.is_hls() {
            let _ = reply.send(Err(EngineError::FileNotFound));
            return;
        }
        if job.rec.files_removed
            && job.rec.status != JobStatus::Error
            && job.rec.status != JobStatus::Cancelled
        {
            let _ = reply.send(Err(EngineError::Expired));
            return;
        }
        job.rec.last_access = Utc::now();
        let status = job.rec.status;
        let ended = match status {
            JobStatus::Error => Some(
                job.rec
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "the job failed".into()),
            ),
            JobStatus::Cancelled => Some("the job was cancelled".to_string()),
            _ => None,
        };
        let query = format!("?gst={}", job.rec.stream_token);
        let dir = job.rec.dir.clone();
        let fmp4 = job.plan.as_ref().is_some_and(|p| p.fmp4);
        let Some(h) = job.hls.as_mut() else {
            let _ = reply.send(Err(ended
                .map(EngineError::JobEnded)
                .unwrap_or(EngineError::FileNotFound)));
            return;
        };
        let parsed = parse_stream_name(name);
        match parsed {
            Some(StreamName::Master) => {
                let variants = job.rec.variants.clone().unwrap_or_default();
                let _ = reply.send(Ok(StreamFile::Playlist(segments::master_playlist(
                    &variants, &h.codecs, &h.audio, &h.subs, &query,
                ))));
            }
            Some(StreamName::Variant(v)) if v < h.variants => {
                let _ = reply.send(Ok(StreamFile::Playlist(segments::variant_playlist(
                    &h.map, v, &query, fmp4,
                ))));
            }
            Some(StreamName::SubPlaylist(i)) if i < h.subs.len() => {
                let _ = reply.send(Ok(StreamFile::Playlist(segments::subtitle_playlist(
                    h.map.total(),
                    i,
                    &query,
                ))));
            }
            Some(StreamName::SubFile(i)) if i < h.subs.len() => {
                if h.subs_ready[i] {
                    let _ = reply.send(Ok(StreamFile::File(dir.join(format!("sub{i}.vtt")))));
                } else if let Some(msg) = ended {
                    let _ = reply.send(Err(EngineError::JobEnded(msg)));
                } else {
                    h.sub_waiters.push((i, reply));
                }
            }
            Some(StreamName::Segment(v, n, file))
                if v < h.variants
                    && (n as usize) < h.map.len()
                    && matches!(file, SegmentFile::Ts(..)) != fmp4 =>
            {
                let file = match file {
                    SegmentFile::Init(..) => init_name(v, n),
                    _ => segment_name(v, n, fmp4),
                };
                h.watched = Some(h.watched.map_or(n, |w| w.max(n)));
                if h.done[v][n as usize] {
                    let _ = reply.send(Ok(StreamFile::File(dir.join(file))));
                    self.throttle(id);
                    return;
                }
                if let Some(msg) = ended {
                    let _ = reply.send(Err(EngineError::JobEnded(msg)));
                    return;
                }
                if status == JobStatus::Ready {
                    let _ = reply.send(Err(EngineError::FileNotFound));
                    return;
                }
                h.waiters.push((v, n, file, reply));
                // A run that has not reported yet is where it started, at the job's
                // last speed.
                let speed = job.rec.speed.unwrap_or(0.0);
                let restart = match &job.run {
                    Some(r) => {
                        let at = r.position.unwrap_or_else(|| h.map.start(r.first as usize));
                        n < r.first
                            || n > r.head + ahead
                            || h.sooner_by_restart(n, r.head, at, speed)
                    }
                    None => false,
                };
                if restart {
                    // A seek: the viewers are here now, not where they were.
                    h.watched = Some(n);
                    if let Some(r) = job.run.take() {
                        job.log.push(format!(
                            "segment {n} requested far from the encoder (at {}); restarting there",
                            r.head
                        ));
                        r.cancel.cancel();
                    }
                    if job.frozen.as_deref() == Some(super::freeze::THROTTLED) {
                        job.frozen = None;
                        self.count_frozen();
                    }
                    self.start_hls_run(id, n, super::argv::RunStart::Viewer);
                } else {
                    self.throttle(id);
                }
            }
            _ => {
                let _ = reply.send(Err(EngineError::FileNotFound));
            }
        }
    }

    pub(super) fn download(&mut self, id: Uuid) -> Result<(PathBuf, String), EngineError> {
        let job = self.jobs.get_mut(&id).ok_or(EngineError::NotFound)?;
        if job.rec.mode != Mode::Batch {
            return Err(EngineError::FileNotFound);
        }
        match job.rec.status {
            JobStatus::Ready => {}
            JobStatus::Error | JobStatus::Cancelled => {
                return Err(EngineError::JobEnded(
                    job.rec
                        .error_message
                        .clone()
                        .unwrap_or_else(|| job.rec.status.as_str().into()),
                ))
            }
            _ => return Err(EngineError::NotReady),
        }
        if job.rec.files_removed {
            return Err(EngineError::Expired);
        }
        job.rec.last_access = Utc::now();
        let name = job.rec.output_file.clone().ok_or(EngineError::NotReady)?;
        let stem = job
            .rec
            .source
            .rsplit('/')
            .next()
            .and_then(|f| f.split(['?', '#']).next())
            .and_then(|f| {
                f.rsplit_once('.')
                    .map(|(s, _)| s.to_string())
                    .or(Some(f.to_string()))
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "output".into());
        let ext = name.rsplit('.').next().unwrap_or("mp4");
        let safe: String = stem
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_. ".contains(*c))
            .take(100)
            .collect();
        Ok((
            job.rec.dir.join(&name),
            format!("{}.{ext}", if safe.is_empty() { "output" } else { &safe }),
        ))
    }
}

#[derive(Debug, PartialEq)]
enum StreamName {
    Master,
    Variant(usize),
    /// A segment or an initialisation section: variant, index, and the file.
    Segment(usize, u32, SegmentFile),
    SubPlaylist(usize),
    SubFile(usize),
}

fn parse_stream_name(name: &str) -> Option<StreamName> {
    if name == "master.m3u8" || name == "playlist.m3u8" || name == "index.m3u8" {
        return Some(StreamName::Master);
    }
    if let Some(rest) = name.strip_prefix("sub") {
        if let Some(i) = rest.strip_suffix(".m3u8") {
            return i.parse().ok().map(StreamName::SubPlaylist);
        }
        if let Some(i) = rest.strip_suffix(".vtt") {
            return i.parse().ok().map(StreamName::SubFile);
        }
        return None;
    }
    if let Some(file) = ghoststream_media::command::parse_segment_name(name) {
        let (v, n) = file.variant_and_index();
        return match file {
            // ffmpeg's own file, before it is split, is never served.
            SegmentFile::RawFmp4(..) => None,
            _ => Some(StreamName::Segment(v, n, file)),
        };
    }
    let v = name.strip_prefix('v')?.strip_suffix(".m3u8")?;
    v.parse().ok().map(StreamName::Variant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(parse_stream_name("master.m3u8"), Some(StreamName::Master));
        assert_eq!(parse_stream_name("v1.m3u8"), Some(StreamName::Variant(1)));
        assert_eq!(
            parse_stream_name("v0_00012.ts"),
            Some(StreamName::Segment(0, 12, SegmentFile::Ts(0, 12)))
        );
        assert_eq!(
            parse_stream_name("v1_00003_init.mp4"),
            Some(StreamName::Segment(1, 3, SegmentFile::Init(1, 3)))
        );
        assert_eq!(parse_stream_name("v1_00003.mp4"), None);
        assert_eq!(parse_stream_name("sub2.vtt"), Some(StreamName::SubFile(2)));
        assert_eq!(
            parse_stream_name("sub0.m3u8"),
            Some(StreamName::SubPlaylist(0))
        );
        assert_eq!(parse_stream_name("v0_x.ts"), None);
        assert_eq!(parse_stream_name("output.part"), None);
        assert_eq!(parse_stream_name("v0_r1.csv"), None);
    }
}
