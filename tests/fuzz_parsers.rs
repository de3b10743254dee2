//! Fuzzing, on stable Rust, of every parser of outside input that `tests/nodes_proptest.rs` (README.TXT,
//! tar/OVA, OVF) does not already cover: the profile (text, then load, guide rules and resolve), the secrets
//! file, `SHA256SUMS`, signify keys and signatures, SSHSIG, licence bundles (outbound through `inspect`,
//! inbound members), the saved `plan.json` that `forja build --plan` reads, and what the installer reads
//! (`installer.json`, the kernel command line, sysfs block records). Each case must return (an error is fine),
//! never panic, and stay inside an allocation budget (tests/support/fuzz.rs). A short run is part of
//! `cargo test`; `ci/fuzz` runs the same harness longer (figures in the README).

#[path = "support/fuzz.rs"]
mod fuzz;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use forja::licence::{self, bundle};
use forja::pipeline::resolve::{Environment, resolve};
use forja::profile::load::{SecretsNeed, load};
use forja::sign::{self, SigningKey, signify, sshsig};
use fuzz::{bounded, config, json_mutated, mutated, serial};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn sample(p: &str) -> Vec<u8> {
    std::fs::read(repo(p)).unwrap()
}

/// Runs `strategy` through `f` for [`fuzz::cases`] cases, one fuzz test at a time, each case bounded.
fn fuzz<S: Strategy>(strategy: S, f: impl Fn(S::Value)) {
    let _one = serial();
    TestRunner::new(config())
        .run(&strategy, |v| {
            bounded(|| f(v));
            Ok(())
        })
        .unwrap();
}

/// The lab profile with its secrets and CA in a fresh folder, where a case may replace one file.
fn lab_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
        std::fs::copy(repo("profiles").join(f), d.path().join(f)).unwrap();
    }
    d
}

/// Load, judge and resolve a profile as `check` and `plan` do; errors are expected, panics are not.
fn through_the_pipeline(dir: &Path) {
    let Ok(loaded) = load(&dir.join("lab.toml"), SecretsNeed::Required) else {
        return;
    };
    let _ = forja::policy::evaluate(&loaded);
    let _ = resolve(&loaded, &Environment::fixture());
}

/// `key = value` lines of a TOML text with the value swapped for a hostile literal.
fn toml_value_swapped(text: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let lines: Vec<&'static str> = text.lines().collect();
    let assignments: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains(" = ") && !lines[*i].trim_start().starts_with('#'))
        .collect();
    let literals = vec![
        "\"\"",
        "\"../../../tmp/x\"",
        "\"/etc/shadow\"",
        "\"a\\nb\"",
        "\"a\\u0000b\"",
        "\"x\\\"\\nset superusers=\\\"\\\"\"",
        "\"--version\"",
        "\"-x\"",
        "\"20T\"",
        "\"0\"",
        "9223372036854775807",
        "-9223372036854775808",
        "-1",
        "0",
        "1e400",
        "nan",
        "true",
        "[]",
        "{}",
        "[[], {}]",
        "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.example\"",
        "{ secret = \"nope\" }",
        "\"Europe/../../etc\"",
        "\"\u{202e}evil\"",
    ];
    proptest::collection::vec(
        (
            prop::sample::select(assignments),
            prop::sample::select(literals),
        ),
        1..4,
    )
    .prop_map(move |swaps| {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for (i, lit) in swaps {
            let (key, _) = lines[i].split_once(" = ").unwrap();
            out[i] = format!("{key} = {lit}");
        }
        (out.join("\n") + "\n").into_bytes()
    })
}

fn lab_toml() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| String::from_utf8(sample("profiles/lab.toml")).unwrap())
}

#[test]
fn profile_text_never_panics() {
    fuzz(mutated(sample("profiles/lab.toml")), |bytes| {
        let _ =
            forja::profile::load::parse(Path::new("fuzz.toml"), &String::from_utf8_lossy(&bytes));
    });
}

#[test]
fn profile_values_never_panic_load_check_or_resolve() {
    let d = lab_dir();
    fuzz(toml_value_swapped(lab_toml()), |bytes| {
        std::fs::write(d.path().join("lab.toml"), bytes).unwrap();
        through_the_pipeline(d.path());
    });
}

