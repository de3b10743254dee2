//! The target's ESP: on a running host, through its mount (`/efi`, where systemd-bless-boot also renames images):
//! the host image has no mtools, and editing a mounted FAT behind the kernel's back would corrupt it. Anywhere
//! else (a disk image, a disk nobody mounted) with mtools (`mdir`, `mcopy`, `mdel` with `-i DISK@@OFFSET`), the
//! reference FAT implementation the build already relies on (`forja media` reads the build's ESP with it).
//!
//! Slot images follow systemd-boot's boot counting: `forja-b+3.efi` has three tries left; systemd-boot renames it
//! to `forja-b+2-1.efi` on each try, and `systemd-bless-boot` to `forja-b.efi` once the slot is marked good. Every
//! one of those names belongs to slot B.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::gpt::Region;
use crate::error::{Exit, fail};
use crate::exec::Task;
use crate::plan::disk::Slot;

/// Where unified kernel images live on the ESP (systemd-boot's Type #2 entries).
pub const LINUX_DIR: &str = "EFI/Linux";

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

/// How the target's ESP is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Esp {
    /// With mtools at the partition's offset: a disk image, or a disk whose ESP nobody has mounted.
    Raw { target: PathBuf, region: Region },
    /// Through the running host's mount of it (`/efi`): writing FAT under a mounted filesystem would race the
    /// kernel's cache, and the host image has no mtools.
    Mounted(PathBuf),
}

impl Esp {
    /// The mount of `target`'s ESP when `target` is a block device whose ESP partition is mounted, else
    /// [`Esp::Raw`].
    pub fn locate(target: &Path, region: Region) -> anyhow::Result<Esp> {
        let raw = Esp::Raw {
            target: target.to_owned(),
            region,
        };
        let meta = std::fs::metadata(target)?;
        if !meta.file_type().is_block_device() {
            return Ok(raw);
        }
        let (major, minor) = (dev_major(meta.rdev()), dev_minor(meta.rdev()));
        let Some(part) = partition_at(
            Path::new(&format!("/sys/dev/block/{major}:{minor}")),
            region.offset,
        ) else {
            return Ok(raw);
        };
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        Ok(match mount_of(&mountinfo, &part) {
            Some(dir) => {
                log::info!(
                    "the ESP ({part}) is mounted on {}: writing through the mount",
                    dir.display()
                );
                Esp::Mounted(dir)
            }
            None => raw,
        })
    }

    fn mtools(target: &Path, region: Region) -> String {
        format!("{}@@{}", target.display(), region.offset)
    }

    fn linux_dir(dir: &Path) -> PathBuf {
        dir.join(LINUX_DIR)
    }

    /// Every file in the ESP's [`LINUX_DIR`], listed once (one `mdir` on a raw ESP).
    pub fn images(&self) -> anyhow::Result<Images> {
        let names: Vec<String> = match self {
            Esp::Raw { target, region } => {
                let out = Task::new("listing the ESP's slot images", "mdir")
                    .args(["-b", "-i"])
                    .arg(Esp::mtools(target, *region))
                    .arg(format!("::{LINUX_DIR}"))
                    .run()?;
                out.stdout_str()
                    .lines()
                    .filter_map(|l| l.trim().rsplit('/').next().map(str::to_owned))
                    .collect()
            }
            Esp::Mounted(dir) => fs_err::read_dir(Esp::linux_dir(dir))?
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect(),
        };
        Ok(Images(names))
    }

