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
use crate::plan::disk::Slot;
use crate::plan::files::{GenFile, OutputFile};
use crate::plan::{
    BootPlan, EspFile, EspSource, FORMAT, ImageFile, ImageSet, NodePlan, PayloadPlan, Plan,
    ProfileRef, RootPlan, SlotImage, StateLink, StatePlan,
};
use crate::profile::Loaded;
use crate::profile::model::ImageRole;

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

/// Resolves the plan.
pub fn resolve(l: &Loaded, env: &Environment) -> anyhow::Result<Plan> {
    let p = &l.profile;
    let epoch = l.source_date_epoch()?;
    let seed = super::layout::disk_seed(l);
    let disk = super::layout::partitions(l, &seed, &super::layout::root_seed(l));
    let input = super::layout::compose_input(&disk);
    let mut generated = compose::host_files(l, &input)?;
    // The release this root belongs to, for what runs on the host (the health check's update record): the UKI's
    // `.osrel` says it to systemd-boot, but nothing in the root did.
    let version = compose::bootloader::version_file(epoch);
    let at = generated.partition_point(|f| f.path < version.path);
    generated.insert(at, version);
    let (mut outputs, config_drive) = crate::pexip::outputs(l)?;
    let config_drive = super::site::host_pexip_outputs(l, &mut outputs, config_drive);
    outputs.push(firmware_output(l)?);
    let payload = payload(l)?;
    let packages = compose::packages::package_list(l);
    // The base is built with the profile's own epoch, so overriding SOURCE_DATE_EPOCH for the image does not
    // force a new mmdebstrap run.
    let root = root(l, env, generated)?;
    let base = crate::inputs::base::resolve(
        l,
        packages,
        crate::inputs::base::initramfs_files(&root.overlays),
        p.base.source_date_epoch,
        &env.mmdebstrap_version,
    );
    let boot = boot(l, &input, epoch);
    let enforcement = super::enforced::citations(l, &root, &boot)?;
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
        boot,
        artifacts: artifacts(
            l,
            &disk,
            &outputs,
            config_drive.as_ref().map(|d| d.name.as_str()),
        ),
        root,
        payload,
        outputs,
        config_drive,
        disk,
        enforcement,
        install_target: p.install.as_ref().map(|i| i.target.clone()),
        update: crate::plan::UpdatePlan {
            boot_tries: p.update.boot_tries.0,
        },
        built: None,
    })
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
        state: state(),
        update_tool: crate::plan::UPDATE_TOOL.into(),
        host: compose::hostpart::plan(l),
    })
}

/// The writable state: `/var` is the state partition; these pieces of `/etc` become links into it.
fn state() -> StatePlan {
    let link = |path: &str, to: &str, directory: bool| StateLink {
        path: path.into(),
        to: to.into(),
        directory,
    };
    StatePlan {
        mount: "/var".into(),
        links: vec![
            // Made per device by the initrd before PID 1 reads it.
            link("/etc/machine-id", "/var/lib/forja/etc/machine-id", false),
            // libvirt's domain and network definitions (first boot defines the Pexip domains).
            link("/etc/libvirt/qemu", "/var/lib/forja/etc/libvirt/qemu", true),
            link(
                "/etc/libvirt/secrets",
                "/var/lib/forja/etc/libvirt/secrets",
                true,
            ),
            link(
                "/etc/libvirt/storage",
                "/var/lib/forja/etc/libvirt/storage",
                true,
            ),
        ],
        kept_in_root: vec![link(
            "/var/lib/dpkg",
            "/usr/share/factory/var/lib/dpkg",
            true,
        )],
    }
}

/// The ESP: systemd-boot, its settings, and slot A's unified kernel image; slot B's image is built and signed
/// too, but kept beside `disk.raw` (a fresh install boots A; an update into slot B installs it). The images'
/// version is the build's epoch: systemd-boot boots the newest version first.
fn boot(l: &Loaded, input: &ComposeInput, epoch: u64) -> BootPlan {
    let file = |path: &str, source| EspFile {
        path: path.into(),
        source,
    };
    BootPlan {
        kernel_cmdline: compose::bootloader::kernel_cmdline(input, Slot::A),
        os_release: compose::bootloader::os_release(l, &epoch.to_string()),
        esp: vec![
            file("EFI/BOOT/BOOTX64.EFI", EspSource::SystemdBoot),
            file(
                "loader/loader.conf",
                EspSource::Text {
                    text: compose::bootloader::LOADER_CONF.into(),
                },
            ),
            file(&uki_path(Slot::A), EspSource::Uki { slot: Slot::A }),
        ],
        artifact_images: vec![SlotImage {
            slot: Slot::B,
            artifact: slot_image_artifact(Slot::B),
            kernel_cmdline: compose::bootloader::kernel_cmdline(input, Slot::B),
        }],
        signed: l.profile.boot.firmware.secure_boot_keys.is_some(),
    }
}

/// Where a slot's unified kernel image sits on the ESP (systemd-boot finds Type #2 entries there).
pub fn uki_path(slot: Slot) -> String {
    format!("EFI/Linux/{}", slot_image_artifact(slot))
}

/// A slot's image as a build artifact (and as a bundle member): `forja-b.efi`.
pub fn slot_image_artifact(slot: Slot) -> String {
    format!("forja-{}.efi", slot.name())
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
                    .filter(|i| super::site::needs_image(l, i.role))
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
    let mut nodes = Vec::new();
    if super::site::needs_image(l, ImageRole::Management) {
        let mut mgr = node(
            &m.name,
            ImageRole::Management,
            &m.reservation,
            m.mac.map(|x| x.to_string()),
        );
        mgr.config_drive = Some(format!("{}-config-2.iso", m.name));
        nodes.push(mgr);
    }
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

/// Every file `SHA256SUMS` lists, in order: the image and its compressed copy (a site's host: the image's parts,
/// [`crate::disk::parts`]), slot B's image, the reports, the output files.
fn artifacts(
    l: &Loaded,
    disk: &[crate::plan::disk::PartitionPlan],
    outputs: &[OutputFile],
    config_drive: Option<&str>,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if l.site.is_some() {
        a.push(crate::disk::parts::FILE.into());
        a.extend(
            super::layout::part_runs(disk)
                .into_iter()
                .filter_map(|(f, _)| f),
        );
    } else {
        a.push("disk.raw".into());
        if l.profile.outputs.compressed {
            a.push("disk.raw.zst".into());
        }
    }
    a.push(slot_image_artifact(Slot::B));
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
    a.extend(config_drive.map(str::to_owned));
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
        "strip --strip-all <this forja> -o <root>/usr/bin/forja, then run with the root's own loader and libraries (the host's `forja update apply`)".into(),
        "mkfs.erofs -T<epoch> -U<uuid> root.erofs <root tree> (the read-only root of slot A)".into(),
        "dm-verity hash tree of root-a, written by forja (the format of veritysetup format)".into(),
        "sections .osrel/.cmdline/.linux/.initrd appended to <stub> by forja, as objcopy -p --add-section writes them: forja-a.efi, forja-b.efi (unified kernel images: slot A's on the ESP, slot B's beside disk.raw)".into(),
        "osslsigncode sign -h sha256 -time <epoch> (site db key) on every EFI binary of the ESP".into(),
        "mkfs.ext4 -d <state seed> and <payload> (E2FSPROGS_FAKE_TIME, fixed UUID and hash seed) + debugfs time clamp".into(),
        "qemu-img convert -O qcow2 <verified VMDK> <node>.qcow2".into(),
        "xorriso -as mkisofs -V config-2 ... (the Management Node's config drive)".into(),
    ]
}
