//! Staging: verified vendor files become qcow2 disks in an output folder, recorded in `nodes.lock`.
//!
//! One read per source. For an OVA, the file is streamed once through a hasher into the tar reader; disk members
//! are copied to hidden temporary files as they pass. Only when the whole OVA's SHA-256 equals README.TXT's entry
//! is `qemu-img` run on the extracted VMDK (so the converter never parses unverified bytes). A `.qcow2` download
//! is copied the same way, hashed on the copy. Every output is written under a hidden `.NAME.partial` name and
//! renamed only after *all* sources verified and converted; any failure leaves no staged file behind.
//!
//! The disk images are then inspected with `qemu-img info` before use: a VMDK must be a self-contained
//! streamOptimized/monolithicSparse image (no extents pointing at other files), a qcow2 must have no backing or
//! external data file, and an OVA disk's virtual size must equal the OVF's declared capacity.

use fs_err::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::lock::{NodesLock, ReadmeRef, SourceKind, StagedDisk, StagedImage, VERSION};
use super::readme::{Entry, Readme};
use super::{READ_BUF, file_name, ova};
use crate::artifact::Staged;
use crate::error::{Exit, fail};
use crate::exec::{Task, tool_version};
use crate::hashio::{HashingReader, Sha256};
use crate::ui::{Progress, ProgressReader};

/// Verifies and stages every file, then writes `OUT/nodes.lock`. The caller owns `out_dir` (creates and locks
/// it); this only writes `*.qcow2`, `nodes.lock` and hidden partial files that it removes again.
pub fn stage_all(readme: &Path, files: &[PathBuf], out_dir: &Path) -> anyhow::Result<NodesLock> {
    let readme = Readme::load(readme)?;
    if files.is_empty() {
        return Err(fail(Exit::Input, "no node image files given"));
    }
    // Refuse up front what cannot be verified or staged, before reading gigabytes.
    let mut plan = Vec::new();
    for f in files {
        let Some((_, entry)) = readme.entry_for(f) else {
            return Err(fail(
                Exit::Unverified,
                format!(
                    "{}: unverified: {} has no SHA-256 entry for {}",
                    f.display(),
                    readme.label,
                    file_name(f)
                ),
            ));
        };
        let name = file_name(f);
        let kind = if name.to_ascii_lowercase().ends_with(".ova") {
            SourceKind::Ova
        } else if name.to_ascii_lowercase().ends_with(".qcow2") {
            SourceKind::Qcow2
        } else {
            return Err(fail(
                Exit::Input,
                format!("{}: expected an .ova or .qcow2 node image", f.display()),
            ));
        };
        plan.push((f, entry, kind));
    }
    let qemu_img = tool_version("qemu-img", "--version")?;

    let mut images = Vec::new();
    let mut outputs: Vec<Staged> = Vec::new();
    for (path, entry, kind) in plan {
        let (image, staged) = match kind {
            SourceKind::Ova => stage_ova(&readme, path, entry, out_dir)?,
            SourceKind::Qcow2 => stage_qcow2(&readme, path, entry, out_dir)?,
        };
        for s in &staged {
            if outputs.iter().any(|o| o.target() == s.target()) {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "two sources would both be staged as {}",
                        s.target().display()
                    ),
                ));
            }
        }
        images.push(image);
        outputs.extend(staged);
    }
    images.sort_by(|a, b| a.source.cmp(&b.source));
    let lock = NodesLock {
        version: VERSION,
        readme: ReadmeRef {
            name: file_name(Path::new(&readme.label)),
            sha256: readme.sha256,
        },
        qemu_img,
        images,
    };
    for o in outputs {
        o.commit()?;
    }
    lock.write(out_dir)?;
    Ok(lock)
}

fn mismatch(readme: &Readme, path: &Path, entry: Entry, actual: Sha256) -> anyhow::Error {
    fail(
        Exit::HashMismatch,
        format!(
            "{}: SHA-256 mismatch: {}:{} expects {}, the file has {actual}",
            path.display(),
            readme.label,
            entry.line,
            entry.sha256
        ),
    )
}

/// A vendor image, opened as a regular file (never a FIFO or device, whose length means nothing).
fn open(path: &Path) -> anyhow::Result<(File, u64)> {
    let f = crate::inbound::open_regular(path)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((File::from_parts(f, path), len))
}

