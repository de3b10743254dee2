//! `forja build` end to end on the lab profile (a real Debian base from mmdebstrap, stand-in Pexip images):
//! reproducibility, the saved plan as the build's exact input, independent oracles on every filesystem,
//! signatures checked by signify and ssh-keygen, tamper detection, and no secret anywhere in the output.
//!
//! One test function on purpose: the builds share one base cache and run one after another.

#[path = "support/chromium.rs"]
mod chromium;
#[path = "support/lab.rs"]
mod lab;
#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/spdx.rs"]
mod spdx;

use std::path::Path;
use std::process::Command;

use lab::{LabCopy, build, build_in};
use oracle::{extract, partition, signify_check, ssh_verify};

fn sh(cmd: &str, args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `forja plan PROFILE --json` (no secrets needed) into `out`.
fn save_plan(profile: &Path, out: &Path) {
    let p = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["plan", "--json"])
        .arg(profile)
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    std::fs::write(out, &p.stdout).unwrap();
}

/// A file's content inside slot A's root (EROFS), read by `fsck.erofs --extract` (an independent reader).
fn root_file(disk: &Path, plan: &forja::plan::Plan, path: &str, work: &Path) -> String {
    let (off, len) = partition(plan, "root-a");
    let img = work.join("root-extract.img");
    extract(disk, off, len, &img);
    let dir = work.join("root-extract");
    let _ = std::fs::remove_dir_all(&dir);
    let o = Command::new("fsck.erofs")
        .arg(format!("--extract={}", dir.display()))
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "fsck.erofs --extract: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(dir.join(path.trim_start_matches('/'))).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&img).unwrap();
    text
}

