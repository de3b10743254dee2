//! The ESP stage: systemd-boot, its settings and slot A's unified kernel image, every EFI binary signed with the
//! site's db key when the profile names its Secure Boot keys; and slot B's image, made and signed the same way
//! from the same kernel, initrd and os-release, written beside `disk.raw` (not on the ESP: a fresh install boots
//! slot A; `forja bundle` carries it and an update into slot B installs it).
//!
//! Everything comes from the composed root (the image's own systemd-boot, stub, kernel and initrd), so the boot
//! chain is the same release as the root it opens. Signing fixes the signature time at the build's epoch: two
//! builds give the same bytes.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::boot::uki::{self, UkiParts};
use crate::compose::tree::host_path;
use crate::error::{Exit, fail};
use crate::fs::fat::FatTree;
use crate::plan::{EspSource, Plan, Slot};
use crate::secureboot::{self, SiteKeys};

/// The kernel version in the root's `/boot` (the newest, if several).
pub fn kernel_version(root: &Path) -> anyhow::Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir(root.join("boot"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_owned)
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| fail(Exit::Input, "the base has no kernel in /boot"))
}

/// Signs `input` into `work` when keys are given; returns the file to put on the ESP.
fn signed(
    keys: Option<&SiteKeys>,
    input: PathBuf,
    work: &Path,
    epoch: u64,
) -> anyhow::Result<PathBuf> {
    let Some(k) = keys else { return Ok(input) };
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = work.join(format!("signed-{name}"));
    secureboot::sign_efi(k, &input, &out, epoch)?;
    Ok(out)
}

/// The ESP's files; `cmdline` is slot A's command line with its root hash.
pub fn build(
    plan: &Plan,
    root: &Path,
    cmdline: &str,
    keys: Option<&SiteKeys>,
    work: &Path,
) -> anyhow::Result<(FatTree, String)> {
    let kver = kernel_version(root)?;
    let epoch = plan.source_date_epoch;
    let mut esp = FatTree::new();
    for f in &plan.boot.esp {
        match &f.source {
            EspSource::SystemdBoot => {
                let efi = signed(keys, host_path(root, uki::SYSTEMD_BOOT), work, epoch)?;
                esp.add_file(&f.path, &efi)?;
            }
            EspSource::Text { text } => esp.add_bytes(&f.path, text.clone().into_bytes())?,
            EspSource::Uki { slot } => {
                let efi = slot_image(plan, root, &kver, *slot, cmdline, keys, work)?;
                esp.add_file(&f.path, efi)?;
            }
        }
    }
    Ok((esp, kver))
}

/// Writes the plan's [`crate::plan::SlotImage`]s (slot B's) into `out`, each with its own command line and the
/// root hash the build measured (both slots hold the same root image).
pub fn artifact_images(
    plan: &Plan,
    root: &Path,
    root_hash: &crate::hashio::Sha256,
    keys: Option<&SiteKeys>,
    work: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    let kver = kernel_version(root)?;
    for i in &plan.boot.artifact_images {
        let cmdline = super::rootfs::cmdline(&i.kernel_cmdline, root_hash);
        let efi = slot_image(plan, root, &kver, i.slot, &cmdline, keys, work)?;
        let mut staged = crate::artifact::Staged::create(out.join(&i.artifact))?;
        std::io::copy(&mut fs_err::File::open(&efi)?, staged.file())
            .with_context(|| format!("writing {}", i.artifact))?;
        staged.commit()?;
    }
    Ok(())
}

/// One slot's unified kernel image, signed when keys are given; returns the file.
fn slot_image(
    plan: &Plan,
    root: &Path,
    kver: &str,
    slot: Slot,
    cmdline: &str,
    keys: Option<&SiteKeys>,
    work: &Path,
) -> anyhow::Result<PathBuf> {
    let kernel = root.join(format!("boot/vmlinuz-{kver}"));
    let debian = root.join(format!("boot/initrd.img-{kver}"));
    let initrd = match &plan.root.host {
        // A site host's own files ride ahead of Debian's initrd (one initrd for both slots).
        Some(part) => {
            super::hostpart::initrd(part, &debian, work, plan.source_date_epoch)?.to_vec()
        }
        None => vec![debian],
    };
    let initrd: Vec<&Path> = initrd.iter().map(PathBuf::as_path).collect();
    let out = work.join(format!("forja-{}.efi", slot.name()));
    let parts = UkiParts {
        stub: &host_path(root, uki::STUB),
        kernel: &kernel,
        initrd: &initrd,
        cmdline,
        os_release: &plan.boot.os_release,
    };
    uki::build(&parts, work, &out)
        .with_context(|| format!("building slot {}'s image", slot.name()))?;
    signed(keys, out, work, plan.source_date_epoch)
}
