//! `forja pexip ...`: the Pexip first-boot answers and the guide's configuration plan, and applying that plan.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::connect::{ConnectArgs, Connection};
use crate::error::{Exit, fail};
use crate::pexip;
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
    /// Read the Management Node back (GET only) and compare it with the profile's plan, per guide rule; exit 1 on
    /// drift.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The profile (TOML); its secrets file gives the web administrator's password.
    pub profile: PathBuf,
    /// The Management Node's base URL, e.g. https://pexmgr.sede.example (https only).
    #[arg(long)]
    pub manager: String,
    /// CA certificate(s), PEM: the only trust anchors for the manager's certificate.
    #[arg(long)]
    pub ca: PathBuf,
    /// Print the audit as JSON (per rule: status, drifted fields with expected and actual values).
    #[arg(long)]
    pub json: bool,
    /// Web user to read with (default: the profile's pexip.management.web-admin-user).
    #[arg(long)]
    pub user: Option<String>,
    /// Name of the secret that holds that user's password (default: the profile's web-admin-password).
    #[arg(long)]
    pub password_secret: Option<String>,
    /// Seconds allowed for each HTTPS request.
    #[arg(long, default_value_t = 60)]
    pub request_timeout: u64,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The profile (TOML).
    pub profile: PathBuf,
    /// Write the plan to this file instead of standard output (its folder must exist).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The profile (TOML).
    pub profile: PathBuf,
    /// Output folder for the Pexip files (created if missing; its parent must exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan written by `forja pexip plan --output`.
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// CA certificate(s), PEM, for the nodes' bootstrap port (default: --ca).
    #[arg(long)]
    pub node_ca: Option<PathBuf>,
    /// Show what would change; send nothing that changes the manager.
    #[arg(long)]
    pub dry_run: bool,
    /// Send every secret again (the manager never returns them, so apply cannot tell they changed).
    #[arg(long)]
    pub resend_secrets: bool,
    /// Send a node's deployment file to this URL instead of https://ADDRESS:8443/...: NAME=URL (repeatable).
    #[arg(long = "node-url", value_name = "NAME=URL")]
    pub node_urls: Vec<String>,
    /// Seconds to wait for each node to reach SYNCED.
    #[arg(long, default_value_t = 900)]
    pub sync_timeout: u64,
    /// Milliseconds between two status polls.
    #[arg(long, default_value_t = 5000)]
    pub poll_interval_ms: u64,
}

pub fn run(cmd: PexipCommand) -> anyhow::Result<Exit> {
    match cmd {
        PexipCommand::Plan(a) => {
            let l = load(&a.profile, SecretsNeed::Required)?;
            let bytes = crate::artifact::json_lines(&pexip::plan::plan(&l)?)?;
            match a.output {
                Some(p) => {
                    crate::artifact::require_parent(&p, "--output")?;
                    crate::artifact::write_atomic(&p, &bytes)?
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(Exit::Ok)
        }
        PexipCommand::Generate(a) => {
            let l = load(&a.profile, SecretsNeed::Required)?;
            for p in crate::pipeline::generate_pexip(&l, &a.out)? {
                log::info!("wrote {}", p.display());
            }
            Ok(Exit::Ok)
        }
        PexipCommand::Apply(a) => apply(a),
        PexipCommand::Audit(a) => audit(a),
    }
}

fn audit(a: AuditArgs) -> anyhow::Result<Exit> {
    pexip::client::require_https(&a.manager, "--manager")?;
    let l = load(&a.profile, SecretsNeed::Required)?;
    let secrets = pexip::secrets(&l)?;
    let m = &l.profile.pexip.management;
    let user = a
        .user
        .clone()
        .unwrap_or_else(|| m.web_admin_user.to_string());
    let secret = a
        .password_secret
        .clone()
        .unwrap_or_else(|| m.web_admin_password.name().to_owned());
    let password = pexip::secret(&l, &crate::profile::secrets::SecretRef { secret })?;
    let client = pexip::client::Client::new(
        pexip::client::load_ca(&a.ca)?,
        Duration::from_secs(a.request_timeout),
        Some((&user, password)),
        secrets,
    );
    let remote = pexip::remote::Remote {
        client: &client,
        manager: &a.manager,
        secrets,
    };
    let report = pexip::audit::audit(&l, &remote)?;
    print!(
        "{}",
        if a.json {
            report.to_json()
        } else {
            report.to_table()
        }
    );
    Ok(if report.drifted() {
        Exit::PolicyFailed
    } else {
        Exit::Ok
    })
}

fn apply(a: ApplyArgs) -> anyhow::Result<Exit> {
    pexip::client::require_https(&a.connect.manager, "--manager")?;
    let mut node_urls = BTreeMap::new();
    for s in &a.node_urls {
        let (name, url) = s
            .split_once('=')
            .ok_or_else(|| fail(Exit::Input, format!("--node-url `{s}`: expected NAME=URL")))?;
        pexip::client::require_https(url, "--node-url")?;
        node_urls.insert(name.to_owned(), url.to_owned());
    }
    let text = crate::inbound::read_text_capped(&a.plan, crate::plan::MAX_PLAN_BYTES)
        .map_err(|e| e.context("cannot read the Pexip plan"))?;
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
    let Connection {
        client: manager,
        secrets,
        ..
    } = a.connect.connect()?;
    let nodes = pexip::client::Client::new(
        pexip::client::load_ca(a.node_ca.as_ref().unwrap_or(&a.connect.ca))?,
        a.connect.timeout(),
        None,
        &secrets,
    );
    let opts = pexip::apply::Options {
        manager: a.connect.manager.clone(),
        dry_run: a.dry_run,
        resend_secrets: a.resend_secrets,
        node_urls,
        sync_timeout: Duration::from_secs(a.sync_timeout),
        poll_interval: Duration::from_millis(a.poll_interval_ms),
        state_dir: pexip::apply::state_dir_for(&a.plan),
    };
    let mut out = std::io::stdout();
    pexip::apply::apply(&plan, &secrets, &manager, &nodes, &opts, &mut out)?;
    Ok(Exit::Ok)
}
