//! Executing a plan: base → tree → filesystems → disk → artifacts → signatures, into an output folder.
//!
//! Every artifact is written under a temporary name and renamed when complete (see [`crate::artifact`]); the
//! folder is locked for the whole build; the work tree lives in `OUT/.forja-work` and is removed at the end.
//! `SHA256SUMS` is written last, so a folder without it is visibly unfinished.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::plan::{self, ESP_LABEL, ESP_SIZE, Resolved};
use crate::artifact::{OutputLock, write_atomic};
use crate::compose::{self, GenFile, GenKind, selfcheck, tree};
use crate::disk::gpt::{PartitionType, attr};
use crate::disk::image::{self, Content, DiskSpec, PartitionSpec};
use crate::error::{Exit, fail};
use crate::fs::fat::FatTree;
use crate::profile::Loaded;
use crate::sign::{self, keys::SigningKey};

/// Options that are not in the profile.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Extra overlay trees copied last (the boot test adds its report unit this way; never for sites).
    pub extra_overlays: Vec<PathBuf>,
    /// Keep `OUT/.forja-work` for inspection.
    pub keep_work: bool,
}

/// The signing key: the profile's, or for a lab profile a test key generated on first use.
pub fn signing_key(l: &Loaded) -> anyhow::Result<SigningKey> {
    let path = l.resolve(&l.profile.signing.key);
    if !path.exists() && l.is_lab() {
        let dir = path.parent().unwrap_or(Path::new("."));
        log::warn!(
            "{}: generating a TEST signing key for the lab profile (never use it for a site)",
            path.display()
        );
        let key = SigningKey::generate()?;
        std::fs::create_dir_all(dir)?;
        // Two builds starting together both see no key: the second must not replace the first one's.
        sign::keys::write_private_new(&path, key.to_signify().as_bytes())?;
        return Ok(key);
    }
    SigningKey::load(&path).with_context(|| format!("signing.key ({})", path.display()))
}

fn kernel_version(root: &Path) -> anyhow::Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir(root.join("boot"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_owned)
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| fail(Exit::Input, "the base has no kernel in /boot"))
}

/// Self-check files: the signed manifest over the protected generated files, their factory copies, the key.
fn selfcheck_files(files: &[GenFile], key: &SigningKey) -> Vec<GenFile> {
    let protected = compose::protected(files);
    let manifest = selfcheck::manifest(&protected);
    let sig = sign::signify::sign_embedded(key, manifest.as_bytes(), "forja self-check manifest");
    let mut out = selfcheck::factory_copies(&protected);
    out.push(GenFile::text(
        selfcheck::MANIFEST,
        0o644,
        manifest,
        &["1616-5.10"],
    ));
    out.push(GenFile {
        path: "/usr/share/forja/selfcheck.sig".into(),
        mode: 0o644,
        kind: GenKind::File(sig),
        rules: vec!["1616-5.10"],
    });
    out.push(GenFile::text(
        "/usr/share/forja/forja.pub",
        0o644,
        key.public().to_signify(),
        &["1616-5.10"],
    ));
    out
}

