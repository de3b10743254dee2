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

use std::ops::Range;
use std::sync::Arc;

use super::payload::{self, DriveFile, StagedNodes};
use super::share::{RootPlace, SharedRoot, SiteShare};
use crate::artifact::{OutputLock, write_atomic};
use crate::compose::{self, tree};
use crate::crypt::Seed;
use crate::disk::image::{self, Content, DiskSpec, PartitionSpec};
use crate::disk::parts::{self, DiskParts, Part};
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
    /// A site build's shared products ([`super::share`]).
    pub site: Option<Arc<SiteShare>>,
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
    let root = root_stages(plan, &ctx, &work, &stages)?;
    let cmdline = super::rootfs::cmdline(&plan.boot.kernel_cmdline, &root.images.tree.root_hash);
    stages.begin("ESP (unified kernel image), Pexip answers, node images");
    let (esp, kernel) =
        super::esp::build(plan, &root.tree, &cmdline, ctx.secure_boot.as_ref(), &work)?;
    super::esp::artifact_images(
        plan,
        &root.tree,
        &root.images.tree.root_hash,
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
    // A site's host keeps its disk as parts ([`parts`]): the whole disk is only a work file, and where the site's
    // root frame is made already, the root's partitions are left as holes in it (never written, never read).
    let in_parts = plan.artifacts.iter().any(|a| a == parts::FILE);
    let disk_path = match in_parts {
        true => work.join("disk.raw"),
        false => out.join("disk.raw"),
    };
    stages.begin(match in_parts {
        true => "disk: GPT, ESP, state, payload (the root's frame is the site's)",
        false => "disk.raw: GPT, ESP, root slots, state, payload",
    });
    let trees = Trees {
        esp,
        root: &root.images.root,
        verity: &root.images.verity,
        state: &root.state,
        payload: &payload_dir,
    };
    let site = ctx.site.clone();
    let framed = |l: &Layout| {
        in_parts
            && site
                .as_deref()
                .zip(root_place(l))
                .is_some_and(|(s, p)| s.has_frame(&p))
    };
    let layout = disk(plan, trees, &disk_path, framed)?;
    let built = Built {
        kernel,
        base_sha256: root.base_sha256,
        root_hash: root.images.tree.root_hash,
        kernel_cmdline: cmdline,
        secure_boot_db: match &ctx.secure_boot {
            Some(k) => Some(Sha256::of_file(&k.cert("db"))?),
            None => None,
        },
        layout,
    };
    artifacts(
        plan,
        ctx,
        out,
        built,
        &root.tree,
        staged.as_ref(),
        &stages,
        &disk_path,
    )
}

/// The root stages: base, compose, state split, root image and hash tree. A site's later hosts reuse what the
/// first built ([`super::share`]) and compose only their own files, after checking that their plan asks for the
/// same root.
fn root_stages(
    plan: &Plan,
    ctx: &Context,
    work: &Path,
    stages: &Stages,
) -> anyhow::Result<Arc<SharedRoot>> {
    let Some(share) = ctx.site.as_deref() else {
        return build_root(plan, ctx, work, work, stages).map(Arc::new);
    };
    let (shared, built_here) =
        share.root_or_build(|| build_root(plan, ctx, share.dir(), work, stages))?;
    if !built_here {
        stages.begin("compose: this host's own files (the site's root is built)");
        let recipe = compose_root(plan, ctx, &shared.tree, work, true)?;
        if recipe != shared.recipe {
            return Err(fail(
                Exit::Internal,
                "this host's plan puts other files into the root than the site's root was built from, and every \
                 host of a site runs one root: rebuild the whole site",
            ));
        }
    }
    Ok(shared)
}

/// Base, compose, state split, root image and hash tree, into `dir` (the host's own files into `work`).
fn build_root(
    plan: &Plan,
    ctx: &Context,
    dir: &Path,
    work: &Path,
    stages: &Stages,
) -> anyhow::Result<SharedRoot> {
    stages.begin("base: obtain and extract");
    let base = base(plan, ctx, dir)?;
    stages.begin("compose: overlays, generated files, self-check");
    let recipe = compose_root(plan, ctx, &base.root, work, false)?;
    let state = dir.join("state");
    super::rootfs::split_state(&plan.root.state, &base.root, &state)?;
    stages.begin("root image (erofs) and dm-verity tree");
    let images = super::rootfs::images(plan, &base.root, dir)?;
    Ok(SharedRoot {
        recipe,
        tree: base.root,
        state,
        images,
        base_sha256: base.sha256,
    })
}

