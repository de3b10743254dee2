//! Offline updates without QEMU: `forja bundle` from two lab builds (N and N+1, a profile change and a later
//! SOURCE_DATE_EPOCH), `forja update apply` of N+1 into slot B of a copy of N's disk image. Independent oracles:
//! GNU tar lists the members, `signify-openbsd -V` checks the manifest's signature, `veritysetup verify` checks
//! the written slot (forja itself no longer reads it back), `mdir`/`mcopy` read the ESP. The tree check against
//! `veritysetup format`'s trees is `tests/update_tree.rs`; the QEMU update/rollback boot is not here (see README).
//!
//! One test function on purpose: the builds are shared and the steps run on one target, in order.

#[path = "support/lab.rs"]
mod lab;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use forja::hashio::Sha256;
use forja::update::manifest::Manifest;

const N: u64 = 1767225600;

fn forja(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `(offset, size)` of a partition of the target, by name, from the build's plan.
fn region(plan: &forja::plan::Plan, name: &str) -> (u64, u64) {
    let p = plan.built().unwrap().layout.named(name).unwrap();
    (p.offset, p.size)
}

fn hash_region(f: &Path, (off, len): (u64, u64)) -> Sha256 {
    let mut file = std::fs::File::open(f).unwrap();
    file.seek(SeekFrom::Start(off)).unwrap();
    let mut r = forja::hashio::HashingReader::new(file.take(len));
    std::io::copy(&mut r, &mut std::io::sink()).unwrap();
    r.finish().0
}

fn all_zero(f: &Path, (off, len): (u64, u64)) -> bool {
    let mut file = std::fs::File::open(f).unwrap();
    file.seek(SeekFrom::Start(off)).unwrap();
    let mut r = file.take(len);
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return true;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return false;
        }
    }
}

/// A bundle member: name, offset of its data in the file, size.
type Member = (String, u64, u64);

/// The bundle's members in order, and the manifest and signature bytes.
fn members(bundle: &Path) -> (Vec<Member>, Vec<u8>, Vec<u8>) {
    let mut a = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let (mut out, mut manifest, mut sig) = (Vec::new(), Vec::new(), Vec::new());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        out.push((name.clone(), e.raw_file_position(), e.size()));
        match name.as_str() {
            "manifest.json" => e.read_to_end(&mut manifest).map(|_| ()).unwrap(),
            "manifest.json.sig" => e.read_to_end(&mut sig).map(|_| ()).unwrap(),
            _ => {}
        }
    }
    (out, manifest, sig)
}

fn make_bundle(build: &Path, out: &Path, key: &Path) -> PathBuf {
    let (code, json, err) = forja(&[
        "bundle",
        s(build),
        "--out",
        s(out),
        "--signing-key",
        s(key),
        "--json",
    ]);
    assert_eq!(code, 0, "forja bundle: {err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    PathBuf::from(v["path"].as_str().unwrap())
}

fn apply(bundle: &Path, target: &Path, pubkey: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "update",
        "apply",
        s(bundle),
        "--target-disk",
        s(target),
        "--pubkey",
        s(pubkey),
    ];
    args.extend_from_slice(extra);
    forja(&args)
}

