//! A site profile: one file for every host of a site. What the site shares is written once at the top level, in
//! the shape of an ordinary profile; each `[[hosts]]` entry holds only what is its own (name, capacity,
//! addresses, MACs, disks, BMC, the Pexip nodes it runs).
//!
//! Loading expands the site into one ordinary [`Profile`] per host: the shared tables deep-merged with the host's
//! (the host's value wins, an array is replaced whole), so the policy, the plan and the build stay per host.
//! What only a whole site can get wrong (two hosts with one address) is `policy::site`'s job.
//!
//! Every host's profile carries the site's one Management Node, because the conferencing nodes' answers need its
//! domain and the site's configuration plan is applied to it; [`SiteMember::runs_management`] says which host
//! runs its VM. Errors point into the site file: a host's own value at `hosts[i]...`, the Management Node at the
//! host that declares it, everything else at the shared table.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::load::{FieldPath, Loaded, SecretsNeed, Seg, describe_toml_error, line_col_of, suggest};
use super::model::Profile;
use super::toml_path::path_at;
use crate::error::{Exit, fail};

/// The keys a `[[hosts]]` entry may hold: the rest of a profile is the site's.
pub const HOST_KEYS: &[&str] = &[
    "name", "capacity", "serial", "host", "network", "storage", "boot", "install", "pexip",
];
/// Under a host's `pexip`, only its nodes: the deployment's settings are the site's, written once.
const HOST_PEXIP_KEYS: &[&str] = &["management", "conferencing"];

/// What a host can give its VMs, as its owner declares it (checked against the nodes' reservations, §27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capacity {
    /// Physical cores (CPU 0 stays with the host; each vCPU is pinned to a core of its own).
    pub cpus: u32,
    pub memory_mb: u64,
    /// Space for the VM disks on vmstore.
    pub vmstore_gb: u64,
}

/// Where a host's profile came from: its place in a site file.
#[derive(Debug, Clone)]
pub struct SiteMember {
    /// The host's name (`hosts[i].name`, also its `host.hostname`).
    pub host: String,
    /// Its index in the site file's `[[hosts]]`.
    pub index: usize,
    /// Whether this host runs the Management Node's VM (exactly one host of a site does).
    pub runs_management: bool,
    pub capacity: Capacity,
    /// The machine's DMI serial (`hosts[i].serial`), by which the site's USB stick also recognises it.
    pub serial: Option<String>,
    /// Every conferencing node of the site, whichever host runs it: what the deployment-wide rules judge (§17
    /// asks the deployment, not each host, for a transcoding node).
    pub site_conferencing: Vec<super::model::ConferencingNode>,
    /// (prefix in the host's profile, prefix in the site file), tried in order.
    redirects: Vec<(FieldPath, FieldPath)>,
}

impl SiteMember {
    /// The path in the site file where `field` of this host's profile is written: the host's own entry, the
    /// Management Node's host, or the shared table.
    pub fn site_path(&self, text: &str, field: &FieldPath) -> FieldPath {
        for (from, to) in &self.redirects {
            if field.0.starts_with(&from.0) {
                let mut cand = to.clone();
                cand.0.extend_from_slice(&field.0[from.0.len()..]);
                if line_col_of(text, &cand).is_some() {
                    return cand;
                }
            }
        }
        field.clone()
    }
}

/// A loaded site: one [`Loaded`] per host, in the file's order.
#[derive(Debug)]
pub struct Site {
    pub path: PathBuf,
    pub text: String,
    pub hosts: Vec<Loaded>,
}

impl Site {
    /// The site's name (`profile.name`).
    pub fn name(&self) -> &str {
        &self.hosts[0].profile.profile.name
    }

    pub fn host(&self, name: &str) -> Option<&Loaded> {
        self.hosts.iter().find(|h| member(h).host == name)
    }

    /// The host that runs the Management Node.
    pub fn management_host(&self) -> &Loaded {
        self.hosts
            .iter()
            .find(|h| member(h).runs_management)
            .expect("a loaded site has one Management Node host")
    }

    /// The whole site as one profile: the Management Node's host with every host's conferencing nodes, for what
    /// a site has once (the Pexip configuration plan, the `worker_vm` answers). Locations still point at the
    /// host entry that declares each node.
    pub fn whole(&self) -> anyhow::Result<Loaded> {
        let mgr = self.management_host();
        let m = member(mgr);
        let mut profile = mgr.profile.clone();
        profile.pexip.conferencing.clear();
        let mut redirects = vec![(
            path("pexip.management"),
            path(&format!("hosts[{}].pexip.management", m.index)),
        )];
        for h in &self.hosts {
            for (j, n) in h.profile.pexip.conferencing.iter().enumerate() {
                redirects.push((
                    path(&format!(
                        "pexip.conferencing[{}]",
                        profile.pexip.conferencing.len()
                    )),
                    path(&format!(
                        "hosts[{}].pexip.conferencing[{j}]",
                        member(h).index
                    )),
                ));
                profile.pexip.conferencing.push(n.clone());
            }
        }
        let site = SiteMember {
            host: self.name().to_owned(),
            index: m.index,
            runs_management: true,
            capacity: m.capacity,
            serial: m.serial.clone(),
            site_conferencing: m.site_conferencing.clone(),
            redirects,
        };
        let need = if mgr.secrets.is_some() {
            SecretsNeed::Required
        } else {
            SecretsNeed::IfPresent
        };
        super::load::finish(&self.path, self.text.clone(), profile, need, Some(site))
    }

