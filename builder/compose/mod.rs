//! Compose: everything forja writes into the host's root filesystem, generated from the profile.
//!
//! Each submodule turns one part of the profile into files ([`GenFile`]): network, firewall, sysctl, access
//! (banner, idle timeout, PAM, SSH), time and logs, boot lock, first boot, self-check. The static parts (scripts,
//! units) live in `overlays/` and are reviewed like code. The result is a sorted list, so `forja plan` can show
//! every file with its hash before anything is built, and the build writes exactly that list.
//!
//! Deliberately not here: secrets. A generated file may hold a hash of a secret (GRUB PBKDF2), never a value.

pub mod access;
pub mod bootloader;
pub mod firewall;
pub mod firstboot;
pub mod network;
pub mod packages;
pub mod selfcheck;
pub mod sysctl;
pub mod timelogs;
pub mod tree;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::hashio::Sha256;
use crate::profile::Loaded;

/// Interface names forja gives the two NICs (matched by MAC in `.link` files), so every other file can name them.
pub const MGMT_IF: &str = "mgmt0";
pub const VM_IF: &str = "vmnic0";

/// A file generated into the root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    /// Absolute path inside the image, e.g. `/etc/nftables.conf`.
    pub path: String,
    pub mode: u32,
    pub kind: GenKind,
    /// Why the file exists: the guide rules it implements.
    pub rules: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenKind {
    File(Vec<u8>),
    Symlink(String),
    /// Removed from the base if present (e.g. libvirt's default NAT network autostart link).
    Absent,
}

impl GenFile {
    pub fn text(path: &str, mode: u32, body: impl Into<String>, rules: &[&'static str]) -> Self {
        GenFile {
            path: path.to_owned(),
            mode,
            kind: GenKind::File(body.into().into_bytes()),
            rules: rules.to_vec(),
        }
    }

    pub fn symlink(path: &str, target: &str) -> Self {
        GenFile {
            path: path.to_owned(),
            mode: 0o777,
            kind: GenKind::Symlink(target.to_owned()),
            rules: Vec::new(),
        }
    }

    /// Enables a unit the way `systemctl enable` would, as a symlink in `<target>.wants/`.
    pub fn absent(path: &str) -> Self {
        GenFile {
            path: path.to_owned(),
            mode: 0,
            kind: GenKind::Absent,
            rules: Vec::new(),
        }
    }

    pub fn wants(target: &str, unit: &str, unit_dir: &str) -> Self {
        GenFile::symlink(
            &format!("/etc/systemd/system/{target}.wants/{unit}"),
            &format!("{unit_dir}/{unit}"),
        )
    }
}

/// One line of the plan for a generated file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: String,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<&'static str>,
}

impl From<&GenFile> for PlannedFile {
    fn from(f: &GenFile) -> Self {
        let (sha256, symlink) = match &f.kind {
            GenKind::File(b) => (Some(Sha256::of(b)), None),
            GenKind::Symlink(t) => (None, Some(t.clone())),
            GenKind::Absent => (None, Some("(removed)".to_owned())),
        };
        PlannedFile {
            path: f.path.clone(),
            mode: format!("{:04o}", f.mode),
            sha256,
            symlink,
            rules: f.rules.clone(),
        }
    }
}

/// Inputs to composition that are not in the profile itself.
#[derive(Debug, Clone)]
pub struct ComposeInput {
    /// Seed for deterministic salts (GRUB PBKDF2); derived from the secrets file, never printed.
    pub salt_seed: [u8; 32],
    /// GPT partition GUIDs and filesystem UUIDs chosen by the disk layout.
    pub root_partuuid: String,
}

/// Every generated file for the host, sorted by path. Later entries for the same path replace earlier ones.
pub fn host_files(l: &Loaded, input: &ComposeInput) -> anyhow::Result<Vec<GenFile>> {
    let mut all: BTreeMap<String, GenFile> = BTreeMap::new();
    let parts = [
        network::files(l),
        firewall::files(l),
        sysctl::files(l),
        access::files(l),
        timelogs::files(l)?,
        bootloader::files(l, input)?,
        firstboot::files(l, input),
    ];
    for f in parts.into_iter().flatten() {
        all.insert(f.path.clone(), f);
    }
    Ok(all.into_values().collect())
}

/// The files a self-check manifest covers: every generated regular file except those first boot rewrites.
pub fn protected(files: &[GenFile]) -> Vec<&GenFile> {
    files
        .iter()
        .filter(|f| {
            matches!(f.kind, GenKind::File(_)) && !firstboot::REWRITTEN.contains(&f.path.as_str())
        })
        .collect()
}
