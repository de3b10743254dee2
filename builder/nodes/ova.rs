//! Reading an OVA in one pass: the OVF descriptor first (as the OVF spec requires), then an optional `.mf`
//! manifest (and `.cert`), then the files the descriptor references.
//!
//! Disk members are handed to a caller-supplied sink while they stream past (staging writes them out, `verify`
//! discards them); every member is hashed on that same read and checked against the manifest's SHA-256 lines.
//! Structural problems are [`Exit::BadArchive`]; a manifest digest that differs is [`Exit::HashMismatch`].

use std::io::{self, Read};

use serde::Serialize;

use super::manifest::Manifest;
use super::ovf::{self, Disk, Ovf};
use crate::archive::tar::TarReader;
use crate::error::{Exit, fail};
use crate::hashio::{HashingReader, Sha256};

/// Largest manifest or certificate member accepted (they are read whole).
const MAX_SMALL: u64 = 1 << 20;

/// What an OVA held.
#[derive(Debug, Clone, Serialize)]
pub struct OvaFacts {
    /// The descriptor member's name.
    pub descriptor: String,
    pub ovf: Ovf,
    /// The manifest member's name, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Every member in archive order, with its size and SHA-256.
    pub members: Vec<MemberFact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberFact {
    pub name: String,
    pub size: u64,
    pub sha256: Sha256,
}

fn bad(label: &str, msg: impl std::fmt::Display) -> anyhow::Error {
    fail(Exit::BadArchive, format!("{label}: {msg}"))
}

fn ext_is(name: &str, ext: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext))
}

/// Reads a small member whole, refusing it before allocating when its size field is too large.
fn read_small<R: Read>(
    tar: &mut TarReader<R>,
    label: &str,
    name: &str,
    size: u64,
    cap: u64,
) -> anyhow::Result<Vec<u8>> {
    if size > cap {
        return Err(bad(
            label,
            format!("{name} is {size} bytes, at most {cap} accepted"),
        ));
    }
    let mut buf = Vec::with_capacity(size as usize);
    tar.member_reader()
        .read_to_end(&mut buf)
        .map_err(crate::error::from_io)?;
    Ok(buf)
}

/// Streams an OVA from `reader` (which the caller may be hashing). `sink` receives each disk member's data as a
/// reader; whatever it leaves unread is drained (and hashed) here. `label` names the OVA in messages.
pub fn read<R: Read>(
    reader: R,
    label: &str,
    mut sink: impl FnMut(&Disk, &mut dyn Read) -> anyhow::Result<()>,
) -> anyhow::Result<OvaFacts> {
    let mut tar = TarReader::new(reader, label);
    let mut members = Vec::new();

    let first = tar.next_member()?.ok_or_else(|| {
        bad(
            label,
            "the archive is empty; an OVA starts with its .ovf descriptor",
        )
    })?;
    if !ext_is(&first.name, "ovf") {
        return Err(bad(
            label,
            format!(
                "the first member is {:?}; an OVA must start with its .ovf descriptor",
                first.name
            ),
        ));
    }
    let bytes = read_small(&mut tar, label, &first.name, first.size, ovf::MAX_OVF)?;
    let descriptor = first.name.clone();
    let ovf = ovf::parse(&format!("{label}:{descriptor}"), &bytes)?;
    members.push(MemberFact {
        name: first.name,
        size: first.size,
        sha256: Sha256::of(&bytes),
    });

    let mut manifest: Option<(String, Manifest)> = None;
    let mut next = tar.next_member()?;
    if let Some(m) = next.as_ref().filter(|m| ext_is(&m.name, "mf")) {
        let (name, size) = (m.name.clone(), m.size);
        let bytes = read_small(&mut tar, label, &name, size, MAX_SMALL)?;
        let parsed = Manifest::parse(&format!("{label}:{name}"), &bytes)?;
        members.push(MemberFact {
            name: name.clone(),
            size,
            sha256: Sha256::of(&bytes),
        });
        manifest = Some((name, parsed));
        next = tar.next_member()?;
    }

    while let Some(m) = next {
        if ext_is(&m.name, "ovf") || ext_is(&m.name, "mf") {
            return Err(bad(
                label,
                format!(
                    "{:?} at offset {}: only one descriptor (first) and one manifest (second) are allowed",
                    m.name, m.offset
                ),
            ));
        }
        let is_cert = ext_is(&m.name, "cert");
        let file = ovf.files.iter().find(|f| f.href == m.name);
        if file.is_none() && !is_cert {
            return Err(bad(
                label,
                format!(
                    "member {:?} is not referenced by the OVF descriptor",
                    m.name
                ),
            ));
        }
        if let Some(expected) = file.and_then(|f| f.size) {
            if expected != m.size {
                return Err(bad(
                    label,
                    format!(
                        "member {:?} is {} bytes, the OVF descriptor says {expected}",
                        m.name, m.size
                    ),
                ));
            }
        }
        let mut hashing = HashingReader::new(tar.member_reader());
        if let Some(disk) = ovf
            .disks
            .iter()
            .find(|d| d.href.as_deref() == Some(&m.name))
        {
            sink(disk, &mut hashing)?;
        }
        io::copy(&mut hashing, &mut io::sink()).map_err(crate::error::from_io)?;
        let (sha256, _) = hashing.finish();
        members.push(MemberFact {
            name: m.name,
            size: m.size,
            sha256,
        });
        next = tar.next_member()?;
    }

    for f in &ovf.files {
        if !members.iter().any(|m| m.name == f.href) {
            return Err(bad(
                label,
                format!(
                    "the OVF descriptor references {:?}, which the archive does not contain",
                    f.href
                ),
            ));
        }
    }
    if let Some((mf_name, mf)) = &manifest {
        check_manifest(label, mf_name, mf, &members)?;
    }
    Ok(OvaFacts {
        descriptor,
        ovf,
        manifest: manifest.map(|(n, _)| n),
        members,
    })
}

fn check_manifest(
    label: &str,
    mf_name: &str,
    mf: &Manifest,
    members: &[MemberFact],
) -> anyhow::Result<()> {
    for (name, expected) in &mf.sha256 {
        let Some(m) = members.iter().find(|m| &m.name == name) else {
            return Err(bad(
                label,
                format!("{mf_name} lists {name:?}, which the archive does not contain"),
            ));
        };
        if m.sha256 != *expected {
            return Err(fail(
                Exit::HashMismatch,
                format!(
                    "{label}: member {name}: SHA-256 is {}, {mf_name} expects {expected}",
                    m.sha256
                ),
            ));
        }
    }
    for m in members.iter().filter(|m| m.name != mf_name) {
        if !mf.sha256.contains_key(&m.name) {
            log::warn!(
                "{label}: {mf_name} has no SHA256 line for {} (not checked against the manifest; README.TXT's hash of the OVA still covers it)",
                m.name
            );
        }
    }
    Ok(())
}
