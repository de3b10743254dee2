//! Kernel network settings (the spirit of §34's answers, applied to the host itself): no ICMP redirects, no source routing,
//! reverse-path filtering, ignore multicast/broadcast echo, and no IPv6 at all on the VM bridge and its port.
//!
//! Per-interface keys work because systemd's udev rules re-run systemd-sysctl for each interface as it appears,
//! which matters for the bridge: networkd creates it after the boot-time sysctl pass.

use super::{GenFile, MGMT_IF, VM_IF};
use crate::profile::Loaded;

/// The host's own hardening (§22, §25). The securitywizard answers these settings mirror (§34: `1616-5.1.c`,
/// `e`, `f`) are answered on the Management Node, so this file is not cited for them.
const R_HOST: &str = "1616-4.5.a";

/// The settings as (key, value), in the order written. The boot test reads them back.
pub fn settings(l: &Loaded) -> anyhow::Result<Vec<(String, String)>> {
    let bridge = super::syntax::word("network.vm.bridge", &l.profile.network.vm.bridge)?;
    let mut v: Vec<(String, String)> = [
        ("net.ipv4.conf.all.accept_redirects", "0"),
        ("net.ipv4.conf.default.accept_redirects", "0"),
        ("net.ipv4.conf.all.secure_redirects", "0"),
        ("net.ipv4.conf.default.secure_redirects", "0"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
        ("net.ipv6.conf.all.accept_redirects", "0"),
        ("net.ipv6.conf.default.accept_redirects", "0"),
        ("net.ipv4.conf.all.accept_source_route", "0"),
        ("net.ipv4.conf.default.accept_source_route", "0"),
        ("net.ipv6.conf.all.accept_source_route", "0"),
        ("net.ipv6.conf.default.accept_source_route", "0"),
        ("net.ipv4.conf.all.rp_filter", "1"),
        ("net.ipv4.conf.default.rp_filter", "1"),
        ("net.ipv4.icmp_echo_ignore_broadcasts", "1"),
        ("net.ipv6.icmp.echo_ignore_multicast", "1"),
        ("net.ipv6.conf.all.accept_ra", "0"),
        ("net.ipv6.conf.default.accept_ra", "0"),
        ("net.ipv6.conf.default.accept_dad", "0"),
        ("net.ipv4.conf.all.log_martians", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for ifname in [bridge.as_str(), VM_IF] {
        v.push((format!("net.ipv6.conf.{ifname}.disable_ipv6"), "1".into()));
        v.push((format!("net.ipv6.conf.{ifname}.accept_dad"), "0".into()));
        v.push((format!("net.ipv4.conf.{ifname}.arp_ignore"), "8".into()));
    }
    v.push((format!("net.ipv6.conf.{MGMT_IF}.accept_ra"), "0".into()));
    Ok(v)
}

pub fn files(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let mut body = String::from("# forja: network hardening (generated from the profile)\n");
    for (k, v) in settings(l)? {
        body.push_str(&format!("{k} = {v}\n"));
    }
    Ok(vec![GenFile::text(
        "/etc/sysctl.d/60-forja.conf",
        0o644,
        body,
        &[R_HOST],
    )])
}
