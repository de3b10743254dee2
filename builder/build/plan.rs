//! Resolving a profile into a [`Plan`]: no side effects beyond reading the profile, its secrets and the overlay
//! tree (and asking mmdebstrap for its version).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compose::{self, ComposeInput, GenFile, PlannedFile};
use crate::disk::gpt::PartitionType;
use crate::hashio::Sha256;
use crate::ids;
use crate::inputs::base::{self, BaseSource};
use crate::profile::Loaded;
use crate::profile::model::VolumeSize;

/// ESP size: kernel + initrd (~45 MiB) twice over, and FAT32's minimum cluster count with 4 KiB clusters.
pub const ESP_SIZE: u64 = 256 << 20;
/// vmstore's size in the image when it grows to the rest of the disk at first boot.
pub const VMSTORE_PLACEHOLDER: u64 = 64 << 20;
/// ESP volume label; GRUB finds the kernel by it.
pub const ESP_LABEL: &str = "FORJA-ESP";

/// The artifacts every build writes (before signing), in the order listed in SHA256SUMS.
pub const ARTIFACTS: &[&str] = &[
    "disk.raw",
    "plan.json",
    "compliance.json",
    "compliance.md",
    "sbom.json",
    crate::firmware::PLAN_FILE,
];

#[derive(Debug, Clone, Serialize)]
pub struct ProfileRef {
    pub name: String,
    pub path: String,
    pub sha256: Sha256,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedPartition {
    pub number: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PartitionType,
    pub type_guid: String,
    pub guid: String,
    /// Bytes; `null` when measured from the built content.
    pub size: Option<u64>,
    pub content: &'static str,
    pub read_only: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EspFile {
    pub path: &'static str,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edit {
    pub path: &'static str,
    pub set: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedImage {
    pub role: String,
    pub file: String,
    pub readme: String,
}

/// Everything decided before building.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub forja_version: &'static str,
    pub profile: ProfileRef,
    pub source_date_epoch: u64,
    /// The name all GUIDs and filesystem ids derive from (UUIDv5).
    pub disk_seed: String,
    pub base: BaseSource,
    pub kernel_cmdline: String,
    pub partitions: Vec<PlannedPartition>,
    pub esp: Vec<EspFile>,
    pub overlays: Vec<OverlayFile>,
    pub generated: Vec<PlannedFile>,
    pub edits: Vec<Edit>,
    pub node_images: Vec<PlannedImage>,
    pub artifacts: Vec<String>,
    pub commands: Vec<String>,
    /// The profile's `[install] target` rule, for `forja media` (absent: the installer's default rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_target: Option<crate::media::target::TargetRule>,
}

/// The plan plus what the build needs to execute it exactly.
#[derive(Debug)]
pub struct Resolved {
    pub plan: Plan,
    pub files: Vec<GenFile>,
    pub compose_input: ComposeInput,
}

/// SOURCE_DATE_EPOCH from the environment, else the profile's.
pub fn epoch(l: &Loaded) -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().map_err(|_| {
            crate::error::fail(
                crate::error::Exit::Input,
                format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"),
            )
        }),
        Err(_) => Ok(l.profile.base.source_date_epoch),
    }
}

/// The disk's identity for GUID derivation: stable across rebuilds of the same host.
pub fn disk_seed(l: &Loaded) -> String {
    let p = &l.profile;
    format!("{}:{}.{}", p.profile.name, p.host.hostname, p.host.domain)
}

/// The repository's static overlay tree.
pub fn overlay_dir() -> PathBuf {
    std::env::var_os("FORJA_OVERLAYS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("overlays"))
}

/// A static overlay file as the plan shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OverlayFile {
    pub path: String,
    pub source: String,
    pub sha256: Sha256,
}

