//! The Debian base root filesystem: `mmdebstrap` with `SOURCE_DATE_EPOCH`, cached by the hash of its inputs.
//!
//! mmdebstrap runs with the profile's `base.source-date-epoch` (not an overriding SOURCE_DATE_EPOCH: the image's
//! epoch clamps every time again when the tree is composed).
//!
//! The cache key covers everything that decides the tarball's content (suite, mirror, package list, epoch,
//! mmdebstrap version), so a rebuild reuses the tarball without downloading again. A builder that is offline
//! itself gives a prebuilt tarball with a pinned SHA-256 (`base.tarball`) instead; forja hashes it before use.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::cache::{Cache, Origin};
use crate::error::{Exit, fail};
use crate::exec::{Task, tool_version};
use crate::hashio::Sha256;
use crate::inbound::InputRoots;
use crate::plan::{BaseSource, InitramfsFile};
use crate::profile::Loaded;

/// mmdebstrap's arguments. `hooks` are (source on the build host, folder in the image) of the initramfs-tools
/// hook files: copied in, then the initrd is made again with them, inside mmdebstrap's chroot (reproducible with
/// SOURCE_DATE_EPOCH), so the cached base already boots a verity root.
fn mmdebstrap_args(
    suite: &str,
    mirror: &str,
    packages: &[String],
    hooks: &[(String, String)],
    out: &Path,
) -> Vec<String> {
    let mut a = vec![
        "--quiet".into(),
        "--mode=root".into(),
        "--variant=minbase".into(),
        format!("--include={}", packages.join(",")),
    ];
    for (src, dir) in hooks {
        a.push(format!("--customize-hook=copy-in {src} {dir}"));
    }
    if !hooks.is_empty() {
        a.push("--customize-hook=chroot \"$1\" update-initramfs -u -k all".into());
    }
    // The profile's values are typed (never starting with `-`), and `--` ends the options anyway.
    a.extend([
        "--".into(),
        suite.into(),
        out.display().to_string(),
        mirror.into(),
    ]);
    a
}

/// The initramfs-tools files of forja's overlay (`/etc/initramfs-tools/...`): the verity and state scripts the
/// initrd must carry. Listed from the overlay's plan entries, each with its hash (part of the base's cache key).
pub fn initramfs_files(overlays: &[crate::plan::OverlayFile]) -> Vec<InitramfsFile> {
    overlays
        .iter()
        .filter(|f| f.layer == 0 && f.path.starts_with("/etc/initramfs-tools/"))
        .filter_map(|f| {
            f.sha256.map(|sha256| InitramfsFile {
                path: f.path.clone(),
                sha256,
            })
        })
        .collect()
}

/// (source on the build host, folder in the image) of each initramfs file, each checked against its hash.
fn hook_sources(files: &[InitramfsFile], overlay: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for f in files {
        let src = overlay.join(f.path.trim_start_matches('/'));
        let got = Sha256::of_file(&src).with_context(|| format!("reading {}", src.display()))?;
        if got != f.sha256 {
            return Err(fail(
                Exit::HashMismatch,
                format!(
                    "{}: SHA-256 is {got}, the plan says {}",
                    src.display(),
                    f.sha256
                ),
            ));
        }
        let dir = Path::new(&f.path)
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "/".into());
        out.push((src.display().to_string(), dir));
    }
    Ok(out)
}

