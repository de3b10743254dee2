//! Is a node's reservation big enough? Checked against the image's own OVF minimums and Pexip's sizing rules.
//!
//! Pexip's published rules (PEXIP.md): a Management Node needs at least 4 vCPU, 4 GB RAM and a 100 GB disk;
//! a Conferencing Node 2..=128 vCPU and 2000..=64000 MB RAM, and no more vCPUs than the physical cores of one
//! socket. Pexip writes "GB"/"MB" without saying which; this reads them as GiB/MiB (4 GB = 4096 MiB, the value
//! its OVF exports declare), which is the stricter reading for the minimums. A guess, stated here on purpose.

use serde::Serialize;

use super::ovf::Ovf;
use crate::error::{Exit, fail};

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    Management,
    Conferencing,
}

/// The resources the host reserves for one node (§27): the numbers the profile gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_bytes: u64,
}

/// What the image itself asks for (from its OVF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRequirement {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_bytes: u64,
}

impl NodeRequirement {
    pub fn from_ovf(ovf: &Ovf) -> Self {
        NodeRequirement {
            vcpus: ovf.vcpus,
            memory_mib: ovf.memory_mib,
            disk_bytes: ovf.disks.iter().map(|d| d.capacity_bytes).sum(),
        }
    }
}

const GIB: u64 = 1 << 30;

/// Refuses an undersized (or oversized) node with every reason at once, as [`Exit::Input`]. `node` names it in
/// the message; `cores_per_socket`, when known, caps a conferencing node's vCPUs.
pub fn check(
    node: &str,
    role: NodeRole,
    reservation: Reservation,
    image: Option<NodeRequirement>,
    cores_per_socket: Option<u32>,
) -> anyhow::Result<()> {
    let r = reservation;
    let mut problems = Vec::new();
    match role {
        NodeRole::Management => {
            if r.vcpus < 4 {
                problems.push(format!(
                    "a Management Node needs at least 4 vCPU, {} reserved",
                    r.vcpus
                ));
            }
            if r.memory_mib < 4096 {
                problems.push(format!(
                    "a Management Node needs at least 4096 MiB RAM, {} reserved",
                    r.memory_mib
                ));
            }
            if r.disk_bytes < 100 * GIB {
                problems.push(format!(
                    "a Management Node needs at least 100 GiB of disk, {} bytes reserved",
                    r.disk_bytes
                ));
            }
        }
        NodeRole::Conferencing => {
            if !(2..=128).contains(&r.vcpus) {
                problems.push(format!(
                    "a Conferencing Node takes 2..=128 vCPU, {} reserved",
                    r.vcpus
                ));
            }
            if !(2000..=64000).contains(&r.memory_mib) {
                problems.push(format!(
                    "a Conferencing Node takes 2000..=64000 MiB RAM, {} reserved",
                    r.memory_mib
                ));
            }
            if let Some(cores) = cores_per_socket.filter(|&c| r.vcpus > c) {
                problems.push(format!(
                    "{} vCPU exceed the {cores} physical cores of one socket",
                    r.vcpus
                ));
            }
        }
    }
    if let Some(img) = image {
        if r.vcpus < img.vcpus {
            problems.push(format!(
                "the image asks for {} vCPU, {} reserved",
                img.vcpus, r.vcpus
            ));
        }
        if r.memory_mib < img.memory_mib {
            problems.push(format!(
                "the image asks for {} MiB RAM, {} reserved",
                img.memory_mib, r.memory_mib
            ));
        }
        if r.disk_bytes < img.disk_bytes {
            problems.push(format!(
                "the image's disks need {} bytes, {} reserved",
                img.disk_bytes, r.disk_bytes
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(
            Exit::Input,
            format!("node {node} is refused: {}", problems.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(vcpus: u32, memory_mib: u64, disk_gib: u64) -> Reservation {
        Reservation {
            vcpus,
            memory_mib,
            disk_bytes: disk_gib * GIB,
        }
    }

    #[test]
    fn management_node_minimums() {
        check("mgr", NodeRole::Management, res(4, 4096, 100), None, None).unwrap();
        let err = check("mgr", NodeRole::Management, res(2, 4096, 100), None, None).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "node mgr is refused: a Management Node needs at least 4 vCPU, 2 reserved"
        );
    }

    #[test]
    fn conferencing_node_ranges_and_socket_cap() {
        check(
            "c1",
            NodeRole::Conferencing,
            res(8, 8192, 50),
            None,
            Some(8),
        )
        .unwrap();
        assert!(check("c1", NodeRole::Conferencing, res(129, 8192, 50), None, None).is_err());
        assert!(check("c1", NodeRole::Conferencing, res(4, 1999, 50), None, None).is_err());
        assert!(check("c1", NodeRole::Conferencing, res(4, 64001, 50), None, None).is_err());
        let err = check(
            "c1",
            NodeRole::Conferencing,
            res(12, 8192, 50),
            None,
            Some(8),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("exceed the 8 physical cores"),
            "{err:#}"
        );
    }

    #[test]
    fn undersized_against_the_image() {
        let img = NodeRequirement {
            vcpus: 8,
            memory_mib: 16384,
            disk_bytes: 100 * GIB,
        };
        let err = check(
            "c1",
            NodeRole::Conferencing,
            res(4, 8192, 50),
            Some(img),
            None,
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("the image asks for 8 vCPU, 4 reserved"),
            "{msg}"
        );
        assert!(
            msg.contains("the image asks for 16384 MiB RAM, 8192 reserved"),
            "{msg}"
        );
        assert!(msg.contains("the image's disks need"), "{msg}");
    }
}
