//! A site profile (`profiles/lab-site.toml`): it loads into one profile per host, passes `forja check`, and every
//! clash across hosts fails naming both hosts with the file:line of each value.

#[path = "support/run.rs"]
mod run;
#[path = "support/site_files.rs"]
mod site_files;

use std::path::{Path, PathBuf};

use forja::profile::SecretsNeed;
use forja::profile::load::FieldPath;
use forja::profile::site::{load_site, member};
use run::forja;

/// A private copy of the lab site with its inputs (test CA, stand-in images).
fn lab_site() -> (tempfile::TempDir, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().unwrap();
    for f in ["lab-site.toml", "lab-site.secrets.toml"] {
        std::fs::copy(repo.join("profiles").join(f), d.path().join(f)).unwrap();
    }
    site_files::lab_inputs(d.path());
    let p = d.path().join("lab-site.toml");
    (d, p)
}

fn edit(p: &Path, from: &str, to: &str) {
    let t = std::fs::read_to_string(p).unwrap();
    assert_eq!(t.matches(from).count(), 1, "{from:?} must occur once");
    std::fs::write(p, t.replacen(from, to, 1)).unwrap();
}

/// `file:line:col` of the first occurrence of `needle` (at the start of its value, as the loader reports it).
fn at(p: &Path, needle: &str, value_of: &str) -> String {
    let t = std::fs::read_to_string(p).unwrap();
    let off = t
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not found"));
    let off = off + needle.find(value_of).unwrap();
    let line = t[..off].matches('\n').count() + 1;
    let col = off - t[..off].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{col}", p.display())
}

#[test]
fn lab_site_expands_into_one_profile_per_host() {
    let (_d, p) = lab_site();
    let site = load_site(&p, SecretsNeed::Required).unwrap();
    assert_eq!(site.name(), "lab-site");
    let names: Vec<&str> = site.hosts.iter().map(|h| member(h).host.as_str()).collect();
    assert_eq!(names, ["kvm-lab-1", "kvm-lab-2"]);
    let (h1, h2) = (&site.hosts[0], &site.hosts[1]);
    assert!(member(h1).runs_management && !member(h2).runs_management);
    assert_eq!(h1.profile.host.hostname, "kvm-lab-1");
    assert_eq!(h2.profile.host.hostname, "kvm-lab-2");
    // Shared settings reach both hosts; the host's own values stay its own.
    assert_eq!(h2.profile.host.domain, "lab.example");
    assert_eq!(h2.profile.host.ntp.len(), 3);
    assert_eq!(
        h2.profile.network.management.address.to_string(),
        "192.0.2.12/24"
    );
    assert_eq!(
        h2.profile.network.management.gateway.unwrap().to_string(),
        "192.0.2.1"
    );
    let confs = |h: &forja::profile::Loaded| -> Vec<String> {
        h.profile
            .pexip
            .conferencing
            .iter()
            .map(|n| n.name.to_string())
            .collect()
    };
    assert_eq!(confs(h1), ["conf01"]);
    assert_eq!(confs(h2), ["conf02"]);
    // Every host carries the site's one Management Node (its answers need its domain).
    assert_eq!(h2.profile.pexip.management.name, "pexmgr");
    // Locations point into the site file: the host's own entry, the Management Node's host, the shared table.
    assert_eq!(
        h2.locate(&FieldPath::parse("network.management.address")),
        at(&p, "address = \"192.0.2.12/24\"", "\"192")
    );
    assert_eq!(
        h2.locate(&FieldPath::parse("pexip.management.address")),
        at(&p, "address = \"198.51.100.10/24\"", "\"198")
    );
    assert_eq!(
        h2.locate(&FieldPath::parse("host.hostname")),
        at(&p, "name = \"kvm-lab-2\"", "\"kvm")
    );
    assert_eq!(
        h1.locate(&FieldPath::parse("host.timezone")),
        at(&p, "timezone = \"Europe/Madrid\"", "\"Europe")
    );
    // The whole-site view has every conferencing node, located at the host that declares it.
    let whole = site.whole().unwrap();
    assert_eq!(confs(&whole), ["conf01", "conf02"]);
    assert_eq!(
        whole.locate(&FieldPath::parse("pexip.conferencing[1].address")),
        at(&p, "address = \"198.51.100.22/24\"", "\"198")
    );
}