#[test]
fn secrets_file_never_panics() {
    let d = lab_dir();
    let path = d.path().join("lab.secrets.toml");
    fuzz(mutated(sample("profiles/lab.secrets.toml")), |bytes| {
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let _ = forja::profile::secrets::Secrets::load(&path, true);
        through_the_pipeline(d.path());
    });
}

fn key() -> SigningKey {
    SigningKey::from_seed([5; 32])
}

fn sums_sample() -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    for (n, b) in [("disk.raw", &b"a"[..]), ("plan.json", b"{}")] {
        std::fs::write(d.path().join(n), b).unwrap();
    }
    sign::sums::hash_files(d.path(), &["disk.raw", "plan.json"])
        .unwrap()
        .to_bytes()
}

#[test]
fn sha256sums_never_panics() {
    fuzz(mutated(sums_sample()), |bytes| {
        if let Ok(s) = sign::Sums::parse(&bytes) {
            // What parses must print back to something that parses to the same list.
            assert_eq!(
                sign::Sums::parse(&s.to_bytes()).unwrap().to_bytes(),
                s.to_bytes()
            );
        }
    });
}

#[test]
fn signify_keys_and_signatures_never_panic() {
    let k = key();
    let msg = sums_sample();
    let sig = signify::sign_embedded(&k, &msg, "verify with forja.pub");
    let detached = signify::sign_detached(&k, &msg, "detached");
    let public = k.public().to_signify().into_bytes();
    let secret = k.to_signify().into_bytes();
    let all = [sig, detached, public, secret];
    let strategy = (0..all.len()).prop_flat_map(move |i| mutated(all[i].clone()));
    fuzz(strategy, |bytes| {
        let _ = signify::verify(&k.public(), &bytes, &msg);
        let _ = signify::decode_public(&bytes);
        let _ = signify::decode_secret(&bytes);
    });
}

#[test]
fn sshsig_never_panics() {
    let k = key();
    let msg = sums_sample();
    let sig = sshsig::sign(&k, sign::NAMESPACE, &msg).into_bytes();
    fuzz(mutated(sig), |bytes| {
        let _ = sshsig::verify(&k.public(), sign::NAMESPACE, &bytes, &msg);
    });
}

/// A signed outbound bundle as `forja licence request` writes it.
fn outbound_bundle() -> Vec<u8> {
    let meta = licence::RequestMeta {
        format: licence::REQUEST_FORMAT.into(),
        entitlement_id: "ENT-1".into(),
        reference: "REF-0001".into(),
        sequence_number: 1,
        generation_time: "2026-01-01T00:00:00".into(),
        generation_time_utc: "2026-01-01T00:00:00Z".into(),
        request_uri: "/api/admin/configuration/v1/licence_request/1/".into(),
        manager: licence::Manager::new("https://pexmgr.example", b"CA"),
        forja_version: "fuzz".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
    };
    let mut payload = BTreeMap::new();
    payload.insert(
        licence::REQUEST_JSON.to_owned(),
        serde_json::to_vec(&meta).unwrap(),
    );
    payload.insert(licence::REQUEST_XML.to_owned(), b"<request/>".to_vec());
    let sealed = bundle::seal(payload, Some((&key(), licence::SITE_PUB))).unwrap();
    bundle::pack(&sealed, 0).unwrap()
}

#[test]
fn outbound_licence_bundle_never_panics_inspect() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("out.tar");
    let public = key().public();
    let now = licence::time::parse("2026-01-02T00:00:00Z").unwrap();
    fuzz(mutated(outbound_bundle()), |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let mut trail = licence::audit::Trail::new("inspect");
        let _ = licence::inspect::inspect(&path, Some(&public), 30, now, &mut trail);
        let _ = licence::inspect::inspect(&path, None, 30, now, &mut trail);
    });
}

#[test]
fn licence_documents_never_panic() {
    // The members a bundle carries, mutated as JSON values: every field swapped for a hostile one.
    let bundle = bundle::parse(&outbound_bundle(), "b".into()).unwrap();
    let doc: serde_json::Value = bundle.json(licence::REQUEST_JSON).unwrap();
    fuzz(json_mutated(doc), |bytes| {
        if let Ok(m) = serde_json::from_slice::<licence::RequestMeta>(&bytes) {
            let _ = m.generation_epoch();
        }
        let _ = serde_json::from_slice::<licence::ResponseMeta>(&bytes);
        let _ = licence::time::parse(&String::from_utf8_lossy(&bytes));
    });
}