/// Copies `r` into `w` with a large reused buffer.
fn copy_big(r: &mut dyn Read, w: &mut dyn Write, buf: &mut [u8]) -> anyhow::Result<u64> {
    let mut n = 0u64;
    loop {
        let got = match r.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(crate::error::from_io(e)),
        };
        w.write_all(&buf[..got])?;
        n += got as u64;
    }
}

fn stage_ova(
    readme: &Readme,
    path: &Path,
    entry: Entry,
    out_dir: &Path,
) -> anyhow::Result<(StagedImage, Vec<Staged>)> {
    let name = file_name(path);
    let stem = name[..name.len() - ".ova".len()].to_owned();
    let (file, len) = open(path)?;
    let progress = Progress::bytes(format!("verifying {name}"), len);
    let mut stream = BufReader::with_capacity(
        READ_BUF,
        HashingReader::new(ProgressReader::new(file, &progress)),
    );
    let mut buf = vec![0u8; READ_BUF];
    let mut extracted: Vec<(super::ovf::Disk, Staged)> = Vec::new();
    let parsed = ova::read(&mut stream, &name, |disk, data| {
        if !disk.is_vmdk() {
            return Err(fail(
                Exit::BadArchive,
                format!(
                    "{name}: disk {} has format {:?}; only VMDK disks are supported",
                    disk.id, disk.format
                ),
            ));
        }
        // Named by position, never by the (not yet verified) OVF's disk id, which could hold `/` or `..`.
        let mut tmp =
            Staged::create(out_dir.join(format!("{stem}.disk{}.vmdk", extracted.len() + 1)))?;
        copy_big(data, &mut tmp, &mut buf)
            .with_context(|| format!("extracting {} from {name}", disk.id))?;
        extracted.push((disk.clone(), tmp));
        Ok(())
    });
    // Finish the hash over the whole file even when parsing stopped early: README.TXT decides first whether
    // this is the vendor's file at all (a flipped byte is a mismatch, not a "corrupt archive").
    io::copy(&mut stream, &mut io::sink())
        .with_context(|| format!("reading {}", path.display()))?;
    let (actual, bytes) = stream.into_inner().finish();
    if actual != entry.sha256 {
        progress.finish("SHA-256 mismatch");
        let err = mismatch(readme, path, entry, actual);
        return Err(match parsed {
            Err(p) => err.context(format!("(the archive was also unreadable: {p:#})")),
            Ok(_) => err,
        });
    }
    let facts = parsed?;
    progress.finish(format!("verified ({}:{})", readme.label, entry.line));

    let mut staged = Vec::new();
    let mut disks = Vec::new();
    let single = extracted.len() == 1;
    for (index, (disk, tmp)) in extracted.iter().enumerate() {
        let info = qemu_info(tmp.partial_path(), "vmdk")?;
        check_vmdk(&name, &disk.id, tmp.partial_path(), &info)?;
        let vsize = virtual_size(&info)?;
        if vsize != disk.capacity_bytes {
            return Err(fail(
                Exit::BadArchive,
                format!(
                    "{name}: disk {} has a virtual size of {vsize} bytes, the OVF declares {}",
                    disk.id, disk.capacity_bytes
                ),
            ));
        }
        let out_name = if single {
            format!("{stem}.qcow2")
        } else {
            format!("{stem}-disk{}.qcow2", index + 1)
        };
        let out = Staged::create(out_dir.join(&out_name))?;
        Task::new(
            format!("converting {} from {name} to qcow2", disk.id),
            "qemu-img",
        )
        .args(["convert", "-f", "vmdk", "-O", "qcow2", "-o", "compat=1.1"])
        .arg(tmp.partial_path())
        .arg(out.partial_path())
        .run()?;
        let (disk_facts, _) = finish_qcow2(&out_name, &out, None)?;
        disks.push(StagedDisk {
            from_member: disk.href.clone(),
            ..disk_facts
        });
        staged.push(out);
    }
    drop(extracted);
    Ok((
        StagedImage {
            source: name,
            kind: SourceKind::Ova,
            sha256: actual,
            bytes,
            readme_line: entry.line,
            ova: Some(facts),
            staged: disks,
        },
        staged,
    ))
}

