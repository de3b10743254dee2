//! Executing a plan: base → root tree → state split → root image and verity tree → ESP (signed unified kernel
//! image; slot B's beside it) → output files → payload → disk → artifacts → signatures, into an output folder. Each stage is a small
//! function that takes the plan and the previous stages' products and returns its own; none of them looks at the
//! profile.
//!
//! Every artifact is written under a temporary name and renamed when complete (see [`crate::artifact`]); the
//! folder is locked for the whole build; the work tree lives in `OUT/.forja-work` and is removed at the end.
//! `SHA256SUMS` is written last, so a folder without it is visibly unfinished.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::payload::{self, DriveFile, StagedNodes};
use crate::artifact::{OutputLock, write_atomic};
use crate::compose::{self, tree};
use crate::crypt::Seed;
use crate::disk::image::{self, Content, DiskSpec, PartitionSpec};
use crate::error::{Exit, fail};
use crate::fs::fat::FatTree;
use crate::hashio::Sha256;
use crate::inbound::InputRoots;
use crate::plan::disk::{PartitionContent, SizeRule, Slot};
use crate::plan::{Built, ConfigDrivePlan, EditOp, Layout, OutputFile, Plan};
use crate::policy::Report;
use crate::profile::secrets::Secrets;
use crate::sign::{self, SigningKey};

/// What the build needs beyond the plan: the secrets to render templates with, where the plan's relative
/// inputs are, the overlay trees by layer, the signing key, and the compliance report to complete.
#[derive(Debug)]
pub struct Context<'a> {
    pub secrets: &'a Secrets,
    pub seed: Seed,
    /// The profile's folder and where its files may lie: node images and a prebuilt base are named relative to
    /// it, and confined to it.
    pub inputs: InputRoots,
    /// The overlay trees, by the plan's layer numbers.
    pub overlay_dirs: Vec<PathBuf>,
    pub key: SigningKey,
    /// The site's Secure Boot keys, when the plan signs its EFI binaries.
    pub secure_boot: Option<crate::secureboot::SiteKeys>,
    /// The guide's rules as evaluated on the profile; the build adds what enforces each.
    pub report: Report,
    /// Keep `OUT/.forja-work` for inspection.
    pub keep_work: bool,
    /// Where the Debian base tarballs are cached.
    pub cache: crate::inputs::cache::Cache,
    /// A site build's shared-root frames ([`crate::compress::shared`]).
    pub shared_frames: Option<std::sync::Arc<crate::compress::shared::SharedFrames>>,
}

/// The extracted base.
struct BaseTree {
    root: PathBuf,
    sha256: Sha256,
}

/// Builds `plan` into `out`; returns the signed list (`SHA256SUMS`).
pub fn build(plan: &Plan, ctx: Context, out: &Path) -> anyhow::Result<sign::Sums> {
    let _lock = OutputLock::acquire(out)?;
    let work = out.join(".forja-work");
    if work.exists() {
        fs_err::remove_dir_all(&work)?;
    }
    // Anything from an earlier, interrupted build must not survive next to the new artifacts: its half-written
    // files, and its finished ones (they would sit beside the new ones until overwritten).
    crate::artifact::remove_partials(out)?;
    fs_err::create_dir_all(&work)?;
    for name in sign::SIGNING_OUTPUTS
        .iter()
        .copied()
        .chain(plan.artifacts.iter().map(String::as_str))
    {
        let _ = fs_err::remove_file(out.join(name));
    }
    let stages = Stages::default();
    stages.begin("base: obtain and extract");
    let base = base(plan, &ctx, &work)?;
    stages.begin("compose: overlays, generated files, self-check");
    compose_root(plan, &ctx, &base.root, &work)?;
    let seed = work.join("state");
    super::rootfs::split_state(&plan.root.state, &base.root, &seed)?;
    stages.begin("root image (erofs) and dm-verity tree");
    let images = super::rootfs::images(plan, &base.root, &work)?;
    let cmdline = super::rootfs::cmdline(&plan.boot.kernel_cmdline, &images.tree.root_hash);
    stages.begin("ESP (unified kernel image), Pexip answers, node images");
    let (esp, kernel) =
        super::esp::build(plan, &base.root, &cmdline, ctx.secure_boot.as_ref(), &work)?;
    super::esp::artifact_images(
        plan,
        &base.root,
        &images.tree.root_hash,
        ctx.secure_boot.as_ref(),
        &work,
        out,
    )?;
    let drive = write_outputs(
        &plan.outputs,
        plan.config_drive.as_ref(),
        ctx.secrets,
        &ctx.seed,
        out,
        plan.source_date_epoch,
    )?;
    let payload_dir = work.join("payload");
    let staged = payload::stage(&plan.payload, &ctx.inputs, &payload_dir, drive.as_ref())?;
    if let Some(s) = &staged {
        s.lock.write(out)?;
    }
    stages.begin("disk.raw: GPT, ESP, root slots, state, payload");
    let trees = Trees {
        esp,
        root: &images.root,
        verity: &images.verity,
        state: &seed,
        payload: &payload_dir,
    };
    let layout = disk(plan, trees, out)?;
    let built = Built {
        kernel,
        base_sha256: base.sha256,
        root_hash: images.tree.root_hash,
        kernel_cmdline: cmdline,
        secure_boot_db: match &ctx.secure_boot {
            Some(k) => Some(Sha256::of_file(&k.cert("db"))?),
            None => None,
        },
        layout,
    };
    artifacts(plan, ctx, out, built, &base.root, staged.as_ref(), &stages)
}

