//! The cache of Debian base tarballs: where it lives, what is in it, and pruning it (`forja cache list|prune`).
//!
//! Where: `--cache-dir`, else `$FORJA_CACHE`, else `$XDG_CACHE_HOME/forja`, else `~/.cache/forja` (the XDG base
//! directory rule), never the current folder, so a build reuses its base whatever folder it runs from. Each entry
//! is `base-KEY.tar` (KEY: the first 16 hex digits of the plan's cache key) with `base-KEY.json` beside it,
//! saying what it was made from. A tarball's mtime is set when a build uses it, so `prune --older-than` keeps
//! what is in use. The cache holds nothing secret and nothing a build trusts blindly: a base is rebuilt when its
//! key changes, and a prebuilt tarball given by the profile is hash-pinned instead.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};

/// The cache folder of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub dir: PathBuf,
}

/// What a base tarball was made from (`base-KEY.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub suite: String,
    pub mirror: String,
    pub packages: usize,
    pub epoch: u64,
    pub mmdebstrap_version: String,
    pub cache_key: String,
}

/// One cached base, as `forja cache list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub file: String,
    pub bytes: u64,
    /// Seconds since the epoch of the last build that used it.
    pub last_used: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

impl Cache {
    /// The cache folder: the flag, the environment, or the XDG default (see the module comment).
    pub fn locate(flag: Option<&Path>) -> anyhow::Result<Cache> {
        Self::from_env(flag, |k| std::env::var_os(k))
    }

    fn from_env(
        flag: Option<&Path>,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> anyhow::Result<Cache> {
        let nonempty = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dir = flag
            .map(Path::to_owned)
            .or_else(|| nonempty("FORJA_CACHE"))
            .or_else(|| nonempty("XDG_CACHE_HOME").map(|d| d.join("forja")))
            .or_else(|| nonempty("HOME").map(|h| h.join(".cache/forja")))
            .ok_or_else(|| {
                fail(
                    Exit::Input,
                    "no cache folder: set HOME, XDG_CACHE_HOME or FORJA_CACHE, or pass --cache-dir DIR",
                )
            })?;
        Ok(Cache { dir })
    }

    /// Creates the folder (and its parents: `~/.cache` may not exist yet on a fresh account).
    pub fn create(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            fail(
                Exit::Input,
                format!(
                    "{}: cannot create the cache folder: {e}",
                    self.dir.display()
                ),
            )
        })
    }

    pub fn tarball(&self, key16: &str) -> PathBuf {
        self.dir.join(format!("base-{key16}.tar"))
    }

    pub fn origin_file(&self, key16: &str) -> PathBuf {
        self.dir.join(format!("base-{key16}.json"))
    }

    /// Marks a tarball as used now (its mtime), for `prune --older-than`.
    pub fn touch(&self, tarball: &Path) {
        let _ = filetime::set_file_mtime(tarball, filetime::FileTime::now());
    }

    /// The cached bases, sorted by file name. A missing folder is an empty cache.
    pub fn list(&self) -> anyhow::Result<Vec<Entry>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(fail(
                    Exit::Input,
                    format!("{}: cannot read the cache folder: {e}", self.dir.display()),
                ));
            }
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.with_context(|| format!("reading {}", self.dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = name
                .strip_prefix("base-")
                .and_then(|n| n.strip_suffix(".tar"))
            else {
                continue;
            };
            let meta = e.metadata()?;
            let origin = std::fs::read(self.origin_file(key))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            out.push(Entry {
                file: name.clone(),
                bytes: meta.len(),
                last_used: mtime_secs(&meta),
                origin,
            });
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }

    /// Removes bases not used for `older_than` (all of them with `None`), and leftovers of interrupted base
    /// builds. Returns the files removed.
    pub fn prune(&self, older_than: Option<Duration>) -> anyhow::Result<Vec<String>> {
        let now = SystemTime::now();
        let mut removed = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(removed);
        };
        for e in rd {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let leftover = name.starts_with(".base-") && name.contains(".building");
            let stale = name.starts_with("base-")
                && name.ends_with(".tar")
                && match older_than {
                    None => true,
                    Some(age) => e
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > age),
                };
            if leftover || stale {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
                if let Some(key) = name
                    .strip_prefix("base-")
                    .and_then(|n| n.strip_suffix(".tar"))
                {
                    let _ = std::fs::remove_file(self.origin_file(key));
                }
                removed.push(name);
            }
        }
        removed.sort();
        Ok(removed)
    }
}

fn mtime_secs(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).into())
    }

    #[test]
    fn the_cache_never_depends_on_the_current_folder() {
        let at = |flag: Option<&str>, vars: &[(&str, &str)]| {
            Cache::from_env(flag.map(Path::new), env(vars)).map(|c| c.dir)
        };
        let home = [("HOME", "/home/op")];
        assert_eq!(at(None, &home).unwrap(), Path::new("/home/op/.cache/forja"));
        assert_eq!(
            at(
                None,
                &[("HOME", "/home/op"), ("XDG_CACHE_HOME", "/var/cache/op")]
            )
            .unwrap(),
            Path::new("/var/cache/op/forja")
        );
        assert_eq!(
            at(
                None,
                &[
                    ("HOME", "/h"),
                    ("XDG_CACHE_HOME", "/x"),
                    ("FORJA_CACHE", "/srv/c")
                ]
            )
            .unwrap(),
            Path::new("/srv/c")
        );
        assert_eq!(
            at(Some("/flag"), &[("FORJA_CACHE", "/srv/c")]).unwrap(),
            Path::new("/flag")
        );
        let err = at(None, &[("HOME", "")]).unwrap_err();
        assert!(err.to_string().contains("--cache-dir"), "{err}");
    }

    #[test]
    fn prune_keeps_what_was_used_recently_and_drops_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache {
            dir: dir.path().to_owned(),
        };
        for n in [
            "base-aaaa.tar",
            "base-aaaa.json",
            "base-bbbb.tar",
            ".base-cccc.building.tar",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(n), n).unwrap();
        }
        let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
        filetime::set_file_mtime(dir.path().join("base-aaaa.tar"), old).unwrap();
        let listed: Vec<String> = c.list().unwrap().into_iter().map(|e| e.file).collect();
        assert_eq!(listed, ["base-aaaa.tar", "base-bbbb.tar"]);
        let removed = c.prune(Some(Duration::from_secs(30 * 86400))).unwrap();
        assert_eq!(removed, [".base-cccc.building.tar", "base-aaaa.tar"]);
        assert!(!dir.path().join("base-aaaa.json").exists());
        assert!(dir.path().join("base-bbbb.tar").exists());
        assert!(
            dir.path().join("notes.txt").exists(),
            "prune removed a file it does not own"
        );
        assert_eq!(c.prune(None).unwrap(), ["base-bbbb.tar"]);
    }
}
