//! The site media and the boot proof: the two-host lab site (`profiles/lab-site.toml`) built once, then both hosts
//! installed under QEMU (TCG, OVMF's Secure Boot build with the lab's test keys enrolled) from the site's one USB
//! stick and its one PXE tree, each machine picked by its own identity, and the disks they wrote booted through
//! the whole verified chain.
//!
//! One test, in order (each phase prints its time):
//! 1. build the site with the boot proof's test unit (`--extra-overlay tests/boot/overlay`); make the site's USB
//!    stick twice: byte-identical, and `signify-openbsd -C` accepts its own signed SHA256SUMS;
//! 2. boot the stick under Secure Boot (its `BOOTX64.EFI` is the installer as a unified kernel image signed with
//!    the site's db key) on a machine with no NIC whose DMI serial is host 2's: the installer must pick host 2 by
//!    that serial, install it and power off; the target's first bytes must hash to host 2's whole disk (its signed
//!    parts put together, holes as zeros); an install record naming host 2, the site and the serial must be on
//!    the stick;
//! 3. boot the installed disk as the boot proof's device A with host 2's MACs (its own TPM, Secure Boot on) and
//!    run the boot proof's checks against host 2's profile (`support::bootproof`: Secure Boot, verified read-only
//!    root, state, first boot, vmstore, its own addresses, firewall probes, self-check, node images, and only its
//!    own Pexip domain defined);
//! 4. a stick whose host-2 `disk-head.zst` has one byte flipped: the installer must stop with a hash error and
//!    the target must stay all zeros;
//! 5. the site's PXE tree, made twice (identical, signify -C); host 1's machine (its own MACs) network-boots it
//!    under Secure Boot through OVMF's own UEFI PXE (the NIC's iPXE ROM is off: it is not signed with the site's
//!    keys), the site's DHCP answer for that MAC naming `hosts/kvm-lab-1/installer.efi` (slirp's `bootfile=`);
//!    the firmware checks its signature, the installer fetches host 1's payload over HTTP from a tiny server on
//!    127.0.0.1, which the guest reaches as 10.0.2.2. The target must hash to host 1's signed image;
//! 6. host 1's disk passes the boot proof as device B against host 1's profile (the Management Node and the
//!    transcoding node, nothing else), and its vmstore key differs from A's; then A boots again once with Secure
//!    Boot off and once with a fresh TPM (both must stop at the recovery-key prompt), once with one byte of its
//!    root flipped (dm-verity must stop it), and the build's own boot image signed with a foreign key must be
//!    refused by the firmware (A's second boot with its own TPM, which unlocks with no prompt and the same key,
//!    is proved on every later boot of `tests/update_boot.rs`);
//! 7. the iPXE path for sites without Secure Boot: host 2's machine boots the tree's `boot.ipxe` dispatcher
//!    through the NIC's iPXE ROM, which chains `mac/<its MAC>.ipxe` and installs host 2 from the same tree (the
//!    server must have served only host 2's files); the target must hash to host 2's signed image, the bytes that
//!    passed the boot proof as device A. Then the same machine again while the HTTP server flips one byte of
//!    the shared `disk-root-a.zst` in flight: the installer must stop before touching the target, which stays all
//!    zeros.
//!
//! A single host's media (`forja media usb|pxe BUILD`) carry the same installer with one host; their layout is
//! checked without booting in `tests/build_lab.rs`, and the lab's `disk.raw` boots in `tests/update_boot.rs`.
//!
//! Runs in every `cargo test` (leave it out with `cargo test -- --skip usb_and_pxe`, which cargo then reports as
//! filtered out, not passed). Work folder: `media-test` under cargo's `CARGO_TARGET_TMPDIR`.

#[allow(dead_code)]
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forja::hashio::{HashingReader, Sha256};
use support::bootproof::{self, BootProof, Timings};
use support::lab;
use support::qemu::{self, Vm, VmConfig};
use support::report::{self, BootKind};
use support::site_lab;

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

