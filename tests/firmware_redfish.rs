//! `forja firmware apply` and `audit` against virtual BMCs in front of real libvirt/QEMU domains
//! (tests/support/redfish_lab.rs): OpenStack's sushy-emulator as it ships, and the strict stand-in
//! (tests/support/redfish_standin.py) for what sushy lacks. Each effect is checked through libvirt itself (the
//! domain's persistent XML, its nvram), never through the BMC that made it.
//!
//! One test drives both BMCs in sequence: one libvirtd for both, and the harness's teardown runs once.
//! It fails, naming what is missing, when the machine lacks a prerequisite (`ci/install-deps` installs them).

#[path = "support/redfish_lab.rs"]
mod redfish_lab;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use redfish_lab::{BMC_PASSWORD, BMC_USER, Flavour, Lab, OVMF_VARS_MS};
use serde_json::Value;

const BIOS_PASSWORD: &str = "Lab-Test-Bios-2026!";
const SUSHY_UUID: &str = "6e0c5a1e-f0a1-4b1d-9b1e-000000001601";
const STANDIN_UUID: &str = "6e0c5a1e-f0a1-4b1d-9b1e-000000001602";
/// An EFI application Debian ships unsigned (package systemd-boot-efi): the loader of the boot proof.
const SYSTEMD_BOOT: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";

/// The lab profile, set up as a site would for its BMC: the account, the first change's old password (none set:
/// empty), the site's own Secure Boot keys, and which boot option is the installed disk.
struct Site {
    dir: tempfile::TempDir,
    profile: PathBuf,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
            std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
        }
        let keys = dir.path().join("keys/secure-boot");
        std::fs::create_dir_all(&keys).unwrap();
        for n in ["PK", "KEK", "db"] {
            let out = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "3650", "-sha256",
                ])
                .args(["-subj", &format!("/CN=forja test site {n}")])
                .arg("-keyout")
                .arg(keys.join(format!("{n}.key")))
                .arg("-out")
                .arg(keys.join(format!("{n}.crt")))
                .output()
                .expect("openssl (package openssl)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(
            keys.join("owner.guid"),
            "5d2a9b8e-1616-4c30-a1e1-f0f1a2b3c4d5\n",
        )
        .unwrap();
        let profile = dir.path().join("lab.toml");
        let text = std::fs::read_to_string(&profile).unwrap().replace(
            "secure-boot = true\n",
            "secure-boot = true\n\
             bmc-user = { secret = \"bmc-user\" }\n\
             bmc-password = { secret = \"bmc-password\" }\n\
             current-admin-password = { secret = \"bios-admin-password-current\" }\n\
             secure-boot-keys = \"keys/secure-boot\"\n\
             boot-disk = { uefi-device-path-contains = \"Sata(0,\" }\n",
        );
        std::fs::write(&profile, text).unwrap();
        let secrets = dir.path().join("lab.secrets.toml");
        let mut s = std::fs::read_to_string(&secrets).unwrap();
        s.push_str(&format!(
            "bmc-user = \"{BMC_USER}\"\nbmc-password = \"{BMC_PASSWORD}\"\nbios-admin-password-current = \"\"\n"
        ));
        std::fs::write(&secrets, s).unwrap();
        Site { dir, profile }
    }

    /// `forja firmware CMD PROFILE --bmc URL --ca CA EXTRA...`: exit code and stdout; no secret in any output.
    fn forja(&self, lab: &Lab, bmc: usize, cmd: &str, extra: &[&str]) -> (i32, String) {
        let (code, stdout, stderr) =
            self.forja_with(&self.profile, &lab.bmc(bmc).url, &lab.ca, cmd, extra);
        println!(
            "--- forja firmware {cmd} ({})\n{stdout}{stderr}",
            lab.bmc(bmc).domain
        );
        (code, stdout)
    }

    /// The same with any profile, URL and CA: exit code, stdout, stderr.
    fn forja_with(
        &self,
        profile: &Path,
        url: &str,
        ca: &Path,
        cmd: &str,
        extra: &[&str],
    ) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_forja"))
            .args(["-q", "firmware", cmd])
            .arg(profile)
            .args(["--bmc", url, "--ca"])
            .arg(ca)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for secret in [BMC_PASSWORD, BIOS_PASSWORD] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "a secret was printed:\n{stdout}\n{stderr}"
            );
        }
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    /// A copy of the site whose secrets file has `from` replaced by `to`.
    fn with_secret(&self, from: &str, to: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
            let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap();
            std::fs::write(dir.path().join(f), text.replace(from, to)).unwrap();
        }
        std::os::unix::fs::symlink(self.dir.path().join("keys"), dir.path().join("keys")).unwrap();
        let profile = dir.path().join("lab.toml");
        Site { dir, profile }
    }

    fn audit_json(&self, lab: &Lab, bmc: usize) -> (i32, Value) {
        let (code, out) = self.forja(lab, bmc, "audit", &["--json"]);
        (
            code,
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("audit --json: {e}: {out}")),
        )
    }
}

