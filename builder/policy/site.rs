//! Checks across the hosts of a site, which no single host's profile can make: no two hosts or nodes share a
//! hostname, an address, a MAC or a node name; the conferencing nodes of one location agree on its gateway and
//! network; each host's VMs fit the capacity its entry declares (§27).
//!
//! Each problem names both hosts and where each value is written (`file:line:col`). A site with a problem
//! cannot be built as written (two machines would answer on one address), so these are input errors (exit 2),
//! not guide rules; each host's guide rules are still evaluated per host by [`super::evaluate`].

use std::collections::BTreeMap;
use std::fmt;

use crate::profile::Loaded;
use crate::profile::load::FieldPath;
use crate::profile::site::{Site, capacity_needed, member};

/// One thing that is wrong across hosts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteProblem {
    /// `duplicate-address`, `duplicate-mac`, `duplicate-hostname`, `duplicate-node`, `location-gateway`,
    /// `location-network`, `capacity`, `duplicate-serial`.
    pub kind: &'static str,
    pub message: String,
}

impl fmt::Display for SiteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// Refuses a site with any cross-host problem (exit 2), listing every one.
pub fn require_clean(site: &Site) -> anyhow::Result<()> {
    let problems = check(site);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Err(crate::error::fail(
        crate::error::Exit::Input,
        format!(
            "{}: site `{}`: {} problem(s) across hosts:\n{}",
            site.path.display(),
            site.name(),
            problems.len(),
            lines.join("\n")
        ),
    ))
}

/// A value some host declares, and where.
struct Claim<'a> {
    host: &'a Loaded,
    field: String,
}

impl Claim<'_> {
    fn describe(&self) -> String {
        format!(
            "host `{}` {} ({})",
            member(self.host).host,
            self.field,
            self.host.locate(&FieldPath::parse(&self.field))
        )
    }
}

