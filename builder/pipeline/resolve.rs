//! Resolving a profile into a [`Plan`]: every partition with its GUIDs, every generated file with its text,
//! every overlay file with its hash, the payload's nodes with their reservations, the output files, the
//! commands. No side effects: it reads the profile, the overlay trees and the files the profile names (a CA
//! certificate), never the secrets.
//!
//! What the machine contributes (mmdebstrap's version, which decides the base's cache key; where the overlay
//! trees are) comes in as an [`Environment`], so a test can pass a fixture and golden plans do not depend on
//! the machine that runs them (the Proxmox auto-installer's tests do the same with their run environment).

use std::path::PathBuf;

use crate::compose::{self, ComposeInput};
use crate::hashio::Sha256;
use crate::ids;
use crate::plan::disk::{PartitionContent, PartitionPlan, PartitionType, SizeRule, attr};
use crate::plan::files::{GenFile, OutputFile};
use crate::plan::{
    BootPlan, EspFile, EspSource, FORMAT, ImageFile, ImageSet, NodePlan, PayloadPlan, Plan,
    ProfileRef, RootPlan,
};
use crate::profile::Loaded;
use crate::profile::model::{ImageRole, VolumeSize};

/// ESP size: kernel + initrd (~45 MiB) twice over, and FAT32's minimum cluster count with 4 KiB clusters.
pub const ESP_SIZE: u64 = 256 << 20;
/// vmstore's size in the image when it grows to the rest of the disk at first boot.
pub const VMSTORE_PLACEHOLDER: u64 = 64 << 20;
/// ESP volume label; GRUB finds the kernel by it.
pub const ESP_LABEL: &str = "FORJA-ESP";
/// Payload partition name and label (first boot finds it by its PARTLABEL).
pub const PAYLOAD: &str = "payload";

/// What the machine contributes to a plan.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `mmdebstrap --version` (part of the base's cache key).
    pub mmdebstrap_version: String,
    /// forja's own overlay tree.
    pub overlays: PathBuf,
    /// `--extra-overlay` trees, copied after forja's own.
    pub extra_overlays: Vec<PathBuf>,
}

impl Environment {
    /// The running machine: the installed mmdebstrap, the repository's `overlays/` (or `$FORJA_OVERLAYS`).
    pub fn detect(extra_overlays: Vec<PathBuf>) -> Environment {
        Environment {
            mmdebstrap_version: crate::inputs::base::mmdebstrap_version(),
            overlays: overlay_dir(),
            extra_overlays,
        }
    }

    /// A fixed environment for tests and golden files: a pinned mmdebstrap version line and the repository's
    /// `overlays/`, so a plan does not depend on the machine that resolves it.
    pub fn fixture() -> Environment {
        Environment {
            mmdebstrap_version: "mmdebstrap 1.3.5 (test fixture)".into(),
            overlays: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("overlays"),
            extra_overlays: Vec::new(),
        }
    }

    /// Every overlay tree in copy order (layer 0 is forja's own).
    pub fn overlay_layers(&self) -> Vec<PathBuf> {
        std::iter::once(self.overlays.clone())
            .chain(self.extra_overlays.iter().cloned())
            .collect()
    }
}

