//! The site media and the boot proof: the USB and PXE installers under QEMU (TCG, OVMF's Secure Boot build with the
//! lab's test keys enrolled), and the disks they write booted through the whole verified chain.
//!
//! One test, in order (each phase prints its time):
//! 1. build the lab profile with the boot proof's test unit (`--extra-overlay tests/boot/overlay`), make the USB
//!    image twice: byte-identical, and `signify-openbsd -C` accepts its own signed SHA256SUMS;
//! 2. boot the USB image under Secure Boot (its `BOOTX64.EFI` is the installer as a unified kernel image signed
//!    with the site's db key) with a blank raw target disk: the installer must install and power off; the
//!    target's first `len(disk.raw)` bytes must hash to the signed `disk.raw` SHA-256; an install record must be
//!    on the USB payload partition (read back with debugfs);
//! 3. boot the installed disk as the boot proof's device A (its own TPM, Secure Boot on) and run the boot proof's
//!    checks on its report (`support::bootproof`: Secure Boot, verified read-only root, state, first boot,
//!    vmstore, network, firewall probes, self-check, node images);
//! 4. a USB image whose `disk.raw.zst` has one byte flipped on the payload partition: the installer must stop
//!    with a hash error and the target must stay all zeros;
//! 5. the PXE tree, made twice (identical, signify -C), booted by the firmware under Secure Boot: OVMF's own
//!    UEFI PXE (the NIC's iPXE option ROM is off: it is not signed with the site's keys) takes `installer.efi`
//!    from slirp's built-in DHCP/TFTP, the firmware checks its signature, and the installer fetches the payload
//!    over HTTP from a tiny server on 127.0.0.1, which the guest reaches as 10.0.2.2. The target must hash to the
//!    signed image;
//! 6. the PXE-installed disk is device B: the same checks, and its vmstore key differs from A's; then A boots
//!    again (TPM unlock, no prompt, same key), once with Secure Boot off and once with a fresh TPM (both must stop
//!    at the recovery-key prompt), once with one byte of its root flipped (dm-verity must stop it), and the
//!    build's own boot image signed with a foreign key must be refused by the firmware;
//! 7. the iPXE path for sites without Secure Boot (`boot.ipxe` through the NIC's iPXE ROM) while the HTTP server
//!    flips one byte of `disk.raw.zst` in flight: the installer must stop before touching the target, which stays
//!    all zeros.
//!
//! Runs in every `cargo test` (leave it out with `cargo test -- --skip usb_and_pxe`, which cargo then reports as
//! filtered out, not passed). Work folder: `media-test` under cargo's `CARGO_TARGET_TMPDIR`.

#[allow(dead_code)]
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use forja::hashio::{HashingReader, Sha256};
use support::bootproof::{self, BootProof, Timings};
use support::lab::{self, LabCopy};
use support::qemu::{self, Vm, VmConfig};
use support::report::{self, BootKind};

fn forja(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_forja"));
    for a in args {
        c.arg(a);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "forja {:?} failed ({}):\n{}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn phase(t: &mut Instant, name: &str) {
    eprintln!("media-test: {name}: {:.1} s", t.elapsed().as_secs_f64());
    *t = Instant::now();
}

/// The SHA-256 that `SHA256SUMS` in `dir` lists for `name`.
fn listed(dir: &Path, name: &str) -> Sha256 {
    let sums = forja::sign::Sums::parse(&std::fs::read(dir.join("SHA256SUMS")).unwrap()).unwrap();
    sums.get(name)
        .unwrap_or_else(|| panic!("{name} not in SHA256SUMS"))
}

/// Where the USB image's payload partition (ext4) starts: after the alignment gap and the ESP.
const PAYLOAD_OFF: u64 = forja::disk::gpt::ALIGN + forja::media::build::USB_ESP_SIZE;

fn hash_prefix(path: &Path, len: u64) -> Sha256 {
    let mut r = HashingReader::new(std::fs::File::open(path).unwrap().take(len));
    std::io::copy(&mut r, &mut std::io::sink()).unwrap();
    let (h, n) = r.finish();
    assert_eq!(n, len, "{} is shorter than {len}", path.display());
    h
}

fn all_zero(path: &Path) -> bool {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return true;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return false;
        }
    }
}

