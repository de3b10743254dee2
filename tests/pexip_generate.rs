//! The Pexip artifacts for the shipped production profile: golden files, the config drive read back by xorriso,
//! hashes checked with implementations no one here wrote, rule ids on every plan entry, no secret in any file.

#[path = "support/prod_profile.rs"]
mod prod_profile;

use std::process::Command;

use forja::error::{Exit, exit_of};
use forja::pexip;
use prod_profile::{golden, prod};

fn generate() -> (prod_profile::Prod, tempfile::TempDir) {
    let p = prod();
    let out = tempfile::tempdir().unwrap();
    forja::pipeline::generate_pexip(&p.load(), out.path()).unwrap();
    (p, out)
}

fn read(out: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(out.path().join(name)).unwrap()
}

#[test]
fn generated_files_match_the_golden_files() {
    let (_p, out) = generate();
    for name in [
        pexip::BOOTSTRAP_JSON,
        pexip::INSTALL_SHEET,
        pexip::SECURITYWIZARD_SHEET,
        pexip::NODES_JSON,
        pexip::PLAN_JSON,
    ] {
        golden(name, &read(&out, name));
    }
}

#[test]
fn bootstrap_json_has_the_providers_shape() {
    let (_p, out) = generate();
    let v: serde_json::Value = serde_json::from_str(&read(&out, pexip::BOOTSTRAP_JSON)).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["management_node_config"]);
    let inner = obj["management_node_config"].as_object().unwrap();
    let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = vec![
        "hostname",
        "domain",
        "ip",
        "mask",
        "gw",
        "dns",
        "ntp",
        "user",
        "pass",
        "admin_password",
        "error_reports",
        "enable_analytics",
        "contact_email_address",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(inner["mask"], "255.255.255.0");
    assert_eq!(inner["error_reports"], false);
}

/// Splits `pbkdf2_sha256$36000$salt$b64`.
fn django_parts(h: &str) -> (String, String) {
    let parts: Vec<&str> = h.split('$').collect();
    assert_eq!(parts.len(), 4, "{h}");
    assert_eq!(parts[0], "pbkdf2_sha256");
    assert_eq!(parts[1], "36000");
    assert_eq!(parts[2].len(), 12);
    assert!(parts[2].bytes().all(|b| b.is_ascii_alphanumeric()));
    (parts[2].to_owned(), parts[3].to_owned())
}

#[test]
fn web_password_hash_verifies_with_python_hashlib() {
    let (p, out) = generate();
    let v: serde_json::Value = serde_json::from_str(&read(&out, pexip::BOOTSTRAP_JSON)).unwrap();
    let (salt, b64) = django_parts(v["management_node_config"]["pass"].as_str().unwrap());
    let script = "import sys,hashlib,base64\npw=sys.stdin.read()\n\
                  print(base64.b64encode(hashlib.pbkdf2_hmac('sha256',pw.encode(),sys.argv[1].encode(),36000)).decode())";
    let mut child = Command::new("python3")
        .args(["-c", script, &salt])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    use std::io::Write;
    let pw = p.load().secrets.unwrap();
    let web = pw
        .get(&forja::profile::secrets::SecretRef {
            secret: "pexip-web-admin".into(),
        })
        .unwrap()
        .expose()
        .to_owned();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(web.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), b64);
}

#[test]
fn console_password_hash_verifies_with_mkpasswd() {
    let (p, out) = generate();
    let v: serde_json::Value = serde_json::from_str(&read(&out, pexip::BOOTSTRAP_JSON)).unwrap();
    let h = v["management_node_config"]["admin_password"]
        .as_str()
        .unwrap();
    let parts: Vec<&str> = h.split('$').collect();
    assert_eq!(parts[1..3], ["6", "rounds=5000"], "{h}");
    assert_eq!(parts[3].len(), 16);
    let l = p.load();
    let pw = l
        .secrets
        .as_ref()
        .unwrap()
        .get(&forja::profile::secrets::SecretRef {
            secret: "pexip-console-admin".into(),
        })
        .unwrap()
        .expose()
        .to_owned();
    // mkpasswd (Debian package `whois`) reads the password from stdin with --stdin.
    let mut child = Command::new("mkpasswd")
        .args(["-m", "sha-512", "-R", "5000", "-S", parts[3], "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mkpasswd (package whois) is needed for this test");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), h);
}

