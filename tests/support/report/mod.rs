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

mod boot;
mod domains;
mod host;
mod storage;

use boot::{check_boot, check_selfcheck};
#[allow(unused_imports)] // each test binary uses its own part of the support module
pub use boot::{check_closed_port, check_keys_differ, check_same_key, check_ssh_port};
use domains::check_domains;
use host::{check_firewall, check_network, check_sysctl, check_systemd};
use storage::{check_nodes, check_vmstore};

pub(super) use std::collections::{BTreeMap, BTreeSet};
pub(super) use std::fmt;

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
    pub boot: Boot,
    pub selfcheck: SelfCheck,
    #[serde(default)]
    pub firstboot_log: Vec<String>,
    // What each host-side rule does where it takes effect (issue 14). Absent in an older report, which the checks
    // then name as missing.
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
    /// forja-health's record of this boot (issue 16), null when it wrote none.
    #[serde(default)]
    pub health: Option<super::report_host::HealthRecord>,
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

/// The boot chain as the running system sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Boot {
    /// The SecureBoot EFI variable's value as hex (`01`: enforcing).
    pub secure_boot: String,
    #[serde(default)]
    pub setup_mode: String,
    pub cmdline: String,
    #[serde(default)]
    pub loader_entry: String,
    pub root_source: String,
    pub root_fstype: String,
    pub root_options: String,
    pub root_writable: bool,
    pub etc_writable: bool,
    /// `veritysetup status root`, line by line.
    pub verity_status: Vec<String>,
    /// `findmnt -J` of /var.
    pub var_mount: Option<Value>,
    #[serde(default)]
    pub lockdown: String,
    pub machine_id: String,
    pub firstboot_done: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SelfCheck {
    /// The domain the report redefined behind forja's back.
    pub domain: String,
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
    /// Secure Boot must be enforcing (the boot was made with the site's keys enrolled).
    pub secure_boot: bool,
    /// The command line inside the signed image (from the build's plan.json), when the test has it.
    pub kernel_cmdline: Option<String>,
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
    /// How the snapshot timer is enabled where it is on: `enabled` (a link in the root's `/etc`), or, on a site's
    /// host, `enabled-runtime` (the link is in the host part its signed image unpacks into `/run` at every boot;
    /// in the root it would be on for every host of the site).
    pub snapshot_enablement: &'static str,
    /// The slot this boot runs (`forja.slot=`) and whether it is a trial boot of an update (systemd-boot's boot
    /// counting), as forja-health must record them: `("a", false)` for an installed disk.
    pub slot: &'static str,
    pub trial: bool,
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

/// (CPUs, MiB, GiB) the VMs this host runs need from it, as `forja::compose::firstboot` writes them: on a site's
/// host without the Management Node, its conferencing nodes only.
fn capacity_need(l: &forja::profile::Loaded) -> (u64, u64, u64) {
    let nodes = forja::profile::site::hosted_nodes(l);
    let r: Vec<_> = nodes.iter().map(|n| n.reservation).collect();
    (
        1 + r.iter().map(|x| u64::from(x.vcpus)).sum::<u64>(),
        forja::compose::firstboot::HOST_MEMORY_MIB
            + r.iter().map(|x| u64::from(x.memory_mb)).sum::<u64>(),
        r.iter().map(|x| u64::from(x.disk_gb)).sum::<u64>(),
    )
}

impl Expected {
    /// What the profile asks for. `disk_bytes` and `nodes_lock` come from the harness and the build.
    pub fn from_profile(l: &forja::profile::Loaded, boot: BootKind) -> Self {
        use forja::profile::model::Unlock;
        let p = &l.profile;
        let n = &p.network;
        // The nodes this host runs: on a site's host without the Management Node, its conferencing nodes only.
        let domains = forja::profile::site::hosted_nodes(l)
            .iter()
            .map(|h| ExpectedDomain {
                name: h.name.to_string(),
                vcpus: h.reservation.vcpus,
                memory_mib: h.reservation.memory_mb.into(),
                pinned: h.reservation.pinned,
            })
            .collect();
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
            secure_boot: p.boot.firmware.secure_boot,
            kernel_cmdline: None,
            slot: "a",
            trial: false,
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
            capacity_need: capacity_need(l),
            management_domain: p.pexip.management.name.to_string(),
            // The Management Node's disk is snapshotted on the host that runs it, and only there.
            snapshots: p.pexip.backup.management_snapshots
                && l.site.as_ref().is_none_or(|m| m.runs_management),
            snapshot_enablement: if forja::compose::hostpart::plan(l).is_some() {
                "enabled-runtime"
            } else {
                "enabled"
            },
        }
    }
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

pub(super) struct Out(pub(super) Vec<Failure>);

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
    check_boot(r, e, &mut o);
    check_selfcheck(r, e, &mut o);
    super::report_host::check_access(r, e, &mut o);
    super::report_host::check_time(r, e, &mut o);
    super::report_host::check_syslog(r, e, &mut o);
    super::report_host::check_capacity(r, e, &mut o);
    super::report_host::check_snapshots(r, e, &mut o);
    super::report_host::check_health(r, e, &mut o);
    o.0
}

pub(super) fn unit<'a>(r: &'a Report, name: &str, prop: &str) -> &'a str {
    r.units
        .get(name)
        .and_then(|u| u.get(prop))
        .map(String::as_str)
        .unwrap_or("")
}

pub(super) fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none)" } else { s }
}

pub(super) fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
