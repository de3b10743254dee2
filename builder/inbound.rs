//! Reading files that come from outside forja (profiles, secrets, certificates, README.TXT, plans, bundles):
//! only regular files, never more than a hard cap.
//!
//! The file is opened without blocking (a FIFO would otherwise hang the open), its type is checked on the open
//! descriptor (not by a path lookup that a swap could race), and it is read through a limit one byte past the
//! cap, so a device such as `/dev/zero` or a file that grows while read cannot make forja allocate without
//! bound. Both refusals are [`Exit::Input`] naming the path.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Exit, fail};

/// Cap for a PEM certificate (chain) file.
pub const MAX_PEM: u64 = 1 << 20;

/// Opens `path` for reading if it is a regular file.
pub fn open_regular(path: &Path) -> anyhow::Result<File> {
    open_regular_io(path).map_err(|e| {
        if e.get_ref()
            .is_some_and(|inner| inner.is::<crate::error::Fail>())
        {
            crate::error::from_io(e)
        } else {
            fail(Exit::Input, format!("{}: cannot open: {e}", path.display()))
        }
    })
}

/// [`open_regular`] for callers that speak `io::Result` (hashing readers): an open that fails keeps its
/// `io::ErrorKind` (a missing file is `NotFound`); a file of another type is refused with an `io::Error`
/// carrying the [`crate::error::Fail`], so its exit code survives ([`crate::error::exit_of`]).
pub fn open_regular_io(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(crate::error::Fail::new(
            Exit::Input,
            format!(
                "{}: not a regular file ({}); forja reads only regular files",
                path.display(),
                kind(&meta)
            ),
        )));
    }
    Ok(f)
}

/// Cap for a profile or a secrets file: a few kilobytes in practice.
pub const MAX_PROFILE: u64 = 4 << 20;

/// The whole content of the regular file `path`, refused if it holds more than `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    read_capped_with_meta(path, cap).map(|(bytes, _)| bytes)
}

/// [`read_capped`], with the metadata of the descriptor that was read (its mode and owner are those of the
/// bytes returned, not of whatever the path names a moment later).
pub fn read_capped_with_meta(
    path: &Path,
    cap: u64,
) -> anyhow::Result<(Vec<u8>, std::fs::Metadata)> {
    let f = open_regular(path)?;
    let meta = f
        .metadata()
        .map_err(|e| fail(Exit::Input, format!("{}: {e}", path.display())))?;
    let bytes = read_open(f, path, cap)?;
    Ok((bytes, meta))
}

/// Reads an already opened regular file through the cap.
fn read_open(f: File, path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| fail(Exit::Input, format!("{}: cannot read: {e}", path.display())))?;
    if out.len() as u64 > cap {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: larger than {} bytes, which no file of this kind is",
                path.display(),
                cap
            ),
        ));
    }
    Ok(out)
}

/// Re-words an error of this module as `PATH: cannot read the WHAT: REASON`, keeping its exit code (for
/// callers whose messages name what the file is).
pub fn reading(err: anyhow::Error, path: &Path, what: &str) -> anyhow::Error {
    let msg = format!("{err:#}");
    let prefix = format!("{}: ", path.display());
    let reason = msg.strip_prefix(&prefix).unwrap_or(&msg);
    fail(
        crate::error::exit_of(&err),
        format!("{}: cannot read the {what}: {reason}", path.display()),
    )
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64) -> anyhow::Result<String> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|_| fail(Exit::Input, format!("{}: not UTF-8 text", path.display())))
}

/// Why `p` is not a relative path of plain names (no root, no `..`), if it is not one.
pub fn relative_problem(p: &Path) -> Option<&'static str> {
    use std::path::Component;
    if p.as_os_str().is_empty() {
        return Some("it is empty");
    }
    if p.as_os_str().len() > 4096 {
        return Some("it is longer than 4096 bytes");
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Some("it is an absolute path"),
            Component::ParentDir => return Some("it climbs out with `..`"),
        }
    }
    if p.components().all(|c| c == Component::CurDir) {
        return Some("it names the folder itself");
    }
    None
}

/// The environment variable that lists folders (absolute, `:`-separated) a profile's files may also lie in,
/// through a symlink in the profile's folder: vendor images on another disk, secrets kept in `/root`.
pub const INPUT_DIRS_ENV: &str = "FORJA_INPUT_DIRS";

/// Where the files a profile names may be read from: its own folder, and the folders of [`INPUT_DIRS_ENV`].
/// A reference is resolved against the folder and must, symlinks followed, end inside one of them.
#[derive(Debug, Clone)]
pub struct InputRoots {
    dir: PathBuf,
    roots: Vec<PathBuf>,
}

