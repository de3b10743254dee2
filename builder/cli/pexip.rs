//! `forja pexip ...`: the Pexip first-boot answers and the guide's configuration plan, and applying that plan.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::error::{Exit, fail};
use crate::pexip;
use crate::profile::secrets::{SecretRef, Secrets};
use crate::profile::{SecretsNeed, load};

/// Pexip Infinity: first-boot answers, configuration plan, apply.
#[derive(Debug, Subcommand)]
pub enum PexipCommand {
    /// Print the REST configuration plan for a profile (JSON; secrets appear only as references).
    Plan(PlanArgs),
    /// Write every Pexip artifact (bootstrap JSON, config drive, sheets, node bodies, plan) into a folder.
    Generate(GenerateArgs),
    /// Apply a plan to a running Management Node over HTTPS, idempotently.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The profile (TOML).
    pub profile: PathBuf,
    /// Write the plan to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The profile (TOML).
    pub profile: PathBuf,
    /// Output folder; files go to OUT/pexip/.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan written by `forja pexip plan --out`.
    #[arg(long)]
    pub plan: PathBuf,
    /// The Management Node's base URL, e.g. https://pexmgr.sede.example (https only).
    #[arg(long)]
    pub manager: String,
    /// CA certificate(s), PEM: the only trust anchors for the manager's certificate.
    #[arg(long)]
    pub ca: PathBuf,
    /// CA certificate(s), PEM, for the nodes' bootstrap port (default: --ca).
    #[arg(long)]
    pub node_ca: Option<PathBuf>,
    /// The secrets file holding the values the plan refers to (mode 0600).
    #[arg(long)]
    pub secrets: PathBuf,
    /// Accept a secrets file marked test-values-only (lab managers only).
    #[arg(long)]
    pub allow_test_secrets: bool,
    /// Web administrator user for HTTP basic authentication.
    #[arg(long, default_value = "admin")]
    pub user: String,
    /// Name of the secret that holds that user's password.
    #[arg(long, default_value = "pexip-web-admin")]
    pub password_secret: String,
    /// Show what would change; send nothing that changes the manager.
    #[arg(long)]
    pub dry_run: bool,
    /// Send a node's deployment file to this URL instead of https://ADDRESS:8443/...: NAME=URL (repeatable).
    #[arg(long = "node-url", value_name = "NAME=URL")]
    pub node_urls: Vec<String>,
    /// Seconds to wait for each node to reach SYNCED.
    #[arg(long, default_value_t = 900)]
    pub sync_timeout: u64,
    /// Milliseconds between two status polls.
    #[arg(long, default_value_t = 5000)]
    pub poll_interval_ms: u64,
    /// Seconds allowed for each HTTPS request.
    #[arg(long, default_value_t = 60)]
    pub request_timeout: u64,
}

pub fn run(cmd: PexipCommand) -> anyhow::Result<Exit> {
    match cmd {
        PexipCommand::Plan(a) => {
            let l = load(&a.profile, SecretsNeed::Required)?;
            let bytes = pexip::to_json_lines(&pexip::plan::plan(&l)?)?;
            match a.out {
                Some(p) => crate::artifact::write_atomic(&p, &bytes)?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(Exit::Ok)
        }
        PexipCommand::Generate(a) => {
            let l = load(&a.profile, SecretsNeed::Required)?;
            for p in pexip::generate_all(&l, &a.out)? {
                log::info!("wrote {}", p.display());
            }
            Ok(Exit::Ok)
        }
        PexipCommand::Apply(a) => apply(a),
    }
}

fn apply(a: ApplyArgs) -> anyhow::Result<Exit> {
    pexip::client::require_https(&a.manager, "--manager")?;
    let mut node_urls = BTreeMap::new();
    for s in &a.node_urls {
        let (name, url) = s
            .split_once('=')
            .ok_or_else(|| fail(Exit::Input, format!("--node-url `{s}`: expected NAME=URL")))?;
        pexip::client::require_https(url, "--node-url")?;
        node_urls.insert(name.to_owned(), url.to_owned());
    }
    let text = std::fs::read_to_string(&a.plan).map_err(|e| {
        fail(
            Exit::Input,
            format!("{}: cannot read the plan: {e}", a.plan.display()),
        )
    })?;
    let plan: Vec<pexip::plan::Entry> = serde_json::from_str(&text).map_err(|e| {
        fail(
            Exit::Input,
            format!(
                "{}:{}:{}: not a forja Pexip plan: {e}",
                a.plan.display(),
                e.line(),
                e.column()
            ),
        )
    })?;
    let secrets = Secrets::load(&a.secrets, a.allow_test_secrets)?;
    let pw = secrets
        .get(&SecretRef {
            secret: a.password_secret.clone(),
        })
        .ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{}: no secret `{}` for the web administrator's password (--password-secret)",
                    a.secrets.display(),
                    a.password_secret
                ),
            )
        })?;
    let timeout = Duration::from_secs(a.request_timeout);
    let manager = pexip::client::Client::new(
        pexip::client::load_ca(&a.ca)?,
        timeout,
        Some((&a.user, pw)),
        &secrets,
    );
    let nodes = pexip::client::Client::new(
        pexip::client::load_ca(a.node_ca.as_ref().unwrap_or(&a.ca))?,
        timeout,
        None,
        &secrets,
    );
    let opts = pexip::apply::Options {
        manager: a.manager.clone(),
        dry_run: a.dry_run,
        node_urls,
        sync_timeout: Duration::from_secs(a.sync_timeout),
        poll_interval: Duration::from_millis(a.poll_interval_ms),
        state_dir: pexip::apply::state_dir_for(&a.plan),
    };
    let mut out = std::io::stdout();
    pexip::apply::apply(&plan, &secrets, &manager, &nodes, &opts, &mut out)?;
    Ok(Exit::Ok)
}
