//! `forja nodes verify` and `forja nodes stage` end to end on the stand-in images, with real oracles
//! (`qemu-img check`, `virt-xml-validate`) and the done-criteria failures: each gives its own exit code and
//! leaves no staged file.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    CONF, MGR, QCOW, Tar, forja, leftovers, members, ova_from, readme_for, standins, text,
};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn p(path: &Path) -> &OsStr {
    path.as_os_str()
}

/// Copies a stand-in into `dir` (tests corrupt copies, never the shared originals).
fn copy(name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(standins().join(name), &to).unwrap();
    to
}

#[test]
fn stand_ins_verify_with_the_vendor_style_readme() {
    let s = standins();
    let o = forja(&[
        os("nodes"),
        os("verify"),
        os("--json"),
        os("--readme"),
        p(&s.join("README.TXT")),
        p(&s.join(MGR)),
        p(&s.join(CONF)),
        p(&s.join(QCOW)),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["exit"], "ok");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    // The oracle: sha256sum's digest of the same file.
    let sum = Command::new("sha256sum").arg(s.join(MGR)).output().unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    assert_eq!(files[0]["actual"].as_str().unwrap(), &sum[..64]);
    assert!(files.iter().all(|f| f["status"] == "verified"));
}

#[test]
fn a_flipped_byte_is_a_mismatch_naming_file_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy(MGR, dir.path());
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[70_000] ^= 0x01;
    std::fs::write(&f, &bytes).unwrap();
    let readme = standins().join("README.TXT");
    let o = forja(&[os("nodes"), os("verify"), os("--readme"), p(&readme), p(&f)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = text(&o);
    let expected = forja::hashio::Sha256::of(&std::fs::read(standins().join(MGR)).unwrap());
    let actual = forja::hashio::Sha256::of(&bytes);
    assert!(
        msg.contains(&format!("{}: SHA-256 mismatch", f.display())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("README.TXT:5 expects {expected}")),
        "{msg}"
    );
    assert!(msg.contains(&format!("the file has {actual}")), "{msg}");
}

#[test]
fn a_file_missing_from_readme_is_unverified_and_bad_readme_is_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy(MGR, dir.path());
    let readme = dir.path().join("README.TXT");
    std::fs::write(&readme, "nothing for you\n").unwrap();
    let o = forja(&[os("nodes"), os("verify"), os("--readme"), p(&readme), p(&f)]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("has no SHA-256 entry for"),
        "{}",
        text(&o)
    );

    std::fs::write(
        &readme,
        "ok\n0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde  x\n",
    )
    .unwrap();
    let o = forja(&[os("nodes"), os("verify"), os("--readme"), p(&readme), p(&f)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("README.TXT:2: malformed checksum line"),
        "{}",
        text(&o)
    );
}

fn stage(readme: &Path, out: &Path, files: &[&Path]) -> std::process::Output {
    let mut args = vec![
        os("-q"),
        os("nodes"),
        os("stage"),
        os("--readme"),
        p(readme),
        os("--out"),
        p(out),
    ];
    args.extend(files.iter().map(|f| p(f)));
    forja(&args)
}

#[test]
fn stand_ins_stage_to_clean_reproducible_qcow2_and_lock() {
    let s = standins();
    let readme = s.join("README.TXT");
    let files = [s.join(MGR), s.join(CONF), s.join(QCOW)];
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for out in [a.path(), b.path()] {
        let o = stage(&readme, out, &files);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let lock_a = std::fs::read(a.path().join("nodes.lock")).unwrap();
    assert_eq!(
        lock_a,
        std::fs::read(b.path().join("nodes.lock")).unwrap(),
        "nodes.lock differs between runs"
    );
    let lock: serde_json::Value = serde_json::from_slice(&lock_a).unwrap();
    let images = lock["images"].as_array().unwrap();
    let sources: Vec<&str> = images
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    let mut sorted = sources.clone();
    sorted.sort();
    assert_eq!(sources, sorted, "images sorted by source");
    assert_eq!(
        lock["readme"]["sha256"].as_str().unwrap(),
        forja::hashio::Sha256::of(&std::fs::read(&readme).unwrap()).hex()
    );
    for img in images {
        for d in img["staged"].as_array().unwrap() {
            let staged = a.path().join(d["file"].as_str().unwrap());
            let check = Command::new("qemu-img")
                .args(["check", "-f", "qcow2"])
                .arg(&staged)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "qemu-img check {}: {}",
                staged.display(),
                text(&check)
            );
            let bytes = std::fs::read(&staged).unwrap();
            assert_eq!(
                d["sha256"].as_str().unwrap(),
                forja::hashio::Sha256::of(&bytes).hex()
            );
            assert_eq!(d["virtual_size"].as_u64(), Some(8 << 20));
        }
    }
    let mgr = images.iter().find(|i| i["source"] == MGR).unwrap();
    assert!(
        mgr["ova"]["ovf"]["annotation"]
            .as_str()
            .unwrap()
            .contains("STAND-IN")
    );
    let mut left = leftovers(a.path());
    left.sort();
    assert_eq!(
        left,
        [
            "Pexip_Infinity_v25.4_KVM_ConfNode_STANDIN.qcow2",
            "Pexip_Infinity_v25.4_generic_ConfNode_STANDIN.qcow2",
            "Pexip_Infinity_v25.4_generic_pxMgr_STANDIN.qcow2",
            "nodes.lock"
        ]
    );
}

/// Stages `file` (with `readme`) into a fresh folder; asserts the exit code and that nothing was left behind.
fn stage_fails(readme: &Path, file: &Path, code: i32, needle: &str) {
    let out = tempfile::tempdir().unwrap();
    let o = stage(readme, out.path(), &[file]);
    assert_eq!(o.status.code(), Some(code), "{}", text(&o));
    assert!(text(&o).contains(needle), "{} lacks {needle:?}", text(&o));
    assert_eq!(
        leftovers(out.path()),
        Vec::<String>::new(),
        "staging left files behind"
    );
}

#[test]
fn failures_have_distinct_codes_and_leave_no_staged_file() {
    let dir = tempfile::tempdir().unwrap();
    let readme = standins().join("README.TXT");

    // A flipped byte inside the compressed disk: README.TXT says otherwise.
    let f = copy(CONF, dir.path());
    let mut bytes = std::fs::read(&f).unwrap();
    let at = bytes.len() - 20_000;
    bytes[at] ^= 0x80;
    std::fs::write(&f, &bytes).unwrap();
    stage_fails(&readme, &f, 3, "SHA-256 mismatch");

    // A flipped byte in a tar header: still a mismatch first (README.TXT decides), with the parse error noted.
    let f2 = copy(MGR, dir.path());
    let mut bytes = std::fs::read(&f2).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&f2, &bytes).unwrap();
    stage_fails(&readme, &f2, 3, "also unreadable");

    // README.TXT edited to another hash.
    let edited = dir.path().join("README.TXT");
    let text = std::fs::read_to_string(&readme).unwrap();
    let mgr_hash = forja::hashio::Sha256::of(&std::fs::read(standins().join(MGR)).unwrap()).hex();
    std::fs::write(&edited, text.replace(&mgr_hash, &"0".repeat(64))).unwrap();
    stage_fails(&edited, &standins().join(MGR), 3, "SHA-256 mismatch");

    // Not in README.TXT at all.
    let other = dir
        .path()
        .join("Pexip_Infinity_v25.4_generic_ConfNode_OTHER.ova");
    std::fs::copy(standins().join(CONF), &other).unwrap();
    stage_fails(&readme, &other, 4, "has no SHA-256 entry");
}

/// A hostile OVA that README.TXT vouches for (the vendor's hash matches): the archive rules still refuse it.
fn hostile(name: &str, bytes: &[u8], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(name);
    std::fs::write(&f, bytes).unwrap();
    let readme = readme_for(dir.path(), &[&f]);
    stage_fails(&readme, &f, 7, needle);
}

#[test]
fn hostile_archives_are_refused_even_when_readme_vouches_for_them() {
    let m = members(CONF);
    // Sanity: the same builder with no hostility stages fine.
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ova");
    std::fs::write(&good, ova_from(&m)).unwrap();
    let readme = readme_for(dir.path(), &[&good]);
    let out = tempfile::tempdir().unwrap();
    let o = stage(&readme, out.path(), &[&good]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let mut t = Tar::default();
    t.file(&m[0].0, &m[0].1)
        .file("../../etc/cron.d/evil", b"* * * * * root sh\n");
    hostile("traversal.ova", &t.end(), "'..' component");

    let mut t = Tar::default();
    t.file(&m[0].0, &m[0].1).special(&m[2].0, b'2', "/dev/sda");
    hostile("symlink.ova", &t.end(), "symbolic link");

    let full = ova_from(&m);
    hostile("truncated.ova", &full[..full.len() - 3000], "truncated");
}

#[test]
fn a_truncated_download_against_the_real_hash_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy(MGR, dir.path());
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    stage_fails(&standins().join("README.TXT"), &f, 3, "truncated");
}
