//! The ffmpeg argv of a run, from plain inputs. The actor's runs and the dry run
//! (`POST /api/probe/compile`) build it the same way, so the dry run shows exactly what
//! a start would run.

use super::hls::Hls;
use crate::config::Config;
use crate::job::JobSpec;
use ghoststream_media::command::{self, Argv, HlsRun};
use ghoststream_media::hw::Hardware;
use ghoststream_media::plan::{Plan, VideoAction};
use ghoststream_media::source::InputRules;
use ghoststream_types::{HwKind, MediaInfo};
use std::path::Path;

/// What every run of a job is built from.
pub(crate) struct RunContext<'a> {
    pub config: &'a Config,
    pub hardware: &'a Hardware,
    pub input: InputRules,
    pub spec: &'a JobSpec,
    pub plan: &'a Plan,
    pub hw: HwKind,
    /// The job's work directory.
    pub dir: &'a Path,
    /// Stepped down for speed: the encoder's faster preset.
    pub faster: bool,
}

pub(crate) struct HlsArgv {
    pub argv: Argv,
    /// The segment the run starts at, and its output time.
    pub first: u32,
    pub offset: f64,
}

fn tuning_of(ctx: &RunContext, quick: bool) -> command::Tuning {
    command::Tuning {
        nvenc_preset: ctx.config.hardware.nvenc_preset.clone(),
        gpu_scale: ctx.hardware.gpu_scale.clone(),
        faster: ctx.faster,
        quick,
    }
}

/// Why a stream run starts, which decides how its first segment is made.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RunStart {
    /// A viewer waits for the first segment: the job's start, a seek, a retry.
    Viewer,
    /// The encoder carries on (after a run that ended, or a step-down): nobody waits
    /// on this run's first segment more than on the ones after it.
    Carry,
}

/// Whether the run starting at `first` writes that segment alone, tuned for latency
/// (`transcoding.quick_start`): the segment a viewer waits for, encoded in software
/// H.264, with more segments after it for the next run to carry on with.
fn quick_first(ctx: &RunContext, why: RunStart, first: u32, end: u32) -> bool {
    let encodes = match &ctx.plan.video {
        VideoAction::Encode { codec, .. } => command::quick_start_applies(*codec, ctx.hw),
        _ => false,
    };
    ctx.config.transcoding.quick_start && encodes && why == RunStart::Viewer && end > first + 1
}

/// The run that writes the first missing segment at or after `from`, up to the next one
/// already made; `None` when nothing is missing.
pub(super) fn hls_argv(
    ctx: &RunContext,
    hls: &Hls,
    from: u32,
    why: RunStart,
    run_id: u64,
) -> Option<HlsArgv> {
    let first = hls.first_missing_from(from)?;
    let mut end = hls.next_done_after(first);
    let quick = quick_first(ctx, why, first, end);
    if quick {
        // The next run carries on from the segment after it when this one finishes.
        end = first + 1;
    }
    let map = &hls.map;
    let copy = ctx.plan.copies_video();
    let cut_margin = if copy { 0.001 } else { 0.0 };
    let cut_times: Vec<f64> = ((first + 1)..end)
        .map(|i| map.start(i as usize) - cut_margin)
        .collect();
    let offset = map.start(first as usize);
    let duration = ((end as usize) < map.len()).then(|| map.start(end as usize) - offset);
    let tuning = tuning_of(ctx, quick);
    let argv = command::hls_run(&HlsRun {
        source: &ctx.spec.source,
        plan: ctx.plan,
        hw: ctx.hw,
        // Copied video (only ever for jobs starting at 0) seeks just past the segment's
        // keyframe: ffmpeg backs off a few frames when seeking by DTS, which then
        // lands on that keyframe, not the one before.
        seek_secs: match (copy, first) {
            (true, 0) => 0.0,
            (true, _) => offset + (map.duration(first as usize) / 2.0).min(0.15),
            (false, _) => ctx.spec.start_time + offset,
        },
        out_offset_secs: if copy { 0.0 } else { offset },
        duration_secs: duration,
        copy_origin_secs: (copy && first > 0).then_some(offset),
        cut_times,
        first_segment: first,
        out_dir: ctx.dir,
        run_id,
        input: ctx.input.clone(),
        tuning: &tuning,
        gop_frames: match &ctx.plan.video {
            VideoAction::Encode { codec, .. } if command::fixed_gop(*codec, ctx.hw) => {
                let fps = ctx.plan.streams.video.as_ref().and_then(|v| v.fps);
                Some(
                    command::gop_for(fps.unwrap_or(25.0), ctx.config.transcoding.segment_duration)
                        .0,
                )
            }
            _ => None,
        },
    });
    Some(HlsArgv {
        argv,
        first,
        offset,
    })
}

/// Whether a batch job's video is encoded in two passes: asked for, and an encoder
/// that has them.
pub(crate) fn two_passes(ctx: &RunContext) -> bool {
    ctx.spec.two_pass
        && match &ctx.plan.video {
            VideoAction::Encode { codec, .. } => command::two_pass_applies(*codec, ctx.hw),
            _ => false,
        }
}

/// The prefix of a two-pass job's statistics files, in its directory.
pub(crate) const PASS_LOG: &str = "twopass";

/// A batch job's run, writing `output.part` in the job's directory; for a two-pass job,
/// `pass` says which (the first writes only the statistics).
pub(super) fn batch_argv(ctx: &RunContext, media: Option<&MediaInfo>, pass: u8) -> Argv {
    let part = ctx.dir.join("output.part");
    let log = ctx.dir.join(PASS_LOG);
    let tuning = tuning_of(ctx, false);
    command::batch(&command::BatchRun {
        source: &ctx.spec.source,
        plan: ctx.plan,
        hw: ctx.hw,
        start_time: ctx.spec.start_time,
        format: ctx.spec.format,
        output: &part,
        input: ctx.input.clone(),
        tuning: &tuning,
        // A source that keeps sending past the length it announced is cut there.
        max_secs: media
            .map(|m| m.duration - ctx.spec.start_time)
            .filter(|d| *d > 0.0)
            .map(|d| d + (d * 0.05).max(10.0)),
        pass: (two_passes(ctx) && pass > 0).then_some((pass, log.as_path())),
    })
}

/// The runs a start would begin with (the dry run): the batch run, or a stream's run
/// from its first segment.
pub(crate) fn first_runs(
    ctx: &RunContext,
    media: &MediaInfo,
    map: Option<&crate::segments::SegmentMap>,
) -> Vec<Argv> {
    match map {
        None => vec![batch_argv(ctx, Some(media), 1)],
        Some(map) => {
            let hls = Hls::new(map.clone(), ctx.plan.output_count());
            hls_argv(ctx, &hls, 0, RunStart::Viewer, 1)
                .map(|r| vec![r.argv])
                .unwrap_or_default()
        }
    }
}
