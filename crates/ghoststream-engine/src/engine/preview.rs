//! Previews of a start without a job: what it would work from (`prepare`, shared with
//! `POST /api/probe`), and the dry run (`POST /api/probe/compile`), which builds what it
//! would run with the same functions as a job's runs.

use super::*;

impl Engine {
    /// What a start request would work from, as a start checks and probes it (the URLs
    /// vetted, a probe slot held while probing), without creating a job.
    pub(super) async fn prepare(
        &self,
        req: &StartRequest,
    ) -> Result<(crate::job::JobSpec, crate::prober::Prepared), EngineError> {
        let mut spec = self.validate(req)?;
        self.inner.prober.vet(&mut spec).await?;
        let _slot = self.inner.prober.slot(&spec.source).await;
        let p = self
            .inner
            .prober
            .prepare(&spec)
            .await
            .map_err(EngineError::Source)?;
        spec.check_against(&p.media, &self.inner.shared.hardware)?;
        Ok((spec, p))
    }

    /// The dry run: what a start request would run, built by the same functions as a
    /// job's runs, without creating a job or running anything.
    pub async fn compile(
        &self,
        req: StartRequest,
    ) -> Result<ghoststream_types::CompileResponse, EngineError> {
        let shared = &self.inner.shared;
        let (spec, p) = self.prepare(&req).await?;
        let dir = std::path::PathBuf::from("JOB_DIR");
        let ctx = actor::argv::RunContext {
            config: &shared.config,
            hardware: &shared.hardware,
            input: shared.input_rules(),
            spec: &spec,
            plan: &p.plan,
            hw: p.hw,
            dir: &dir,
            faster: false,
        };
        let runs = actor::argv::first_runs(&ctx, &p.media, p.map.as_ref());
        let program = shared
            .config
            .transcoding
            .ffmpeg_path
            .to_string_lossy()
            .to_string();
        Ok(ghoststream_types::CompileResponse {
            source: spec.source_raw.clone(),
            mode: spec.mode,
            media_info: p.media.clone(),
            plan: p.plan.streams.clone(),
            hw_accel: p.hw,
            commands: runs.iter().map(|a| a.to_cmd_string(&program)).collect(),
            argv: runs
                .iter()
                .map(|a| {
                    std::iter::once(program.clone())
                        .chain(a.args().iter().cloned())
                        .collect()
                })
                .collect(),
        })
    }
}
