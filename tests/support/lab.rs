//! Building the lab profile for integration tests: a copy of `profiles/` in a temp folder (so a test may edit
//! the profile), the stand-in images, and one Debian base cache shared by every test of the run
//! (`forja-cache` under cargo's `CARGO_TARGET_TMPDIR`: mmdebstrap runs once per machine, wherever cargo puts its
//! output, e.g. with `CARGO_TARGET_DIR` set by a CI cache).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's folder for integration tests' temporary files (inside its target folder, wherever that is).
pub fn tmp() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn cache_dir() -> PathBuf {
    tmp().join("forja-cache")
}

/// The lab's test Secure Boot keys, shared by every copy of the lab profile in a run (made by the first build).
pub fn secure_boot_keys() -> PathBuf {
    tmp().join("forja-test-keys/secure-boot-TEST")
}

/// A private copy of the lab profile, its secrets, test CA, stand-in images and test signing key. The images and
/// the key are symlinks into [`tmp`], which [`build`] allows through `FORJA_INPUT_DIRS`.
pub struct LabCopy {
    pub dir: tempfile::TempDir,
}

impl LabCopy {
    pub fn new() -> Self {
        let dir = tempfile::tempdir_in(tmp()).unwrap();
        let src = repo().join("profiles");
        for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let standin = tmp().join("forja-standin");
        if !standin.join("README.TXT").exists() {
            let st = Command::new(repo().join("ci/make-standin-images"))
                .arg(&standin)
                .status()
                .unwrap();
            assert!(st.success(), "ci/make-standin-images failed");
        }
        std::os::unix::fs::symlink(&standin, dir.path().join("standin")).unwrap();
        // One test signing key per run, shared by every copy, so two builds can be compared byte for byte.
        let keys = tmp().join("forja-test-keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::os::unix::fs::symlink(&keys, dir.path().join("keys")).unwrap();
        LabCopy { dir }
    }

    pub fn profile(&self) -> PathBuf {
        self.dir.path().join("lab.toml")
    }

    /// Rewrites the profile text with `f`.
    pub fn edit(&self, f: impl FnOnce(String) -> String) {
        let p = self.profile();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, f(text)).unwrap();
    }
}

/// `forja build PROFILE --out OUT` with the shared base cache and the lab copy's links allowed, not started.
pub fn build_command(profile: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forja"));
    cmd.arg("build")
        .arg(profile)
        .arg("--out")
        .arg(out)
        .env("FORJA_CACHE", cache_dir())
        .env(forja::inbound::INPUT_DIRS_ENV, tmp())
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// Runs `forja build` on `profile` into `out`, with the shared base cache.
pub fn build(
    profile: &Path,
    out: &Path,
    extra_env: &[(&str, &str)],
    extra_args: &[&str],
) -> Output {
    build_in(Path::new("."), profile, out, extra_env, extra_args)
}

/// [`build`] run from the folder `cwd` (relative `profile` and `out` are taken from there).
pub fn build_in(
    cwd: &Path,
    profile: &Path,
    out: &Path,
    extra_env: &[(&str, &str)],
    extra_args: &[&str],
) -> Output {
    let mut cmd = build_command(profile, out);
    cmd.current_dir(cwd);
    cmd.args(extra_args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out_ = cmd.output().unwrap();
    assert!(
        out_.status.success(),
        "forja build failed ({}):\n{}",
        out_.status,
        String::from_utf8_lossy(&out_.stderr)
    );
    out_
}
