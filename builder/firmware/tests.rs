//! `apply` and `audit` against the in-memory BMC ([`super::fake`]): a full lock, a second run that changes
//! nothing, drift behind forja's back, a sushy-like BMC that exposes little, and the refusals.

use super::apply::{Summary, apply};
use super::audit::{Audit, Status, judge};
use super::fake::{Fake, Flavour};
use super::keys;
use super::observe::observe;
use super::plan::{FirmwarePlan, Setting, plan};
use super::redfish::Redfish;
use crate::error::{Exit, exit_of};
use crate::profile::secrets::Secrets;
use crate::profile::{SecretsNeed, load};

const SYS: &str = "/redfish/v1/Systems/1";
const NEW: &str = "N3w-Bios-Admin-2026!";

fn vendor_pem() -> String {
    rcgen::generate_simple_self_signed(vec!["vendor".into()])
        .unwrap()
        .cert
        .pem()
}

/// The lab profile in a temporary folder with the site keys (committed fixtures) and the first change's old
/// password named: `(plan, secrets, folder)`.
fn setup() -> (FirmwarePlan, Secrets, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
        std::fs::copy(root.join("profiles").join(f), dir.path().join(f)).unwrap();
    }
    let keys = keys::tests::key_dir("rsa:3072");
    std::fs::rename(keys.path(), dir.path().join("sb")).unwrap();
    let toml = std::fs::read_to_string(dir.path().join("lab.toml")).unwrap().replace(
        // The lab's own (test) keys give way to the ones this test made.
        "secure-boot-keys = \"keys/secure-boot-TEST\"",
        "#",
    ).replace(
        "secure-boot = true\n",
        "secure-boot = true\nsecure-boot-keys = \"sb\"\ncurrent-admin-password = { secret = \"bios-admin-password-current\" }\n",
    );
    std::fs::write(dir.path().join("lab.toml"), toml).unwrap();
    let mut s = std::fs::read_to_string(dir.path().join("lab.secrets.toml")).unwrap();
    s.push_str("bios-admin-password-current = \"\"\n");
    std::fs::write(dir.path().join("lab.secrets.toml"), s).unwrap();
    let l = load(&dir.path().join("lab.toml"), SecretsNeed::Required).unwrap();
    let p = plan(&l).unwrap();
    let secrets = Secrets::from_pairs([
        ("bios-admin-password", NEW),
        ("bios-admin-password-current", ""),
    ]);
    (p, secrets, dir)
}

fn run(bmc: &Fake, p: &FirmwarePlan, s: &Secrets, dry: bool) -> (anyhow::Result<Summary>, String) {
    let rf = Redfish::new(bmc);
    let mut out = Vec::new();
    let r = apply(&rf, p, s, SYS, dry, &mut out);
    (r, String::from_utf8(out).unwrap())
}

fn audit(bmc: &Fake, p: &FirmwarePlan) -> Audit {
    let rf = Redfish::new(bmc);
    let obs = observe(&rf, SYS).unwrap();
    Audit::new("https://bmc", &obs, judge(p, &obs).unwrap())
}

fn status(a: &Audit, s: Setting) -> Status {
    a.findings.iter().find(|f| f.setting == s).unwrap().status
}

#[test]
fn a_dmtf_bmc_is_locked_then_a_second_apply_changes_nothing() {
    let (p, secrets, _keys) = setup();
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    let (r, out) = run(&bmc, &p, &secrets, false);
    let sum = r.unwrap();
    assert!(!out.contains(NEW), "{out}");
    let mut changed = sum.changed.clone();
    changed.sort();
    assert_eq!(changed, Setting::ALL, "{out}");
    assert!(out.contains("~ admin-password: AdminPassword changed from secret `bios-admin-password-current` to secret `bios-admin-password`"), "{out}");
    assert!(out.contains("BootOrder [\"Boot0001\", \"Boot0002\", \"Boot0003\", \"Boot0004\"] -> [\"Boot0003\", \"Boot0001\", \"Boot0002\", \"Boot0004\"]"), "{out}");
    assert!(
        out.contains(
            "~ boot-others-off: Boot0004 (Usb, \"UEFI USB Stick\") BootOptionEnabled true -> false"
        ),
        "{out}"
    );
    assert!(
        out.contains("~ secure-boot: SecureBootEnable false -> true"),
        "{out}"
    );
    {
        let s = bmc.state.borrow();
        assert_eq!(s.password, NEW);
        assert_eq!(s.order[0], "Boot0003");
        assert!(s.enabled.iter().all(|(r, e)| *e == (r == "Boot0003")));
        assert!(s.sb_enable);
        let k = p.secure_boot.site_keys.as_ref().unwrap();
        for (db, pems) in &s.dbs {
            assert_eq!(pems.len(), 1);
            assert_eq!(
                keys::fingerprint(&pems[0]).unwrap(),
                k.cert(*db).unwrap().sha256
            );
        }
    }
    bmc.log.borrow_mut().clear();
    let (r, out) = run(&bmc, &p, &secrets, false);
    let sum = r.unwrap();
    assert!(sum.changed.is_empty(), "{out}");
    let mut unchanged = sum.unchanged.clone();
    unchanged.sort();
    assert_eq!(unchanged, Setting::ALL, "{out}");
    assert!(
        out.contains("summary: 0 changed, 5 unchanged, 0 manual"),
        "{out}"
    );
    // The only write of a second run is the password question (old = new).
    assert_eq!(
        bmc.writes(),
        [(
            "POST".to_owned(),
            format!("{SYS}/Bios/Actions/Bios.ChangePassword")
        )]
    );

    let a = audit(&bmc, &p);
    assert!(!a.drift, "{}", a.text());
    assert_eq!(status(&a, Setting::AdminPassword), Status::Manual);
    for s in [
        Setting::BootOrder,
        Setting::BootOthersOff,
        Setting::SecureBoot,
        Setting::SecureBootKeys,
    ] {
        assert_eq!(status(&a, s), Status::Pass, "{s}: {}", a.text());
    }
    // SecureBootCurrentBoot still reads Disabled: the change is stored, not yet in force.
    assert!(
        a.findings
            .iter()
            .any(|f| f.setting == Setting::SecureBoot && f.pending_reboot)
    );
}