    /// `file:line:col` of a path in the site file.
    pub fn locate(&self, field: &FieldPath) -> String {
        match line_col_of(&self.text, field) {
            Some((l, c)) => format!("{}:{l}:{c}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// Memory the host keeps for itself on top of the VMs' reservations.
pub const HOST_MEMORY_MIB: u64 = 1024;

/// A Pexip node a host runs: its name and reservation, and where the profile declares it.
#[derive(Debug, Clone, Copy)]
pub struct HostedNode<'a> {
    pub name: &'a str,
    pub reservation: &'a super::model::Reservation,
    pub management: bool,
}

/// The nodes whose VMs this host runs: the Management Node (unless the host belongs to a site and another host
/// runs it) and the conferencing nodes of its profile, in that order.
pub fn hosted_nodes(l: &Loaded) -> Vec<HostedNode<'_>> {
    let p = &l.profile.pexip;
    let mgr = l.site.as_ref().is_none_or(|m| m.runs_management);
    mgr.then_some(HostedNode {
        name: &p.management.name,
        reservation: &p.management.reservation,
        management: true,
    })
    .into_iter()
    .chain(p.conferencing.iter().map(|n| HostedNode {
        name: &n.name,
        reservation: &n.reservation,
        management: false,
    }))
    .collect()
}

/// What this host's VMs need from it: (CPUs, MiB, GiB). CPU 0 stays with the host and every vCPU is pinned to a
/// CPU of its own from 1 upwards; the host keeps [`HOST_MEMORY_MIB`] for itself.
pub fn capacity_needed(l: &Loaded) -> (u64, u64, u64) {
    let n = hosted_nodes(l);
    (
        1 + n
            .iter()
            .map(|x| u64::from(x.reservation.vcpus))
            .sum::<u64>(),
        HOST_MEMORY_MIB
            + n.iter()
                .map(|x| u64::from(x.reservation.memory_mb))
                .sum::<u64>(),
        n.iter()
            .map(|x| u64::from(x.reservation.disk_gb))
            .sum::<u64>(),
    )
}

/// The site part of a host loaded from a site file.
pub fn member(l: &Loaded) -> &SiteMember {
    l.site.as_ref().expect("a site's host has its SiteMember")
}

/// Whether `text` is a site profile: one with a `[[hosts]]` array. Text that does not parse is not a site (the
/// ordinary loader then explains the parse error).
pub fn is_site(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("hosts"))
}

/// Whether the file at `file` is a site profile; an unreadable file is not (the loader then says why). Read
/// like every profile: a regular file under the cap, so `/dev/zero` or a FIFO is refused, not swallowed.
pub fn is_site_file(file: &Path) -> bool {
    read_profile_text(file).is_ok_and(|t| is_site(&t))
}

fn read_profile_text(file: &Path) -> anyhow::Result<String> {
    crate::inbound::read_text_capped(file, crate::inbound::MAX_PROFILE)
        .map_err(|e| crate::inbound::reading(e, file, "site profile"))
}

fn path(s: &str) -> FieldPath {
    FieldPath::parse(s)
}

fn at(text: &str, file: &Path, field: &FieldPath) -> String {
    match line_col_of(text, field) {
        Some((l, c)) => format!("{}:{l}:{c}", file.display()),
        None => file.display().to_string(),
    }
}

/// Loads a site file and expands it into one profile per host.
pub fn load_site(file: &Path, need: SecretsNeed) -> anyhow::Result<Site> {
    let text = read_profile_text(file)?;
    let mut shared: toml::Table = toml::from_str(&text)
        .map_err(|e| fail(Exit::Input, describe_toml_error(file, &text, &e, None)))?;
    let hosts = match shared.remove("hosts") {
        Some(toml::Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: `hosts` must be one or more [[hosts]] tables, each with a `name`",
                    at(&text, file, &path("hosts"))
                ),
            ));
        }
    };
    if let Some(toml::Value::Table(px)) = shared.get("pexip")
        && let Some(k) = HOST_PEXIP_KEYS.iter().find(|k| px.contains_key(**k))
    {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: pexip.{k}: in a site profile each node is declared by the host that runs it: move it under \
                 that host's [hosts.pexip.{k}]",
                at(&text, file, &path(&format!("pexip.{k}")))
            ),
        ));
    }
    let entries = hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| HostEntry::parse(&text, file, i, h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mgr = management_host(&text, file, &entries)?;
    let mgr_table = entries[mgr].sections["pexip"]["management"].clone();
    let parsed = entries
        .iter()
        .map(|e| {
            let member = e.member(mgr);
            expand(&text, file, &shared, e, &mgr_table, &member).map(|p| (p, member))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let everyone: Vec<_> = parsed
        .iter()
        .flat_map(|(p, _)| p.pexip.conferencing.iter().cloned())
        .collect();
    let mut out = Vec::with_capacity(parsed.len());
    for (profile, mut member) in parsed {
        member.site_conferencing = everyone.clone();
        out.push(super::load::finish(
            file,
            text.clone(),
            profile,
            need,
            Some(member),
        )?);
    }
    Ok(Site {
        path: file.to_owned(),
        text,
        hosts: out,
    })
}

/// A host's profile: the shared tables, the host's merged over them, its name as hostname, the site's Management
/// Node. An error is traced from the expanded text back to the line of the site file that set the value.
fn expand(
    text: &str,
    file: &Path,
    shared: &toml::Table,
    e: &HostEntry,
    mgr_table: &toml::Value,
    member: &SiteMember,
) -> anyhow::Result<Profile> {
    let mut t = shared.clone();
    merge(&mut t, e.sections.clone());
    set(
        &mut t,
        &["host", "hostname"],
        toml::Value::String(e.name.clone()),
    );
    set(&mut t, &["pexip", "management"], mgr_table.clone());
    let synth = toml::to_string(&t).map_err(|err| {
        fail(
            Exit::Internal,
            format!("hosts[{}]: cannot expand: {err}", e.index),
        )
    })?;
    toml::from_str(&synth).map_err(|err| {
        let inner = err.span().map(|s| path_at(&synth, s.start));
        let loc = match &inner {
            Some(p) => at(text, file, &member.site_path(text, p)),
            None => file.display().to_string(),
        };
        let msg = describe_toml_error(Path::new(""), &synth, &err, None);
        let msg = msg.split_once(": ").map_or(msg.as_str(), |(_, m)| m);
        fail(
            Exit::Input,
            format!("{loc}: host `{}` (hosts[{}]): {msg}", e.name, e.index),
        )
    })
}

/// One `[[hosts]]` entry, its keys checked.
struct HostEntry {
    index: usize,
    name: String,
    capacity: Capacity,
    serial: Option<String>,
    /// The profile sections the host gives (`host`, `network`, ...), without `name` and `capacity`.
    sections: toml::Table,
}

impl HostEntry {
    fn parse(text: &str, file: &Path, i: usize, v: toml::Value) -> anyhow::Result<HostEntry> {
        let here = |rest: &str| at(text, file, &path(&format!("hosts[{i}]{rest}")));
        let toml::Value::Table(mut t) = v else {
            return Err(fail(
                Exit::Input,
                format!("{}: each `hosts` entry must be a table", here("")),
            ));
        };
        check_keys(&t, i, &here)?;
        let name = match t.remove("name") {
            Some(toml::Value::String(s)) if !s.is_empty() => s,
            _ => {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{}: hosts[{i}].name: expected the host's name (a string, also its hostname)",
                        here("")
                    ),
                ));
            }
        };
        let capacity = match t.remove("capacity") {
            Some(v) => v.try_into::<Capacity>().map_err(|e| {
                fail(
                    Exit::Input,
                    format!(
                        "{}: hosts[{i}].capacity: {}; expected {{ cpus = N, memory-mb = N, vmstore-gb = N }}",
                        here(".capacity"),
                        e.message().trim()
                    ),
                )
            })?,
            None => {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{}: hosts[{i}] (`{name}`): missing `capacity = {{ cpus = N, memory-mb = N, vmstore-gb = N \
                         }}`: what the host can give its VMs, checked against their reservations (§27)",
                        here("")
                    ),
                ));
            }
        };
        let serial = match t.remove("serial") {
            None => None,
            Some(toml::Value::String(s)) if super::serial::machine_serial(&s).is_ok() => Some(s),
            Some(v) => {
                let why = match &v {
                    toml::Value::String(s) => super::serial::machine_serial(s).unwrap_err(),
                    _ => "not a string".to_owned(),
                };
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{}: hosts[{i}].serial: {why}; expected the machine's DMI serial as \
                         /sys/class/dmi/id/product_serial shows it: 1 to {} of A-Z a-z 0-9 and \
                         `{}`, no space at either end",
                        here(".serial"),
                        super::serial::SERIAL_MAX,
                        super::serial::SERIAL_PUNCT
                    ),
                ));
            }
        };
        Ok(HostEntry {
            index: i,
            name,
            capacity,
            serial,
            sections: t,
        })
    }

    fn runs_management(&self) -> bool {
        matches!(self.sections.get("pexip"), Some(toml::Value::Table(p)) if p.contains_key("management"))
    }

    fn member(&self, mgr: usize) -> SiteMember {
        let own = FieldPath(vec![Seg::Key("hosts".into()), Seg::Index(self.index)]);
        let mut redirects = vec![(path("host.hostname"), {
            let mut p = own.clone();
            p.0.push(Seg::Key("name".into()));
            p
        })];
        if mgr != self.index {
            redirects.push((
                path("pexip.management"),
                path(&format!("hosts[{mgr}].pexip.management")),
            ));
        }
        redirects.push((FieldPath::default(), own));
        SiteMember {
            host: self.name.clone(),
            index: self.index,
            runs_management: mgr == self.index,
            capacity: self.capacity,
            serial: self.serial.clone(),
            site_conferencing: Vec::new(),
            redirects,
        }
    }
}

