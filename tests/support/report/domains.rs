//! Checks of the Pexip domains libvirt holds (§27: pinned vCPUs, locked memory; §30: fixed boot order).

use super::*;

/// `<tag ...>TEXT</tag>`'s attributes and text, for the first `tag`.
fn xml_elem<'a>(xml: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(i) = xml[from..].find(&open) {
        let i = from + i;
        let after = &xml[i + open.len()..];
        if after.starts_with(['>', ' ', '/', '\t', '\n']) {
            let gt = after.find('>')?;
            let attrs = &after[..gt];
            if attrs.ends_with('/') {
                return Some((attrs.trim_end_matches('/'), ""));
            }
            let body = &after[gt + 1..];
            let close = format!("</{tag}>");
            let end = body.find(&close)?;
            return Some((attrs, &body[..end]));
        }
        from = i + open.len();
    }
    None
}

fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    for q in ['\'', '"'] {
        let pat = format!("{name}={q}");
        if let Some(i) = attrs.find(&pat) {
            let rest = &attrs[i + pat.len()..];
            return rest.find(q).map(|j| &rest[..j]);
        }
    }
    None
}

/// Memory in MiB from a libvirt `<memory unit='KiB'>` element.
fn mib(attrs: &str, text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?;
    let kib = match attr(attrs, "unit").unwrap_or("KiB") {
        "b" | "bytes" => n / 1024,
        "KiB" | "k" => n,
        "MiB" | "M" => n * 1024,
        "GiB" | "G" => n * 1024 * 1024,
        _ => return None,
    };
    Some(kib / 1024)
}

pub(super) fn check_domains(r: &Report, e: &Expected, o: &mut Out) {
    if !r.libvirt.error.is_empty() {
        o.fail("domains", format!("virsh: {}", r.libvirt.error));
    }
    // A host defines its own nodes and nothing else: a site's host never carries another host's domains.
    for d in &r.libvirt.domains {
        if !e.domains.iter().any(|w| w.name == d.name) {
            o.fail(
                "domains",
                format!(
                    "domain {} is defined but is not one of this host's nodes ({})",
                    d.name,
                    list(&e.domains.iter().map(|w| w.name.clone()).collect::<Vec<_>>())
                ),
            );
        }
    }
    for want in &e.domains {
        let Some(d) = r.libvirt.domains.iter().find(|d| d.name == want.name) else {
            o.fail(
                "domains",
                format!(
                    "domain {} is not defined (defined: {})",
                    want.name,
                    list(
                        &r.libvirt
                            .domains
                            .iter()
                            .map(|d| d.name.clone())
                            .collect::<Vec<_>>()
                    )
                ),
            );
            continue;
        };
        let n = &d.name;
        // forja-nodes starts the VMs only on a host whose capacity check passed (§27, §29); whether it ran is
        // its condition's result (check_capacity ties that to the capacity check).
        let started = unit(r, "forja-nodes.service", "ConditionResult") == "yes";
        let want_state = if started { "running" } else { "shut off" };
        if d.state != want_state {
            o.fail(
                "domains",
                format!(
                    "domain {n} is {}; expected {want_state} ({})",
                    d.state,
                    if started {
                        "forja-nodes ran, so it started it"
                    } else {
                        "defined, not started: the capacity check did not pass"
                    }
                ),
            );
        }
        if !d.xml.contains("<bootmenu enable='no'/>") {
            o.fail(
                "domains",
                format!("domain {n} has a boot menu (§30: no <bootmenu enable='no'/>)"),
            );
        }
        if d.autostart.eq_ignore_ascii_case("enable") {
            o.fail("domains", format!("domain {n} has autostart enabled"));
        }
        let vcpus = xml_elem(&d.xml, "vcpu").and_then(|(_, t)| t.trim().parse::<u32>().ok());
        if vcpus != Some(want.vcpus) {
            o.fail(
                "domains",
                format!(
                    "domain {n} has {} vCPUs; expected {}",
                    vcpus.map(|v| v.to_string()).unwrap_or("no".into()),
                    want.vcpus
                ),
            );
        }
        let mem = xml_elem(&d.xml, "memory").and_then(|(a, t)| mib(a, t));
        if mem != Some(want.memory_mib) {
            o.fail(
                "domains",
                format!(
                    "domain {n} has {} MiB of memory; expected {}",
                    mem.map(|v| v.to_string()).unwrap_or("no".into()),
                    want.memory_mib
                ),
            );
        }
        if want.pinned {
            check_pinning(d, want, o);
        }
    }
}

/// §27: every vCPU pinned, memory locked.
fn check_pinning(d: &Domain, want: &ExpectedDomain, o: &mut Out) {
    let n = &d.name;
    let pinned: BTreeSet<u32> = d
        .xml
        .match_indices("<vcpupin ")
        .filter_map(|(i, _)| {
            let rest = &d.xml[i..];
            let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
            attr(tag, "vcpu")
                .and_then(|v| v.parse().ok())
                .filter(|_| attr(tag, "cpuset").is_some())
        })
        .collect();
    let missing: Vec<String> = (0..want.vcpus)
        .filter(|i| !pinned.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        o.fail(
            "domains",
            format!(
                "domain {n}: vCPU {} not pinned (no <vcpupin>)",
                list(&missing)
            ),
        );
    }
    let locked = xml_elem(&d.xml, "memoryBacking")
        .map(|(_, body)| body.contains("<locked/>"))
        .unwrap_or(false);
    if !locked {
        o.fail(
            "domains",
            format!("domain {n}: memory not locked (no <memoryBacking><locked/>)"),
        );
    }
}