#[test]
fn keys_are_cleared_then_db_kek_pk_enrolled_and_secure_boot_switched_on_last() {
    let (p, secrets, _keys) = setup();
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    run(&bmc, &p, &secrets, false).0.unwrap();
    let writes: Vec<String> = bmc
        .writes()
        .iter()
        .map(|(m, p)| format!("{m} {}", p.trim_start_matches(SYS)))
        .collect();
    let pos = |w: &str| {
        writes
            .iter()
            .position(|x| x == w)
            .unwrap_or_else(|| panic!("{w} in {writes:?}"))
    };
    assert!(
        pos("POST /SecureBoot/Actions/SecureBoot.ResetKeys")
            < pos("POST /SecureBoot/SecureBootDatabases/db/Certificates")
    );
    assert!(
        pos("POST /SecureBoot/SecureBootDatabases/db/Certificates")
            < pos("POST /SecureBoot/SecureBootDatabases/KEK/Certificates")
    );
    assert!(
        pos("POST /SecureBoot/SecureBootDatabases/KEK/Certificates")
            < pos("POST /SecureBoot/SecureBootDatabases/PK/Certificates")
    );
    assert!(pos("POST /SecureBoot/SecureBootDatabases/PK/Certificates") < pos("PATCH /SecureBoot"));
}

#[test]
fn drift_behind_forjas_back_is_found_per_setting() {
    let (p, secrets, _keys) = setup();
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    run(&bmc, &p, &secrets, false).0.unwrap();
    {
        let mut s = bmc.state.borrow_mut();
        s.order = ["Boot0001", "Boot0003", "Boot0002", "Boot0004"]
            .map(String::from)
            .to_vec();
        s.enabled.insert("Boot0001".into(), true);
        s.dbs
            .get_mut(&keys::Database::Db)
            .unwrap()
            .push(vendor_pem());
    }
    let a = audit(&bmc, &p);
    assert!(a.drift);
    assert_eq!(
        status(&a, Setting::BootOrder),
        Status::Drift,
        "{}",
        a.text()
    );
    assert_eq!(status(&a, Setting::BootOthersOff), Status::Drift);
    assert_eq!(status(&a, Setting::SecureBootKeys), Status::Drift);
    assert_eq!(status(&a, Setting::SecureBoot), Status::Pass);
    let text = a.text();
    assert!(
        text.contains("also bootable: Boot0001 (Pxe, \"UEFI PXEv4 NIC1\")"),
        "{text}"
    );
    assert!(text.contains("audit: 1 PASS, 3 DRIFT, 1 MANUAL"), "{text}");
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["drift"], true);
    assert_eq!(json["findings"][1]["setting"], "boot-order");
    assert_eq!(json["findings"][1]["status"], "DRIFT");
    // apply puts it back.
    let (r, out) = run(&bmc, &p, &secrets, false);
    assert_eq!(
        r.unwrap().changed,
        [
            Setting::BootOrder,
            Setting::BootOthersOff,
            Setting::SecureBootKeys
        ],
        "{out}"
    );
    assert!(!audit(&bmc, &p).drift);
}

