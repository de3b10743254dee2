//! The one way forja writes an output: under a temporary name in the destination folder, renamed when complete.
//!
//! An interrupted build therefore never leaves a file that looks finished. [`OutputLock`] serialises builds into
//! the same folder: a second `forja build --out DIR` while one runs is refused with [`Exit::Busy`].

use fs_err::{self as fs, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::{Exit, fail};

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
        use fs_err::os::unix::fs::OpenOptionsExt;
        use std::os::unix::fs::PermissionsExt;
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

/// An exclusive claim on an output folder, held while a build writes into it.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
}

impl OutputLock {
    /// Creates the folder if needed and claims it. The lock is a file created with `O_EXCL`, holding our pid;
    /// a stale lock from a dead process is taken over.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(".forja.lock");
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())?;
                    return Ok(OutputLock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    let pid: Option<u32> = holder.trim().parse().ok();
                    let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
                    if alive {
                        return Err(fail(
                            Exit::Busy,
                            format!(
                                "{} is being written by another forja process (pid {}); wait for it or choose another --out",
                                dir.display(),
                                holder.trim()
                            ),
                        ));
                    }
                    // Stale: the writer died. Remove and retry once.
                    let _ = fs::remove_file(&path);
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("locking {}", dir.display()));
                }
            }
        }
        Err(fail(
            Exit::Busy,
            format!("could not lock {}", dir.display()),
        ))
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

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
    fn a_second_build_into_the_same_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path()).unwrap();
        let err = OutputLock::acquire(dir.path()).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Busy);
        drop(first);
        OutputLock::acquire(dir.path()).unwrap();
    }
}
