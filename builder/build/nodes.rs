//! The Pexip part of a build: verify and stage the vendor images into the payload, and describe each node as a
//! libvirt domain on the disk it will have in vmstore.
//!
//! Every node gets its own disk: the Management Node a copy of the management image, each conferencing node a
//! copy of the conferencing image. The payload carries each staged image once plus `import.list` (source, node
//! disk) and `import.sha256` (the node disks' expected hashes, from `nodes.lock`); first boot copies and
//! re-verifies them inside vmstore. vCPUs are pinned to dedicated host CPUs from 1 upwards (CPU 0 stays with the
//! host), one each, as §27 asks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::compose::firstboot::VMSTORE_MOUNT;
use crate::error::{Exit, fail};
use crate::nodes::domain::{ConfigDrive, DomainSpec, DriveMedia, node_domain};
use crate::nodes::lock::NodesLock;
use crate::nodes::sizing::NodeRole;
use crate::nodes::stage::stage_all;
use crate::profile::Loaded;
use crate::profile::model::{ImageRole, Reservation};

/// What staging produced for the build.
#[derive(Debug)]
pub struct StagedNodes {
    pub lock: NodesLock,
    /// Domain XML per node name.
    pub domains: Vec<(String, String)>,
}

fn role_image<'a>(
    l: &Loaded,
    lock: &'a NodesLock,
    role: ImageRole,
) -> anyhow::Result<&'a crate::nodes::lock::StagedImage> {
    let image = l
        .profile
        .pexip
        .images
        .iter()
        .find(|i| i.role == role)
        .ok_or_else(|| fail(Exit::Input, format!("pexip.images has no {role:?} image")))?;
    let name = image
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    lock.images
        .iter()
        .find(|i| i.source == name)
        .ok_or_else(|| fail(Exit::Internal, format!("{name} was not staged")))
}

/// Stages the profile's images into `payload/nodes` and writes the import lists and domain XML into the payload.
pub fn stage(
    l: &Loaded,
    payload: &Path,
    config_drive: Option<&Path>,
) -> anyhow::Result<Option<StagedNodes>> {
    let p = &l.profile.pexip;
    if p.images.is_empty() {
        return Ok(None);
    }
    let readme = l.resolve(&p.images[0].readme);
    if let Some(other) = p.images.iter().find(|i| l.resolve(&i.readme) != readme) {
        return Err(fail(
            Exit::Input,
            format!(
                "pexip.images: every image must be checked against one README.TXT ({} and {} differ)",
                p.images[0].readme.display(),
                other.readme.display()
            ),
        ));
    }
    let files: Vec<PathBuf> = p.images.iter().map(|i| l.resolve(&i.file)).collect();
    let nodes_dir = payload.join("nodes");
    std::fs::create_dir_all(&nodes_dir)?;
    let lock = stage_all(&readme, &files, &nodes_dir)?;

    struct Node<'a> {
        name: &'a str,
        role: NodeRole,
        image: ImageRole,
        reservation: Reservation,
        mac: Option<String>,
    }
    let mut nodes = vec![Node {
        name: &p.management.name,
        role: NodeRole::Management,
        image: ImageRole::Management,
        reservation: p.management.reservation,
        mac: p.management.mac.map(|m| m.to_string()),
    }];
    for c in &p.conferencing {
        nodes.push(Node {
            name: &c.name,
            role: NodeRole::Conferencing,
            image: ImageRole::Conferencing,
            reservation: c.reservation,
            mac: c.mac.map(|m| m.to_string()),
        });
    }
    let mut import_list = String::new();
    let mut import_sums = String::new();
    let mut domains = Vec::new();
    let mut next_cpu = 1u32;
    for n in &nodes {
        let image = role_image(l, &lock, n.image)?;
        let disk = image.staged.first().ok_or_else(|| {
            fail(
                Exit::Input,
                format!("{}: the image holds no disk", image.source),
            )
        })?;
        let target = format!("{}.qcow2", n.name);
        let _ = writeln!(import_list, "{} {target}", disk.file);
        let _ = writeln!(import_sums, "{}  {target}", disk.sha256);
        let drive = match (n.role, config_drive) {
            (NodeRole::Management, Some(iso)) => {
                let name = format!("{}-config-2.iso", n.name);
                let sha = crate::hashio::Sha256::of_file(iso)?;
                std::fs::copy(iso, nodes_dir.join(&name))?;
                let _ = writeln!(import_list, "{name} {name}");
                let _ = writeln!(import_sums, "{sha}  {name}");
                Some(ConfigDrive {
                    path: Path::new(VMSTORE_MOUNT).join(&name),
                    media: DriveMedia::Cdrom,
                })
            }
            _ => None,
        };
        let vcpus = n.reservation.vcpus;
        let spec = DomainSpec {
            name: n.name.to_owned(),
            vcpus,
            cpuset: (next_cpu..next_cpu + vcpus).collect(),
            memory_mib: u64::from(n.reservation.memory_mb),
            disk: Path::new(VMSTORE_MOUNT).join(&target),
            bridge: l.profile.network.vm.bridge.clone(),
            mac: n.mac.clone(),
            config_drive: drive,
        };
        next_cpu += vcpus;
        let ovf = image.ova.as_ref().map(|o| &o.ovf);
        let xml = node_domain(
            &spec,
            n.role,
            u64::from(n.reservation.disk_gb) << 30,
            ovf,
            None,
        )?;
        domains.push((n.name.to_owned(), xml));
    }
    std::fs::write(nodes_dir.join("import.list"), import_list)?;
    std::fs::write(nodes_dir.join("import.sha256"), import_sums)?;
    let ddir = payload.join("domains");
    std::fs::create_dir_all(&ddir)?;
    for (name, xml) in &domains {
        std::fs::write(ddir.join(format!("{name}.xml")), xml)?;
    }
    Ok(Some(StagedNodes { lock, domains }))
}