/// Resolves where the base comes from. `mmdebstrap_version` is the builder's (it decides the cache key); the
/// caller asks the tool, and tests pass a fixed one so their golden plans do not depend on the machine.
pub fn resolve(
    l: &Loaded,
    packages: Vec<String>,
    initramfs: Vec<InitramfsFile>,
    epoch: u64,
    mmdebstrap_version: &str,
) -> BaseSource {
    let b = &l.profile.base;
    if let Some(t) = &b.tarball {
        return BaseSource::Tarball {
            path: t.path.clone(),
            sha256: t.sha256,
        };
    }
    let mut key_text = format!(
        "suite={}\nmirror={}\npackages={}\nepoch={epoch}\nversion={mmdebstrap_version}\n",
        b.suite,
        b.mirror,
        packages.join(",")
    );
    for f in &initramfs {
        key_text.push_str(&format!("initramfs={} {}\n", f.path, f.sha256));
    }
    let shown: Vec<(String, String)> = initramfs
        .iter()
        .map(|f| {
            let dir = Path::new(&f.path).parent().unwrap_or(Path::new("/"));
            (format!("overlays{}", f.path), dir.display().to_string())
        })
        .collect();
    let cache_key = Sha256::of(key_text.as_bytes());
    let command = format!(
        "SOURCE_DATE_EPOCH={epoch} mmdebstrap {}",
        mmdebstrap_args(
            &b.suite,
            &b.mirror,
            &packages,
            &shown,
            Path::new("<cache>/base.tar")
        )
        .join(" ")
    );
    BaseSource::Mmdebstrap {
        suite: b.suite.clone(),
        mirror: b.mirror.clone(),
        packages,
        initramfs,
        epoch,
        cache_key,
        mmdebstrap_version: mmdebstrap_version.to_owned(),
        command,
    }
}

/// The installed mmdebstrap's version line, or a note that it is missing (a plan can still be printed).
pub fn mmdebstrap_version() -> String {
    tool_version("mmdebstrap", "--version").unwrap_or_else(|_| "mmdebstrap (not installed)".into())
}

/// Makes sure the base tarball exists (building it if needed) and returns its path, with the SHA-256 the profile
/// pins for a prebuilt tarball. The hash itself is taken while the tarball is extracted (one read), and
/// [`check_pin`] refuses a mismatch before the tree is used.
pub fn obtain(
    src: &BaseSource,
    inputs: &InputRoots,
    overlay: &Path,
    cache: &Cache,
) -> anyhow::Result<(PathBuf, Option<Sha256>)> {
    match src {
        BaseSource::Tarball { path, sha256 } => {
            let path = inputs.resolve("base.tarball.path", path)?;
            Ok((path, Some(*sha256)))
        }
        BaseSource::Mmdebstrap {
            suite,
            mirror,
            packages,
            initramfs,
            cache_key,
            epoch,
            mmdebstrap_version,
            ..
        } => {
            cache.create()?;
            let dir = &cache.dir;
            let key16 = &cache_key.hex()[..16];
            let path = cache.tarball(key16);
            if path.exists() {
                log::info!("base: {} (cached)", path.display());
                cache.touch(&path);
            } else {
                log::info!(
                    "building the Debian base with mmdebstrap into {} (a few minutes; cached for later builds)",
                    dir.display()
                );
                // mmdebstrap picks the format from the extension; give it a .tar name and rename after.
                let tmp = dir.join(format!(".base-{}.building.tar", &cache_key.hex()[..16]));
                let r = Task::new("building the Debian base (mmdebstrap)", "mmdebstrap")
                    .args(mmdebstrap_args(
                        suite,
                        mirror,
                        packages,
                        &hook_sources(initramfs, overlay)?,
                        &tmp,
                    ))
                    .env("SOURCE_DATE_EPOCH", epoch.to_string())
                    .run();
                if let Err(e) = r {
                    let _ = fs_err::remove_file(&tmp);
                    return Err(e);
                }
                let origin = Origin {
                    suite: suite.to_string(),
                    mirror: mirror.to_string(),
                    packages: packages.len(),
                    epoch: *epoch,
                    mmdebstrap_version: mmdebstrap_version.clone(),
                    cache_key: cache_key.hex(),
                };
                crate::artifact::write_atomic(
                    cache.origin_file(key16),
                    &crate::artifact::json_lines(&origin)?,
                )?;
                fs_err::rename(&tmp, &path)?;
            }
            Ok((path, None))
        }
    }
}

/// Refuses a prebuilt base whose hash is not the one the profile pins.
pub fn check_pin(
    path: &std::path::Path,
    pinned: Option<Sha256>,
    got: Sha256,
) -> anyhow::Result<()> {
    match pinned {
        Some(want) if want != got => Err(fail(
            Exit::HashMismatch,
            format!(
                "base.tarball {}: SHA-256 is {got}, the profile pins {want}",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}
