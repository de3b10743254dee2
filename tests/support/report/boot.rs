//! Checks of the boot chain (Secure Boot, the verified read-only root, the state partition), the self-check, and
//! the checks that compare two boots or probe the host from outside.

use super::*;

pub(super) fn check_boot(r: &Report, e: &Expected, o: &mut Out) {
    let b = &r.boot;
    if e.secure_boot && b.secure_boot != "01" {
        o.fail(
            "secure-boot",
            format!(
                "the SecureBoot variable reads {:?}; expected 01 (Secure Boot enforcing with the site's keys)",
                b.secure_boot
            ),
        );
    }
    if e.secure_boot && !b.lockdown.contains("[integrity]") {
        o.fail(
            "secure-boot",
            format!(
                "kernel lockdown is {:?}; expected [integrity] under Secure Boot",
                b.lockdown
            ),
        );
    }
    if b.root_source != "/dev/mapper/root" || b.root_fstype != "erofs" {
        o.fail(
            "root",
            format!(
                "/ is {} ({}); expected /dev/mapper/root (erofs under dm-verity)",
                b.root_source, b.root_fstype
            ),
        );
    }
    if !b.root_options.split(',').any(|x| x == "ro") || b.root_writable || b.etc_writable {
        o.fail(
            "root",
            format!(
                "/ mounted {:?}, /usr writable {}, /etc writable {}; expected read-only",
                b.root_options, b.root_writable, b.etc_writable
            ),
        );
    }
    if !b
        .verity_status
        .iter()
        .any(|l| l.split_whitespace().eq(["status:", "verified"]))
    {
        o.fail(
            "root",
            format!(
                "dm-verity root: {}; expected status: verified",
                list(&b.verity_status)
            ),
        );
    }
    if let Some(want) = &e.kernel_cmdline
        && b.cmdline.trim() != want.trim()
    {
        o.fail(
            "boot",
            format!(
                "kernel command line {:?}; expected the signed image's {:?}",
                b.cmdline, want
            ),
        );
    }
    let var = b
        .var_mount
        .as_ref()
        .and_then(|v| v["filesystems"][0]["fstype"].as_str())
        .unwrap_or("");
    if var != "ext4" {
        o.fail(
            "state",
            format!("/var is {var:?}; expected the ext4 state partition"),
        );
    }
    if b.machine_id.len() != 32 || !b.machine_id.bytes().all(|c| c.is_ascii_hexdigit()) {
        o.fail(
            "state",
            format!(
                "machine-id {:?}; expected 32 hex digits made on this device",
                b.machine_id
            ),
        );
    }
    if !b.firstboot_done {
        o.fail("state", "/var/lib/forja/firstboot.done is missing");
    }
}

pub(super) fn check_selfcheck(r: &Report, e: &Expected, o: &mut Out) {
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
    if s.domain.is_empty() {
        o.fail("selfcheck", "the report found no domain to tamper with");
        return;
    }
    if s.sha256_tampered == s.sha256_before {
        o.fail(
            "selfcheck",
            format!(
                "redefining domain {} did not change its definition",
                s.domain
            ),
        );
    }
    if s.sha256_after != s.sha256_before {
        o.fail(
            "selfcheck",
            format!(
                "domain {} not restored: definition sha256 {} after the self-check, {} before tampering",
                s.domain,
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
    let about = |what: &str| {
        s.alarms
            .iter()
            .any(|a| a.contains(&format!("domain {}", s.domain)) && a.contains(what))
    };
    if !about("redefined") || !about("defined again") {
        o.fail(
            "selfcheck",
            format!(
                "journal alarms after redefining domain {}: {}; expected one for the change and one for the restore",
                s.domain,
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
pub use super::super::qemu::Probe;

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
