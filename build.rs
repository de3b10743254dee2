//! Build script: the git commit forja is built from, for `forja --version`, the SBOM and report.html; and the
//! SHA-256 of every value of the secrets files forja ships (`policy::secret_values` refuses them in a site's own
//! file), so the binary, which every host image carries, holds no password in clear, not even a published one.
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

/// The secrets files forja ships.
const SHIPPED: [&str; 2] = [
    "profiles/ccn-stic-1616.secrets.example.toml",
    "profiles/lab.secrets.toml",
];

/// The values of `[secrets]` in a shipped secrets file: `name = "value"` lines, TOML basic strings with `\"` and
/// `\\` escapes (all the shipped files use; anything else there stops the build, and a unit test compares these
/// values with what the TOML parser reads).
fn secret_values(path: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_secrets = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_secrets = l == "[secrets]";
            continue;
        }
        if !in_secrets || l.is_empty() || l.starts_with('#') {
            continue;
        }
        let quoted = l
            .split_once('=')
            .map(|(_, v)| v.trim())
            .and_then(|v| v.strip_prefix('"'))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{path}:{}: expected name = \"value\"", i + 1));
        let mut value = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('"' | '\\')) => value.push(e),
                    _ => panic!("{path}:{}: only \\\" and \\\\ escapes are supported", i + 1),
                },
                '"' => panic!("{path}:{}: a quote inside the value", i + 1),
                c => value.push(c),
            }
        }
        out.push(value);
    }
    out
}

fn shipped_hashes() {
    use sha2::Digest;
    let mut code = String::from(
        "/// (file, SHA-256 of one value) for every value of the shipped secrets files.\n",
    );
    code.push_str("pub const SHIPPED_SHA256: &[(&str, [u8; 32])] = &[\n");
    for path in SHIPPED {
        println!("cargo:rerun-if-changed={path}");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for v in secret_values(path, &text) {
            let h: [u8; 32] = sha2::Sha256::digest(v.as_bytes()).into();
            code.push_str(&format!("    ({path:?}, {h:?}),\n"));
        }
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("shipped_secrets.rs");
    std::fs::write(out, code).unwrap();
}

fn main() {
    shipped_hashes();
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
