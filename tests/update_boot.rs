//! Offline updates on a running host, under QEMU (TCG, OVMF's Secure Boot build with the lab's test keys, a
//! swtpm TPM): issue 16's boot test. Three lab builds, each with the boot proof's report unit
//! (`tests/boot/overlay`), whose operator step applies every bundle on a second virtual disk (serial
//! `forja-update`, the USB stick) with the image's own `/usr/bin/forja` and key, into the slot not running:
//! - N: the lab profile as shipped;
//! - N+1: a later SOURCE_DATE_EPOCH and another login banner (a profile change the report shows);
//! - N+2: later again, with a test-only health check that always fails (`tests/update/failing-health`).
//!
//! Boots of one device (one disk, one TPM), in order:
//! 1. N's disk image, first boot: the whole boot proof; then the stick with N+1's bundle: applied into slot B;
//! 2. slot B's trial boot (systemd-boot boot counting): the whole boot proof against N+1's profile (banner,
//!    slot B's signed command line), forja-health recorded slot b on trial and healthy, the slot is blessed
//!    (`forja-b.efi` on the ESP), vmstore unlocked by the TPM with no prompt, its key and the node disks as after
//!    boot 1; then the stick with N+2's bundle: applied into slot A;
//! 3. N+2's trial boot with the same stick plugged in: its health check fails, the slot is marked bad and the
//!    host reboots by itself (with `-no-reboot` QEMU exits); the stick (read back with debugfs) holds the update
//!    records of boots 2 and 3;
//! 4. back on slot B with nobody at the console: the whole boot proof again (not on trial), the update records
//!    hold N+2's failure, the ESP keeps N+2's image marked bad (`+0`); the stick now holds N's bundle, older than
//!    the running system: refused (exit 10), nothing written.
//!
//! A flipped byte in a bundle, bad signatures and every other refusal are `tests/update_bundle.rs` (no QEMU).
//! Runs in every `cargo test`; work folder `update-test` under `CARGO_TARGET_TMPDIR`, emptied but for consoles
//! and reports after a pass.

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::bootproof::{self, BootProof, Device, Timings};
use support::lab::{self, LabCopy};
use support::qemu;
use support::report::BootKind;

/// The lab profile's `base.source-date-epoch`: build N's IMAGE_VERSION.
const N: u64 = 1767225600;
const UPDATE_MARKER: &str = "FORJA-TEST-UPDATE ";
/// How long the operator step (apply a ~1 GB bundle under TCG, then `veritysetup verify`) may take after the report.
const APPLY_WAIT: Duration = Duration::from_secs(900);