/// The verified root and the signed boot chain, checked by their reference tools: `fsck.erofs` on slot A's root,
/// `veritysetup verify` of it against its hash partition and the root hash the build recorded (and the same root
/// hash on the signed image's command line), `sbverify` of every EFI binary on the ESP against the site's db
/// certificate and not against another key. Slot B is empty.
fn verified_boot_oracles(dir: &Path, plan: &forja::plan::Plan, work: &Path) {
    let disk = dir.join("disk.raw");
    let built = plan.built().unwrap();
    let (off, len) = partition(plan, "root-a");
    let root = work.join("root-a.img");
    extract(&disk, off, len, &root);
    let f = sh("fsck.erofs", &[root.to_str().unwrap()], work);
    assert!(
        f.status.success(),
        "fsck.erofs: {}",
        String::from_utf8_lossy(&f.stderr)
    );
    let (voff, vlen) = partition(plan, "root-a-verity");
    let verity = work.join("root-a.verity");
    extract(&disk, voff, vlen, &verity);
    let hash = built.root_hash.hex();
    let v = sh(
        "veritysetup",
        &[
            "verify",
            root.to_str().unwrap(),
            verity.to_str().unwrap(),
            &hash,
        ],
        work,
    );
    assert!(
        v.status.success(),
        "veritysetup verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(built.kernel_cmdline.contains(&format!("roothash={hash}")));
    std::fs::remove_file(&root).unwrap();
    let (boff, blen) = partition(plan, "root-b");
    let mut b = std::fs::File::open(&disk).unwrap();
    use std::io::{Read, Seek, SeekFrom};
    b.seek(SeekFrom::Start(boff)).unwrap();
    let mut head = vec![0u8; (blen as usize).min(1 << 20)];
    b.read_exact(&mut head).unwrap();
    assert!(head.iter().all(|&x| x == 0), "slot B is not empty");
    // The ESP's EFI binaries, signed with the lab's test db key (and only that key).
    let (eoff, _) = partition(plan, "esp");
    let img = format!("{}@@{eoff}", disk.display());
    for f in ["EFI/BOOT/BOOTX64.EFI", "EFI/Linux/forja-a.efi"] {
        let out = work.join(f.replace('/', "_"));
        let m = sh(
            "mcopy",
            &["-n", "-i", &img, &format!("::{f}"), out.to_str().unwrap()],
            work,
        );
        assert!(
            m.status.success(),
            "mcopy {f}: {}",
            String::from_utf8_lossy(&m.stderr)
        );
        let db = lab::secure_boot_keys().join("db.crt");
        let ok = sh(
            "sbverify",
            &["--cert", db.to_str().unwrap(), out.to_str().unwrap()],
            work,
        );
        assert!(
            ok.status.success(),
            "sbverify {f}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let kek = lab::secure_boot_keys().join("KEK.crt");
        let other = sh(
            "sbverify",
            &["--cert", kek.to_str().unwrap(), out.to_str().unwrap()],
            work,
        );
        assert!(
            !other.status.success(),
            "sbverify accepted {f} against another certificate"
        );
    }
}

#[test]
fn lab_build_is_reproducible_verifiable_and_secret_free() {
    let lab = LabCopy::new();
    let work = tempfile::tempdir_in(lab::tmp()).unwrap();
    let a = work.path().join("a");
    let b = work.path().join("b");
    let built_a = build(&lab.profile(), &a, &[], &[]);
    every_stage_announces_itself(&String::from_utf8_lossy(&built_a.stderr));
    // A second build, later, into another folder, from the plan `forja plan` printed, run from another working
    // directory with the profile and the output given as relative paths spelled another way: every byte the
    // same. The plan is the build's exact input, and no output depends on where the profile lies.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let saved = work.path().join("saved-plan.json");
    save_plan(&lab.profile(), &saved);
    let cwd = lab::tmp();
    let rel = |p: &Path| p.strip_prefix(&cwd).unwrap().to_owned();
    let respelled = rel(lab.dir.path()).join(".").join("lab.toml");
    assert!(respelled.is_relative());
    build_in(
        &cwd,
        &respelled,
        &rel(&b),
        &[],
        &["--plan", saved.to_str().unwrap()],
    );
    assert_eq!(
        read(&a.join("SHA256SUMS")),
        read(&b.join("SHA256SUMS")),
        "a build from the saved plan differs from the build of the profile"
    );
    for f in ["SHA256SUMS.sig", "SHA256SUMS.sshsig"] {
        assert_eq!(
            read(&a.join(f)),
            read(&b.join(f)),
            "{f} differs between builds"
        );
    }
    assert!(
        !a.join(".forja-work").exists(),
        "the work tree was left behind"
    );
    // Two identical builds: `forja diff` finds nothing, section by section.
    let d = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["diff", "--json"])
        .args([&a, &b])
        .output()
        .unwrap();
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let d: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    for (section, v) in d.as_object().unwrap() {
        assert_eq!(v.as_array().unwrap().len(), 0, "{section} differs: {v}");
    }
    // The SBOM is SPDX the SPDX project's validator accepts; the report renders in a browser.
    spdx::validate(&a.join("sbom.spdx.json"));
    report_renders(&a, work.path());

    // GPT, FAT and ext4 checked by their own tools.
    let disk = a.join("disk.raw");
    let v = sh("sgdisk", &["-v", disk.to_str().unwrap()], &a);
    let vout = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success() && vout.contains("No problems found"),
        "sgdisk -v:\n{vout}"
    );
    let plan = forja::plan::Plan::load(&a.join("plan.json")).unwrap();
    let (esp_off, esp_len) = partition(&plan, "esp");
    let esp = work.path().join("esp.img");
    extract(&disk, esp_off, esp_len, &esp);
    let f = sh("fsck.fat", &["-n", esp.to_str().unwrap()], &a);
    assert!(
        f.status.success(),
        "fsck.fat -n: {}",
        String::from_utf8_lossy(&f.stdout)
    );
    for name in ["state", "payload"] {
        let (off, _) = partition(&plan, name);
        let dev = format!("{}?offset={off}", disk.display());
        let e = sh("e2fsck", &["-fn", &dev], &a);
        assert!(
            e.status.success(),
            "e2fsck -fn {name}: {}{}",
            String::from_utf8_lossy(&e.stdout),
            String::from_utf8_lossy(&e.stderr)
        );
    }
    verified_boot_oracles(&a, &plan, work.path());

    // Signatures with the site's own tools, and with forja.
    let s = signify_check(&a, &a.join("forja.pub"));
    assert!(
        s.status.success(),
        "signify -C: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    let ssh = |dir: &Path| ssh_verify(dir, &read(&dir.join("SHA256SUMS")));
    assert!(
        ssh(&a).status.success(),
        "ssh-keygen -Y verify rejected the build"
    );
    let sums_ok = |dir: &Path| {
        sh("sha256sum", &["--check", "--quiet", "SHA256SUMS"], dir)
            .status
            .success()
    };
    assert!(sums_ok(&a), "sha256sum -c SHA256SUMS (BSD tags) failed");
    let forja_verify = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_forja"))
            // --strict: a build leaves nothing beside its listed files that the signature does not vouch for.
            .args(["verify", "--strict", dir.to_str().unwrap(), "--pubkey"])
            .arg(dir.join("forja.pub"))
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(forja_verify(&a), Some(0));

    // One flipped byte in disk.raw: every checker refuses.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(b.join("disk.raw"))
            .unwrap();
        f.seek(SeekFrom::Start(esp_off + 4096)).unwrap();
        f.write_all(&[0x5a]).unwrap();
    }
    let s = signify_check(&b, &b.join("forja.pub"));
    assert!(
        !s.status.success(),
        "signify -C accepted a modified disk.raw"
    );
    assert!(
        ssh(&b).status.success(),
        "the signature over SHA256SUMS itself is still good"
    );
    assert!(!sums_ok(&b), "sha256sum -c accepted a modified disk.raw");
    assert_eq!(
        forja_verify(&b),
        Some(3),
        "forja verify must say: hash mismatch"
    );

    // No secret value anywhere in the output (only hashes of some are intended).
    let secrets: toml::Value =
        toml::from_str(&String::from_utf8(read(&lab.dir.path().join("lab.secrets.toml"))).unwrap())
            .unwrap();
    for (name, value) in secrets["secrets"].as_table().unwrap() {
        let value = value.as_str().unwrap();
        let g = Command::new("grep")
            .args(["-r", "-a", "-F", "-l", "--", value])
            .arg(&a)
            .output()
            .unwrap();
        assert!(
            g.stdout.is_empty(),
            "secret `{name}` appears in: {}",
            String::from_utf8_lossy(&g.stdout)
        );
    }

    // The build executes what the plan says: a generated file's text changed in the saved plan is what the
    // image holds (and a text that no longer matches the plan's own hash is refused as a corrupt plan).
    let mut edited: serde_json::Value = serde_json::from_slice(&read(&saved)).unwrap();
    let sysctl = edited["root"]["generated"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["path"] == "/etc/sysctl.d/60-forja.conf")
        .unwrap();
    let text = format!(
        "{}# edited in the saved plan\n",
        sysctl["text"].as_str().unwrap()
    );
    sysctl["text"] = text.clone().into();
    let corrupt = work.path().join("corrupt-plan.json");
    std::fs::write(&corrupt, serde_json::to_vec(&edited).unwrap()).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["build", lab.profile().to_str().unwrap(), "--out"])
        .arg(work.path().join("refused"))
        .args(["--plan", corrupt.to_str().unwrap()])
        .env("FORJA_CACHE", lab::cache_dir())
        .env(forja::inbound::INPUT_DIRS_ENV, lab::tmp())
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not match the text"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    edited["root"]["generated"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["path"] == "/etc/sysctl.d/60-forja.conf")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("sha256");
    let edited_plan = work.path().join("edited-plan.json");
    std::fs::write(&edited_plan, serde_json::to_vec(&edited).unwrap()).unwrap();
    let e = work.path().join("e");
    build(
        &lab.profile(),
        &e,
        &[],
        &["--plan", edited_plan.to_str().unwrap()],
    );
    let eplan = forja::plan::Plan::load(&e.join("plan.json")).unwrap();
    assert_eq!(
        root_file(
            &e.join("disk.raw"),
            &eplan,
            "/etc/sysctl.d/60-forja.conf",
            work.path()
        ),
        text,
        "the image does not hold the saved plan's text"
    );
    std::fs::remove_dir_all(&e).unwrap();

    // A different SOURCE_DATE_EPOCH, or any profile value, changes the result.
    let c = work.path().join("c");
    build(
        &lab.profile(),
        &c,
        &[("SOURCE_DATE_EPOCH", "1767225601")],
        &[],
    );
    assert_ne!(
        read(&a.join("SHA256SUMS")),
        read(&c.join("SHA256SUMS")),
        "SOURCE_DATE_EPOCH had no effect"
    );
    lab.edit(|t| t.replace("session-timeout-minutes = 5", "session-timeout-minutes = 4"));
    let d = work.path().join("d");
    build(&lab.profile(), &d, &[], &[]);
    assert_ne!(
        read(&a.join("SHA256SUMS")),
        read(&d.join("SHA256SUMS")),
        "a profile change had no effect"
    );
    // ... and `forja diff` says what it was.
    let o = Command::new(env!("CARGO_BIN_EXE_forja"))
        .arg("diff")
        .args([&a, &d])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("~ /etc/profile.d/forja-tmout.sh") && text.contains("+TMOUT=240"),
        "{text}"
    );
    assert!(text.contains("PACKAGES: no change"), "{text}");
}

