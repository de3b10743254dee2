//! Making the media from a build folder: `forja media usb` (a GPT image: ESP with GRUB, kernel and installer
//! initrd; an ext4 payload partition with the signed payload) and `forja media pxe` (kernel, installer initrd,
//! iPXE script and the signed payload in a folder to serve over HTTP).
//!
//! The build folder is verified first (signature with the media key, every file's hash): media are never made
//! from a build that does not check out. Both outputs are deterministic for the same build, key and forja
//! binary (the installer embeds the running `forja`, stripped, and the libraries it links), and are listed in
//! their own signed `SHA256SUMS` ([`crate::sign::sign_dir`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::target::TargetRule;
use super::{InstallerConfig, Mode};
use crate::archive::cpio::{self, Member};
use crate::disk::image::{self, Content, DiskSpec, PartitionSpec};
use crate::error::{Exit, fail};
use crate::exec::Task;
use crate::fs::fat::FatTree;
use crate::plan::{PartitionType, Plan};
use crate::secureboot::SiteKeys;
use crate::sign::{self, SigningKey};

/// The USB image's ESP label (the label the installer's payload partition is found next to).
pub const USB_LABEL: &str = "FORJA-USB";
/// Size of the USB image's ESP (the signed installer UKI and the Secure Boot enrolment files).
pub const USB_ESP_SIZE: u64 = 256 << 20;
/// The signing files every payload carries beside the image.
pub const SIGNING_FILES: [&str; 4] = [sign::SUMS, sign::SUMS_SIG, sign::SUMS_SSHSIG, sign::PUB];

/// The payload files taken from a build whose signed list is `verified`: the compressed image (`disk.raw.zst`,
/// or a site host's `disk.parts.json` and the part files it lists, [`crate::disk::parts`]) and the signing files.
pub fn payload_files(verified: &[sign::sums::Entry]) -> Vec<String> {
    let has = |n: &str| verified.iter().any(|e| e.name == n);
    let mut files: Vec<String> = if has(crate::disk::parts::FILE) {
        std::iter::once(crate::disk::parts::FILE.to_owned())
            .chain(
                verified
                    .iter()
                    .filter(|e| crate::disk::parts::is_part_name(&e.name))
                    .map(|e| e.name.clone()),
            )
            .collect()
    } else {
        vec![super::install::IMAGE_ZST.to_owned()]
    };
    files.extend(SIGNING_FILES.map(String::from));
    files
}
/// Kernel command line of the installer (the PXE one adds `forja.url=`).
pub const INSTALLER_CMDLINE: &str =
    "rdinit=/forja/init console=tty0 console=ttyS0,115200n8 panic=10 quiet";

/// What the media need from the build.
#[derive(Debug, Clone)]
pub struct BuildFacts {
    pub dir: PathBuf,
    /// The host the build installs (its `/etc/hostname`), named in the install record.
    pub host: String,
    /// The profile's name (a site's host: the site's).
    pub profile: String,
    pub epoch: u64,
    pub disk_seed: String,
    pub esp_offset: u64,
    /// Path of slot A's unified kernel image on the build's ESP.
    pub uki: String,
    /// SHA-256 of the db certificate that signed the build's EFI binaries (absent: unsigned).
    pub secure_boot_db: Option<crate::hashio::Sha256>,
    /// The partitions the plan leaves empty, where they lie in the image (the installer need not write them).
    pub empty: Vec<super::Region>,
    pub target: TargetRule,
    /// The build's files as just verified (name and checked SHA-256), so the media need not hash them again.
    pub verified: Vec<sign::sums::Entry>,
}

impl BuildFacts {
    /// Whether the build keeps its disk as parts (a site's host, [`crate::disk::parts`]).
    pub fn in_parts(&self) -> bool {
        self.verified
            .iter()
            .any(|e| e.name == crate::disk::parts::FILE)
    }

    /// A file holding the build's disk: its `disk.raw`, or for a disk kept as parts the parts named in `only`
    /// (all when empty) decompressed into `work` (each checked against its listed hash on the way).
    pub fn disk(&self, work: &Path, only: &[&str]) -> anyhow::Result<PathBuf> {
        if !self.in_parts() {
            return Ok(self.dir.join("disk.raw"));
        }
        let parts = crate::disk::parts::DiskParts::load(&self.dir)?;
        let dst = work.join("disk-assembled.raw");
        crate::disk::parts::assemble(&self.dir, &parts, &dst, only)?;
        Ok(dst)
    }
}

