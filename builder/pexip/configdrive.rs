//! The Management Node's config drive: an ISO 9660 volume labelled `config-2` in the OpenStack layout,
//! `openstack/latest/user_data` (the bootstrap JSON) and `openstack/latest/meta_data.json` (uuid, hostname).
//!
//! Whether Pexip's generic KVM image reads a config drive is NOT confirmed (PEXIP.md): it is the natural way to
//! hand the answers to the VM, and the install sheet carries the same answers for the console wizard.
//!
//! Built with `xorriso -as mkisofs` (Debian package `xorriso`) through [`Task`]. Reproducible: the staged files
//! get the build's timestamp, and `SOURCE_DATE_EPOCH` is passed to xorriso, which then fixes every volume and
//! file date and the volume UUID. The flags are those OpenStack Nova uses for its config drives (`-r` Rock Ridge
//! with owners and modes normalised, Joliet, lower-case names kept), so any reader of Nova's drives reads this.

use fs_err as fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::Serialize;

use super::bootstrap::WizardAnswers;
use crate::artifact::Staged;
use crate::exec::Task;

pub const VOLUME_LABEL: &str = "config-2";
pub const USER_DATA: &str = "openstack/latest/user_data";
pub const META_DATA: &str = "openstack/latest/meta_data.json";

#[derive(Debug, Serialize)]
struct MetaData<'a> {
    uuid: String,
    hostname: &'a str,
    name: &'a str,
}

/// `meta_data.json`: the instance UUID is a UUIDv5 of the node's FQDN, so it is stable per deployment.
pub fn meta_data(answers: &WizardAnswers) -> String {
    let uuid = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("forja:pexip:management:{}", answers.fqdn).as_bytes(),
    );
    let mut s = serde_json::to_string_pretty(&MetaData {
        uuid: uuid.to_string(),
        hostname: &answers.fqdn,
        name: &answers.config.hostname,
    })
    .expect("strings serialise");
    s.push('\n');
    s
}

/// Builds the ISO at `target` (atomically) from the rendered `user_data` and `meta_data.json`.
pub fn build(target: &Path, user_data: &str, meta_data: &str, epoch: u64) -> anyhow::Result<()> {
    let stage = tempfile::Builder::new()
        .prefix(crate::artifact::STAGING_PREFIXES[0])
        .tempdir_in(target.parent().unwrap_or(Path::new(".")))
        .context("creating the config drive's staging folder")?;
    let root = stage.path().join("root");
    let latest = root.join("openstack/latest");
    fs::create_dir_all(&latest).with_context(|| format!("creating {}", latest.display()))?;
    fs::write(root.join(USER_DATA), user_data)?;
    fs::write(root.join(META_DATA), meta_data)?;
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    for p in [
        root.join(USER_DATA),
        root.join(META_DATA),
        latest.clone(),
        root.join("openstack"),
        root.clone(),
    ] {
        fs::File::open(&p)
            .and_then(|f| f.set_modified(when))
            .with_context(|| format!("setting the time of {}", p.display()))?;
    }
    let staged = Staged::create(target)?;
    Task::new("building the Pexip config drive", "xorriso")
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(["-as", "mkisofs", "-quiet", "-V", VOLUME_LABEL])
        .args([
            "-ldots",
            "-allow-lowercase",
            "-allow-multidot",
            "-l",
            "-J",
            "-r",
        ])
        .args(["-input-charset", "utf-8", "-o"])
        .arg(staged.partial_path())
        .arg(&root)
        .run()?;
    staged.commit()?;
    Ok(())
}
