//! `forja diff OLD NEW` reports what changed by meaning: a rule's status, packages (upgraded by Debian's version
//! order), a generated file (its unified diff applied by GNU `patch` gives the new text), a partition, a node,
//! a vendor image, the artifacts; and nothing for two identical builds.

#[path = "support/run.rs"]
mod run;
use run::forja;

use std::path::Path;

use forja::hashio::Sha256;
use forja::plan::disk::{ContentKind, LaidOut, PartitionType};
use forja::plan::{Built, Layout, Plan};
use forja::sbom::{Package, Sbom, VendorImage};
use serde_json::Value;

const SYSCTL: &str = "/etc/profile.d/forja-tmout.sh";

fn laid(number: u32, name: &str, kind: PartitionType, size: u64) -> LaidOut {
    LaidOut {
        number,
        kind,
        type_guid: kind.guid(),
        guid: forja::ids::guid("t", name),
        name: name.into(),
        first_lba: 2048,
        last_lba: 2048 + size / 512 - 1,
        attributes: 0,
        offset: 1 << 20,
        size,
        content: ContentKind::Ext4,
        fs_id: None,
        inodes: None,
    }
}

fn pkg(name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        architecture: "amd64".into(),
        licence: None,
    }
}

/// Writes a build folder the way `forja build` lays it out, from a profile text and a few knobs.
fn build_folder(
    dir: &Path,
    profile_text: &str,
    root_size: u64,
    packages: Vec<Package>,
    ova: &[u8],
    fail_rule: bool,
) {
    std::fs::create_dir_all(dir).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo.join("profiles/lab-test-ca.pem"),
        src.path().join("lab-test-ca.pem"),
    )
    .unwrap();
    std::fs::write(src.path().join("lab.toml"), profile_text).unwrap();
    let l = forja::profile::load(
        &src.path().join("lab.toml"),
        forja::profile::SecretsNeed::IfPresent,
    )
    .unwrap();
    let mut plan: Plan =
        forja::pipeline::resolve(&l, &forja::pipeline::Environment::fixture()).unwrap();
    plan.built = Some(Built {
        kernel: "6.1.0-50-amd64".into(),
        base_sha256: Sha256::of(b"base"),
        root_hash: Sha256::of(b"root"),
        kernel_cmdline: "ro".into(),
        secure_boot_db: None,
        layout: Layout {
            disk_guid: forja::ids::guid("t", "disk"),
            disk_size: 4 << 30,
            sector_size: 512,
            partitions: vec![
                laid(1, "esp", PartitionType::Esp, 256 << 20),
                laid(2, "root", PartitionType::RootX86_64, root_size),
            ],
        },
    });
    let mut compliance: Value =
        serde_json::from_str(&forja::policy::evaluate(&l).to_json()).unwrap();
    if fail_rule {
        compliance["rules"][3]["status"] = "FAIL".into();
    }
    let sbom = Sbom {
        base_tarball_sha256: Sha256::of(b"base"),
        packages,
        programs: Vec::new(),
        vendor_images: vec![VendorImage {
            name: "pxMgr.ova".into(),
            sha256: Sha256::of(ova),
            verified_against: "README.TXT line 1".into(),
        }],
        tools: Vec::new(),
    };
    let who = forja::sbom::spdx::Identity {
        profile_name: "lab",
        seed: "t",
        profile_sha256: plan.profile.sha256,
        epoch: plan.source_date_epoch,
    };
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("plan.json", forja::artifact::json_lines(&plan).unwrap()),
        (
            "compliance.json",
            forja::artifact::json_lines(&compliance).unwrap(),
        ),
        (
            forja::sbom::spdx::FILE,
            forja::artifact::json_lines(&forja::sbom::spdx::document(&sbom, &who)).unwrap(),
        ),
    ];
    let mut entries = Vec::new();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), &bytes).unwrap();
        entries.push(forja::sign::sums::Entry {
            name: name.into(),
            sha256: Sha256::of(&bytes),
        });
    }
    std::fs::write(
        dir.join("SHA256SUMS"),
        forja::sign::Sums::new(entries).unwrap().to_bytes(),
    )
    .unwrap();
}

