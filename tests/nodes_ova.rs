//! Hostile and corrupt OVAs, built by hand, against the streaming OVA reader: each is refused with
//! `Exit::BadArchive` (or `HashMismatch` for a manifest digest) and a message naming the problem.

mod common;

use common::{CONF, Tar, header, members, ova_from};
use forja::error::{Exit, exit_of};
use forja::nodes::ova;

fn read(bytes: &[u8]) -> anyhow::Result<ova::OvaFacts> {
    ova::read(bytes, "x.ova", |_, _| Ok(()))
}

fn refused(bytes: &[u8], exit: Exit, needle: &str) {
    let err = read(bytes).unwrap_err();
    let msg = format!("{err:#}");
    assert_eq!(exit_of(&err), exit, "{msg}");
    assert!(msg.starts_with("x.ova: "), "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

/// (ovf, mf, vmdk) of the conferencing stand-in.
fn parts() -> Vec<(String, Vec<u8>)> {
    members(CONF)
}

#[test]
fn a_hand_built_copy_of_the_stand_in_reads_and_hands_out_the_disk() {
    let p = parts();
    let mut seen = Vec::new();
    let facts = ova::read(&ova_from(&p)[..], "x.ova", |disk, r| {
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        seen.push((disk.id.clone(), buf));
        Ok(())
    })
    .unwrap();
    assert_eq!(facts.descriptor, p[0].0);
    assert_eq!(facts.manifest.as_deref(), Some(p[1].0.as_str()));
    assert_eq!(facts.ovf.vcpus, 4);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, p[2].1, "the sink gets the disk member's bytes");
    assert_eq!(facts.members[2].sha256, forja::hashio::Sha256::of(&p[2].1));
}

#[test]
fn rejects_absolute_paths() {
    let p = parts();
    let mut t = Tar::default();
    t.file(&p[0].0, &p[0].1).file("/etc/cron.d/x", b"x");
    refused(&t.end(), Exit::BadArchive, "absolute path");
}

#[test]
fn rejects_path_traversal() {
    let p = parts();
    let mut t = Tar::default();
    t.file(&p[0].0, &p[0].1).file("../../x.vmdk", b"x");
    refused(&t.end(), Exit::BadArchive, "'..' component");
}

#[test]
fn rejects_links_devices_fifos_and_directories() {
    let p = parts();
    for (flag, what) in [
        (b'2', "symbolic link"),
        (b'1', "hard link"),
        (b'3', "character device"),
        (b'4', "block device"),
        (b'5', "directory"),
        (b'6', "FIFO"),
    ] {
        let mut t = Tar::default();
        t.file(&p[0].0, &p[0].1)
            .special(&p[2].0, flag, "/etc/shadow");
        refused(&t.end(), Exit::BadArchive, what);
    }
}

#[test]
fn rejects_duplicate_names() {
    let p = parts();
    let mut t = Tar::default();
    t.file(&p[0].0, &p[0].1)
        .file(&p[2].0, &p[2].1)
        .file(&p[2].0, &p[2].1);
    refused(&t.end(), Exit::BadArchive, "appears twice");
}

#[test]
fn rejects_size_fields_that_disagree() {
    let p = parts();
    let mut t = Tar::default();
    let real = p[2].1.len().to_string();
    let claimed = (p[2].1.len() + 512).to_string();
    t.file(&p[0].0, &p[0].1)
        .pax(&[("size", &claimed)])
        .file(&p[2].0, &p[2].1);
    refused(
        &t.end(),
        Exit::BadArchive,
        &format!("PAX says {claimed}, ustar header says {real}"),
    );
}

#[test]
fn rejects_a_truncated_member_and_a_truncated_header() {
    let good = ova_from(&parts());
    let ovf_len = parts()[0].1.len();
    // Cut inside the disk member's data.
    refused(&good[..good.len() - 4096], Exit::BadArchive, "truncated");
    // Cut inside the descriptor.
    refused(&good[..512 + ovf_len / 2], Exit::BadArchive, "truncated");
    // Cut right after the last member: no end-of-archive marker.
    refused(
        &good[..good.len() - 1024],
        Exit::BadArchive,
        "no end-of-archive marker",
    );
}

#[test]
fn rejects_trailing_garbage() {
    let mut bytes = ova_from(&parts());
    bytes.extend_from_slice(&[0u8; 512]);
    bytes.extend_from_slice(b"#!/bin/sh\n");
    refused(&bytes, Exit::BadArchive, "trailing garbage");
    // Zero padding to a tar record is fine.
    let mut padded = ova_from(&parts());
    padded.resize(padded.len().div_ceil(10240) * 10240, 0);
    read(&padded).unwrap();
}

#[test]
fn requires_the_descriptor_first() {
    let mut p = parts();
    p.swap(0, 1);
    refused(
        &ova_from(&p),
        Exit::BadArchive,
        "must start with its .ovf descriptor",
    );
}

#[test]
fn rejects_a_corrupt_header_checksum() {
    let mut bytes = ova_from(&parts());
    bytes[0] ^= 1;
    refused(&bytes, Exit::BadArchive, "header checksum");
}

#[test]
fn rejects_members_the_descriptor_does_not_reference() {
    let mut p = parts();
    p.push(("evil.sh".into(), b"#!/bin/sh".to_vec()));
    refused(
        &ova_from(&p),
        Exit::BadArchive,
        "\"evil.sh\" is not referenced",
    );
}

#[test]
fn rejects_a_missing_disk() {
    let p = parts();
    refused(
        &ova_from(&p[..2]),
        Exit::BadArchive,
        "which the archive does not contain",
    );
}

#[test]
fn checks_the_manifest_against_member_bytes() {
    let mut p = parts();
    let last = p[2].1.len() - 1;
    p[2].1[last] ^= 0xff;
    refused(&ova_from(&p), Exit::HashMismatch, "expects");
}

#[test]
fn a_huge_size_field_does_not_drive_an_allocation() {
    let mut t = Tar::default();
    t.raw_header(header("x.ovf", 1 << 32, b'0', ""));
    refused(&t.end(), Exit::BadArchive, "at most");
    // GNU base-256 size field claiming 2^60 bytes.
    let mut h = header("x.ovf", 0, b'0', "");
    h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    common::fix_checksum(&mut h);
    let mut t = Tar::default();
    t.raw_header(h);
    refused(&t.end(), Exit::BadArchive, "at most");
    let mut t = Tar::default();
    t.raw_header(header("PaxHeaders/x", 1 << 32, b'x', ""));
    refused(&t.end(), Exit::BadArchive, "at most");
}
