//! `forja plan` is golden-tested: a reviewer sees any change in what a build would do (packages, partitions,
//! GUIDs, every generated file's hash) as a diff of `tests/golden/plan/lab.json`. Bless with `FORJA_BLESS=1`.

use std::path::Path;
use std::process::Command;

#[test]
fn lab_plan_matches_golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["plan", "profiles/lab.toml"])
        .current_dir(root)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("FORJA_OVERLAYS", root.join("overlays"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let golden = root.join("tests/golden/plan/lab.json");
    if std::env::var_os("FORJA_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &out.stdout).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file; bless with FORJA_BLESS=1");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "forja plan changed: review and bless"
    );
}

#[test]
fn plan_has_no_side_effects_and_names_every_generated_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["plan", "profiles/lab.toml"])
        .current_dir(root)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = plan["generated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for must in [
        "/etc/nftables.conf",
        "/etc/sysctl.d/60-forja.conf",
        "/etc/systemd/network/20-mgmt.network",
        "/etc/chrony/chrony.conf",
        "/etc/forja/firstboot.env",
        "/usr/share/forja/grub.cfg",
    ] {
        assert!(files.contains(&must), "{must} missing from the plan");
    }
    let parts = plan["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[3]["name"], "vmstore");
    assert!(!root.join("profiles/out").exists());
}
