//! Every rule names the tests that prove it (`proof`, in compliance.json), and those tests exist: each
//! `FILE::function` is a file of this repository holding `fn function(`, and a function under `tests/` (outside
//! `support/`) is a `#[test]`. A rule PASSes only by a proof at the point of effect: a host artifact names a
//! boot-report check or a host-script test, a plan rule names `forja pexip apply`/`audit` on the stand-in, a
//! build check names a test that breaks the value.

use std::path::Path;

use forja::policy::{self, Enforcement};

/// Whether `text` has `fn name(` preceded (within a few lines) by `#[test]`, or a `fails!(name, ...)` lever
/// test (the policy tests' macro, which expands to a `#[test] fn name()`).
fn is_test(text: &str, name: &str) -> bool {
    let lever = text
        .match_indices(&format!("{name},"))
        .any(|(at, _)| text[..at].trim_end().ends_with("fails!("));
    let Some(at) = text.find(&format!("fn {name}(")) else {
        return lever;
    };
    let before: Vec<&str> = text[..at].lines().rev().take(4).collect();
    lever || before.iter().any(|l| l.trim_start().starts_with("#[test]"))
}

#[test]
fn every_named_proof_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for r in policy::rules::all() {
        for p in r.proof {
            let Some((file, name)) = p.split_once("::") else {
                missing.push(format!("{}: `{p}` is not FILE::function", r.id));
                continue;
            };
            let Ok(text) = std::fs::read_to_string(root.join(file)) else {
                missing.push(format!("{}: {file} does not exist", r.id));
                continue;
            };
            let found = if file.starts_with("tests/") && !file.starts_with("tests/support/") {
                is_test(&text, name)
            } else {
                text.contains(&format!("fn {name}("))
            };
            if !found {
                missing.push(format!("{}: {p} is not there", r.id));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "proofs that do not exist:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn every_enforced_rule_is_proved_where_it_takes_effect() {
    let mut bad = Vec::new();
    for r in policy::rules::all() {
        let any = |prefixes: &[&str]| {
            r.proof
                .iter()
                .any(|p| prefixes.iter().any(|x| p.starts_with(x)))
        };
        let ok = match r.enforcement {
            Enforcement::HostArtifact => any(&[
                "tests/support/report/",
                "tests/support/report_host.rs::check_",
                "tests/host_scripts.rs::",
                "builder/compose/",
                "tests/plan_golden.rs::",
            ]),
            Enforcement::PexipPlan => any(&[
                "tests/pexip_apply.rs::",
                "tests/pexip_audit.rs::",
                "tests/pexip_certificates.rs::",
            ]),
            Enforcement::BuildCheck => !r.proof.is_empty(),
            Enforcement::Manual | Enforcement::Declared => any(&["tests/policy_"]),
        };
        if !ok {
            bad.push(format!(
                "{} ({}): {:?}",
                r.id,
                r.enforcement.as_str(),
                r.proof
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "rules without a proof of their kind:\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn a_missing_proof_is_named() {
    assert!(is_test("#[test]\nfn a() {}", "a"));
    assert!(!is_test("fn a() {}", "a"));
    assert!(!is_test("#[test]\nfn b() {}", "a"));
    assert!(is_test("fails!(\n    a,\n    ccn,", "a"));
    assert!(!is_test("fails!(\n    b,\n    a,", "a"));
}