#[test]
fn a_sushy_like_bmc_gets_the_override_and_secure_boot_the_rest_is_manual() {
    let (p, secrets, _keys) = setup();
    let bmc = Fake::new(Flavour::SushyLike, &vendor_pem());
    let (r, out) = run(&bmc, &p, &secrets, false);
    let sum = r.unwrap();
    assert_eq!(
        sum.changed,
        [Setting::BootOrder, Setting::SecureBoot],
        "{out}"
    );
    assert_eq!(
        sum.manual,
        [
            Setting::AdminPassword,
            Setting::BootOthersOff,
            Setting::SecureBootKeys
        ],
        "{out}"
    );
    assert!(
        out.contains(
            "! admin-password MANUAL: the BMC lists Bios.ChangePassword but answers HTTP 404"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "Firmware setup (F2/Del at power-on) > Security > Administrator (Setup) Password"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "BootSourceOverrideTarget Pxe, BootSourceOverrideEnabled Continuous -> Hdd, Continuous"
        ),
        "{out}"
    );
    assert!(out.contains("! secure-boot-keys MANUAL: this BMC offers no SecureBootDatabases. Firmware setup > Security > Secure Boot > Key Management"), "{out}");
    assert_eq!(bmc.state.borrow().override_target, "Hdd");
    // The Secure Boot PATCH carries SecureBootEnable and nothing else.
    let sb = bmc
        .log
        .borrow()
        .iter()
        .find(|(m, p, _)| m == "PATCH" && p.ends_with("/SecureBoot"))
        .cloned()
        .unwrap();
    assert_eq!(sb.2.unwrap(), serde_json::json!({"SecureBootEnable": true}));

    bmc.log.borrow_mut().clear();
    let (r, out) = run(&bmc, &p, &secrets, false);
    assert!(r.unwrap().changed.is_empty(), "{out}");
    let a = audit(&bmc, &p);
    assert!(!a.drift, "{}", a.text());
    assert_eq!(status(&a, Setting::BootOrder), Status::Pass);
    assert_eq!(status(&a, Setting::BootOthersOff), Status::Manual);
    assert_eq!(status(&a, Setting::SecureBootKeys), Status::Manual);
}

#[test]
fn a_dry_run_sends_no_write() {
    let (p, secrets, _keys) = setup();
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    let (r, out) = run(&bmc, &p, &secrets, true);
    assert_eq!(r.unwrap().changed.len(), 4, "{out}");
    assert!(bmc.writes().is_empty(), "{:?}", bmc.writes());
    assert!(out.contains("(dry run: nothing was sent)"), "{out}");
}

#[test]
fn without_the_current_password_forja_stops_instead_of_guessing() {
    let (mut p, secrets, _keys) = setup();
    p.admin_password.as_mut().unwrap().old_password = None;
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    bmc.state.borrow_mut().password = "vendor-default".into();
    let (r, out) = run(&bmc, &p, &secrets, false);
    let err = r.unwrap_err();
    assert_eq!(exit_of(&err), Exit::Input);
    let msg = format!("{err:#}");
    assert!(
        msg.contains("boot.firmware.current-admin-password"),
        "{msg}"
    );
    assert!(msg.contains("ActionParameterValueError"), "{msg}");
    assert!(!msg.contains(NEW) && !out.contains(NEW));
    // Only the one question was sent; nothing else was changed.
    assert_eq!(bmc.writes().len(), 1);
    assert_eq!(bmc.state.borrow().password, "vendor-default");
}

#[test]
fn a_wrong_current_password_is_the_bmcs_refusal() {
    let (p, secrets, _keys) = setup();
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    bmc.state.borrow_mut().password = "something-else".into();
    let err = run(&bmc, &p, &secrets, false).0.unwrap_err();
    assert_eq!(exit_of(&err), Exit::Remote);
    let msg = format!("{err:#}");
    assert!(
        msg.contains("changing AdminPassword from secret `bios-admin-password-current`"),
        "{msg}"
    );
    assert!(msg.contains("HTTP 400"), "{msg}");
}

#[test]
fn a_disk_rule_that_matches_no_option_is_an_input_error_listing_them() {
    let (mut p, secrets, _keys) = setup();
    p.boot.disk.display_name_contains = Some("INTEL".into());
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    let err = run(&bmc, &p, &secrets, false).0.unwrap_err();
    assert_eq!(exit_of(&err), Exit::Input);
    let msg = format!("{err}");
    assert!(msg.contains("matches 0 of the BMC's boot options"), "{msg}");
    assert!(
        msg.contains("Boot0003 (Hdd, \"UEFI NVMe SAMSUNG MZ7L3960\")"),
        "{msg}"
    );
    p.boot.disk.display_name_contains = Some("SAMSUNG".into());
    assert!(run(&bmc, &p, &secrets, false).0.is_ok());
}

#[test]
fn a_running_system_is_told_the_changes_wait_for_its_next_boot() {
    let (p, secrets, _keys) = setup();
    let bmc = Fake::new(Flavour::Dmtf, &vendor_pem());
    bmc.state.borrow_mut().power = "On".into();
    let (r, out) = run(&bmc, &p, &secrets, false);
    let sum = r.unwrap();
    assert!(out.contains("pending: the system is powered on"), "{out}");
    // The fake's SecureBootCurrentBoot stays Disabled: Secure Boot is stored, not in force.
    assert!(
        sum.pending
            .iter()
            .any(|p| p.starts_with("secure-boot: SecureBootEnable true")),
        "{:?}",
        sum.pending
    );
    // A second run changes nothing, and still says what waits for the next boot.
    let (r, out) = run(&bmc, &p, &secrets, false);
    let sum = r.unwrap();
    assert!(sum.changed.is_empty(), "{out}");
    assert!(!out.contains("pending: the system is powered on"), "{out}");
    assert!(
        out.contains("pending: secure-boot: SecureBootEnable true"),
        "{out}"
    );
}