/// Verifies `dir` with `key`'s public half and reads what the media need from its `plan.json`.
pub fn read_build(dir: &Path, key: &SigningKey, work: &Path) -> anyhow::Result<BuildFacts> {
    let pubfile = work.join("trusted.pub");
    fs_err::write(&pubfile, key.public().to_signify())?;
    let report = sign::verify::verify_dir(dir, Some(&pubfile))?;
    if report.exit != Exit::Ok {
        return Err(fail(
            report.exit,
            format!(
                "{} does not verify with the media key: {}",
                dir.display(),
                report.summary()
            ),
        ));
    }
    let plan = Plan::load(&dir.join("plan.json"))?;
    let built = plan.built()?;
    let uki = plan
        .boot
        .esp
        .iter()
        .find(|f| matches!(f.source, crate::plan::EspSource::Uki { .. }))
        .map(|f| f.path.clone())
        .ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{}/plan.json: the ESP has no unified kernel image",
                    dir.display()
                ),
            )
        })?;
    let secure_boot_db = built.secure_boot_db;
    let empty = plan
        .disk
        .iter()
        .filter(|p| matches!(p.content, crate::plan::PartitionContent::Empty { .. }))
        .filter_map(|p| built.layout.named(&p.name))
        .map(|p| super::Region {
            offset: p.offset,
            len: p.size,
        })
        .collect();
    let esp = built.layout.of_type(PartitionType::Esp).ok_or_else(|| {
        fail(
            Exit::Input,
            format!("{}/plan.json: the built disk has no ESP", dir.display()),
        )
    })?;
    let verified = report
        .files
        .unwrap_or_default()
        .into_iter()
        .map(|f| sign::sums::Entry {
            name: f.name,
            sha256: f.expected,
        })
        .collect();
    let host = plan
        .root
        .generated
        .iter()
        .find(|f| f.path == "/etc/hostname")
        .and_then(|f| match &f.kind {
            crate::plan::files::GenKind::File(t) => Some(t.trim().to_owned()),
            _ => None,
        })
        .ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{}/plan.json: the plan generates no /etc/hostname, so the install record could not name the host",
                    dir.display()
                ),
            )
        })?;
    Ok(BuildFacts {
        verified,
        host,
        profile: plan.profile.name.clone(),
        dir: dir.to_owned(),
        epoch: plan.source_date_epoch,
        esp_offset: esp.offset,
        uki,
        secure_boot_db,
        empty,
        target: plan.install_target.clone().unwrap_or_default(),
        disk_seed: plan.disk_seed,
    })
}

/// The `init` of the installer (klibc `sh` from Debian's initrd).
pub const INIT: &str = r#"#!/bin/sh
# forja installer: PID 1 (rdinit=/forja/init). Verifies the signed payload, then writes the target disk.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The Secure Boot state: the SecureBoot variable where efivarfs loads (a module Debian's initrd may lack), else
# the kernel's lockdown mode (securityfs is built in).
modprobe -q efivarfs 2>/dev/null
mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
echo "forja-installer: starting"
for m in virtio_pci virtio_blk virtio_scsi virtio_net sd_mod ahci nvme xhci_pci ehci_pci usb_storage uas ext4 e1000 e1000e; do
    modprobe -q "$m" 2>/dev/null
done
/usr/lib/systemd/systemd-udevd --daemon --resolve-names=never >/dev/null 2>&1
udevadm trigger --action=add --type=subsystems >/dev/null 2>&1
udevadm trigger --action=add --type=devices >/dev/null 2>&1
udevadm settle --timeout=60 >/dev/null 2>&1
read -r cmdline < /proc/cmdline
case " $cmdline " in
*" forja.url="*)
    for n in /sys/class/net/*; do
        n=${n##*/}
        [ "$n" = lo ] && continue
        echo "forja-installer: DHCP on $n"
        ipconfig -t 30 -c dhcp -d "$n" >/dev/null 2>&1 && break
    done
    ;;
esac
/forja/lib/ld-linux-x86-64.so.2 --library-path /forja/lib /forja/forja media install \
    --config /forja/installer.json --pubkey /forja/forja.pub
rc=$?
sync
if [ "$rc" = 0 ]; then
    echo "forja-installer: install complete, powering off"
    poweroff -f
