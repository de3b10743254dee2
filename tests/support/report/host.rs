//! Checks of the running system: systemd, the two NICs by role, the firewall, the sysctls.

use super::*;

pub(super) fn check_systemd(r: &Report, e: &Expected, o: &mut Out) {
    let s = &r.systemd;
    if s.multi_user != "active" {
        o.fail(
            "systemd",
            format!("multi-user.target is {:?}; expected active", s.multi_user),
        );
    }
    if !s.failed_units.is_empty() {
        o.fail(
            "systemd",
            format!("failed units: {}", list(&s.failed_units)),
        );
    }
    if !s.pending_jobs.is_empty() {
        o.fail(
            "systemd",
            format!("boot jobs still pending: {}", list(&s.pending_jobs)),
        );
    }
    let fb = "forja-firstboot.service";
    let (active, result, cond) = (
        unit(r, fb, "ActiveState"),
        unit(r, fb, "Result"),
        unit(r, fb, "ConditionResult"),
    );
    match e.boot {
        BootKind::First => {
            if !(active == "active" && result == "success" && cond == "yes") {
                o.fail(
                    "firstboot",
                    format!(
                        "{fb} on the first boot: ActiveState={active} Result={result} ConditionResult={cond}; expected active, success, yes"
                    ),
                );
            }
        }
        BootKind::Again => {
            if cond != "no" || active == "active" {
                o.fail(
                    "firstboot",
                    format!(
                        "{fb} on a later boot: ActiveState={active} ConditionResult={cond}; expected it skipped by its condition (ConditionResult=no, not active)"
                    ),
                );
            }
        }
    }
}

fn link<'a>(r: &'a Report, name: &str) -> Option<&'a Link> {
    r.net
        .addr
        .as_ref()
        .and_then(|v| v.iter().find(|l| l.ifname == name))
}

pub(super) fn check_network(r: &Report, e: &Expected, o: &mut Out) {
    let Some(links) = &r.net.addr else {
        o.fail("network", "`ip -j addr` output missing from the report");
        return;
    };
    match link(r, &e.mgmt_if) {
        None => o.fail(
            "network",
            format!(
                "no management NIC {} (links: {})",
                e.mgmt_if,
                list(&links.iter().map(|l| l.ifname.clone()).collect::<Vec<_>>())
            ),
        ),
        Some(m) => {
            if m.address.as_deref() != Some(e.mgmt_mac.as_str()) {
                o.fail(
                    "network",
                    format!(
                        "management NIC {} has MAC {}; expected {}",
                        e.mgmt_if,
                        m.address.as_deref().unwrap_or("none"),
                        e.mgmt_mac
                    ),
                );
            }
            let have: Vec<String> = m.addr_info.iter().map(AddrInfo::cidr).collect();
            if have != [e.mgmt_address.clone()] {
                o.fail(
                    "network",
                    format!(
                        "management NIC {} has {}; expected exactly {}",
                        e.mgmt_if,
                        list(&have),
                        e.mgmt_address
                    ),
                );
            }
        }
    }
    match link(r, &e.bridge) {
        None => o.fail("network", format!("VM bridge {} does not exist", e.bridge)),
        Some(b) => {
            let kind = b.linkinfo.as_ref().and_then(|i| i.info_kind.as_deref());
            if kind != Some("bridge") {
                o.fail(
                    "network",
                    format!(
                        "{} is a {}; expected a bridge",
                        e.bridge,
                        kind.unwrap_or("link of unknown kind")
                    ),
                );
            }
            no_host_address(b, "VM bridge", o);
        }
    }
    match link(r, &e.vm_if) {
        None => o.fail("network", format!("no VM NIC {}", e.vm_if)),
        Some(v) => {
            if v.address.as_deref() != Some(e.vm_mac.as_str()) {
                o.fail(
                    "network",
                    format!(
                        "VM NIC {} has MAC {}; expected {}",
                        e.vm_if,
                        v.address.as_deref().unwrap_or("none"),
                        e.vm_mac
                    ),
                );
            }
            if v.master.as_deref() != Some(e.bridge.as_str()) {
                o.fail(
                    "network",
                    format!(
                        "VM NIC {} is enslaved to {}; expected bridge {}",
                        e.vm_if,
                        v.master.as_deref().unwrap_or("nothing"),
                        e.bridge
                    ),
                );
            }
            no_host_address(v, "VM NIC", o);
        }
    }
    let routes: Vec<&Route> = r
        .net
        .route4
        .iter()
        .chain(r.net.route6.iter())
        .flatten()
        .collect();
    for rt in &routes {
        let dev = rt.dev.as_deref().unwrap_or("");
        if rt.dst == "default" && (dev == e.vm_if || dev == e.bridge) {
            o.fail(
                "network",
                format!(
                    "default route via {dev}{} (table {}); the VM NIC must carry no host route",
                    rt.gateway
                        .as_deref()
                        .map(|g| format!(" gateway {g}"))
                        .unwrap_or_default(),
                    rt.table.as_deref().unwrap_or("main")
                ),
            );
        }
    }
    if r.net.route4.is_none() {
        o.fail("network", "`ip -j -4 route` output missing from the report");
    }
    if let Some(gw) = &e.mgmt_gateway {
        let ok = routes.iter().any(|rt| {
            rt.dst == "default"
                && rt.gateway.as_deref() == Some(gw)
                && rt.dev.as_deref() == Some(&e.mgmt_if)
        });
        if !ok {
            o.fail(
                "network",
                format!("no default route via {gw} on {}", e.mgmt_if),
            );
        }
    }
    let ssh: Vec<String> = r
        .net
        .listening_tcp
        .iter()
        .filter(|a| a.rsplit(':').next() == Some("22"))
        .cloned()
        .collect();
    if !e.ssh_enabled && !ssh.is_empty() {
        o.fail(
            "network",
            format!(
                "SSH is listening on {} but the profile disables it",
                list(&ssh)
            ),
        );
    }
    if e.ssh_enabled && ssh.is_empty() {
        o.fail(
            "network",
            "the profile enables SSH but nothing listens on TCP 22",
        );
    }
}