fn sysctl_text(profile_text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lab-test-ca.pem"),
        dir.path().join("lab-test-ca.pem"),
    )
    .unwrap();
    std::fs::write(dir.path().join("lab.toml"), profile_text).unwrap();
    let l = forja::profile::load(
        &dir.path().join("lab.toml"),
        forja::profile::SecretsNeed::IfPresent,
    )
    .unwrap();
    let plan = forja::pipeline::resolve(&l, &forja::pipeline::Environment::fixture()).unwrap();
    let f = plan
        .root
        .generated
        .iter()
        .find(|f| f.path == SYSCTL)
        .unwrap();
    match &f.kind {
        forja::plan::GenKind::File(t) => t.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn diff_reports_each_change_by_meaning() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let old_text = std::fs::read_to_string(repo.join("profiles/lab.toml")).unwrap();
    let new_text = old_text
        .replace("session-timeout-minutes = 5", "session-timeout-minutes = 4")
        .replace(
            "memory-mb = 4096, disk-gb = 50",
            "memory-mb = 6144, disk-gb = 50",
        );
    assert_ne!(old_text, new_text);
    let work = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        work.path().join("a"),
        work.path().join("b"),
        work.path().join("c"),
    );
    let old_pkgs = vec![
        pkg("bash", "5.2.15-2+b7"),
        pkg("curl", "7.88.1-10"),
        pkg("gone", "1.0"),
    ];
    let new_pkgs = vec![
        pkg("bash", "5.2.15-2+b8"),
        pkg("curl", "7.88.1-9"),
        pkg("fresh", "2.0"),
    ];
    build_folder(&a, &old_text, 1200 << 20, old_pkgs.clone(), b"ova-1", false);
    build_folder(&b, &new_text, 1300 << 20, new_pkgs, b"ova-2", true);
    build_folder(&c, &old_text, 1200 << 20, old_pkgs, b"ova-1", false);

    let (code, out, err) = forja(&["diff", a.to_str().unwrap(), b.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    let find = |section: &str, name: &str| -> Value {
        d[section]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{section}: no change for {name}: {}", d[section]))
    };
    let rule = d["rules"].as_array().unwrap();
    assert_eq!(rule.len(), 1, "{rule:?}");
    assert_eq!(rule[0]["new"], "FAIL");
    assert_eq!(find("packages", "bash")["detail"], "upgraded");
    assert_eq!(
        find("packages", "curl")["detail"],
        "downgraded",
        "7.88.1-9 < 7.88.1-10 in Debian's order"
    );
    assert!(find("packages", "gone")["new"].is_null());
    assert!(find("packages", "fresh")["old"].is_null());
    assert!(
        find("partitions", "root")["new"]
            .as_str()
            .unwrap()
            .contains("1.3 GiB")
    );
    assert!(
        find("nodes", "image pxMgr.ova")["new"]
            .as_str()
            .unwrap()
            .contains(&Sha256::of(b"ova-2").hex())
    );
    assert!(
        d["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("node ")),
        "a node's reservation changed"
    );
    assert_eq!(d["artifacts"].as_array().unwrap().len(), 3);

    // The unified diff of a changed file, applied by GNU patch to the old text, gives the new text.
    let unified = find("files", SYSCTL)["detail"].as_str().unwrap().to_owned();
    let old_file = work.path().join("forja-tmout.sh");
    std::fs::write(&old_file, sysctl_text(&old_text)).unwrap();
    let p = std::process::Command::new("patch")
        .args(["--quiet", "--force"])
        .arg(&old_file)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().unwrap().write_all(unified.as_bytes())?;
            ch.wait()
        })
        .unwrap();
    assert!(p.success(), "patch refused the unified diff:\n{unified}");
    assert_eq!(
        std::fs::read_to_string(&old_file).unwrap(),
        sysctl_text(&new_text)
    );

    // The text form names each section; two identical builds differ in nothing.
    let (_, text, _) = forja(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    for s in [
        "RULES: 0 added, 0 removed, 1 changed",
        "PACKAGES: 1 added, 1 removed, 2 changed",
        "~ bash",
        "+++ b/etc/profile.d/forja-tmout.sh",
    ] {
        assert!(text.contains(s), "{s} missing:\n{text}");
    }
    let (code, same, _) = forja(&["diff", a.to_str().unwrap(), c.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let same: Value = serde_json::from_str(&same).unwrap();
    for (section, v) in same.as_object().unwrap() {
        assert_eq!(
            v.as_array().unwrap().len(),
            0,
            "{section} differs between identical builds: {v}"
        );
    }
    // Not a build folder: exit 2, named.
    let (code, _, err) = forja(&["diff", a.to_str().unwrap(), work.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("plan.json"), "{err}");
}
