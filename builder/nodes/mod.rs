//! Vendor node images: verify Pexip's OVA/qcow2 downloads against README.TXT, read OVAs defensively, stage them
//! as qcow2 disks, record what was staged in `nodes.lock`, and describe each node as a libvirt domain.
//!
//! Trust comes from README.TXT only (its SHA-256 lines). An OVA's own `.mf` manifest is checked too, but it is
//! shipped inside the file it describes, so it is a consistency check, not a trust anchor. Nothing here reads a
//! vendor file twice: hashing happens on the read that parses or copies it.
//!
//! This module does not know the profile: [`domain::DomainSpec`] and [`sizing::Reservation`] are plain input
//! types the profile is mapped onto.

pub mod domain;
pub mod lock;
pub mod manifest;
pub mod ova;
pub mod ovf;
pub mod readme;
pub mod sizing;
pub mod stage;

pub mod verify;

/// Read buffer for vendor images: large enough for full hashing speed, small enough to keep memory bounded.
pub const READ_BUF: usize = crate::hashio::READ_BUF;

/// The last path component as text, for matching against README.TXT and for messages.
pub(crate) fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