impl InputRoots {
    /// The profile's folder and the operator's allow-list from the environment.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let extra = std::env::var_os(INPUT_DIRS_ENV).unwrap_or_default();
        Self::with_extra(
            dir,
            std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()),
        )
    }

    /// The profile's folder and the given extra folders (tests; [`InputRoots::new`] reads the environment).
    pub fn with_extra(
        dir: &Path,
        extra: impl IntoIterator<Item = PathBuf>,
    ) -> anyhow::Result<Self> {
        let mut roots = Vec::new();
        if let Ok(d) = std::fs::canonicalize(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            roots.push(d);
        }
        for p in extra {
            if !p.is_absolute() {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{INPUT_DIRS_ENV}: {} is not an absolute folder",
                        p.display()
                    ),
                ));
            }
            let c = std::fs::canonicalize(&p).map_err(|e| {
                fail(
                    Exit::Input,
                    format!("{INPUT_DIRS_ENV}: {}: {e}", p.display()),
                )
            })?;
            roots.push(c);
        }
        Ok(InputRoots {
            dir: dir.to_owned(),
            roots,
        })
    }

    /// The profile's folder (relative references are joined to it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `rel` (from the profile key `what`) as a path under the profile's folder, after checking that it is a
    /// relative path of plain names and that the file it names, symlinks followed, lies inside an allowed folder.
    pub fn resolve(&self, what: &str, rel: &Path) -> anyhow::Result<PathBuf> {
        let path = self.joined(what, rel)?;
        let real = std::fs::canonicalize(&path).map_err(|e| {
            fail(
                Exit::Input,
                format!("{what}: cannot open {}: {e}", path.display()),
            )
        })?;
        self.inside(what, &path, &real)?;
        Ok(path)
    }

    /// Like [`InputRoots::resolve`] for a file that may not exist yet (it will be created, with its folders): the
    /// part of the path that exists is checked.
    pub fn resolve_new(&self, what: &str, rel: &Path) -> anyhow::Result<PathBuf> {
        let path = self.joined(what, rel)?;
        if path.symlink_metadata().is_ok() {
            return self.resolve(what, rel);
        }
        let mut existing = path.parent();
        while let Some(p) = existing {
            if p.as_os_str().is_empty() || p.symlink_metadata().is_ok() {
                break;
            }
            existing = p.parent();
        }
        let existing = existing
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let real = std::fs::canonicalize(existing).map_err(|e| {
            fail(
                Exit::Input,
                format!("{what}: cannot use {}: {e}", existing.display()),
            )
        })?;
        self.inside(what, &path, &real)?;
        Ok(path)
    }

    fn joined(&self, what: &str, rel: &Path) -> anyhow::Result<PathBuf> {
        if let Some(why) = relative_problem(rel) {
            return Err(fail(
                Exit::Input,
                format!(
                    "{what}: {} is not a file inside the profile's folder ({why})",
                    rel.display()
                ),
            ));
        }
        Ok(self.dir.join(rel))
    }

    fn inside(&self, what: &str, path: &Path, real: &Path) -> anyhow::Result<()> {
        if self.roots.iter().any(|r| real.starts_with(r)) {
            return Ok(());
        }
        Err(fail(
            Exit::Input,
            format!(
                "{what}: {} leads to {}, outside the profile's folder; forja reads a profile's files only from its \
                 folder, or from folders listed in {INPUT_DIRS_ENV}",
                path.display(),
                real.display()
            ),
        ))
    }
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn references_stay_inside_the_folder_or_the_allow_list() {
        let base = tempfile::tempdir().unwrap();
        let profile = base.path().join("profile");
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir_all(profile.join("images")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(profile.join("images/a.ova"), b"x").unwrap();
        std::fs::write(elsewhere.join("b.ova"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", profile.join("evil.pem")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, profile.join("linked")).unwrap();
        let roots = InputRoots::with_extra(&profile, []).unwrap();
        let ok = roots.resolve("k", Path::new("images/a.ova")).unwrap();
        assert_eq!(ok, profile.join("images/a.ova"));
        for (rel, why) in [
            ("evil.pem", "outside the profile's folder"),
            ("linked/b.ova", "outside the profile's folder"),
            ("../elsewhere/b.ova", "`..`"),
            ("/etc/passwd", "absolute"),
            ("images/missing", "cannot open"),
        ] {
            let err = roots
                .resolve("pexip.images[0].file", Path::new(rel))
                .unwrap_err();
            assert_eq!(exit_of(&err), Exit::Input, "{rel}");
            let msg = format!("{err:#}");
            assert!(
                msg.starts_with("pexip.images[0].file: ") && msg.contains(why),
                "{rel}: {msg}"
            );
        }
        // The operator's allow-list admits the linked folder, and only it.
        let roots = InputRoots::with_extra(&profile, [elsewhere.clone()]).unwrap();
        roots.resolve("k", Path::new("linked/b.ova")).unwrap();
        assert!(roots.resolve("k", Path::new("evil.pem")).is_err());
        // A file to be created is judged by the part of its path that exists.
        roots
            .resolve_new("signing.key", Path::new("linked/new.sec"))
            .unwrap();
        roots
            .resolve_new("signing.key", Path::new("keys/not/made/yet.sec"))
            .unwrap();
        let outside = InputRoots::with_extra(&profile, []).unwrap();
        assert!(
            outside
                .resolve_new("signing.key", Path::new("linked/new/x.sec"))
                .is_err()
        );
        assert!(
            roots
                .resolve_new("signing.key", Path::new("../x.sec"))
                .is_err()
        );
        assert!(InputRoots::with_extra(&profile, [PathBuf::from("relative")]).is_err());
    }

    #[test]
    fn devices_fifos_and_oversized_files_are_refused() {
        let err = read_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        assert!(format!("{err:#}").contains("character device"), "{err:#}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        let err = read_capped(&fifo, 10).unwrap_err();
        assert!(format!("{err:#}").contains("FIFO"), "{err:#}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 11]).unwrap();
        let err = read_capped(&big, 10).unwrap_err();
        assert!(format!("{err:#}").contains("larger than 10"), "{err:#}");
        std::fs::write(&big, vec![b'x'; 10]).unwrap();
        assert_eq!(read_capped(&big, 10).unwrap().len(), 10);
    }
}