fn no_host_address(l: &Link, what: &str, o: &mut Out) {
    let bad: Vec<String> = l
        .addr_info
        .iter()
        .filter(|a| a.is_v4() || a.is_global_v6())
        .map(AddrInfo::cidr)
        .collect();
    if !bad.is_empty() {
        o.fail(
            "network",
            format!(
                "{what} {} has host address {}; expected no IPv4 and no global IPv6 address",
                l.ifname,
                list(&bad)
            ),
        );
    }
}

pub(super) fn check_firewall(r: &Report, _e: &Expected, o: &mut Out) {
    let Some(items) = r
        .nft
        .as_ref()
        .and_then(|v| v.get("nftables"))
        .and_then(Value::as_array)
    else {
        o.fail(
            "firewall",
            "no nftables ruleset in the report (`nft -j list ruleset` failed or printed nothing)",
        );
        return;
    };
    let chains: Vec<&Value> = items.iter().filter_map(|i| i.get("chain")).collect();
    let input = chains
        .iter()
        .find(|c| c["family"] == "inet" && c["table"] == "forja" && c["hook"] == "input");
    let Some(input) = input else {
        o.fail(
            "firewall",
            "table inet forja has no chain on the input hook (ruleset not loaded?)",
        );
        return;
    };
    if input["policy"] != "drop" {
        o.fail(
            "firewall",
            format!(
                "inet forja input chain {} has policy {}; expected drop",
                input["name"], input["policy"]
            ),
        );
    }
    let name = input["name"].clone();
    let rejects = items
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter(|ru| ru["family"] == "inet" && ru["table"] == "forja" && ru["chain"] == name)
        .filter(|ru| ru.to_string().contains("\"reject\""))
        .count();
    if rejects > 0 {
        o.fail(
            "firewall",
            format!(
                "inet forja input chain has {rejects} reject rule(s); closed ports must drop silently"
            ),
        );
    }
}

pub(super) fn check_sysctl(r: &Report, e: &Expected, o: &mut Out) {
    for (k, want) in &e.sysctl {
        match r.sysctl.get(k) {
            None => o.fail(
                "sysctl",
                format!("{k} not reported: no /etc/sysctl.d file sets it; expected {want}"),
            ),
            Some(None) => o.fail(
                "sysctl",
                format!("{k} does not exist in the running kernel; expected {want}"),
            ),
            Some(Some(have)) => {
                let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
                if norm(have) != norm(want) {
                    o.fail("sysctl", format!("{k} = {have}; expected {want}"));
                }
            }
        }
    }
}
