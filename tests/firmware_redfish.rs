//! `forja firmware apply` and `audit` against virtual BMCs in front of real libvirt/QEMU domains
//! (tests/support/redfish_lab.rs): OpenStack's sushy-emulator as it ships, and the strict stand-in
//! (tests/support/redfish_standin.py) for what sushy lacks. Each effect is checked through libvirt itself (the
//! domain's persistent XML, its nvram), never through the BMC that made it.
//!
//! One test drives both BMCs in sequence: one libvirtd for both, and the harness's teardown runs once.
//! It fails, naming what is missing, when the machine lacks a prerequisite (`ci/install-deps` installs them).

#[path = "support/redfish_lab.rs"]
mod redfish_lab;
#[path = "support/redfish_site.rs"]
mod redfish_site;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use redfish_lab::{BMC_PASSWORD, Flavour, Lab, OVMF_VARS_MS};
use redfish_site::{Site, check_password_hash, definition, put_network_first, status, write_esp};
use serde_json::Value;
const SUSHY_UUID: &str = "6e0c5a1e-f0a1-4b1d-9b1e-000000001601";
const STANDIN_UUID: &str = "6e0c5a1e-f0a1-4b1d-9b1e-000000001602";
/// An EFI application Debian ships unsigned (package systemd-boot-efi): the loader of the boot proof.
const SYSTEMD_BOOT: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";

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
    // sushy's override keeps the other disks bootable after the target, the CD-ROM (sdc) included: that is why
    // boot-others-off is MANUAL with this BMC.
    assert!(after.orders.iter().any(|(d, _)| d == "sdc"), "{after:?}");
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

    audit_drift_and_repair(
        lab,
        site,
        b,
        &[
            ("admin-password", "MANUAL"),
            ("boot-order", "PASS"),
            ("boot-others-off", "MANUAL"),
            ("secure-boot", "PASS"),
            ("secure-boot-keys", "MANUAL"),
        ],
        &[("boot-order", "DRIFT"), ("secure-boot", "PASS")],
        t,
    );
}

/// `audit` gives `verdicts` (exit 0); after the boot order is changed through libvirt it gives `drifted` (exit
/// 1); `apply` puts the lock back and `audit` passes again.
fn audit_drift_and_repair(
    lab: &Lab,
    site: &Site,
    b: usize,
    verdicts: &[(&str, &str)],
    drifted: &[(&str, &str)],
    t: &mut Vec<(String, f64)>,
) {
    let dom = lab.bmc(b).domain.clone();
    let s = Instant::now();
    let (code, audit) = site.audit_json(lab, b);
    t.push((format!("{dom}: audit"), s.elapsed().as_secs_f64()));
    assert_eq!(code, 0, "{audit}");
    for (setting, want) in verdicts {
        assert_eq!(status(&audit, setting), *want, "{setting}: {audit}");
    }
    put_network_first(lab, &dom);
    let (code, audit) = site.audit_json(lab, b);
    assert_eq!(code, 1, "{audit}");
    for (setting, want) in drifted {
        assert_eq!(status(&audit, setting), *want, "{setting}: {audit}");
    }
    let (code, out) = site.forja(lab, b, "apply", &[]);
    assert_eq!(code, 0, "{out}");
    let (code, audit) = site.audit_json(lab, b);
    assert_eq!(code, 0, "after the repair: {audit}");
    assert_eq!(
        definition(lab, &dom).orders.first(),
        Some(&("sda".to_owned(), 1))
    );
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

    let after = check_locked_through_libvirt(lab, &dom);

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

    audit_drift_and_repair(
        lab,
        site,
        b,
        &[
            ("admin-password", "MANUAL"),
            ("boot-order", "PASS"),
            ("boot-others-off", "PASS"),
            ("secure-boot", "PASS"),
            ("secure-boot-keys", "PASS"),
        ],
        &[
            ("boot-order", "DRIFT"),
            ("boot-others-off", "DRIFT"),
            ("secure-boot-keys", "PASS"),
        ],
        t,
    );
    assert_eq!(definition(lab, &dom).orders, [("sda".to_owned(), 1)]);
}

/// The stand-in's effects, read through libvirt: only the system disk bootable, Secure Boot firmware, the
/// password's hash; and through the nvram file: Secure Boot on, only the site's keys.
fn check_locked_through_libvirt(lab: &Lab, dom: &str) -> redfish_site::Definition {
    // Through libvirt: only the system disk is bootable, Secure Boot firmware, the password's hash.
    let after = definition(lab, dom);
    assert!(after.os_boot.is_empty(), "{after:?}");
    assert_eq!(after.orders, [("sda".to_owned(), 1)], "{after:?}");
    assert!(after.secure_loader);
    check_password_hash(lab, dom);
    // Through the nvram file: Secure Boot on, and only the site's keys.
    let flags = lab.nvram_dump(dom, false);
    assert!(
        flags
            .lines()
            .any(|l| l.starts_with("SecureBootEnable") && l.ends_with("bool: ON")),
        "{flags}"
    );
    let vars = lab.nvram_dump(dom, true);
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
    after
}

/// What the BMCs refuse. The stand-in (strict, DMTF errors): the writes of the old firmware plan (`BootOrder:
/// ["disk"]`, a placeholder old password), read-only and mistyped properties, unknown resources; sushy: the
/// old plan's `BootOrder`, in plain text.
fn bmc_refusals(lab: &Lab, sushy: usize, standin: usize) {
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
}

/// forja's own refusals, against sushy: http://, another CA, a wrong BMC password, an unknown system.
fn forja_refusals(lab: &Lab, site: &Site, sushy: usize) {
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
    bmc_refusals(&lab, sushy, standin);
    forja_refusals(&lab, &site, sushy);
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
