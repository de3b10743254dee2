//! Site media: the USB installer image and the PXE tree made from a finished, signed build, and the installer
//! that runs from them on the machine being installed.
//!
//! The installer is the Debian kernel and initrd of the build itself (read from the ESP inside `disk.raw`) with a
//! small cpio archive in front of the initrd: an `init` script, this very `forja` binary with the shared
//! libraries it links (run through their own dynamic loader, so nothing depends on the initrd's libc), the
//! public key, and `installer.json` ([`InstallerConfig`]). The kernel runs `rdinit=/forja/init`; the script
//! mounts the pseudo filesystems, starts udev from Debian's initrd to load the disk and NIC drivers, and runs
//! `forja media install`, so the verification is the same Rust code as `forja verify` and is tested on the
//! build host ([`install`]), not a shell re-implementation. Why not `signify-openbsd` in the initrd: it would
//! check the list, but the hashing-while-writing with the first MiB held back still needs a program of ours.
//!
//! The installer boots as a unified kernel image signed with the site's db key ([`uki`]), like the host.
//! Deliberately not here: any network payload fetch other than plain HTTP(S) GET.

pub mod build;

pub mod install;
pub mod run;
pub mod select;
pub mod site_pxe;
pub mod site_usb;
pub mod target;
pub mod uki;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the installer is told at media build time (`/forja/installer.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstallerConfig {
    /// `usb` or `pxe`.
    pub mode: Mode,
    /// The GPT disk GUID of the USB image: that disk is never a target, and holds the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usb_disk_guid: Option<Uuid>,
    /// The payload partition's number on the USB image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_partition: Option<u32>,
    /// The profile's `[install] target` rule (empty: the only non-removable disk).
    #[serde(default)]
    pub target: target::TargetRule,
    /// Byte ranges of the image that its plan leaves empty (slot B, vmstore): zeros there are not written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<Region>,
    /// The host the payload installs (its hostname), named in the install record.
    #[serde(default)]
    pub host: String,
    /// The profile (for a site's host: the site) the build came from, named in the install record.
    #[serde(default)]
    pub profile: String,
    /// A site's stick: the hosts it carries, one chosen by the machine's MACs or serial ([`select`]); then
    /// `target`, `skip` and `host` above are unused and each host's own count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<select::SiteChoices>,
}

/// A byte range of the disk image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub offset: u64,
    pub len: u64,
}

/// How the installer reaches its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Usb,
    Pxe,
}