fi
echo "forja-installer: FAILED (exit $rc): nothing bootable was written to any disk. Power the machine off."
while :; do sleep 3600; done
"#;

/// The shared libraries `exe` links, as (file name, path), loader included.
fn linked_libraries(exe: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let out = Task::new("listing the installer's libraries", "ldd")
        .arg(exe)
        .run()?;
    let mut libs = Vec::new();
    for line in out.stdout_str().lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            let p = PathBuf::from(p);
            let name = if p.to_string_lossy().contains("ld-linux") {
                "ld-linux-x86-64.so.2".to_owned()
            } else {
                p.file_name()
                    .context("library name")?
                    .to_string_lossy()
                    .into_owned()
            };
            libs.push((name, p));
        }
    }
    libs.sort();
    libs.dedup_by(|a, b| a.0 == b.0);
    if !libs.iter().any(|(n, _)| n == "ld-linux-x86-64.so.2") {
        return Err(fail(
            Exit::Tool,
            format!("{} links no x86-64 loader", exe.display()),
        ));
    }
    Ok(libs)
}

/// The installer initrd: our cpio archive, then the build's own initrd.
pub fn installer_initrd(
    cfg: &InstallerConfig,
    key: &SigningKey,
    base_initrd: &Path,
    epoch: u64,
    work: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the forja binary")?;
    let stripped = work.join("forja.stripped");
    Task::new("stripping the installer binary", "strip")
        .args(["--strip-all", "-o"])
        .arg(&stripped)
        .arg(&exe)
        .run()?;
    let dir = |p: &str| Member::Dir {
        path: p.into(),
        mode: 0o755,
    };
    let file = |p: &str, mode: u32, data: Vec<u8>| Member::File {
        path: p.into(),
        mode,
        data,
    };
    let mut members = vec![
        dir("forja"),
        file("forja/forja", 0o755, fs_err::read(&stripped)?),
        file(
            "forja/forja.pub",
            0o644,
            key.public().to_signify().into_bytes(),
        ),
        file("forja/init", 0o755, INIT.as_bytes().to_vec()),
        file(
            "forja/installer.json",
            0o644,
            crate::artifact::json_lines(cfg)?,
        ),
        dir("forja/lib"),
    ];
    for (name, path) in linked_libraries(&exe)? {
        let data = fs_err::read(&path).with_context(|| format!("reading {}", path.display()))?;
        members.push(file(&format!("forja/lib/{name}"), 0o755, data));
    }
    let mut bytes = cpio::archive(&members, epoch);
    bytes.extend(fs_err::read(base_initrd)?);
    crate::artifact::write_atomic(out, &bytes)
}

pub(super) fn work_dir(near: &Path) -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix(crate::artifact::STAGING_PREFIXES[1])
        .tempdir_in(near)?)
}

/// The USB image's file name inside `--out`.
pub const USB_IMAGE: &str = "usb.img";

/// `forja media usb`: writes `out/usb.img` and a signed `SHA256SUMS` beside it. Returns the signed list.
pub fn usb(
    build_dir: &Path,
    key: &SigningKey,
    sb: Option<&SiteKeys>,
    out: &Path,
) -> anyhow::Result<sign::Sums> {
    crate::artifact::create_out_dir(out, "the media folder")?;
    if same_dir(out, build_dir) {
        return Err(fail(
            Exit::Input,
            "--out must not be BUILD_DIR: the USB image gets its own SHA256SUMS beside it",
        ));
    }
    let work = work_dir(out)?;
    let b = read_build(build_dir, key, work.path())?;
    super::uki::check_keys(&b, sb)?;
    let seed = format!("{}/media-usb", b.disk_seed);
    let cfg = InstallerConfig {
        mode: Mode::Usb,
        usb_disk_guid: Some(crate::ids::guid(&seed, "disk")),
        payload_partition: Some(2),
        target: b.target.clone(),
        skip: b.empty.clone(),
        host: b.host.clone(),
        profile: b.profile.clone(),
        site: None,
    };
    let esp = usb_esp(&b, &cfg, key, sb, work.path())?;
    let payload = usb_payload(work.path())?;
    copy_payload(&b, &payload, &mut Copied::new())?;
    usb_image(&seed, b.epoch, esp, payload, &out.join(USB_IMAGE))?;
    sign::sign_dir(out, key, &[USB_IMAGE])
}