/// What fills the disk's partitions, made by the earlier stages.
struct Trees<'a> {
    esp: FatTree,
    root: &'a Path,
    verity: &'a Path,
    state: &'a Path,
    payload: &'a Path,
}

/// The base, extracted into `dir/root`.
fn base(plan: &Plan, ctx: &Context, dir: &Path) -> anyhow::Result<BaseTree> {
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
    let root = dir.join("root");
    let sha256 = tree::extract(&tarball, &root)?;
    crate::inputs::base::check_pin(&tarball, pinned, sha256)?;
    Ok(BaseTree { root, sha256 })
}

/// Overlays, generated files (templates rendered with the secrets), edits of base files, the self-check; a site
/// host's own files into its host tree in `work`. With `reuse`, `root` is the site's, composed already: only the
/// host's own files are written. Returns the recipe of what the root gets ([`super::share::recipe`]).
fn compose_root(
    plan: &Plan,
    ctx: &Context,
    root: &Path,
    work: &Path,
    reuse: bool,
) -> anyhow::Result<Sha256> {
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
    if !reuse {
        tree::apply_overlays(&ctx.overlay_dirs, &r.overlays, root)?;
    }
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
    let recipe = match &r.host {
        Some(part) => {
            let (shared, own) = super::hostpart::split(part, &rendered);
            super::hostpart::write_own(&own, work)?;
            if !reuse {
                super::hostpart::write_shared(part, root, &shared)?;
            }
            super::share::recipe(plan, &shared)?
        }
        None => {
            if !reuse {
                tree::write_generated(root, &rendered)?;
            }
            super::share::recipe(plan, &rendered)?
        }
    };
    if !reuse {
        for e in &r.edits {
            apply_edit(root, &e.path, &e.op, ctx)?;
        }
        super::rootfs::install_update_tool(root, &r.update_tool)?;
    }
    Ok(recipe)
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

/// The disk image `dst` from the plan's partitions, filled with the products of the earlier stages; where `framed`
/// says the root's bytes are compressed already, its partitions are left as holes.
fn disk(
    plan: &Plan,
    t: Trees,
    dst: &Path,
    framed: impl FnOnce(&Layout) -> bool,
) -> anyhow::Result<Layout> {
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
    let mut spec = DiskSpec {
        disk_guid: crate::ids::guid(&plan.disk_seed, "disk"),
        epoch: plan.source_date_epoch as i64,
        partitions,
    };
    // Laid out with the root's files (which checks that they fit, and is what the disk holds) before they are
    // perhaps left out of the work file.
    let layout = image::resolve(&spec)?;
    if framed(&layout) {
        for p in &mut spec.partitions {
            if matches!(p.content, Content::Raw(_)) {
                p.content = Content::Empty;
            }
        }
    }
    image::build_laid_out(&spec, &layout, dst)?;
    Ok(layout)
}

/// Where slot A's root image and its hash tree lie on the disk: the bytes every host of a site holds alike.
fn root_place(layout: &Layout) -> Option<RootPlace> {
    let root = layout.named(&super::layout::root_name(Slot::A))?;
    let verity = layout.named(&super::layout::verity_name(Slot::A))?;
    Some([(root.offset, root.size), (verity.offset, verity.size)])
}

/// The disk's parts into `out` ([`parts`]), cut as the plan's partitions say ([`super::layout::part_runs`]): each
/// part of the host's own compressed from the work disk, the root's frame made once per site (hard-linked where
/// the site has it already), holes left out; and `disk.parts.json`. Adds each file's digest to `known`.
fn write_parts(
    plan: &Plan,
    disk: &Path,
    layout: &Layout,
    site: Option<&SiteShare>,
    out: &Path,
    known: &mut Vec<sign::sums::Entry>,
) -> anyhow::Result<()> {
    let laid: Vec<_> = plan
        .disk
        .iter()
        .map(|p| layout.named(&p.name))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            fail(
                Exit::Internal,
                "the built disk lacks a partition of the plan",
            )
        })?;
    // Runs of partitions become byte ranges: partitions must lie end to end, as the layout places them.
    let start = |i: usize| laid.get(i).map_or(0, |p| p.offset);
    let end = |i: usize| laid.get(i).map_or(0, |p| p.offset + p.size);
    if laid
        .windows(2)
        .any(|w| w[0].offset + w[0].size != w[1].offset)
    {
        return Err(fail(
            Exit::Internal,
            "the built disk's partitions do not lie end to end",
        ));
    }
    let place = root_place(layout)
        .ok_or_else(|| fail(Exit::Internal, "the built disk has no slot A root"))?;
    let runs = super::layout::part_runs(&plan.disk);
    let mut list = DiskParts {
        format: parts::FORMAT.into(),
        size: layout.disk_size,
        parts: Vec::new(),
    };
    let by_runs: Vec<(Option<&String>, Range<u64>)> = runs
        .iter()
        .enumerate()
        .map(|(i, (file, idx))| {
            let from = match (i, idx.is_empty()) {
                (0, _) => 0,
                (_, false) => start(idx.start),
                // The last part, of no partition: from the end of the last one.
                (_, true) => end(idx.start.saturating_sub(1)),
            };
            let to = match runs.get(i + 1) {
                Some((_, next)) if !next.is_empty() => start(next.start),
                Some(_) => end(idx.end - 1),
                None => layout.disk_size,
            };
            (file.as_ref(), from..to)
        })
        .collect();
    // A host's own part ends where its data does: the free space after it is a run of zeros, which costs the
    // build neither a hash nor compression. The frame keeps at least its first MiB (so its file exists, as the
    // plan lists it) and ends on a MiB boundary of the disk.
    // (file, range, zeros)
    let mut cuts: Vec<(Option<&String>, Range<u64>, bool)> = Vec::new();
    for (file, range) in by_runs {
        const MIB: u64 = 1 << 20;
        if file.is_some_and(|f| f != parts::ROOT_A && f != parts::END) {
            let data = parts::data_end(disk, range.clone())?.max(range.start + 1);
            let cut = data.div_ceil(MIB) * MIB;
            if cut + MIB <= range.end {
                cuts.push((file, range.start..cut, false));
                cuts.push((None, cut..range.end, true));
                continue;
            }
        }
        cuts.push((file, range, false));
    }
    // The host's own parts first, the root's frame last: a host that waits for another to make the frame has
    // done its own work meanwhile.
    let mut order: Vec<usize> = (0..cuts.len()).collect();
    order.sort_by_key(|&i| cuts[i].0.is_some_and(|f| f == parts::ROOT_A));
    let mut made: Vec<Option<(Sha256, Sha256)>> = vec![None; cuts.len()];
    for i in order {
        let (Some(file), range, _) = &cuts[i] else {
            continue;
        };
        let dst = out.join(file);
        let compress = || -> anyhow::Result<(Sha256, Sha256)> {
            let h = crate::compress::zstd_range_hashed(disk, range.clone(), &dst)?;
            Ok((h.output.0, h.input.0))
        };
        made[i] = Some(match (*file == parts::ROOT_A, site) {
            (true, Some(s)) => {
                // Made by the first host to get here, which has the root's bytes in its disk (see `framed`).
                let (f, new) = s.frame_or_make(place, || {
                    let (zst, raw) = compress()?;
                    Ok((dst.clone(), zst, raw))
                })?;
                if !new {
                    let _ = fs_err::remove_file(&dst);
                    fs_err::hard_link(&f.file, &dst)?;
                }
                (f.zst, f.raw)
            }
            _ => compress()?,
        });
    }
    for ((file, range, zeros), hashes) in cuts.iter().zip(made) {
        if let (Some(file), Some((zst, _))) = (file, hashes) {
            known.push(sign::sums::Entry {
                name: (*file).clone(),
                sha256: zst,
            });
        }
        list.parts.push(Part {
            file: file.cloned(),
            offset: range.start,
            len: range.end - range.start,
            raw_sha256: hashes.map(|(_, raw)| raw),
            zeros: *zeros,
        });
    }
    list.check()
        .map_err(|e| fail(Exit::Internal, format!("the disk's parts: {e}")))?;
    write_known(
        out,
        known,
        parts::FILE,
        &crate::artifact::json_lines(&list)?,
    )
}

/// Compression, `plan.json` with what was built, SBOM, compliance report, then `SHA256SUMS` and signatures.
#[allow(clippy::too_many_arguments)]
fn artifacts(
    plan: &Plan,
    mut ctx: Context,
    out: &Path,
    built: Built,
    root: &Path,
    staged: Option<&StagedNodes>,
    stages: &Stages,
    disk: &Path,
) -> anyhow::Result<sign::Sums> {
    // Compression reads and writes the largest artifacts anyway; their digests come from that pass.
    let mut known = Vec::new();
    if plan.artifacts.iter().any(|a| a == parts::FILE) {
        stages.begin("disk parts: head and tail frames, the root's once per site");
        write_parts(
            plan,
            disk,
            &built.layout,
            ctx.site.as_deref(),
            out,
            &mut known,
        )?;
    } else if plan.artifacts.iter().any(|a| a == "disk.raw.zst") {
        stages.begin("disk.raw.zst");
        let h = crate::compress::zstd_file_hashed(disk, &out.join("disk.raw.zst"))?;
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
