//! systemd-networkd for the two NICs by role (§24, §26), and the libvirt network on the VM bridge.
//!
//! The libvirt network is defined at first boot from `/usr/share/forja/libvirt/pexip-network.xml` (libvirt
//! rewrites its own copy under /etc, so the self-check guards ours).
//!
//! The management NIC gets the profile's static address and nothing else (no DHCP, no router advertisements).
//! The VM NIC is enslaved to a bridge; neither carries a host address: no IPv4, no IPv6 link-local, no SLAAC,
//! no DAD. The NICs are renamed by MAC so that every other file (firewall, sysctl) can name them.

use indoc::formatdoc;

use super::syntax::word;
use super::{GenFile, MGMT_IF, VM_IF};
use crate::profile::Loaded;

const R_STATIC: &str = "1616-4.5.b";
const R_TWO_NICS: &str = "1616-4.5.c";
const R_NO_HOST_ADDRESS: &str = "1616-4.5.d";

pub fn files(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let n = &l.profile.network;
    let h = &l.profile.host;
    let bridge = word("network.vm.bridge", &n.vm.bridge)?;
    let host = word("host.hostname", &h.hostname)?;
    let domain = word("host.domain", &h.domain)?;
    let mut out = Vec::new();
    out.push(GenFile::text(
        "/etc/systemd/network/10-mgmt.link",
        0o644,
        formatdoc! {"
            # forja: the management NIC, by MAC (§26)
            [Match]
            MACAddress={mac}
            [Link]
            Name={MGMT_IF}
        ", mac = n.management.mac},
        &[R_TWO_NICS],
    ));
    out.push(GenFile::text(
        "/etc/systemd/network/10-vm.link",
        0o644,
        formatdoc! {"
            # forja: the NIC for the Pexip VMs, by MAC (§26)
            [Match]
            MACAddress={mac}
            [Link]
            Name={VM_IF}
        ", mac = n.vm.mac},
        &[R_TWO_NICS],
    ));
    let address = n
        .management
        .address
        .static_cidr()
        .map(|c| format!("Address={c}\n"))
        .unwrap_or_default();
    let gateway = n
        .management
        .gateway
        .map(|g| format!("Gateway={g}\n"))
        .unwrap_or_default();
    let dns: String = n
        .management
        .dns
        .iter()
        .map(|d| format!("DNS={d}\n"))
        .collect();
    out.push(GenFile::text(
        "/etc/systemd/network/20-mgmt.network",
        0o644,
        formatdoc! {"
            # forja: static management address only (§24)
            [Match]
            Name={MGMT_IF}
            [Network]
            DHCP=no
            IPv6AcceptRA=no
            LinkLocalAddressing=no
            {address}{gateway}{dns}Domains={domain}
        "},
        &[R_STATIC, R_TWO_NICS],
    ));
    out.push(GenFile::text(
        &format!("/etc/systemd/network/30-{bridge}.netdev"),
        0o644,
        formatdoc! {"
            # forja: the bridge the Pexip VMs attach to (§26)
            [NetDev]
            Name={bridge}
            Kind=bridge
            [Bridge]
            STP=no
        "},
        &[R_TWO_NICS],
    ));
    out.push(GenFile::text(
        "/etc/systemd/network/31-vm-port.network",
        0o644,
        formatdoc! {"
            # forja: the VM NIC is only a bridge port: no host address of any kind (§26)
            [Match]
            Name={VM_IF}
            [Network]
            Bridge={bridge}
            DHCP=no
            IPv6AcceptRA=no
            LinkLocalAddressing=no
            [Link]
            RequiredForOnline=no
        "},
        &[R_TWO_NICS, R_NO_HOST_ADDRESS],
    ));
    out.push(GenFile::text(
        &format!("/etc/systemd/network/32-{bridge}.network"),
        0o644,
        formatdoc! {"
            # forja: the bridge carries the VMs' traffic and no host address (§26)
            [Match]
            Name={bridge}
            [Network]
            DHCP=no
            IPv6AcceptRA=no
            LinkLocalAddressing=no
            ConfigureWithoutCarrier=yes
            [Link]
            RequiredForOnline=no
        "},
        &[R_TWO_NICS, R_NO_HOST_ADDRESS],
    ));
    let resolv: String = n
        .management
        .dns
        .iter()
        .map(|d| format!("nameserver {d}\n"))
        .collect();
    out.push(GenFile::text(
        "/etc/resolv.conf",
        0o644,
        format!("# forja: static resolvers of the management network\nsearch {domain}\n{resolv}"),
        &[R_STATIC],
    ));
    out.push(GenFile::text(
        "/usr/share/forja/libvirt/pexip-network.xml",
        0o644,
        formatdoc! {"
            <!-- forja: the Pexip VMs attach to the host bridge; libvirt adds no address, DHCP or NAT (§26) -->
            <network>
              <name>pexip</name>
              <forward mode='bridge'/>
              <bridge name='{bridge}'/>
            </network>
        "},
        &[R_TWO_NICS],
    ));
    out.push(GenFile::wants(
        "multi-user.target",
        "systemd-networkd.service",
        "/lib/systemd/system",
    ));
    out.push(GenFile::wants(
        "sockets.target",
        "systemd-networkd.socket",
        "/lib/systemd/system",
    ));
    out.push(GenFile::text(
        "/etc/hostname",
        0o644,
        format!("{host}\n"),
        &[],
    ));
    let mgmt_ip = n
        .management
        .address
        .static_cidr()
        .map(|c| c.addr.to_string())
        .unwrap_or_else(|| "127.0.1.1".into());
    out.push(GenFile::text(
        "/etc/hosts",
        0o644,
        format!(
            "127.0.0.1\tlocalhost\n{mgmt_ip}\t{host}.{domain}\t{host}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
        &[],
    ));
    Ok(out)
}
