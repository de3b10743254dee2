//! `forja licence ...`: the air-gapped licence activation workflow (see [`crate::licence`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::connect::{ConnectArgs, Connection};
use crate::error::Exit;
use crate::licence::audit::{AUDIT_FILE, Audit, Trail};
use crate::licence::{self, DEFAULT_MAX_AGE_DAYS, Manager, state::State};
use crate::sign::keys::{PublicKey, SigningKey};

/// Offline licence activation across the air gap (guide §18–21).
#[derive(Debug, Subcommand)]
pub enum LicenceCommand {
    /// Site: create an offline licence request on the Management Node and write the signed outbound bundle.
    Request(RequestArgs),
    /// Connected side: check an outbound bundle (pinned key, hashes, age) and show what it requests.
    Inspect(InspectArgs),
    /// Connected side: pack the vendor's response into an inbound bundle bound to the outbound bundle.
    Response(ResponseArgs),
    /// Site: check an inbound bundle against the site's issued requests and apply it to the Management Node.
    Apply(ApplyArgs),
}

/// How to reach the Management Node, and where the site keeps its licence state.
#[derive(Debug, Args)]
pub struct ManagerArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The site's licence state folder (issued requests; default home of the audit trail).
    #[arg(long, default_value = "licence-state")]
    pub state: PathBuf,
    /// Audit trail file (JSON lines) [default: STATE/licence-audit.log].
    #[arg(long)]
    pub audit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub manager: ManagerArgs,
    /// The entitlement (activation) id the vendor issued for this licence.
    #[arg(long)]
    pub entitlement: String,
    /// The site's signify secret key (mode 0600) that signs the bundle.
    #[arg(long, value_name = "FILE")]
    pub signing_key: PathBuf,
    /// The outbound bundle file to write (a tar); its folder must exist.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The outbound bundle written by `forja licence request`.
    pub bundle: PathBuf,
    /// The site's public key, pinned when it was received; without it the result is "unverified" (exit 4).
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// Refuse a request generated more than this many days ago.
    #[arg(long, default_value_t = DEFAULT_MAX_AGE_DAYS)]
    pub max_age_days: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Audit trail file (JSON lines) this step appends to.
    #[arg(long, default_value = AUDIT_FILE)]
    pub audit: PathBuf,
}

#[derive(Debug, Args)]
pub struct ResponseArgs {
    /// The outbound bundle the response answers.
    pub bundle: PathBuf,
    /// The vendor's response file, exactly as downloaded (kept opaque).
    #[arg(long)]
    pub response: PathBuf,
    /// The site's pinned public key: the outbound bundle must be signed by it.
    #[arg(long, value_name = "FILE")]
    pub pubkey: PathBuf,
    /// The inbound bundle file to write (a tar); its folder must exist.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Sign the inbound bundle with this courier secret key (signify, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Refuse a request generated more than this many days ago.
    #[arg(long, default_value_t = DEFAULT_MAX_AGE_DAYS)]
    pub max_age_days: u64,
    /// Audit trail file (JSON lines) this step appends to.
    #[arg(long, default_value = AUDIT_FILE)]
    pub audit: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The inbound bundle written by `forja licence response`.
    pub inbound: PathBuf,
    #[command(flatten)]
    pub manager: ManagerArgs,
    /// The courier's public key (signify), pinned when it was received: the inbound bundle must carry a
    /// signature that verifies with it. Without it, the bundle is refused (exit 4) unless
    /// --accept-unsigned-response is given.
    #[arg(long, value_name = "FILE")]
    pub courier_pubkey: Option<PathBuf>,
    /// Apply an answer that carries no courier signature checked against a pinned key: its integrity then rests
    /// only on its hashes and on answering a request this site issued. Logged, and recorded in the audit trail.
    #[arg(long)]
    pub accept_unsigned_response: bool,
    /// Refuse a request generated more than this many days ago.
    #[arg(long, default_value_t = DEFAULT_MAX_AGE_DAYS)]
    pub max_age_days: u64,
}

pub fn run(cmd: LicenceCommand) -> anyhow::Result<Exit> {
    match cmd {
        LicenceCommand::Request(a) => {
            let audit = audit_of(&a.manager);
            audited(&audit, "request", |t| request(a, t))
        }
        LicenceCommand::Inspect(a) => audited(&Audit::new(&a.audit), "inspect", |t| inspect(a, t)),
        LicenceCommand::Response(a) => {
            audited(&Audit::new(&a.audit), "response", |t| response(a, t))
        }
        LicenceCommand::Apply(a) => {
            let audit = audit_of(&a.manager);
            audited(&audit, "apply", |t| apply(a, t))
        }
    }
}

