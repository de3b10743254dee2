//! `forja build SITE`: the two-host lab site (`profiles/lab-site.toml`) built into one folder, each host under
//! `hosts/NAME/`, one signed `SHA256SUMS` for the whole site checked by `signify-openbsd -C` (an oracle we did
//! not write); each host carries only its own nodes and Pexip files; each host's disk is kept as parts whose root
//! frame is one file for the site (hard links), put back together by `zstd -dc` and `dd` and checked by
//! `sgdisk -v`, the same bytes as forja's own assembly; `forja bundle` takes a host's parts and its update
//! installs into that disk's slot B (`--verify-written`); `--host` rebuilds one host and the site
//! list still verifies; `forja media pxe` makes one tree keyed by MAC, with no default; `forja media usb` makes
//! one stick for every host, checked without booting by sgdisk, fsck.fat, e2fsck, cpio and signify.
//!
//! Needs the Debian base (shared cache under cargo's target folder; mmdebstrap on the first run), signify-openbsd,
//! xorriso and mtools, like `tests/build_lab.rs`.

#[path = "support/lab.rs"]
mod lab;
#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/run.rs"]
mod run;
#[path = "support/site_files.rs"]
mod site_files;
#[path = "support/site_lab.rs"]
mod site_lab;

use std::path::Path;
use std::process::Command;

use run::forja;

