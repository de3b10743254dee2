//! Pexip Infinity: the Management Node's first-boot answers, the guide's configuration as a REST plan, the step that
//! applies that plan to a running Management Node, and the audit that reads it back (`forja pexip audit`).
//!
//! What is vendor-documented and what is a guess is said where it matters (see `shared/PEXIP.md`):
//! - the bootstrap JSON shape and both password hashes follow Pexip's own Terraform tooling;
//! - whether the generic KVM image reads an OpenStack config drive is NOT confirmed, so the same answers are
//!   also written as an install sheet for the console wizard;
//! - the `securitywizard` prompts are not public: its answers are a sheet in the guide's (§34) order;
//! - REST field names follow the public SDK models and the Terraform provider (cited per section in [`plan`]);
//!   `management_vm/1/` as the Management Node's id, the status endpoint sharing the configuration id of a
//!   `worker_vm`, `legacy_api_http` as §56's switch and a signed certificate being found by its PEM text are
//!   guesses, marked where used. [`audit`] reads every planned field back.
//!
//! Nothing here prints a secret: the plan carries `{"secret": NAME}` references, resolved only by `apply`.
//!
//! Findings this module surfaces rather than hides (PEXIP.md):
//! - NTP keys are SHA-1 only in Pexip (§73); CCN-STIC-807 keeps SHA-1 for HMAC only. The plan sends them as
//!   the profile gives them; the policy module reports the point.
//! - Pexip documents FTPS and FTP as the upload schemes of `autobackup_upload_url` while §95 demands SFTP: the
//!   plan sends the profile's URL (the policy refuses `ftp://` and leaves the choice MANUAL).
//! - VMR locking (§101) is a runtime command, not a setting: it is not in the plan, and rule `1616-5.15.d` stays
//!   an operator step.
//! - A blank node's bootstrap port presents the node's own certificate: `apply --node-ca` must name the CA
//!   (or the pinned self-signed certificate) that signs it; verification is never switched off.
//!
//! Tools: `xorriso` (Debian package `xorriso`) builds the config drive; the tests also use `mkpasswd`
//! (package `whois`) and `python3` as independent hash implementations.

pub mod apply;
pub mod audit;
pub mod bootstrap;
pub mod client;
pub mod configdrive;
pub mod nodes;
pub mod plan;
pub mod remote;
pub mod sheets;

use crate::error::{Exit, fail};
use crate::plan::ConfigDrivePlan;
use crate::plan::files::{GenFile, GenKind, OutputFile};
use crate::profile::Loaded;
use crate::profile::secrets::{Secret, SecretRef, Secrets};

/// File names under the output folder's `pexip/` directory.
pub const BOOTSTRAP_JSON: &str = "management_node_config.json";
pub const CONFIG_DRIVE: &str = "config-drive.iso";
pub const INSTALL_SHEET: &str = "install-sheet.md";
pub const SECURITYWIZARD_SHEET: &str = "securitywizard-sheet.md";
pub const NODES_JSON: &str = "worker_vm.json";
pub const PLAN_JSON: &str = "plan.json";

/// The Pexip files of a build, as planned: bootstrap JSON (a template: the password hashes are rendered by the
/// build), the install and securitywizard sheets, the `worker_vm` bodies, the configuration plan, and the config
/// drive made from the bootstrap JSON. Names are relative to the output folder (`pexip/...`).
pub fn outputs(l: &Loaded) -> anyhow::Result<(Vec<OutputFile>, ConfigDrivePlan)> {
    let answers = bootstrap::WizardAnswers::from_profile(l)?;
    let out = |name: &str, kind: GenKind, rules: &[&str]| OutputFile {
        name: format!("pexip/{name}"),
        file: GenFile {
            path: format!("pexip/{name}"),
            mode: 0o644,
            kind,
            rules: rules.iter().map(|r| r.to_string()).collect(),
        },
    };
    let text = |s: String| GenKind::File(s);
    let files = vec![
        out(BOOTSTRAP_JSON, GenKind::Template(answers.user_data()), &[]),
        out(INSTALL_SHEET, text(sheets::install_sheet(l, &answers)), &[]),
        out(
            SECURITYWIZARD_SHEET,
            text(sheets::securitywizard_sheet(l)),
            &[],
        ),
        out(
            NODES_JSON,
            text(json_text(&nodes::worker_vm_bodies(l)?)?),
            &[],
        ),
        out(PLAN_JSON, text(json_text(&plan::plan(l)?)?), &[]),
    ];
    let drive = ConfigDrivePlan {
        name: format!("pexip/{CONFIG_DRIVE}"),
        user_data: format!("pexip/{BOOTSTRAP_JSON}"),
        meta_data: configdrive::meta_data(&answers),
    };
    Ok((files, drive))
}

fn json_text<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(String::from_utf8(crate::artifact::json_lines(v)?)?)
}

/// The loaded secrets, or an error that says generation needs them.
pub(crate) fn secrets(l: &Loaded) -> anyhow::Result<&Secrets> {
    l.secrets.as_ref().ok_or_else(|| {
        fail(
            Exit::Input,
            format!(
                "{}: the Pexip answers need the secrets file {}",
                l.path.display(),
                l.dir().join(&l.profile.profile.secrets).display()
            ),
        )
    })
}

pub(crate) fn secret<'a>(l: &'a Loaded, r: &SecretRef) -> anyhow::Result<&'a Secret> {
    let s = secrets(l)?;
    s.get(r).ok_or_else(|| {
        fail(
            Exit::Input,
            format!(
                "{}: secret `{}` is not defined in {}",
                l.path.display(),
                r.name(),
                s.path.display()
            ),
        )
    })
}