#[test]
fn lab_site_passes_check() {
    let (_d, p) = lab_site();
    let (code, out, err) = forja(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.contains("== host kvm-lab-1 =="), "{out}");
    assert!(out.contains("== host kvm-lab-2 =="), "{out}");
    let (code, out, err) = forja(&["check", "--json", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["site"], "lab-site");
    for h in ["kvm-lab-1", "kvm-lab-2"] {
        let rules = v["hosts"][h]["rules"].as_array().unwrap();
        assert!(rules.len() >= 40, "{h}: {} rules", rules.len());
        assert!(rules.iter().all(|r| r["status"] != "FAIL"), "{h}");
    }
}

/// Runs `forja check` on the edited site: exit 2 and the error text.
fn refused(p: &Path) -> String {
    let (code, out, err) = forja(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 2, "expected exit 2\n{err}\n{out}");
    err
}

/// The hosts run one root: a host's own table that changes a file of it (here its time zone) is refused by
/// `check` (and by `build`, before building), naming both hosts and the files. A host's own disk and
/// addresses are not root files, so the lab site itself passes (`lab_site_passes_check`).
#[test]
fn a_host_setting_that_changes_the_shared_root_is_refused() {
    let (_d, p) = lab_site();
    edit(
        &p,
        "[hosts.network.vm]\nmac = \"52:54:00:0a:02:02\"\n",
        "[hosts.network.vm]\nmac = \"52:54:00:0a:02:02\"\n[hosts.host]\ntimezone = \"Atlantic/Canary\"\n",
    );
    let err = refused(&p);
    assert!(
        err.contains("shared-root: hosts `kvm-lab-1` and `kvm-lab-2` would put different /etc/localtime, /etc/timezone into the root"),
        "{err}"
    );
    let out = p.parent().unwrap().join("out");
    let (code, _, err) = forja(&["build", p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shared-root:"), "{err}");
    assert!(!out.join("hosts").exists(), "nothing built");
}

#[test]
fn duplicated_address_fails_naming_both_hosts() {
    let (_d, p) = lab_site();
    edit(
        &p,
        "address = \"192.0.2.12/24\"",
        "address = \"192.0.2.11/24\"",
    );
    let err = refused(&p);
    let first = at(&p, "address = \"192.0.2.11/24\"", "\"192");
    let t = std::fs::read_to_string(&p).unwrap();
    let second_off = t.rfind("address = \"192.0.2.11/24\"").unwrap();
    let line2 = t[..second_off].matches('\n').count() + 1;
    assert!(
        err.contains("duplicate-address: 192.0.2.11 is declared twice"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "host `kvm-lab-1` network.management.address ({first})"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "host `kvm-lab-2` network.management.address ({}:{line2}:11)",
            p.display()
        )),
        "{err}"
    );
}

#[test]
fn duplicated_mac_fails_naming_both_hosts() {
    let (_d, p) = lab_site();
    // Host 2's VM NIC given host 1's management MAC.
    edit(
        &p,
        "mac = \"52:54:00:0a:02:02\"",
        "mac = \"52:54:00:0a:01:01\"",
    );
    let err = refused(&p);
    assert!(
        err.contains("duplicate-mac: 52:54:00:0a:01:01 is declared twice"),
        "{err}"
    );
    let t = std::fs::read_to_string(&p).unwrap();
    let second = t.rfind("mac = \"52:54:00:0a:01:01\"").unwrap();
    let line2 = t[..second].matches('\n').count() + 1;
    assert!(
        err.contains(&format!(
            "host `kvm-lab-1` network.management.mac ({})",
            at(&p, "mac = \"52:54:00:0a:01:01\"", "\"52")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "host `kvm-lab-2` network.vm.mac ({}:{line2}:7)",
            p.display()
        )),
        "{err}"
    );
}

#[test]
fn duplicated_node_name_hostname_and_node_address_fail() {
    let (_d, p) = lab_site();
    edit(&p, "name = \"conf02\"", "name = \"conf01\"");
    edit(&p, "hostname = \"pexconf02\"", "hostname = \"PEXCONF01\"");
    edit(
        &p,
        "address = \"198.51.100.22/24\"",
        "address = \"198.51.100.10/24\"",
    );
    let err = refused(&p);
    assert!(
        err.contains(
            "duplicate-node: conf01 is declared twice: host `kvm-lab-1` pexip.conferencing[0].name"
        ),
        "{err}"
    );
    assert!(
        err.contains("and host `kvm-lab-2` pexip.conferencing[0].name"),
        "{err}"
    );
    assert!(
        err.contains("duplicate-hostname: pexconf01 is declared twice"),
        "{err}"
    );
    assert!(
        err.contains("duplicate-address: 198.51.100.10 is declared twice: host `kvm-lab-1` pexip.management.address"),
        "{err}"
    );
}

#[test]
fn a_location_has_one_gateway_and_one_network() {
    let (_d, p) = lab_site();
    edit(
        &p,
        "address = \"198.51.100.22/24\"\ngateway = \"198.51.100.1\"",
        "address = \"203.0.113.22/24\"\ngateway = \"203.0.113.1\"",
    );
    let err = refused(&p);
    assert!(
        err.contains("location-gateway: location `sede-principal` has two gateways: 198.51.100.1 in host `kvm-lab-1`"),
        "{err}"
    );
    assert!(
        err.contains(
            "location-network: location `sede-principal` spans two networks: 198.51.100.0/24"
        ),
        "{err}"
    );
    assert!(
        err.contains("203.0.113.0/24 in host `kvm-lab-2` pexip.conferencing[0].address"),
        "{err}"
    );
}

#[test]
fn a_host_must_hold_the_nodes_it_runs() {
    let (_d, p) = lab_site();
    edit(
        &p,
        "capacity = { cpus = 8, memory-mb = 16384, vmstore-gb = 200 }",
        "capacity = { cpus = 4, memory-mb = 4096, vmstore-gb = 40 }",
    );
    let err = refused(&p);
    assert!(
        err.contains(&format!(
            "capacity: host `kvm-lab-2` ({}) cannot hold the nodes it runs (§27): 5 CPUs",
            at(&p, "capacity = { cpus = 4", "{")
        )),
        "{err}"
    );
    assert!(err.contains("5120 MB"), "{err}");
    assert!(err.contains("50 GB of VM disks > vmstore-gb = 40"), "{err}");
}

#[test]
fn a_site_has_exactly_one_management_node() {
    let (_d, p) = lab_site();
    let t = std::fs::read_to_string(&p).unwrap();
    // Host 2 declares a second one.
    let start = t.find("[hosts.pexip.management]").unwrap();
    let end = t.find("[[hosts.pexip.conferencing]]").unwrap();
    let block = t[start..end].replace("pexmgr", "pexmgr2");
    std::fs::write(&p, format!("{t}\n{block}")).unwrap();
    let err = refused(&p);
    assert!(
        err.contains("a site has exactly one Management Node; two hosts declare one"),
        "{err}"
    );
    assert!(
        err.contains("host `kvm-lab-1`") && err.contains("host `kvm-lab-2`"),
        "{err}"
    );
    // None at all.
    std::fs::write(&p, format!("{}{}", &t[..start], &t[end..])).unwrap();
    let err = refused(&p);
    assert!(err.contains("no host declares one"), "{err}");
}

#[test]
fn a_host_lists_only_its_own_settings() {
    let (_d, p) = lab_site();
    edit(
        &p,
        "name = \"kvm-lab-2\"\n",
        "name = \"kvm-lab-2\"\nsignin = { key = \"other.sec\" }\n",
    );
    let err = refused(&p);
    assert!(
        err.contains("hosts[1]: unknown key `signin`; did you mean `storage`?")
            || err.contains("hosts[1]: unknown key `signin`"),
        "{err}"
    );
    assert!(err.contains(&at(&p, "signin = {", "{")), "{err}");

    let (_d, p) = lab_site();
    edit(
        &p,
        "[hosts.network.vm]\nmac = \"52:54:00:0a:02:02\"",
        "[hosts.network.vm]\nmac = \"52:54:00:0a:02\"",
    );
    let err = refused(&p);
    assert!(
        err.contains(&at(&p, "mac = \"52:54:00:0a:02\"", "\"52")),
        "{err}"
    );
    assert!(err.contains("host `kvm-lab-2` (hosts[1])"), "{err}");
    assert!(err.contains("is not a MAC address"), "{err}");
}

#[test]
fn site_level_nodes_are_refused() {
    let (_d, p) = lab_site();
    edit(
        &p,
        "[pexip.secure-mode]",
        "[[pexip.conferencing]]\nname = \"x\"\n\n[pexip.secure-mode]",
    );
    let err = refused(&p);
    assert!(
        err.contains(
            "pexip.conferencing: in a site profile each node is declared by the host that runs it"
        ),
        "{err}"
    );
}

/// `hosts[i].serial`: the machine's DMI serial, for the site's USB stick. A good one loads and reaches the host;
/// anything that could not be one machine's serial is refused at its file:line:col; two hosts with one serial
/// fail naming both.
#[test]
fn a_host_serial_is_checked_as_hostile_input() {
    let (_d, p) = lab_site();
    let cap2 = "capacity = { cpus = 8, memory-mb = 16384, vmstore-gb = 200 }";
    let with = |serial: &str| {
        let t = std::fs::read_to_string(&p).unwrap();
        let t = t.replacen(cap2, &format!("{cap2}\nserial = {serial}"), 1);
        std::fs::write(&p, t).unwrap();
    };
    let orig = std::fs::read_to_string(&p).unwrap();
    with("\"CZ2041 ABCD-7/1\"");
    let site = load_site(&p, SecretsNeed::Required).unwrap();
    assert_eq!(
        member(&site.hosts[1]).serial.as_deref(),
        Some("CZ2041 ABCD-7/1")
    );
    assert_eq!(member(&site.hosts[0]).serial, None);
    let (code, out, err) = forja(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{out}");

    for (bad, why) in [
        ("\"CZ2041\\u0000\"", "character '\\0' is not allowed"),
        ("\"CZ2041;rm\"", "character ';' is not allowed"),
        ("\" CZ2041\"", "space at the start or end"),
        ("\"\"", "0 characters"),
        (&format!("\"{}\"", "A".repeat(65)), "65 characters"),
        ("\"To Be Filled By O.E.M.\"", "placeholder"),
        ("2041", "not a string"),
    ] {
        std::fs::write(&p, &orig).unwrap();
        with(bad);
        let err = refused(&p);
        let loc = at(&p, &format!("serial = {bad}"), bad);
        assert!(
            err.contains(&format!("{loc}: hosts[1].serial: ")),
            "{bad}: no {loc}: {err}"
        );
        assert!(err.contains(why), "{bad}: {err}");
        assert!(err.contains("expected the machine's DMI serial"), "{err}");
    }

    // The same serial on both hosts: the stick could not tell the machines apart.
    std::fs::write(&p, &orig).unwrap();
    with("\"CZ2041ABCD\"");
    let cap1 = "capacity = { cpus = 16, memory-mb = 32768, vmstore-gb = 500 }";
    edit(&p, cap1, &format!("{cap1}\nserial = \"CZ2041ABCD\""));
    let err = refused(&p);
    let t = std::fs::read_to_string(&p).unwrap();
    let line = |off: usize| t[..off].matches('\n').count() + 1;
    let (l1, l2) = (
        line(t.find("serial = \"CZ2041ABCD\"").unwrap()),
        line(t.rfind("serial = \"CZ2041ABCD\"").unwrap()),
    );
    assert!(
        err.contains("duplicate-serial: CZ2041ABCD is declared twice")
            && err.contains(&format!(
                "host `kvm-lab-1` serial ({}:{l1}:10)",
                p.display()
            ))
            && err.contains(&format!(
                "host `kvm-lab-2` serial ({}:{l2}:10)",
                p.display()
            )),
        "{err}"
    );
}

/// `forja plan PROFILE --json` as a JSON value.
fn plan_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.push("--json");
    let (code, out, err) = forja(&all);
    assert_eq!(code, 0, "forja {all:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

/// `forja site convert`: the lab profile becomes a one-host site whose host plans exactly like the profile,
/// except what names the file it came from and what a site keeps once instead of per host (listed below).
#[test]
fn a_single_host_profile_converts_to_a_site_with_the_same_host() {
    let (d, lab) = site_files::shipped("lab");
    let conv = d.path().join("lab-converted.toml");
    let (code, out, err) = forja(&[
        "site",
        "convert",
        lab.to_str().unwrap(),
        "--output",
        conv.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hosts"][0], "kvm-lab");
    let text = std::fs::read_to_string(&conv).unwrap();
    assert!(
        text.contains("[[hosts]]") && text.contains("name = \"kvm-lab\""),
        "{text}"
    );
    // The shared part keeps its comments; the host's own values moved out of it.
    assert!(text.contains("# §72-73: authenticated NTP"), "{text}");
    assert_eq!(text.matches("mac = \"52:54:00:0a:00:01\"").count(), 1);
    assert!(!text.contains("hostname = \"kvm-lab\""), "{text}");

    let (code, out, err) = forja(&["check", conv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.contains("== host kvm-lab =="), "{out}");

    let mut a = plan_json(&[lab.to_str().unwrap()]);
    let mut b = plan_json(&[conv.to_str().unwrap(), "--host", "kvm-lab"]);
    // What differs, and why:
    // - profile.file, profile.sha256: the plan names the file it was made from (another file, other bytes);
    // - outputs pexip/plan.json and pexip/worker_vm.json, and their artifacts entries: a site has them once, at
    //   the site build's top (`DIR/pexip/`), not in each host's folder.
    // - root.host, and the ids of slot A's root image and verity tree: a site's host keeps its own files in its boot
    //   images (a single-host profile has none), and its root, shared by every host, takes its ids from the site.
    assert!(a["root"].get("host").is_none());
    assert!(b["root"]["host"]["moves"].is_array(), "{}", b["root"]);
    for p in [&mut a, &mut b] {
        let prof = p["profile"].as_object_mut().unwrap();
        prof.remove("file");
        prof.remove("sha256");
        p["root"].as_object_mut().unwrap().remove("host");
        for part in p["disk"].as_array_mut().unwrap() {
            if let Some(c) = part["content"].as_object_mut() {
                if c.contains_key("salt")
                    || c.get("kind").and_then(|k| k.as_str()) == Some("root-image")
                {
                    c.remove("uuid");
                    c.remove("salt");
                }
            }
        }
    }
    let site_once = ["pexip/plan.json", "pexip/worker_vm.json"];
    let outputs = |p: &serde_json::Value| -> Vec<String> {
        p["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (oa, ob) = (outputs(&a), outputs(&b));
    for n in site_once {
        assert!(
            oa.iter().any(|o| o == n) && !ob.iter().any(|o| o == n),
            "{n}: {oa:?} / {ob:?}"
        );
    }
    a["outputs"]
        .as_array_mut()
        .unwrap()
        .retain(|o| !site_once.contains(&o["name"].as_str().unwrap()));
    a["artifacts"]
        .as_array_mut()
        .unwrap()
        .retain(|n| !site_once.contains(&n.as_str().unwrap()));
    // A site's host keeps its disk as parts (the root's frame shared by the site), a host of its own as one image.
    let whole = ["disk.raw", "disk.raw.zst"];
    let parts = [
        "disk.parts.json",
        "disk-head.zst",
        "disk-root-a.zst",
        "disk-state.zst",
        "disk-payload.zst",
        "disk-end.zst",
    ];
    let names = |p: &serde_json::Value| -> Vec<String> {
        p["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&a)[..2], whole, "{:?}", names(&a));
    assert_eq!(names(&b)[..parts.len()], parts, "{:?}", names(&b));
    let art = a["artifacts"].as_array_mut().unwrap();
    art.drain(..2);
    for (i, n) in parts.iter().enumerate() {
        art.insert(i, serde_json::Value::from(*n));
    }
    if a != b {
        let (sa, sb) = (
            serde_json::to_string_pretty(&a).unwrap(),
            serde_json::to_string_pretty(&b).unwrap(),
        );
        let first = sa
            .lines()
            .zip(sb.lines())
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| format!("line {i}: {x} | {y}"));
        panic!("the converted host plans differently: {first:?}");
    }

    // A site is not converted again; an existing output is not overwritten; the output stays beside the profile.
    let again = d.path().join("again.toml");
    let (code, _, err) = forja(&[
        "site",
        "convert",
        conv.to_str().unwrap(),
        "--output",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already a site profile"), "{err}");
    assert!(!again.exists());
    let (code, _, err) = forja(&[
        "site",
        "convert",
        lab.to_str().unwrap(),
        "--output",
        conv.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("refusing to overwrite"), "{err}");
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, _, err) = forja(&[
        "site",
        "convert",
        lab.to_str().unwrap(),
        "--output",
        elsewhere.path().join("x.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("beside"), "{err}");
}