/// Writes a USB image: the installer's ESP and the ext4 payload partition. Its ids derive from `seed`, like the
/// build's (the installer finds its own medium by the disk GUID `ids::guid(seed, "disk")`).
pub fn usb_image(
    seed: &str,
    epoch: u64,
    esp: FatTree,
    payload: PathBuf,
    out: &Path,
) -> anyhow::Result<()> {
    let id = |name: &str| crate::ids::guid(seed, name);
    let spec = DiskSpec {
        disk_guid: id("disk"),
        epoch: epoch as i64,
        partitions: vec![
            PartitionSpec {
                name: "installer".into(),
                kind: PartitionType::Esp,
                guid: id("partition/installer"),
                size: Some(USB_ESP_SIZE),
                attributes: 0,
                content: Content::Fat {
                    tree: esp,
                    label: USB_LABEL.into(),
                    volume_id: crate::ids::volume_id(seed, "fs/installer"),
                },
            },
            PartitionSpec {
                name: "payload".into(),
                kind: PartitionType::LinuxData,
                guid: id("partition/payload"),
                size: None,
                attributes: 0,
                content: Content::Ext4 {
                    tree: payload,
                    label: "forja-payload".into(),
                    uuid: id("fs/payload"),
                },
            },
        ],
    };
    image::build(&spec, out).map(|_| ())
}

/// The USB installer's ESP: one signed installer image (kernel and initrd of `b`, told `cfg`) at the firmware's
/// removable-media path (no boot manager, no menu), and the site's enrolment files when the build is signed.
pub fn usb_esp(
    b: &BuildFacts,
    cfg: &InstallerConfig,
    key: &SigningKey,
    sb: Option<&SiteKeys>,
    work: &Path,
) -> anyhow::Result<FatTree> {
    let (vmlinuz, base_initrd) = super::uki::boot_files(b, work)?;
    let initrd = work.join("installer-initrd.img");
    installer_initrd(cfg, key, &base_initrd, b.epoch, work, &initrd)?;
    let efi = work.join("BOOTX64.EFI");
    super::uki::installer(
        &vmlinuz,
        &initrd,
        INSTALLER_CMDLINE,
        sb,
        b.epoch,
        work,
        &efi,
    )?;
    let mut esp = FatTree::new();
    esp.add_file("EFI/BOOT/BOOTX64.EFI", &efi)?;
    if let Some(k) = sb {
        super::uki::add_enrolment(&mut esp, k)?;
    }
    Ok(esp)
}

/// The USB payload tree's root in `work`: a README and the empty install-records folder; the signed files go in
/// with [`copy_payload`].
pub fn usb_payload(work: &Path) -> anyhow::Result<PathBuf> {
    let payload = work.join("payload");
    std::fs::create_dir_all(payload.join(super::run::RECORDS))?;
    std::fs::write(
        payload.join("README"),
        "forja install payload: the signed host image (a site's stick: one folder per host under hosts/).\n\
         The installer checks SHA256SUMS.sig with the key built into it, writes the image to the target disk,\n\
         and leaves a record in install-records/.\n",
    )?;
    Ok(payload)
}

/// The payload files copied so far into one payload tree, by the build file's inode.
pub type Copied = std::collections::HashMap<(u64, u64), PathBuf>;

/// Copies the signed payload files of a build into `to`. Copies, not links to the build: mkfs clamps the tree's
/// mtimes, which must not reach the build folder's files. But a build file already copied into this tree (a
/// site's hosts share one inode for their root's frame) is linked to its copy, and `mke2fs -d` stores it once.
pub fn copy_payload(b: &BuildFacts, to: &Path, copied: &mut Copied) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(to)?;
    for f in payload_files(&b.verified) {
        let (src, dst) = (b.dir.join(&f), to.join(&f));
        let meta = fs_err::metadata(&src)?;
        match copied.get(&(meta.dev(), meta.ino())) {
            Some(first) => fs_err::hard_link(first, &dst)?,
            None => {
                std::fs::copy(&src, &dst)
                    .with_context(|| format!("copying {f} from {}", b.dir.display()))?;
                copied.insert((meta.dev(), meta.ino()), dst);
            }
        }
    }
    Ok(())
}

/// The installer image of a PXE tree, for UEFI PXE/HTTP boot under Secure Boot.
pub const PXE_EFI: &str = "installer.efi";