/// What fills the disk's partitions, made by the earlier stages.
struct Trees<'a> {
    esp: FatTree,
    root: &'a Path,
    verity: &'a Path,
    state: &'a Path,
    payload: &'a Path,
}

fn base(plan: &Plan, ctx: &Context, work: &Path) -> anyhow::Result<BaseTree> {
    let overlay = ctx
        .overlay_dirs
        .first()
        .ok_or_else(|| fail(Exit::Internal, "no overlay tree"))?;
    let (tarball, pinned) =
        crate::inputs::base::obtain(&plan.base, &ctx.inputs, overlay, &ctx.cache)?;
    // A prebuilt base is the profile's input: its pinned hash is checked before tar ever reads it (one more read
    // of the file), and again on the read that extracts it, in case it changed in between.
    if let Some(want) = pinned {
        let got = Sha256::of_file(&tarball).map_err(crate::error::from_io)?;
        crate::inputs::base::check_pin(&tarball, pinned, got)?;
        log::debug!(
            "base.tarball {}: SHA-256 {want} as pinned",
            tarball.display()
        );
    }
    let root = work.join("root");
    let sha256 = tree::extract(&tarball, &root)?;
    crate::inputs::base::check_pin(&tarball, pinned, sha256)?;
    Ok(BaseTree { root, sha256 })
}

/// Overlays, generated files (templates rendered with the secrets), edits of base files, the self-check.
fn compose_root(plan: &Plan, ctx: &Context, root: &Path, work: &Path) -> anyhow::Result<()> {
    let r = &plan.root;
    if ctx.overlay_dirs.len() != r.overlay_layers.len() {
        return Err(fail(
            Exit::Input,
            format!(
                "the plan copies {} overlay tree(s) ({}); the build was given {}",
                r.overlay_layers.len(),
                r.overlay_layers.join(", "),
                ctx.overlay_dirs.len()
            ),
        ));
    }
    tree::apply_overlays(&ctx.overlay_dirs, &r.overlays, root)?;
    let mut rendered = Vec::with_capacity(r.generated.len());
    for f in &r.generated {
        rendered.push((f, f.render(ctx.secrets, &ctx.seed)?));
    }
    let covered: Vec<(String, String)> = rendered
        .iter()
        .filter(|(f, _)| r.selfcheck.covers.contains(&f.path))
        .filter_map(|(f, text)| {
            // A site host's moved files are checked where they are at run time.
            let path = match &r.host {
                Some(part) => part.runtime_path(&f.path),
                None => f.path.clone(),
            };
            text.clone().map(|t| (path, t))
        })
        .collect();
    let manifest = compose::selfcheck::manifest(&covered);
    let sig =
        sign::signify::sign_embedded(&ctx.key, manifest.as_bytes(), "forja self-check manifest");
    let selfcheck = compose::selfcheck::files(
        &r.selfcheck,
        &covered,
        String::from_utf8(sig).context("the self-check signature is text")?,
        ctx.key.public().to_signify(),
    );
    check_zone(root, &r.generated)?;
    for f in &selfcheck {
        rendered.push((f, f.render(ctx.secrets, &ctx.seed)?));
    }
    match &r.host {
        Some(part) => super::hostpart::write(part, root, work, &rendered)?,
        None => tree::write_generated(root, &rendered)?,
    }
    for e in &r.edits {
        apply_edit(root, &e.path, &e.op, ctx)?;
    }
    super::rootfs::install_update_tool(root, &r.update_tool)
}