fn esp_names(target: &Path, plan: &forja::plan::Plan) -> Vec<String> {
    let (off, _) = region(plan, "esp");
    let o = Command::new("mdir")
        .args([
            "-b",
            "-i",
            &format!("{}@@{off}", target.display()),
            "::EFI/Linux",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim().rsplit('/').next().map(str::to_owned))
        .filter(|n| !n.is_empty())
        .collect();
    v.sort();
    v
}

/// `veritysetup verify` on copies of a slot's two partitions against the manifest's root hash.
fn veritysetup_verify(
    target: &Path,
    plan: &forja::plan::Plan,
    slot: &str,
    m: &Manifest,
    work: &Path,
) -> bool {
    let (d, h) = (work.join("oracle.root"), work.join("oracle.verity"));
    for (name, dst) in [
        (format!("root-{slot}"), &d),
        (format!("root-{slot}-verity"), &h),
    ] {
        let (off, len) = region(plan, &name);
        let mut f = std::fs::File::open(target).unwrap();
        f.seek(SeekFrom::Start(off)).unwrap();
        std::io::copy(&mut f.take(len), &mut std::fs::File::create(dst).unwrap()).unwrap();
    }
    let o = Command::new("veritysetup")
        .args(["verify", s(&d), s(&h), &m.verity.root_hash.hex()])
        .output()
        .unwrap();
    std::fs::remove_file(&d).unwrap();
    std::fs::remove_file(&h).unwrap();
    o.status.success()
}

fn copy_sparse(src: &Path, dst: &Path) {
    let st = Command::new("cp")
        .args(["--sparse=always", s(src), s(dst)])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Flips one byte of `bundle` (a copy is made) at `at`.
fn flipped(bundle: &Path, dst: &Path, at: u64) {
    copy_sparse(bundle, dst);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dst)
        .unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
}

// Long on purpose: the steps share two lab builds (~1 min each) and run in order on one target image, each
// refusal checked against the state the previous step left.
#[test]
fn a_signed_bundle_updates_slot_b_and_every_bad_bundle_is_refused() {
    let lab = lab::LabCopy::new();
    let work = tempfile::tempdir_in(lab::tmp()).unwrap();
    let w = work.path();
    let (build_n, build_n1) = (w.join("n"), w.join("n1"));
    lab::build(&lab.profile(), &build_n, &[], &[]);
    lab.edit(|t| t.replace("ACCESO RESTRINGIDO.", "ACCESO RESTRINGIDO (N+1)."));
    let epoch = (N + 1).to_string();
    lab::build(
        &lab.profile(),
        &build_n1,
        &[("SOURCE_DATE_EPOCH", epoch.as_str())],
        &[],
    );
    let key = lab::tmp().join("forja-test-keys/lab-test.sec");
    let pubkey = build_n.join("forja.pub");
    let plan = forja::plan::Plan::load(&build_n.join("plan.json")).unwrap();

    // Reproducible: two bundles of the same build are the same bytes.
    let b1 = make_bundle(&build_n1, &w.join("bundles"), &key);
    let again = make_bundle(&build_n1, &w.join("again"), &key);
    assert_eq!(
        b1.file_name().unwrap(),
        format!("forja-update-{}.bundle", N + 1).as_str()
    );
    assert_eq!(
        Sha256::of_file(&b1).unwrap(),
        Sha256::of_file(&again).unwrap(),
        "bundles differ"
    );
    std::fs::remove_dir_all(w.join("again")).unwrap();
    let b0 = make_bundle(&build_n, &w.join("bundles"), &key);

    // The format, by tools that are not forja: member order by GNU tar, the signature by signify.
    let tar = Command::new("tar").args(["-tf", s(&b1)]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&tar.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            "manifest.json",
            "manifest.json.sig",
            "root.verity",
            "root.erofs",
            "forja-a.efi",
            "forja-b.efi"
        ]
    );
    let (list, manifest_bytes, sig) = members(&b1);
    std::fs::write(w.join("manifest.json"), &manifest_bytes).unwrap();
    std::fs::write(w.join("manifest.json.sig"), &sig).unwrap();
    let v = Command::new("signify-openbsd")
        .args([
            "-V",
            "-q",
            "-p",
            s(&pubkey),
            "-x",
            s(&w.join("manifest.json.sig")),
            "-m",
        ])
        .arg(w.join("manifest.json"))
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "signify -V: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    let m = Manifest::parse(&manifest_bytes).unwrap();
    assert_eq!(
        (m.version, m.boot_tries, m.profile.as_str()),
        (N + 1, 3, "lab")
    );
    let built1 = forja::plan::Plan::load(&build_n1.join("plan.json")).unwrap();
    assert_eq!(m.verity.root_hash, built1.built().unwrap().root_hash);
    assert_eq!(
        m.build_id,
        Sha256::of(&std::fs::read(build_n1.join("SHA256SUMS")).unwrap())
    );

    let target = w.join("target.raw");
    copy_sparse(&build_n.join("disk.raw"), &target);
    let kept = ["root-a", "root-a-verity", "state", "payload", "vmstore"];
    let before: Vec<Sha256> = kept
        .iter()
        .map(|p| hash_region(&target, region(&plan, p)))
        .collect();
    let gpt = (0, 1 << 20);
    let gpt_before = hash_region(&target, gpt);
    let slot_b = [region(&plan, "root-b"), region(&plan, "root-b-verity")];
    let slot_b_empty = |why: &str| {
        for r in slot_b {
            assert!(all_zero(&target, r), "{why}: slot B is not all zeros");
        }
        assert!(
            !esp_names(&target, &plan)
                .iter()
                .any(|n| n.starts_with("forja-b")),
            "{why}: slot B on the ESP"
        );
    };

    // One flipped byte in the third chunk of root.erofs (data block 2051): refused with 3, and what the workers
    // wrote of the chunks before it (and beside it) is zeroed.
    let member = |name: &str| list.iter().find(|(n, ..)| n == name).cloned().unwrap();
    let (_, root_at, root_len) = member("root.erofs");
    assert!(
        root_len > 3 * (4 << 20),
        "the lab root is larger than three chunks"
    );
    let bad = w.join("flipped.bundle");
    flipped(&b1, &bad, root_at + 2 * (4 << 20) + 12345);
    let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(
            "root.erofs block 2051 (bytes 8400896..8404992) does not match the signed hash tree"
        ),
        "{err}"
    );
    slot_b_empty("flipped byte");
    std::fs::remove_file(&bad).unwrap();

    // One flipped byte in the tree (level 0's entry for data block 0): refused with 3 by the tree's signed SHA-256.
    let (_, tree_at, tree_len) = member("root.verity");
    let level0 = tree_len - m.data_blocks().div_ceil(128) * 4096;
    flipped(&b1, &bad, tree_at + level0 + 3);
    let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("root.verity does not match the signed manifest"),
        "{err}"
    );
    slot_b_empty("flipped tree byte");

    // One flipped byte in each slot image (the one installed, and the other, hashed as it streams past): 3.
    for uki in ["forja-b.efi", "forja-a.efi"] {
        let (_, at, len) = member(uki);
        flipped(&b1, &bad, at + len / 2);
        let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b"]);
        assert_eq!(code, 3, "{uki}: {err}");
        assert!(
            err.contains(&format!("{uki} does not match the signed manifest")),
            "{err}"
        );
        slot_b_empty(uki);
    }

    // One flipped byte in the manifest: its signature fails, 5, nothing written.
    let (_, man_at, _) = member("manifest.json");
    flipped(&b1, &bad, man_at + 40);
    let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b"]);
    assert_eq!(code, 5, "{err}");
    slot_b_empty("flipped manifest byte");
    std::fs::remove_file(&bad).unwrap();

    // The manifest re-signed with another key (same length, so the rest of the bundle is intact): refused with 5.
    let other = forja::sign::SigningKey::from_seed([9; 32]);
    let resigned =
        forja::sign::signify::sign_detached(&other, &manifest_bytes, "verify with forja.pub");
    assert_eq!(resigned.len(), sig.len());
    let (_, sig_at, _) = member("manifest.json.sig");
    let bad = w.join("resigned.bundle");
    copy_sparse(&b1, &bad);
    let mut f = std::fs::OpenOptions::new().write(true).open(&bad).unwrap();
    f.seek(SeekFrom::Start(sig_at)).unwrap();
    f.write_all(&resigned).unwrap();
    drop(f);
    let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b"]);
    assert_eq!(code, 5, "{err}");
    slot_b_empty("another key");
    std::fs::remove_file(&bad).unwrap();

    // N+1 into slot B.
    let (code, json, err) = apply(&b1, &target, &pubkey, &["--slot", "b", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rec: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rec["version"], N + 1);
    assert_eq!(rec["running_version"], N);
    assert_eq!(rec["allowed_older"], false);
    assert_eq!(rec["verified_first"], false);
    let (boff, _) = region(&plan, "root-b");
    let (voff, _) = region(&plan, "root-b-verity");
    assert_eq!(hash_region(&target, (boff, m.root.size)), m.root.sha256);
    assert_eq!(hash_region(&target, (voff, m.verity.size)), m.verity.sha256);
    assert!(
        veritysetup_verify(&target, &plan, "b", &m, w),
        "veritysetup verify fails on slot B"
    );
    assert_eq!(esp_names(&target, &plan), ["forja-a.efi", "forja-b+3.efi"]);
    // Slot B boots from slot B's own image: the build's, byte for byte, naming root-b's partitions, signed with db.
    let uki = esp_file(&target, &plan, "forja-b+3.efi", &w.join("b.efi"));
    let built_b = std::fs::read(build_n1.join("forja-b.efi")).unwrap();
    assert!(
        std::fs::read(&uki).unwrap() == built_b,
        "the ESP's forja-b+3.efi is not the build's forja-b.efi"
    );
    assert_eq!(Sha256::of_file(&uki).unwrap(), m.uki.b.sha256);
    let cmdline = cmdline_of(&uki);
    let guid = |name: &str| plan.partition(name).unwrap().guid.to_string();
    for want in [
        format!("systemd.verity_root_data=PARTUUID={}", guid("root-b")),
        format!(
            "systemd.verity_root_hash=PARTUUID={}",
            guid("root-b-verity")
        ),
        format!("roothash={}", m.verity.root_hash.hex()),
        "forja.slot=b".to_owned(),
    ] {
        assert!(
            cmdline.split_whitespace().any(|w| w == want),
            "{want} not in slot B's .cmdline: {cmdline}"
        );
    }
    assert!(
        !cmdline.contains(&guid("root-a")),
        "slot B's .cmdline names root-a: {cmdline}"
    );
    sbverify(&uki);
    std::fs::remove_file(&uki).unwrap();
    let after: Vec<Sha256> = kept
        .iter()
        .map(|p| hash_region(&target, region(&plan, p)))
        .collect();
    for ((name, b), a) in kept.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "{name} changed");
    }
    assert_eq!(hash_region(&target, gpt), gpt_before, "the GPT changed");

    // A tree that does not hash up to the signed root hash, in a bundle whose manifest (with that tree's SHA-256)
    // is signed by the right key: refused with 3 before anything is written or removed. Slot B still holds N+1
    // and its image, so an untouched slot proves that no write happened (a zeroed one would not).
    let (_, man_at, man_len) = member("manifest.json");
    let mut tree = std::fs::read(&b1).unwrap()[tree_at as usize..][..tree_len as usize].to_vec();
    tree[level0 as usize + 3] ^= 1;
    let mut forged = m.clone();
    forged.verity.sha256 = Sha256::of(&tree);
    let forged_bytes = forged.to_bytes();
    assert_eq!(forged_bytes.len() as u64, man_len);
    let lab_key = forja::sign::SigningKey::load(&key).unwrap();
    let forged_sig =
        forja::sign::signify::sign_detached(&lab_key, &forged_bytes, "verify with forja.pub");
    assert_eq!(forged_sig.len(), sig.len());
    let bad = w.join("forged.bundle");
    copy_sparse(&b1, &bad);
    let mut f = std::fs::OpenOptions::new().write(true).open(&bad).unwrap();
    for (at, bytes) in [
        (man_at, &forged_bytes),
        (sig_at, &forged_sig),
        (tree_at, &tree),
    ] {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(bytes).unwrap();
    }
    drop(f);
    let slot_b_now: Vec<Sha256> = slot_b.iter().map(|r| hash_region(&target, *r)).collect();
    let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("root.verity does not hash up to the signed root hash: block 0 of level 0 does not hash to its entry in level 1"),
        "{err}"
    );
    let slot_b_after: Vec<Sha256> = slot_b.iter().map(|r| hash_region(&target, *r)).collect();
    assert_eq!(slot_b_now, slot_b_after, "slot B was written");
    assert_eq!(esp_names(&target, &plan), ["forja-a.efi", "forja-b+3.efi"]);
    std::fs::remove_file(&bad).unwrap();

    // --verify-first on a used slot: slot B holds N+1, the previous version a rollback would return to. One
    // flipped byte in root.erofs (as above), or in forja-b.efi (the last member read before anything is written):
    // refused with 3 by the first, dry-run pass, and slot B's partitions and the whole ESP are byte for byte as
    // before (its listing included: the first pass removes nothing).
    let esp = region(&plan, "esp");
    let used = |target: &Path| -> (Vec<Sha256>, Sha256) {
        let parts = slot_b.iter().map(|r| hash_region(target, *r)).collect();
        (parts, hash_region(target, esp))
    };
    let (root_b_used, esp_used) = used(&target);
    assert_eq!(hash_region(&target, (boff, m.root.size)), m.root.sha256);
    let (_, uki_at, uki_len) = member("forja-b.efi");
    for (what, at, names) in [
        ("root.erofs", root_at + 2 * (4 << 20) + 12345, "block 2051"),
        (
            "forja-b.efi",
            uki_at + uki_len / 2,
            "forja-b.efi does not match",
        ),
    ] {
        flipped(&b1, &bad, at);
        let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b", "--verify-first"]);
        assert_eq!(code, 3, "{what}: {err}");
        assert!(
            err.contains("--verify-first: refused before anything was written")
                && err.contains(names),
            "{what}: {err}"
        );
        assert_eq!(
            used(&target),
            (root_b_used.clone(), esp_used),
            "{what}: --verify-first changed slot B or the ESP"
        );
        assert_eq!(esp_names(&target, &plan), ["forja-a.efi", "forja-b+3.efi"]);
    }
    // The default streams: the same flipped root, without the flag, costs the used slot N+1. Its image left the
    // ESP before the first write and its tree is zeroed (written whole, then zeroed with what was written of the
    // root; how much of the old root that was depends on which worker met the bad chunk first, so only the tree
    // and the ESP are checked: without them nothing boots or verifies the rest).
    flipped(&b1, &bad, root_at + 2 * (4 << 20) + 12345);
    let (code, _, err) = apply(&bad, &target, &pubkey, &["--slot", "b"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        all_zero(&target, slot_b[1]),
        "streaming: slot B's tree is not zeroed"
    );
    assert_eq!(esp_names(&target, &plan), ["forja-a.efi"]);
    std::fs::remove_file(&bad).unwrap();
    // --verify-first with --dry-run is refused as a usage error (a dry run writes nothing to verify first).
    let (code, _, err) = apply(
        &b1,
        &target,
        &pubkey,
        &["--slot", "b", "--verify-first", "--dry-run"],
    );
    assert_eq!(code, 2, "{err}");
    // A good bundle with --verify-first: verified whole, then written (every block proven again), recorded.
    let (code, json, err) = apply(
        &b1,
        &target,
        &pubkey,
        &["--slot", "b", "--verify-first", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "--verify-first: bundle version {} verified whole for slot b",
            N + 1
        )),
        "{err}"
    );
    let rec: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&rec["verified_first"], &rec["dry_run"], &rec["version"]),
        (
            &serde_json::json!(true),
            &serde_json::json!(false),
            &serde_json::json!(N + 1)
        )
    );
    assert_eq!(used(&target).0, root_b_used, "slot B is not N+1 again");
    assert_eq!(esp_names(&target, &plan), ["forja-a.efi", "forja-b+3.efi"]);

    // N (older than slot B's N+1) into slot A: refused without the override, nothing touched; logged with it.
    let slot_a = hash_region(&target, region(&plan, "root-a"));
    let (code, _, err) = apply(&b0, &target, &pubkey, &["--slot", "a"]);
    assert_eq!(code, 10, "{err}");
    assert!(err.contains("not newer than the running"), "{err}");
    assert_eq!(hash_region(&target, region(&plan, "root-a")), slot_a);
    assert_eq!(esp_names(&target, &plan), ["forja-a.efi", "forja-b+3.efi"]);
    // With --verify-written, veritysetup reads the written slot back too (the auditors' option).
    let (code, json, err) = apply(
        &b0,
        &target,
        &pubkey,
        &["--slot", "a", "--allow-older", "--verify-written", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("--allow-older"),
        "the downgrade is not logged: {err}"
    );
    let rec: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (
            rec["allowed_older"].as_bool(),
            rec["running_version"].as_u64()
        ),
        (Some(true), Some(N + 1))
    );
    assert_eq!(rec["verified_written"], true);
    assert_eq!(
        esp_names(&target, &plan),
        ["forja-a+3.efi", "forja-b+3.efi"]
    );
    let m0 = Manifest::parse(&members(&b0).1).unwrap();
    assert!(
        veritysetup_verify(&target, &plan, "a", &m0, w),
        "veritysetup verify fails on slot A"
    );
    // Slot A gets slot A's image back: N's, as it was on N's ESP.
    let uki = esp_file(&target, &plan, "forja-a+3.efi", &w.join("a.efi"));
    let orig = esp_file(
        &build_n.join("disk.raw"),
        &plan,
        "forja-a.efi",
        &w.join("a0.efi"),
    );
    assert_eq!(
        Sha256::of_file(&uki).unwrap(),
        Sha256::of_file(&orig).unwrap()
    );
    assert_eq!(Sha256::of_file(&uki).unwrap(), m0.uki.a.sha256);
    assert!(
        cmdline_of(&uki)
            .split_whitespace()
            .any(|w| w == "forja.slot=a")
    );
}

