//! The boot report's checks of issue 14: what each host-side rule does where it takes effect (logins, time,
//! logs, bridged traffic, capacity and start order, Management Node copies). Each is broken on purpose in
//! `tests/boot_report.rs`. Part of [`super::report`]'s `check`.

use serde::Deserialize;
use serde_json::Value;

use super::report::{Expected, Out, Report, list, unit};

/// What a login gets (§51–52).
#[derive(Debug, Clone, Deserialize)]
pub struct Access {
    /// `/etc/issue`.
    pub issue: String,
    /// `$TMOUT` of a root login shell.
    pub tmout: String,
    /// Shadow fields 3–6 of root: last change, minimum age, maximum age, warning (never the hash).
    pub root_ageing: String,
    /// `/etc/security/pwquality.conf` without comments.
    pub pwquality: Vec<String>,
    /// The pam_pwhistory lines of `/etc/pam.d/common-password`.
    pub pwhistory: Vec<String>,
    #[serde(default)]
    pub login_defs: Vec<String>,
}

/// chrony (§72–73).
#[derive(Debug, Clone, Deserialize)]
pub struct Time {
    /// `chronyd -p`: the configuration as chronyd parsed it.
    pub chronyd_config: Vec<String>,
    pub keyfile_present: bool,
    /// `chronyc -n -c sources` (empty where no source resolves, as in the boot test).
    #[serde(default)]
    pub sources: Vec<String>,
}

/// rsyslog (§89).
#[derive(Debug, Clone, Deserialize)]
pub struct SyslogState {
    /// Exit code of `rsyslogd -N1` (the configuration check).
    pub check_rc: i32,
    #[serde(default)]
    pub check_output: Vec<String>,
    /// The gnutlsPriorityString of forja's forwarding rule.
    pub priority: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Bridge {
    pub br_netfilter_loaded: bool,
}

/// The capacity check (§27) as first boot and every later boot leave it.
#[derive(Debug, Clone, Deserialize)]
pub struct Capacity {
    pub online_cpus: Option<u64>,
    /// `/var/lib/forja/capacity.json`.
    pub result: Option<Value>,
    /// `/var/lib/forja/capacity.ok` exists.
    pub ok_flag: bool,
    /// ALARM lines of forja-capacity in this boot's journal.
    pub alarms: Vec<String>,
}

/// One run of `/usr/lib/forja/snapshot` by the report (§92–93).
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshots {
    pub exit_code: i32,
    #[serde(default)]
    pub output: Vec<String>,
    /// Files in `vmstore/snapshots`.
    pub files: Vec<String>,
    /// `qemu-img compare` of the newest copy with the Management Node's disk.
    pub latest_matches_disk: bool,
}

/// §51–52: the banner and idle timeout a login gets, root's own password ageing, the PAM policy.
pub(super) fn check_access(r: &Report, e: &Expected, o: &mut Out) {
    let Some(a) = &r.access else {
        return o.fail("access", "no `access` section in the report");
    };
    if a.issue != e.banner {
        o.fail(
            "access",
            format!("/etc/issue is {:?}; expected the profile's banner", a.issue),
        );
    }
    if a.tmout.trim() != e.tmout_seconds.to_string() {
        o.fail(
            "access",
            format!(
                "a root login shell has TMOUT={:?}; expected {}",
                a.tmout.trim(),
                e.tmout_seconds
            ),
        );
    }
    let f: Vec<&str> = a.root_ageing.split(':').collect();
    let (min, max, warn) = e.root_ageing;
    if f.len() != 4 || f[1..] != [min.to_string(), max.to_string(), warn.to_string()] {
        o.fail(
            "access",
            format!(
                "root's shadow ageing is {:?} (last change:min:max:warn); expected min {min}, max {max}, warn {warn} days",
                a.root_ageing
            ),
        );
    }
    for (key, want) in [("minlen", e.min_length), ("minclass", e.min_classes)] {
        if !a
            .pwquality
            .iter()
            .any(|l| l.replace(' ', "") == format!("{key}={want}"))
        {
            o.fail(
                "access",
                format!(
                    "pwquality.conf has no `{key} = {want}` ({})",
                    list(&a.pwquality)
                ),
            );
        }
    }
    if !a
        .pwhistory
        .iter()
        .any(|l| l.contains(&format!("remember={}", e.history)))
    {
        o.fail(
            "access",
            format!(
                "common-password has no pam_pwhistory remember={} ({})",
                e.history,
                list(&a.pwhistory)
            ),
        );
    }
}

/// §72–73: chronyd parsed every server with its key and selects authenticated sources only.
pub(super) fn check_time(r: &Report, e: &Expected, o: &mut Out) {
    let Some(t) = &r.time else {
        return o.fail("time", "no `time` section in the report");
    };
    if unit(r, "chrony.service", "ActiveState") != "active" {
        o.fail("time", "chrony.service is not active");
    }
    for (addr, key) in &e.ntp {
        let line = t
            .chronyd_config
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(addr));
        let keyed = match (line, key) {
            (Some(l), Some(k)) => l
                .split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w == ["key", &k.to_string()]),
            _ => false,
        };
        if !keyed {
            o.fail(
                "time",
                format!(
                    "chronyd does not use {addr} with key {}: {}",
                    key.map(|k| k.to_string()).unwrap_or("?".into()),
                    line.map(String::as_str).unwrap_or("no such server")
                ),
            );
        }
    }
    if !t
        .chronyd_config
        .iter()
        .any(|l| l.trim() == "authselectmode require")
    {
        o.fail(
            "time",
            "chronyd may select an unauthenticated source: no `authselectmode require`",
        );
    }
}