fn list_tree(dir: &Path) -> anyhow::Result<Vec<OverlayFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir)?.display().to_string();
                out.push(OverlayFile {
                    path: format!("/{rel}"),
                    source: format!("overlays/{rel}"),
                    sha256: Sha256::of_file(&e.path())?,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The composition inputs a build uses: the salt seed from the secrets file, the root partition's GUID.
pub fn compose_input(l: &Loaded) -> anyhow::Result<ComposeInput> {
    let secrets = l.secrets.as_ref().ok_or_else(|| {
        crate::error::fail(
            crate::error::Exit::Input,
            "planning a build needs the secrets file",
        )
    })?;
    Ok(ComposeInput {
        salt_seed: super::seed::build_seed(secrets),
        root_partuuid: ids::guid(&disk_seed(l), "partition/root").to_string(),
    })
}

/// Resolves the plan.
pub fn resolve(l: &Loaded) -> anyhow::Result<Resolved> {
    let p = &l.profile;
    let epoch = epoch(l)?;
    let seed = disk_seed(l);
    let compose_input = compose_input(l)?;
    let files = compose::host_files(l, &compose_input)?;
    let packages = compose::packages::package_list(l);
    // The base is an input identified by its hash: it is built with the profile's own epoch, so overriding
    // SOURCE_DATE_EPOCH for the image does not force a new mmdebstrap run.
    let base = base::resolve(l, packages, p.base.source_date_epoch)?;
    let part =
        |number: u32, name: &str, kind: PartitionType, size, content, read_only| PlannedPartition {
            number,
            name: name.to_owned(),
            kind,
            type_guid: kind.guid().to_string(),
            guid: ids::guid(&seed, &format!("partition/{name}")).to_string(),
            size,
            content,
            read_only,
        };
    let vmstore_size = match p.storage.vmstore_size {
        VolumeSize::Rest => VMSTORE_PLACEHOLDER,
        VolumeSize::Bytes(b) => b,
    };
    let partitions = vec![
        part(
            1,
            "esp",
            PartitionType::Esp,
            Some(ESP_SIZE),
            "fat32: GRUB, kernel, initrd",
            false,
        ),
        part(
            2,
            "root",
            PartitionType::RootX86_64,
            None,
            "ext4: the host root filesystem",
            false,
        ),
        part(
            3,
            "payload",
            PartitionType::LinuxData,
            None,
            "ext4: verified node images, domains",
            true,
        ),
        part(
            4,
            "vmstore",
            PartitionType::LinuxLuks,
            Some(vmstore_size),
            "empty: LUKS2 made at first boot",
            false,
        ),
    ];
    let profile_bytes = l.text.as_bytes();
    let mut artifacts: Vec<String> = ARTIFACTS.iter().map(|s| s.to_string()).collect();
    if p.outputs.compressed {
        artifacts.insert(1, "disk.raw.zst".into());
    }
    if !p.pexip.images.is_empty() {
        artifacts.push("nodes.lock".into());
    }
    let commands = vec![
        match &base {
            BaseSource::Mmdebstrap { command, .. } => command.clone(),
            BaseSource::Tarball { path, .. } => format!("tar -xpf {}", path.display()),
        },
        "grub-mkimage -O x86_64-efi -p (memdisk)/boot/grub -m grub-memdisk.tar -o BOOTX64.EFI ...".into(),
        "mkfs.ext4 -d <root tree> (E2FSPROGS_FAKE_TIME, fixed UUID and hash seed) + debugfs time clamp".into(),
        "qemu-img convert -O qcow2 <verified VMDK> <node>.qcow2".into(),
    ];
    let plan = Plan {
        forja_version: env!("CARGO_PKG_VERSION"),
        profile: ProfileRef {
            name: p.profile.name.clone(),
            path: l.path.display().to_string(),
            sha256: Sha256::of(profile_bytes),
        },
        source_date_epoch: epoch,
        disk_seed: seed,
        base,
        kernel_cmdline: compose::bootloader::kernel_cmdline(&compose_input),
        partitions,
        esp: vec![
            EspFile {
                path: "/EFI/BOOT/BOOTX64.EFI",
                source: "grub-mkimage with the boot-locked grub.cfg in its memdisk".into(),
            },
            EspFile {
                path: "/vmlinuz",
                source: "root:/boot/vmlinuz-<kernel>".into(),
            },
            EspFile {
                path: "/initrd.img",
                source: "root:/boot/initrd.img-<kernel>".into(),
            },
        ],
        overlays: list_tree(&overlay_dir())?,
        generated: files.iter().map(PlannedFile::from).collect(),
        edits: {
            let mut e = vec![Edit {
                path: "/etc/login.defs",
                set: compose::access::login_defs_keys(l)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            }];
            if let Some(r) = &p.host.root_password {
                e.push(Edit {
                    path: "/etc/shadow",
                    set: vec![(
                        "root".to_owned(),
                        format!(
                            "SHA-512 crypt of secret `{}` (salt from the build seed)",
                            r.name()
                        ),
                    )],
                });
            }
            e
        },
        node_images: p
            .pexip
            .images
            .iter()
            .map(|i| PlannedImage {
                role: format!("{:?}", i.role).to_lowercase(),
                file: i.file.display().to_string(),
                readme: i.readme.display().to_string(),
            })
            .collect(),
        artifacts,
        commands,
        install_target: p.install.as_ref().map(|i| i.target.clone()),
    };
    Ok(Resolved {
        plan,
        files,
        compose_input,
    })
}
