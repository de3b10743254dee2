//! `forja bundle`: a signed update bundle made from a verified build.
//!
//! The bundle is a tar (GNU headers, numeric owner 0, mode 0644, mtime = the build's epoch) whose members come in
//! a fixed order: `manifest.json`, `manifest.json.sig` (signify, detached, by the build's key), `root.verity`
//! (slot A's dm-verity tree, superblock first), `root.erofs` (slot A's root image, exactly the blocks the tree
//! covers), `forja-a.efi` and `forja-b.efi` (the slots' signed unified kernel images: slot A's from the build's
//! ESP, slot B's from the build folder, each checked against the verified build). The manifest comes first so a
//! reader checks the signature before any image, then the tree, so every 4 KiB block of the root is checked
//! against it as it streams past ([`super::apply`]); nothing needs unpacking. Same build and key ⇒ byte-identical
//! bundle (ed25519 is deterministic, the tar headers carry nothing from the clock).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::manifest::{self, Image, Manifest, Salt, SlotImages, VerityImage};
use crate::artifact::Staged;
use crate::error::{Exit, fail};
use crate::fs::verity;
use crate::hashio::{HashingReader, Sha256};
use crate::plan::{Plan, disk::Slot};
use crate::sign::{self, SigningKey};

/// The bundle's file name for a version.
pub fn file_name(version: u64) -> String {
    format!("forja-update-{version}.bundle")
}

/// What `forja bundle` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub path: PathBuf,
    pub sha256: Sha256,
    pub size: u64,
    pub manifest: Manifest,
}

/// Where the slot's pieces are inside the build's `disk.raw`.
struct Sources {
    disk: File,
    root_offset: u64,
    verity_offset: u64,
    /// Slot A's and slot B's images, copied into the work folder.
    ukis: [PathBuf; 2],
}

/// Verifies `build_dir` with `key`'s public half and writes `out/forja-update-VERSION.bundle`. (Over 80 lines: the
/// manifest is one struct literal, read top to bottom against the format in the README.)
pub fn make(build_dir: &Path, key: &SigningKey, out: &Path) -> anyhow::Result<Written> {
    crate::artifact::create_out_dir(out, "the bundle folder")?;
    let work = tempfile::Builder::new()
        .prefix(".forja-bundle-")
        .tempdir_in(out)?;
    let facts = crate::media::build::read_build(build_dir, key, work.path())?;
    let plan = Plan::load(&build_dir.join("plan.json"))?;
    let built = plan.built()?;
    let part = |name: String| {
        built.layout.named(&name).cloned().ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{}/plan.json: the built disk has no {name}",
                    build_dir.display()
                ),
            )
        })
    };
    let root = part(super::gpt::root_name(Slot::A))?;
    let vpart = part(super::gpt::verity_name(Slot::A))?;
    // A site host's disk is kept as parts: its head (the ESP) and root are decompressed into the work folder.
    let disk_path = facts.disk(
        work.path(),
        &[crate::disk::parts::HEAD, crate::disk::parts::ROOT_A],
    )?;
    let disk = File::open(&disk_path).context("opening the build's disk")?;
    let sb = superblock(&disk, vpart.offset)?;
    let root_size = sb.data_blocks * verity::BLOCK;
    let verity_size = verity::hash_size(root_size);
    if root_size > root.size || verity_size > vpart.size {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: slot A's verity superblock describes {root_size} bytes, more than its partitions hold",
                build_dir.display()
            ),
        ));
    }
    let uki_a = slot_a_image(&disk_path, &facts, work.path())?;
    let uki_b = slot_b_image(build_dir, &plan, &facts.verified, work.path())?;
    let src = Sources {
        disk,
        root_offset: root.offset,
        verity_offset: vpart.offset,
        ukis: [uki_a, uki_b],
    };
    let root_sha = hash_region(&src.disk, src.root_offset, root_size)?;
    let verity_sha = tree_checked(&src.disk, src.verity_offset, &sb, &built.root_hash)?;
    let image = |p: &Path| -> anyhow::Result<Image> {
        Ok(Image {
            size: std::fs::metadata(p)?.len(),
            sha256: Sha256::of_file(p)?,
        })
    };
    let m = Manifest {
        format: manifest::FORMAT.into(),
        version: plan.source_date_epoch,
        build_id: Sha256::of(&std::fs::read(build_dir.join(sign::SUMS))?),
        profile: plan.profile.name.clone(),
        boot_tries: plan.update.boot_tries,
        root: Image {
            size: root_size,
            sha256: root_sha,
        },
        verity: VerityImage {
            size: verity_size,
            sha256: verity_sha,
            root_hash: built.root_hash,
            salt: Salt(sb.salt),
            data_block_size: verity::BLOCK,
            hash_block_size: verity::BLOCK,
        },
        uki: SlotImages {
            a: image(&src.ukis[0])?,
            b: image(&src.ukis[1])?,
        },
    };
    let path = out.join(file_name(m.version));
    let mut staged = Staged::create(&path)?;
    write_tar(staged.file(), &m, key, &src, plan.source_date_epoch)?;
    let size = staged.file().stream_position()?;
    let path = staged.commit()?;
    let sha256 = Sha256::of_file(&path)?;
    Ok(Written {
        path,
        sha256,
        size,
        manifest: m,
    })
}

