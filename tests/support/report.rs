//! The boot test's report: the one line `FORJA-TEST-REPORT {json}` that the test-only unit
//! (`tests/boot/overlay/usr/lib/forja-test/report`) prints on the serial console, parsed into a typed [`Report`]
//! and checked against what the profile asks for ([`Expected`]).
//!
//! The guest only reports; every decision is made here, so that a wrong value becomes a precise message
//! ("management NIC mgmt0 has 192.0.2.10/24 and 10.0.2.15/24; expected exactly 192.0.2.10/24") and every check can
//! be broken on purpose in a unit test (`tests/boot_report.rs`) instead of in a shipped image.
//!
//! Raw tool output is embedded in the report as the tool printed it (`ip -j`, `nft -j`, `cryptsetup luksDump
//! --dump-json-metadata`, `findmnt -J`, `nodes.lock`, `virsh dumpxml`) and interpreted here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// The marker that starts the report line on the console.
pub const MARKER: &str = "FORJA-TEST-REPORT ";

#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    pub schema: u32,
    pub boot_id: String,
    pub uptime_s: f64,
    pub hostname: String,
    pub kernel: String,
    pub systemd: Systemd,
    /// `systemctl show` properties (LoadState, ActiveState, SubState, Result, ConditionResult, ExecMainStatus,
    /// UnitFileState) of the units the test looks at, by unit name.
    pub units: BTreeMap<String, BTreeMap<String, String>>,
    pub net: Net,
    /// `nft -j list ruleset`, or null when nft failed.
    pub nft: Option<Value>,
    /// Runtime value of every key set in `/etc/sysctl.d/*.conf` (null: the key does not exist in the kernel).
    pub sysctl: BTreeMap<String, Option<String>>,
    pub vmstore: Vmstore,
    pub nodes: Nodes,
    pub libvirt: Libvirt,
    pub grub: Grub,
    pub selfcheck: SelfCheck,
    #[serde(default)]
    pub firstboot_log: Vec<String>,
    // Schema 2 (issue 14): what each host-side rule does where it takes effect. Absent in an older report, which
    // the checks then name as missing.
    #[serde(default)]
    pub access: Option<super::report_host::Access>,
    #[serde(default)]
    pub time: Option<super::report_host::Time>,
    #[serde(default)]
    pub syslog: Option<super::report_host::SyslogState>,
    /// `systemctl show -p TimersMonotonic --value forja-selfcheck.timer`.
    #[serde(default)]
    pub selfcheck_timer: Option<String>,
    #[serde(default)]
    pub bridge: Option<super::report_host::Bridge>,
    #[serde(default)]
    pub capacity: Option<super::report_host::Capacity>,
    #[serde(default)]
    pub snapshots: Option<super::report_host::Snapshots>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Systemd {
    /// ActiveState of multi-user.target.
    pub multi_user: String,
    /// `systemctl is-system-running` (reads "starting" while the report unit itself runs).
    pub system_state: String,
    pub failed_units: Vec<String>,
    /// Jobs still queued besides the report unit's own.
    pub pending_jobs: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Net {
    /// `ip -d -j addr show`.
    pub addr: Option<Vec<Link>>,
    /// `ip -j -4 route show table all`.
    pub route4: Option<Vec<Route>>,
    /// `ip -j -6 route show table all`.
    pub route6: Option<Vec<Route>>,
    /// Local addresses of listening TCP sockets (`ss -Htln`, 4th column), e.g. `0.0.0.0:22`, `[::]:22`.
    pub listening_tcp: Vec<String>,
    #[serde(default)]
    pub listening_udp: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Link {
    pub ifname: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default)]
    pub operstate: Option<String>,
    #[serde(default)]
    pub linkinfo: Option<LinkInfo>,
    #[serde(default)]
    pub addr_info: Vec<AddrInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LinkInfo {
    #[serde(default)]
    pub info_kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AddrInfo {
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub local: Option<String>,
    #[serde(default)]
    pub prefixlen: Option<u8>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl AddrInfo {
    fn cidr(&self) -> String {
        format!(
            "{}/{}",
            self.local.as_deref().unwrap_or("?"),
            self.prefixlen.map(|p| p.to_string()).unwrap_or_default()
        )
    }
    fn is_v4(&self) -> bool {
        self.family.as_deref() == Some("inet")
    }
    fn is_global_v6(&self) -> bool {
        self.family.as_deref() == Some("inet6") && self.scope.as_deref() == Some("global")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub dst: String,
    #[serde(default)]
    pub dev: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub table: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Vmstore {
    /// `/dev/disk/by-partlabel/vmstore` resolved, e.g. `/dev/vda4`.
    pub device: String,
    /// The whole disk it is on, e.g. `vda`.
    pub disk: String,
    pub part_start_sectors: Option<u64>,
    pub part_size_sectors: Option<u64>,
    pub disk_size_sectors: Option<u64>,
    pub is_luks2: bool,
    /// `cryptsetup luksDump --dump-json-metadata`.
    pub luks: Option<Value>,
    pub mapper_active: bool,
    /// The backing device of `/dev/mapper/vmstore` (`cryptsetup status`).
    pub mapper_device: String,
    /// `findmnt -J -o SOURCE,TARGET,FSTYPE,OPTIONS -M /var/lib/libvirt/images`.
    pub mount: Option<Value>,
    /// SHA-256 of the lower-case hex volume key (never the key).
    pub key_sha256: String,
    /// `dm-table`, `dm-table-after-refresh`, `keyring-unreadable` or `none`.
    pub key_source: String,
    #[serde(default)]
    pub crypttab: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Nodes {
    pub dir: String,
    /// `nodes.lock` as copied into vmstore at first boot.
    pub lock: Option<Value>,
    pub files: Vec<NodeFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NodeFile {
    pub name: String,
    pub sha256: String,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Libvirt {
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub error: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Domain {
    pub name: String,
    /// `virsh domstate`, e.g. `shut off`.
    pub state: String,
    #[serde(default)]
    pub autostart: String,
    /// `virsh dumpxml --inactive`.
    pub xml: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Grub {
    pub path: String,
    pub present: bool,
    #[serde(default)]
    pub sha256: String,
    pub superusers: bool,
    pub password_pbkdf2: bool,
    pub menuentries: Option<u64>,
    pub unrestricted: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SelfCheck {
    pub file: String,
    pub sha256_before: String,
    pub sha256_tampered: String,
    pub sha256_after: String,
    pub exit_code: i32,
    #[serde(default)]
    pub output: Vec<String>,
    /// ALARM lines the journal got from the self-check after the tamper step.
    pub alarms: Vec<String>,
    /// Every ALARM line of this boot (diagnostics: the boot-time run's too).
    #[serde(default)]
    pub alarms_boot: Vec<String>,
}

/// Why the report line could not be read.
#[derive(Debug)]
pub enum ParseError {
    /// No line with the marker in the console log.
    Missing,
    /// The line is there but is not a valid report (interleaved console output, a guest-side bug, a schema change).
    Invalid { error: String, excerpt: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Missing => write!(f, "no `{}` line on the console", MARKER.trim()),
            ParseError::Invalid { error, excerpt } => {
                write!(
                    f,
                    "the report line is not a valid report: {error} (near `{excerpt}`)"
                )
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses the last report line in a console log. Anything before the marker on that line (a journald prefix,
/// a carriage return) is ignored.
pub fn parse_console(log: &str) -> Result<Report, ParseError> {
    let line = log
        .lines()
        .rev()
        .find_map(|l| l.find(MARKER).map(|i| &l[i + MARKER.len()..]))
        .ok_or(ParseError::Missing)?;
    parse_json(line.trim_end_matches(['\r', '\n']))
}

/// Parses the JSON part of a report line.
pub fn parse_json(json: &str) -> Result<Report, ParseError> {
    serde_json::from_str(json).map_err(|e| {
        let col = e.column().saturating_sub(1);
        let start = col.saturating_sub(40);
        let excerpt: String = json.chars().skip(start).take(80).collect();
        ParseError::Invalid {
            error: e.to_string(),
            excerpt,
        }
    })
}

/// Which boot of a device the report comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootKind {
    /// The device's first boot: first-boot work runs.
    First,
    /// A later boot: first boot is skipped by its condition, vmstore unlocks through the TPM.
    Again,
}

#[derive(Debug, Clone)]
pub struct ExpectedDomain {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// vCPUs pinned and memory locked (§27).
    pub pinned: bool,
}

/// What a correct host built from the profile reports.
#[derive(Debug, Clone)]
pub struct Expected {
    pub boot: BootKind,
    pub mgmt_if: String,
    pub mgmt_mac: String,
    /// The management NIC's only address, e.g. `192.0.2.10/24`.
    pub mgmt_address: String,
    pub mgmt_gateway: Option<String>,
    pub vm_if: String,
    pub vm_mac: String,
    pub bridge: String,
    pub ssh_enabled: bool,
    /// (key, value) as `forja::compose::sysctl::settings` writes them.
    pub sysctl: Vec<(String, String)>,
    pub tpm2: bool,
    pub tpm2_pcrs: Vec<u64>,
    pub recovery_key: bool,
    /// Keyslots without a systemd token: passphrases, which must all be argon2id.
    pub passphrase_slots: usize,
    pub vmstore_mount: String,
    /// The size of the (enlarged) disk the VM boots from; vmstore must reach its end.
    pub disk_bytes: Option<u64>,
    pub domains: Vec<ExpectedDomain>,
    /// The build's own `nodes.lock`, when the test has it: the copy in vmstore must be the same.
    pub nodes_lock: Option<Value>,
    /// The protected file the report unit tampers with.
    pub tamper_file: String,
    /// `host.banner` as /etc/issue holds it.
    pub banner: String,
    pub tmout_seconds: u64,
    /// Root's (minimum, maximum, warning) age in days.
    pub root_ageing: (u32, u32, u32),
    pub min_length: u32,
    pub min_classes: u32,
    pub history: u32,
    /// (address, key id) of every host NTP server.
    pub ntp: Vec<(String, Option<u32>)>,
    /// rsyslog's TLS priority string, when the profile forwards over TLS.
    pub syslog_priority: Option<String>,
    /// The self-check timer's period as systemd prints it (`1h`, `30min`).
    pub selfcheck_period: String,
    /// (CPUs, MiB, GiB) the VMs need, as firstboot.env says.
    pub capacity_need: (u64, u64, u64),
    pub management_domain: String,
    /// `pexip.backup.management-snapshots`.
    pub snapshots: bool,
}

/// A period in minutes as systemd prints it in `TimersMonotonic` (`1d 2h 30min`).
pub fn systemd_span(minutes: u32) -> String {
    let (d, h, m) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}min"));
    }
    parts.join(" ")
}

impl Expected {
    /// What the profile asks for. `disk_bytes` and `nodes_lock` come from the harness and the build.
    pub fn from_profile(l: &forja::profile::Loaded, boot: BootKind) -> Self {
        use forja::profile::model::Unlock;
        let p = &l.profile;
        let n = &p.network;
        let mut domains = vec![ExpectedDomain {
            name: p.pexip.management.name.to_string(),
            vcpus: p.pexip.management.reservation.vcpus,
            memory_mib: p.pexip.management.reservation.memory_mb.into(),
            pinned: p.pexip.management.reservation.pinned,
        }];
        domains.extend(p.pexip.conferencing.iter().map(|c| ExpectedDomain {
            name: c.name.to_string(),
            vcpus: c.reservation.vcpus,
            memory_mib: c.reservation.memory_mb.into(),
            pinned: c.reservation.pinned,
        }));
        Expected {
            boot,
            mgmt_if: forja::compose::MGMT_IF.into(),
            mgmt_mac: n.management.mac.to_string(),
            mgmt_address: n.management.address.to_string(),
            mgmt_gateway: n.management.gateway.map(|g| g.to_string()),
            vm_if: forja::compose::VM_IF.into(),
            vm_mac: n.vm.mac.to_string(),
            bridge: n.vm.bridge.to_string(),
            ssh_enabled: p.host.ssh.enabled,
            sysctl: forja::compose::sysctl::settings(l).unwrap(),
            tpm2: p.storage.unlock.contains(&Unlock::Tpm2),
            tpm2_pcrs: vec![7],
            recovery_key: p.storage.recovery_key,
            // First boot adds no passphrase keyslot: the passphrase is a secret that never enters the image, so the
            // operator adds it on site (`/usr/lib/forja/add-passphrase`, argon2id). Every slot that exists must be
            // argon2id; none is expected right after first boot.
            passphrase_slots: 0,
            vmstore_mount: forja::compose::firstboot::VMSTORE_MOUNT.into(),
            disk_bytes: None,
            domains,
            nodes_lock: None,
            tamper_file: "/etc/sysctl.d/60-forja.conf".into(),
            banner: if p.host.banner.ends_with('\n') {
                p.host.banner.to_string()
            } else {
                format!("{}\n", p.host.banner)
            },
            tmout_seconds: u64::from(p.host.session_timeout_minutes) * 60,
            root_ageing: (
                p.host.password_policy.min_age_days,
                p.host.password_policy.max_age_days,
                forja::compose::access::PASS_WARN_AGE,
            ),
            min_length: p.host.password_policy.min_length,
            min_classes: p.host.password_policy.min_classes,
            history: p.host.password_policy.history,
            ntp: p
                .host
                .ntp
                .iter()
                .map(|n| (n.address.to_string(), n.key_id))
                .collect(),
            syslog_priority: p
                .host
                .syslog
                .as_ref()
                .filter(|s| s.transport == forja::profile::model::Transport::Tls)
                .map(|s| forja::compose::timelogs::gnutls_priority(s.tls_min_version)),
            selfcheck_period: systemd_span(p.host.self_check_minutes),
            capacity_need: capacity_need(p),
            management_domain: p.pexip.management.name.to_string(),
            snapshots: p.pexip.backup.management_snapshots,
        }
    }
}

/// (CPUs, MiB, GiB) the profile's VMs need from the host, as `forja::compose::firstboot` writes them.
fn capacity_need(p: &forja::profile::Profile) -> (u64, u64, u64) {
    let r: Vec<_> = std::iter::once(&p.pexip.management.reservation)
        .chain(p.pexip.conferencing.iter().map(|n| &n.reservation))
        .collect();
    (
        1 + r.iter().map(|x| u64::from(x.vcpus)).sum::<u64>(),
        forja::compose::firstboot::HOST_MEMORY_MIB
            + r.iter().map(|x| u64::from(x.memory_mb)).sum::<u64>(),
        r.iter().map(|x| u64::from(x.disk_gb)).sum::<u64>(),
    )
}

/// One failed check: which area, and exactly what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: &'static str,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.check, self.message)
    }
}

pub(super) struct Out(Vec<Failure>);

impl Out {
    pub(super) fn fail(&mut self, check: &'static str, message: impl Into<String>) {
        self.0.push(Failure {
            check,
            message: message.into(),
        });
    }
}

pub(super) fn list(v: &[String]) -> String {
    match v.len() {
        0 => "nothing".into(),
        1 => v[0].clone(),
        _ => format!("{} and {}", v[..v.len() - 1].join(", "), v[v.len() - 1]),
    }
}

/// Every check of one boot's report. An empty list means the boot proved everything it can.
pub fn check(r: &Report, e: &Expected) -> Vec<Failure> {
    let mut o = Out(Vec::new());
    if r.schema != 2 {
        o.fail(
            "report",
            format!("report schema {} (this checker reads 2)", r.schema),
        );
    }
    check_systemd(r, e, &mut o);
    check_network(r, e, &mut o);
    super::report_host::check_bridge(r, e, &mut o);
    check_firewall(r, e, &mut o);
    check_sysctl(r, e, &mut o);
    check_vmstore(r, e, &mut o);
    check_nodes(r, e, &mut o);
    check_domains(r, e, &mut o);
    check_grub(r, &mut o);
    check_selfcheck(r, e, &mut o);
    super::report_host::check_access(r, e, &mut o);
    super::report_host::check_time(r, e, &mut o);
    super::report_host::check_syslog(r, e, &mut o);
    super::report_host::check_capacity(r, e, &mut o);
    super::report_host::check_snapshots(r, e, &mut o);
    o.0
}

pub(super) fn unit<'a>(r: &'a Report, name: &str, prop: &str) -> &'a str {
    r.units
        .get(name)
        .and_then(|u| u.get(prop))
        .map(String::as_str)
        .unwrap_or("")
}

fn check_systemd(r: &Report, e: &Expected, o: &mut Out) {
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

fn check_network(r: &Report, e: &Expected, o: &mut Out) {
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

fn check_firewall(r: &Report, _e: &Expected, o: &mut Out) {
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

fn check_sysctl(r: &Report, e: &Expected, o: &mut Out) {
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

fn check_vmstore(r: &Report, e: &Expected, o: &mut Out) {
    let v = &r.vmstore;
    if !v.is_luks2 {
        o.fail("vmstore", format!("{} is not LUKS2", or_none(&v.device)));
    }
    match &v.luks {
        None => o.fail("vmstore", "no LUKS2 metadata in the report"),
        Some(meta) => check_luks(meta, e, o),
    }
    if !v.mapper_active {
        o.fail("vmstore", "/dev/mapper/vmstore is not open");
    } else if v.mapper_device != v.device {
        o.fail(
            "vmstore",
            format!(
                "/dev/mapper/vmstore is backed by {}; expected the vmstore partition {}",
                or_none(&v.mapper_device),
                v.device
            ),
        );
    }
    let fs = v
        .mount
        .as_ref()
        .and_then(|m| m.get("filesystems"))
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    match fs {
        None => o.fail(
            "vmstore",
            format!("nothing is mounted at {}", e.vmstore_mount),
        ),
        Some(f) => {
            let src = f["source"].as_str().unwrap_or("");
            if src != "/dev/mapper/vmstore" || f["target"] != e.vmstore_mount.as_str() {
                o.fail(
                    "vmstore",
                    format!(
                        "{} is mounted from {src}; expected /dev/mapper/vmstore",
                        e.vmstore_mount
                    ),
                );
            }
        }
    }
    match (
        v.part_start_sectors,
        v.part_size_sectors,
        v.disk_size_sectors,
    ) {
        (Some(start), Some(size), Some(disk)) => {
            let end = start + size;
            // GPT keeps 33 sectors for its backup at the end; allow 1 MiB of alignment on top.
            if end + 33 + 2048 < disk {
                o.fail(
                    "vmstore",
                    format!(
                        "vmstore ends at sector {end} of {disk}: {} MiB of the disk unused; expected it grown to the end",
                        (disk - end) / 2048
                    ),
                );
            }
            if let Some(want) = e.disk_bytes
                && disk * 512 != want
            {
                o.fail(
                    "vmstore",
                    format!(
                        "the guest sees a disk of {} bytes; the test gave it {want}",
                        disk * 512
                    ),
                );
            }
        }
        _ => o.fail(
            "vmstore",
            "the vmstore partition's geometry is missing (no partition labelled vmstore?)",
        ),
    }
    if !is_sha256(&v.key_sha256) {
        o.fail(
            "vmstore",
            format!(
                "no volume key hash (source: {}); cannot compare devices",
                v.key_source
            ),
        );
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none)" } else { s }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_luks(meta: &Value, e: &Expected, o: &mut Out) {
    let empty = serde_json::Map::new();
    let slots = meta["keyslots"].as_object().unwrap_or(&empty);
    let tokens = meta["tokens"].as_object().unwrap_or(&empty);
    let mut bound: BTreeMap<String, String> = BTreeMap::new();
    for t in tokens.values() {
        let ty = t["type"].as_str().unwrap_or("?").to_owned();
        for s in t["keyslots"].as_array().into_iter().flatten() {
            if let Some(s) = s.as_str() {
                bound.insert(s.to_owned(), ty.clone());
            }
        }
    }
    let of_type = |ty: &str| {
        tokens
            .values()
            .filter(|t| t["type"] == ty)
            .collect::<Vec<_>>()
    };
    if e.tpm2 {
        let tpm = of_type("systemd-tpm2");
        match tpm.as_slice() {
            [] => o.fail(
                "vmstore",
                "no systemd-tpm2 token: vmstore is not bound to the TPM",
            ),
            [t] => {
                let pcrs: Vec<u64> = t["tpm2-pcrs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .collect();
                if pcrs != e.tpm2_pcrs {
                    o.fail(
                        "vmstore",
                        format!(
                            "TPM2 token bound to PCRs {pcrs:?}; expected {:?}",
                            e.tpm2_pcrs
                        ),
                    );
                }
                let ks = t["keyslots"].as_array().map(Vec::len).unwrap_or(0);
                if ks != 1 {
                    o.fail(
                        "vmstore",
                        format!("TPM2 token covers {ks} keyslots; expected 1"),
                    );
                }
            }
            more => o.fail(
                "vmstore",
                format!("{} systemd-tpm2 tokens; expected 1", more.len()),
            ),
        }
    }
    let rec = of_type("systemd-recovery").len();
    if e.recovery_key && rec != 1 {
        o.fail(
            "vmstore",
            format!("{rec} recovery keyslots (systemd-recovery tokens); expected 1"),
        );
    }
    for (id, t) in tokens {
        for s in t["keyslots"].as_array().into_iter().flatten() {
            if let Some(s) = s.as_str()
                && !slots.contains_key(s)
            {
                o.fail(
                    "vmstore",
                    format!("token {id} names keyslot {s}, which does not exist"),
                );
            }
        }
    }
    let mut passphrase = Vec::new();
    for (id, s) in slots {
        let kdf = s["kdf"]["type"].as_str().unwrap_or("?");
        if bound.contains_key(id) {
            continue;
        }
        passphrase.push(id.clone());
        if kdf != "argon2id" {
            o.fail(
                "vmstore",
                format!("passphrase keyslot {id} uses {kdf}; expected argon2id"),
            );
        }
    }
    if passphrase.len() > e.passphrase_slots {
        o.fail(
            "vmstore",
            format!(
                "{} keyslot(s) without a token ({}); expected {}: a leftover setup keyslot?",
                passphrase.len(),
                passphrase.join(", "),
                e.passphrase_slots
            ),
        );
    } else if passphrase.len() < e.passphrase_slots {
        o.fail(
            "vmstore",
            format!(
                "{} passphrase keyslot(s); the profile's storage.unlock includes passphrase, expected {}",
                passphrase.len(),
                e.passphrase_slots
            ),
        );
    }
}

fn check_nodes(r: &Report, e: &Expected, o: &mut Out) {
    let n = &r.nodes;
    let Some(lock) = &n.lock else {
        o.fail(
            "nodes",
            format!("no nodes.lock in {}: node images not imported", n.dir),
        );
        return;
    };
    if let Some(want) = &e.nodes_lock
        && want != lock
    {
        o.fail(
            "nodes",
            format!("{}/nodes.lock differs from the build's nodes.lock", n.dir),
        );
    }
    // Each node has its own disk `<node>.qcow2` in vmstore, a copy of a staged image: its hash must be one that
    // nodes.lock vouches for, and every staged image must serve at least one node.
    let staged: BTreeMap<String, String> = lock["images"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|img| img["staged"].as_array().into_iter().flatten())
        .filter_map(|d| {
            Some((
                d["sha256"].as_str()?.to_ascii_lowercase(),
                d["file"].as_str()?.to_owned(),
            ))
        })
        .collect();
    if staged.is_empty() {
        o.fail("nodes", "nodes.lock lists no staged images");
    }
    let have: BTreeMap<&str, String> = n
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.sha256.to_ascii_lowercase()))
        .collect();
    let mut used = BTreeSet::new();
    for d in &e.domains {
        let disk = format!("{}.qcow2", d.name);
        match have.get(disk.as_str()) {
            None => o.fail(
                "nodes",
                format!("node {}: its disk {}/{disk} is missing", d.name, n.dir),
            ),
            Some(h) => match staged.get(h) {
                Some(src) => {
                    used.insert(src.clone());
                }
                None => o.fail(
                    "nodes",
                    format!(
                        "node {}: {}/{disk} has sha256 {h}, which no staged image in nodes.lock has",
                        d.name, n.dir
                    ),
                ),
            },
        }
    }
    for (sha, file) in &staged {
        if !used.contains(file) {
            o.fail(
                "nodes",
                format!(
                    "{file} (sha256 {sha}, in nodes.lock) is the disk of no node in {}",
                    n.dir
                ),
            );
        }
    }
    for f in n.files.iter().filter(|f| f.name.ends_with(".qcow2")) {
        let node = f.name.trim_end_matches(".qcow2");
        if !e.domains.iter().any(|d| d.name == node) {
            o.fail(
                "nodes",
                format!("{}/{} belongs to no node of the profile", n.dir, f.name),
            );
        }
    }
}

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

fn check_domains(r: &Report, e: &Expected, o: &mut Out) {
    if !r.libvirt.error.is_empty() {
        o.fail("domains", format!("virsh: {}", r.libvirt.error));
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

fn check_grub(r: &Report, o: &mut Out) {
    let g = &r.grub;
    if !g.present {
        o.fail("bootloader", format!("{} is missing", g.path));
        return;
    }
    if !g.superusers {
        o.fail("bootloader", format!("{}: no `set superusers`", g.path));
    }
    if !g.password_pbkdf2 {
        o.fail(
            "bootloader",
            format!("{}: no `password_pbkdf2 USER grub.pbkdf2.sha512…`", g.path),
        );
    }
    if g.unrestricted.unwrap_or(0) == 0 {
        o.fail(
            "bootloader",
            format!(
                "{}: no `--unrestricted` menu entry: the host would not boot unattended",
                g.path
            ),
        );
    }
}

fn check_selfcheck(r: &Report, e: &Expected, o: &mut Out) {
    // §78: the timer runs the check every host.self-check-minutes (its drop-in replaces the unit's own period).
    let want = format!("OnUnitActiveUSec={}", e.selfcheck_period);
    match &r.selfcheck_timer {
        Some(t) if t.contains(&format!("{want} ;")) => {}
        other => o.fail(
            "selfcheck",
            format!(
                "forja-selfcheck.timer runs on {:?}; expected {want}",
                other
                    .as_deref()
                    .unwrap_or("(no selfcheck_timer in the report)")
            ),
        ),
    }
    let sc = "forja-selfcheck.service";
    let (result, status) = (unit(r, sc, "Result"), unit(r, sc, "ExecMainStatus"));
    if result != "success" || status != "0" {
        o.fail(
            "selfcheck",
            format!("{sc} at boot: Result={result} ExecMainStatus={status}; expected success, 0"),
        );
    }
    let s = &r.selfcheck;
    if s.file != e.tamper_file {
        o.fail(
            "selfcheck",
            format!("the report tampered {}; expected {}", s.file, e.tamper_file),
        );
    }
    if s.sha256_tampered == s.sha256_before {
        o.fail(
            "selfcheck",
            format!("tampering {} did not change it", s.file),
        );
    }
    if s.sha256_after != s.sha256_before {
        o.fail(
            "selfcheck",
            format!(
                "{} not restored: sha256 {} after the self-check, {} before tampering",
                s.file,
                or_none(&s.sha256_after),
                s.sha256_before
            ),
        );
    }
    if s.exit_code != 0 {
        o.fail(
            "selfcheck",
            format!(
                "the self-check exited {} after tampering: {}",
                s.exit_code,
                s.output.last().map(String::as_str).unwrap_or("")
            ),
        );
    }
    let modified = s
        .alarms
        .iter()
        .any(|a| a.contains(&s.file) && a.contains("modified"));
    let restored = s
        .alarms
        .iter()
        .any(|a| a.contains(&s.file) && a.contains("restored"));
    if !modified || !restored {
        o.fail(
            "selfcheck",
            format!(
                "journal alarms after tampering {}: {}; expected one for the modification and one for the restore",
                s.file,
                if s.alarms.is_empty() { "none".into() } else { s.alarms.join(" | ") }
            ),
        );
    }
}

/// The volume keys of two devices installed from the same image must differ.
pub fn check_keys_differ(a: &Report, b: &Report) -> Option<Failure> {
    let (ka, kb) = (&a.vmstore.key_sha256, &b.vmstore.key_sha256);
    if !is_sha256(ka) || !is_sha256(kb) {
        return Some(Failure {
            check: "vmstore",
            message: format!("cannot compare volume keys: hashes {ka:?} and {kb:?}"),
        });
    }
    (ka == kb).then(|| Failure {
        check: "vmstore",
        message: format!(
            "two devices installed from the same image have the same vmstore volume key (sha256 {ka})"
        ),
    })
}

/// A device keeps its volume key across boots.
pub fn check_same_key(first: &Report, again: &Report) -> Option<Failure> {
    let (a, b) = (&first.vmstore.key_sha256, &again.vmstore.key_sha256);
    (a != b).then(|| Failure {
        check: "vmstore",
        message: format!(
            "the vmstore volume key changed between boots of one device ({a} then {b})"
        ),
    })
}

/// How the host answered a TCP connection to a forwarded port (see `qemu::probe_tcp`).
pub use super::qemu::Probe;

/// A closed port on the management address must be dropped: no answer at all, not a reset.
pub fn check_closed_port(port: u16, p: &Probe) -> Option<Failure> {
    match p {
        Probe::NoReply(_) => None,
        other => Some(Failure {
            check: "firewall",
            message: format!(
                "closed port {port} on the management address: {other}; expected no reply (drop, not reject)"
            ),
        }),
    }
}

/// The SSH port: no reply unless the profile enables SSH.
pub fn check_ssh_port(ssh_enabled: bool, p: &Probe) -> Option<Failure> {
    match (ssh_enabled, p) {
        (false, Probe::NoReply(_)) | (true, Probe::Open(_)) => None,
        (false, other) => Some(Failure {
            check: "firewall",
            message: format!(
                "TCP 22 on the management address: {other}; SSH is disabled, expected no reply"
            ),
        }),
        (true, other) => Some(Failure {
            check: "firewall",
            message: format!("TCP 22 on the management address: {other}; the profile enables SSH"),
        }),
    }
}