fn sparse_file(path: &Path, len: u64) {
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

fn tool(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A VM that boots `boot` and has `target` (raw) as a second virtio disk with a serial number.
fn installer_vm(name: &str, work: &Path, boot: &Path, target: &Path) -> VmConfig {
    let mut cfg = VmConfig::new(name, work, boot);
    cfg.memory_mb = 1536;
    cfg.timeout = Duration::from_secs(900);
    cfg.extra = vec![
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id=target,discard=unmap",
            target.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=target,serial=forja-target-1".into(),
    ];
    cfg
}

/// Boots the installer and returns its console once it powered off (success) or printed FAILED.
fn run_installer(cfg: &VmConfig) -> (bool, String) {
    let mut vm = Vm::start(cfg).unwrap();
    let line = vm.wait_for_line(
        Duration::from_secs(600),
        &[
            "forja-installer: install complete",
            "forja-installer: FAILED",
            // The firmware found nothing to boot (no installer ran).
            "EFI Internal Shell",
        ],
    );
    let ok = matches!(&line, Ok(l) if l.contains("install complete"));
    if ok {
        vm.wait_exit(Duration::from_secs(60)).unwrap();
    } else {
        vm.kill();
    }
    let console = vm.console();
    eprintln!("--- {} console (installer lines) ---", cfg.name);
    for l in console.lines().filter(|l| l.contains("forja-installer")) {
        eprintln!("{l}");
    }
    if line.is_err() {
        panic!(
            "{}: {:?}\n{}\n{}",
            cfg.name,
            line.err().map(|e| e.to_string()),
            vm.console_tail(40),
            vm.qemu_log()
        );
    }
    (ok, console)
}

/// Byte of `disk.raw.zst` that the tamper phases flip (inside the first zstd block): on the USB payload
/// partition, and in flight from a tampering server.
const FLIP_AT: u64 = 5000;

/// Serves `root` over HTTP/1.0 on 127.0.0.1 (GET only, one thread per connection). While `tamper` is set, every
/// `disk.raw.zst` it sends has byte [`FLIP_AT`] flipped: a payload altered on the network or on the server.
fn serve(root: PathBuf, tamper: Arc<AtomicBool>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let root = root.clone();
            let tamper = tamper.clone();
            std::thread::spawn(move || {
                let mut s = s;
                let mut req = Vec::new();
                let mut b = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    req.push(b[0]);
                }
                let req = String::from_utf8_lossy(&req);
                let path = req
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let file = root.join(path);
                match (path.contains(".."), std::fs::File::open(&file)) {
                    (false, Ok(mut f)) => {
                        let len = f.metadata().unwrap().len();
                        let _ = write!(
                            s,
                            "HTTP/1.0 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                        );
                        let flip = tamper.load(Ordering::SeqCst) && path.ends_with("disk.raw.zst");
                        let mut buf = vec![0u8; 1 << 20];
                        let mut at = 0u64;
                        loop {
                            let n = match f.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if flip && (at..at + n as u64).contains(&FLIP_AT) {
                                buf[(FLIP_AT - at) as usize] ^= 0x55;
                            }
                            at += n as u64;
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                    _ => {
                        let _ = write!(s, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    port
}

/// What the kernel prints when dm-verity finds a changed block (then it panics: `panic-on-corruption`).
const VERITY_REFUSAL: &[&str] = &["is corrupted", "dm-verity device corrupted"];
/// What OVMF prints when Secure Boot refuses an image.
const FIRMWARE_REFUSAL: &[&str] = &["Access Denied", "Security Violation"];

/// A VM that network-boots through the firmware's own UEFI PXE (the NIC's iPXE ROM off), taking the signed
/// `installer.efi` by TFTP from the PXE tree; `target` (raw) is its only disk.
fn uefi_pxe_vm(name: &str, work: &Path, tree: &Path, target: &Path) -> VmConfig {
    let mut cfg = pxe_vm(name, work, tree, target);
    cfg.extra = vec![
        "-netdev".into(),
        format!(
            "user,id=pxe0,tftp={},bootfile=installer.efi",
            tree.display()
        ),
        "-device".into(),
        "virtio-net-pci,netdev=pxe0,bootindex=0,romfile=".into(),
    ];
    cfg
}

/// A VM with no disk to boot from: `target` (raw) as its only disk, and a NIC that the firmware boots first
/// (`bootindex=0`) through its iPXE option ROM, on slirp with `tftp=` the PXE tree and `bootfile=boot.ipxe`.
fn pxe_vm(name: &str, work: &Path, tree: &Path, target: &Path) -> VmConfig {
    let mut cfg = VmConfig::new(name, work, target);
    cfg.disk_format = "raw".into();
    cfg.memory_mb = 1536;
    cfg.timeout = Duration::from_secs(900);
    cfg.boot_from_disk = false;
    cfg.extra = vec![
        "-netdev".into(),
        format!("user,id=pxe0,tftp={},bootfile=boot.ipxe", tree.display()),
        "-device".into(),
        "virtio-net-pci,netdev=pxe0,bootindex=0".into(),
    ];
    cfg
}

#[test]
fn usb_and_pxe_installers_verify_before_writing() {
    if let Some(m) = qemu::missing_tools() {
        panic!("media-test: {m}");
    }
    let all = Instant::now();
    let mut t = Instant::now();
    let work = lab::tmp().join("media-test");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let copy = LabCopy::new();
    let build = work.join("build");
    let overlay = lab::repo().join("tests/boot/overlay");
    lab::build(
        &copy.profile(),
        &build,
        &[],
        &["--extra-overlay", overlay.to_str().unwrap()],
    );
    let key = copy.dir.path().join("keys/lab-test.sec");
    let sb_keys = copy.dir.path().join("keys/secure-boot-TEST");
    let raw_len = std::fs::metadata(build.join("disk.raw")).unwrap().len();
    let raw_sha = listed(&build, "disk.raw");
    // The installed disks are booted as devices 4 GiB larger than the image, like the boot test's.
    let disk_bytes = (raw_len + (4096 << 20)).div_ceil(1 << 20) << 20;
    let proof = BootProof::new(&copy.profile(), &work, disk_bytes, Some(&build)).unwrap();
    let plan = forja::plan::Plan::load(&build.join("plan.json")).unwrap();
    let mut bt = Timings::new("media-test");
    phase(&mut t, "build the lab image");

    // 1. USB image: reproducible, signed.
    let (m1, m2) = (work.join("usb1"), work.join("usb2"));
    for m in [&m1, &m2] {
        forja(&[
            &"media",
            &"usb",
            &build,
            &"--out",
            m,
            &"--signing-key",
            &key,
            &"--secure-boot-keys",
            &sb_keys,
        ]);
    }
    for f in [
        "usb.img",
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "SHA256SUMS.sshsig",
    ] {
        assert!(
            std::fs::read(m1.join(f)).unwrap() == std::fs::read(m2.join(f)).unwrap(),
            "{f} differs between two runs"
        );
    }
    tool(
        Command::new("signify-openbsd")
            .args(["-C", "-p"])
            .arg(build.join("forja.pub"))
            .args(["-x", "SHA256SUMS.sig"])
            .current_dir(&m1),
    );
    phase(&mut t, "USB image twice, identical, signify -C ok");

    // 2. Install from USB onto a blank disk.
    let usb_overlay = work.join("usb-overlay.qcow2");
    qemu::overlay_disk(
        &m1.join("usb.img"),
        &usb_overlay,
        std::fs::metadata(m1.join("usb.img")).unwrap().len(),
    )
    .unwrap();
    let target = work.join("target.raw");
    sparse_file(&target, raw_len + (64 << 20));
    let mut usb_vm = installer_vm("usb-install", &work, &usb_overlay, &target);
    usb_vm.secure_boot_vars = proof.secure_boot_vars.clone();
    let (ok, console) = run_installer(&usb_vm);
    assert!(ok, "the USB install failed:\n{console}");
    assert!(
        console.contains("forja-installer: Secure Boot enforcing"),
        "the USB installer did not run under Secure Boot:\n{console}"
    );
    assert!(console.contains("serial \"forja-target-1\""), "{console}");
    assert_eq!(
        hash_prefix(&target, raw_len),
        raw_sha,
        "the installed disk is not disk.raw"
    );
    phase(&mut t, "USB install to the blank disk, hash checked");

    // The install record, on the USB's payload partition.
    let usb_raw = work.join("usb-after.raw");
    tool(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&usb_overlay)
            .arg(&usb_raw),
    );
    let payload = format!("{}?offset={PAYLOAD_OFF}", usb_raw.display());
    let ls = tool(
        Command::new("debugfs")
            .args(["-R", "ls -p /install-records"])
            .arg(&payload),
    );
    let record = ls
        .lines()
        .filter_map(|l| l.split('/').nth(5))
        .find(|n| n.ends_with(".json"))
        .unwrap_or_else(|| panic!("no install record:\n{ls}"))
        .to_owned();
    let text = tool(
        Command::new("debugfs")
            .args(["-R", &format!("cat /install-records/{record}")])
            .arg(&payload),
    );
    let rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rec["result"], "ok", "{text}");
    // The record names the host it installed, the profile, and the machine as the installer saw it.
    assert_eq!(rec["host"], "kvm-lab", "{text}");
    assert_eq!(rec["profile"], "lab", "{text}");
    assert!(rec["machine"]["macs"].is_array(), "{text}");
    assert!(record.contains("-kvm-lab-"), "{record}");
    assert_eq!(rec["target"]["serial"], "forja-target-1", "{text}");
    assert_eq!(rec["image_sha256"], raw_sha.hex(), "{text}");
    assert_eq!(rec["secure_boot"], true, "{text}");
    assert!(rec["time_unix"].as_u64().unwrap() > 1_600_000_000, "{text}");

    // 3. The installed disk passes the boot proof.
    //    It is device A of the boot proof (the image byte for byte, enlarged like the boot test's devices).
    let dev_a = proof.device("device-a", &target).unwrap();
    let (a1, failures) = proof
        .report_boot(
            "a1-usb-installed-first-boot",
            &dev_a,
            BootKind::First,
            &mut bt,
        )
        .unwrap();
    bootproof::verdict("the USB-installed disk", &failures, &work).unwrap();
    phase(&mut t, "USB-installed disk passes the boot proof");

    // 4. A tampered payload: nothing is written.
    let tampered = work.join("usb-tampered.raw");
    tool(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(m1.join("usb.img"))
            .arg(&tampered),
    );
    let payload = format!("{}?offset={PAYLOAD_OFF}", tampered.display());
    let stat = tool(
        Command::new("debugfs")
            .args(["-R", "stat /disk.raw.zst"])
            .arg(&payload),
    );
    let ext = stat.split("EXTENTS:").nth(1).expect("extents");
    let first = ext.split("):").nth(1).expect("first extent");
    let block: u64 = first
        .trim()
        .split(['-', ',', '\n'])
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let at = PAYLOAD_OFF + block * 4096 + FLIP_AT;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tampered)
        .unwrap();
    use std::io::{Seek, SeekFrom};
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut byte).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[byte[0] ^ 0x55]).unwrap();
    drop(f);
    let target2 = work.join("target2.raw");
    sparse_file(&target2, raw_len + (64 << 20));
    let mut cfg = installer_vm("usb-tampered", &work, &tampered, &target2);
    cfg.disk_format = "raw".into();
    let (ok, console) = run_installer(&cfg);
    assert!(!ok, "a tampered payload was installed");
    assert!(console.contains("differs from the signed"), "{console}");
    assert!(
        all_zero(&target2),
        "the tampered install wrote to the target"
    );
    phase(&mut t, "tampered USB refused, target all zeros");

    // 5. PXE: reproducible tree, booted by the firmware (iPXE ROM, slirp TFTP), HTTP fetch, same rules.
    let tamper = Arc::new(AtomicBool::new(false));
    let port = serve(work.join("pxe1"), tamper.clone());
    let base = format!("http://10.0.2.2:{port}");
    for d in ["pxe1", "pxe2"] {
        forja(&[
            &"media",
            &"pxe",
            &build,
            &"--out",
            &work.join(d),
            &"--signing-key",
            &key,
            &"--secure-boot-keys",
            &sb_keys,
            &"--base-url",
            &base,
        ]);
    }
    for f in [
        "initrd.img",
        "installer.efi",
        "vmlinuz",
        "boot.ipxe",
        "SHA256SUMS",
        "SHA256SUMS.sig",
    ] {
        assert!(
            std::fs::read(work.join("pxe1").join(f)).unwrap()
                == std::fs::read(work.join("pxe2").join(f)).unwrap(),
            "PXE {f} differs between two runs"
        );
    }
    tool(
        Command::new("signify-openbsd")
            .args(["-C", "-p"])
            .arg(build.join("forja.pub"))
            .args(["-x", "SHA256SUMS.sig"])
            .current_dir(work.join("pxe1")),
    );
    phase(&mut t, "PXE tree twice, identical, signify -C ok");
    let pxe = work.join("pxe1");
    let target3 = work.join("target3.raw");
    sparse_file(&target3, raw_len + (64 << 20));
    let mut pxe_cfg = uefi_pxe_vm("pxe-install", &work, &pxe, &target3);
    pxe_cfg.secure_boot_vars = proof.secure_boot_vars.clone();
    let (ok, console) = run_installer(&pxe_cfg);
    assert!(ok, "the PXE install failed:\n{console}");
    // It was the firmware's own network boot, under Secure Boot: OVMF's PXE took the signed installer image.
    assert!(
        console.contains("NBP filename is installer.efi")
            && console.contains("forja-installer: Secure Boot enforcing"),
        "not booted through UEFI PXE under Secure Boot:\n{console}"
    );
    assert!(
        console.contains("to hash it before touching any disk"),
        "{console}"
    );
    assert_eq!(
        hash_prefix(&target3, raw_len),
        raw_sha,
        "the PXE-installed disk is not disk.raw"
    );
    phase(
        &mut t,
        "PXE boot by firmware under Secure Boot (UEFI PXE, TFTP, HTTP), install, hash checked",
    );

    // 6. The PXE-installed disk passes the boot proof as device B, and the rest of the boot proof runs on A.
    let dev_b = proof.device("device-b", &target3).unwrap();
    let (b1, mut failures) = proof
        .report_boot(
            "b1-pxe-installed-first-boot",
            &dev_b,
            BootKind::First,
            &mut bt,
        )
        .unwrap();
    failures.extend(report::check_keys_differ(&a1, &b1));
    bootproof::verdict("the PXE-installed disk", &failures, &work).unwrap();
    phase(&mut t, "PXE-installed disk passes the boot proof");
    let (a2, mut failures) = proof
        .report_boot("a2-second-boot", &dev_a, BootKind::Again, &mut bt)
        .unwrap();
    failures.extend(report::check_same_key(&a1, &a2));
    failures.extend(
        proof
            .secure_boot_off_boot("a3-secure-boot-off", &dev_a, &mut bt)
            .unwrap(),
    );
    failures.extend(
        proof
            .fresh_tpm_boot("a4-fresh-tpm", &dev_a, &mut bt)
            .unwrap(),
    );
    let flipped =
        support::tamper::flipped_root(&dev_a.disk, &plan, &work.join("a5-flipped.qcow2")).unwrap();
    failures.extend(
        proof
            .refused_boot("a5-flipped-root", &flipped, VERITY_REFUSAL, &mut bt)
            .unwrap(),
    );
    let foreign = support::tamper::foreign_signed(&build, &plan, &work).unwrap();
    failures.extend(
        proof
            .refused_boot("x1-foreign-key", &foreign, FIRMWARE_REFUSAL, &mut bt)
            .unwrap(),
    );
    bootproof::verdict("boot proof, device A again", &failures, &work).unwrap();
    phase(
        &mut t,
        "device A: second boot (TPM unlock, same key); Secure Boot off and a fresh TPM stop at the prompt; a \
         flipped root byte and a foreign-signed image are refused",
    );

    // 7. A payload altered in flight: refused before the target is touched.
    tamper.store(true, Ordering::SeqCst);
    let target4 = work.join("target4.raw");
    sparse_file(&target4, raw_len + (64 << 20));
    let (ok, console) = run_installer(&pxe_vm("pxe-tampered", &work, &pxe, &target4));
    tamper.store(false, Ordering::SeqCst);
    assert!(!ok, "a tampered PXE payload was installed");
    assert!(console.contains("differs from the signed"), "{console}");
    assert!(
        all_zero(&target4),
        "the tampered PXE install wrote to the target"
    );
    phase(&mut t, "tampered PXE payload refused, target all zeros");
    bt.print();
    eprintln!("media-test: PASS in {:.1} s", all.elapsed().as_secs_f64());
    bootproof::keep_only_logs(&work);
}
