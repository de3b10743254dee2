//! The site side of tests/firmware_redfish.rs: the lab profile set up for a BMC (account, site Secure Boot keys,
//! the disk rule), running forja against it, and reading what libvirt holds for a domain.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::redfish_lab::{self, BMC_PASSWORD, BMC_USER, Lab};

/// The firmware administrator password of the lab's secrets file.
pub const BIOS_PASSWORD: &str = "Lab-Test-Bios-2026!";

/// The lab profile, set up as a site would for its BMC: the account, the first change's old password (none set:
/// empty), the site's own Secure Boot keys, and which boot option is the installed disk.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub profile: PathBuf,
}

impl Site {
    pub fn new() -> Site {
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
        let text = std::fs::read_to_string(&profile)
            .unwrap()
            .replace(
                // The lab's own (test) keys give way to the ones this test made.
                "secure-boot-keys = \"keys/secure-boot-TEST\"",
                "#",
            )
            .replace(
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
    pub fn forja(&self, lab: &Lab, bmc: usize, cmd: &str, extra: &[&str]) -> (i32, String) {
        let (code, stdout, stderr) =
            self.forja_with(&self.profile, &lab.bmc(bmc).url, &lab.ca, cmd, extra);
        println!(
            "--- forja firmware {cmd} ({})\n{stdout}{stderr}",
            lab.bmc(bmc).domain
        );
        (code, stdout)
    }

    /// The same with any profile, URL and CA: exit code, stdout, stderr.
    pub fn forja_with(
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
    pub fn with_secret(&self, from: &str, to: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
            let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap();
            std::fs::write(dir.path().join(f), text.replace(from, to)).unwrap();
        }
        std::os::unix::fs::symlink(self.dir.path().join("keys"), dir.path().join("keys")).unwrap();
        let profile = dir.path().join("lab.toml");
        Site { dir, profile }
    }

    pub fn audit_json(&self, lab: &Lab, bmc: usize) -> (i32, Value) {
        let (code, out) = self.forja(lab, bmc, "audit", &["--json"]);
        (
            code,
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("audit --json: {e}: {out}")),
        )
    }
}

pub fn status(audit: &Value, setting: &str) -> String {
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
pub struct Definition {
    pub os_boot: Vec<String>,
    /// (device, order) for every disk and interface with a `<boot order>`, sorted by order.
    pub orders: Vec<(String, u32)>,
    pub secure_loader: bool,
    pub nvram_template: String,
    /// The `<os>` and `<devices>` elements as text (sushy also writes `<metadata>` on a GET).
    pub os_and_devices: String,
}

pub fn definition(lab: &Lab, domain: &str) -> Definition {
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
pub fn put_network_first(lab: &Lab, domain: &str) {
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

/// The stand-in keeps the firmware password as a bcrypt hash in the domain's metadata: it must be the profile's.
pub fn check_password_hash(lab: &Lab, domain: &str) {
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
pub fn write_esp(path: &Path, loader: &Path) {
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