/// On a pipe, each build stage prints a start line before its timing line, so no stage is silent.
fn every_stage_announces_itself(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    let done: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("stage: ") && l.ends_with(" s"))
        .copied()
        .collect();
    assert!(done.len() >= 6, "{stderr}");
    for d in done {
        let name = d.rsplit_once(": ").unwrap().0;
        let start = lines
            .iter()
            .position(|l| *l == format!("{name} ..."))
            .unwrap_or_else(|| panic!("{name} never announced:\n{stderr}"));
        let end = lines.iter().position(|l| *l == d).unwrap();
        assert!(start < end, "{name}");
    }
}

/// The build's own report.html in headless Chromium: a row per rule, a box per built partition, no request;
/// its screenshot is what `docs/report.png` shows (`FORJA_BLESS=1` rewrites it).
fn report_renders(build: &Path, work: &Path) {
    let url = format!("file://{}", build.join("report.html").display());
    let trap = chromium::Trap::new();
    let dom = chromium::dom(&url, &trap);
    let compliance: serde_json::Value =
        serde_json::from_slice(&read(&build.join("compliance.json"))).unwrap();
    let rules = compliance["rules"].as_array().unwrap().len();
    assert_eq!(dom.matches("<tr id=\"rule-").count(), rules);
    let plan = forja::plan::Plan::load(&build.join("plan.json")).unwrap();
    let parts = &plan.built().unwrap().layout.partitions;
    assert_eq!(dom.matches("class=\"partition\"").count(), parts.len());
    let sums = String::from_utf8(read(&build.join("SHA256SUMS"))).unwrap();
    let disk = sums
        .lines()
        .find(|l| l.starts_with("SHA256 (disk.raw) = "))
        .unwrap();
    assert!(
        dom.contains(disk.rsplit(' ').next().unwrap()),
        "the report lacks disk.raw's hash"
    );
    assert!(
        !dom.contains(&build.display().to_string()),
        "an absolute path in the report"
    );
    let png = work.join("report.png");
    chromium::screenshot(&url, &png, 1280, 2400, &trap);
    assert_eq!(
        trap.page_requests(),
        Vec::<String>::new(),
        "the report made requests"
    );
    let docs = lab::repo().join("docs/report.png");
    if std::env::var_os("FORJA_BLESS").is_some_and(|v| v == "1") {
        std::fs::copy(&png, &docs).unwrap();
    }
    assert!(
        docs.exists(),
        "docs/report.png missing: FORJA_BLESS=1 cargo test --test build_lab"
    );
}
