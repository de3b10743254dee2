//! `forja plan` and `forja build`.

use std::path::PathBuf;

use clap::Args;

use crate::error::Exit;
use crate::pipeline::{self, BuildOptions, Environment};
use crate::profile::{SecretsNeed, load};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The profile (TOML) to resolve. The secrets file is not needed: the plan names secrets, never holds them.
    pub profile: PathBuf,
    /// Extra overlay trees, as `forja build --extra-overlay` would copy them (so the plan shows them too).
    #[arg(long = "extra-overlay", value_name = "DIR")]
    pub extra_overlays: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The profile (TOML) to build.
    pub profile: PathBuf,
    /// Output folder for the signed artifacts (created if missing; locked while the build runs).
    #[arg(long)]
    pub out: PathBuf,
    /// Execute this plan (saved from `forja plan`) instead of resolving the profile again. Refused if the plan
    /// was made from another version of the profile.
    #[arg(long, value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,
    /// Extra overlay tree copied onto the root filesystem last. For tests (the boot test's report unit); an
    /// image built with it is not the reviewed image.
    #[arg(long = "extra-overlay", value_name = "DIR")]
    pub extra_overlays: Vec<PathBuf>,
    /// Keep the work tree (OUT/.forja-work) for inspection.
    #[arg(long)]
    pub keep_work: bool,
}

pub fn plan(args: PlanArgs) -> anyhow::Result<Exit> {
    let l = load(&args.profile, SecretsNeed::IfPresent)?;
    let plan = pipeline::resolve(&l, &Environment::detect(args.extra_overlays))?;
    use std::io::Write;
    std::io::stdout().write_all(&crate::artifact::json_lines(&plan)?)?;
    Ok(Exit::Ok)
}

pub fn build(args: BuildArgs) -> anyhow::Result<Exit> {
    let l = load(&args.profile, SecretsNeed::Required)?;
    let opts = BuildOptions {
        extra_overlays: args.extra_overlays,
        keep_work: args.keep_work,
        plan: args.plan,
    };
    let started = std::time::Instant::now();
    let artifacts = pipeline::build(&l, &args.out, &opts)?;
    log::info!(
        "built {} artifacts into {} in {:.0?}; check them with `forja verify {}`",
        artifacts.len(),
        args.out.display(),
        started.elapsed(),
        args.out.display()
    );
    Ok(Exit::Ok)
}
