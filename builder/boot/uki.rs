//! Unified kernel images: systemd's EFI stub with the kernel, the initrd, the kernel command line and
//! os-release added as PE sections (`.linux`, `.initrd`, `.cmdline`, `.osrel`), the layout ukify writes.
//!
//! Debian 12 has no ukify, so the sections are added with `objcopy -p` (binutils): `-p` keeps the stub's PE
//! timestamp (without it objcopy stamps the current time and no two builds match). Each section starts on the
//! next 4 KiB boundary after the stub's image and the previous section, so any kernel and initrd size fits
//! (fixed addresses, as in the recipes, break when a kernel outgrows its slot). The command line lives inside the
//! image: once the image is signed ([`crate::secureboot::sign_efi`]) nothing typed at boot can change it, and
//! systemd-stub ignores command-line overrides while Secure Boot is on.

use std::path::Path;

use anyhow::Context;

use crate::error::{Exit, fail};
use crate::exec::Task;

/// Where Debian's `systemd-boot-efi` puts the stub (in the image's root tree, the build takes it from there).
pub const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
/// systemd-boot (signed by the build like every EFI binary on the ESP).
pub const SYSTEMD_BOOT: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";

const ALIGN: u64 = 0x1000;

/// What goes into one image.
#[derive(Debug)]
pub struct UkiParts<'a> {
    pub stub: &'a Path,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub cmdline: &'a str,
    pub os_release: &'a str,
}

/// The first address after the stub's image: `ImageBase + SizeOfImage` from its PE32+ optional header.
fn stub_end(stub: &Path) -> anyhow::Result<u64> {
    let bytes = std::fs::read(stub).with_context(|| format!("reading {}", stub.display()))?;
    let bad = || {
        fail(
            Exit::Input,
            format!("{}: not a PE32+ EFI stub", stub.display()),
        )
    };
    let u32_at = |o: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?))
    };
    let pe = u32_at(0x3c).ok_or_else(bad)? as usize;
    if bytes.get(pe..pe + 4) != Some(b"PE\0\0") {
        return Err(bad());
    }
    let opt = pe + 24;
    if bytes.get(opt..opt + 2) != Some(&[0x0b, 0x02]) {
        return Err(bad());
    }
    let image_base = u64::from_le_bytes(
        bytes
            .get(opt + 24..opt + 32)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let size_of_image = u64::from(u32_at(opt + 56).ok_or_else(bad)?);
    Ok(image_base + size_of_image)
}

fn align(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// Builds the (unsigned) image at `out`; `work` holds the small section files.
pub fn build(parts: &UkiParts, work: &Path, out: &Path) -> anyhow::Result<()> {
    let cmdline = work.join("uki.cmdline");
    let osrel = work.join("uki.osrel");
    std::fs::write(&cmdline, parts.cmdline)?;
    std::fs::write(&osrel, parts.os_release)?;
    let mut vma = align(stub_end(parts.stub)?);
    let mut task = Task::new("building the unified kernel image", "objcopy").arg("-p");
    for (name, file) in [
        (".osrel", osrel.as_path()),
        (".cmdline", cmdline.as_path()),
        (".linux", parts.kernel),
        (".initrd", parts.initrd),
    ] {
        let len = std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        task = task
            .arg("--add-section")
            .arg(format!("{name}={}", file.display()))
            .arg("--change-section-vma")
            .arg(format!("{name}={vma:#x}"));
        vma = align(vma + len);
    }
    let _ = std::fs::remove_file(out);
    task.arg(parts.stub).arg(out).run()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stubs_image_ends_where_its_header_says() {
        let stub = Path::new(STUB);
        if !stub.exists() {
            panic!("{STUB} is missing: install systemd-boot-efi (ci/install-deps does)");
        }
        let end = stub_end(stub).unwrap();
        assert!(end > 0x1000 && end < 0x100_0000, "{end:#x}");
        assert_eq!(align(0x19300), 0x1a000);
    }
}