/// The time zone `/etc/localtime` links to must be in the base's own tz database (the profile was checked
/// against the build machine's, which may differ).
fn check_zone(root: &Path, generated: &[crate::plan::GenFile]) -> anyhow::Result<()> {
    for f in generated {
        if let (crate::compose::timelogs::LOCALTIME, crate::plan::GenKind::Symlink(target)) =
            (f.path.as_str(), &f.kind)
        {
            let zone = target
                .strip_prefix(crate::compose::timelogs::ZONEINFO)
                .unwrap_or(target);
            let inside = tree::host_path(root, target);
            if crate::inbound::relative_problem(Path::new(zone.trim_start_matches('/'))).is_some()
                || !crate::profile::names::is_zone_file(&inside)
            {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "host.timezone: {} is not a time zone of the base's tz database ({target} is missing)",
                        zone.trim_start_matches('/')
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn apply_edit(root: &Path, path: &str, op: &EditOp, ctx: &Context) -> anyhow::Result<()> {
    let file = tree::confined(root, path, true)?;
    let text =
        fs_err::read_to_string(&file).with_context(|| format!("reading the base's {path}"))?;
    let new = match op {
        EditOp::SetKeys(keys) => compose::access::set_keys(&text, keys),
        EditOp::ShadowPassword { user, hash } => {
            compose::access::set_password_hash(&text, user, &hash.render(ctx.secrets, &ctx.seed)?)
        }
        EditOp::ShadowAgeing {
            user,
            min_days,
            max_days,
            warn_days,
        } => compose::access::set_ageing(&text, user, [*min_days, *max_days, *warn_days]),
    };
    fs_err::write(&file, new).with_context(|| format!("writing {path}"))
}

/// Writes output files (templates rendered) into `out`, and the config drive made from one of them; returns the
/// drive.
pub fn write_outputs(
    files: &[OutputFile],
    drive: Option<&ConfigDrivePlan>,
    secrets: &Secrets,
    seed: &Seed,
    out: &Path,
    epoch: u64,
) -> anyhow::Result<Option<DriveFile>> {
    let mut texts = std::collections::BTreeMap::new();
    for o in files {
        let text = o
            .file
            .render(secrets, seed)?
            .ok_or_else(|| fail(Exit::Input, format!("{}: an output must be a file", o.name)))?;
        let path = out.join(&o.name);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        write_atomic(&path, text.as_bytes())?;
        texts.insert(o.name.as_str(), text);
    }
    let Some(d) = drive else {
        return Ok(None);
    };
    let user_data = texts.get(d.user_data.as_str()).ok_or_else(|| {
        fail(
            Exit::Input,
            format!("config drive: {} is not an output of the plan", d.user_data),
        )
    })?;
    let iso = out.join(&d.name);
    crate::pexip::configdrive::build(&iso, user_data, &d.meta_data, epoch)?;
    let sha256 = Sha256::of_file(&iso)?;
    Ok(Some(DriveFile { path: iso, sha256 }))
}

/// `disk.raw` from the plan's partitions, filled with the products of the earlier stages.
fn disk(plan: &Plan, t: Trees, out: &Path) -> anyhow::Result<Layout> {
    let mut esp = Some(t.esp);
    let mut partitions = Vec::new();
    for p in &plan.disk {
        let content = match &p.content {
            PartitionContent::Esp { label, volume_id } => Content::Fat {
                tree: esp.take().unwrap_or_default(),
                label: label.clone(),
                volume_id: *volume_id,
            },
            PartitionContent::RootImage { .. } => Content::Raw(t.root.to_owned()),
            PartitionContent::Verity { .. } => Content::Raw(t.verity.to_owned()),
            PartitionContent::StateTree { label, uuid } => Content::Ext4 {
                tree: t.state.to_owned(),
                label: label.clone(),
                uuid: *uuid,
            },
            PartitionContent::PayloadTree { label, uuid } => Content::Ext4 {
                tree: t.payload.to_owned(),
                label: label.clone(),
                uuid: *uuid,
            },
            PartitionContent::Empty { .. } => Content::Empty,
        };
        partitions.push(PartitionSpec {
            name: p.name.clone(),
            kind: p.kind,
            guid: p.guid,
            size: match p.size {
                SizeRule::Fixed(b) => Some(b),
                SizeRule::FitContent => None,
            },
            attributes: p.attributes,
            content,
        });
    }
    let spec = DiskSpec {
        disk_guid: crate::ids::guid(&plan.disk_seed, "disk"),
        epoch: plan.source_date_epoch as i64,
        partitions,
    };
    image::build(&spec, &out.join("disk.raw"))
}

/// Where slot A's root image and its hash tree lie on the disk: the bytes every host of a site holds alike.
fn shared_region(layout: &Layout) -> Option<std::ops::Range<u64>> {
    let root = layout.named(&super::layout::root_name(Slot::A))?;
    let verity = layout.named(&super::layout::verity_name(Slot::A))?;
    let start = root.offset.min(verity.offset);
    let end = (root.offset + root.size).max(verity.offset + verity.size);
    Some(start..end)
}

/// Compression, `plan.json` with what was built, SBOM, compliance report, then `SHA256SUMS` and signatures.
fn artifacts(
    plan: &Plan,
    mut ctx: Context,
    out: &Path,
    built: Built,
    root: &Path,
    staged: Option<&StagedNodes>,
    stages: &Stages,
) -> anyhow::Result<sign::Sums> {
    // Compression reads and writes the two largest artifacts anyway; their digests come from that pass.
    let mut known = Vec::new();
    if plan.artifacts.iter().any(|a| a == "disk.raw.zst") {
        stages.begin("disk.raw.zst");
        let shared = ctx
            .shared_frames
            .as_deref()
            .and_then(|f| Some((shared_region(&built.layout)?, f)));
        let h = crate::compress::zstd_disk_hashed(
            &out.join("disk.raw"),
            &out.join("disk.raw.zst"),
            shared,
        )?;
        for (name, (sha256, _)) in [("disk.raw", h.input), ("disk.raw.zst", h.output)] {
            known.push(sign::sums::Entry {
                name: name.into(),
                sha256,
            });
        }
    }
    stages.begin("reports, SBOM, SHA256SUMS and signatures");
    let base_sha256 = built.base_sha256;
    let mut record = plan.clone();
    record.built = Some(built);
    write_known(
        out,
        &mut known,
        "plan.json",
        &crate::artifact::json_lines(&record)?,
    )?;
    // The package database stays in the root (behind a link from the state partition): read it there.
    let dpkg = plan
        .root
        .state
        .kept_in_root
        .iter()
        .find(|k| k.path == "/var/lib/dpkg")
        .map(|k| tree::host_path(root, &k.to))
        .unwrap_or_else(|| root.join("var/lib/dpkg"));
    let sbom = crate::sbom::Sbom::of_build_at(base_sha256, root, &dpkg, staged.map(|s| &s.lock))?;
    let who = crate::sbom::spdx::Identity {
        profile_name: &plan.profile.name,
        seed: &plan.disk_seed,
        profile_sha256: plan.profile.sha256,
        epoch: plan.source_date_epoch,
    };
    let spdx = crate::sbom::spdx::document(&sbom, &who);
    write_known(
        out,
        &mut known,
        crate::sbom::spdx::FILE,
        &crate::artifact::json_lines(&spdx)?,
    )?;
    super::enforced::mark(&mut ctx.report, &plan.enforcement)?;
    let compliance = ctx.report.to_json();
    write_known(out, &mut known, "compliance.json", compliance.as_bytes())?;
    write_known(
        out,
        &mut known,
        "compliance.md",
        ctx.report.to_markdown().as_bytes(),
    )?;
    // The report shows the hashes known by now; it cannot show SHA256SUMS', which lists the report itself.
    let identity = crate::report::Identity {
        signer: ctx.key.public().fingerprint(),
        hashes: known
            .iter()
            .filter(|e| plan.artifacts.contains(&e.name))
            .map(|e| (e.name.clone(), e.sha256))
            .collect(),
    };
    let html = crate::report::render(&serde_json::from_str(&compliance)?, &record, &identity);
    write_known(out, &mut known, crate::report::FILE, html.as_bytes())?;
    let names: Vec<&str> = plan.artifacts.iter().map(String::as_str).collect();
    let sums = sign::sign_dir_with(out, &ctx.key, &names, &known)?;
    stages.done();
    if !ctx.keep_work {
        let work = out.join(".forja-work");
        fs_err::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    Ok(sums)
}

/// Writes an artifact that is small enough to hash from memory, and remembers its digest for `SHA256SUMS`.
fn write_known(
    out: &Path,
    known: &mut Vec<sign::sums::Entry>,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    write_atomic(out.join(name), bytes)?;
    known.push(sign::sums::Entry {
        name: name.into(),
        sha256: Sha256::of(bytes),
    });
    Ok(())
}

/// Per-stage timings on stderr (`stage: NAME: 1.2 s`, read by ci/bench-build); each stage shows a spinner on a
/// terminal (a start line otherwise) while it runs, so no part of a build is silent.
#[derive(Debug, Default)]
struct Stages(std::cell::RefCell<Option<crate::ui::Spinner>>);

impl Stages {
    /// Ends the running stage, if any, and starts `name`.
    fn begin(&self, name: &str) {
        self.done();
        *self.0.borrow_mut() = Some(crate::ui::Spinner::start(format!("stage: {name}")));
    }
    fn done(&self) {
        if let Some(s) = self.0.borrow_mut().take() {
            s.finish();
        }
    }
}
