//! The plan: everything a build will do, decided before anything is built, as one typed document.
//!
//! `forja plan` prints it; `forja build` executes it (the pipeline's `execute` stages read nothing else about
//! what to make); the build writes it to `plan.json` with a [`Built`] section (the kernel found in the base, the
//! offsets measured from the content); `forja media` and `forja verify` read that file back as this same type.
//! A saved plan is the exact input of a build (`forja build PROFILE --plan plan.json`), the way Terraform applies
//! a saved plan: nothing about the layout, the files or the commands is decided twice.
//!
//! What the plan never holds: secrets. A value derived from one (a password hash) is a template piece naming the
//! secret ([`files::SecretHash`]), rendered by the build; sizes that depend on built content are
//! [`disk::SizeRule::FitContent`] here and numbers in [`Built::layout`].
//!
//! Paths to inputs (node images, a prebuilt base) are relative to the profile's folder, so the same profile
//! gives the same plan (and the same signed bytes) whatever path or working directory it was given from.

pub mod check;
pub mod disk;
pub mod files;
pub mod site;
pub mod summary;

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::profile::install::TargetRule;
use crate::profile::model::ImageRole;
use crate::profile::names::{MirrorUrl, Suite};
use crate::profile::paths::InputPath;

pub use disk::{Layout, PartitionContent, PartitionPlan, PartitionType, SizeRule, Slot};
pub use files::{Edit, EditOp, GenFile, GenKind, OutputFile, OverlayFile, Piece, SecretHash};

/// The format tag of `plan.json`; a reader refuses another one.
pub const FORMAT: &str = "forja-plan/1";

/// The profile the plan was resolved from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRef {
    pub name: String,
    /// The profile's file name (no folder: outputs do not depend on where the profile lies).
    pub file: String,
    /// SHA-256 of the profile's text: a saved plan made from another version of the profile is refused.
    pub sha256: Sha256,
}

/// Where the Debian base root filesystem comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum BaseSource {
    /// mmdebstrap, cached by `cache_key` (a hash of everything that decides the tarball's content).
    Mmdebstrap {
        suite: Suite,
        mirror: MirrorUrl,
        packages: Vec<String>,
        /// initramfs-tools hook files copied in before the initrd is made again (the verity root and the state
        /// partition are opened by the initrd).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        initramfs: Vec<InitramfsFile>,
        /// SOURCE_DATE_EPOCH for mmdebstrap: the profile's own, so overriding the image's does not force a new
        /// base (the image's epoch clamps every time again when the tree is composed).
        epoch: u64,
        cache_key: Sha256,
        mmdebstrap_version: String,
        command: String,
    },
    /// A prebuilt tarball (relative to the profile's folder) with a pinned hash, checked before it is used.
    Tarball { path: InputPath, sha256: Sha256 },
}

/// A file of forja's overlay that goes into the base before its initrd is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitramfsFile {
    /// Path in the image (and under `overlays/`).
    pub path: String,
    pub sha256: Sha256,
}

/// The host's root filesystem: the base, then the overlay files, then the generated files and edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootPlan {
    /// The overlay trees, in the order they are copied: `overlays` (forja's own), then each `--extra-overlay`
    /// by its folder name. The plan names them; the build is told where they are.
    pub overlay_layers: Vec<String>,
    pub overlays: Vec<OverlayFile>,
    pub generated: Vec<GenFile>,
    pub edits: Vec<Edit>,
    pub selfcheck: SelfcheckPlan,
    /// What of the root is writable, and how: everything else is read-only under dm-verity.
    pub state: StatePlan,
    /// Where the root carries the forja binary that ran the build (stripped), so the host can apply update
    /// bundles itself (`forja update apply`, checked with the key in `selfcheck.public_key`). Its hash is not
    /// here: the plan is what the profile asks for, and the SBOM names the exact binary a build put in.
    pub update_tool: String,
    /// A site's host: its own files leave the root (which is then the same bytes for every host of the site) and
    /// travel in its signed unified kernel images. Absent for a single-host profile: everything is in its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostPart>,
}

/// A site host's own files (its names, addresses, network units, which nodes it starts, the self-check manifest
/// over them): built into an archive the host's unified kernel images carry in their initrd, which unpacks it into
/// `/run` before the root's PID 1 starts. initramfs-tools moves `/run` onto the root, so systemd, udev and
/// networkd read them from their first look; Secure Boot has checked them with the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPart {
    /// The archive's path inside the initrd (a `newc` cpio of `/run`'s new content).
    pub archive: String,
    /// Which files move, in order: the first move whose `path` is the file's path or a folder above it applies.
    pub moves: Vec<HostMove>,
}

