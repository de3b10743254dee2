//! A private copy of the two-host lab site (`profiles/lab-site.toml`) with its inputs, for the tests that build
//! it: the site build and its media, and the QEMU install of both hosts.

#![allow(dead_code)]

use std::path::PathBuf;

use super::{lab, site_files};

/// The DMI serial host 2's machine declares in the copy: the site's USB stick recognises it by it.
pub const HOST2_SERIAL: &str = "FORJA-LAB-2";

/// The copy's folder (removed on drop) and its site file.
pub fn copy() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir_in(lab::tmp()).unwrap();
    for f in ["lab-site.toml", "lab-site.secrets.toml"] {
        std::fs::copy(lab::repo().join("profiles").join(f), d.path().join(f)).unwrap();
    }
    site_files::lab_inputs(d.path());
    let p = d.path().join("lab-site.toml");
    let cap2 = "capacity = { cpus = 8, memory-mb = 16384, vmstore-gb = 200 }";
    let t = std::fs::read_to_string(&p).unwrap();
    assert_eq!(t.matches(cap2).count(), 1);
    std::fs::write(
        &p,
        t.replacen(cap2, &format!("{cap2}\nserial = \"{HOST2_SERIAL}\""), 1),
    )
    .unwrap();
    // One test signing key (and Secure Boot key set) per run, shared with the lab copies.
    let keys = lab::tmp().join("forja-test-keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::os::unix::fs::symlink(&keys, d.path().join("keys")).unwrap();
    (d, p)
}
