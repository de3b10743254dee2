//! Running the built `forja` binary from a test and keeping what it said, for tests that compare its text.

#![allow(dead_code)]

use std::process::Command;

/// Runs `forja args` in the test's working directory: (exit code, stdout, stderr). Panics if it was killed by
/// a signal or wrote anything but UTF-8, since every output compared here is meant to be text.
pub fn forja(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}
