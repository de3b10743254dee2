//! Build script: the git commit forja is built from, for `forja --version`, the SBOM and report.html.
//!
//! `FORJA_GIT_COMMIT` overrides it (a source tarball without `.git`); without either the commit is `unknown`.
//! A tree with uncommitted changes to tracked files gets `-dirty`, so a binary never claims a commit it is not.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=FORJA_GIT_COMMIT");
    // Sources and the git state decide the answer: rerun when either moves.
    println!("cargo:rerun-if-changed=builder");
    let commit = match std::env::var("FORJA_GIT_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
                for f in ["HEAD", "index"] {
                    println!("cargo:rerun-if-changed={}", dir.join(f).display());
                }
                if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from) {
                    println!(
                        "cargo:rerun-if-changed={}",
                        common.join("packed-refs").display()
                    );
                    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                        println!("cargo:rerun-if-changed={}", common.join(r).display());
                    }
                }
            }
            match git(&["rev-parse", "--short=12", "HEAD"]) {
                Some(c) => {
                    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                        .is_some_and(|s| !s.is_empty());
                    if dirty { format!("{c}-dirty") } else { c }
                }
                None => "unknown".into(),
            }
        }
    };
    println!("cargo:rustc-env=FORJA_GIT_COMMIT={commit}");
}
