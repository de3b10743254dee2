//! The one way forja writes an output: under a temporary name in the destination folder, renamed when complete.
//!
//! An interrupted build therefore never leaves a file that looks finished. [`OutputLock`] ([`crate::lock`])
//! serialises builds into the same folder: a second `forja build --out DIR` while one runs is refused with
//! [`crate::error::Exit::Busy`].

use fs_err::os::unix::fs::OpenOptionsExt;
use fs_err::{self as fs, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::{Exit, fail};

pub use crate::lock::OutputLock;

/// The name a file has while it is being written: `.NAME.partial` in the same folder (same filesystem, so the
/// final rename is atomic).
pub fn partial_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(".{name}.partial"))
}

/// A file being written; it appears under its final name only on [`Staged::commit`]. Dropped without commit, the
/// partial file is removed.
#[derive(Debug)]
pub struct Staged {
    file: Option<File>,
    partial: PathBuf,
    target: PathBuf,
}

impl Staged {
    pub fn create(target: impl AsRef<Path>) -> anyhow::Result<Self> {
        Self::create_mode(target.as_ref(), None)
    }

    /// Like [`Staged::create`], readable by the owner only (0600) from before the first byte is written.
    pub fn create_private(target: impl AsRef<Path>) -> anyhow::Result<Self> {
        Self::create_mode(target.as_ref(), Some(0o600))
    }

    fn create_mode(target: &Path, mode: Option<u32>) -> anyhow::Result<Self> {
        let target = target.to_owned();
        let partial = partial_path(&target);
        let mut opts = OpenOptions::new();
        opts.write(true).read(true).create(true).truncate(true);
        if let Some(m) = mode {
            opts.mode(m);
        }
        let file = opts
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        if let Some(m) = mode {
            // A leftover partial file keeps its old mode through `open`: set it before anything is written.
            file.set_permissions(std::fs::Permissions::from_mode(m))
                .with_context(|| format!("chmod {m:o} {}", partial.display()))?;
        }
        Ok(Staged {
            file: Some(file),
            partial,
            target,
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    /// The temporary path (for external tools that write the file themselves).
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes to disk and renames into place.
    pub fn commit(mut self) -> anyhow::Result<PathBuf> {
        if let Some(f) = self.file.take() {
            f.sync_all()
                .with_context(|| format!("syncing {}", self.partial.display()))?;
        }
        fs::rename(&self.partial, &self.target).with_context(|| {
            format!(
                "renaming {} to {}",
                self.partial.display(),
                self.target.display()
            )
        })?;
        Ok(std::mem::take(&mut self.target))
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.target.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// Prefixes of the staging folders forja makes beside an output while it builds it (the Pexip config drive's tree,
/// the media's work folder). A killed build leaves them behind; the next one removes them.
pub const STAGING_PREFIXES: [&str; 2] = [".config-drive.", ".forja-media-"];

/// Removes what an interrupted writer left in `dir` and its sub-folders (never followed through links): the
/// `.NAME.partial` files and the staging folders ([`STAGING_PREFIXES`]), so an output folder holds only what the
/// current build writes.
pub fn remove_partials(dir: &Path) -> anyhow::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ft = e.file_type()?;
        if ft.is_dir() && STAGING_PREFIXES.iter().any(|p| name.starts_with(p)) {
            fs::remove_dir_all(e.path())?;
        } else if ft.is_dir() {
            remove_partials(&e.path())?;
        } else if name.starts_with('.') && name.ends_with(".partial") {
            fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// Pretty JSON with a final newline: the one form of every JSON file forja writes (stable bytes for
/// reproducible outputs, golden files and diffs).
pub fn json_lines<T: serde::Serialize + ?Sized>(v: &T) -> anyhow::Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(v).context("serialising JSON")?;
    out.push(b'\n');
    Ok(out)
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: impl AsRef<Path>, bytes: &[u8]) -> anyhow::Result<()> {
    write_staged(Staged::create(target)?, bytes)
}

/// Writes `bytes` to `target` atomically, mode 0600 from creation (the bytes are secret).
pub fn write_atomic_private(target: impl AsRef<Path>, bytes: &[u8]) -> anyhow::Result<()> {
    write_staged(Staged::create_private(target)?, bytes)
}

fn write_staged(mut s: Staged, bytes: &[u8]) -> anyhow::Result<()> {
    s.write_all(bytes)
        .with_context(|| format!("writing {}", s.partial.display()))?;
    s.commit()?;
    Ok(())
}

/// Makes sure the output folder `dir` exists, creating it if needed, but only its last component: a parent that
/// does not exist is a typo (`--out /typo/dir`), refused with the path rather than created along with gigabytes
/// written there. `what` names the folder in the error (e.g. "the output folder").
pub fn create_out_dir(dir: &Path, what: &str) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: {what}'s parent folder {} does not exist (forja creates only the last folder; check the path \
                 or create the parent first)",
                dir.display(),
                parent.display()
            ),
        ));
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(fail(
            Exit::Input,
            format!("{}: cannot create {what}: {e}", dir.display()),
        )),
    }
}

