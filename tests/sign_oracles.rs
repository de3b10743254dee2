//! The signing output checked by tools no one here wrote: `signify-openbsd` and `ssh-keygen`, in both directions
//! (they accept what we sign; we accept what they sign, and load the keys they make).

#[path = "support/oracle.rs"]
mod oracle;
use oracle::{signify_check, ssh_verify};

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use forja::error::Exit;
use forja::sign::keys::{PublicKey, SigningKey, write_keypair};
use forja::sign::verify::{SigCheck, verify_dir};
use forja::sign::{self, sign_dir, sshsig};

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tool installed");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A build folder with three artifacts (one in a subfolder), signed by `key`.
fn signed_build(dir: &Path, key: &SigningKey) {
    fs::create_dir_all(dir.join("pxe")).unwrap();
    fs::write(dir.join("disk.raw"), vec![0x5A; 300_000]).unwrap();
    fs::write(dir.join("plan.json"), b"{\"stage\": \"disk\"}\n").unwrap();
    fs::write(dir.join("pxe/vmlinuz"), b"kernel").unwrap();
    sign_dir(dir, key, &["plan.json", "disk.raw", "pxe/vmlinuz"]).unwrap();
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn signify_checks_signature_and_every_file_and_catches_a_flipped_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let out = tmp.path().join("out");
    let key = SigningKey::generate().unwrap();
    write_keypair(&keys, &key).unwrap();
    signed_build(&out, &key);

    let ok = signify_check(&out, &keys.join("forja.pub"));
    assert!(ok.status.success(), "{}", describe(&ok));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    for name in ["disk.raw", "plan.json", "pxe/vmlinuz"] {
        assert!(stdout.contains(&format!("{name}: OK")), "{stdout}");
    }

    flip_byte(&out.join("disk.raw"), 123_456);
    let bad = signify_check(&out, &keys.join("forja.pub"));
    assert!(!bad.status.success(), "{}", describe(&bad));
    // signify reports a failed file on stderr.
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("disk.raw: FAIL"),
        "{}",
        describe(&bad)
    );
}

#[test]
fn signify_verifies_the_embedded_signature_with_our_public_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    signed_build(tmp.path(), &key);
    let extracted = tmp.path().join("extracted");
    let out = run(
        Command::new("signify-openbsd")
            .args(["-V", "-e", "-p", "forja.pub", "-x", "SHA256SUMS.sig", "-m"])
            .arg(&extracted)
            .current_dir(tmp.path()),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        fs::read(&extracted).unwrap(),
        fs::read(tmp.path().join("SHA256SUMS")).unwrap()
    );
}

#[test]
fn ssh_keygen_accepts_the_sshsig_and_rejects_a_flipped_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    signed_build(tmp.path(), &key);
    let mut sums = fs::read(tmp.path().join("SHA256SUMS")).unwrap();

    let ok = ssh_verify(tmp.path(), &sums);
    assert!(ok.status.success(), "{}", describe(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("Good \"forja\" signature for forja"),
        "{}",
        describe(&ok)
    );

    sums[20] ^= 0x01;
    let bad = ssh_verify(tmp.path(), &sums);
    assert!(!bad.status.success(), "{}", describe(&bad));
}

#[test]
fn a_key_made_by_signify_signs_for_signify_and_for_us() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        Command::new("signify-openbsd")
            .args(["-G", "-n", "-p", "site.pub", "-s", "site.sec"])
            .current_dir(tmp.path()),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let key = SigningKey::load(&tmp.path().join("site.sec")).unwrap();
    let public = PublicKey::load(&tmp.path().join("site.pub")).unwrap();
    assert_eq!(key.public(), public, "same key and (random) key number");

    let build = tmp.path().join("build");
    signed_build(&build, &key);
    let check = signify_check(&build, &tmp.path().join("site.pub"));
    assert!(check.status.success(), "{}", describe(&check));
    let report = verify_dir(&build, Some(&tmp.path().join("site.pub"))).unwrap();
    assert_eq!(report.exit, Exit::Ok, "{}", report.summary());
}

#[test]
fn a_signature_signify_makes_with_our_key_verifies_with_our_code() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    write_keypair(&keys, &SigningKey::generate().unwrap()).unwrap();
    let build = tmp.path().join("build");
    fs::create_dir(&build).unwrap();
    fs::write(build.join("disk.raw"), b"raw disk").unwrap();
    sign::sums::write_sums(&build, &["disk.raw"]).unwrap();

    let out = run(
        Command::new("signify-openbsd")
            .args(["-S", "-e", "-s"])
            .arg(keys.join("forja.sec"))
            .args(["-m", "SHA256SUMS", "-x", "SHA256SUMS.sig"])
            .current_dir(&build),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let report = verify_dir(&build, Some(&keys.join("forja.pub"))).unwrap();
    assert_eq!(report.exit, Exit::Ok, "{}", report.summary());
    assert_eq!(report.sshsig, SigCheck::Absent);

    // A detached signify signature over the same list verifies too.
    let out = run(
        Command::new("signify-openbsd")
            .args(["-S", "-s"])
            .arg(keys.join("forja.sec"))
            .args(["-m", "SHA256SUMS", "-x", "SHA256SUMS.sig"])
            .current_dir(&build),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        verify_dir(&build, Some(&keys.join("forja.pub")))
            .unwrap()
            .exit,
        Exit::Ok
    );
}

#[test]
fn an_sshsig_made_by_ssh_keygen_verifies_with_our_code() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "site", "-f", "id"])
            .current_dir(tmp.path()),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let message = b"SHA256 (disk.raw) = 00\n";
    fs::write(tmp.path().join("msg"), message).unwrap();
    let out = run(
        Command::new("ssh-keygen")
            .args(["-Y", "sign", "-f", "id", "-n", "forja", "msg"])
            .current_dir(tmp.path()),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));

    // Build the public key from `id.pub` (`ssh-ed25519 <base64 wire blob> site`): the last 32 bytes.
    let line = fs::read_to_string(tmp.path().join("id.pub")).unwrap();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(line.split_whitespace().nth(1).unwrap())
        .unwrap();
    let raw: [u8; 32] = blob[blob.len() - 32..].try_into().unwrap();
    let public = PublicKey {
        key: ed25519_dalek::VerifyingKey::from_bytes(&raw).unwrap(),
        keynum: [0; 8],
    };
    let sig = fs::read(tmp.path().join("msg.sig")).unwrap();
    sshsig::verify(&public, "forja", &sig, message).unwrap();
    assert!(sshsig::verify(&public, "forja", &sig, b"SHA256 (disk.raw) = 01\n").is_err());
    assert!(sshsig::verify(&public, "git", &sig, message).is_err());
}