/// One file, or a folder's files, moved from the root into the host part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostMove {
    /// The path in the image as generated (`/etc/hostname`, `/usr/share/forja/factory`).
    pub path: String,
    /// Where it is at run time, under `/run`.
    pub to: String,
    /// The root keeps a link from `path` to `to` (readers that know only `path`); without it the file goes where
    /// its reader also looks (`/run/systemd/network`, `/run/systemd/system`) and the root has nothing at `path`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link: bool,
}

impl HostPart {
    /// The move that applies to `path`, and `path`'s place at run time.
    pub fn place(&self, path: &str) -> Option<(&HostMove, String)> {
        self.moves.iter().find_map(|m| {
            let rest = path.strip_prefix(m.path.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (m, format!("{}{rest}", m.to)))
        })
    }

    /// Where a reader on the running host finds `path`: its place under `/run` when the root has no link to it.
    pub fn runtime_path(&self, path: &str) -> String {
        match self.place(path) {
            Some((m, at)) if !m.link => at,
            _ => path.to_owned(),
        }
    }
}

/// Where the host's root carries forja (the plan's `root.update_tool`).
pub const UPDATE_TOOL: &str = "/usr/bin/forja";

/// The split between the read-only root and the writable state partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatePlan {
    /// Mounted here by the initrd (before PID 1 starts, so the links below resolve from the first instruction).
    pub mount: String,
    /// Paths of the root that become symlinks into the state partition (their content, if any, moves there).
    pub links: Vec<StateLink>,
    /// Paths under the state mount that stay in the root, reached through a link from the state partition (the
    /// package database describes the running slot, not the slot that made the state).
    pub kept_in_root: Vec<StateLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateLink {
    pub path: String,
    pub to: String,
    /// A folder, made empty (0700) in the state partition when the base has none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub directory: bool,
}

/// The self-check's signed manifest (§77–80): which generated files it covers, where its parts go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfcheckPlan {
    pub manifest: String,
    pub signature: String,
    pub public_key: String,
    /// Factory copies of the covered files go under this folder (same relative paths).
    pub factory: String,
    /// The covered files, by image path.
    pub covers: Vec<String>,
}

/// What the ESP holds: systemd-boot and one unified kernel image per slot, every EFI binary signed with the site's
/// db key when the profile names its Secure Boot keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootPlan {
    /// The kernel command line of slot A's image, `{roothash}` standing for the root hash the build measures
    /// (the built record has the real line).
    pub kernel_cmdline: String,
    /// The image's `.osrel` (systemd-boot orders slots by `IMAGE_VERSION`).
    pub os_release: String,
    pub esp: Vec<EspFile>,
    /// Images built and signed like the ESP's but kept beside `disk.raw` as build artifacts, not on the ESP: slot
    /// B's (a fresh install boots A; an update into slot B installs it from the bundle).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifact_images: Vec<SlotImage>,
    /// Whether the EFI binaries are signed (the profile names the site's Secure Boot keys).
    pub signed: bool,
}

/// A slot's unified kernel image kept as a build artifact: same kernel, initrd and os-release as slot A's, its
/// own command line (its own root and verity partitions, `forja.slot=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotImage {
    pub slot: Slot,
    /// Its name in the output folder (listed in `SHA256SUMS`).
    pub artifact: String,
    /// Its command line, `{roothash}` standing for the root hash (the same root image as slot A's).
    pub kernel_cmdline: String,
}

/// The placeholder for the root hash in [`BootPlan::kernel_cmdline`].
pub const ROOTHASH: &str = "{roothash}";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspFile {
    /// Path on the ESP, e.g. `EFI/BOOT/BOOTX64.EFI`.
    pub path: String,
    pub source: EspSource,
}

/// Where an ESP file comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum EspSource {
    /// The image's systemd-boot (`/usr/lib/systemd/boot/efi/systemd-bootx64.efi`).
    SystemdBoot,
    /// The unified kernel image of a slot: the image's stub, kernel and initrd, the command line.
    Uki { slot: Slot },
    /// A text file (systemd-boot's `loader.conf`).
    Text { text: String },
}

/// The read-only payload: verified node images, their libvirt domains, the config drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadPlan {
    pub readme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImageSet>,
    pub nodes: Vec<NodePlan>,
}

/// The vendor images and the one README.TXT that vouches for them (paths relative to the profile's folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSet {
    pub readme: InputPath,
    pub files: Vec<ImageFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    pub role: ImageRole,
    pub file: InputPath,
}

