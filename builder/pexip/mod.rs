//! Pexip Infinity: the Management Node's first-boot answers, the guide's configuration as a REST plan, and the
//! step that applies that plan to a running Management Node.
//!
//! What is vendor-documented and what is a guess is said where it matters (see `shared/PEXIP.md`):
//! - the bootstrap JSON shape and both password hashes follow Pexip's own Terraform tooling;
//! - whether the generic KVM image reads an OpenStack config drive is NOT confirmed, so the same answers are
//!   also written as an install sheet for the console wizard;
//! - the `securitywizard` prompts are not public: its answers are a sheet in the guide's (§34) order;
//! - REST field names follow the public SDK models; `management_vm/1/` as the Management Node's id and the
//!   status endpoint sharing the configuration id of a `worker_vm` are guesses, marked where used.
//!
//! Nothing here prints a secret: the plan carries `{"secret": NAME}` references, resolved only by `apply`.
//!
//! Findings this module surfaces rather than hides (PEXIP.md):
//! - NTP keys are SHA-1 only in Pexip (§73); CCN-STIC-807 keeps SHA-1 for HMAC only. The plan sends them as
//!   the profile gives them; the policy module reports the point.
//! - The autobackup schema lists FTP/FTPS upload schemes while §95 demands SFTP: the plan sends the profile's
//!   `sftp://` URL unchanged; whether v25.4 accepts it must be checked with `GET autobackup/schema/`.
//! - §56 "Enable HTTP access for external systems" has no field name in the public SDK models, and VMR locking
//!   (§101) is a runtime command, not a setting: neither is in the plan (rather than a guessed field name), so
//!   no entry cites rules `1616-5.5.b` or `1616-5.15.d`; they stay operator steps.
//! - A blank node's bootstrap port presents the node's own certificate: `apply --node-ca` must name the CA
//!   (or the pinned self-signed certificate) that signs it; verification is never switched off.
//!
//! Tools: `xorriso` (Debian package `xorriso`) builds the config drive; the tests also use `mkpasswd`
//! (package `whois`) and `python3` as independent hash implementations.

pub mod apply;
pub mod bootstrap;
pub mod client;
pub mod configdrive;
pub mod hash;
pub mod nodes;
pub mod plan;
pub mod sheets;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::artifact::write_atomic;
use crate::error::{Exit, fail};
use crate::profile::Loaded;
use crate::profile::secrets::{Secret, SecretRef, Secrets};

/// File names under the output folder's `pexip/` directory.
pub const BOOTSTRAP_JSON: &str = "management_node_config.json";
pub const CONFIG_DRIVE: &str = "config-drive.iso";
pub const INSTALL_SHEET: &str = "install-sheet.md";
pub const SECURITYWIZARD_SHEET: &str = "securitywizard-sheet.md";
pub const NODES_JSON: &str = "worker_vm.json";
pub const PLAN_JSON: &str = "plan.json";

/// Writes every Pexip artifact for a loaded profile into `out_dir/pexip/` and returns the paths written.
pub fn generate_all(l: &Loaded, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = out_dir.join("pexip");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let answers = bootstrap::WizardAnswers::from_profile(l)?;
    let user_data = answers.user_data();
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let p = dir.join(name);
        write_atomic(&p, bytes)?;
        written.push(p);
        Ok(())
    };
    put(BOOTSTRAP_JSON, user_data.as_bytes())?;
    put(INSTALL_SHEET, sheets::install_sheet(l, &answers).as_bytes())?;
    put(
        SECURITYWIZARD_SHEET,
        sheets::securitywizard_sheet(l).as_bytes(),
    )?;
    put(
        NODES_JSON,
        &crate::artifact::json_lines(&nodes::worker_vm_bodies(l)?)?,
    )?;
    put(PLAN_JSON, &crate::artifact::json_lines(&plan::plan(l)?)?)?;
    let iso = dir.join(CONFIG_DRIVE);
    configdrive::build(&iso, &answers, source_date_epoch(l))?;
    written.push(iso);
    Ok(written)
}

/// `SOURCE_DATE_EPOCH` from the environment, else the profile's.
pub fn source_date_epoch(l: &Loaded) -> u64 {
    // One rule for the whole build (an unreadable variable is refused there, before this runs).
    crate::build::plan::epoch(l).unwrap_or(l.profile.base.source_date_epoch)
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