/// The folder an output file goes into, which must exist already (`media usb --out`, a bundle's `--output`).
pub fn require_parent(file: &Path, flag: &str) -> anyhow::Result<()> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.is_dir() {
        Ok(())
    } else {
        Err(fail(
            Exit::Input,
            format!(
                "{flag} {}: the folder {} does not exist (forja does not create it; check the path)",
                file.display(),
                parent.display()
            ),
        ))
    }
}

/// Writes a mode 0600 file that must not exist yet: the bytes go to a partial file created 0600, which is then
/// hard-linked to the final name (a link, unlike a rename, fails if the name was taken in the meantime).
pub fn write_private_new(target: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = partial_path(target);
    let _ = fs::remove_file(&partial);
    let result = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)?;
        // The umask cannot widen 0600, but a pre-set ACL default could: set the mode explicitly.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::hard_link(&partial, target)
    })();
    let _ = fs::remove_file(&partial);
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(fail(
            Exit::Input,
            format!(
                "{} already exists; refusing to overwrite it",
                target.display()
            ),
        )),
        Err(e) => Err(e).with_context(|| format!("writing {}", target.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn leftovers_of_a_killed_build_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("pexip/.config-drive.ab12/root")).unwrap();
        fs::write(d.join("pexip/.config-drive.ab12/root/user_data"), b"x").unwrap();
        fs::create_dir_all(d.join(".forja-media-x")).unwrap();
        fs::write(d.join(".disk.raw.partial"), b"half").unwrap();
        fs::write(d.join("pexip/.plan.json.partial"), b"half").unwrap();
        fs::write(d.join("pexip/plan.json"), b"{}").unwrap();
        fs::write(d.join("disk.raw"), b"whole").unwrap();
        remove_partials(d).unwrap();
        let mut left: Vec<String> = walk(d);
        left.sort();
        assert_eq!(left, ["disk.raw", "pexip", "pexip/plan.json"]);
    }

    fn walk(d: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
            }
            out.push(name);
        }
        out
    }

    #[test]
    fn leftover_partials_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("pexip")).unwrap();
        for f in [
            ".disk.raw.partial",
            "pexip/.sheet.md.partial",
            "disk.raw",
            ".forja.lock",
        ] {
            fs::write(dir.path().join(f), b"x").unwrap();
        }
        remove_partials(dir.path()).unwrap();
        assert!(!dir.path().join(".disk.raw.partial").exists());
        assert!(!dir.path().join("pexip/.sheet.md.partial").exists());
        assert!(dir.path().join("disk.raw").exists() && dir.path().join(".forja.lock").exists());
    }

    #[test]
    fn nothing_appears_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("disk.raw");
        let mut s = Staged::create(&target).unwrap();
        s.write_all(b"half").unwrap();
        assert!(!target.exists());
        drop(s);
        assert!(!target.exists());
        assert!(!partial_path(&target).exists(), "partial file cleaned up");
        write_atomic(&target, b"whole").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
    }

    #[test]
    fn an_output_folder_needs_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo/out");
        let err = OutputLock::acquire(&typo).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        assert!(err.to_string().contains("typo"), "{err}");
        assert!(
            !dir.path().join("typo").exists(),
            "created the missing parent"
        );
        let ok = dir.path().join("out");
        drop(OutputLock::acquire(&ok).unwrap());
        assert!(ok.is_dir());
        let err = require_parent(&typo.join("usb.img"), "--out").unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        require_parent(&ok.join("usb.img"), "--out").unwrap();
    }

    #[test]
    fn a_second_build_into_the_same_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path()).unwrap();
        let err = OutputLock::acquire(dir.path()).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Busy);
        drop(first);
        OutputLock::acquire(dir.path()).unwrap();
    }
}