fn audit_of(m: &ManagerArgs) -> Audit {
    Audit::new(m.audit.clone().unwrap_or_else(|| m.state.join(AUDIT_FILE)))
}

/// Runs a step and appends its outcome to the audit trail, whatever it is.
fn audited(
    audit: &Audit,
    step: &'static str,
    f: impl FnOnce(&mut Trail) -> anyhow::Result<Exit>,
) -> anyhow::Result<Exit> {
    let mut trail = Trail::new(step);
    let result = f(&mut trail);
    if let Ok(Exit::Unverified) = result {
        trail.detail =
            Some("signature checked only against the key inside the bundle (no --pubkey)".into());
    }
    let recorded = audit.record(&trail, result.as_ref().copied(), licence::now());
    let exit = result?;
    recorded?;
    Ok(exit)
}

fn request(a: RequestArgs, trail: &mut Trail) -> anyhow::Result<Exit> {
    let key = SigningKey::load(&a.signing_key)?;
    crate::artifact::require_parent(&a.output, "--output")?;
    let Connection { client, ca_pem, .. } = a.manager.connect.connect()?;
    let mut state = State::open(&a.manager.state)?;
    let opts = licence::request::Options {
        manager: Manager::new(&a.manager.connect.manager, &ca_pem),
        entitlement_id: a.entitlement,
        key: &key,
        out: &a.output,
        created_at: licence::created_at(),
    };
    let (meta, sha) = licence::request::request(&client, &opts, &mut state, trail)?;
    println!(
        "wrote {} (sha256 {sha})\nrequest {} sequence {} for entitlement {}, generated {}\n\
         recorded as pending in {}\ncarry the bundle and the site's public key (pinned separately) to the connected side",
        a.output.display(),
        meta.reference,
        meta.sequence_number,
        meta.entitlement_id,
        meta.generation_time_utc,
        state.path().display()
    );
    Ok(Exit::Ok)
}

fn inspect(a: InspectArgs, trail: &mut Trail) -> anyhow::Result<Exit> {
    let key = a.pubkey.as_deref().map(PublicKey::load).transpose()?;
    let report = licence::inspect::inspect(
        &a.bundle,
        key.as_ref(),
        a.max_age_days,
        licence::now(),
        trail,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(match report.signature {
        licence::inspect::Trust::Pinned => Exit::Ok,
        licence::inspect::Trust::Unpinned => Exit::Unverified,
    })
}

fn response(a: ResponseArgs, trail: &mut Trail) -> anyhow::Result<Exit> {
    let site_key = PublicKey::load(&a.pubkey)?;
    let courier = a.signing_key.as_deref().map(SigningKey::load).transpose()?;
    crate::artifact::require_parent(&a.output, "--output")?;
    let opts = licence::response::Options {
        outbound: &a.bundle,
        response: &a.response,
        site_key: &site_key,
        courier: courier.as_ref(),
        max_age_days: a.max_age_days,
        now: licence::now(),
        out: &a.output,
    };
    let (meta, sha) = licence::response::response(&opts, trail)?;
    println!(
        "wrote {} (sha256 {sha})\nanswers request bundle {} (request {} sequence {}){}",
        a.output.display(),
        meta.request_bundle_sha256,
        meta.reference,
        meta.sequence_number,
        if courier.is_some() {
            ", signed by the courier key"
        } else {
            ""
        }
    );
    Ok(Exit::Ok)
}

fn apply(a: ApplyArgs, trail: &mut Trail) -> anyhow::Result<Exit> {
    let courier = a
        .courier_pubkey
        .as_deref()
        .map(PublicKey::load)
        .transpose()?;
    let Connection { client, .. } = a.manager.connect.connect()?;
    let mut state = State::open(&a.manager.state)?;
    let opts = licence::apply::Options {
        inbound: &a.inbound,
        manager: &a.manager.connect.manager,
        courier: courier.as_ref(),
        accept_unsigned: a.accept_unsigned_response,
        max_age_days: a.max_age_days,
        now: licence::now(),
    };
    let applied = licence::apply::apply(&client, &opts, &mut state, trail)?;
    println!(
        "applied the response to request {} sequence {} (manager request id {})\n\
         licence active: entitlement {}\nrecorded as applied in {}",
        applied.meta.reference,
        applied.meta.sequence_number,
        applied.request_id,
        applied.meta.entitlement_id,
        state.path().display()
    );
    Ok(Exit::Ok)
}
