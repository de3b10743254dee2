//! The root filesystem tree: the base tarball extracted, then `overlays/`, then the generated files.
//!
//! Extraction uses GNU tar (numeric owners, xattrs such as file capabilities, device nodes) because it is the
//! reference implementation for the format mmdebstrap writes. Everything forja adds is written with explicit
//! modes, root-owned, and every mtime is clamped to SOURCE_DATE_EPOCH so the filesystem builder sees a tree
//! that does not depend on when it was made.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{GenFile, GenKind};
use crate::exec::Task;
use crate::hashio::{HashingReader, Sha256};

/// Extracts the base tarball into `dir` (which must be empty or absent) and returns the tarball's SHA-256,
/// computed on the same read that feeds tar: the base (hundreds of MB) is read once.
pub fn extract(tarball: &Path, dir: &Path) -> anyhow::Result<Sha256> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    let file = fs::File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let mut reader = HashingReader::new(std::io::BufReader::with_capacity(1 << 20, file));
    Task::new("extracting the Debian base", "tar")
        .args([
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-xpf",
            "-",
        ])
        .arg("-C")
        .arg(dir)
        .run_streaming(&mut reader)?;
    Ok(reader.finish().0)
}

/// Inside-the-image path → host path under `root`.
pub fn host_path(root: &Path, image_path: &str) -> PathBuf {
    root.join(image_path.trim_start_matches('/'))
}

/// Copies a static overlay tree (files, dirs, symlinks) onto `root`, keeping modes, owned by root.
pub fn apply_overlay(overlay: &Path, root: &Path) -> anyhow::Result<Vec<String>> {
    let mut placed = Vec::new();
    let mut stack = vec![overlay.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let src = e.path();
            let rel = src.strip_prefix(overlay).expect("under overlay");
            let dst = root.join(rel);
            let ft = e.file_type()?;
            if ft.is_dir() {
                fs::create_dir_all(&dst)?;
                stack.push(src);
            } else if ft.is_symlink() {
                let target = fs::read_link(&src)?;
                let _ = fs::remove_file(&dst);
                symlink(target, &dst)?;
                placed.push(format!("/{}", rel.display()));
            } else {
                if let Some(p) = dst.parent() {
                    fs::create_dir_all(p)?;
                }
                fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
                let mode = fs::metadata(&src)?.permissions().mode() & 0o7777;
                // Overlays are reviewed like code: only the executable bit comes from git.
                let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                fs::set_permissions(&dst, fs::Permissions::from_mode(mode))?;
                placed.push(format!("/{}", rel.display()));
            }
        }
    }
    placed.sort();
    Ok(placed)
}

/// Writes the generated files into the tree.
pub fn write_generated(root: &Path, files: &[GenFile]) -> anyhow::Result<()> {
    for f in files {
        let dst = host_path(root, &f.path);
        if let Some(p) = dst.parent() {
            fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
        }
        if dst.symlink_metadata().is_ok() {
            fs::remove_file(&dst).with_context(|| format!("replacing {}", dst.display()))?;
        }
        match &f.kind {
            GenKind::File(bytes) => {
                fs::write(&dst, bytes).with_context(|| format!("writing {}", dst.display()))?;
                fs::set_permissions(&dst, fs::Permissions::from_mode(f.mode))?;
            }
            GenKind::Symlink(target) => symlink(target, &dst)?,
            GenKind::Absent => {}
        }
    }
    Ok(())
}