/// A host entry holds only a host's own keys, and no hostname of its own (`name` is it).
fn check_keys(t: &toml::Table, i: usize, here: &dyn Fn(&str) -> String) -> anyhow::Result<()> {
    for k in t.keys() {
        if !HOST_KEYS.contains(&k.as_str()) {
            let hint = suggest(k, HOST_KEYS.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: hosts[{i}]: unknown key `{k}`; {hint}a host lists only its own settings ({}); the \
                     rest is written once for the site",
                    here(&format!(".{k}")),
                    HOST_KEYS.join(", ")
                ),
            ));
        }
    }
    if let Some(toml::Value::Table(px)) = t.get("pexip")
        && let Some(k) = px.keys().find(|k| !HOST_PEXIP_KEYS.contains(&k.as_str()))
    {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: hosts[{i}].pexip.{k}: a host's [hosts.pexip] holds only the nodes it runs (management, \
                 conferencing); the deployment's settings are the site's, under [pexip]",
                here(&format!(".pexip.{k}"))
            ),
        ));
    }
    if let Some(toml::Value::Table(h)) = t.get("host")
        && h.contains_key("hostname")
    {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: hosts[{i}].host.hostname: a site's host is named by `name` (it is also its hostname)",
                here(".host.hostname")
            ),
        ));
    }
    Ok(())
}