#[test]
fn salts_change_with_the_build_seed_and_only_with_it() {
    let (p, out1) = generate();
    let out2 = tempfile::tempdir().unwrap();
    forja::pipeline::generate_pexip(&p.load(), out2.path()).unwrap();
    assert_eq!(
        read(&out1, pexip::BOOTSTRAP_JSON),
        read(&out2, pexip::BOOTSTRAP_JSON)
    );
    p.set_secret("build-seed", "another-deployment-seed-9c1d2e3f4a5b6c7d");
    let out3 = tempfile::tempdir().unwrap();
    forja::pipeline::generate_pexip(&p.load(), out3.path()).unwrap();
    let a: serde_json::Value = serde_json::from_str(&read(&out1, pexip::BOOTSTRAP_JSON)).unwrap();
    let b: serde_json::Value = serde_json::from_str(&read(&out3, pexip::BOOTSTRAP_JSON)).unwrap();
    let (sa, _) = django_parts(a["management_node_config"]["pass"].as_str().unwrap());
    let (sb, _) = django_parts(b["management_node_config"]["pass"].as_str().unwrap());
    assert_ne!(sa, sb);
}

#[test]
fn config_drive_reads_back_with_label_and_user_data() {
    let (_p, out) = generate();
    let iso = out.path().join(pexip::CONFIG_DRIVE);
    let info = Command::new("xorriso")
        .args(["-indev"])
        .arg(&iso)
        .arg("-pvd_info")
        .output()
        .expect("xorriso (Debian package xorriso) is needed");
    let text =
        String::from_utf8_lossy(&info.stdout).into_owned() + &String::from_utf8_lossy(&info.stderr);
    assert!(text.contains("Volume Id    : config-2"), "{text}");
    let x = tempfile::tempdir().unwrap();
    let dest = x.path().join("user_data");
    let st = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&iso)
        .args(["-extract", "/openstack/latest/user_data"])
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        read(&out, pexip::BOOTSTRAP_JSON)
    );
    let meta = x.path().join("meta_data.json");
    let st = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&iso)
        .args(["-extract", "/openstack/latest/meta_data.json"])
        .arg(&meta)
        .output()
        .unwrap();
    assert!(st.status.success());
    golden("meta_data.json", &std::fs::read_to_string(&meta).unwrap());
}

#[test]
fn config_drive_is_reproducible() {
    let (p, out1) = generate();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out2 = tempfile::tempdir().unwrap();
    forja::pipeline::generate_pexip(&p.load(), out2.path()).unwrap();
    let a = std::fs::read(out1.path().join(pexip::CONFIG_DRIVE)).unwrap();
    let b = std::fs::read(out2.path().join(pexip::CONFIG_DRIVE)).unwrap();
    assert!(a == b, "two builds of the config drive differ");
}

#[test]
fn every_plan_entry_names_known_rules() {
    let p = prod();
    let plan = pexip::plan::plan(&p.load()).unwrap();
    assert!(!plan.is_empty());
    for e in &plan {
        assert!(!e.rules.is_empty(), "{} names no rule", e.path);
        for r in &e.rules {
            let rule = forja::policy::rules::find(r)
                .unwrap_or_else(|| panic!("{r} ({}) is not in the policy table", e.path));
            assert_ne!(
                rule.enforcement,
                forja::policy::Enforcement::Manual,
                "{r} is a MANUAL rule, yet {} claims to carry it out",
                e.path
            );
        }
    }
}

#[test]
fn no_secret_value_appears_in_any_generated_text() {
    let (p, out) = generate();
    for name in [
        pexip::BOOTSTRAP_JSON,
        pexip::INSTALL_SHEET,
        pexip::SECURITYWIZARD_SHEET,
        pexip::NODES_JSON,
        pexip::PLAN_JSON,
    ] {
        let text = read(&out, name);
        for v in p.secret_values() {
            assert!(!text.contains(&v), "{name} contains a secret value");
        }
    }
}

#[test]
fn a_weak_web_password_is_refused_without_printing_it() {
    let p = prod();
    p.set_secret("pexip-web-admin", "short1a");
    let out = tempfile::tempdir().unwrap();
    let err = forja::pipeline::generate_pexip(&p.load(), out.path()).unwrap_err();
    assert_eq!(exit_of(&err), Exit::Input);
    let msg = format!("{err:#}");
    assert!(
        msg.contains("pexip-web-admin") && msg.contains("§52"),
        "{msg}"
    );
    assert!(msg.contains("fewer than 12 characters"), "{msg}");
    assert!(
        msg.contains("an upper-case letter") && msg.contains("a special character"),
        "{msg}"
    );
    assert!(!msg.contains("short1a"), "{msg}");
}

#[test]
fn plan_command_prints_references_not_secrets() {
    let p = prod();
    let out = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["pexip", "plan"])
        .arg(&p.profile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("\"secret\": \"ldap-bind\""), "{stdout}");
    for v in p.secret_values() {
        assert!(!stdout.contains(&v));
    }
    golden(pexip::PLAN_JSON, &stdout);
}
