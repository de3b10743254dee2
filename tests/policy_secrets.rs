//! Rule 1616-4.6.e on real secrets files: a production secrets file with the shipped example's values, a value
//! that looks like a placeholder, or a build seed without 32 random bytes is refused (`forja check` exit 1),
//! naming the secret and never its value; the site's own values pass.

#[path = "support/policy.rs"]
mod policy_support;
#[path = "support/prod_profile.rs"]
mod prod_profile;
#[path = "support/site_files.rs"]
mod site_files;

use std::process::Command;

use forja::policy::{self, Status};
use prod_profile::{Prod, prod};

fn rule(p: &Prod) -> forja::policy::RuleResult {
    policy::evaluate(&p.load())
        .get("1616-4.6.e")
        .unwrap()
        .clone()
}

#[test]
fn the_shipped_example_secrets_are_refused_naming_each_secret() {
    let p = Prod::with_example_values();
    site_files::vendor_images(p.dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_forja"))
        .arg("check")
        .arg(&p.profile)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = rule(&p);
    assert_eq!(r.status, Status::Fail);
    for name in [
        "bios-admin-password",
        "pexip-web-admin",
        "vmr-direccion-host",
        "ntp-key-1",
        "build-seed",
    ] {
        assert!(
            r.reason.contains(&format!("secret `{name}`")),
            "{name}: {}",
            r.reason
        );
    }
    assert!(
        r.reason
            .contains("profiles/ccn-stic-1616.secrets.example.toml"),
        "{}",
        r.reason
    );
    // The field that uses the secret, with its place in the profile.
    assert!(
        r.reason
            .contains("ccn-stic-1616.toml:90:18: boot.firmware.admin-password"),
        "{}",
        r.reason
    );
    for v in p.secret_values() {
        assert!(!stdout.contains(&v), "a secret value was printed");
    }
}

#[test]
fn a_placeholder_is_refused_even_when_it_is_new() {
    let p = prod();
    p.set_secret("ldap-bind", "Change-Me-Ldap-2027!");
    let r = rule(&p);
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.reason
            .contains("secret `ldap-bind` looks like a placeholder"),
        "{}",
        r.reason
    );
    assert!(!r.reason.contains("Change-Me-Ldap-2027!"));
}

#[test]
fn a_short_build_seed_is_refused() {
    let p = prod();
    p.set_secret("build-seed", "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    let r = rule(&p);
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.reason
            .contains("profile.build-seed: secret `build-seed` holds fewer than 32 random bytes"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("openssl rand -hex 32"), "{}", r.reason);
    p.set_secret("build-seed", &"0f1e2d3c4b5a6978".repeat(4));
    assert_eq!(rule(&p).status, Status::Pass);
}

#[test]
fn the_sites_own_values_pass() {
    let p = prod();
    let r = rule(&p);
    assert_eq!(r.status, Status::Pass, "{}", r.reason);
}