/// Copies `EFI/Linux/NAME` off `disk`'s ESP with mcopy.
fn esp_file(disk: &Path, plan: &forja::plan::Plan, name: &str, dst: &Path) -> PathBuf {
    let (eoff, _) = region(plan, "esp");
    let o = Command::new("mcopy")
        .args([
            "-n",
            "-o",
            "-i",
            &format!("{}@@{eoff}", disk.display()),
            &format!("::EFI/Linux/{name}"),
            s(dst),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mcopy {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dst.to_owned()
}

/// The `.cmdline` section of a PE image, as binutils' objcopy extracts it.
fn cmdline_of(efi: &Path) -> String {
    let out = efi.with_extension("cmdline");
    let o = Command::new("objcopy")
        .args([
            "-O",
            "binary",
            "--only-section",
            ".cmdline",
            s(efi),
            s(&out),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "objcopy: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    text.trim_end_matches('\0').to_owned()
}

/// `sbverify --cert` with the lab's db certificate (the Authenticode signature checked by sbsigntools).
fn sbverify(efi: &Path) {
    let cert = lab::secure_boot_keys().join("db.crt");
    let o = Command::new("sbverify")
        .args(["--cert", s(&cert), s(efi)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sbverify --cert db.crt {}: {}{}",
        efi.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