fn signify_check(dir: &Path) {
    let out = Command::new("signify-openbsd")
        .args(["-C", "-p", "forja.pub", "-x", "SHA256SUMS.sig"])
        .current_dir(dir)
        .output()
        .expect("signify-openbsd is installed");
    assert!(
        out.status.success(),
        "signify-openbsd -C in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn listed(dir: &Path) -> Vec<String> {
    let s = forja::sign::Sums::parse(&std::fs::read(dir.join("SHA256SUMS")).unwrap()).unwrap();
    s.entries().iter().map(|e| e.name.clone()).collect()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn generated<'a>(plan: &'a serde_json::Value, path: &str) -> Option<&'a str> {
    plan["root"]["generated"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .map(|f| f["text"].as_str().unwrap_or(""))
}

#[test]
fn two_host_lab_site_builds_verifies_and_makes_one_pxe_tree() {
    let (d, site) = site_lab::copy();
    let out = d.path().join("out");
    let t = std::time::Instant::now();
    lab::build(&site, &out, &[], &[]);
    eprintln!("site build (2 hosts): {:.1?}", t.elapsed());

    let names = site_list(&out);
    host_parts(&out);
    let t = std::time::Instant::now();
    shared_root(&out, d.path());
    eprintln!("shared root checks: {:.1?}", t.elapsed());
    tamper_and_rebuild_one_host(&site, &out, &names);
    pxe_tree(&out, d.path());
    let t = std::time::Instant::now();
    usb_stick(&out, d.path());
    eprintln!("site USB stick (make and check): {:.1?}", t.elapsed());
}

/// One signed list for the whole site, checked by signify in the site folder; who carries which Pexip file.
fn site_list(out: &Path) -> Vec<String> {
    signify_check(out);
    let names = listed(out);
    for n in [
        "hosts/kvm-lab-1/disk.parts.json",
        "hosts/kvm-lab-1/disk-head.zst",
        "hosts/kvm-lab-1/disk-root-a.zst",
        "hosts/kvm-lab-1/disk-state.zst",
        "hosts/kvm-lab-1/disk-payload.zst",
        "hosts/kvm-lab-1/disk-end.zst",
        "hosts/kvm-lab-1/pexip/management_node_config.json",
        "hosts/kvm-lab-1/pexip/config-drive.iso",
        "hosts/kvm-lab-1/SHA256SUMS",
        "hosts/kvm-lab-1/SHA256SUMS.sig",
        "hosts/kvm-lab-2/disk-root-a.zst",
        "hosts/kvm-lab-2/nodes.lock",
        "pexip/plan.json",
        "pexip/worker_vm.json",
        "site.json",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} not listed: {names:?}");
    }
    // The bootstrap answers go only to the Management Node's host; the site's plan and worker_vm only once. No
    // host has a whole disk image of its own: its disk is kept as parts, the root's shared.
    for n in [
        "hosts/kvm-lab-1/disk.raw",
        "hosts/kvm-lab-1/disk.raw.zst",
        "hosts/kvm-lab-2/disk.raw",
        "hosts/kvm-lab-2/disk.raw.zst",
        "hosts/kvm-lab-2/pexip/management_node_config.json",
        "hosts/kvm-lab-2/pexip/config-drive.iso",
        "hosts/kvm-lab-2/pexip/install-sheet.md",
        "hosts/kvm-lab-1/pexip/plan.json",
        "hosts/kvm-lab-1/pexip/worker_vm.json",
        "hosts/kvm-lab-2/pexip/worker_vm.json",
    ] {
        assert!(!out.join(n).exists(), "{n} must not exist");
        assert!(!names.iter().any(|x| x == n), "{n} listed");
    }
    let workers = json(&out.join("pexip/worker_vm.json"));
    let workers: Vec<&str> = workers
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["body"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(workers, ["conf01", "conf02"]);
    names
}

/// Each host runs only its own nodes, from only the images it needs, with its own names.
fn host_parts(out: &Path) {
    let p1 = json(&out.join("hosts/kvm-lab-1/plan.json"));
    let p2 = json(&out.join("hosts/kvm-lab-2/plan.json"));
    let nodes = |p: &serde_json::Value| -> Vec<String> {
        p["payload"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(nodes(&p1), ["pexmgr", "conf01"]);
    assert_eq!(nodes(&p2), ["conf02"]);
    let roles: Vec<&str> = p2["payload"]["images"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["conferencing"]);
    assert!(p2.get("config_drive").is_none());
    let env2 = generated(&p2, "/etc/forja/firstboot.env").unwrap();
    assert!(env2.contains("FORJA_MANAGEMENT_DOMAIN=\n"), "{env2}");
    assert!(env2.contains("FORJA_NODE_DOMAINS=\"conf02\""), "{env2}");
    assert!(
        generated(
            &p2,
            "/etc/systemd/system/forja-nodes.service.d/50-site-host.conf"
        )
        .is_some()
    );
    assert!(
        generated(
            &p1,
            "/etc/systemd/system/forja-nodes.service.d/50-site-host.conf"
        )
        .is_none()
    );
    let hosts1 = generated(&p1, "/etc/hostname").unwrap_or_default();
    let hosts2 = generated(&p2, "/etc/hostname").unwrap_or_default();
    assert!(
        hosts1.contains("kvm-lab-1") && hosts2.contains("kvm-lab-2"),
        "{hosts1} {hosts2}"
    );
    // Two hosts, two disks: their GUIDs derive from the host, not the site.
    assert_ne!(p1["disk_seed"], p2["disk_seed"]);

    let m = json(&out.join("site.json"));
    assert_eq!(m["site"], "lab-site");
    assert_eq!(m["hosts"][1]["macs"][0], "52:54:00:0a:02:01");
    assert_eq!(m["hosts"][0]["management"], true);
}

/// A host's disk put together from its parts by tools that are not ours: each listed file through `zstd -dc`
/// and `dd` at its offset, its decompressed bytes checked with `sha256sum`; holes and runs of zeros stay zeros.
/// The GPT of the result checks out (`sgdisk -v`).
fn assemble_with_tools(host: &Path, dst: &Path) {
    let list = json(&host.join("disk.parts.json"));
    ok(Command::new("truncate")
        .arg("-s")
        .arg(list["size"].as_u64().unwrap().to_string())
        .arg(dst));
    let (mut holes, mut zeros) = (0, 0);
    let mut at = 0;
    for p in list["parts"].as_array().unwrap() {
        assert_eq!(
            p["offset"].as_u64(),
            Some(at),
            "the parts tile the disk: {list}"
        );
        at += p["len"].as_u64().unwrap();
        let Some(file) = p["file"].as_str() else {
            match p["zeros"].as_bool() {
                Some(true) => zeros += 1,
                _ => holes += 1,
            }
            continue;
        };
        let f = host.join(file);
        ok(Command::new("bash").arg("-c").arg(format!(
            "set -euo pipefail; zstd -dc -- '{f}' | dd of='{d}' bs=4M oflag=seek_bytes seek={o} conv=notrunc,sparse status=none",
            f = f.display(),
            d = dst.display(),
            o = p["offset"].as_u64().unwrap()
        )));
        let sum = ok(Command::new("bash").arg("-c").arg(format!(
            "set -euo pipefail; zstd -dc -- '{}' | sha256sum",
            f.display()
        )));
        assert_eq!(
            sum.split_whitespace().next(),
            p["raw_sha256"].as_str(),
            "{file}"
        );
    }
    assert_eq!(holes, 2, "slot B and vmstore are holes: {list}");
    // The free ends of the ESP and the state partition at least are zeros, neither hashed nor compressed.
    assert!(zeros >= 2, "{list}");
    assert_eq!(
        Some(at),
        list["size"].as_u64(),
        "the parts end where the disk does"
    );
    let v = ok(Command::new("sgdisk").arg("-v").arg(dst));
    assert!(v.contains("No problems found"), "{v}");
}

/// `forja bundle` takes a site host's folder (its disk kept as parts) like any build, and the bundle installs into
/// slot B of that host's disk (put together by the tools above), read back with `veritysetup verify`.
fn update_from_parts(out: &Path, work: &Path, disk: &Path) {
    let bundles = work.join("bundles");
    let key = work.join("keys/lab-test.sec");
    let (code, _, err) = forja(&[
        "bundle",
        out.join("hosts/kvm-lab-2").to_str().unwrap(),
        "--out",
        bundles.to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let bundle = std::fs::read_dir(&bundles)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "bundle"))
        .expect("a bundle");
    let (code, _, err) = forja(&[
        "update",
        "apply",
        bundle.to_str().unwrap(),
        "--target-disk",
        disk.to_str().unwrap(),
        "--pubkey",
        out.join("forja.pub").to_str().unwrap(),
        "--slot",
        "b",
        "--allow-older",
        "--verify-written",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("slot b now holds version"), "{err}");
    std::fs::remove_dir_all(bundles).unwrap();
}

/// Every host runs the same root: one root hash in both plans and in `site.json`, one frame file for both hosts
/// (hard links), the same bytes in both disks' root and verity partitions (`cmp`), `veritysetup verify` against
/// the site's root hash. The root holds links, not host files (`fsck.erofs --extract`); host 2's own files are in
/// its signed image's initrd (GNU cpio reads the archive ahead of Debian's).
fn shared_root(out: &Path, work: &Path) {
    use std::os::unix::fs::MetadataExt;
    let plan =
        |h: &str| forja::plan::Plan::load(&out.join(format!("hosts/{h}/plan.json"))).unwrap();
    let (p1, p2) = (plan("kvm-lab-1"), plan("kvm-lab-2"));
    let hash = p1.built().unwrap().root_hash;
    assert_eq!(
        p2.built().unwrap().root_hash,
        hash,
        "the hosts' root hashes"
    );
    assert_eq!(json(&out.join("site.json"))["root_hash"], hash.hex());
    // The root's frame is compressed once and stored once: both hosts' files are one inode.
    let frame =
        |h: &str| std::fs::metadata(out.join(format!("hosts/{h}/disk-root-a.zst"))).unwrap();
    let (f1, f2) = (frame("kvm-lab-1"), frame("kvm-lab-2"));
    assert_eq!(
        (f1.dev(), f1.ino()),
        (f2.dev(), f2.ino()),
        "one frame file for the site"
    );
    assert!(
        !out.join(".forja-site").exists(),
        "the site's work folder is removed"
    );
    let disks: Vec<std::path::PathBuf> = ["kvm-lab-1", "kvm-lab-2"]
        .iter()
        .map(|h| {
            let d = work.join(format!("{h}-disk.raw"));
            assemble_with_tools(&out.join(format!("hosts/{h}")), &d);
            d
        })
        .collect();
    // forja's own assembly (what `forja bundle` and the media use) gives the same disk.
    let mine = work.join("kvm-lab-2-forja.raw");
    let host2 = out.join("hosts/kvm-lab-2");
    let parts = forja::disk::parts::DiskParts::load(&host2).unwrap();
    forja::disk::parts::assemble(&host2, &parts, &mine, &[]).unwrap();
    ok(Command::new("cmp").arg(&mine).arg(&disks[1]));
    std::fs::remove_file(&mine).unwrap();
    let part = |p: &forja::plan::Plan, h: &str, name: &str| {
        let f = work.join(format!("{h}-{name}.img"));
        let (off, len) = oracle::partition(p, name);
        oracle::extract(&work.join(format!("{h}-disk.raw")), off, len, &f);
        f
    };
    // The host's own file systems, whose free ends are runs of zeros in the list, check out whole.
    let esp = part(&p2, "kvm-lab-2", "esp");
    ok(Command::new("fsck.fat").arg("-n").arg(&esp));
    for name in ["state", "payload"] {
        let f = part(&p2, "kvm-lab-2", name);
        ok(Command::new("e2fsck").arg("-fn").arg(&f));
        std::fs::remove_file(f).unwrap();
    }
    std::fs::remove_file(esp).unwrap();
    for name in ["root-a", "root-a-verity"] {
        let (a, b) = (part(&p1, "kvm-lab-1", name), part(&p2, "kvm-lab-2", name));
        ok(Command::new("cmp").arg(&a).arg(&b));
        std::fs::remove_file(a).unwrap();
    }
    let (root, verity) = (
        work.join("kvm-lab-2-root-a.img"),
        work.join("kvm-lab-2-root-a-verity.img"),
    );
    ok(Command::new("veritysetup")
        .arg("verify")
        .arg(&root)
        .arg(&verity)
        .arg(hash.hex()));
    let tree = work.join("root-extract");
    ok(Command::new("fsck.erofs")
        .arg(format!("--extract={}", tree.display()))
        .arg(&root));
    for (path, to) in [
        ("etc/hostname", "/run/forja/host/etc/hostname"),
        ("etc/fstab", "/run/forja/host/etc/fstab"),
        (
            "etc/forja/firstboot.env",
            "/run/forja/host/etc/forja/firstboot.env",
        ),
        (
            "usr/share/forja/selfcheck.manifest",
            "/run/forja/host/usr/share/forja/selfcheck.manifest",
        ),
    ] {
        assert_eq!(
            std::fs::read_link(tree.join(path)).unwrap(),
            Path::new(to),
            "{path}"
        );
    }
    assert!(!tree.join("etc/systemd/network/10-mgmt.link").exists());
    std::fs::remove_dir_all(&tree).unwrap();
    std::fs::remove_file(&root).unwrap();
    std::fs::remove_file(&verity).unwrap();
    update_from_parts(out, work, &disks[1]);
    for d in disks {
        std::fs::remove_file(d).unwrap();
    }
    // Host 2's part, from its signed slot image: the archive ahead of Debian's initrd, and the one inside it.
    let initrd = work.join("initrd.img");
    ok(Command::new("objcopy")
        .arg(format!("--dump-section=.initrd={}", initrd.display()))
        .arg(out.join("hosts/kvm-lab-2/forja-b.efi"))
        .arg(work.join("uki-copy.efi")));
    let (outer, run) = (work.join("initrd-x"), work.join("run-x"));
    std::fs::create_dir_all(&outer).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    ok(Command::new("cpio")
        .args(["-i", "--quiet", "-F"])
        .arg(&initrd)
        .current_dir(&outer));
    ok(Command::new("cpio")
        .args(["-i", "-d", "--quiet", "-F"])
        .arg(outer.join("forja-host.cpio"))
        .current_dir(&run));
    let read = |p: &str| std::fs::read_to_string(run.join(p)).unwrap();
    assert_eq!(read("forja/host/etc/hostname").trim(), "kvm-lab-2");
    assert!(read("forja/host/etc/forja/firstboot.env").contains("FORJA_NODE_DOMAINS=\"conf02\""));
    assert!(read("systemd/network/10-mgmt.link").contains("52:54:00:0a:02:01"));
    assert!(
        run.join("systemd/system/forja-nodes.service.d/50-site-host.conf")
            .is_file()
    );
    assert!(
        !run.join("systemd/system/timers.target.wants").exists(),
        "host 2 takes no snapshots"
    );
    let manifest = read("forja/host/usr/share/forja/selfcheck.manifest");
    assert!(
        manifest.contains("(run/systemd/network/20-mgmt.network)"),
        "{manifest}"
    );
    for d in [outer, run] {
        std::fs::remove_dir_all(d).unwrap();
    }
    std::fs::remove_file(initrd).unwrap();
    std::fs::remove_file(work.join("uki-copy.efi")).unwrap();
}

/// A tampered file anywhere in the site fails the site's check; `--host` rebuilds one host and re-signs.
fn tamper_and_rebuild_one_host(site: &Path, out: &Path, names: &[String]) {
    let victim = out.join("hosts/kvm-lab-2/plan.json.bak");
    let plan2 = out.join("hosts/kvm-lab-2/plan.json");
    std::fs::copy(&plan2, &victim).unwrap();
    let mut bytes = std::fs::read(&plan2).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&plan2, &bytes).unwrap();
    let pubkey = out.join("forja.pub");
    let (code, _, err) = forja(&[
        "verify",
        out.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    std::fs::rename(&victim, &plan2).unwrap();
    let (code, _, err) = forja(&[
        "verify",
        out.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");

    // --host: one host again; the other is kept and listed; an unknown host is refused.
    let t = std::time::Instant::now();
    lab::build(site, out, &[], &["--host", "kvm-lab-2"]);
    eprintln!("site build --host kvm-lab-2: {:.1?}", t.elapsed());
    signify_check(out);
    assert_eq!(listed(out), names, "the same files, re-listed");
    // Host 2 compressed its own root frame (the same bytes): the site makes it one file with host 1's again.
    use std::os::unix::fs::MetadataExt;
    let ino = |h: &str| {
        std::fs::metadata(out.join(format!("hosts/{h}/disk-root-a.zst")))
            .unwrap()
            .ino()
    };
    assert_eq!(
        ino("kvm-lab-1"),
        ino("kvm-lab-2"),
        "one root frame after --host"
    );
    let (code, _, err) = forja(&[
        "build",
        site.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--host",
        "kvm-lab-9",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--host kvm-lab-9") && err.contains("kvm-lab-1, kvm-lab-2"),
        "{err}"
    );
}

/// The site's PXE tree: one script per MAC of each host, a dispatcher with no default, all signed.
fn pxe_tree(site_out: &Path, dir: &Path) {
    let pxe = dir.join("pxe");
    let key = dir.join("keys/lab-test.sec");
    let sb = dir.join("keys/secure-boot-TEST");
    let (code, _, err) = forja(&[
        "media",
        "pxe",
        site_out.to_str().unwrap(),
        "--out",
        pxe.to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
        "--base-url",
        "http://10.0.2.2:8080/site/",
        "--secure-boot-keys",
        sb.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    signify_check(&pxe);
    let names = listed(&pxe);
    for (mac, host) in [
        ("52-54-00-0a-01-01", "kvm-lab-1"),
        ("52-54-00-0a-01-02", "kvm-lab-1"),
        ("52-54-00-0a-02-01", "kvm-lab-2"),
        ("52-54-00-0a-02-02", "kvm-lab-2"),
    ] {
        let name = format!("mac/{mac}.ipxe");
        assert!(names.contains(&name), "{name} not listed");
        let s = std::fs::read_to_string(pxe.join(&name)).unwrap();
        assert!(
            s.contains(&format!(
                "kernel http://10.0.2.2:8080/site/hosts/{host}/vmlinuz"
            )),
            "{s}"
        );
        assert!(
            s.contains(&format!(
                "forja.url=http://10.0.2.2:8080/site/hosts/{host}/payload"
            )),
            "{s}"
        );
        for other in ["kvm-lab-1", "kvm-lab-2"].iter().filter(|o| **o != host) {
            assert!(!s.contains(other), "{name} names {other}");
        }
    }
    // Exactly those four: a machine with any other MAC finds no script, and the dispatcher boots nothing itself.
    let macs: Vec<_> = std::fs::read_dir(pxe.join("mac")).unwrap().collect();
    assert_eq!(macs.len(), 4);
    let boot = std::fs::read_to_string(pxe.join("boot.ipxe")).unwrap();
    assert!(boot.contains(
        "chain --autofree http://10.0.2.2:8080/site/mac/${netX/mac:hexhyp}.ipxe || goto unknown"
    ));
    assert!(
        !boot.contains("kernel") && !boot.contains("initrd"),
        "{boot}"
    );
    for host in ["kvm-lab-1", "kvm-lab-2"] {
        for f in [
            "vmlinuz",
            "initrd.img",
            "payload/disk.parts.json",
            "payload/disk-head.zst",
            "payload/disk-root-a.zst",
            "payload/disk-state.zst",
            "payload/disk-payload.zst",
            "payload/disk-end.zst",
            "payload/SHA256SUMS.sig",
        ] {
            let n = format!("hosts/{host}/{f}");
            assert!(names.contains(&n), "{n} not listed");
        }
    }
    // Each host's payload is that host's own signed image.
    for host in ["kvm-lab-1", "kvm-lab-2"] {
        let a = std::fs::read(pxe.join(format!("hosts/{host}/payload/SHA256SUMS"))).unwrap();
        let b = std::fs::read(site_out.join(format!("hosts/{host}/SHA256SUMS"))).unwrap();
        assert_eq!(a, b, "{host}");
    }
    site_json_tamper_is_refused(site_out, dir);
}

/// A site build whose site.json was changed after signing gets no PXE tree.
fn site_json_tamper_is_refused(site_out: &Path, dir: &Path) {
    let key = dir.join("keys/lab-test.sec");
    let sb = dir.join("keys/secure-boot-TEST");
    let m = site_out.join("site.json");
    let orig = std::fs::read(&m).unwrap();
    std::fs::write(
        &m,
        String::from_utf8(orig.clone())
            .unwrap()
            .replace("52:54:00:0a:02:01", "52:54:00:0a:09:01"),
    )
    .unwrap();
    let (code, _, err) = forja(&[
        "media",
        "pxe",
        site_out.to_str().unwrap(),
        "--out",
        dir.join("pxe2").to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
        "--base-url",
        "http://x/",
        "--secure-boot-keys",
        sb.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    // Nor a USB stick: the host list the installer would pick from is the signed one or none.
    let usb2 = dir.join("usb2");
    let (code, _, err) = forja(&[
        "media",
        "usb",
        site_out.to_str().unwrap(),
        "--out",
        usb2.to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
        "--secure-boot-keys",
        sb.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("site.json"), "{err}");
    assert!(!usb2.join("usb.img").exists());
    std::fs::write(&m, orig).unwrap();
    // The stick is never written into the site folder itself (its own SHA256SUMS would replace the site's).
    let (code, _, err) = forja(&[
        "media",
        "usb",
        site_out.to_str().unwrap(),
        "--out",
        site_out.to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
        "--secure-boot-keys",
        sb.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--out must not be the site's build folder"),
        "{err}"
    );
}

/// Runs `cmd`; panics with its output unless it succeeds. Returns stdout.
fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The site's one USB stick, without booting it: a sound GPT and FAT, one installer that knows every host (MACs,
/// serial, payload folder), and each host's own payload on the ext4 partition, signed and intact.
fn usb_stick(site_out: &Path, dir: &Path) {
    let usb = dir.join("usb");
    let key = dir.join("keys/lab-test.sec");
    let sb = dir.join("keys/secure-boot-TEST");
    let made = std::time::Instant::now();
    let (code, _, err) = forja(&[
        "media",
        "usb",
        site_out.to_str().unwrap(),
        "--out",
        usb.to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
        "--secure-boot-keys",
        sb.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    eprintln!(
        "site USB stick: usb.img {} MiB, made in {:.1?}",
        std::fs::metadata(usb.join("usb.img")).unwrap().len() >> 20,
        made.elapsed()
    );
    signify_check(&usb);
    assert_eq!(listed(&usb), ["usb.img"]);
    let img = usb.join("usb.img");
    let v = ok(Command::new("sgdisk").arg("-v").arg(&img));
    assert!(v.contains("No problems found"), "{v}");

    // The ESP, cut out of the image, passes fsck.fat; its one installer carries installer.json for the site.
    let esp = dir.join("usb-esp.img");
    let bytes = std::fs::read(&img).unwrap();
    let (esp_off, esp_len) = (
        forja::disk::gpt::ALIGN as usize,
        forja::media::build::USB_ESP_SIZE as usize,
    );
    std::fs::write(&esp, &bytes[esp_off..esp_off + esp_len]).unwrap();
    drop(bytes);
    ok(Command::new("fsck.fat").arg("-n").arg(&esp));
    let efi = dir.join("BOOTX64.EFI");
    ok(Command::new("mcopy")
        .args(["-n", "-i"])
        .arg(&esp)
        .arg("::EFI/BOOT/BOOTX64.EFI")
        .arg(&efi));
    let initrd = dir.join("installer-initrd");
    ok(Command::new("objcopy")
        .arg(format!("--dump-section=.initrd={}", initrd.display()))
        .arg(&efi)
        .arg(dir.join("efi-copy")));
    let cfg = ok(Command::new("sh").arg("-c").arg(format!(
        "cpio -i --quiet --to-stdout forja/installer.json < {}",
        initrd.display()
    )));
    let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["mode"], "usb");
    assert_eq!(cfg["site"]["site"], "lab-site");
    let hosts = cfg["site"]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["name"], "kvm-lab-1");
    assert_eq!(hosts[0]["dir"], "hosts/kvm-lab-1");
    assert_eq!(hosts[0]["macs"][1], "52:54:00:0a:01:02");
    assert!(hosts[0].get("serial").is_none(), "{cfg}");
    assert_eq!(hosts[1]["macs"][0], "52:54:00:0a:02:01");
    assert_eq!(hosts[1]["serial"], "FORJA-LAB-2");
    for f in [&esp, &efi, &initrd, &dir.join("efi-copy")] {
        std::fs::remove_file(f).unwrap();
    }

    // The payload partition: e2fsck, then every host's folder out of it, each checked on its own.
    let payload_off = forja::disk::gpt::ALIGN + forja::media::build::USB_ESP_SIZE;
    let part = format!("{}?offset={payload_off}", img.display());
    ok(Command::new("e2fsck").args(["-fn"]).arg(&part));
    let got = dir.join("usb-payload");
    std::fs::create_dir_all(&got).unwrap();
    ok(Command::new("debugfs")
        .args(["-R", &format!("rdump /hosts {}", got.display())])
        .arg(&part));
    let ls = ok(Command::new("debugfs").args(["-R", "ls -p /"]).arg(&part));
    assert!(ls.contains("/install-records/"), "{ls}");
    // The hosts' root frame is stored once on the stick: one inode under both names.
    let inode = |h: &str| {
        let l = ok(Command::new("debugfs")
            .args(["-R", &format!("ls -p /hosts/{h}")])
            .arg(&part));
        l.lines()
            .find(|x| x.contains("/disk-root-a.zst/"))
            .and_then(|x| {
                x.trim_start_matches('/')
                    .split('/')
                    .next()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("{h}: no disk-root-a.zst on the stick: {l}"))
    };
    assert_eq!(inode("kvm-lab-1"), inode("kvm-lab-2"));
    let pubkey = forja::sign::PublicKey::load(&site_out.join("forja.pub")).unwrap();
    for host in ["kvm-lab-1", "kvm-lab-2"] {
        let h = got.join("hosts").join(host);
        let mut files: Vec<String> = std::fs::read_dir(&h)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut want: Vec<String> = [
            "disk.parts.json",
            "disk-head.zst",
            "disk-root-a.zst",
            "disk-state.zst",
            "disk-payload.zst",
            "disk-end.zst",
        ]
        .into_iter()
        .chain(forja::media::build::SIGNING_FILES)
        .map(str::to_owned)
        .collect();
        want.sort();
        assert_eq!(files, want, "{host}");
        // Its own signed list, as the site build signed it.
        assert_eq!(
            std::fs::read(h.join("SHA256SUMS")).unwrap(),
            std::fs::read(site_out.join(format!("hosts/{host}/SHA256SUMS"))).unwrap(),
            "{host}"
        );
        // signify (not ours) checks the signature over the list; sha256sum (not ours) the files it lists that
        // travel (the disk's parts).
        ok(Command::new("signify-openbsd")
            .args(["-V", "-e", "-p"])
            .arg(site_out.join("forja.pub"))
            .args(["-x", "SHA256SUMS.sig", "-m", "signed-list"])
            .current_dir(&h));
        assert_eq!(
            std::fs::read(h.join("signed-list")).unwrap(),
            std::fs::read(h.join("SHA256SUMS")).unwrap()
        );
        std::fs::remove_file(h.join("signed-list")).unwrap();
        let sums = ok(Command::new("sha256sum")
            .args(["--check", "--ignore-missing", "SHA256SUMS"])
            .current_dir(&h));
        for f in [
            "disk.parts.json",
            "disk-head.zst",
            "disk-root-a.zst",
            "disk-state.zst",
            "disk-payload.zst",
            "disk-end.zst",
        ] {
            assert!(sums.contains(&format!("{f}: OK")), "{host}: {sums}");
        }
        // And the installer's own check, with the key built into it, as it runs on the machine.
        let payload = forja::media::install::Payload::Dir(h.clone());
        let trusted = forja::media::install::verify_list(&payload, &pubkey).unwrap();
        forja::media::install::verify_image(&payload, &trusted).unwrap();
    }
    std::fs::remove_dir_all(&got).unwrap();
    std::fs::remove_dir_all(&usb).unwrap();
}
