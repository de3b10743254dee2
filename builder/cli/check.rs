//! `forja check PROFILE`: judge a profile against CCN-STIC 1616 without building anything.
//!
//! Exit 0 when no rule fails, 1 when any fails, 2 when the profile cannot be used at all (parse error, unknown
//! key, unsafe secrets file, missing secret reference, a file the profile names that is missing or does not
//! parse), 4 when README.TXT does not vouch for an image. The secrets file is optional here: an auditor may check
//! a profile without it, and rules on secret values then say MANUAL. Every other file the profile names is
//! checked (`pipeline::preflight`), so a green check means `forja build` finds its inputs; only a missing signing
//! key is a note, not an error (it may live on the signing machine).
//!
//! A site profile (one with `[[hosts]]`) is checked across hosts first (`policy::site`: exit 2 naming both hosts
//! of every clash), then host by host, each report under a `== host NAME ==` line (JSON: one object per host).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::Exit;
use crate::policy;
use crate::profile::site::{load_site, member};
use crate::profile::{SecretsNeed, load};

/// Arguments of `forja check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The profile to check (TOML), e.g. profiles/ccn-stic-1616.toml.
    pub profile: PathBuf,
    /// Output format: a table for people, the auditor's Markdown report, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Shorthand for `--format json` (rules, findings and summary, machine-readable).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

/// How `forja check` prints the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per rule: id, paragraph, status, reason; then findings and a summary line.
    Text,
    /// The auditor's report: the guide's §7 checklist with SÍ/NO, findings, then every rule.
    Markdown,
    /// The report as JSON.
    Json,
}

pub fn run(args: CheckArgs) -> anyhow::Result<Exit> {
    if crate::profile::site::is_site_file(&args.profile) {
        return site(args);
    }
    let loaded = load(&args.profile, SecretsNeed::IfPresent)?;
    let inputs = crate::pipeline::preflight::check_inputs(&loaded)?;
    let mut report = policy::evaluate(&loaded);
    report.inputs = inputs;
    let format = if args.json { Format::Json } else { args.format };
    let text = match format {
        Format::Text => report.to_table(),
        Format::Markdown => report.to_markdown(),
        Format::Json => report.to_json(),
    };
    print!("{text}");
    Ok(if report.failed() {
        Exit::PolicyFailed
    } else {
        Exit::Ok
    })
}

/// `forja check SITE`: the cross-host checks, then every host's rules.
fn site(args: CheckArgs) -> anyhow::Result<Exit> {
    let site = load_site(&args.profile, SecretsNeed::IfPresent)?;
    policy::site::require_clean(&site)?;
    crate::pipeline::site::require_shared_root(&site)?;
    let format = if args.json { Format::Json } else { args.format };
    let mut failed = false;
    let mut json = serde_json::Map::new();
    for h in &site.hosts {
        let inputs = crate::pipeline::preflight::check_inputs(h)?;
        let mut report = policy::evaluate(h);
        report.inputs = inputs;
        failed |= report.failed();
        let name = &member(h).host;
        match format {
            Format::Text => print!("== host {name} ==\n{}", report.to_table()),
            Format::Markdown => print!("# host {name}\n\n{}", report.to_markdown()),
            Format::Json => {
                json.insert(name.clone(), serde_json::from_str(&report.to_json())?);
            }
        }
    }
    if format == Format::Json {
        let v = serde_json::json!({ "site": site.name(), "hosts": json });
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(if failed { Exit::PolicyFailed } else { Exit::Ok })
}