fn forja(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "forja {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `forja bundle BUILD` into `dir`; the bundle's path.
fn bundle(build: &Path, dir: &Path, key: &Path) -> PathBuf {
    let out = forja(&[
        "bundle",
        s(build),
        "--out",
        s(dir),
        "--signing-key",
        s(key),
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    PathBuf::from(v["path"].as_str().unwrap())
}

/// An ext4 stick image labelled FORJA-UPDATE holding `bundle` as `name` (the runbook's update stick).
fn stick(work: &Path, run: &str, bundle: &Path, name: &str) -> PathBuf {
    let dir = work.join(format!("{run}.stick"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(bundle, dir.join(name)).unwrap();
    let img = work.join(format!("{run}.stick.img"));
    let size = std::fs::metadata(dir.join(name)).unwrap().len() + (64 << 20);
    let o = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-O", "^has_journal", "-L", "FORJA-UPDATE", "-d"])
        .arg(&dir)
        .arg(&img)
        .arg(format!("{}k", size.div_ceil(1024)))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
    img
}

/// The QEMU arguments that plug `img` in as a virtio disk with serial `forja-update` (the report unit's operator
/// step looks for that serial; forja-health finds it by its label).
fn plugged(img: &Path) -> Vec<String> {
    vec![
        "-drive".into(),
        format!("file={},format=raw,if=none,id=stick", img.display()),
        "-device".into(),
        "virtio-blk-pci,drive=stick,serial=forja-update".into(),
    ]
}

/// The update records forja-health wrote onto the stick (`forja-update-records/*.jsonl`), read with debugfs.
fn stick_records(img: &Path, work: &Path) -> Vec<Value> {
    let dir = work.join("stick-records");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("rdump /forja-update-records {}", dir.display()))
        .arg(img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("forja-update-records")).unwrap_or_else(|e| {
        panic!(
            "no forja-update-records on the stick ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    }) {
        for l in std::fs::read_to_string(e.unwrap().path()).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

/// The operator step's outcomes printed on the console.
fn updates(console: &str) -> Vec<Value> {
    console
        .lines()
        .filter_map(|l| {
            l.split_once(UPDATE_MARKER)
                .map(|x| x.1.trim_end_matches('\r'))
        })
        .map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("{e}: {j}")))
        .collect()
}

/// The one update the operator step made on this boot, which must have gone in.
fn applied(run: &str, console: &str) -> Value {
    let u = updates(console);
    assert_eq!(
        u.len(),
        1,
        "{run}: expected one update on the console: {u:?}"
    );
    assert_eq!(
        u[0]["exit_code"], 0,
        "{run}: forja update apply failed on the host: {}",
        u[0]
    );
    u[0]["applied"].clone()
}

/// The raw report the harness saved for `run` (for keys the typed report does not carry).
fn raw_report(work: &Path, run: &str) -> Value {
    serde_json::from_slice(&std::fs::read(work.join(format!("{run}.report.json"))).unwrap())
        .unwrap()
}

/// What must survive every update and rollback: vmstore's key (as the report hashes it) and the node disks.
fn kept(r: &Value) -> (Value, Value) {
    (
        r["vmstore"]["key_sha256"].clone(),
        r["nodes"]["files"].clone(),
    )
}

/// The command line inside slot B's signed image of `build` (what /proc/cmdline must be when slot B runs).
fn slot_b_cmdline(build: &Path) -> String {
    let bytes = forja::boot::pe::section(&build.join("forja-b.efi"), ".cmdline")
        .unwrap()
        .expect("forja-b.efi has a .cmdline");
    String::from_utf8(bytes)
        .unwrap()
        .trim_end_matches('\0')
        .trim()
        .to_owned()
}

fn esp_images(r: &Value) -> Vec<String> {
    r["esp_images"]
        .as_array()
        .unwrap_or_else(|| panic!("no esp_images in the report"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_update_is_kept_when_healthy_and_rolled_back_when_not() {
    if let Some(m) = qemu::missing_tools() {
        panic!("update-test: {m}");
    }
    let all = Instant::now();
    let work = lab::tmp().join("update-test");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let lab = LabCopy::new();
    let key = lab.dir.path().join("keys/lab-test.sec");
    let boot_overlay = lab::repo().join("tests/boot/overlay");
    let failing = lab::repo().join("tests/update/failing-health");
    let mut bt = Timings::new("update-test");

    // Builds N, N+1 and N+2, and their bundles.
    let t = Instant::now();
    let (n, n1, n2) = (work.join("n"), work.join("n1"), work.join("n2"));
    lab::build(
        &lab.profile(),
        &n,
        &[],
        &["--extra-overlay", s(&boot_overlay)],
    );
    let raw_len = std::fs::metadata(n.join("disk.raw")).unwrap().len();
    let disk_bytes = (raw_len + (4096 << 20)).div_ceil(1 << 20) << 20;
    let proof_n = BootProof::new(&lab.profile(), &work, disk_bytes, Some(&n)).unwrap();
    lab.edit(|t| t.replace("ACCESO RESTRINGIDO.", "ACCESO RESTRINGIDO (N+1)."));
    let (e1, e2) = ((N + 1).to_string(), (N + 2).to_string());
    lab::build(
        &lab.profile(),
        &n1,
        &[("SOURCE_DATE_EPOCH", e1.as_str())],
        &["--extra-overlay", s(&boot_overlay)],
    );
    let proof_n1 = BootProof::new(&lab.profile(), &work, disk_bytes, Some(&n1)).unwrap();
    lab::build(
        &lab.profile(),
        &n2,
        &[("SOURCE_DATE_EPOCH", e2.as_str())],
        &[
            "--extra-overlay",
            s(&boot_overlay),
            "--extra-overlay",
            s(&failing),
        ],
    );
    let bundles = work.join("bundles");
    let (b_n, b_n1, b_n2) = (
        bundle(&n, &bundles, &key),
        bundle(&n1, &bundles, &key),
        bundle(&n2, &bundles, &key),
    );
    let b_cmdline = slot_b_cmdline(&n1);
    assert!(b_cmdline.contains("forja.slot=b"), "{b_cmdline}");
    bt.add("three lab builds and their bundles", t.elapsed());

    // 1. N's first boot; the stick brings N+1.
    let dev: Device = proof_n.device("upd", &n.join("disk.raw")).unwrap();
    let run = "upd-1-n";
    let (_, failures, console) = proof_n
        .report_boot_as(
            run,
            &dev,
            &proof_n.expected(BootKind::First),
            &plugged(&stick(&work, run, &b_n1, "n1.bundle")),
            APPLY_WAIT,
            &mut bt,
        )
        .unwrap();
    bootproof::verdict(run, &failures, &work).unwrap();
    let first = kept(&raw_report(&work, run));
    let a = applied(run, &console);
    assert_eq!(
        (a["slot"].as_str(), a["version"].as_u64()),
        (Some("b"), Some(N + 1)),
        "{a}"
    );
    assert_eq!(esp_images(&raw_report(&work, run)), ["forja-a.efi"]);

    // 2. N+1's trial boot in slot B: kept; the stick brings N+2.
    let mut trial = proof_n1.expected(BootKind::Again);
    (trial.slot, trial.trial) = ("b", true);
    trial.kernel_cmdline = Some(b_cmdline.clone());
    let run = "upd-2-n1-trial";
    let stick2 = stick(&work, run, &b_n2, "n2.bundle");
    let (_, failures, console) = proof_n1
        .report_boot_as(run, &dev, &trial, &plugged(&stick2), APPLY_WAIT, &mut bt)
        .unwrap();
    bootproof::verdict(run, &failures, &work).unwrap();
    let r2 = raw_report(&work, run);
    assert_eq!(
        kept(&r2),
        first,
        "{run}: vmstore's key or the node disks changed"
    );
    assert!(
        esp_images(&r2).contains(&"forja-b.efi".to_owned()),
        "{run}: slot B was not marked good: {:?}",
        esp_images(&r2)
    );
    let a = applied(run, &console);
    assert_eq!(
        (a["slot"].as_str(), a["version"].as_u64()),
        (Some("a"), Some(N + 2)),
        "{a}"
    );

    // 3. N+2's trial boot, the stick still plugged in: the health check fails, the slot is marked bad, the host
    // reboots by itself; the stick carries both outcomes back.
    let run = "upd-3-n2-fails";
    let (st, console) = proof_n1
        .boot_until_exit(
            run,
            &dev,
            &plugged(&stick2),
            bootproof::REPORT_TIMEOUT,
            &mut bt,
        )
        .unwrap();
    assert!(st.success(), "{run}: QEMU exited {st}");
    assert!(
        !console.contains(support::report::MARKER),
        "{run}: the failing slot ran to the report instead of rolling back"
    );
    assert!(
        console.contains("FAILED: health.d/zz-test-fails"),
        "{run}: the console does not name the failed check"
    );
    let on_stick = stick_records(&stick2, &work);
    let seen = |slot: &str, version: u64, result: &str| {
        on_stick.iter().any(|r| {
            r["slot"] == slot
                && r["version"] == version.to_string().as_str()
                && r["result"] == result
        })
    };
    assert!(
        seen("b", N + 1, "healthy") && seen("a", N + 2, "unhealthy"),
        "the stick should hold N+1's good trial and N+2's failure: {on_stick:?}"
    );

    // 4. Back on slot B, blessed; an older bundle is refused on the host.
    let mut back = proof_n1.expected(BootKind::Again);
    back.slot = "b";
    back.kernel_cmdline = Some(b_cmdline);
    let run = "upd-4-rolled-back";
    let (_, failures, console) = proof_n1
        .report_boot_as(
            run,
            &dev,
            &back,
            &plugged(&stick(&work, run, &b_n, "older.bundle")),
            APPLY_WAIT,
            &mut bt,
        )
        .unwrap();
    bootproof::verdict(run, &failures, &work).unwrap();
    let r4 = raw_report(&work, run);
    assert_eq!(
        kept(&r4),
        first,
        "{run}: vmstore's key or the node disks changed"
    );
    let records = r4["update_records"].as_array().unwrap();
    let failed = records
        .iter()
        .find(|r| r["slot"] == "a" && r["version"] == (N + 2).to_string().as_str())
        .unwrap_or_else(|| panic!("{run}: no update record of N+2's boot: {records:?}"));
    assert_eq!(failed["trial"], true, "{failed}");
    assert_ne!(failed["result"], "healthy", "{failed}");
    assert!(
        failed["failed"]
            .as_array()
            .is_some_and(|f| f.iter().any(|c| c == "health.d/zz-test-fails")),
        "{failed}"
    );
    let esp = esp_images(&r4);
    assert!(
        esp.contains(&"forja-b.efi".to_owned()) && esp.iter().any(|n| n.starts_with("forja-a+0")),
        "{run}: the ESP should keep slot B good and slot A marked bad: {esp:?}"
    );
    let u = updates(&console);
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(
        u[0]["exit_code"], 10,
        "{run}: an older bundle must be refused: {}",
        u[0]
    );
    assert!(u[0]["applied"].is_null(), "{}", u[0]);

    bt.print();
    eprintln!("update-test: PASS in {:.1} s", all.elapsed().as_secs_f64());
    bootproof::keep_only_logs(&work);
}
