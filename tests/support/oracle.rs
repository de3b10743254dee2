//! Helpers shared by the disk tests: deterministic test bytes and a runner for the independent checkers
//! (sgdisk, fsck.fat, mtools, e2fsck, debugfs).

#![allow(dead_code)]

use std::process::Command;

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