/// The installer's command line over the network: it fetches the payload from `base`.
pub fn pxe_cmdline(base: &str) -> String {
    format!(
        "{INSTALLER_CMDLINE} forja.url={}/payload",
        base.trim_end_matches('/')
    )
}

/// The iPXE script: fetch kernel and installer initrd from `base`, tell the installer where the payload is.
pub fn ipxe_script(base: &str) -> String {
    let base = base.trim_end_matches('/');
    format!(
        "#!ipxe\n# forja PXE installer. The installer verifies the payload against its built-in key before writing.\n\
         dhcp\nkernel {base}/vmlinuz initrd=initrd.img {cmdline}\n\
         initrd {base}/initrd.img\nboot\n",
        cmdline = pxe_cmdline(base)
    )
}

/// `forja media pxe`: the tree to serve over HTTP at `base_url`. Returns the signed list.
pub fn pxe(
    build_dir: &Path,
    key: &SigningKey,
    sb: Option<&SiteKeys>,
    out: &Path,
    base_url: &str,
) -> anyhow::Result<sign::Sums> {
    crate::artifact::create_out_dir(out, "the PXE folder")?;
    if same_dir(out, build_dir) {
        return Err(fail(Exit::Input, "--out must not be BUILD_DIR"));
    }
    let work = work_dir(out)?;
    let b = read_build(build_dir, key, work.path())?;
    super::uki::check_keys(&b, sb)?;
    let (vmlinuz, base_initrd) = super::uki::boot_files(&b, work.path())?;
    let cfg = InstallerConfig {
        mode: Mode::Pxe,
        usb_disk_guid: None,
        payload_partition: None,
        target: b.target.clone(),
        skip: b.empty.clone(),
        host: b.host.clone(),
        profile: b.profile.clone(),
        site: None,
    };
    installer_initrd(
        &cfg,
        key,
        &base_initrd,
        b.epoch,
        work.path(),
        &out.join("initrd.img"),
    )?;
    crate::artifact::write_atomic(out.join("vmlinuz"), &fs_err::read(&vmlinuz)?)?;
    crate::artifact::write_atomic(out.join("boot.ipxe"), ipxe_script(base_url).as_bytes())?;
    // For UEFI PXE or HTTP boot under Secure Boot: the same installer as one (signed) image, its URL inside.
    let efi = work.path().join("installer.efi");
    super::uki::installer(
        &vmlinuz,
        &out.join("initrd.img"),
        &pxe_cmdline(base_url),
        sb,
        b.epoch,
        work.path(),
        &efi,
    )?;
    crate::artifact::write_atomic(out.join(PXE_EFI), &std::fs::read(&efi)?)?;
    fs_err::create_dir_all(out.join("payload"))?;
    let mut names = vec![
        "boot.ipxe".to_owned(),
        "initrd.img".into(),
        PXE_EFI.into(),
        "vmlinuz".into(),
    ];
    // A payload file hard-linked from the build is the very inode read_build just verified: take its checked
    // hash (the image is the multi-GB one). A copy is hashed again, as it may differ.
    let mut known = Vec::new();
    for f in payload_files(&b.verified) {
        let dst = out.join("payload").join(&f);
        let _ = fs_err::remove_file(&dst);
        let name = format!("payload/{f}");
        if link_or_copy(&build_dir.join(&f), &dst)?
            && let Some(e) = b.verified.iter().find(|e| e.name == f)
        {
            known.push(sign::sums::Entry {
                name: name.clone(),
                sha256: e.sha256,
            });
        }
        names.push(name);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    sign::sign_dir_with(out, key, &refs, &known)
}

pub(super) fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Hard-links `src` to `dst`, or copies it where a link is impossible. True when linked.
fn link_or_copy(src: &Path, dst: &Path) -> anyhow::Result<bool> {
    if fs_err::hard_link(src, dst).is_ok() {
        return Ok(true);
    }
    fs_err::copy(src, dst).with_context(|| format!("copying {}", src.display()))?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipxe_points_the_installer_at_the_payload() {
        let s = ipxe_script("http://10.0.0.1/forja/");
        assert!(s.starts_with("#!ipxe\n"));
        assert!(
            s.contains("kernel http://10.0.0.1/forja/vmlinuz initrd=initrd.img rdinit=/forja/init")
        );
        assert!(s.contains("forja.url=http://10.0.0.1/forja/payload"));
    }
}