fn status(audit: &Value, setting: &str) -> String {
    audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["setting"] == setting)
        .map(|f| f["status"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no finding for {setting}: {audit}"))
}

/// What libvirt holds for a domain: `<os><boot dev>` entries, per-device boot orders, loader and nvram.
#[derive(Debug, PartialEq, Eq)]
struct Definition {
    os_boot: Vec<String>,
    /// (device, order) for every disk and interface with a `<boot order>`, sorted by order.
    orders: Vec<(String, u32)>,
    secure_loader: bool,
    nvram_template: String,
    /// The `<os>` and `<devices>` elements as text (sushy also writes `<metadata>` on a GET).
    os_and_devices: String,
}

fn definition(lab: &Lab, domain: &str) -> Definition {
    let xml = lab.inactive_xml(domain);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let os = doc.descendants().find(|n| n.has_tag_name("os")).unwrap();
    let devices = doc
        .descendants()
        .find(|n| n.has_tag_name("devices"))
        .unwrap();
    let mut orders: Vec<(String, u32)> = devices
        .children()
        .filter(|n| n.has_tag_name("disk") || n.has_tag_name("interface"))
        .filter_map(|n| {
            let order = n
                .children()
                .find(|c| c.has_tag_name("boot"))?
                .attribute("order")?
                .parse()
                .ok()?;
            let name = match n
                .children()
                .find(|c| c.has_tag_name("target"))
                .and_then(|t| t.attribute("dev"))
            {
                Some(dev) if n.has_tag_name("disk") => dev.to_owned(),
                _ => n
                    .children()
                    .find(|c| c.has_tag_name("mac"))
                    .and_then(|m| m.attribute("address"))
                    .unwrap_or("?")
                    .to_owned(),
            };
            Some((name, order))
        })
        .collect();
    orders.sort_by_key(|o| o.1);
    let loader = os.children().find(|n| n.has_tag_name("loader")).unwrap();
    let nvram = os.children().find(|n| n.has_tag_name("nvram")).unwrap();
    Definition {
        os_boot: os
            .children()
            .filter(|n| n.has_tag_name("boot"))
            .filter_map(|n| n.attribute("dev").map(String::from))
            .collect(),
        orders,
        secure_loader: loader.attribute("secure") == Some("yes"),
        nvram_template: nvram.attribute("template").unwrap_or("").to_owned(),
        os_and_devices: format!("{}{}", &xml[os.range()], &xml[devices.range()]),
    }
}

/// Behind forja's back: the first NIC boots first, the system disk second, through libvirt itself.
fn put_network_first(lab: &Lab, domain: &str) {
    let xml = lab.inactive_xml(domain);
    let mut out: String = xml
        .lines()
        .filter(|l| !l.trim_start().starts_with("<boot "))
        .map(|l| format!("{l}\n"))
        .collect();
    out = out.replacen(
        "<mac address='52:54:00:16:16:01'/>",
        "<mac address='52:54:00:16:16:01'/><boot order='1'/>",
        1,
    );
    out = out.replacen(
        "<target dev='sda' bus='sata'/>",
        "<target dev='sda' bus='sata'/><boot order='2'/>",
        1,
    );
    let f = lab.dir.join(format!("{domain}-drift.xml"));
    std::fs::write(&f, out).unwrap();
    lab.virsh(&["define", &f.display().to_string()]);
    let d = definition(lab, domain);
    assert_eq!(
        d.orders,
        [("52:54:00:16:16:01".to_owned(), 1), ("sda".to_owned(), 2)]
    );
}

fn sushy_emulator(lab: &Lab, site: &Site, b: usize, t: &mut Vec<(String, f64)>) {
    let dom = lab.bmc(b).domain.clone();
    let before = definition(lab, &dom);
    assert_eq!(before.os_boot, ["network", "cdrom", "hd"]);
    assert!(!before.secure_loader);

    let s = Instant::now();
    let (code, out) = site.forja(lab, b, "apply", &[]);
    t.push(("sushy: first apply".into(), s.elapsed().as_secs_f64()));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("~ boot-order: BootSourceOverrideTarget Pxe, BootSourceOverrideEnabled Continuous -> Hdd, Continuous"), "{out}");
    assert!(
        out.contains("~ secure-boot: SecureBootEnable false -> true"),
        "{out}"
    );
    assert!(
        out.contains(
            "! admin-password MANUAL: the BMC lists Bios.ChangePassword but answers HTTP 404"
        ),
        "{out}"
    );
    assert!(
        out.contains("! secure-boot-keys MANUAL: this BMC offers no SecureBootDatabases"),
        "{out}"
    );
    assert!(
        out.contains("summary: 2 changed, 0 unchanged, 3 manual"),
        "{out}"
    );

    // Through libvirt: the system disk boots first, no NIC is bootable, Secure Boot firmware and its vars.
    let after = definition(lab, &dom);
    assert!(after.os_boot.is_empty(), "{after:?}");
    assert_eq!(
        after.orders.first(),
        Some(&("sda".to_owned(), 1)),
        "{after:?}"
    );
    assert!(
        after.orders.iter().all(|(d, _)| !d.contains(':')),
        "a NIC is still bootable: {after:?}"
    );
    assert!(after.secure_loader);
    assert_eq!(after.nvram_template, OVMF_VARS_MS);

    let s = Instant::now();
    let (code, out) = site.forja(lab, b, "apply", &[]);
    t.push(("sushy: second apply".into(), s.elapsed().as_secs_f64()));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("summary: 0 changed, 2 unchanged, 3 manual"),
        "{out}"
    );
    assert_eq!(
        definition(lab, &dom).os_and_devices,
        after.os_and_devices,
        "the second apply changed the domain"
    );

    let s = Instant::now();
    let (code, audit) = site.audit_json(lab, b);
    t.push(("sushy: audit".into(), s.elapsed().as_secs_f64()));
    assert_eq!(code, 0, "{audit}");
    for (setting, want) in [
        ("admin-password", "MANUAL"),
        ("boot-order", "PASS"),
        ("boot-others-off", "MANUAL"),
        ("secure-boot", "PASS"),
        ("secure-boot-keys", "MANUAL"),
    ] {
        assert_eq!(status(&audit, setting), want, "{setting}: {audit}");
    }

    put_network_first(lab, &dom);
    let (code, audit) = site.audit_json(lab, b);
    assert_eq!(code, 1, "{audit}");
    assert_eq!(status(&audit, "boot-order"), "DRIFT", "{audit}");
    assert_eq!(status(&audit, "secure-boot"), "PASS", "{audit}");
    let (code, out) = site.forja(lab, b, "apply", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("summary: 1 changed"), "{out}");
    assert_eq!(site.audit_json(lab, b).0, 0);
}

