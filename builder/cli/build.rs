//! `forja plan` and `forja build` (of a profile, or of every host of a site profile).

use std::path::PathBuf;

use clap::Args;

use crate::error::Exit;
use crate::pipeline::{self, BuildOptions, Environment};
use crate::profile::site::{is_site_file, load_site};
use crate::profile::{SecretsNeed, load};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The profile (TOML) to resolve. The secrets file is not needed: the plan names secrets, never holds them.
    pub profile: PathBuf,
    /// With a site profile: the host whose plan to print (needed with --json; the summary shows every host).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
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
    /// The profile (TOML) to build; a site profile (one with `[[hosts]]`) builds every host into
    /// OUT/hosts/NAME/ with one signed SHA256SUMS for the site.
    pub profile: PathBuf,
    /// With a site profile: build only this host (the others' folders are kept and listed again).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
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
    if is_site_file(&args.profile) {
        return site_plan(args);
    }
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

/// `forja plan SITE [--host NAME]`: one host's plan, or every host's summary.
fn site_plan(args: PlanArgs) -> anyhow::Result<Exit> {
    let site = load_site(&args.profile, SecretsNeed::IfPresent)?;
    crate::policy::site::require_clean(&site)?;
    let env = Environment::detect(args.extra_overlays);
    let hosts: Vec<&crate::profile::Loaded> = match &args.host {
        Some(name) => vec![site.host(name).ok_or_else(|| {
            crate::error::fail(
                Exit::Input,
                format!("--host {name}: {} has no such host", site.path.display()),
            )
        })?],
        None if args.json => {
            return Err(crate::error::fail(
                Exit::Input,
                "--json prints one plan: name the host with --host NAME",
            ));
        }
        None => site.hosts.iter().collect(),
    };
    for h in hosts {
        let plan = pipeline::resolve(h, &env)?;
        if args.json {
            use std::io::Write;
            std::io::stdout().write_all(&crate::artifact::json_lines(&plan)?)?;
        } else {
            let name = &crate::profile::site::member(h).host;
            print!("== host {name} ==\n{}", crate::plan::summary::render(&plan));
        }
    }
    Ok(Exit::Ok)
}

pub fn build(args: BuildArgs) -> anyhow::Result<Exit> {
    let opts = BuildOptions {
        extra_overlays: args.extra_overlays,
        keep_work: args.keep_work,
        plan: args.plan,
        cache_dir: args.cache_dir,
        site: None,
    };
    let started = std::time::Instant::now();
    let pipeline::Outcome { sums, signer } = if is_site_file(&args.profile) {
        let site = load_site(&args.profile, SecretsNeed::Required)?;
        pipeline::site::build(&site, &args.out, args.host.as_deref(), &opts)?
    } else {
        if let Some(h) = &args.host {
            return Err(crate::error::fail(
                Exit::Input,
                format!(
                    "--host {h}: {} is a single-host profile (a site profile has [[hosts]])",
                    args.profile.display()
                ),
            ));
        }
        let l = load(&args.profile, SecretsNeed::Required)?;
        pipeline::build(&l, &args.out, &opts)?
    };
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