fn stage_qcow2(
    readme: &Readme,
    path: &Path,
    entry: Entry,
    out_dir: &Path,
) -> anyhow::Result<(StagedImage, Vec<Staged>)> {
    let name = file_name(path);
    let target = out_dir.join(&name);
    if let (Ok(a), Ok(b)) = (path.canonicalize(), target.canonicalize()) {
        if a == b {
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: the output folder must differ from the download folder",
                    path.display()
                ),
            ));
        }
    }
    let (file, len) = open(path)?;
    let progress = Progress::bytes(format!("verifying {name}"), len);
    let mut src = HashingReader::new(ProgressReader::new(file, &progress));
    let mut out = Staged::create(&target)?;
    let mut buf = vec![0u8; READ_BUF];
    copy_big(&mut src, &mut out, &mut buf)
        .with_context(|| format!("copying {}", path.display()))?;
    let (actual, bytes) = src.finish();
    if actual != entry.sha256 {
        progress.finish("SHA-256 mismatch");
        return Err(mismatch(readme, path, entry, actual));
    }
    progress.finish(format!("verified ({}:{})", readme.label, entry.line));
    out.flush()?;
    let (disk, info) = finish_qcow2(&name, &out, Some((actual, bytes)))?;
    let data = &info["format-specific"]["data"];
    if info.get("backing-filename").is_some() || data.get("data-file").is_some() {
        return Err(fail(
            Exit::BadArchive,
            format!(
                "{name}: a qcow2 with a backing or external data file is refused (it would read other files)"
            ),
        ));
    }
    Ok((
        StagedImage {
            source: name,
            kind: SourceKind::Qcow2,
            sha256: actual,
            bytes,
            readme_line: entry.line,
            ova: None,
            staged: vec![disk],
        },
        vec![out],
    ))
}

/// Checks a staged qcow2 with `qemu-img check` and records its hash and virtual size. `copied` is the digest and
/// length of the bytes this process wrote to it, when it wrote them itself (`qemu-img check` without `-r` leaves
/// the file as it is); a file written by `qemu-img convert` is hashed here.
fn finish_qcow2(
    out_name: &str,
    out: &Staged,
    copied: Option<(Sha256, u64)>,
) -> anyhow::Result<(StagedDisk, serde_json::Value)> {
    let p = out.partial_path();
    Task::new(format!("checking staged {out_name}"), "qemu-img")
        .args(["check", "-f", "qcow2"])
        .arg(p)
        .run()?;
    let info = qemu_info(p, "qcow2")?;
    let (sha256, bytes) = match copied {
        Some(known) => known,
        None => (
            Sha256::of_file(p).with_context(|| format!("hashing {}", p.display()))?,
            fs_err::metadata(p)?.len(),
        ),
    };
    Ok((
        StagedDisk {
            file: out_name.to_owned(),
            sha256,
            bytes,
            virtual_size: virtual_size(&info)?,
            from_member: None,
        },
        info,
    ))
}

fn qemu_info(path: &Path, format: &str) -> anyhow::Result<serde_json::Value> {
    let out = Task::new(format!("inspecting {}", path.display()), "qemu-img")
        .args(["info", "-f", format, "--output=json"])
        .arg(path)
        .run()?;
    serde_json::from_slice(&out.stdout).context("reading qemu-img info output")
}

fn virtual_size(info: &serde_json::Value) -> anyhow::Result<u64> {
    info["virtual-size"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("qemu-img info gave no virtual-size"))
}

/// A VMDK must carry its data itself: a descriptor whose extents name other files would make qemu-img read them.
fn check_vmdk(ova: &str, disk: &str, path: &Path, info: &serde_json::Value) -> anyhow::Result<()> {
    let data = &info["format-specific"]["data"];
    let create_type = data["create-type"].as_str().unwrap_or("");
    if !matches!(create_type, "streamOptimized" | "monolithicSparse") {
        return Err(fail(
            Exit::BadArchive,
            format!(
                "{ova}: disk {disk} is a {create_type:?} VMDK; expected a self-contained streamOptimized one"
            ),
        ));
    }
    let own = path.to_string_lossy();
    let extents = data["extents"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if extents.is_empty()
        || extents
            .iter()
            .any(|e| e["filename"].as_str() != Some(own.as_ref()))
    {
        return Err(fail(
            Exit::BadArchive,
            format!("{ova}: disk {disk} refers to data outside its own file"),
        ));
    }
    Ok(())
}