/// Slot A's image, copied off the ESP of the build's (verified) disk into `work`.
fn slot_a_image(
    disk: &Path,
    facts: &crate::media::build::BuildFacts,
    work: &Path,
) -> anyhow::Result<PathBuf> {
    let dst = work.join(manifest::uki(Slot::A));
    crate::exec::Task::new("reading slot A's image from the build's ESP", "mcopy")
        .args(["-n", "-i"])
        .arg(format!("{}@@{}", disk.display(), facts.esp_offset))
        .arg(format!("::{}", facts.uki))
        .arg(&dst)
        .run()?;
    Ok(dst)
}

/// Slot B's image from the build folder, copied into `work` and checked there against the digest the build's
/// signed `SHA256SUMS` gave it (verified moments ago, but the folder may change in between).
fn slot_b_image(
    build_dir: &Path,
    plan: &Plan,
    verified: &[sign::sums::Entry],
    work: &Path,
) -> anyhow::Result<PathBuf> {
    let name = manifest::uki(Slot::B);
    let listed = plan
        .boot
        .artifact_images
        .iter()
        .any(|i| i.slot == Slot::B && i.artifact == name);
    let want = verified.iter().find(|e| e.name == name);
    let (true, Some(want)) = (listed, want) else {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: the build has no {name} (slot B's image; built by forja since bundle format 2): rebuild it",
                build_dir.display()
            ),
        ));
    };
    let dst = work.join(name);
    std::fs::copy(build_dir.join(name), &dst).with_context(|| format!("copying {name}"))?;
    if Sha256::of_file(&dst)? != want.sha256 {
        return Err(fail(
            Exit::HashMismatch,
            format!(
                "{}/{name} changed since the build was verified",
                build_dir.display()
            ),
        ));
    }
    Ok(dst)
}

/// The verity superblock at `offset`: the tree's own record of what it covers and with which salt.
fn superblock(disk: &File, offset: u64) -> anyhow::Result<verity::Superblock> {
    let mut sb = [0u8; 512];
    disk.read_exact_at(&mut sb, offset)?;
    verity::read_superblock(&sb).map_err(|e| {
        fail(
            Exit::Input,
            format!("the build's root-a-verity partition: {e}"),
        )
    })
}

/// The tree's SHA-256, after proving it hashes up to the build's root hash (what apply will check first): a
/// bundle never carries a tree the kernel would refuse.
fn tree_checked(
    disk: &File,
    offset: u64,
    sb: &verity::Superblock,
    root_hash: &Sha256,
) -> anyhow::Result<Sha256> {
    let mut area = vec![0u8; verity::hash_size(sb.data_blocks * verity::BLOCK) as usize];
    disk.read_exact_at(&mut area, offset)?;
    verity::check_tree(&area, sb.data_blocks, &sb.salt, root_hash).map_err(|e| {
        fail(
            Exit::HashMismatch,
            format!("the build's root-a-verity does not match its plan's root hash: {e}"),
        )
    })?;
    Ok(Sha256::of(&area))
}

/// The SHA-256 of `len` bytes at `offset`, through the same [`HashingReader`] every other read-and-hash uses.
fn hash_region(mut f: &File, offset: u64, len: u64) -> anyhow::Result<Sha256> {
    f.seek(SeekFrom::Start(offset))?;
    let mut r = HashingReader::new(f.take(len));
    std::io::copy(&mut r, &mut std::io::sink())?;
    let (sha, n) = r.finish();
    if n != len {
        return Err(fail(
            Exit::Input,
            format!(
                "the build's disk.raw ends {} bytes short of its root image",
                len - n
            ),
        ));
    }
    Ok(sha)
}

fn header(name: &str, size: u64, epoch: u64) -> anyhow::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(epoch);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

fn write_tar(
    out: &mut fs_err::File,
    m: &Manifest,
    key: &SigningKey,
    src: &Sources,
    epoch: u64,
) -> anyhow::Result<()> {
    let manifest = m.to_bytes();
    let sig = sign::signify::sign_detached(key, &manifest, "verify with forja.pub");
    let mut t = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, out));
    t.append(
        &header(manifest::MANIFEST, manifest.len() as u64, epoch)?,
        &manifest[..],
    )?;
    t.append(
        &header(manifest::SIGNATURE, sig.len() as u64, epoch)?,
        &sig[..],
    )?;
    for (name, offset, image) in [
        (manifest::VERITY, src.verity_offset, m.verity.size),
        (manifest::ROOT, src.root_offset, m.root.size),
    ] {
        let mut d = &src.disk;
        d.seek(SeekFrom::Start(offset))?;
        // Hashed again while copied: the disk must not change between the manifest and the copy.
        let mut r = HashingReader::new(d.take(image));
        t.append(&header(name, image, epoch)?, &mut r)?;
        let want = if name == manifest::ROOT {
            m.root.sha256
        } else {
            m.verity.sha256
        };
        if r.finish().0 != want {
            return Err(fail(
                Exit::HashMismatch,
                format!("{name} changed while the bundle was written"),
            ));
        }
    }
    for (slot, path) in [Slot::A, Slot::B].into_iter().zip(&src.ukis) {
        let image = m.uki.of(slot);
        let mut r = HashingReader::new(File::open(path)?.take(image.size));
        t.append(&header(manifest::uki(slot), image.size, epoch)?, &mut r)?;
        if r.finish().0 != image.sha256 {
            return Err(fail(
                Exit::HashMismatch,
                format!(
                    "{} changed while the bundle was written",
                    manifest::uki(slot)
                ),
            ));
        }
    }
    let mut w = t.into_inner()?;
    w.flush()?;
    Ok(())
}
