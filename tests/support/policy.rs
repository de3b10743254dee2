//! Shared helpers of the policy tests (`tests/policy_*.rs`): the shipped profiles loaded, a rule's lever pulled,
//! and the assertion that the rule then FAILs with a reason naming the field and the file.

#![allow(dead_code)]

use std::path::Path;

use forja::policy::{self, Status};
use forja::profile::secrets::Secrets;
use forja::profile::{Loaded, SecretsNeed, load};

pub fn lab() -> Loaded {
    load(Path::new("profiles/lab.toml"), SecretsNeed::Required).unwrap()
}

/// The production profile, checked without its secrets file (as an auditor would).
pub fn ccn() -> Loaded {
    load(
        Path::new("profiles/ccn-stic-1616.toml"),
        SecretsNeed::IfPresent,
    )
    .unwrap()
}

/// The lab's test secrets with one value replaced.
pub fn lab_secrets_with(name: &str, value: &str) -> Secrets {
    let text = std::fs::read_to_string("profiles/lab.secrets.toml").unwrap();
    let v: toml::Table = toml::from_str(&text).unwrap();
    let mut pairs: Vec<(String, String)> = v["secrets"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    for p in &mut pairs {
        if p.0 == name {
            p.1 = value.to_owned();
        }
    }
    Secrets::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
}

/// Asserts the rule does not FAIL before the edit, FAILs after it, and the reason names `field` and the file.
pub fn assert_fails(
    mut l: Loaded,
    id: &str,
    field: &str,
    edit: impl FnOnce(&mut Loaded),
) -> String {
    let before = policy::evaluate(&l);
    assert_ne!(
        before.get(id).unwrap().status,
        Status::Fail,
        "{id} already fails"
    );
    edit(&mut l);
    let report = policy::evaluate(&l);
    let r = report.get(id).unwrap_or_else(|| panic!("no rule {id}"));
    assert_eq!(r.status, Status::Fail, "{id}: {}", r.reason);
    assert!(
        r.reason.contains(field),
        "{id}: reason does not name {field}: {}",
        r.reason
    );
    assert!(
        r.reason.contains(&l.path.display().to_string()),
        "{id}: reason does not name the file: {}",
        r.reason
    );
    r.reason.clone()
}

/// `fails!(test_name, base_profile, "rule-id", "field", |l| edit)`: one lever, one test.
#[macro_export]
macro_rules! fails {
    ($name:ident, $base:ident, $id:literal, $field:literal, |$l:ident| $edit:expr) => {
        #[test]
        fn $name() {
            policy_support::assert_fails(
                policy_support::$base(),
                $id,
                $field,
                |$l: &mut forja::profile::Loaded| {
                    $edit;
                },
            );
        }
    };
}

/// Rewrites a shipped profile's text, loads it from a temp folder (with the lab's secrets beside it).
pub fn from_text(base: &str, from: &str, to: &str) -> (tempfile::TempDir, Loaded) {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(base).unwrap();
    assert!(text.contains(from), "{from} not in {base}");
    let p = d.path().join(Path::new(base).file_name().unwrap());
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    let s = d.path().join("lab.secrets.toml");
    std::fs::copy("profiles/lab.secrets.toml", &s).unwrap();
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o600)).unwrap();
    let l = load(&p, SecretsNeed::IfPresent).unwrap();
    (d, l)
}

pub fn fail_reason(l: &Loaded, id: &str) -> String {
    let r = policy::evaluate(l);
    let r = r.get(id).unwrap();
    assert_eq!(r.status, Status::Fail, "{id}: {}", r.reason);
    r.reason.clone()
}

/// The text of every policy test file, for the test that every rule has a lever pulled somewhere.
pub fn policy_test_sources() -> String {
    let mut out = String::new();
    for e in std::fs::read_dir("tests").unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("policy_") && name.ends_with(".rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    out
}