/// The repository's static overlay tree.
pub fn overlay_dir() -> PathBuf {
    std::env::var_os("FORJA_OVERLAYS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("overlays"))
}

/// The disk's identity for GUID derivation: stable across rebuilds of the same host.
pub fn disk_seed(l: &Loaded) -> String {
    let p = &l.profile;
    format!("{}:{}.{}", p.profile.name, p.host.hostname, p.host.domain)
}

/// Resolves the plan.
pub fn resolve(l: &Loaded, env: &Environment) -> anyhow::Result<Plan> {
    let p = &l.profile;
    let epoch = l.source_date_epoch()?;
    let seed = disk_seed(l);
    let disk = partitions(l, &seed);
    let root_part = disk
        .iter()
        .find(|d| d.kind == PartitionType::RootX86_64)
        .expect("the plan has a root partition");
    let input = ComposeInput {
        root_partuuid: root_part.guid,
    };
    let generated = compose::host_files(l, &input)?;
    let (mut outputs, config_drive) = crate::pexip::outputs(l)?;
    outputs.push(firmware_output(l)?);
    let payload = payload(l)?;
    let packages = compose::packages::package_list(l);
    // The base is built with the profile's own epoch, so overriding SOURCE_DATE_EPOCH for the image does not
    // force a new mmdebstrap run.
    let base = crate::inputs::base::resolve(
        l,
        packages,
        p.base.source_date_epoch,
        &env.mmdebstrap_version,
    );
    let root = root(l, env, generated)?;
    let enforcement = super::enforced::citations(l, &root)?;
    Ok(Plan {
        format: FORMAT.into(),
        forja_version: env!("CARGO_PKG_VERSION").into(),
        profile: ProfileRef {
            name: p.profile.name.to_string(),
            file: l
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: Sha256::of(l.text.as_bytes()),
        },
        source_date_epoch: epoch,
        disk_seed: seed,
        build_seed: p.profile.build_seed.as_ref().map(|r| r.name().to_owned()),
        commands: commands(&base),
        base,
        boot: boot(&input),
        artifacts: artifacts(l, &outputs, config_drive.name.as_str()),
        root,
        payload,
        outputs,
        config_drive: Some(config_drive),
        disk,
        enforcement,
        install_target: p.install.as_ref().map(|i| i.target.clone()),
        built: None,
    })
}

/// The four partitions: ESP, root, payload, vmstore, with GUIDs and filesystem ids from the disk seed.
fn partitions(l: &Loaded, seed: &str) -> Vec<PartitionPlan> {
    let vmstore = match l.profile.storage.vmstore_size {
        VolumeSize::Rest => VMSTORE_PLACEHOLDER,
        VolumeSize::Fixed(b) => b.bytes(),
    };
    let part =
        |number: u32, name: &str, kind: PartitionType, size, attributes, content| PartitionPlan {
            number,
            name: name.to_owned(),
            kind,
            type_guid: kind.guid(),
            guid: ids::guid(seed, &format!("partition/{name}")),
            size,
            attributes,
            content,
        };
    let uuid = |name: &str| ids::guid(seed, &format!("fs/{name}"));
    vec![
        part(
            1,
            "esp",
            PartitionType::Esp,
            SizeRule::Fixed(ESP_SIZE),
            0,
            PartitionContent::Esp {
                label: ESP_LABEL.into(),
                volume_id: ids::volume_id(seed, "fs/esp"),
            },
        ),
        part(
            2,
            "root",
            PartitionType::RootX86_64,
            SizeRule::FitContent,
            0,
            PartitionContent::RootTree {
                label: "root".into(),
                uuid: uuid("root"),
            },
        ),
        part(
            3,
            PAYLOAD,
            PartitionType::LinuxData,
            SizeRule::FitContent,
            attr::READ_ONLY,
            PartitionContent::PayloadTree {
                label: PAYLOAD.into(),
                uuid: uuid(PAYLOAD),
            },
        ),
        part(
            4,
            "vmstore",
            PartitionType::LinuxLuks,
            SizeRule::Fixed(vmstore),
            0,
            PartitionContent::Empty {
                note: "LUKS2 made at first boot".into(),
            },
        ),
    ]
}

fn root(l: &Loaded, env: &Environment, generated: Vec<GenFile>) -> anyhow::Result<RootPlan> {
    let mut overlay_layers = vec!["overlays".to_owned()];
    let mut overlays = compose::tree::list_overlay(&env.overlays, 0)?;
    for (i, dir) in env.extra_overlays.iter().enumerate() {
        overlay_layers.push(format!(
            "extra:{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        overlays.extend(compose::tree::list_overlay(dir, i + 1)?);
    }
    Ok(RootPlan {
        overlay_layers,
        overlays,
        selfcheck: compose::selfcheck::plan(&generated),
        generated,
        edits: compose::access::edits(l),
    })
}

fn boot(input: &ComposeInput) -> BootPlan {
    let file = |path: &str, source| EspFile {
        path: path.into(),
        source,
    };
    BootPlan {
        kernel_cmdline: compose::bootloader::kernel_cmdline(input),
        esp: vec![
            file(
                "EFI/BOOT/BOOTX64.EFI",
                EspSource::GrubImage {
                    config: compose::bootloader::GRUB_CFG.into(),
                },
            ),
            file("vmlinuz", EspSource::Kernel),
            file("initrd.img", EspSource::Initrd),
        ],
    }
}

/// The payload: the vendor images (all checked against one README.TXT) and one disk and domain per node. vCPUs
/// are pinned to dedicated host CPUs from 1 upwards (CPU 0 stays with the host), one each, as §27 asks.
fn payload(l: &Loaded) -> anyhow::Result<PayloadPlan> {
    let p = &l.profile.pexip;
    let images = match p.images.first() {
        None => None,
        Some(first) => {
            if let Some(other) = p.images.iter().find(|i| i.readme != first.readme) {
                return Err(crate::error::fail(
                    crate::error::Exit::Input,
                    format!(
                        "pexip.images: every image must be checked against one README.TXT ({} and {} differ)",
                        first.readme.display(),
                        other.readme.display()
                    ),
                ));
            }
            Some(ImageSet {
                readme: first.readme.clone(),
                files: p
                    .images
                    .iter()
                    .map(|i| ImageFile {
                        role: i.role,
                        file: i.file.clone(),
                    })
                    .collect(),
            })
        }
    };
    let bridge = &l.profile.network.vm.bridge;
    let mut next_cpu = 1u32;
    let mut node =
        |name: &str, role, r: &crate::profile::model::Reservation, mac: Option<String>| {
            let cpuset: Vec<u32> = (next_cpu..next_cpu + r.vcpus).collect();
            next_cpu += r.vcpus;
            NodePlan {
                name: name.to_owned(),
                role,
                disk: format!("{name}.qcow2"),
                vcpus: r.vcpus,
                cpuset,
                memory_mib: u64::from(r.memory_mb),
                disk_gb: r.disk_gb,
                bridge: bridge.to_string(),
                mac,
                config_drive: None,
            }
        };
    let m = &p.management;
    let mut mgr = node(
        &m.name,
        ImageRole::Management,
        &m.reservation,
        m.mac.map(|x| x.to_string()),
    );
    mgr.config_drive = Some(format!("{}-config-2.iso", m.name));
    let mut nodes = vec![mgr];
    for c in &p.conferencing {
        nodes.push(node(
            &c.name,
            ImageRole::Conferencing,
            &c.reservation,
            c.mac.map(|x| x.to_string()),
        ));
    }
    Ok(PayloadPlan {
        readme: "forja payload: verified Pexip node images (nodes/) and libvirt domains (domains/), imported into vmstore at first boot.\n".into(),
        images,
        nodes: if p.images.is_empty() { Vec::new() } else { nodes },
    })
}

/// The firmware plan (§30), written beside the image as it is: the desired state `forja firmware apply|audit`
/// work from.
fn firmware_output(l: &Loaded) -> anyhow::Result<OutputFile> {
    let text = String::from_utf8(crate::artifact::json_lines(&crate::firmware::plan(l)?)?)?;
    Ok(OutputFile {
        name: crate::firmware::PLAN_FILE.into(),
        file: GenFile::text(crate::firmware::PLAN_FILE, 0o644, text, &[]),
    })
}

/// Every file `SHA256SUMS` lists, in order: the image, its compressed copy, the reports, the output files.
fn artifacts(l: &Loaded, outputs: &[OutputFile], config_drive: &str) -> Vec<String> {
    let mut a: Vec<String> = vec!["disk.raw".into()];
    if l.profile.outputs.compressed {
        a.push("disk.raw.zst".into());
    }
    for f in [
        "plan.json",
        "compliance.json",
        "compliance.md",
        crate::report::FILE,
        crate::sbom::spdx::FILE,
    ] {
        a.push(f.into());
    }
    if !l.profile.pexip.images.is_empty() {
        a.push(crate::nodes::lock::FILE_NAME.into());
    }
    a.extend(outputs.iter().map(|o| o.name.clone()));
    a.push(config_drive.to_owned());
    a
}

fn commands(base: &crate::plan::BaseSource) -> Vec<String> {
    vec![
        match base {
            crate::plan::BaseSource::Mmdebstrap { command, .. } => command.clone(),
            crate::plan::BaseSource::Tarball { path, .. } => {
                format!("tar -xpf {}", path.display())
            }
        },
        "grub-mkimage -O x86_64-efi -p (memdisk)/boot/grub -m grub-memdisk.tar -o BOOTX64.EFI ...".into(),
        "mkfs.ext4 -d <root tree> (E2FSPROGS_FAKE_TIME, fixed UUID and hash seed) + debugfs time clamp".into(),
        "qemu-img convert -O qcow2 <verified VMDK> <node>.qcow2".into(),
        "xorriso -as mkisofs -V config-2 ... (the Management Node's config drive)".into(),
    ]
}
