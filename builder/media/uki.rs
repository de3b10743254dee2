//! The installer as a signed unified kernel image: the build's kernel and the installer initrd (forja's cpio in
//! front of the build's initrd) on systemd's EFI stub, with the installer's command line inside, signed with the
//! site's db key. So the USB stick and the PXE boot file run under the same Secure Boot policy as the host: the
//! firmware refuses an installer the site did not sign, and nothing typed at boot changes what it does.
//!
//! The kernel and initrd come out of the build's own signed image on its ESP (`objcopy --only-section`); the stub
//! is the build host's (`systemd-boot-efi`), recorded with the media's tools.

use std::path::{Path, PathBuf};

use super::build::BuildFacts;
use crate::boot::uki::{self, UkiParts};
use crate::error::{Exit, fail};
use crate::exec::Task;
use crate::secureboot::{self, SiteKeys};

/// The Secure Boot material a USB stick carries for enrolment by hand (setup menu or `KeyTool`): the signed
/// `.auth` updates, the signature lists and the certificates.
pub const ENROL_DIR: &str = "secure-boot";

/// Copies the slot A image from the build's ESP and takes its kernel and initrd out of it. A site host's ESP is
/// in the head of its disk's parts ([`crate::disk::parts`]), decompressed into `work` (its hash checked) first.
pub fn boot_files(b: &BuildFacts, work: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let disk = b.disk(work, &[crate::disk::parts::HEAD])?;
    let img = format!("{}@@{}", disk.display(), b.esp_offset);
    let efi = work.join("build-uki.efi");
    let _ = std::fs::remove_file(&efi);
    Task::new(
        "reading the build's unified kernel image from its ESP",
        "mcopy",
    )
    .args(["-n", "-i"])
    .arg(&img)
    .arg(format!("::{}", b.uki))
    .arg(&efi)
    .run()?;
    let mut out = Vec::new();
    for (section, name) in [(".linux", "vmlinuz"), (".initrd", "initrd.img")] {
        let dst = work.join(name);
        Task::new(
            format!("taking {section} out of the build's image"),
            "objcopy",
        )
        .args(["-O", "binary", "--only-section", section])
        .arg(&efi)
        .arg(&dst)
        .run()?;
        out.push(dst);
    }
    // A site host's image carries its own files ahead of Debian's initrd: the installer takes Debian's alone.
    let initrd = fs_err::read(&out[1])?;
    let debian =
        crate::pipeline::hostpart::without_host_archive(&initrd, crate::compose::hostpart::ARCHIVE);
    if debian.len() != initrd.len() {
        fs_err::write(&out[1], debian)?;
    }
    Ok((out.remove(0), out.remove(0)))
}

/// Checks that `keys` are the ones the build was signed with (or that none are needed).
pub fn check_keys(b: &BuildFacts, keys: Option<&SiteKeys>) -> anyhow::Result<()> {
    match (&b.secure_boot_db, keys) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(fail(
            Exit::Input,
            "the build's boot images are signed with the site's db key: pass --secure-boot-keys DIR so the \
             installer is signed too (a Secure Boot host refuses an unsigned installer)",
        )),
        (None, Some(_)) => Err(fail(
            Exit::Input,
            "the build's boot images are not signed: drop --secure-boot-keys (or rebuild with \
             boot.firmware.secure-boot-keys)",
        )),
        (Some(want), Some(k)) => {
            let got = crate::hashio::Sha256::of_file(&k.cert("db"))?;
            if &got == want {
                Ok(())
            } else {
                Err(fail(
                    Exit::Input,
                    format!(
                        "{}: not the db certificate that signed the build (SHA-256 {got}, the build's plan says {want})",
                        k.cert("db").display()
                    ),
                ))
            }
        }
    }
}

/// Builds the installer image `out` (signed when `keys` are given).
pub fn installer(
    vmlinuz: &Path,
    initrd: &Path,
    cmdline: &str,
    keys: Option<&SiteKeys>,
    epoch: u64,
    work: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    let stub = Path::new(uki::STUB);
    let parts = UkiParts {
        stub,
        kernel: vmlinuz,
        initrd: &[initrd],
        cmdline,
        os_release: "ID=forja\nNAME=\"forja installer\"\nPRETTY_NAME=\"forja installer\"\nIMAGE_ID=forja-installer\n",
    };
    match keys {
        None => uki::build(&parts, work, out),
        Some(k) => {
            let unsigned = work.join("installer-unsigned.efi");
            uki::build(&parts, work, &unsigned)?;
            secureboot::sign_efi(k, &unsigned, out, epoch)
        }
    }
}

/// Adds the enrolment material of `keys` under [`ENROL_DIR`] of a FAT tree.
pub fn add_enrolment(esp: &mut crate::fs::fat::FatTree, keys: &SiteKeys) -> anyhow::Result<()> {
    for k in secureboot::KEYS {
        for (path, ext) in [
            (keys.auth(k), "auth"),
            (keys.esl(k), "esl"),
            (keys.cert(k), "crt"),
        ] {
            esp.add_file(&format!("{ENROL_DIR}/{k}.{ext}"), &path)?;
        }
    }
    Ok(())
}