/// The one host that declares `[hosts.pexip.management]`.
fn management_host(text: &str, file: &Path, entries: &[HostEntry]) -> anyhow::Result<usize> {
    let runs: Vec<&HostEntry> = entries.iter().filter(|e| e.runs_management()).collect();
    match runs.as_slice() {
        [one] => Ok(one.index),
        [] => Err(fail(
            Exit::Input,
            format!(
                "{}: a site has exactly one Management Node and no host declares one: add \
                 [hosts.pexip.management] to the host that runs it",
                file.display()
            ),
        )),
        [a, b, ..] => Err(fail(
            Exit::Input,
            format!(
                "a site has exactly one Management Node; two hosts declare one:\n  {}: host `{}`\n  {}: host `{}`",
                at(
                    text,
                    file,
                    &path(&format!("hosts[{}].pexip.management", a.index))
                ),
                a.name,
                at(
                    text,
                    file,
                    &path(&format!("hosts[{}].pexip.management", b.index))
                ),
                b.name
            ),
        )),
    }
}

/// Deep merge: tables merge key by key, anything else (values, arrays) is replaced by `over`'s.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn set(t: &mut toml::Table, keys: &[&str], v: toml::Value) {
    let (last, parents) = keys.split_last().expect("a key");
    let mut cur = t;
    for k in parents {
        let entry = cur
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("made a table");
    }
    cur.insert(last.to_string(), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_for_tables_and_whole_for_arrays() {
        let mut base: toml::Table =
            toml::from_str("[a]\nx = 1\ny = [1, 2]\n[a.b]\nz = 3\nw = 4\n").unwrap();
        let over: toml::Table = toml::from_str("[a]\ny = [9]\n[a.b]\nz = 5\n").unwrap();
        merge(&mut base, over);
        let want: toml::Table =
            toml::from_str("[a]\nx = 1\ny = [9]\n[a.b]\nz = 5\nw = 4\n").unwrap();
        assert_eq!(base, want);
    }

    #[test]
    fn a_text_with_hosts_is_a_site() {
        assert!(is_site("[[hosts]]\nname = \"a\"\n"));
        assert!(!is_site("[host]\nhostname = \"a\"\n"));
        assert!(!is_site("not toml ["));
    }
}
