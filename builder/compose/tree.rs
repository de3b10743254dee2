//! The root filesystem tree: the base tarball extracted, then the overlay files, then the generated files.
//!
//! Extraction uses GNU tar (numeric owners, xattrs such as file capabilities, device nodes) because it is the
//! reference implementation for the format mmdebstrap writes. Everything forja adds is written with explicit
//! modes, root-owned, and every mtime is clamped to SOURCE_DATE_EPOCH so the filesystem builder sees a tree
//! that does not depend on when it was made.

use fs_err as fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{GenFile, GenKind};
use crate::error::{Exit, fail};
use crate::exec::Task;
use crate::hashio::{HashingReader, Sha256};
use crate::plan::files::{Mode, OverlayFile};

/// Extracts the base tarball into `dir` (which must be empty or absent) and returns the tarball's SHA-256,
/// computed on the same read that feeds tar: the base (hundreds of MB) is read once.
pub fn extract(tarball: &Path, dir: &Path) -> anyhow::Result<Sha256> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    let file = crate::inbound::open_regular(tarball)?;
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

/// The host path of `image_path` under `root` for writing, refused when the part of it that already exists
/// leads out of the tree: a link in the base (or one written earlier) that points at an absolute host path
/// would otherwise make forja write into the build machine. With `leaf`, the file itself is judged too (an
/// edit reads and rewrites it in place); without, it is replaced, never followed.
pub fn confined(root: &Path, image_path: &str, leaf: bool) -> anyhow::Result<PathBuf> {
    let dst = host_path(root, image_path);
    let top = fs::canonicalize(root)?;
    let mut existing = if leaf {
        Some(dst.as_path())
    } else {
        dst.parent()
    };
    while let Some(p) = existing {
        if p.symlink_metadata().is_ok() {
            break;
        }
        existing = p.parent();
    }
    let Some(existing) = existing else {
        return Ok(dst);
    };
    let real = fs::canonicalize(existing)?;
    if real.starts_with(&top) {
        Ok(dst)
    } else {
        Err(fail(
            Exit::BadArchive,
            format!(
                "{image_path}: {} in the image tree leads to {} on the build machine; nothing is written through it",
                existing.display(),
                real.display()
            ),
        ))
    }
}

/// Lists an overlay tree as the plan shows it: every file with its mode and SHA-256, every symlink with its
/// target, sorted by image path. Overlays are reviewed like code: only the executable bit comes from git.
pub fn list_overlay(dir: &Path, layer: usize) -> anyhow::Result<Vec<OverlayFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let ft = e.file_type()?;
            let rel = e.path().strip_prefix(dir)?.display().to_string();
            let path = format!("/{rel}");
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_symlink() {
                let target = fs::read_link(e.path())?.display().to_string();
                out.push(OverlayFile {
                    path,
                    layer,
                    mode: Mode(0o777),
                    sha256: None,
                    symlink: Some(target),
                });
            } else if ft.is_file() {
                let mode = e.metadata()?.permissions().mode();
                out.push(OverlayFile {
                    path,
                    layer,
                    mode: Mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 }),
                    sha256: Some(Sha256::of_file(&e.path())?),
                    symlink: None,
                });
            } else {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{}: overlays hold only files, folders and symlinks",
                        e.path().display()
                    ),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Copies the planned overlay files onto `root`, from `layers[file.layer]`, each checked against the SHA-256
/// the plan recorded: a plan made from another overlay tree is refused, not built.
pub fn apply_overlays(
    layers: &[PathBuf],
    files: &[OverlayFile],
    root: &Path,
) -> anyhow::Result<()> {
    for f in files {
        let base = layers.get(f.layer).ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{}: the plan names overlay layer {} that the build was not given",
                    f.path, f.layer
                ),
            )
        })?;
        let src = host_path(base, &f.path);
        let dst = confined(root, &f.path, false)?;
        if let Some(p) = dst.parent() {
            fs::create_dir_all(p)?;
        }
        if dst.symlink_metadata().is_ok() && !dst.is_dir() {
            fs::remove_file(&dst).with_context(|| format!("replacing {}", dst.display()))?;
        }
        match (&f.symlink, f.sha256) {
            (Some(target), _) => symlink(target, &dst)?,
            (None, Some(want)) => {
                let bytes = crate::inbound::read_capped(&src, MAX_OVERLAY_FILE)?;
                let got = Sha256::of(&bytes);
                if got != want {
                    return Err(fail(
                        Exit::HashMismatch,
                        format!("{}: SHA-256 is {got}, the plan says {want}", src.display()),
                    ));
                }
                fs::write(&dst, &bytes).with_context(|| format!("writing {}", dst.display()))?;
                fs::set_permissions(&dst, std::fs::Permissions::from_mode(f.mode.0))?;
            }
            (None, None) => {
                return Err(fail(
                    Exit::Input,
                    format!("{}: an overlay entry needs a sha256 or a symlink", f.path),
                ));
            }
        }
    }
    Ok(())
}

/// Overlay files are scripts and units: anything this large is not one.
const MAX_OVERLAY_FILE: u64 = 16 << 20;

/// Writes generated files (already rendered: `(file, text)`, text `None` for links and removals) into the tree.
pub fn write_generated(root: &Path, files: &[(&GenFile, Option<String>)]) -> anyhow::Result<()> {
    for (f, text) in files {
        let dst = confined(root, &f.path, false)?;
        if let Some(p) = dst.parent() {
            fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
        }
        if dst.symlink_metadata().is_ok() {
            fs::remove_file(&dst).with_context(|| format!("replacing {}", dst.display()))?;
        }
        match (&f.kind, text) {
            (GenKind::Symlink(target), _) => symlink(target, &dst)?,
            (GenKind::Absent, _) => {}
            (_, Some(text)) => {
                fs::write(&dst, text).with_context(|| format!("writing {}", dst.display()))?;
                fs::set_permissions(&dst, std::fs::Permissions::from_mode(f.mode))?;
            }
            (_, None) => {
                return Err(fail(Exit::Internal, format!("{}: not rendered", f.path)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn nothing_is_written_through_a_link_that_leaves_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let host = d.path().join("host");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::create_dir_all(&host).unwrap();
        symlink(&host, root.join("etc/ssl")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink(host.join("shadow"), root.join("etc/shadow")).unwrap();
        // Inside: a relative link that stays in the tree, and a path not made yet.
        assert!(confined(&root, "/lib/systemd/system/x.service", false).is_ok());
        assert!(confined(&root, "/usr/share/forja/new/file", false).is_ok());
        // Outside: a folder link to the build machine, and (for edits) a file link.
        let err = confined(&root, "/etc/ssl/forja/syslog-ca.pem", false).unwrap_err();
        assert_eq!(exit_of(&err), Exit::BadArchive);
        assert!(format!("{err}").contains("leads to"), "{err}");
        fs::write(host.join("shadow"), "host secrets").unwrap();
        assert!(confined(&root, "/etc/shadow", true).is_err());
        // A file that is itself a link is replaced, not followed, when written.
        assert!(confined(&root, "/etc/shadow", false).is_ok());
        let f = GenFile::text("/etc/ssl/forja/ca.pem", 0o644, "x", &[]);
        assert!(write_generated(&root, &[(&f, Some("x".into()))]).is_err());
        assert!(!host.join("forja").exists(), "written through the link");
    }
}