    /// `IMAGE_VERSION` of the image `name` in [`LINUX_DIR`]: its PE headers and `.osrel` are read, not the whole
    /// image (45 MB, of which `.osrel` lies in the first few hundred KiB): through the mount with seeks, from a
    /// raw ESP as `mcopy` prints it, which is ended once `.osrel` went past.
    pub fn image_version(&self, name: &str) -> anyhow::Result<u64> {
        let (shown, osrel) = match self {
            Esp::Raw { target, region } => {
                let shown = format!("{}: ESP: {LINUX_DIR}/{name}", target.display());
                let osrel = Task::new("reading a slot image's version from the ESP", "mcopy")
                    .args(["-n", "-i"])
                    .arg(Esp::mtools(target, *region))
                    .arg(format!("::{LINUX_DIR}/{name}"))
                    .arg("-")
                    .run_reading(|out| crate::boot::pe::section_in_stream(out, &shown, ".osrel"))?;
                (shown, osrel)
            }
            Esp::Mounted(dir) => {
                let path = Esp::linux_dir(dir).join(name);
                let osrel = crate::boot::pe::section(&path, ".osrel")?;
                (path.display().to_string(), osrel)
            }
        };
        version_of(&String::from_utf8_lossy(&osrel.unwrap_or_default())).ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{shown}: its .osrel has no numeric IMAGE_VERSION (not a forja slot image?)"
                ),
            )
        })
    }

    /// Removes `name` from the ESP's [`LINUX_DIR`].
    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Esp::Raw { target, region } => {
                Task::new("removing a slot image from the ESP", "mdel")
                    .arg("-i")
                    .arg(Esp::mtools(target, *region))
                    .arg(format!("::{LINUX_DIR}/{name}"))
                    .run()?;
            }
            Esp::Mounted(dir) => {
                let d = Esp::linux_dir(dir);
                fs_err::remove_file(d.join(name))?;
                fs_err::File::open(&d)?.sync_all()?;
            }
        }
        Ok(())
    }

    /// Writes `image` (from memory) to the ESP as [`LINUX_DIR`]`/`[`staged_name`], which systemd-boot does not boot
    /// (not `*.efi`); [`Esp::commit`] gives it its bootable name. Staged while the slot syncs, renamed after: a
    /// power cut never leaves a half image, or an image of a slot not yet on the disk, under a bootable name.
    /// Through a mount the file is synced before this returns.
    pub fn stage(&self, image: &[u8], slot: Slot) -> anyhow::Result<()> {
        let staged = staged_name(slot);
        match self {
            Esp::Raw { target, region } => {
                // mcopy's `-` source is its stdin; `-o` replaces a staged image a crashed run left.
                Task::new("staging the slot image on the ESP", "mcopy")
                    .args(["-o", "-i"])
                    .arg(Esp::mtools(target, *region))
                    .arg("-")
                    .arg(format!("::{LINUX_DIR}/{staged}"))
                    .run_streaming(&mut &image[..])?;
            }
            Esp::Mounted(dir) => {
                let mut f = fs_err::File::create(Esp::linux_dir(dir).join(staged))?;
                std::io::Write::write_all(&mut f, image)?;
                f.sync_all()?;
            }
        }
        Ok(())
    }

    /// Renames `slot`'s staged image to `name` (replacing a file of that name).
    pub fn commit(&self, slot: Slot, name: &str) -> anyhow::Result<()> {
        let staged = staged_name(slot);
        match self {
            Esp::Raw { target, region } => {
                Task::new("installing the slot image on the ESP", "mren")
                    .args(["-D", "o", "-i"])
                    .arg(Esp::mtools(target, *region))
                    .arg(format!("::{LINUX_DIR}/{staged}"))
                    .arg(format!("::{LINUX_DIR}/{name}"))
                    .run()?;
            }
            Esp::Mounted(dir) => {
                let d = Esp::linux_dir(dir);
                fs_err::rename(d.join(staged), d.join(name))?;
                fs_err::File::open(&d)?.sync_all()?;
            }
        }
        Ok(())
    }

    /// Removes `slot`'s staged image (after a refusal).
    pub fn discard(&self, slot: Slot) -> anyhow::Result<()> {
        self.remove(&staged_name(slot))
    }
}

/// The files of the ESP's [`LINUX_DIR`] as listed by [`Esp::images`].
#[derive(Debug, Clone)]
pub struct Images(Vec<String>);