fn stand_in(lab: &Lab, site: &Site, b: usize, t: &mut Vec<(String, f64)>) {
    let dom = lab.bmc(b).domain.clone();
    let s = Instant::now();
    let (code, out) = site.forja(lab, b, "apply", &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("summary: 4 changed, 0 unchanged, 0 manual (dry run: nothing was sent)"),
        "{out}"
    );
    assert_eq!(
        definition(lab, &dom).os_boot,
        ["network", "cdrom", "hd"],
        "a dry run changed the domain"
    );
    t.push(("stand-in: dry run".into(), s.elapsed().as_secs_f64()));

    let s = Instant::now();
    let (code, out) = site.forja(lab, b, "apply", &[]);
    t.push((
        "stand-in: first apply (password, boot, keys, Secure Boot)".into(),
        s.elapsed().as_secs_f64(),
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("~ admin-password: AdminPassword changed from secret `bios-admin-password-current` to secret `bios-admin-password`"), "{out}");
    assert!(out.contains("~ boot-others-off: Boot0004 (Pxe, \"network virtio 52:54:00:16:16:01\") BootOptionEnabled true -> false"), "{out}");
    assert!(
        out.contains("enrolled PK.crt (CN=forja test site PK"),
        "{out}"
    );
    assert!(
        out.contains("summary: 5 changed, 0 unchanged, 0 manual"),
        "{out}"
    );

    // Through libvirt: only the system disk is bootable, Secure Boot firmware, the password's hash.
    let after = definition(lab, &dom);
    assert!(after.os_boot.is_empty(), "{after:?}");
    assert_eq!(after.orders, [("sda".to_owned(), 1)], "{after:?}");
    assert!(after.secure_loader);
    check_password_hash(lab, &dom);
    // Through the nvram file: Secure Boot on, and only the site's keys.
    let flags = lab.nvram_dump(&dom, false);
    assert!(
        flags
            .lines()
            .any(|l| l.starts_with("SecureBootEnable") && l.ends_with("bool: ON")),
        "{flags}"
    );
    let vars = lab.nvram_dump(&dom, true);
    for n in ["PK", "KEK", "db"] {
        assert!(
            vars.contains(&format!("CN=forja test site {n}")),
            "{n} missing:\n{vars}"
        );
    }
    assert!(
        !vars.contains("Microsoft"),
        "vendor keys left in the nvram:\n{vars}"
    );

    let s = Instant::now();
    let (code, out) = site.forja(lab, b, "apply", &[]);
    t.push(("stand-in: second apply".into(), s.elapsed().as_secs_f64()));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("summary: 0 changed, 5 unchanged, 0 manual"),
        "{out}"
    );
    assert!(out.contains("= admin-password unchanged: the BMC takes secret `bios-admin-password` as the current AdminPassword"), "{out}");
    assert_eq!(definition(lab, &dom).orders, after.orders);

    let s = Instant::now();
    let (code, audit) = site.audit_json(lab, b);
    t.push(("stand-in: audit".into(), s.elapsed().as_secs_f64()));
    assert_eq!(code, 0, "{audit}");
    for (setting, want) in [
        ("admin-password", "MANUAL"),
        ("boot-order", "PASS"),
        ("boot-others-off", "PASS"),
        ("secure-boot", "PASS"),
        ("secure-boot-keys", "PASS"),
    ] {
        assert_eq!(status(&audit, setting), want, "{setting}: {audit}");
    }

    put_network_first(lab, &dom);
    let (code, audit) = site.audit_json(lab, b);
    assert_eq!(code, 1, "{audit}");
    assert_eq!(status(&audit, "boot-order"), "DRIFT", "{audit}");
    assert_eq!(status(&audit, "boot-others-off"), "DRIFT", "{audit}");
    assert_eq!(status(&audit, "secure-boot-keys"), "PASS", "{audit}");
    let (code, out) = site.forja(lab, b, "apply", &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(definition(lab, &dom).orders, [("sda".to_owned(), 1)]);
    assert_eq!(site.audit_json(lab, b).0, 0);
}

/// The stand-in keeps the firmware password as a bcrypt hash in the domain's metadata: it must be the profile's.
fn check_password_hash(lab: &Lab, domain: &str) {
    let xml = lab.inactive_xml(domain);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let hash = doc
        .descendants()
        .find(|n| n.has_tag_name("password") && n.attribute("name") == Some("AdminPassword"))
        .and_then(|n| n.attribute("bcrypt"))
        .unwrap_or_else(|| panic!("no AdminPassword hash in {domain}'s metadata:\n{xml}"));
    let ok = Command::new(redfish_lab::venv().join("bin/python"))
        .args(["-c", "import sys, bcrypt; sys.exit(0 if bcrypt.checkpw(sys.argv[1].encode(), sys.argv[2].encode()) else 1)"])
        .args([BIOS_PASSWORD, hash])
        .status()
        .unwrap();
    assert!(ok.success(), "the firmware password is not the profile's");
}

/// A FAT volume spanning the whole disk (no partition table: UEFI mounts it as it is) whose fallback loader
/// `\EFI\BOOT\BOOTX64.EFI` is `loader`, written by forja's own FAT writer.
fn write_esp(path: &Path, loader: &Path) {
    let mut tree = forja::fs::fat::FatTree::new();
    tree.add_file("EFI/BOOT/BOOTX64.EFI", loader).unwrap();
    let params = forja::fs::fat::FatParams {
        size: 40 << 20,
        volume_id: 0x1616_0030,
        label: "FORJA-ESP".into(),
        epoch: 1_767_225_600,
        hidden_sectors: 0,
    };
    tree.write_image(path, &params).unwrap();
}

/// What a BMC refuses, and how forja reports a refusal. Against the stand-in (strict, DMTF errors): the writes
/// of the old firmware plan (`BootOrder: ["disk"]`, a placeholder old password), read-only and mistyped
/// properties, unknown resources. Against sushy: forja's own refusals (http://, another CA, a wrong password,
/// an unknown system) with their exit codes.
fn refusals(lab: &Lab, site: &Site, sushy: usize, standin: usize) {
    let sys = format!("/redfish/v1/Systems/{STANDIN_UUID}");
    let dmtf = |b: usize, method: &str, path: &str, body: Value, status: u16, id: &str| {
        let (st, answer) = lab.request(b, method, path, Some(body.clone()));
        assert_eq!(st, status, "{method} {path} {body}: {answer}");
        let msg = &answer["error"]["@Message.ExtendedInfo"][0];
        assert!(
            msg["MessageId"].as_str().is_some_and(|m| m.ends_with(id)),
            "{method} {path}: {answer}"
        );
        msg["RelatedProperties"].clone()
    };
    let props = dmtf(
        standin,
        "PATCH",
        &sys,
        serde_json::json!({"Boot": {"BootOrder": ["disk"], "BootSourceOverrideEnabled": "Disabled"}}),
        400,
        "PropertyValueNotInList",
    );
    assert_eq!(props, serde_json::json!(["#/Boot/BootOrder"]));
    dmtf(
        standin,
        "POST",
        &format!("{sys}/BIOS/Actions/Bios.ChangePassword"),
        serde_json::json!({"PasswordName": "AdminPassword", "OldPassword": {"secret": "current BIOS admin password"},
            "NewPassword": "x"}),
        400,
        "ActionParameterValueTypeError",
    );
    dmtf(
        standin,
        "PATCH",
        &format!("{sys}/SecureBoot"),
        serde_json::json!({"SecureBootMode": "UserMode"}),
        400,
        "PropertyNotWritable",
    );
    dmtf(
        standin,
        "PATCH",
        &format!("{sys}/SecureBoot"),
        serde_json::json!({"SecureBootEnable": "yes"}),
        400,
        "PropertyValueTypeError",
    );
    dmtf(
        standin,
        "PATCH",
        &format!("{sys}/BootOptions/Boot0001"),
        serde_json::json!({"Bogus": 1}),
        400,
        "PropertyUnknown",
    );
    let (st, _) = lab.request(
        standin,
        "GET",
        &format!("{sys}/SecureBoot/SecureBootDatabases/PKx"),
        None,
    );
    assert_eq!(st, 404);
    // sushy-emulator refuses the old plan's BootOrder too, in plain text.
    let (st, answer) = lab.request(
        sushy,
        "PATCH",
        &format!("/redfish/v1/Systems/{SUSHY_UUID}"),
        Some(serde_json::json!({"Boot": {"BootOrder": ["disk"], "BootSourceOverrideEnabled": "Disabled"}})),
    );
    assert_eq!(st, 400, "{answer}");

    let url = &lab.bmc(sushy).url;
    let (code, _, err) = site.forja_with(
        &site.profile,
        &url.replace("https://", "http://"),
        &lab.ca,
        "audit",
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not an https:// URL"), "{err}");
    let other_ca = site.dir.path().join("other-ca.pem");
    let ca = rcgen::generate_simple_self_signed(vec!["other".into()]).unwrap();
    std::fs::write(&other_ca, ca.cert.pem()).unwrap();
    let (code, _, err) = site.forja_with(&site.profile, url, &other_ca, "apply", &[]);
    assert_eq!(code, 9, "{err}");
    assert!(err.contains("TLS failure"), "{err}");
    let wrong = site.with_secret(BMC_PASSWORD, "Not-The-Bmc-Password-1");
    let (code, _, err) = wrong.forja_with(&wrong.profile, url, &lab.ca, "apply", &[]);
    assert_eq!(code, 9, "{err}");
    assert!(
        err.contains("HTTP 401") && !err.contains("Not-The-Bmc-Password-1"),
        "{err}"
    );
    let (code, _, err) =
        site.forja_with(&site.profile, url, &lab.ca, "audit", &["--system", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("0 system(s) match `nope`"), "{err}");
}

/// OVMF's boot manager line for the system disk: loaded and started, or refused.
const DISK: &str = "\"UEFI QEMU HARDDISK QM00001 \"";

fn disk_decided(line: &str) -> bool {
    line.contains(DISK) && (line.contains("BdsDxe: starting") || line.contains("Access Denied"))
}

/// The boot proof, through the firmware itself: after `apply` (Secure Boot on, only the site's keys, only the
/// system disk bootable), OVMF refuses the unsigned loader on the system disk, and runs the same loader signed
/// with the site's db key. Neither boot tries the network. (After the refusal OVMF starts its built-in EFI
/// shell, which it lists itself; Secure Boot still holds inside it.)
fn firmware_enforces_the_site_keys(
    lab: &Lab,
    site: &Site,
    b: usize,
    esp: &Path,
    t: &mut Vec<(String, f64)>,
) {
    let dom = lab.bmc(b).domain.clone();
    let limit = std::time::Duration::from_secs(120);
    let s = Instant::now();
    let log = lab.boot_until(&dom, disk_decided, limit);
    t.push((
        "boot proof: unsigned loader".into(),
        s.elapsed().as_secs_f64(),
    ));
    let decided = log.lines().find(|l| disk_decided(l)).unwrap();
    assert!(
        decided.contains("Access Denied"),
        "the unsigned loader was not refused:\n{log}"
    );
    assert!(
        !log.contains("PXE"),
        "the firmware tried the network:\n{log}"
    );

    let keys = site.dir.path().join("keys/secure-boot");
    let signed = lab.dir.join("images/systemd-bootx64.signed.efi");
    let out = Command::new("sbsign")
        .arg("--key")
        .arg(keys.join("db.key"))
        .arg("--cert")
        .arg(keys.join("db.crt"))
        .arg("--output")
        .arg(&signed)
        .arg(SYSTEMD_BOOT)
        .output()
        .expect("sbsign (package sbsigntool)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write_esp(esp, &signed);
    let s = Instant::now();
    let log = lab.boot_until(&dom, disk_decided, limit);
    t.push((
        "boot proof: loader signed with the site's db key".into(),
        s.elapsed().as_secs_f64(),
    ));
    let decided = log.lines().find(|l| disk_decided(l)).unwrap();
    assert!(
        decided.contains("BdsDxe: starting"),
        "the signed loader did not start:\n{log}"
    );
    assert!(
        !log.contains("PXE"),
        "the firmware tried the network:\n{log}"
    );
}

#[test]
fn firmware_apply_and_audit_through_virtual_bmcs() {
    let all = Instant::now();
    let mut t: Vec<(String, f64)> = Vec::new();
    let s = Instant::now();
    let site = Site::new();
    t.push(("site keys (3 x RSA-3072)".into(), s.elapsed().as_secs_f64()));
    let s = Instant::now();
    let mut lab = Lab::start();
    let esp = lab.dir.join("images/forja-standin-esp.raw");
    write_esp(&esp, Path::new(SYSTEMD_BOOT));
    let sushy = lab.add(Flavour::Sushy, "forja-sushy", SUSHY_UUID, None);
    let standin = lab.add(Flavour::StandIn, "forja-standin", STANDIN_UUID, Some(&esp));
    t.push((
        "lab start (libvirtd, 2 domains, 2 BMCs)".into(),
        s.elapsed().as_secs_f64(),
    ));
    for (what, d) in &lab.timings {
        t.push((format!("  {what}"), d.as_secs_f64()));
    }
    let s = Instant::now();
    sushy_emulator(&lab, &site, sushy, &mut t);
    t.push(("sushy-emulator part".into(), s.elapsed().as_secs_f64()));
    let s = Instant::now();
    stand_in(&lab, &site, standin, &mut t);
    t.push(("stand-in part".into(), s.elapsed().as_secs_f64()));
    firmware_enforces_the_site_keys(&lab, &site, standin, &esp, &mut t);
    let s = Instant::now();
    refusals(&lab, &site, sushy, standin);
    t.push((
        "refusals (strict BMC errors, forja's exit codes)".into(),
        s.elapsed().as_secs_f64(),
    ));
    let s = Instant::now();
    drop(lab);
    t.push(("teardown".into(), s.elapsed().as_secs_f64()));
    drop(site.dir);
    t.push(("whole test".into(), all.elapsed().as_secs_f64()));
    println!("firmware-redfish timings:");
    for (what, secs) in t {
        println!("  {what:<58} {secs:>6.2} s");
    }
}

#[test]
fn a_missing_prerequisite_is_named_not_skipped() {
    let missing = redfish_lab::missing_with(Path::new("/nonexistent/venv"));
    assert!(
        missing
            .iter()
            .any(|m| m.starts_with("/nonexistent/venv/bin/python with sushy-tools")),
        "{missing:?}"
    );
}
