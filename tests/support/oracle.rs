//! Helpers shared by the disk and signing tests: deterministic test bytes, a runner for the independent
//! checkers (sgdisk, fsck.fat, mtools, e2fsck, debugfs), and the two signature oracles (signify-openbsd,
//! ssh-keygen) invoked the one way every test checks a signed folder.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Deterministic pseudo-random bytes (xorshift), so contents are not trivially compressible or zero.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs a checker: (success, stdout + stderr as text, raw stdout). mtools skip their drive-geometry check.
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String, Vec<u8>) {
    let out = Command::new(cmd)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is installed: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        out.stdout,
    )
}

/// `signify-openbsd -C` in `dir`: checks `SHA256SUMS.sig` against `public` and the hash of every file it lists.
/// The caller asserts on the output, since each test expects something different of it.
pub fn signify_check(dir: &Path, public: &Path) -> Output {
    Command::new("signify-openbsd")
        .args(["-C", "-p"])
        .arg(public)
        .args(["-x", "SHA256SUMS.sig"])
        .current_dir(dir)
        .output()
        .expect("signify-openbsd is installed")
}

/// `ssh-keygen -Y verify` in `dir`: checks `SHA256SUMS.sshsig` over `message` for the principal `forja`
/// (listed in `dir/allowed_signers`) in the namespace `forja`. The message is passed in rather than read
/// from `dir/SHA256SUMS`, so a test can offer a modified one.
pub fn ssh_verify(dir: &Path, message: &[u8]) -> Output {
    let mut child = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            "allowed_signers",
            "-I",
            "forja",
            "-n",
            "forja",
            "-s",
            "SHA256SUMS.sshsig",
        ])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh-keygen is installed");
    // ssh-keygen reads the whole message before it writes anything, so writing first cannot deadlock.
    let mut input = child.stdin.take().unwrap();
    input.write_all(message).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Copies `len` bytes at `offset` of `src` into `dst` (for the checkers that have no offset option).
pub fn extract(src: &Path, offset: u64, len: u64, dst: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(src).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut out = std::fs::File::create(dst).unwrap();
    std::io::copy(&mut f.take(len), &mut out).unwrap();
}

/// (offset, size) of a partition of a built disk, as its `plan.json` records it.
pub fn partition(plan: &forja::plan::Plan, name: &str) -> (u64, u64) {
    let p = plan
        .built()
        .unwrap()
        .layout
        .named(name)
        .unwrap_or_else(|| panic!("no partition {name} in plan.json"));
    (p.offset, p.size)
}