/// §89: rsyslog accepts its configuration and its TLS priority allows the profile's versions only.
pub(super) fn check_syslog(r: &Report, e: &Expected, o: &mut Out) {
    let Some(want) = &e.syslog_priority else {
        return;
    };
    let Some(s) = &r.syslog else {
        return o.fail("syslog", "no `syslog` section in the report");
    };
    if unit(r, "rsyslog.service", "ActiveState") != "active" {
        o.fail("syslog", "rsyslog.service is not active");
    }
    if s.check_rc != 0 {
        o.fail(
            "syslog",
            format!(
                "rsyslogd -N1 exited {}: {}",
                s.check_rc,
                list(&s.check_output)
            ),
        );
    }
    if &s.priority != want {
        o.fail(
            "syslog",
            format!(
                "rsyslog's TLS priority is {:?}; expected {want:?}",
                s.priority
            ),
        );
    }
}

/// §59: the host does not filter the VMs' bridged traffic, so IPsec between nodes passes.
pub(super) fn check_bridge(r: &Report, _e: &Expected, o: &mut Out) {
    let Some(b) = &r.bridge else {
        return o.fail("network", "no `bridge` section in the report");
    };
    if b.br_netfilter_loaded {
        o.fail("network", "br_netfilter is loaded: bridged VM traffic (IPsec between nodes) would meet the host's firewall");
    }
    let bridge_tables: Vec<String> = r
        .nft
        .as_ref()
        .and_then(|v| v.get("nftables"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("table"))
        .filter(|t| t["family"] == "bridge")
        .map(|t| t["name"].as_str().unwrap_or("?").to_owned())
        .collect();
    if !bridge_tables.is_empty() {
        o.fail(
            "network",
            format!(
                "nftables filters bridged traffic: bridge table(s) {}",
                list(&bridge_tables)
            ),
        );
    }
}

/// §27, §29: the capacity check ran with the profile's needs and what this host has; a host too small raised an
/// alarm and started no VM.
pub(super) fn check_capacity(r: &Report, e: &Expected, o: &mut Out) {
    let Some(c) = &r.capacity else {
        return o.fail("capacity", "no `capacity` section in the report");
    };
    let Some(res) = &c.result else {
        return o.fail(
            "capacity",
            "no /var/lib/forja/capacity.json: the capacity check did not run",
        );
    };
    let n = |k: &str, w: &str| res[k][w].as_u64();
    let (cpus, mem, disk) = e.capacity_need;
    let needs = (
        n("cpus", "need"),
        n("memory_mib", "need"),
        n("disk_gib", "need"),
    );
    if needs != (Some(cpus), Some(mem), Some(disk)) {
        o.fail(
            "capacity",
            format!(
                "capacity.json needs {needs:?}; the profile's VMs need ({cpus}, {mem}, {disk})"
            ),
        );
    }
    if n("cpus", "have") != c.online_cpus {
        o.fail(
            "capacity",
            format!(
                "capacity.json counts {:?} CPUs; the host has {:?} online",
                n("cpus", "have"),
                c.online_cpus
            ),
        );
    }
    let fits = ["cpus", "memory_mib", "disk_gib"]
        .iter()
        .all(|k| n(k, "have") >= n(k, "need"));
    if res["fits"].as_bool() != Some(fits) || c.ok_flag != fits {
        o.fail(
            "capacity",
            format!(
                "capacity.json says fits={}, the flag file {}; its numbers say {fits}",
                res["fits"],
                if c.ok_flag { "exists" } else { "does not" }
            ),
        );
    }
    let nodes = (
        "forja-nodes.service",
        unit(r, "forja-nodes.service", "ConditionResult"),
    );
    if !fits && (c.alarms.is_empty() || nodes.1 != "no") {
        o.fail(
            "capacity",
            format!("the host is too small, yet alarms: {}; {} ConditionResult={} (expected an alarm and the VMs not started)", list(&c.alarms), nodes.0, nodes.1),
        );
    }
    if fits && (nodes.1 != "yes" || unit(r, nodes.0, "Result") != "success") {
        o.fail(
            "capacity",
            format!(
                "the host holds every VM, yet {} did not run and succeed",
                nodes.0
            ),
        );
    }
}

/// §92–93: the copy timer is on (when the profile asks), and a run copies the Management Node's disk.
pub(super) fn check_snapshots(r: &Report, e: &Expected, o: &mut Out) {
    let t = "forja-snapshot.timer";
    let enabled = unit(r, t, "UnitFileState") == e.snapshot_enablement
        && unit(r, t, "ActiveState") == "active";
    if enabled != e.snapshots {
        o.fail(
            "snapshots",
            format!(
                "{t} is {} / {}; the profile says management-snapshots = {}",
                unit(r, t, "UnitFileState"),
                unit(r, t, "ActiveState"),
                e.snapshots
            ),
        );
    }
    if !e.snapshots {
        return;
    }
    let Some(s) = &r.snapshots else {
        return o.fail("snapshots", "no `snapshots` section in the report");
    };
    let copies: Vec<String> = s
        .files
        .iter()
        .filter(|f| f.starts_with(&format!("{}-", e.management_domain)) && f.ends_with(".qcow2"))
        .cloned()
        .collect();
    if s.exit_code != 0 || copies.is_empty() || !s.latest_matches_disk {
        o.fail(
            "snapshots",
            format!(
                "the snapshot run exited {}, left {} and its newest copy {} the Management Node's disk",
                s.exit_code,
                list(&s.files),
                if s.latest_matches_disk { "matches" } else { "does not match" }
            ),
        );
    }
}

/// One line of forja-health's update record (`/var/lib/forja/update-records/SLOT-VERSION.jsonl`).
#[derive(Debug, Clone, Deserialize)]
pub struct HealthRecord {
    pub slot: String,
    pub version: String,
    pub trial: bool,
    pub result: String,
    pub failed: Vec<String>,
    pub action: String,
}

/// Issue 16: the health check that decides whether an updated slot is kept ran on this boot, found every check
/// passing, and recorded it for the slot the boot runs. An installed disk boots slot A with no boot counting
/// (`trial` false), so a pass blesses nothing and a failure would be an alarm only, which is exactly what must not
/// happen; an update's first boot of its slot is a trial.
pub(super) fn check_health(r: &Report, e: &Expected, o: &mut Out) {
    let u = "forja-health.service";
    if unit(r, u, "ActiveState") != "active" || unit(r, u, "Result") != "success" {
        o.fail(
            "health",
            format!(
                "{u}: ActiveState={} Result={}; expected active, success",
                unit(r, u, "ActiveState"),
                unit(r, u, "Result")
            ),
        );
    }
    let Some(h) = &r.health else {
        return o.fail("health", "no update record from forja-health on this host");
    };
    if h.result != "healthy" || !h.failed.is_empty() || h.slot != e.slot || h.trial != e.trial {
        o.fail(
            "health",
            format!(
                "the update record says slot {} version {} trial={} {} (failed: {}; {}); expected slot {} trial={}, healthy",
                h.slot,
                h.version,
                h.trial,
                h.result,
                list(&h.failed),
                h.action,
                e.slot,
                e.trial
            ),
        );
    }
}