impl Images {
    /// The images of `slot`, sorted.
    pub fn of(&self, slot: Slot) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .iter()
            .filter(|n| is_slot_image(n, slot))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

/// The name a slot image is staged under on the ESP before it gets its bootable name: not `*.efi`, so neither
/// systemd-boot nor [`is_slot_image`] takes it for an image.
pub fn staged_name(slot: Slot) -> String {
    format!("forja-{}.partial", slot.name())
}

/// The disk whose ESP is mounted on `efi` (on a forja host, `/efi`): the disk this host boots from, as
/// `/dev/block/MAJ:MIN` (udev's name for it). `None` when nothing is mounted there.
pub fn disk_of_mount(mountinfo: &str, efi: &Path, sys: &Path) -> Option<PathBuf> {
    let part = mountinfo.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.get(4).map(|m| unescape(m)).as_deref() == efi.to_str())
            .then(|| f.get(2).map(|d| d.to_string()))?
    })?;
    // /sys/dev/block/MAJ:MIN of a partition links into its disk's folder: the parent holds the disk's `dev`.
    let dir = std::fs::canonicalize(sys.join("dev/block").join(&part)).ok()?;
    if !dir.join("partition").exists() {
        return None;
    }
    let disk = std::fs::read_to_string(dir.parent()?.join("dev")).ok()?;
    Some(PathBuf::from(format!("/dev/block/{}", disk.trim())))
}

fn dev_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn dev_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// The `MAJ:MIN` of the partition of the disk at `sys_disk` (`/sys/dev/block/MAJ:MIN`) that starts at byte
/// `offset` (sysfs gives each partition's `start` in 512-byte sectors).
fn partition_at(sys_disk: &Path, offset: u64) -> Option<String> {
    for e in std::fs::read_dir(sys_disk).ok()?.filter_map(|e| e.ok()) {
        let p = e.path();
        let start = std::fs::read_to_string(p.join("start")).ok();
        if start.and_then(|s| s.trim().parse::<u64>().ok()) == Some(offset / 512) {
            return std::fs::read_to_string(p.join("dev"))
                .ok()
                .map(|d| d.trim().to_owned());
        }
    }
    None
}

