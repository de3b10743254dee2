//! nftables: default drop in every direction the host itself uses, drop rather than reject (§34 spirit).
//!
//! Host services listen only on the management NIC (SSH, only if enabled, and only from the admin networks).
//! Outbound, the host may reach its DNS, NTP and syslog servers on the management NIC and nothing else. The host
//! routes nothing: the forward chain drops.
//!
//! Deliberately not here: filtering of bridged VM traffic, IPsec between the Pexip nodes (§59) included. The
//! Pexip VMs carry their own firewall, which the guide says not to change (§53–54); the host loads no
//! br_netfilter and has no bridge table, so bridged frames never reach these chains and ESP and IKE between the
//! VMs cross the bridge untouched (the boot report checks both). Allowing them in the site's firewalls is the
//! operator's step of rule 1616-4.2.

use std::fmt::Write;

use super::{GenFile, MGMT_IF};
use crate::profile::Loaded;

const R_FIREWALL: &str = "1616-5.5.a";
const R_IPSEC: &str = "1616-5.6.a";

pub fn files(l: &Loaded) -> Vec<GenFile> {
    vec![
        GenFile::text(
            "/etc/nftables.conf",
            0o755,
            ruleset(l),
            &[R_FIREWALL, R_IPSEC],
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

pub fn ruleset(l: &Loaded) -> String {
    let p = &l.profile;
    let mut s = String::new();
    let admin = admin_sources(l).join(", ");
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
    s.push_str("    # the host routes nothing; bridged VM traffic never reaches this chain (no br_netfilter)\n  }\n\n");
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
