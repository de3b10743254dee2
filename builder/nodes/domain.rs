//! libvirt domain XML for one Pexip node, following the guide: reserved resources (§27: pinned vCPUs, locked
//! memory), a fixed boot order with no boot menu (§30), the NIC on the VM bridge only, and no devices the node
//! does not need (no graphics, sound, USB tablet or balloon; a serial console only).
//!
//! [`DomainSpec`] is a plain input type: the profile is mapped onto it elsewhere. The XML is one template with
//! escaped values, deterministic (the domain UUID is a UUIDv5 of the name), so it can be golden-tested and
//! shipped in a reproducible image; `tests/nodes_domain.rs` checks it with `virt-xml-validate`.

use std::path::{Path, PathBuf};

use indoc::formatdoc;

use crate::error::{Exit, fail};

/// How the first-boot config drive is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveMedia {
    /// An ISO 9660 image (`config-2`) as a read-only SATA CD-ROM.
    Cdrom,
    /// A raw disk image as a read-only virtio disk.
    Disk,
}

/// The first-boot answers drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDrive {
    pub path: PathBuf,
    pub media: DriveMedia,
}

/// Everything a node's domain needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    pub name: String,
    pub vcpus: u32,
    /// Host CPU for each vCPU, in vCPU order (§27: one dedicated core each).
    pub cpuset: Vec<u32>,
    pub memory_mib: u64,
    /// The staged qcow2 on the host.
    pub disk: PathBuf,
    /// The VM bridge (the only network the node sees).
    pub bridge: String,
    pub mac: Option<String>,
    pub config_drive: Option<ConfigDrive>,
}

/// Memory QEMU itself needs beyond the guest's: locked memory must include it or the VM is killed. libvirt's
/// docs give no formula; 1 GiB is a safe margin for a single-disk, single-NIC guest (a guess, stated as such).
pub const QEMU_OVERHEAD_MIB: u64 = 1024;

/// forja's own namespace for deterministic domain UUIDs (UUIDv5 of the domain name).
const UUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1d_4c2a_9b8e_4f57_a3c1_2d0e_5b7a_9c11);

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn path_text(p: &Path, what: &str, node: &str) -> anyhow::Result<String> {
    let s = p.to_str().ok_or_else(|| {
        fail(
            Exit::Input,
            format!("node {node}: {what} path {} is not UTF-8", p.display()),
        )
    })?;
    if !p.is_absolute() {
        return Err(fail(
            Exit::Input,
            format!(
                "node {node}: {what} path {s:?} must be absolute (libvirt resolves nothing relative)"
            ),
        ));
    }
    Ok(esc(s))
}

impl DomainSpec {
    fn validate(&self) -> anyhow::Result<()> {
        let n = &self.name;
        let bad = |msg: String| Err(fail(Exit::Input, format!("node {n}: {msg}")));
        if n.is_empty()
            || n.len() > 64
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return bad("a domain name must be 1..=64 letters, digits, '-', '_' or '.'".into());
        }
        if self.vcpus == 0 {
            return bad("at least one vCPU is needed".into());
        }
        if self.cpuset.len() != self.vcpus as usize {
            return bad(format!(
                "{} vCPUs but {} pinned host CPUs; pin each vCPU to its own host CPU (§27)",
                self.vcpus,
                self.cpuset.len()
            ));
        }
        let mut seen = self.cpuset.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return bad(
                "a host CPU is pinned twice; reserved vCPUs must not share a core (§27)".into(),
            );
        }
        if self.memory_mib == 0 {
            return bad("memory must be more than 0 MiB".into());
        }
        if self.bridge.is_empty()
            || self.bridge.len() > 15
            || !self
                .bridge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return bad(format!(
                "bridge name {:?} is not a Linux interface name",
                self.bridge
            ));
        }
        if let Some(mac) = &self.mac {
            let parts: Vec<&str> = mac.split(':').collect();
            let ok = parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
            let multicast = ok && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 1);
            if !ok || multicast {
                return bad(format!(
                    "MAC {mac:?} is not a unicast aa:bb:cc:dd:ee:ff address"
                ));
            }
        }
        Ok(())
    }

    /// The domain XML, or an [`Exit::Input`] error naming the node and the field. Every value is escaped as
    /// it goes into the template.
    pub fn to_xml(&self) -> anyhow::Result<String> {
        self.validate()?;
        let disk = path_text(&self.disk, "disk", &self.name)?;
        let uuid = uuid::Uuid::new_v5(&UUID_NAMESPACE, self.name.as_bytes());
        let cpus: Vec<String> = self.cpuset.iter().map(u32::to_string).collect();
        let pins: String = self
            .cpuset
            .iter()
            .enumerate()
            .map(|(i, c)| format!("    <vcpupin vcpu='{i}' cpuset='{c}'/>\n"))
            .collect();
        let drive = match &self.config_drive {
            Some(cd) => config_drive_xml(cd, &self.name)?,
            None => String::new(),
        };
        let mac = self
            .mac
            .as_ref()
            .map(|m| format!("      <mac address='{}'/>\n", esc(&m.to_ascii_lowercase())))
            .unwrap_or_default();
        Ok(formatdoc! {"
            <domain type='kvm'>
              <name>{name}</name>
              <uuid>{uuid}</uuid>
              <memory unit='MiB'>{mem}</memory>
              <currentMemory unit='MiB'>{mem}</currentMemory>
              <memtune>
                <hard_limit unit='MiB'>{limit}</hard_limit>
              </memtune>
              <memoryBacking>
                <locked/>
              </memoryBacking>
              <vcpu placement='static' cpuset='{cpus}'>{vcpus}</vcpu>
              <cputune>
            {pins}  </cputune>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
                <bootmenu enable='no'/>
              </os>
              <features>
                <acpi/>
                <apic/>
              </features>
              <cpu mode='host-passthrough' check='none'/>
              <clock offset='utc'/>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>restart</on_reboot>
              <on_crash>destroy</on_crash>
              <pm>
                <suspend-to-mem enabled='no'/>
                <suspend-to-disk enabled='no'/>
              </pm>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='qcow2' cache='none' io='native' discard='unmap'/>
                  <source file='{disk}'/>
                  <target dev='vda' bus='virtio'/>
                  <boot order='1'/>
                </disk>
            {drive}    <interface type='bridge'>
            {mac}      <source bridge='{bridge}'/>
                  <model type='virtio'/>
                </interface>
                <serial type='pty'>
                  <target port='0'/>
                </serial>
                <console type='pty'>
                  <target type='serial' port='0'/>
                </console>
                <video>
                  <model type='none'/>
                </video>
                <memballoon model='none'/>
              </devices>
            </domain>
        ",
            name = esc(&self.name),
            mem = self.memory_mib,
            limit = self.memory_mib + QEMU_OVERHEAD_MIB,
            cpus = cpus.join(","),
            vcpus = self.vcpus,
            bridge = esc(&self.bridge),
        })
    }
}