/// Every cross-host problem of the site, in a stable order.
pub fn check(site: &Site) -> Vec<SiteProblem> {
    let mut out = Vec::new();
    let mut names: BTreeMap<(&'static str, String), Vec<Claim>> = BTreeMap::new();
    for h in &site.hosts {
        for (kind, value, field) in identities(h) {
            names
                .entry((kind, value))
                .or_default()
                .push(Claim { host: h, field });
        }
    }
    for ((kind, value), claims) in &names {
        for pair in claims.windows(2) {
            out.push(SiteProblem {
                kind,
                message: format!(
                    "{value} is declared twice: {} and {}",
                    pair[0].describe(),
                    pair[1].describe()
                ),
            });
        }
    }
    out.extend(locations(site));
    out.extend(site.hosts.iter().filter_map(capacity));
    out
}

/// (kind, value, field) of every name, address and MAC a host declares. The Management Node counts only for the
/// host that runs it (every host's profile carries it).
fn identities(h: &Loaded) -> Vec<(&'static str, String, String)> {
    let p = &h.profile;
    let m = member(h);
    let mut v = vec![
        (
            "duplicate-hostname",
            p.host.hostname.to_ascii_lowercase(),
            "host.hostname".to_owned(),
        ),
        (
            "duplicate-mac",
            p.network.management.mac.to_string(),
            "network.management.mac".into(),
        ),
        (
            "duplicate-mac",
            p.network.vm.mac.to_string(),
            "network.vm.mac".into(),
        ),
    ];
    if let Some(serial) = &m.serial {
        v.push(("duplicate-serial", serial.clone(), "serial".into()));
    }
    let addr = |v: &mut Vec<_>, a: Option<crate::profile::net::Cidr>, field: String| {
        if let Some(c) = a {
            v.push(("duplicate-address", c.addr.to_string(), field));
        }
    };
    addr(
        &mut v,
        p.network.management.address.static_cidr(),
        "network.management.address".into(),
    );
    addr(
        &mut v,
        p.network.vm.address.as_ref().and_then(|a| a.static_cidr()),
        "network.vm.address".into(),
    );
    if m.runs_management {
        let n = &p.pexip.management;
        addr(
            &mut v,
            n.address.static_cidr(),
            "pexip.management.address".into(),
        );
        push_node(&mut v, &n.name, &n.hostname, n.mac, "pexip.management");
    }
    for (i, n) in p.pexip.conferencing.iter().enumerate() {
        addr(
            &mut v,
            n.address.static_cidr(),
            format!("pexip.conferencing[{i}].address"),
        );
        push_node(
            &mut v,
            &n.name,
            &n.hostname,
            n.mac,
            &format!("pexip.conferencing[{i}]"),
        );
    }
    v
}

fn push_node(
    v: &mut Vec<(&'static str, String, String)>,
    name: &str,
    hostname: &str,
    mac: Option<crate::profile::net::Mac>,
    at: &str,
) {
    v.push(("duplicate-node", name.to_owned(), format!("{at}.name")));
    v.push((
        "duplicate-hostname",
        hostname.to_ascii_lowercase(),
        format!("{at}.hostname"),
    ));
    if let Some(mac) = mac {
        v.push(("duplicate-mac", mac.to_string(), format!("{at}.mac")));
    }
}

/// The conferencing nodes of one location share its gateway and its network.
fn locations(site: &Site) -> Vec<SiteProblem> {
    let mut by_location: BTreeMap<&str, Vec<(&Loaded, usize)>> = BTreeMap::new();
    for h in &site.hosts {
        for (i, n) in h.profile.pexip.conferencing.iter().enumerate() {
            by_location.entry(&n.location).or_default().push((h, i));
        }
    }
    let mut out = Vec::new();
    for (location, nodes) in by_location {
        let (h0, i0) = nodes[0];
        let first = &h0.profile.pexip.conferencing[i0];
        let claim = |h: &Loaded, i: usize, what: &str| {
            Claim {
                host: h,
                field: format!("pexip.conferencing[{i}].{what}"),
            }
            .describe()
        };
        for &(h, i) in &nodes[1..] {
            let n = &h.profile.pexip.conferencing[i];
            if n.gateway != first.gateway {
                out.push(SiteProblem {
                    kind: "location-gateway",
                    message: format!(
                        "location `{location}` has two gateways: {} in {} and {} in {}",
                        first.gateway,
                        claim(h0, i0, "gateway"),
                        n.gateway,
                        claim(h, i, "gateway")
                    ),
                });
            }
            let net = |a: &crate::profile::net::AddressMode| {
                a.static_cidr()
                    .map(|c| (c.prefix, network_of(c.addr, c.prefix)))
            };
            if let (Some(a), Some(b)) = (net(&first.address), net(&n.address))
                && a != b
            {
                out.push(SiteProblem {
                    kind: "location-network",
                    message: format!(
                        "location `{location}` spans two networks: {}/{} in {} and {}/{} in {}",
                        a.1,
                        a.0,
                        claim(h0, i0, "address"),
                        b.1,
                        b.0,
                        claim(h, i, "address")
                    ),
                });
            }
        }
    }
    out
}

fn network_of(addr: std::net::IpAddr, prefix: u8) -> std::net::IpAddr {
    match addr {
        std::net::IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            std::net::IpAddr::V4((u32::from(a) & mask).into())
        }
        std::net::IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            std::net::IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// The host's VMs fit what its entry declares.
fn capacity(h: &Loaded) -> Option<SiteProblem> {
    let m = member(h);
    let (cpus, memory, disk) = capacity_needed(h);
    let c = m.capacity;
    let mut short = Vec::new();
    if cpus > u64::from(c.cpus) {
        short.push(format!(
            "{cpus} CPUs (1 for the host + one per pinned vCPU) > cpus = {}",
            c.cpus
        ));
    }
    if memory > c.memory_mb {
        short.push(format!(
            "{memory} MB (1024 for the host + the reservations) > memory-mb = {}",
            c.memory_mb
        ));
    }
    if disk > c.vmstore_gb {
        short.push(format!(
            "{disk} GB of VM disks > vmstore-gb = {}",
            c.vmstore_gb
        ));
    }
    (!short.is_empty()).then(|| SiteProblem {
        kind: "capacity",
        message: format!(
            "host `{}` ({}) cannot hold the nodes it runs (§27): {}",
            m.host,
            h.locate(&FieldPath::parse(&format!("hosts[{}].capacity", m.index))),
            short.join("; ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_masked_by_prefix() {
        let a: std::net::IpAddr = "198.51.100.21".parse().unwrap();
        assert_eq!(network_of(a, 24).to_string(), "198.51.100.0");
        assert_eq!(network_of(a, 0).to_string(), "0.0.0.0");
        assert_eq!(network_of(a, 32).to_string(), "198.51.100.21");
    }
}
