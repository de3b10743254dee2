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
    /// Print the whole plan as JSON (every file's text; what `forja build --plan` executes) instead of the
    /// summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The profile (TOML) to build.
    pub profile: PathBuf,
    /// Output folder for the signed artifacts (created if missing, its parent must exist; locked while the
    /// build runs).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Execute this plan (saved from `forja plan --json`) instead of resolving the profile again. Refused if
    /// the plan was made from another version of the profile.
    #[arg(long, value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,
    /// Extra overlay tree copied onto the root filesystem last. For tests (the boot test's report unit); an
    /// image built with it is not the reviewed image.
    #[arg(long = "extra-overlay", value_name = "DIR")]
    pub extra_overlays: Vec<PathBuf>,
    /// Keep the work tree (OUT/.forja-work) for inspection.
    #[arg(long)]
    pub keep_work: bool,
    /// The base image cache [default: $FORJA_CACHE, else $XDG_CACHE_HOME/forja, else ~/.cache/forja].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Print what was built (output folder, signer, every artifact with its SHA-256) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn plan(args: PlanArgs) -> anyhow::Result<Exit> {
    let l = load(&args.profile, SecretsNeed::IfPresent)?;
    let plan = pipeline::resolve(&l, &Environment::detect(args.extra_overlays))?;
    use std::io::Write;
    if args.json {
        std::io::stdout().write_all(&crate::artifact::json_lines(&plan)?)?;
    } else {
        print!("{}", crate::plan::summary::render(&plan));
    }
    Ok(Exit::Ok)
}

pub fn build(args: BuildArgs) -> anyhow::Result<Exit> {
    let l = load(&args.profile, SecretsNeed::Required)?;
    let opts = BuildOptions {
        extra_overlays: args.extra_overlays,
        keep_work: args.keep_work,
        plan: args.plan,
        cache_dir: args.cache_dir,
    };
    let started = std::time::Instant::now();
    let pipeline::Outcome { sums, signer } = pipeline::build(&l, &args.out, &opts)?;
    if args.json {
        let files: Vec<_> = sums
            .entries()
            .iter()
            .map(|e| serde_json::json!({"name": e.name, "sha256": e.sha256}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "out": args.out,
                "signer": signer,
                "artifacts": files,
            }))?
        );
    }
    log::info!(
        "built {} artifacts into {} in {:.0?}, signed by {signer}; check them with `forja verify {} --pubkey \
         forja.pub` (the key your site pinned), open {}/report.html",
        sums.entries().len(),
        args.out.display(),
        started.elapsed(),
        args.out.display(),
        args.out.display()
    );
    Ok(Exit::Ok)
}