/// Byte of a disk part that the tamper phases flip (inside the first zstd block): of host 2's `disk-head.zst` on
/// the USB payload partition, and of the shared root's `disk-root-a.zst` in flight from a tampering server.
const FLIP_AT: u64 = 5000;

/// Serves `root` over HTTP/1.0 on 127.0.0.1 (GET only, one thread per connection). While `tamper` is set, every
/// `disk-root-a.zst` it sends has byte [`FLIP_AT`] flipped: a payload altered on the network or on the server.
/// Every path it is asked for goes into `seen`, in order.
fn serve(root: PathBuf, tamper: Arc<AtomicBool>, seen: Arc<Mutex<Vec<String>>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let root = root.clone();
            let tamper = tamper.clone();
            let seen = seen.clone();
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
                seen.lock().unwrap().push(path.to_owned());
                let file = root.join(path);
                match (path.contains(".."), std::fs::File::open(&file)) {
                    (false, Ok(mut f)) => {
                        let len = f.metadata().unwrap().len();
                        let _ = write!(
                            s,
                            "HTTP/1.0 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                        );
                        let flip =
                            tamper.load(Ordering::SeqCst) && path.ends_with("disk-root-a.zst");
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

/// A VM that network-boots through the firmware's own UEFI PXE (the NIC's iPXE ROM off) from a NIC with `mac`,
/// taking the signed `bootfile` by TFTP from the PXE tree (the site's DHCP server names each machine's own
/// installer by its MAC); `target` (raw) is its only disk.
fn uefi_pxe_vm(
    name: &str,
    work: &Path,
    tree: &Path,
    target: &Path,
    mac: &str,
    bootfile: &str,
) -> VmConfig {
    let mut cfg = pxe_vm(name, work, tree, target, mac);
    cfg.extra = vec![
        "-netdev".into(),
        format!("user,id=pxe0,tftp={},bootfile={bootfile}", tree.display()),
        "-device".into(),
        format!("virtio-net-pci,netdev=pxe0,bootindex=0,romfile=,mac={mac}"),
    ];
    cfg
}

/// A VM with no disk to boot from: `target` (raw) as its only disk, and a NIC with `mac` that the firmware boots
/// first (`bootindex=0`) through its iPXE option ROM, on slirp with `tftp=` the PXE tree and `bootfile=boot.ipxe`.
fn pxe_vm(name: &str, work: &Path, tree: &Path, target: &Path, mac: &str) -> VmConfig {
    let mut cfg = VmConfig::new(name, work, target);
    cfg.disk_format = "raw".into();
    cfg.memory_mb = 1536;
    cfg.timeout = Duration::from_secs(900);
    cfg.boot_from_disk = false;
    cfg.extra = vec![
        "-netdev".into(),
        format!("user,id=pxe0,tftp={},bootfile=boot.ipxe", tree.display()),
        "-device".into(),
        format!("virtio-net-pci,netdev=pxe0,bootindex=0,mac={mac}"),
    ];
    cfg
}

/// The size and SHA-256 of the whole disk a site host's parts make (holes as zeros: what a blank target holds
/// after the install), each part checked against its listed hash on the way; `disk.parts.json` itself must be
/// the one the host's signed list names.
fn whole_disk(build: &Path) -> (u64, Sha256) {
    let list = build.join(forja::disk::parts::FILE);
    assert_eq!(
        Sha256::of(&std::fs::read(&list).unwrap()),
        listed(build, forja::disk::parts::FILE)
    );
    let parts = forja::disk::parts::DiskParts::load(build).unwrap();
    let mut whole = forja::hashio::HashingWriter::new(std::io::sink());
    for p in &parts.parts {
        match (&p.file, p.raw_sha256) {
            (Some(f), Some(want)) => {
                let mut part = forja::hashio::HashingWriter::new(std::io::sink());
                let mut dec =
                    zstd::stream::read::Decoder::new(std::fs::File::open(build.join(f)).unwrap())
                        .unwrap();
                let mut buf = vec![0u8; 4 << 20];
                loop {
                    let n = dec.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    part.write_all(&buf[..n]).unwrap();
                    whole.write_all(&buf[..n]).unwrap();
                }
                assert_eq!(part.finish(), (want, p.len), "{f}");
            }
            _ => std::io::copy(&mut std::io::repeat(0).take(p.len), &mut whole)
                .map(|_| ())
                .unwrap(),
        }
    }
    let (sha, len) = whole.finish();
    assert_eq!(len, parts.size);
    (len, sha)
}

/// The two hosts of the lab site and what the test needs of each.
struct Host {
    name: &'static str,
    /// Its build folder, `SITE/hosts/NAME`.
    build: PathBuf,
    raw_len: u64,
    raw_sha: Sha256,
    /// Its management NIC's MAC, the one its machine boots from.
    mac: String,
}

impl Host {
    fn new(site: &forja::profile::site::Site, out: &Path, name: &'static str) -> Host {
        let build = out.join("hosts").join(name);
        let l = site.host(name).unwrap_or_else(|| panic!("no host {name}"));
        let (raw_len, raw_sha) = whole_disk(&build);
        Host {
            name,
            raw_len,
            raw_sha,
            mac: l.profile.network.management.mac.to_string(),
            build,
        }
    }

    /// The installed disks are booted as devices 4 GiB larger than the image, like the boot test's.
    fn disk_bytes(&self) -> u64 {
        (self.raw_len + (4096 << 20)).div_ceil(1 << 20) << 20
    }

    /// A blank target disk for an install of this host.
    fn blank_target(&self, path: &Path) {
        sparse_file(path, self.raw_len + (64 << 20));
    }
}

/// `signify-openbsd -C` in `dir` with the site's public key.
fn signify_check(dir: &Path, public: &Path) {
    tool(
        Command::new("signify-openbsd")
            .args(["-C", "-p"])
            .arg(public)
            .args(["-x", "SHA256SUMS.sig"])
            .current_dir(dir),
    );
}

/// Two signed folders made by the same command hold the same files: their signed lists are the same bytes, and
/// signify checks every listed file in each.
fn same_signed_tree(a: &Path, b: &Path, public: &Path, what: &str) {
    for f in ["SHA256SUMS", "SHA256SUMS.sig"] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{what}: {f} differs between two runs"
        );
    }
    signify_check(a, public);
    signify_check(b, public);
}

/// Flips the byte [`FLIP_AT`] of `file` inside the ext4 payload partition of the raw stick image `img`.
fn flip_in_payload(img: &Path, file: &str) {
    let payload = format!("{}?offset={PAYLOAD_OFF}", img.display());
    let stat = tool(
        Command::new("debugfs")
            .args(["-R", &format!("stat {file}")])
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
        .open(img)
        .unwrap();
    use std::io::{Seek, SeekFrom};
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut byte).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[byte[0] ^ 0x55]).unwrap();
}

/// The one install record on the stick (its qcow2 overlay `usb`), read back with debugfs: (file name, record).
fn install_record(usb: &Path, work: &Path) -> (String, serde_json::Value) {
    let raw = work.join("usb-after.raw");
    tool(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(usb)
            .arg(&raw),
    );
    let payload = format!("{}?offset={PAYLOAD_OFF}", raw.display());
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
    let _ = std::fs::remove_file(&raw);
    (record, serde_json::from_str(&text).unwrap())
}

/// An installer VM for the site's stick: no NIC, and the DMI serial `serial` (QEMU's SMBIOS type 1).
fn stick_vm(name: &str, work: &Path, stick: &Path, target: &Path, serial: &str) -> VmConfig {
    let mut cfg = installer_vm(name, work, stick, target);
    cfg.extra
        .extend(["-smbios".into(), format!("type=1,serial={serial}")]);
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
    let (copy, site_file) = site_lab::copy();
    let out = work.join("site");
    let overlay = lab::repo().join("tests/boot/overlay");
    lab::build(
        &site_file,
        &out,
        &[],
        &["--extra-overlay", overlay.to_str().unwrap()],
    );
    let site =
        forja::profile::site::load_site(&site_file, forja::profile::SecretsNeed::Required).unwrap();
    let h1 = Host::new(&site, &out, "kvm-lab-1");
    let h2 = Host::new(&site, &out, "kvm-lab-2");
    let key = copy.path().join("keys/lab-test.sec");
    let public = out.join("forja.pub");
    let sb_keys = copy.path().join("keys/secure-boot-TEST");
    // Each host is proved against its own profile: its MACs, addresses and nodes.
    let proof = |h: &Host| {
        BootProof::for_host(
            site.host(h.name).unwrap(),
            &work,
            h.disk_bytes(),
            Some(&h.build),
        )
        .unwrap()
    };
    let (proof1, proof2) = (proof(&h1), proof(&h2));
    let plan2 = forja::plan::Plan::load(&h2.build.join("plan.json")).unwrap();
    // The two hosts boot one root (its bytes are compared in tests/site_build.rs); each proof below then shows
    // that a host's own names, addresses and nodes reached it through its signed image, not its root.
    let plan1 = forja::plan::Plan::load(&h1.build.join("plan.json")).unwrap();
    assert_eq!(
        plan1.built().unwrap().root_hash,
        plan2.built().unwrap().root_hash,
        "the site's hosts run the same root"
    );
    let mut bt = Timings::new("media-test");
    phase(&mut t, "build the two-host lab site");

    // 1. The site's USB stick: reproducible, signed.
    let (m1, m2) = (work.join("usb1"), work.join("usb2"));
    for m in [&m1, &m2] {
        forja(&[
            &"media",
            &"usb",
            &out,
            &"--out",
            m,
            &"--signing-key",
            &key,
            &"--secure-boot-keys",
            &sb_keys,
        ]);
    }
    assert!(
        std::fs::read(m1.join("usb.img")).unwrap() == std::fs::read(m2.join("usb.img")).unwrap(),
        "usb.img differs between two runs"
    );
    same_signed_tree(&m1, &m2, &public, "the site's USB stick");
    phase(&mut t, "site USB stick twice, identical, signify -C ok");

    // 2. Host 2's machine, known to the stick only by its DMI serial, installs host 2.
    let usb_overlay = work.join("usb-overlay.qcow2");
    qemu::overlay_disk(
        &m1.join("usb.img"),
        &usb_overlay,
        std::fs::metadata(m1.join("usb.img")).unwrap().len(),
    )
    .unwrap();
    let target = work.join("target.raw");
    h2.blank_target(&target);
    let mut usb_vm = stick_vm(
        "usb-install",
        &work,
        &usb_overlay,
        &target,
        site_lab::HOST2_SERIAL,
    );
    usb_vm.secure_boot_vars = proof2.secure_boot_vars.clone();
    let (ok, console) = run_installer(&usb_vm);
    assert!(ok, "the USB install failed:\n{console}");
    assert!(
        console.contains("forja-installer: Secure Boot enforcing"),
        "the USB installer did not run under Secure Boot:\n{console}"
    );
    assert!(console.contains("serial \"forja-target-1\""), "{console}");
    assert_eq!(
        hash_prefix(&target, h2.raw_len),
        h2.raw_sha,
        "the disk the stick installed is not host 2's disk.raw"
    );
    phase(
        &mut t,
        "USB install of host 2 (by DMI serial), hash checked",
    );

    // The install record names the host, the site and what picked it.
    let (record, rec) = install_record(&usb_overlay, &work);
    let text = rec.to_string();
    assert_eq!(rec["result"], "ok", "{text}");
    assert_eq!(rec["host"], h2.name, "{text}");
    assert_eq!(rec["site"], "lab-site", "{text}");
    assert_eq!(
        rec["selected_by"]["serial"],
        site_lab::HOST2_SERIAL,
        "{text}"
    );
    assert_eq!(rec["machine"]["serial"], site_lab::HOST2_SERIAL, "{text}");
    assert!(record.contains("-kvm-lab-2-"), "{record}");
    assert_eq!(rec["target"]["serial"], "forja-target-1", "{text}");
    assert_eq!(rec["image_sha256"], h2.raw_sha.hex(), "{text}");
    assert_eq!(rec["secure_boot"], true, "{text}");
    assert!(rec["time_unix"].as_u64().unwrap() > 1_600_000_000, "{text}");

    // 3. Host 2's installed disk passes the boot proof, with its own addresses and only its own node.
    let dev_a = proof2.device("device-a", &target).unwrap();
    let (a1, failures) = proof2
        .report_boot(
            "a1-usb-installed-first-boot",
            &dev_a,
            BootKind::First,
            &mut bt,
        )
        .unwrap();
    bootproof::verdict("host 2, installed from the USB stick", &failures, &work).unwrap();
    phase(&mut t, "host 2 (USB-installed) passes the boot proof");

    // 4. A tampered payload: nothing is written.
    let tampered = work.join("usb-tampered.raw");
    tool(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(m1.join("usb.img"))
            .arg(&tampered),
    );
    flip_in_payload(&tampered, "/hosts/kvm-lab-2/disk-head.zst");
    let target2 = work.join("target2.raw");
    h2.blank_target(&target2);
    let mut cfg = stick_vm(
        "usb-tampered",
        &work,
        &tampered,
        &target2,
        site_lab::HOST2_SERIAL,
    );
    cfg.disk_format = "raw".into();
    let (ok, console) = run_installer(&cfg);
    assert!(!ok, "a tampered payload was installed");
    assert!(console.contains("differs from the signed"), "{console}");
    assert!(
        all_zero(&target2),
        "the tampered install wrote to the target"
    );
    let _ = std::fs::remove_file(&tampered);
    phase(&mut t, "tampered USB refused, target all zeros");

    // 5. The site's PXE tree: reproducible, signed; host 1's machine boots its own installer under Secure Boot.
    let tamper = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = serve(work.join("pxe1"), tamper.clone(), seen.clone());
    let base = format!("http://10.0.2.2:{port}");
    for d in ["pxe1", "pxe2"] {
        forja(&[
            &"media",
            &"pxe",
            &out,
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
    same_signed_tree(
        &work.join("pxe1"),
        &work.join("pxe2"),
        &public,
        "the site's PXE tree",
    );
    phase(&mut t, "site PXE tree twice, identical, signify -C ok");
    let pxe = work.join("pxe1");
    let target3 = work.join("target3.raw");
    h1.blank_target(&target3);
    let mut pxe_cfg = uefi_pxe_vm(
        "pxe-install-host1",
        &work,
        &pxe,
        &target3,
        &h1.mac,
        "hosts/kvm-lab-1/installer.efi",
    );
    pxe_cfg.secure_boot_vars = proof1.secure_boot_vars.clone();
    let (ok, console) = run_installer(&pxe_cfg);
    assert!(ok, "the PXE install of host 1 failed:\n{console}");
    // It was the firmware's own network boot, under Secure Boot: OVMF's PXE took the signed installer image.
    assert!(
        console.contains("hosts/kvm-lab-1/installer.efi")
            && console.contains("forja-installer: Secure Boot enforcing"),
        "not booted through UEFI PXE under Secure Boot:\n{console}"
    );
    assert!(
        console.contains("to hash it before touching any disk"),
        "{console}"
    );
    assert_eq!(
        hash_prefix(&target3, h1.raw_len),
        h1.raw_sha,
        "the PXE-installed disk is not host 1's disk.raw"
    );
    let fetched = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        fetched.iter().all(|p| p.starts_with("hosts/kvm-lab-1/")),
        "host 1's install fetched another host's files: {fetched:?}"
    );
    phase(
        &mut t,
        "host 1 by UEFI PXE under Secure Boot (TFTP, HTTP), install, hash checked",
    );

    // 6. Host 1's disk passes the boot proof as device B, and the rest of the boot proof runs on A.
    let dev_b = proof1.device("device-b", &target3).unwrap();
    let (b1, mut failures) = proof1
        .report_boot(
            "b1-pxe-installed-first-boot",
            &dev_b,
            BootKind::First,
            &mut bt,
        )
        .unwrap();
    failures.extend(report::check_keys_differ(&a1, &b1));
    bootproof::verdict("host 1, installed from the PXE tree", &failures, &work).unwrap();
    phase(&mut t, "host 1 (PXE-installed) passes the boot proof");
    // The second boot with the same TPM (unlock with no prompt, first boot skipped, same key) is proved by
    // `tests/update_boot.rs` on every boot after the first (with an update and a rollback in between): not
    // repeated here.
    let mut failures = proof2
        .secure_boot_off_boot("a3-secure-boot-off", &dev_a, &mut bt)
        .unwrap();
    failures.extend(
        proof2
            .fresh_tpm_boot("a4-fresh-tpm", &dev_a, &mut bt)
            .unwrap(),
    );
    let flipped =
        support::tamper::flipped_root(&dev_a.disk, &plan2, &work.join("a5-flipped.qcow2")).unwrap();
    failures.extend(
        proof2
            .refused_boot("a5-flipped-root", &flipped, VERITY_REFUSAL, &mut bt)
            .unwrap(),
    );
    let foreign = support::tamper::foreign_signed(&h2.build, &plan2, &work).unwrap();
    failures.extend(
        proof2
            .refused_boot("x1-foreign-key", &foreign, FIRMWARE_REFUSAL, &mut bt)
            .unwrap(),
    );
    bootproof::verdict("boot proof, device A again", &failures, &work).unwrap();
    phase(
        &mut t,
        "device A: Secure Boot off and a fresh TPM stop at the prompt; a flipped root byte and a foreign-signed \
         image are refused",
    );

    // 7. Host 2 from the same tree through iPXE: the dispatcher picks it by its MAC.
    let target4 = work.join("target4.raw");
    h2.blank_target(&target4);
    let (ok, console) = run_installer(&pxe_vm(
        "ipxe-install-host2",
        &work,
        &pxe,
        &target4,
        &h2.mac,
    ));
    assert!(ok, "the iPXE install of host 2 failed:\n{console}");
    assert_eq!(
        hash_prefix(&target4, h2.raw_len),
        h2.raw_sha,
        "the iPXE-installed disk is not host 2's disk.raw"
    );
    let fetched = std::mem::take(&mut *seen.lock().unwrap());
    let script = forja::media::site_pxe::mac_script_name(&h2.mac);
    assert_eq!(
        fetched.first().map(String::as_str),
        Some(script.as_str()),
        "the dispatcher did not chain host 2's MAC script first: {fetched:?}"
    );
    assert!(
        fetched[1..]
            .iter()
            .all(|p| p.starts_with("hosts/kvm-lab-2/")),
        "host 2's install fetched another host's files: {fetched:?}"
    );
    assert!(
        fetched.iter().any(|p| p == "hosts/kvm-lab-2/vmlinuz"),
        "{fetched:?}"
    );
    let _ = std::fs::remove_file(&target4);
    phase(
        &mut t,
        "host 2 by iPXE (dispatcher keyed on its MAC), install, hash checked",
    );

    // A payload altered in flight: refused before the target is touched.
    tamper.store(true, Ordering::SeqCst);
    let target5 = work.join("target5.raw");
    h2.blank_target(&target5);
    let (ok, console) = run_installer(&pxe_vm("pxe-tampered", &work, &pxe, &target5, &h2.mac));
    tamper.store(false, Ordering::SeqCst);
    assert!(!ok, "a tampered PXE payload was installed");
    assert!(console.contains("differs from the signed"), "{console}");
    assert!(
        all_zero(&target5),
        "the tampered PXE install wrote to the target"
    );
    phase(&mut t, "tampered PXE payload refused, target all zeros");
    bt.print();
    eprintln!("media-test: PASS in {:.1} s", all.elapsed().as_secs_f64());
    bootproof::keep_only_logs(&work);
}