/// Builds the profile into `out`.
pub fn build(l: &Loaded, out: &Path, opts: &BuildOptions) -> anyhow::Result<Vec<String>> {
    let _lock = OutputLock::acquire(out)?;
    // The guide first: a profile with a failing rule is never built.
    let mut report = crate::policy::evaluate(l);
    if report.failed() {
        let failing: Vec<String> = report
            .rules
            .iter()
            .filter(|r| r.status == crate::policy::rule::Status::Fail)
            .map(|r| format!("  {} ({}): {}", r.id, r.paragraph, r.reason))
            .collect();
        return Err(fail(
            Exit::PolicyFailed,
            format!(
                "the profile breaks {} rule(s) of the guide; `forja check` explains each:\n{}",
                failing.len(),
                failing.join("\n")
            ),
        ));
    }
    let key = signing_key(l)?;
    let Resolved {
        mut plan,
        files,
        compose_input,
    } = plan::resolve(l)?;
    let epoch = plan.source_date_epoch;
    let work = out.join(".forja-work");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    // Anything from an earlier, interrupted build must not survive next to the new artifacts.
    for name in sign::SIGNING_OUTPUTS.iter().chain(
        plan.artifacts
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        let _ = std::fs::remove_file(out.join(name));
    }

    let stages = Stages::new();
    // 1. Base.
    let (tarball, pinned) =
        crate::inputs::base::obtain(&plan.base, l.profile.base.source_date_epoch)?;
    let root = work.join("root");
    let base_sha = tree::extract(&tarball, &root)?;
    crate::inputs::base::check_pin(&tarball, pinned, base_sha)?;
    stages.done("base: obtain and extract");

    // 2. Compose: overlays, generated files, edits, self-check.
    tree::apply_overlay(&plan::overlay_dir(), &root)?;
    for extra in &opts.extra_overlays {
        tree::apply_overlay(extra, &root)
            .with_context(|| format!("--extra-overlay {}", extra.display()))?;
    }
    let mut all = files.clone();
    all.extend(selfcheck_files(&files, &key));
    tree::write_generated(&root, &all)?;
    let defs = root.join("etc/login.defs");
    if let Ok(text) = std::fs::read_to_string(&defs) {
        std::fs::write(
            &defs,
            compose::access::set_keys(&text, &compose::access::login_defs_keys(l)),
        )?;
    }
    if let Some(hash) = compose::access::root_hash(l, &compose_input.salt_seed)? {
        let shadow = root.join("etc/shadow");
        let text = std::fs::read_to_string(&shadow).context("reading the base's /etc/shadow")?;
        std::fs::write(&shadow, compose::access::set_root_hash(&text, &hash))?;
    }
    // The image's machine-id is made on first boot: one per device.
    std::fs::write(root.join("etc/machine-id"), b"uninitialized\n")?;

    stages.done("compose: overlays, generated files, self-check");
    // 3. ESP.
    let kver = kernel_version(&root)?;
    let cfg = compose::bootloader::grub_cfg(l, &compose_input)?;
    let grub_efi = work.join("BOOTX64.EFI");
    compose::bootloader::build_grub_efi(&cfg, epoch, &work, &grub_efi)?;
    let mut esp = FatTree::new();
    esp.add_file("EFI/BOOT/BOOTX64.EFI", &grub_efi)?;
    esp.add_file("vmlinuz", root.join(format!("boot/vmlinuz-{kver}")))?;
    esp.add_file("initrd.img", root.join(format!("boot/initrd.img-{kver}")))?;

    // 4. Payload: first-boot answers, verified node images and their domains (read-only on the target).
    let pexip_files = crate::pexip::generate_all(l, out)?;
    let payload = work.join("payload");
    std::fs::create_dir_all(&payload)?;
    std::fs::write(
        payload.join("README"),
        "forja payload: verified Pexip node images (nodes/) and libvirt domains (domains/), imported into vmstore at first boot.\n",
    )?;
    let iso = out.join("pexip").join(crate::pexip::CONFIG_DRIVE);
    let staged = super::nodes::stage(l, &payload, iso.exists().then_some(iso.as_path()))?;
    if let Some(s) = &staged {
        // stage_all already wrote the same bytes to payload/nodes/.
        s.lock.write(out)?;
    }
    for f in &pexip_files {
        let rel = f
            .strip_prefix(out)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        if !plan.artifacts.contains(&rel) {
            plan.artifacts.push(rel);
        }
    }

    stages.done("ESP, Pexip answers, node images");
    // 5. Disk.
    let vmstore = plan
        .partitions
        .iter()
        .find(|p| p.name == "vmstore")
        .and_then(|p| p.size)
        .expect("planned");
    let spec = DiskSpec {
        seed: plan.disk_seed.clone(),
        epoch: epoch as i64,
        partitions: vec![
            PartitionSpec {
                name: "esp".into(),
                kind: PartitionType::Esp,
                size: Some(ESP_SIZE),
                attributes: 0,
                content: Content::Fat {
                    tree: esp,
                    label: ESP_LABEL.into(),
                },
            },
            PartitionSpec {
                name: "root".into(),
                kind: PartitionType::RootX86_64,
                size: None,
                attributes: 0,
                content: Content::Ext4 {
                    tree: root.clone(),
                    label: "root".into(),
                },
            },
            PartitionSpec {
                name: "payload".into(),
                kind: PartitionType::LinuxData,
                size: None,
                attributes: attr::READ_ONLY,
                content: Content::Ext4 {
                    tree: payload.clone(),
                    label: "payload".into(),
                },
            },
            PartitionSpec {
                name: "vmstore".into(),
                kind: PartitionType::LinuxLuks,
                size: Some(vmstore),
                attributes: 0,
                content: Content::Empty,
            },
        ],
    };
    let layout = image::build(&spec, &out.join("disk.raw"))?;
    for (planned, built) in plan.partitions.iter_mut().zip(&layout.partitions) {
        planned.size = Some(built.size);
    }

    stages.done("disk.raw: GPT, FAT32, ext4 root and payload");
    // 6. Artifacts.
    // Compression reads and writes the two largest artifacts anyway; their digests come from that pass.
    let mut known = Vec::new();
    if plan.artifacts.iter().any(|a| a == "disk.raw.zst") {
        let h =
            crate::compress::zstd_file_hashed(&out.join("disk.raw"), &out.join("disk.raw.zst"))?;
        for (name, (sha256, _)) in [("disk.raw", h.input), ("disk.raw.zst", h.output)] {
            known.push(sign::sums::Entry {
                name: name.into(),
                sha256,
            });
        }
        stages.done("disk.raw.zst");
    }
    let mut full = serde_json::to_value(&plan)?;
    full["layout"] = serde_json::to_value(&layout)?;
    write_atomic(out.join("plan.json"), &crate::artifact::json_lines(&full)?)?;
    let sbom = crate::sbom::Sbom {
        format: "forja-sbom/1",
        base_tarball_sha256: base_sha,
        packages: crate::sbom::packages(&root)?,
        vendor_images: staged
            .as_ref()
            .map(|s| {
                s.lock
                    .images
                    .iter()
                    .map(|i| crate::sbom::VendorImage {
                        name: i.source.clone(),
                        sha256: i.sha256,
                        verified_against: format!("{} line {}", s.lock.readme.name, i.readme_line),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        tools: tool_versions(),
    };
    write_atomic(out.join("sbom.json"), &crate::artifact::json_lines(&sbom)?)?;
    write_atomic(
        out.join(crate::firmware::PLAN_FILE),
        &crate::artifact::json_lines(&crate::firmware::plan(l))?,
    )?;
    // The report of a build also says what carries each rule out.
    super::enforced::mark(&mut report, l, &all)?;
    write_compliance(&report, out)?;

    // 7. Signatures, SHA256SUMS last.
    let names: Vec<&str> = plan.artifacts.iter().map(String::as_str).collect();
    sign::sign_dir_with(out, &key, &names, &known)?;
    stages.done("reports, SBOM, SHA256SUMS and signatures");
    if !opts.keep_work {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    Ok(plan.artifacts.clone())
}

/// Per-stage timings on stderr (`stage: NAME: 1.2 s`), for people and for ci/bench-build.
struct Stages(std::cell::Cell<std::time::Instant>);

impl Stages {
    fn new() -> Self {
        Stages(std::cell::Cell::new(std::time::Instant::now()))
    }
    fn done(&self, name: &str) {
        let now = std::time::Instant::now();
        log::info!("stage: {name}: {:.1} s", (now - self.0.get()).as_secs_f64());
        self.0.set(now);
    }
}

fn tool_versions() -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    for (tool, flag) in [
        ("mmdebstrap", "--version"),
        ("mkfs.ext4", "-V"),
        ("grub-mkimage", "--version"),
        ("qemu-img", "--version"),
        ("tar", "--version"),
    ] {
        if let Ok(v) = crate::exec::tool_version(tool, flag) {
            m.insert(tool.to_owned(), v);
        }
    }
    m.insert("forja".into(), env!("CARGO_PKG_VERSION").into());
    m
}

/// The compliance report (JSON + Markdown) for the build.
fn write_compliance(report: &crate::policy::Report, out: &Path) -> anyhow::Result<()> {
    write_atomic(out.join("compliance.json"), report.to_json().as_bytes())?;
    write_atomic(out.join("compliance.md"), report.to_markdown().as_bytes())?;
    Ok(())
}
