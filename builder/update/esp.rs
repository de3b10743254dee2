//! The target's ESP, edited in place with mtools (`mdir`, `mcopy`, `mdel` with `-i DISK@@OFFSET`): the same
//! commands work on a disk image file and on a block device, and mtools is the reference FAT implementation the
//! build already relies on (`forja media` reads the build's ESP with it).
//!
//! Slot images follow systemd-boot's boot counting: `forja-b+3.efi` has three tries left; systemd-boot renames it
//! to `forja-b+2-1.efi` on each try, and `systemd-bless-boot` to `forja-b.efi` once the slot is marked good. Every
//! one of those names belongs to slot B.

use std::path::Path;

use super::gpt::Region;
use crate::error::{Exit, fail};
use crate::exec::Task;
use crate::plan::disk::Slot;

/// Where unified kernel images live on the ESP (systemd-boot's Type #2 entries).
pub const LINUX_DIR: &str = "EFI/Linux";

fn image(target: &Path, esp: Region) -> String {
    format!("{}@@{}", target.display(), esp.offset)
}

/// The name a new slot image gets: `forja-b+TRIES.efi`.
pub fn counted_name(slot: Slot, tries: u8) -> String {
    format!("forja-{}+{tries}.efi", slot.name())
}

/// True for every name systemd-boot's boot counting gives `slot`'s image: `forja-b.efi`, `forja-b+3.efi`,
/// `forja-b+2-1.efi`.
pub fn is_slot_image(name: &str, slot: Slot) -> bool {
    let Some(rest) = name
        .strip_prefix(&format!("forja-{}", slot.name()))
        .and_then(|r| r.strip_suffix(".efi"))
    else {
        return false;
    };
    let Some(counts) = rest.strip_prefix('+') else {
        return rest.is_empty();
    };
    let mut parts = counts.splitn(2, '-');
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_some_and(digits) && parts.next().is_none_or(digits)
}

/// The images of `slot` on the ESP.
pub fn slot_images(target: &Path, esp: Region, slot: Slot) -> anyhow::Result<Vec<String>> {
    let out = Task::new("listing the ESP's slot images", "mdir")
        .args(["-b", "-i"])
        .arg(image(target, esp))
        .arg(format!("::{LINUX_DIR}"))
        .run()?;
    Ok(out
        .stdout_str()
        .lines()
        .filter_map(|l| l.trim().rsplit('/').next().map(str::to_owned))
        .filter(|n| is_slot_image(n, slot))
        .collect())
}

/// Copies `name` from the ESP's [`LINUX_DIR`] to `dst`.
pub fn read(target: &Path, esp: Region, name: &str, dst: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(dst);
    Task::new("reading a slot image from the ESP", "mcopy")
        .args(["-n", "-i"])
        .arg(image(target, esp))
        .arg(format!("::{LINUX_DIR}/{name}"))
        .arg(dst)
        .run()?;
    Ok(())
}

/// Removes `name` from the ESP's [`LINUX_DIR`].
pub fn remove(target: &Path, esp: Region, name: &str) -> anyhow::Result<()> {
    Task::new("removing a slot image from the ESP", "mdel")
        .arg("-i")
        .arg(image(target, esp))
        .arg(format!("::{LINUX_DIR}/{name}"))
        .run()?;
    Ok(())
}

/// Writes `src` to the ESP as [`LINUX_DIR`]`/name`.
pub fn install(target: &Path, esp: Region, src: &Path, name: &str) -> anyhow::Result<()> {
    Task::new("installing the slot image on the ESP", "mcopy")
        .args(["-o", "-i"])
        .arg(image(target, esp))
        .arg(src)
        .arg(format!("::{LINUX_DIR}/{name}"))
        .run()?;
    Ok(())
}

/// `IMAGE_VERSION` from a unified kernel image's `.osrel` (the build's SOURCE_DATE_EPOCH).
pub fn image_version(uki: &Path, work: &Path) -> anyhow::Result<u64> {
    let osrel = work.join("osrel");
    let _ = std::fs::remove_file(&osrel);
    Task::new("reading a slot image's os-release", "objcopy")
        .args(["-O", "binary", "--only-section", ".osrel"])
        .arg(uki)
        .arg(&osrel)
        .run()?;
    let text = std::fs::read_to_string(&osrel)?;
    version_of(&text).ok_or_else(|| {
        fail(
            Exit::Input,
            format!(
                "{}: its .osrel has no numeric IMAGE_VERSION (not a forja slot image?)",
                uki.display()
            ),
        )
    })
}

fn version_of(os_release: &str) -> Option<u64> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("IMAGE_VERSION="))
        .and_then(|v| v.trim_matches('"').parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_counted_names_belong_to_their_slot() {
        for n in [
            "forja-b.efi",
            "forja-b+3.efi",
            "forja-b+2-1.efi",
            "forja-b+0-3.efi",
        ] {
            assert!(is_slot_image(n, Slot::B), "{n}");
            assert!(!is_slot_image(n, Slot::A), "{n}");
        }
        for n in [
            "forja-b+.efi",
            "forja-b+x.efi",
            "forja-b+1-.efi",
            "forja-bb.efi",
            "forja-b.efi.bak",
        ] {
            assert!(!is_slot_image(n, Slot::B), "{n}");
        }
        assert_eq!(counted_name(Slot::B, 3), "forja-b+3.efi");
        assert!(is_slot_image(&counted_name(Slot::A, 9), Slot::A));
    }

    #[test]
    fn the_version_is_the_images_image_version() {
        let osrel = "ID=forja\nIMAGE_ID=forja\nIMAGE_VERSION=1767225601\nVERSION_ID=1767225601\n";
        assert_eq!(version_of(osrel), Some(1767225601));
        assert_eq!(version_of("ID=forja\n"), None);
    }
}
