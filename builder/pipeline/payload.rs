//! The payload stage: verify and stage the plan's vendor images, and describe each planned node as a libvirt
//! domain on the disk it will have in vmstore.
//!
//! Every node gets its own disk: the Management Node a copy of the management image, each conferencing node a
//! copy of the conferencing image. The payload carries each staged image once plus `import.list` (source, node
//! disk) and `import.sha256` (the node disks' expected hashes, from `nodes.lock`); first boot copies and
//! re-verifies them inside vmstore. The nodes' reservations and CPU pinning are the plan's ([`NodePlan`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::compose::firstboot::VMSTORE_MOUNT;
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::inbound::InputRoots;
use crate::nodes::domain::{ConfigDrive, DomainSpec, DriveMedia, node_domain};
use crate::nodes::lock::{NodesLock, StagedImage};
use crate::nodes::sizing::NodeRole;
use crate::nodes::stage::stage_all;
use crate::plan::{ImageSet, NodePlan, PayloadPlan};
use crate::profile::model::ImageRole;

/// What staging produced for the build.
#[derive(Debug)]
pub struct StagedNodes {
    pub lock: NodesLock,
    /// Domain XML per node name.
    pub domains: Vec<(String, String)>,
}

/// The config drive to put into the payload: its file and hash, as the outputs stage wrote it.
#[derive(Debug, Clone)]
pub struct DriveFile {
    pub path: PathBuf,
    pub sha256: Sha256,
}

fn role_image<'a>(
    set: &ImageSet,
    lock: &'a NodesLock,
    role: ImageRole,
) -> anyhow::Result<&'a StagedImage> {
    let image = set
        .files
        .iter()
        .find(|i| i.role == role)
        .ok_or_else(|| fail(Exit::Input, format!("pexip.images has no {role:?} image")))?;
    let name = crate::nodes::file_name(&image.file);
    lock.images
        .iter()
        .find(|i| i.source == name)
        .ok_or_else(|| fail(Exit::Internal, format!("{name} was not staged")))
}

/// Stages the plan's images into `payload/nodes` and writes the import lists and domain XML into the payload.
/// Image paths in the plan are relative to the profile's folder (`inputs`), and confined to it.
pub fn stage(
    plan: &PayloadPlan,
    inputs: &InputRoots,
    payload: &Path,
    drive: Option<&DriveFile>,
) -> anyhow::Result<Option<StagedNodes>> {
    fs_err::create_dir_all(payload)?;
    fs_err::write(payload.join("README"), &plan.readme)?;
    let Some(set) = &plan.images else {
        return Ok(None);
    };
    let files: Vec<PathBuf> = set
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| inputs.resolve(&format!("pexip.images[{i}].file"), &f.file))
        .collect::<anyhow::Result<_>>()?;
    let readme = inputs.resolve("pexip.images[].readme", &set.readme)?;
    let nodes_dir = payload.join("nodes");
    fs_err::create_dir_all(&nodes_dir)?;
    let lock = stage_all(&readme, &files, &nodes_dir)?;

    let mut import_list = String::new();
    let mut import_sums = String::new();
    let mut domains = Vec::new();
    for n in &plan.nodes {
        let image = role_image(set, &lock, n.role)?;
        let disk = image.staged.first().ok_or_else(|| {
            fail(
                Exit::Input,
                format!("{}: the image holds no disk", image.source),
            )
        })?;
        let _ = writeln!(import_list, "{} {}", disk.file, n.disk);
        let _ = writeln!(import_sums, "{}  {}", disk.sha256, n.disk);
        let config_drive = match (&n.config_drive, drive) {
            (Some(name), Some(d)) => {
                fs_err::copy(&d.path, nodes_dir.join(name))?;
                let _ = writeln!(import_list, "{name} {name}");
                let _ = writeln!(import_sums, "{}  {name}", d.sha256);
                Some(ConfigDrive {
                    path: Path::new(VMSTORE_MOUNT).join(name),
                    media: DriveMedia::Cdrom,
                })
            }
            _ => None,
        };
        let xml = domain_xml(n, image, config_drive)?;
        domains.push((n.name.clone(), xml));
    }
    fs_err::write(nodes_dir.join("import.list"), import_list)?;
    fs_err::write(nodes_dir.join("import.sha256"), import_sums)?;
    let ddir = payload.join("domains");
    fs_err::create_dir_all(&ddir)?;
    for (name, xml) in &domains {
        fs_err::write(ddir.join(format!("{name}.xml")), xml)?;
    }
    Ok(Some(StagedNodes { lock, domains }))
}

/// The node's domain, checked against Pexip's sizing rules and the image's own OVF minimums.
fn domain_xml(
    n: &NodePlan,
    image: &StagedImage,
    config_drive: Option<ConfigDrive>,
) -> anyhow::Result<String> {
    let spec = DomainSpec {
        name: n.name.clone(),
        vcpus: n.vcpus,
        cpuset: n.cpuset.clone(),
        memory_mib: n.memory_mib,
        disk: Path::new(VMSTORE_MOUNT).join(&n.disk),
        bridge: n.bridge.clone(),
        mac: n.mac.clone(),
        config_drive,
    };
    let role = match n.role {
        ImageRole::Management => NodeRole::Management,
        ImageRole::Conferencing => NodeRole::Conferencing,
    };
    let ovf = image.ova.as_ref().map(|o| &o.ovf);
    node_domain(&spec, role, u64::from(n.disk_gb) << 30, ovf, None)
}
