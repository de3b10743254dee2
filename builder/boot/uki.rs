//! Unified kernel images: systemd's EFI stub with the kernel, the initrd, the kernel command line and
//! os-release added as PE sections (`.linux`, `.initrd`, `.cmdline`, `.osrel`), the layout ukify writes.
//!
//! Debian 12 has no ukify. The sections are appended by [`super::pe_append`], which writes what `objcopy -p
//! --add-section` writes, byte for byte (objcopy is its test oracle), at a fraction of the cost. Each section
//! starts on the next 4 KiB boundary after the stub's image and the previous section, so any kernel and initrd
//! size fits (fixed addresses, as in the recipes, break when a kernel outgrows its slot). The command line lives
//! inside the image: once the image is signed ([`crate::secureboot::sign_efi`]) nothing typed at boot can change
//! it, and systemd-stub ignores command-line overrides while Secure Boot is on.

use std::path::Path;

use anyhow::Context;

use super::pe_append::{NewSection, Stub};

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
    /// The initrd's pieces, concatenated in this order (a site host's own archive, then Debian's initrd).
    pub initrd: &'a [&'a Path],
    pub cmdline: &'a str,
    pub os_release: &'a str,
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
    let stub = Stub::read(parts.stub)?;
    let mut vma = align(stub.image_end());
    let mut sections = Vec::new();
    for (name, files) in [
        (".osrel", vec![osrel.as_path()]),
        (".cmdline", vec![cmdline.as_path()]),
        (".linux", vec![parts.kernel]),
        (".initrd", parts.initrd.to_vec()),
    ] {
        let mut len = 0;
        for f in &files {
            len += std::fs::metadata(f)
                .with_context(|| format!("reading {}", f.display()))?
                .len();
        }
        sections.push(NewSection {
            name,
            vma,
            files,
            len,
        });
        vma = align(vma + len);
    }
    stub.append(&sections, out)
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
        let end = Stub::read(stub).unwrap().image_end();
        assert!(end > 0x1000 && end < 0x100_0000, "{end:#x}");
        assert_eq!(align(0x19300), 0x1a000);
    }

    /// Bytes that differ from file to file (odd lengths make the image's checksum end on a lone byte).
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(seed) ^ (i >> 9) as u8)
            .collect()
    }

    /// The oracle: binutils' objcopy, run as forja ran it before it wrote the sections itself.
    fn objcopy(parts: &UkiParts, initrd: &Path, work: &Path, out: &Path) {
        let mut vma = align(Stub::read(parts.stub).unwrap().image_end());
        let mut cmd = std::process::Command::new("objcopy");
        cmd.arg("-p");
        for (name, file) in [
            (".osrel", work.join("uki.osrel")),
            (".cmdline", work.join("uki.cmdline")),
            (".linux", parts.kernel.to_owned()),
            (".initrd", initrd.to_owned()),
        ] {
            let len = std::fs::metadata(&file).unwrap().len();
            cmd.arg("--add-section")
                .arg(format!("{name}={}", file.display()))
                .arg("--change-section-vma")
                .arg(format!("{name}={vma:#x}"));
            vma = align(vma + len);
        }
        let o = cmd
            .arg(parts.stub)
            .arg(out)
            .output()
            .expect("objcopy (binutils) installed");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn the_image_is_what_objcopy_writes_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (kernel, archive, initrd, whole) = (
            d.join("vmlinuz"),
            d.join("host.cpio"),
            d.join("initrd"),
            d.join("initrd-whole"),
        );
        std::fs::write(&kernel, bytes(5_000_001, 31)).unwrap();
        std::fs::write(&archive, bytes(1_537, 7)).unwrap();
        std::fs::write(&initrd, bytes(3_000_002, 13)).unwrap();
        let mut both = std::fs::read(&archive).unwrap();
        both.extend(std::fs::read(&initrd).unwrap());
        std::fs::write(&whole, both).unwrap();
        let pieces = [archive.as_path(), initrd.as_path()];
        let parts = UkiParts {
            stub: Path::new(STUB),
            kernel: &kernel,
            initrd: &pieces,
            cmdline: "root=/dev/mapper/root roothash=0123 ro quiet",
            os_release: "ID=debian\nIMAGE_VERSION=1\n",
        };
        let (ours, theirs) = (d.join("ours.efi"), d.join("objcopy.efi"));
        build(&parts, d, &ours).unwrap();
        objcopy(&parts, &whole, d, &theirs);
        let (a, b) = (
            std::fs::read(&ours).unwrap(),
            std::fs::read(&theirs).unwrap(),
        );
        assert_eq!(a.len(), b.len(), "lengths differ");
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert_eq!(first, None, "the images differ first at byte {first:?}");
        // And the sections read back as the files they came from.
        let cmd = crate::boot::pe::section(&ours, ".cmdline")
            .unwrap()
            .unwrap();
        assert_eq!(cmd, parts.cmdline.as_bytes());
    }
}
