//! `site.json`: what a site build holds, host by host: where each host's signed build is, and the MACs that
//! identify its machine. `forja media pxe` keys its boot scripts on these MACs; a machine whose MAC is not here
//! gets no install.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};

/// The manifest's file name in a site build folder.
pub const FILE: &str = "site.json";
/// Where each host's build lives: `hosts/NAME/`.
pub const HOSTS_DIR: &str = "hosts";
pub const FORMAT: &str = "forja-site/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteManifest {
    pub format: String,
    pub site: String,
    /// SHA-256 of the site profile the hosts were built from.
    pub profile_sha256: crate::hashio::Sha256,
    /// The dm-verity root hash of the root every host runs (the same image for all: each host's own files are in
    /// its unified kernel images). Absent when no host is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_hash: Option<crate::hashio::Sha256>,
    pub hosts: Vec<SiteHost>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteHost {
    pub name: String,
    /// The host's build folder, relative to the site folder (`hosts/NAME`).
    pub dir: String,
    /// The MACs of the host's own NICs (management first, then the VM NIC), lower-case with colons.
    pub macs: Vec<String>,
    /// Its machine's DMI serial, when the site profile declares one (`hosts[].serial`): the site's USB stick
    /// also recognises the machine by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Whether it runs the Management Node.
    pub management: bool,
    /// The Pexip nodes whose VMs it runs.
    pub nodes: Vec<String>,
    /// Whether its build is in this folder (a `--host` build may leave others out).
    pub built: bool,
}

impl SiteManifest {
    /// Reads `dir/site.json`; a folder without it is not a site build.
    pub fn load(dir: &Path) -> anyhow::Result<Option<SiteManifest>> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = crate::inbound::read_capped(&path, 16 << 20)?;
        let m: SiteManifest = serde_json::from_slice(&bytes)
            .map_err(|e| fail(Exit::Input, format!("{}: {e}", path.display())))?;
        if m.format != FORMAT {
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: format `{}`, this forja reads `{FORMAT}`",
                    path.display(),
                    m.format
                ),
            ));
        }
        Ok(Some(m))
    }
}