/// One Pexip node: its disk in vmstore and its domain's reservation (§27).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePlan {
    pub name: String,
    pub role: ImageRole,
    /// The node's own disk in vmstore (a copy of its role's staged image).
    pub disk: String,
    pub vcpus: u32,
    /// Host CPU of each vCPU: dedicated, from CPU 1 up (CPU 0 stays with the host).
    pub cpuset: Vec<u32>,
    pub memory_mib: u64,
    pub disk_gb: u32,
    pub bridge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The first-boot answers drive attached as a CD-ROM (the Management Node's config drive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_drive: Option<String>,
}

/// The Management Node's config drive (an ISO `config-2`), made from a generated output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDrivePlan {
    /// The ISO's name in the output folder.
    pub name: String,
    /// The output file that becomes `openstack/latest/user_data`.
    pub user_data: String,
    pub meta_data: String,
}

/// A rule of the guide and the artifact that carries it out, for the build's compliance report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citation {
    pub rule: String,
    pub by: String,
}

/// What the build found and measured, added to the plan it writes into the output folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Built {
    /// The kernel version taken from the base's `/boot`.
    pub kernel: String,
    pub base_sha256: Sha256,
    /// The root hash of slot A's root image and the command line its UKI carries.
    pub root_hash: Sha256,
    pub kernel_cmdline: String,
    /// SHA-256 of the db certificate that signed the EFI binaries (absent: unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_boot_db: Option<Sha256>,
    pub layout: Layout,
}

/// Everything decided before building.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: String,
    pub forja_version: String,
    pub profile: ProfileRef,
    pub source_date_epoch: u64,
    /// The name every GUID and filesystem id derives from (UUIDv5, [`crate::ids`]).
    pub disk_seed: String,
    /// The secret the salts of password hashes derive from (absent: a hash of every secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_seed: Option<String>,
    pub base: BaseSource,
    pub root: RootPlan,
    pub boot: BootPlan,
    pub payload: PayloadPlan,
    /// Files written into the output folder as they are (Pexip answers and sheets, the firmware plan).
    pub outputs: Vec<OutputFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_drive: Option<ConfigDrivePlan>,
    pub disk: Vec<PartitionPlan>,
    /// Every file of the output folder that `SHA256SUMS` lists, in that order.
    pub artifacts: Vec<String>,
    /// The external commands the build runs, for the reader.
    pub commands: Vec<String>,
    pub enforcement: Vec<Citation>,
    /// The profile's `[install] target` rule, for `forja media` (absent: the installer's default rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_target: Option<TargetRule>,
    /// How an update bundle made from this build is installed (`forja bundle` copies it into the manifest).
    #[serde(default)]
    pub update: UpdatePlan,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<Built>,
}

/// The profile's `[update]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UpdatePlan {
    /// systemd-boot boot counting: tries a new slot gets (`forja-b+TRIES.efi`).
    pub boot_tries: u8,
}

impl Default for UpdatePlan {
    fn default() -> Self {
        UpdatePlan { boot_tries: 3 }
    }
}

impl Plan {
    /// Reads a plan written by `forja plan` or `forja build`.
    pub fn load(path: &Path) -> anyhow::Result<Plan> {
        let bytes = crate::inbound::read_capped(path, MAX_PLAN_BYTES)
            .with_context(|| format!("reading {}", path.display()))?;
        Plan::from_slice(&bytes).map_err(|e| {
            fail(
                Exit::Input,
                format!("{}: not a forja plan: {e:#}", path.display()),
            )
        })
    }

    pub fn from_slice(bytes: &[u8]) -> anyhow::Result<Plan> {
        let plan: Plan = serde_json::from_slice(bytes)?;
        if plan.format != FORMAT {
            anyhow::bail!("format {:?}, expected {FORMAT:?}", plan.format);
        }
        check::check(&plan).map_err(anyhow::Error::msg)?;
        Ok(plan)
    }

    /// SOURCE_DATE_EPOCH as an RFC 3339 UTC date: the only date a build's outputs carry.
    pub fn epoch_utc(&self) -> String {
        epoch_utc(self.source_date_epoch)
    }

    /// The partition plan of a given name.
    pub fn partition(&self, name: &str) -> Option<&PartitionPlan> {
        self.disk.iter().find(|p| p.name == name)
    }

    /// The built layout, or an error naming what the file lacks (a plan from `forja plan`, not a build).
    pub fn built(&self) -> anyhow::Result<&Built> {
        self.built.as_ref().ok_or_else(|| {
            fail(
                Exit::Input,
                "plan.json has no `built` section: it is a plan, not the record of a build",
            )
        })
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn epoch_utc(epoch: u64) -> String {
    use time::format_description::well_known::Rfc3339;
    i64::try_from(epoch)
        .ok()
        .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{epoch}"))
}

/// A plan is a few hundred kilobytes; anything much larger is not one.
pub const MAX_PLAN_BYTES: u64 = 16 << 20;
