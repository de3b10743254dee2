//! The boot report's issue-14 checks (`tests/support/report_host.rs`), each broken on purpose against the lab
//! fixture: logins (§51–52), time (§73), logs (§89), bridged traffic (§59), capacity and start order (§27, §29),
//! the self-check's period (§78) and the Management Node's copies (§92–93). No QEMU needed.

#[allow(dead_code)]
mod support;

use serde_json::{Value, json};
use support::report::{self, BootKind, Expected, parse_json};

const FIXTURE: &str = include_str!("boot/fixtures/lab-a1.report.json");

fn expected() -> Expected {
    let l = forja::profile::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lab.toml"),
        forja::profile::SecretsNeed::Required,
    )
    .unwrap();
    let mut e = Expected::from_profile(&l, BootKind::First);
    e.disk_bytes = Some(13_950_976 * 512);
    e
}

/// The fixture broken with `f`, checked: the failure messages.
fn broken(f: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
    f(&mut v);
    report::check(&parse_json(&v.to_string()).unwrap(), &expected())
        .iter()
        .map(|f| f.to_string())
        .collect()
}

fn assert_one(msgs: &[String], want: &str) {
    assert!(
        msgs.len() == 1 && msgs[0] == want,
        "expected exactly\n  {want}\ngot\n  {}",
        msgs.join("\n  ")
    );
}

#[test]
fn the_fixture_passes_every_check() {
    let f = broken(|_| {});
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn root_keeping_the_bases_ageing_is_a_failure() {
    assert_one(
        &broken(|v| v["access"]["root_ageing"] = json!("20454:0:99999:7")),
        "[access] root's shadow ageing is \"20454:0:99999:7\" (last change:min:max:warn); expected min 10, max 60, warn 7 days",
    );
}

#[test]
fn an_idle_timeout_that_is_not_the_profiles_is_a_failure() {
    assert_one(
        &broken(|v| v["access"]["tmout"] = json!("")),
        "[access] a root login shell has TMOUT=\"\"; expected 300",
    );
}

#[test]
fn a_missing_password_history_is_a_failure() {
    assert_one(
        &broken(|v| v["access"]["pwhistory"] = json!([])),
        "[access] common-password has no pam_pwhistory remember=5 (nothing)",
    );
}

#[test]
fn an_unauthenticated_time_source_is_a_failure() {
    assert_one(
        &broken(|v| v["time"]["chronyd_config"][1] = json!("server ntp2.lab.example iburst")),
        "[time] chronyd does not use ntp2.lab.example with key 2: server ntp2.lab.example iburst",
    );
    assert_one(
        &broken(|v| v["time"]["chronyd_config"][4] = json!("authselectmode mix")),
        "[time] chronyd may select an unauthenticated source: no `authselectmode require`",
    );
}

#[test]
fn a_syslog_priority_allowing_old_tls_is_a_failure() {
    assert_one(
        &broken(|v| v["syslog"]["priority"] = json!("NORMAL")),
        "[syslog] rsyslog's TLS priority is \"NORMAL\"; expected \"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2\"",
    );
    assert_one(
        &broken(|v| v["syslog"]["check_rc"] = json!(1)),
        "[syslog] rsyslogd -N1 exited 1: rsyslogd: version 8.2302.0, config validation run (level 1), master config /etc/rsyslog.conf and rsyslogd: End of config validation run. Bye.",
    );
}

#[test]
fn bridged_traffic_meeting_the_hosts_firewall_is_a_failure() {
    assert_one(
        &broken(|v| v["bridge"]["br_netfilter_loaded"] = json!(true)),
        "[network] br_netfilter is loaded: bridged VM traffic (IPsec between nodes) would meet the host's firewall",
    );
    assert_one(
        &broken(|v| {
            v["nft"]["nftables"]
                .as_array_mut()
                .unwrap()
                .push(json!({"table": {"family": "bridge", "name": "filter", "handle": 9}}))
        }),
        "[network] nftables filters bridged traffic: bridge table(s) filter",
    );
}

#[test]
fn a_self_check_timer_that_ignores_the_profile_is_a_failure() {
    assert_one(
        &broken(|v| {
            v["selfcheck_timer"] = json!(
                "{ OnBootUSec=15min ; next_elapse=n/a } { OnUnitActiveUSec=2h ; next_elapse=n/a }"
            )
        }),
        "[selfcheck] forja-selfcheck.timer runs on \"{ OnBootUSec=15min ; next_elapse=n/a } { OnUnitActiveUSec=2h ; next_elapse=n/a }\"; expected OnUnitActiveUSec=1h",
    );
}

#[test]
fn a_small_host_must_alarm_and_start_nothing() {
    assert_one(
        &broken(|v| v["capacity"]["alarms"] = json!([])),
        "[capacity] the host is too small, yet alarms: nothing; forja-nodes.service ConditionResult=no (expected an alarm and the VMs not started)",
    );
    assert_one(
        &broken(|v| v["capacity"]["ok_flag"] = json!(true)),
        "[capacity] capacity.json says fits=false, the flag file exists; its numbers say false",
    );
    assert_one(
        &broken(|v| v["capacity"]["result"]["cpus"]["need"] = json!(2)),
        "[capacity] capacity.json needs (Some(2), Some(9216), Some(150)); the profile's VMs need (9, 9216, 150)",
    );
}

#[test]
fn a_missing_capacity_check_is_a_failure() {
    let msgs = broken(|v| v["capacity"]["result"] = Value::Null);
    assert_one(
        &msgs,
        "[capacity] no /var/lib/forja/capacity.json: the capacity check did not run",
    );
}

#[test]
fn a_snapshot_that_differs_from_the_disk_is_a_failure() {
    assert_one(
        &broken(|v| v["snapshots"]["latest_matches_disk"] = json!(false)),
        "[snapshots] the snapshot run exited 0, left pexmgr-20261130T100302722Z.qcow2 and its newest copy does not match the Management Node's disk",
    );
    assert_one(
        &broken(|v| v["units"]["forja-snapshot.timer"]["UnitFileState"] = json!("disabled")),
        "[snapshots] forja-snapshot.timer is disabled / active; the profile says management-snapshots = true",
    );
    // A site's host has the timer's link in its host part (/run), never in the shared root's /etc.
    let mut site_host = expected();
    site_host.snapshot_enablement = "enabled-runtime";
    let check = |state: &str| -> Vec<String> {
        let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
        v["units"]["forja-snapshot.timer"]["UnitFileState"] = json!(state);
        report::check(&parse_json(&v.to_string()).unwrap(), &site_host)
            .iter()
            .map(|f| f.to_string())
            .collect()
    };
    assert!(
        check("enabled-runtime").is_empty(),
        "{:?}",
        check("enabled-runtime")
    );
    assert_one(
        &check("enabled"),
        "[snapshots] forja-snapshot.timer is enabled / active; the profile says management-snapshots = true",
    );
}

#[test]
fn systemd_spans_read_as_systemd_prints_them() {
    assert_eq!(report::systemd_span(60), "1h");
    assert_eq!(report::systemd_span(90), "1h 30min");
    assert_eq!(report::systemd_span(5), "5min");
    assert_eq!(report::systemd_span(1500), "1d 1h");
}