/// Where the device `MAJ:MIN` is mounted, from `/proc/self/mountinfo` (field 3 is the device, field 5 the mount
/// point, octal escapes for spaces and the like).
fn mount_of(mountinfo: &str, dev: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        if f.get(2) == Some(&dev) && f.get(3) == Some(&"/") {
            f.get(4).map(|m| PathBuf::from(unescape(m)))
        } else {
            None
        }
    })
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `IMAGE_VERSION` from a unified kernel image's `.osrel` (the build's SOURCE_DATE_EPOCH). Read in Rust, not with
/// `objcopy`: a host has no binutils, and this runs there.
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
        assert!(!is_slot_image(&staged_name(Slot::B), Slot::B));
    }

    #[test]
    fn a_mounted_esp_is_edited_through_the_mount() {
        let dir = tempfile::tempdir().unwrap();
        let linux = dir.path().join(LINUX_DIR);
        std::fs::create_dir_all(&linux).unwrap();
        for n in ["forja-a.efi", "forja-b+0-3.efi", "other.efi"] {
            std::fs::write(linux.join(n), n).unwrap();
        }
        let esp = Esp::Mounted(dir.path().to_owned());
        assert_eq!(esp.images().unwrap().of(Slot::B), ["forja-b+0-3.efi"]);
        esp.remove("forja-b+0-3.efi").unwrap();
        assert!(esp.images().unwrap().of(Slot::B).is_empty());
        esp.stage(b"image", Slot::B).unwrap();
        // Staged: not an image of the slot yet.
        assert!(esp.images().unwrap().of(Slot::B).is_empty());
        esp.commit(Slot::B, "forja-b+3.efi").unwrap();
        assert_eq!(esp.images().unwrap().of(Slot::B), ["forja-b+3.efi"]);
        assert_eq!(
            std::fs::read(linux.join("forja-b+3.efi")).unwrap(),
            b"image"
        );
        assert!(!linux.join(staged_name(Slot::B)).exists());
        esp.stage(b"other", Slot::B).unwrap();
        esp.discard(Slot::B).unwrap();
        assert!(!linux.join(staged_name(Slot::B)).exists());
        // Not a PE image: refused as such (the version of real images: tests/update_bundle.rs).
        let e = esp.image_version("forja-a.efi").unwrap_err();
        assert_eq!(crate::error::exit_of(&e), Exit::BadArchive, "{e:#}");
    }

    #[test]
    fn the_esp_mount_is_found_by_its_device() {
        let mi = "22 1 254:0 / / ro,relatime shared:1 - erofs /dev/mapper/root ro\n\
                  40 22 8:1 / /efi rw,nosuid shared:20 - vfat /dev/sda1 rw\n\
                  41 22 8:1 /sub /elsewhere rw shared:21 - vfat /dev/sda1 rw\n\
                  42 22 8:2 / /mnt/my\\040stick rw shared:22 - ext4 /dev/sda2 rw\n";
        assert_eq!(mount_of(mi, "8:1"), Some(PathBuf::from("/efi")));
        assert_eq!(mount_of(mi, "8:2"), Some(PathBuf::from("/mnt/my stick")));
        assert_eq!(mount_of(mi, "8:3"), None);
        let sys = tempfile::tempdir().unwrap();
        for (p, start, dev) in [("sda1", "2048", "8:1"), ("sda2", "526336", "8:2")] {
            std::fs::create_dir(sys.path().join(p)).unwrap();
            std::fs::write(sys.path().join(p).join("start"), format!("{start}\n")).unwrap();
            std::fs::write(sys.path().join(p).join("dev"), format!("{dev}\n")).unwrap();
        }
        assert_eq!(partition_at(sys.path(), 1 << 20), Some("8:1".into()));
        assert_eq!(partition_at(sys.path(), 526336 * 512), Some("8:2".into()));
        assert_eq!(partition_at(sys.path(), 4096), None);
        // glibc's makedev layout: 8:1 and 259:65536.
        assert_eq!((dev_major(0x801), dev_minor(0x801)), (8, 1));
        let (maj, min) = (259u64, 65536u64);
        let big = ((maj & 0xfff) << 8) | ((min & !0xff) << 12) | (min & 0xff);
        assert_eq!((dev_major(big), dev_minor(big)), (259, 65536));
    }

    #[test]
    fn the_boot_disk_is_the_parent_of_the_mounted_esp() {
        let sys = tempfile::tempdir().unwrap();
        let disk = sys.path().join("devices/pci0/virtio1/block/vda");
        std::fs::create_dir_all(disk.join("vda1")).unwrap();
        std::fs::write(disk.join("dev"), "254:0\n").unwrap();
        std::fs::write(disk.join("vda1/dev"), "254:1\n").unwrap();
        std::fs::write(disk.join("vda1/partition"), "1\n").unwrap();
        std::fs::create_dir_all(sys.path().join("dev/block")).unwrap();
        std::os::unix::fs::symlink(disk.join("vda1"), sys.path().join("dev/block/254:1")).unwrap();
        std::os::unix::fs::symlink(&disk, sys.path().join("dev/block/254:0")).unwrap();
        let info = "36 25 254:1 / /efi rw,relatime - vfat /dev/vda1 rw\n25 1 253:0 / / ro - erofs /dev/mapper/root ro\n";
        assert_eq!(
            disk_of_mount(info, Path::new("/efi"), sys.path()),
            Some(PathBuf::from("/dev/block/254:0"))
        );
        assert_eq!(disk_of_mount(info, Path::new("/boot"), sys.path()), None);
        // A whole disk mounted there (no partition): not a forja boot disk.
        let whole = "36 25 254:0 / /efi rw - vfat /dev/vda rw\n";
        assert_eq!(disk_of_mount(whole, Path::new("/efi"), sys.path()), None);
    }

    #[test]
    fn the_version_is_the_images_image_version() {
        let osrel = "ID=forja\nIMAGE_ID=forja\nIMAGE_VERSION=1767225601\nVERSION_ID=1767225601\n";
        assert_eq!(version_of(osrel), Some(1767225601));
        assert_eq!(version_of("ID=forja\n"), None);
    }
}