#[test]
fn inbound_licence_bundle_members_never_panic() {
    let public = key().public();
    fuzz(mutated(outbound_bundle()), |bytes| {
        if let Ok(b) = bundle::parse(&bytes, "fuzz.tar".into()) {
            let _ = b.check_signature(&public);
            let _ = b.check_sums(&[licence::RESPONSE_XML, licence::RESPONSE_JSON]);
            let _ = b.json::<licence::ResponseMeta>(licence::RESPONSE_JSON);
        }
    });
}

/// The lab profile's saved plan, as `forja plan` prints it.
fn saved_plan() -> serde_json::Value {
    static PLAN: OnceLock<serde_json::Value> = OnceLock::new();
    PLAN.get_or_init(|| {
        let d = lab_dir();
        let loaded = load(&d.path().join("lab.toml"), SecretsNeed::Required).unwrap();
        let plan = resolve(&loaded, &Environment::fixture()).unwrap();
        serde_json::to_value(&plan).unwrap()
    })
    .clone()
}

#[test]
fn saved_plan_never_panics() {
    let plan = saved_plan();
    let bytes = serde_json::to_vec(&plan).unwrap();
    forja::plan::Plan::from_slice(&bytes).expect("the unmutated plan loads");
    fuzz(json_mutated(plan), |bytes| {
        let _ = forja::plan::Plan::from_slice(&bytes);
    });
}

#[test]
fn saved_plan_bytes_never_panic() {
    let bytes = serde_json::to_vec(&saved_plan()).unwrap();
    fuzz(mutated(bytes), |bytes| {
        let _ = forja::plan::Plan::from_slice(&bytes);
    });
}

#[test]
fn installer_config_and_command_line_never_panic() {
    let cfg = br#"{"mode":"usb","usb-disk-guid":"6f1b3c1e-8a4e-4c59-9d0a-2b6f9e1c7a10","payload-partition":3,"target":{}}"#;
    fuzz(mutated(cfg.to_vec()), |bytes| {
        let _ = serde_json::from_slice::<forja::media::InstallerConfig>(&bytes);
        let _ = forja::media::run::cmdline_url(&String::from_utf8_lossy(&bytes));
    });
}

#[test]
fn sysfs_block_records_never_panic() {
    let d = tempfile::tempdir().unwrap();
    let (sys, dev) = (d.path().join("sys"), d.path().join("dev"));
    let disk = sys.join("vda");
    std::fs::create_dir_all(disk.join("device")).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    let field = || {
        prop_oneof![
            "[0-9]{0,24}",
            ".{0,40}",
            Just("18446744073709551615".to_owned()),
            Just("-1".to_owned())
        ]
    };
    let records = (
        field(),
        field(),
        field(),
        field(),
        proptest::collection::vec(any::<u8>(), 0..1100),
    );
    fuzz(records, |(size, removable, model, serial, header)| {
        for (f, v) in [
            ("size", &size),
            ("removable", &removable),
            ("device/model", &model),
            ("device/serial", &serial),
        ] {
            std::fs::write(disk.join(f), v).unwrap();
        }
        std::fs::write(dev.join("vda"), &header).unwrap();
        if let Ok(disks) = forja::media::target::scan(&sys, &dev) {
            let rule = forja::media::target::TargetRule::default();
            let _ = forja::media::target::choose(&disks, &rule, None);
        }
    });
}

#[test]
fn the_allocation_budget_is_enforced() {
    // Without the capped allocator (or with a budget that does not bind), this reservation would succeed and
    // every "bounded memory" claim above would be empty.
    let _one = serial();
    let refused = bounded(|| Vec::<u8>::new().try_reserve(fuzz::BUDGET + 1).is_err());
    assert!(refused, "a reservation past the budget was granted");
    assert!(
        Vec::<u8>::new().try_reserve(fuzz::BUDGET + 1).is_ok(),
        "the budget outlived bounded()"
    );
}
