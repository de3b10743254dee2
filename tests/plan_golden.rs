//! The plan is golden-tested: a reviewer sees any change in what a build would do (packages, partitions, GUIDs,
//! every generated file's text) as a diff of `tests/golden/plan/lab.json`. Bless with `FORJA_BLESS=1`.
//!
//! The plan is resolved with [`Environment::fixture`] (a pinned mmdebstrap version, the repository's overlays),
//! so the golden file does not depend on the machine that runs the test.

use std::path::Path;
use std::process::Command;

use forja::pipeline::{self, Environment};
use forja::plan::Plan;
use forja::profile::{SecretsNeed, load};

fn bless() -> bool {
    std::env::var_os("FORJA_BLESS").is_some_and(|v| v == "1")
}

/// The lab profile in a temp folder whose Secure Boot keys are the fixed test certificates of
/// `tests/fixtures/secure-boot` (a lab build makes random ones, which a golden file cannot hold).
fn lab_with_fixed_keys() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
        std::fs::copy(root.join("profiles").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::os::unix::fs::symlink(
        root.join("tests/fixtures/secure-boot"),
        dir.path().join("keys/secure-boot-TEST"),
    )
    .unwrap();
    dir
}

#[test]
fn lab_plan_matches_golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lab = lab_with_fixed_keys();
    let l = load(&lab.path().join("lab.toml"), SecretsNeed::IfPresent).unwrap();
    let plan = pipeline::resolve(&l, &Environment::fixture()).unwrap();
    let actual = String::from_utf8(forja::artifact::json_lines(&plan).unwrap()).unwrap();
    let golden = root.join("tests/golden/plan/lab.json");
    if bless() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file; bless with FORJA_BLESS=1");
    assert!(
        want == actual,
        "the lab plan changed: review the difference and bless with FORJA_BLESS=1 cargo test --test plan_golden"
    );
    // The golden file is a plan a build can read back: the type round-trips.
    assert_eq!(Plan::from_slice(want.as_bytes()).unwrap(), plan);
}

/// A copy of the shipped profiles without the secrets file, in a folder the test watches.
fn profiles_without_secrets(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    for f in ["lab.toml", "lab-test-ca.pem"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            out.push(e.path().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plan_needs_no_secrets_writes_nothing_and_names_every_generated_file() {
    let dir = tempfile::tempdir().unwrap();
    profiles_without_secrets(dir.path());
    let cache = dir.path().join("cache");
    let before = listing(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["plan", "--json", "lab.toml"])
        .current_dir(dir.path())
        .env("FORJA_CACHE", &cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listing(dir.path()), before, "forja plan wrote something");
    let plan = Plan::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = plan
        .root
        .generated
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    for must in [
        "/etc/nftables.conf",
        "/etc/sysctl.d/60-forja.conf",
        "/etc/systemd/network/20-mgmt.network",
        "/etc/chrony/chrony.conf",
        "/etc/forja/firstboot.env",
        "/etc/crypttab",
        "/etc/fstab",
    ] {
        assert!(files.contains(&must), "{must} missing from the plan");
    }
    let names: Vec<&str> = plan.disk.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "esp",
            "root-a",
            "root-a-verity",
            "root-b",
            "root-b-verity",
            "state",
            "payload",
            "vmstore"
        ]
    );
    // The command line is planned with a placeholder for the root hash the build measures.
    assert!(plan.boot.kernel_cmdline.contains("roothash={roothash}"));
    // No secret value reaches the plan: the lab's secrets never appear in it.
    let secrets = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lab.secrets.toml"),
    )
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for line in secrets.lines() {
        if let Some((_, v)) = line.split_once(" = \"") {
            let v = v.trim_end_matches('"');
            assert!(
                v.len() < 6 || !text.contains(v),
                "a secret value is in the plan"
            );
        }
    }
}
