//! `forja firmware plan|apply|audit`: the firmware lock of §30 through the BMC's Redfish service.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::error::{Exit, fail};
use crate::firmware::{self, FirmwarePlan, apply, audit, observe, redfish};
use crate::pexip::client::{Client, load_ca, require_https};
use crate::profile::secrets::SecretRef;
use crate::profile::{Loaded, SecretsNeed, load};

/// Firmware lock (§30): the plan, and setting and checking it through the BMC.
#[derive(Debug, Subcommand)]
pub enum FirmwareCommand {
    /// Print the firmware plan of a profile (JSON), the file `forja build` writes as firmware-plan.json.
    Plan(PlanArgs),
    /// Set the administrator password, boot order and Secure Boot through the BMC (Redfish), idempotently.
    Apply(ApplyArgs),
    /// Compare the BMC's firmware settings with the plan, read-only; exit 1 on drift.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The profile (TOML).
    pub profile: PathBuf,
    /// Write the plan to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The BMC and how to reach it.
#[derive(Debug, Args)]
pub struct BmcArgs {
    /// The profile (TOML); the BMC account and the passwords come from its secrets file.
    pub profile: PathBuf,
    /// The BMC's base URL, e.g. https://bmc.sede.example (https only; default: boot.firmware.redfish-endpoint).
    #[arg(long)]
    pub bmc: Option<String>,
    /// CA certificate(s), PEM: the only trust anchors for the BMC's certificate.
    #[arg(long)]
    pub ca: PathBuf,
    /// The system to act on, by Id or @odata.id (default: the only member of /redfish/v1/Systems).
    #[arg(long)]
    pub system: Option<String>,
    /// Seconds allowed for each HTTPS request.
    #[arg(long, default_value_t = 60)]
    pub request_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub bmc: BmcArgs,
    /// Show what would change; send nothing that changes the BMC.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub bmc: BmcArgs,
    /// Print the verdicts as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: FirmwareCommand) -> anyhow::Result<Exit> {
    match cmd {
        FirmwareCommand::Plan(a) => {
            let l = load(&a.profile, SecretsNeed::IfPresent)?;
            let bytes = crate::artifact::json_lines(&firmware::plan(&l)?)?;
            match a.output {
                Some(p) => crate::artifact::write_atomic(&p, &bytes)?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(Exit::Ok)
        }
        FirmwareCommand::Apply(a) => {
            let s = Session::open(&a.bmc)?;
            let rf = redfish::Redfish::new(&s.https);
            let system = observe::find_system(&rf, a.bmc.system.as_deref())?;
            let secrets = s
                .loaded
                .secrets
                .as_ref()
                .expect("loaded with SecretsNeed::Required");
            let mut out = std::io::stdout();
            println!("forja firmware apply: BMC {}", s.url);
            apply::apply(&rf, &s.plan, secrets, &system, a.dry_run, &mut out)?;
            Ok(Exit::Ok)
        }
        FirmwareCommand::Audit(a) => {
            let s = Session::open(&a.bmc)?;
            let rf = redfish::Redfish::new(&s.https);
            let system = observe::find_system(&rf, a.bmc.system.as_deref())?;
            let obs = observe::observe(&rf, &system)?;
            let report = audit::Audit::new(&s.url, &obs, audit::judge(&s.plan, &obs)?);
            if a.json {
                use std::io::Write;
                std::io::stdout().write_all(&crate::artifact::json_lines(&report)?)?;
            } else {
                print!("{}", report.text());
            }
            Ok(if report.drift {
                Exit::PolicyFailed
            } else {
                Exit::Ok
            })
        }
    }
}

/// A profile, its plan, and an HTTPS transport to the BMC logged in with the plan's account.
struct Session {
    loaded: Loaded,
    plan: FirmwarePlan,
    url: String,
    https: redfish::Https,
}

impl Session {
    fn open(a: &BmcArgs) -> anyhow::Result<Session> {
        let loaded = load(&a.profile, SecretsNeed::Required)?;
        let plan = firmware::plan(&loaded)?;
        let url = a
            .bmc
            .clone()
            .or_else(|| plan.bmc.endpoint.clone())
            .ok_or_else(|| {
                fail(
                    Exit::Input,
                    format!(
                        "{}: no BMC: pass --bmc URL or set boot.firmware.redfish-endpoint",
                        a.profile.display()
                    ),
                )
            })?;
        require_https(&url, "--bmc")?;
        let secrets = loaded
            .secrets
            .as_ref()
            .expect("loaded with SecretsNeed::Required");
        let account = |r: &Option<SecretRef>, field: &str| {
            r.as_ref()
                .and_then(|r| secrets.get(r))
                .ok_or_else(|| {
                    fail(
                        Exit::Input,
                        format!(
                            "{}: boot.firmware.{field} is not set; the BMC account comes from the secrets file, e.g. {field} = {{ secret = \"{field}\" }}",
                            loaded.locate(&crate::profile::FieldPath::parse("boot.firmware"))
                        ),
                    )
                })
        };
        let user = account(&plan.bmc.user, "bmc-user")?;
        let password = account(&plan.bmc.password, "bmc-password")?;
        let client = Client::new(
            load_ca(&a.ca)?,
            Duration::from_secs(a.request_timeout),
            Some((user.expose(), password)),
            secrets,
        );
        let https = redfish::Https::new(client, &url);
        Ok(Session {
            loaded,
            plan,
            url,
            https,
        })
    }
}
