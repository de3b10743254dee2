//! Compose: everything forja writes into the host's root filesystem, generated from the profile.
//!
//! Each submodule turns one part of the profile into files ([`GenFile`]): network, firewall, sysctl, access
//! (banner, idle timeout, PAM, SSH), time and logs, boot lock, first boot, self-check. The static parts (scripts,
//! units) live in `overlays/` and are reviewed like code. The result is a sorted list, so `forja plan` can show
//! every file with its hash before anything is built, and the build writes exactly that list.
//!
//! Deliberately not here: secrets. A file that needs a secret's hash (shadow's SHA-512 crypt) is a template naming the secret
//! (see [`crate::plan::files`]); the build renders it.

pub mod access;
pub mod bootloader;
pub mod firewall;
pub mod firstboot;
pub mod hostpart;
pub mod network;
pub mod packages;
pub mod selfcheck;
pub mod syntax;
pub mod sysctl;
pub mod timelogs;
pub mod tree;

use std::collections::BTreeMap;

use crate::profile::Loaded;

pub use crate::plan::files::{GenFile, GenKind};

/// Interface names forja gives the two NICs (matched by MAC in `.link` files), so every other file can name them.
pub const MGMT_IF: &str = "mgmt0";
pub const VM_IF: &str = "vmnic0";

/// Inputs to composition that are decided by the disk layout, not the profile: the PARTUUIDs the command line and
/// `fstab` name.
#[derive(Debug, Clone)]
pub struct ComposeInput {
    pub root_a: uuid::Uuid,
    pub verity_a: uuid::Uuid,
    pub root_b: uuid::Uuid,
    pub verity_b: uuid::Uuid,
    pub state: uuid::Uuid,
    pub esp: uuid::Uuid,
}

/// Every generated file for the host, sorted by path. Later entries for the same path replace earlier ones.
pub fn host_files(l: &Loaded, input: &ComposeInput) -> anyhow::Result<Vec<GenFile>> {
    let mut all: BTreeMap<String, GenFile> = BTreeMap::new();
    let parts = [
        network::files(l)?,
        firewall::files(l),
        sysctl::files(l)?,
        access::files(l)?,
        timelogs::files(l)?,
        bootloader::files(),
        firstboot::files(l, input),
        selfcheck::timer_files(l),
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
            matches!(f.kind, GenKind::File(_) | GenKind::Template(_))
                && !firstboot::REWRITTEN.contains(&f.path.as_str())
        })
        .collect()
}