/// The first-boot answers drive: a read-only CD-ROM (ISO) or virtio disk (raw).
fn config_drive_xml(cd: &ConfigDrive, node: &str) -> anyhow::Result<String> {
    let p = path_text(&cd.path, "config drive", node)?;
    let (device, target) = match cd.media {
        DriveMedia::Cdrom => ("cdrom", "<target dev='sda' bus='sata'/>"),
        DriveMedia::Disk => ("disk", "<target dev='vdb' bus='virtio'/>"),
    };
    let xml = formatdoc! {"
        <disk type='file' device='{device}'>
          <driver name='qemu' type='raw'/>
          <source file='{p}'/>
          {target}
          <readonly/>
        </disk>
    "};
    // Inside <devices>: four spaces in.
    Ok(xml.lines().map(|l| format!("    {l}\n")).collect())
}

/// The domain XML for a node after checking its reservation against Pexip's sizing rules and the image's own
/// OVF minimums ([`super::sizing::check`]): an undersized node is refused, not defined.
pub fn node_domain(
    spec: &DomainSpec,
    role: super::sizing::NodeRole,
    reserved_disk_bytes: u64,
    image: Option<&super::ovf::Ovf>,
    cores_per_socket: Option<u32>,
) -> anyhow::Result<String> {
    let reservation = super::sizing::Reservation {
        vcpus: spec.vcpus,
        memory_mib: spec.memory_mib,
        disk_bytes: reserved_disk_bytes,
    };
    super::sizing::check(
        &spec.name,
        role,
        reservation,
        image.map(super::sizing::NodeRequirement::from_ovf),
        cores_per_socket,
    )?;
    spec.to_xml()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> DomainSpec {
        DomainSpec {
            name: "pexip-mgr".into(),
            vcpus: 4,
            cpuset: vec![2, 3, 4, 5],
            memory_mib: 4096,
            disk: "/var/lib/vmstore/pexip-mgr.qcow2".into(),
            bridge: "br-vm".into(),
            mac: Some("52:54:00:12:34:56".into()),
            config_drive: Some(ConfigDrive {
                path: "/var/lib/vmstore/pexip-mgr-config.iso".into(),
                media: DriveMedia::Cdrom,
            }),
        }
    }

    #[test]
    fn pins_every_vcpu_and_locks_memory() {
        let xml = spec().to_xml().unwrap();
        for (i, c) in [2, 3, 4, 5].iter().enumerate() {
            assert!(
                xml.contains(&format!("<vcpupin vcpu='{i}' cpuset='{c}'/>")),
                "{xml}"
            );
        }
        assert!(xml.contains("<locked/>"));
        assert!(xml.contains("<hard_limit unit='MiB'>5120</hard_limit>"));
        assert!(xml.contains("<bootmenu enable='no'/>"));
        assert!(xml.contains("<memballoon model='none'/>"));
        assert!(!xml.contains("<graphics") && !xml.contains("<sound") && !xml.contains("tablet"));
    }

    #[test]
    fn refuses_shared_or_missing_pins() {
        let mut s = spec();
        s.cpuset = vec![2, 2, 3, 4];
        assert!(format!("{:#}", s.to_xml().unwrap_err()).contains("pinned twice"));
        s.cpuset = vec![2];
        assert!(format!("{:#}", s.to_xml().unwrap_err()).contains("4 vCPUs but 1 pinned"));
    }

    #[test]
    fn refuses_bad_mac_and_relative_disk() {
        let mut s = spec();
        s.mac = Some("01:00:5e:00:00:01".into());
        assert!(format!("{:#}", s.to_xml().unwrap_err()).contains("unicast"));
        let mut s = spec();
        s.disk = "disk.qcow2".into();
        assert!(format!("{:#}", s.to_xml().unwrap_err()).contains("must be absolute"));
    }

    #[test]
    fn uuid_is_stable() {
        let a = spec().to_xml().unwrap();
        assert_eq!(a, spec().to_xml().unwrap());
        assert!(a.contains(&uuid::Uuid::new_v5(&UUID_NAMESPACE, b"pexip-mgr").to_string()));
    }
}
