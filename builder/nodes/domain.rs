//! libvirt domain XML for one Pexip node, following the guide: reserved resources (§27: pinned vCPUs, locked
//! memory), a fixed boot order with no boot menu (§30), the NIC on the VM bridge only, and no devices the node
//! does not need (no graphics, sound, USB tablet or balloon; a serial console only).
//!
//! [`DomainSpec`] is a plain input type: the profile is mapped onto it elsewhere. The XML is deterministic (the
//! domain UUID is a UUIDv5 of the name), so it can be golden-tested and shipped in a reproducible image.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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

    /// The domain XML, or an [`Exit::Input`] error naming the node and the field.
    pub fn to_xml(&self) -> anyhow::Result<String> {
        self.validate()?;
        let disk = path_text(&self.disk, "disk", &self.name)?;
        let uuid = uuid::Uuid::new_v5(&UUID_NAMESPACE, self.name.as_bytes());
        let cpus: Vec<String> = self.cpuset.iter().map(u32::to_string).collect();
        let mem = self.memory_mib;
        let mut x = String::new();
        let w = &mut x;
        // `write!` to a String cannot fail.
        let _ = writeln!(w, "<domain type='kvm'>");
        let _ = writeln!(w, "  <name>{}</name>", esc(&self.name));
        let _ = writeln!(w, "  <uuid>{uuid}</uuid>");
        let _ = writeln!(w, "  <memory unit='MiB'>{mem}</memory>");
        let _ = writeln!(w, "  <currentMemory unit='MiB'>{mem}</currentMemory>");
        let _ = writeln!(w, "  <memtune>");
        let _ = writeln!(
            w,
            "    <hard_limit unit='MiB'>{}</hard_limit>",
            mem + QEMU_OVERHEAD_MIB
        );
        let _ = writeln!(w, "  </memtune>");
        let _ = writeln!(w, "  <memoryBacking>");
        let _ = writeln!(w, "    <locked/>");
        let _ = writeln!(w, "  </memoryBacking>");
        let _ = writeln!(
            w,
            "  <vcpu placement='static' cpuset='{}'>{}</vcpu>",
            cpus.join(","),
            self.vcpus
        );
        let _ = writeln!(w, "  <cputune>");
        for (i, c) in self.cpuset.iter().enumerate() {
            let _ = writeln!(w, "    <vcpupin vcpu='{i}' cpuset='{c}'/>");
        }
        let _ = writeln!(w, "  </cputune>");
        let _ = writeln!(w, "  <os>");
        let _ = writeln!(w, "    <type arch='x86_64' machine='q35'>hvm</type>");
        let _ = writeln!(w, "    <bootmenu enable='no'/>");
        let _ = writeln!(w, "  </os>");
        let _ = writeln!(w, "  <features>");
        let _ = writeln!(w, "    <acpi/>");
        let _ = writeln!(w, "    <apic/>");
        let _ = writeln!(w, "  </features>");
        let _ = writeln!(w, "  <cpu mode='host-passthrough' check='none'/>");
        let _ = writeln!(w, "  <clock offset='utc'/>");
        let _ = writeln!(w, "  <on_poweroff>destroy</on_poweroff>");
        let _ = writeln!(w, "  <on_reboot>restart</on_reboot>");
        let _ = writeln!(w, "  <on_crash>destroy</on_crash>");
        let _ = writeln!(w, "  <pm>");
        let _ = writeln!(w, "    <suspend-to-mem enabled='no'/>");
        let _ = writeln!(w, "    <suspend-to-disk enabled='no'/>");
        let _ = writeln!(w, "  </pm>");
        let _ = writeln!(w, "  <devices>");
        let _ = writeln!(w, "    <emulator>/usr/bin/qemu-system-x86_64</emulator>");
        let _ = writeln!(w, "    <disk type='file' device='disk'>");
        let _ = writeln!(
            w,
            "      <driver name='qemu' type='qcow2' cache='none' io='native' discard='unmap'/>"
        );
        let _ = writeln!(w, "      <source file='{disk}'/>");
        let _ = writeln!(w, "      <target dev='vda' bus='virtio'/>");
        let _ = writeln!(w, "      <boot order='1'/>");
        let _ = writeln!(w, "    </disk>");
        if let Some(cd) = &self.config_drive {
            let p = path_text(&cd.path, "config drive", &self.name)?;
            let (device, target) = match cd.media {
                DriveMedia::Cdrom => ("cdrom", "<target dev='sda' bus='sata'/>"),
                DriveMedia::Disk => ("disk", "<target dev='vdb' bus='virtio'/>"),
            };
            let _ = writeln!(w, "    <disk type='file' device='{device}'>");
            let _ = writeln!(w, "      <driver name='qemu' type='raw'/>");
            let _ = writeln!(w, "      <source file='{p}'/>");
            let _ = writeln!(w, "      {target}");
            let _ = writeln!(w, "      <readonly/>");
            let _ = writeln!(w, "    </disk>");
        }
        let _ = writeln!(w, "    <interface type='bridge'>");
        if let Some(mac) = &self.mac {
            let _ = writeln!(w, "      <mac address='{}'/>", mac.to_ascii_lowercase());
        }
        let _ = writeln!(w, "      <source bridge='{}'/>", esc(&self.bridge));
        let _ = writeln!(w, "      <model type='virtio'/>");
        let _ = writeln!(w, "    </interface>");
        let _ = writeln!(w, "    <serial type='pty'>");
        let _ = writeln!(w, "      <target port='0'/>");
        let _ = writeln!(w, "    </serial>");
        let _ = writeln!(w, "    <console type='pty'>");
        let _ = writeln!(w, "      <target type='serial' port='0'/>");
        let _ = writeln!(w, "    </console>");
        let _ = writeln!(w, "    <video>");
        let _ = writeln!(w, "      <model type='none'/>");
        let _ = writeln!(w, "    </video>");
        let _ = writeln!(w, "    <memballoon model='none'/>");
        let _ = writeln!(w, "  </devices>");
        let _ = writeln!(w, "</domain>");
        Ok(x)
    }
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
