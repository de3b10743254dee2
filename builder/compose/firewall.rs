//! nftables: default drop in every direction the host itself uses, drop rather than reject (§34 spirit).
//!
//! Host services listen only on the management NIC (SSH, only if enabled, and only from the admin networks).
//! Outbound, the host may reach its DNS, NTP and syslog servers on the management NIC and nothing else. IPsec
//! between Pexip nodes (ESP, IKE on UDP 500, NAT-T on 4500; §59) is accepted where the host forwards.
//!
//! Deliberately not here: filtering of bridged VM traffic. The Pexip VMs carry their own firewall, which the
//! guide says not to change (§53–54); the host loads no br_netfilter, so bridged frames never reach these chains.

use std::fmt::Write;

use super::{GenFile, MGMT_IF};
use crate::profile::Loaded;

const R_FIREWALL: &str = "1616-5.5.a";
const R_DROP: &str = "1616-5.1.d";
const R_IPSEC: &str = "1616-5.6.a";

pub fn files(l: &Loaded) -> Vec<GenFile> {
    vec![
        GenFile::text(
            "/etc/nftables.conf",
            0o755,
            ruleset(l),
            &[R_FIREWALL, R_DROP, R_IPSEC],
        ),
        GenFile::wants("sysinit.target", "nftables.service", "/lib/systemd/system"),
    ]
}

fn admin_sources(l: &Loaded) -> Vec<String> {
    let m = &l.profile.network.management;
    if !m.admin_networks.is_empty() {
        return m.admin_networks.iter().map(|c| c.to_string()).collect();
    }
    m.address
        .static_cidr()
        .map(|c| vec![c.to_string()])
        .unwrap_or_default()
}

fn node_addresses(l: &Loaded) -> Vec<String> {
    let p = &l.profile.pexip;
    std::iter::once(&p.management.address)
        .chain(p.conferencing.iter().map(|c| &c.address))
        .filter_map(|a| a.static_cidr())
        .filter(|c| c.addr.is_ipv4())
        .map(|c| c.addr.to_string())
        .collect()
}

pub fn ruleset(l: &Loaded) -> String {
    let p = &l.profile;
    let mut s = String::new();
    let admin = admin_sources(l).join(", ");
    let nodes = node_addresses(l).join(", ");
    let dns: Vec<String> = p
        .network
        .management
        .dns
        .iter()
        .filter(|d| d.is_ipv4())
        .map(|d| d.to_string())
        .collect();
    s.push_str("#!/usr/sbin/nft -f\n# forja: host firewall (generated from the profile; checked by forja-selfcheck)\n");
    s.push_str("flush ruleset\n\ntable inet forja {\n");
    s.push_str("  chain input {\n    type filter hook input priority filter; policy drop;\n");
    s.push_str("    ct state established,related accept\n    ct state invalid drop\n    iif \"lo\" accept\n");
    let _ = writeln!(
        s,
        "    iifname \"{MGMT_IF}\" icmp type {{ echo-request, destination-unreachable, time-exceeded, parameter-problem }} ip saddr {{ {admin} }} accept"
    );
    if p.host.ssh.enabled {
        let _ = writeln!(
            s,
            "    iifname \"{MGMT_IF}\" tcp dport 22 ip saddr {{ {admin} }} accept"
        );
    }
    s.push_str("    # everything else is dropped silently: no reject, no ICMP answer\n  }\n\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy drop;\n");
    s.push_str("    ct state established,related accept\n");
    if !nodes.is_empty() {
        let _ = writeln!(
            s,
            "    # IPsec between Pexip nodes (§59)\n    ip saddr {{ {nodes} }} ip daddr {{ {nodes} }} meta l4proto esp accept\n    ip saddr {{ {nodes} }} ip daddr {{ {nodes} }} udp dport {{ 500, 4500 }} accept"
        );
    }
    s.push_str("  }\n\n");
    s.push_str("  chain output {\n    type filter hook output priority filter; policy drop;\n");
    s.push_str("    ct state established,related accept\n    oif \"lo\" accept\n");
    if !dns.is_empty() {
        let _ = writeln!(
            s,
            "    oifname \"{MGMT_IF}\" ip daddr {{ {} }} meta l4proto {{ udp, tcp }} th dport 53 accept",
            dns.join(", ")
        );
    }
    let _ = writeln!(s, "    oifname \"{MGMT_IF}\" udp dport 123 accept");
    if let Some(sys) = &p.host.syslog {
        let _ = writeln!(s, "    oifname \"{MGMT_IF}\" tcp dport {} accept", sys.port);
    }
    let _ = writeln!(
        s,
        "    oifname \"{MGMT_IF}\" icmp type {{ echo-request, destination-unreachable, time-exceeded, parameter-problem }} accept"
    );
    s.push_str("  }\n}\n");
    s
}
