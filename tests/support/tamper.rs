//! Disks made to be refused: an installed disk with one byte of its verity-protected root flipped, and a small
//! disk whose only boot file is the build's own unified kernel image signed with a key the firmware does not know.
//! The boot proof boots both under Secure Boot and expects them to stop.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn run(cmd: &mut Command) -> Result<()> {
    let o = cmd.output().with_context(|| format!("{cmd:?}"))?;
    if !o.status.success() {
        bail!("{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(())
}

/// A qcow2 overlay of `base` (itself a qcow2 of the installed disk) with one byte flipped in the first block of
/// slot A's root: the block the kernel reads when it mounts the root, so dm-verity must refuse it at once.
pub fn flipped_root(base: &Path, plan: &forja::plan::Plan, out: &Path) -> Result<PathBuf> {
    let _ = std::fs::remove_file(out);
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(base)
        .arg(out))?;
    let root = plan
        .built()?
        .layout
        .named("root-a")
        .context("no root-a in the plan")?
        .offset;
    // Byte 16 of the first block: before the EROFS superblock (at 1024), so nothing but dm-verity can notice.
    run(Command::new("qemu-io")
        .args(["-f", "qcow2", "-c"])
        .arg(format!("write -P 0x5a {} 1", root + 16))
        .arg(out))?;
    Ok(out.to_owned())
}

/// A raw disk whose ESP boots the build's slot A image re-signed with a freshly made key that is not in db.
pub fn foreign_signed(build: &Path, plan: &forja::plan::Plan, work: &Path) -> Result<PathBuf> {
    let esp = plan.built()?.layout.named("esp").context("no ESP")?.offset;
    let uki = work.join("foreign-src.efi");
    let _ = std::fs::remove_file(&uki);
    // A site host's disk is kept as parts: its head (GPT and ESP) decompressed is enough.
    let mut disk = build.join("disk.raw");
    if !disk.exists() {
        let parts = forja::disk::parts::DiskParts::load(build)?;
        disk = work.join("foreign-src-head.raw");
        forja::disk::parts::assemble(build, &parts, &disk, &[forja::disk::parts::HEAD])?;
    }
    run(Command::new("mcopy")
        .args(["-n", "-i"])
        .arg(format!("{}@@{esp}", disk.display()))
        .arg("::EFI/Linux/forja-a.efi")
        .arg(&uki))?;
    let bare = work.join("foreign-bare.efi");
    let _ = std::fs::remove_file(&bare);
    run(Command::new("osslsigncode")
        .args(["remove-signature", "-in"])
        .arg(&uki)
        .arg("-out")
        .arg(&bare))?;
    let (key, crt) = (work.join("foreign.key"), work.join("foreign.crt"));
    run(Command::new("openssl")
        .args([
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=not the site's db key/", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt))?;
    let signed = work.join("foreign.efi");
    let _ = std::fs::remove_file(&signed);
    run(Command::new("osslsigncode")
        .args(["sign", "-h", "sha256", "-certs"])
        .arg(&crt)
        .arg("-key")
        .arg(&key)
        .arg("-in")
        .arg(&bare)
        .arg("-out")
        .arg(&signed))?;
    let mut tree = forja::fs::fat::FatTree::new();
    tree.add_file("EFI/BOOT/BOOTX64.EFI", &signed)?;
    let seed = "forja-test/foreign";
    let spec = forja::disk::image::DiskSpec {
        disk_guid: forja::ids::guid(seed, "disk"),
        epoch: 1_767_225_600,
        partitions: vec![forja::disk::image::PartitionSpec {
            name: "esp".into(),
            kind: forja::plan::PartitionType::Esp,
            guid: forja::ids::guid(seed, "partition/esp"),
            size: Some(128 << 20),
            attributes: 0,
            content: forja::disk::image::Content::Fat {
                tree,
                label: "FOREIGN".into(),
                volume_id: 0x1234_5678,
            },
        }],
    };
    let disk = work.join("foreign.raw");
    forja::disk::image::build(&spec, &disk)?;
    Ok(disk)
}
