//! Issue 7, "Site media": the USB installer and the PXE installer under QEMU (TCG, OVMF).
//!
//! One test, in order (each phase prints its time):
//! 1. build the lab profile (shared base cache), make the USB image twice: byte-identical, and
//!    `signify-openbsd -C` accepts its own signed SHA256SUMS;
//! 2. boot the USB image (qcow2 overlay, `bootindex=0`) with a blank raw target disk: the installer must print
//!    `DONE` and power off; the target's first `len(disk.raw)` bytes must hash to the signed `disk.raw` SHA-256;
//!    an install record must be on the USB payload partition (read back with debugfs);
//! 3. boot the installed target disk until the installed system's systemd starts (`running in system mode`):
//!    firmware found the GPT, GRUB the ESP, the initramfs the root by PARTUUID. The full boot proof is
//!    `tests/boot_test.rs`'s job;
//! 4. a USB image whose `disk.raw.zst` has one byte flipped on the payload partition: the installer must stop
//!    with a hash error and the target must stay all zeros;
//! 5. the PXE tree, made twice (identical), served by a tiny HTTP server on 127.0.0.1 and reached by the guest
//!    as 10.0.2.2 through slirp. Stand-in for the firmware part: QEMU's direct kernel boot
//!    (`-kernel/-initrd/-append forja.url=...`) instead of iPXE, which this machine's OVMF does not carry; the
//!    installer's network path (DHCP, HTTP fetch, verification, hold-back write) is the real one.
//!
//! Runs in every `cargo test`; `FORJA_MEDIA_TEST=0` skips it, saying so. Work folder: `target/tmp/media-test`.

#[allow(dead_code)]
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use forja::hashio::{HashingReader, Sha256};
use support::lab::{self, LabCopy};
use support::qemu::{self, Vm, VmConfig};

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
    let text = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let prefix = format!("SHA256 ({name}) = ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} not in SHA256SUMS"))
        .parse()
        .unwrap()
}

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

/// Serves `root` over HTTP/1.0 on 127.0.0.1 (GET only, one thread per connection).
fn serve(root: PathBuf) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let root = root.clone();
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
                        let _ = std::io::copy(&mut f, &mut s);
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

#[test]
fn usb_and_pxe_installers_verify_before_writing() {
    if std::env::var("FORJA_MEDIA_TEST").as_deref() == Ok("0") {
        eprintln!("media-test: SKIPPED (FORJA_MEDIA_TEST=0)");
        return;
    }
    if let Some(m) = qemu::missing_tools() {
        panic!("media-test: {m}");
    }
    let all = Instant::now();
    let mut t = Instant::now();
    let work = lab::repo().join("target/tmp/media-test");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let copy = LabCopy::new();
    let build = work.join("build");
    lab::build(&copy.profile(), &build, &[], &[]);
    let key = copy.dir.path().join("keys/lab-test.sec");
    let raw_len = std::fs::metadata(build.join("disk.raw")).unwrap().len();
    let raw_sha = listed(&build, "disk.raw");
    phase(&mut t, "build the lab image");

    // 1. USB image: reproducible, signed.
    let (m1, m2) = (work.join("usb1"), work.join("usb2"));
    for m in [&m1, &m2] {
        forja(&[
            &"media",
            &"usb",
            &build,
            &"--out",
            &m.join("usb.img"),
            &"--key",
            &key,
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
    let (ok, console) = run_installer(&installer_vm("usb-install", &work, &usb_overlay, &target));
    assert!(ok, "the USB install failed:\n{console}");
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
    let payload = format!("{}?offset={}", usb_raw.display(), (1u64 + 256) << 20);
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
    assert_eq!(rec["target"]["serial"], "forja-target-1", "{text}");
    assert_eq!(rec["image_sha256"], raw_sha.hex(), "{text}");
    assert!(rec["time_unix"].as_u64().unwrap() > 1_600_000_000, "{text}");

    // 3. The installed disk boots into its own systemd.
    let target_overlay = work.join("target-overlay.qcow2");
    qemu::overlay_disk(&target, &target_overlay, raw_len + (64 << 20)).unwrap();
    let mut cfg = VmConfig::new("installed-boot", &work, &target_overlay);
    cfg.memory_mb = 2048;
    let mut vm = Vm::start(&cfg).unwrap();
    let line = vm.wait_for_line(Duration::from_secs(300), &["running in system mode"]);
    assert!(
        line.is_ok(),
        "the installed disk did not boot: {:?}\n{}",
        line.err().map(|e| e.to_string()),
        vm.console_tail(40)
    );
    vm.kill();
    phase(&mut t, "installed disk boots to systemd");

    // 4. A tampered payload: nothing is written.
    let tampered = work.join("usb-tampered.raw");
    tool(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(m1.join("usb.img"))
            .arg(&tampered),
    );
    let payload = format!("{}?offset={}", tampered.display(), (1u64 + 256) << 20);
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
    let at = ((1u64 + 256) << 20) + block * 4096 + 5000;
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

    // 5. PXE: reproducible tree, HTTP fetch, same verification and writing rules.
    let port = serve(work.join("pxe1"));
    let base = format!("http://10.0.2.2:{port}");
    for d in ["pxe1", "pxe2"] {
        forja(&[
            &"media",
            &"pxe",
            &build,
            &"--out",
            &work.join(d),
            &"--key",
            &key,
            &"--base-url",
            &base,
        ]);
    }
    for f in [
        "initrd.img",
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
    let target3 = work.join("target3.raw");
    sparse_file(&target3, raw_len + (64 << 20));
    let pxe = work.join("pxe1");
    let mut cfg = VmConfig::new("pxe-install", &work, &target3);
    cfg.disk_format = "raw".into();
    cfg.memory_mb = 1536;
    cfg.boot_from_disk = false;
    cfg.extra = vec![
        "-kernel".into(),
        pxe.join("vmlinuz").display().to_string(),
        "-initrd".into(),
        pxe.join("initrd.img").display().to_string(),
        "-append".into(),
        format!(
            "{} forja.url={base}/payload",
            forja::media::build::INSTALLER_CMDLINE
        ),
        "-netdev".into(),
        "user,id=pxe0".into(),
        "-device".into(),
        "virtio-net-pci,netdev=pxe0".into(),
    ];
    let (ok, console) = run_installer(&cfg);
    assert!(ok, "the PXE install failed:\n{console}");
    assert_eq!(
        hash_prefix(&target3, raw_len),
        raw_sha,
        "the PXE-installed disk is not disk.raw"
    );
    phase(&mut t, "PXE tree twice, HTTP install, hash checked");
    eprintln!("media-test: PASS in {:.1} s", all.elapsed().as_secs_f64());
}
