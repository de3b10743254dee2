//! Unit tests of the boot report parser and checker (issue 5: "demonstrate by breaking one on purpose in a unit
//! test of the report parser, not in the shipped image"). They run in every `cargo test`; no QEMU needed.
//!
//! The fixture `tests/boot/fixtures/lab-a1.report.json` is a real report (schema 2), printed by the test unit on
//! the first boot of the USB-installed lab disk (`a1-usb-installed-first-boot` in `tests/media_install.rs`: Secure
//! Boot enforcing, verity root, 2 CPUs, so the capacity check starts no VM). It passes every check unchanged
//! ([`good`]); every other test breaks one fact of it and asserts
//! the precise message.

#[allow(dead_code)]
mod support;

use serde_json::{Value, json};
use support::qemu::{Probe, probe_tcp};
use support::report::{self, BootKind, Expected, Failure, parse_console, parse_json};

const FIXTURE: &str = include_str!("boot/fixtures/lab-a1.report.json");

fn expected(kind: BootKind) -> Expected {
    let l = forja::profile::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lab.toml"),
        forja::profile::SecretsNeed::Required,
    )
    .unwrap();
    let mut e = Expected::from_profile(&l, kind);
    e.disk_bytes = Some(13_950_976 * 512);
    e
}

/// The captured report, as the host printed it.
fn good() -> Value {
    serde_json::from_str(FIXTURE).unwrap()
}

fn failures(v: &Value, e: &Expected) -> Vec<Failure> {
    report::check(&parse_json(&v.to_string()).unwrap(), e)
}

/// Breaks the good report with `f` and returns the messages.
fn broken(f: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut v = good();
    f(&mut v);
    failures(&v, &expected(BootKind::First))
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

fn link(v: &mut Value, name: &str) -> usize {
    v["net"]["addr"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l["ifname"] == name)
        .unwrap()
}

#[test]
fn the_real_report_parses_from_a_console_log() {
    let console = format!(
        "[  OK  ] Started something.\r\nforja-test-report: sysctl\nFORJA-TEST-REPORT {FIXTURE}\nFORJA-TEST-HOLD 25s\n"
    );
    let r = parse_console(&console).unwrap();
    assert_eq!(r.hostname, "kvm-lab");
    assert_eq!(r.vmstore.device, "/dev/vda8");
    assert_eq!(r.libvirt.domains.len(), 2);
}

#[test]
fn the_good_report_passes_every_check() {
    let f = failures(&good(), &expected(BootKind::First));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn a_missing_or_garbled_report_line_is_named() {
    assert_eq!(
        parse_console("no report here\n").unwrap_err().to_string(),
        "no `FORJA-TEST-REPORT` line on the console"
    );
    // A kernel message landing in the middle of the line.
    let mut line = FIXTURE.trim_end().to_owned();
    let at = line.find("\"boot_id\"").unwrap();
    line.insert_str(at, "[  231.1] br-pexip: port 1(vmnic0) entered");
    let err = parse_console(&format!("FORJA-TEST-REPORT {line}\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the report line is not a valid report: "),
        "{err}"
    );
    assert!(err.contains("br-pexip: port 1"), "{err}");
}

#[test]
fn extra_management_address_is_reported_precisely() {
    let msgs = broken(|v| {
        let i = link(v, "mgmt0");
        v["net"]["addr"][i]["addr_info"]
            .as_array_mut()
            .unwrap()
            .push(
                json!({"family": "inet", "local": "10.0.2.15", "prefixlen": 24, "scope": "global"}),
            );
    });
    assert_one(
        &msgs,
        "[network] management NIC mgmt0 has 192.0.2.10/24 and 10.0.2.15/24; expected exactly 192.0.2.10/24",
    );
}

#[test]
fn link_local_ipv6_on_management_breaks_exactly_one_address() {
    let msgs = broken(|v| {
        let i = link(v, "mgmt0");
        v["net"]["addr"][i]["addr_info"]
            .as_array_mut()
            .unwrap()
            .push(json!({"family": "inet6", "local": "fe80::5054:ff:fe0a:1", "prefixlen": 64, "scope": "link"}));
    });
    assert_one(
        &msgs,
        "[network] management NIC mgmt0 has 192.0.2.10/24 and fe80::5054:ff:fe0a:1/64; expected exactly 192.0.2.10/24",
    );
}

#[test]
fn address_on_the_bridge_is_a_failure() {
    let msgs = broken(|v| {
        let i = link(v, "br-pexip");
        v["net"]["addr"][i]["addr_info"] = json!([{"family": "inet6", "local": "2001:db8::1", "prefixlen": 64, "scope": "global"}]);
    });
    assert_one(
        &msgs,
        "[network] VM bridge br-pexip has host address 2001:db8::1/64; expected no IPv4 and no global IPv6 address",
    );
}

#[test]
fn vm_nic_outside_the_bridge_is_a_failure() {
    let msgs = broken(|v| {
        let i = link(v, "vmnic0");
        v["net"]["addr"][i]
            .as_object_mut()
            .unwrap()
            .remove("master");
    });
    assert_one(
        &msgs,
        "[network] VM NIC vmnic0 is enslaved to nothing; expected bridge br-pexip",
    );
}

#[test]
fn default_route_via_the_vm_nic_is_a_failure() {
    let msgs = broken(|v| {
        v["net"]["route4"]
            .as_array_mut()
            .unwrap()
            .push(json!({"dst": "default", "gateway": "198.51.100.1", "dev": "br-pexip"}));
    });
    assert_one(
        &msgs,
        "[network] default route via br-pexip gateway 198.51.100.1 (table main); the VM NIC must carry no host route",
    );
}

#[test]
fn ssh_listening_while_disabled_is_a_failure() {
    let msgs = broken(|v| v["net"]["listening_tcp"] = json!(["0.0.0.0:22", "[::]:22"]));
    assert_one(
        &msgs,
        "[network] SSH is listening on 0.0.0.0:22 and [::]:22 but the profile disables it",
    );
}

#[test]
fn firewall_policy_accept_or_reject_rule_is_a_failure() {
    let msgs = broken(|v| {
        for i in v["nft"]["nftables"].as_array_mut().unwrap() {
            if i["chain"]["hook"] == "input" {
                i["chain"]["policy"] = json!("accept");
            }
        }
    });
    assert_one(
        &msgs,
        "[firewall] inet forja input chain \"input\" has policy \"accept\"; expected drop",
    );
    let msgs = broken(|v| {
        v["nft"]["nftables"]
            .as_array_mut()
            .unwrap()
            .push(json!({"rule": {
            "family": "inet", "table": "forja", "chain": "input", "handle": 99,
            "expr": [{"reject": {"type": "tcp reset"}}]}}));
    });
    assert_one(
        &msgs,
        "[firewall] inet forja input chain has 1 reject rule(s); closed ports must drop silently",
    );
    let msgs = broken(|v| v["nft"] = Value::Null);
    assert_one(
        &msgs,
        "[firewall] no nftables ruleset in the report (`nft -j list ruleset` failed or printed nothing)",
    );
}

#[test]
fn a_wrong_or_missing_sysctl_is_a_failure() {
    let msgs = broken(|v| v["sysctl"]["net.ipv4.conf.all.rp_filter"] = json!("0"));
    assert_one(
        &msgs,
        "[sysctl] net.ipv4.conf.all.rp_filter = 0; expected 1",
    );
    let msgs = broken(|v| {
        v["sysctl"]
            .as_object_mut()
            .unwrap()
            .remove("net.ipv6.conf.br-pexip.disable_ipv6");
    });
    assert_one(
        &msgs,
        "[sysctl] net.ipv6.conf.br-pexip.disable_ipv6 not reported: no /etc/sysctl.d file sets it; expected 1",
    );
}

#[test]
fn luks_breakages_are_each_named() {
    // A passphrase keyslot (no token) with PBKDF2: two findings, both named.
    let msgs = broken(|v| {
        let mut s = v["vmstore"]["luks"]["keyslots"]["1"].clone();
        s["kdf"] = json!({"type": "pbkdf2", "hash": "sha256", "iterations": 1000, "salt": "AAAA"});
        v["vmstore"]["luks"]["keyslots"]["0"] = s;
    });
    assert_eq!(
        msgs,
        [
            "[vmstore] passphrase keyslot 0 uses pbkdf2; expected argon2id",
            "[vmstore] 1 keyslot(s) without a token (0); expected 0: a leftover setup keyslot?",
        ]
    );
    // An argon2id slot without a token right after first boot: the setup key was not removed.
    let msgs = broken(|v| {
        let mut s = v["vmstore"]["luks"]["keyslots"]["1"].clone();
        s["kdf"] =
            json!({"type": "argon2id", "time": 4, "memory": 32768, "cpus": 1, "salt": "AAAA"});
        v["vmstore"]["luks"]["keyslots"]["0"] = s;
    });
    assert_one(
        &msgs,
        "[vmstore] 1 keyslot(s) without a token (0); expected 0: a leftover setup keyslot?",
    );
    let msgs = broken(|v| v["vmstore"]["luks"]["tokens"]["0"]["tpm2-pcrs"] = json!([0, 7]));
    assert_one(
        &msgs,
        "[vmstore] TPM2 token bound to PCRs [0, 7]; expected [7]",
    );
    let msgs = broken(|v| {
        v["vmstore"]["luks"]["tokens"]
            .as_object_mut()
            .unwrap()
            .remove("1");
        v["vmstore"]["luks"]["keyslots"]
            .as_object_mut()
            .unwrap()
            .remove("2");
    });
    assert_one(
        &msgs,
        "[vmstore] 0 recovery keyslots (systemd-recovery tokens); expected 1",
    );
}

#[test]
fn vmstore_not_grown_closed_or_unmounted_is_a_failure() {
    let msgs = broken(|v| v["vmstore"]["part_size_sectors"] = json!(65536));
    assert_one(
        &msgs,
        "[vmstore] vmstore ends at sector 5494784 of 13950976: 4129 MiB of the disk unused; expected it grown to the end",
    );
    let msgs = broken(|v| v["vmstore"]["mount"] = json!({"filesystems": []}));
    assert_one(
        &msgs,
        "[vmstore] nothing is mounted at /var/lib/libvirt/images",
    );
    let msgs = broken(|v| v["vmstore"]["mapper_active"] = json!(false));
    assert_one(&msgs, "[vmstore] /dev/mapper/vmstore is not open");
}

#[test]
fn volume_keys_compare_across_devices_and_boots() {
    let a = parse_json(&good().to_string()).unwrap();
    let mut b = a.clone();
    assert_eq!(
        report::check_keys_differ(&a, &b).unwrap().to_string(),
        format!(
            "[vmstore] two devices installed from the same image have the same vmstore volume key (sha256 {})",
            a.vmstore.key_sha256
        )
    );
    assert!(report::check_same_key(&a, &b).is_none());
    b.vmstore.key_sha256 = "0".repeat(64);
    assert!(report::check_keys_differ(&a, &b).is_none());
    assert!(report::check_same_key(&a, &b).is_some());
}

#[test]
fn node_image_hash_mismatch_is_a_failure() {
    let msgs = broken(|v| v["nodes"]["files"][0]["sha256"] = json!("0".repeat(64)));
    // conf01's disk is not a verified image, and so the conferencing image now serves no node: both named.
    assert_eq!(
        msgs,
        [
            format!(
                "[nodes] node conf01: /var/lib/libvirt/images/conf01.qcow2 has sha256 {}, which no staged image in nodes.lock has",
                "0".repeat(64)
            ),
            "[nodes] Pexip_Infinity_v25.4_generic_ConfNode_STANDIN.qcow2 (sha256 49f4d4d6842d19489809b1532a9540aaeed871ca9effd969a351ad5a68e3ddd4, in nodes.lock) is the disk of no node in /var/lib/libvirt/images".to_owned(),
        ]
    );
}

#[test]
fn domain_reservations_and_state_are_checked() {
    let msgs = broken(|v| v["libvirt"]["domains"][1]["state"] = json!("running"));
    assert_one(
        &msgs,
        "[domains] domain pexmgr is running; expected shut off (defined, not started: the capacity check did not pass)",
    );
    let msgs = broken(|v| {
        let x = v["libvirt"]["domains"][1]["xml"]
            .as_str()
            .unwrap()
            .replace("<locked/>", "");
        v["libvirt"]["domains"][1]["xml"] = json!(x);
    });
    assert_one(
        &msgs,
        "[domains] domain pexmgr: memory not locked (no <memoryBacking><locked/>)",
    );
    let msgs = broken(|v| {
        let x = v["libvirt"]["domains"][0]["xml"]
            .as_str()
            .unwrap()
            .replace("<vcpupin vcpu='3'", "<emulatorpin x='3'")
            .replace("<vcpupin vcpu=\"3\"", "<emulatorpin x=\"3\"");
        v["libvirt"]["domains"][0]["xml"] = json!(x);
    });
    assert_one(
        &msgs,
        "[domains] domain conf01: vCPU 3 not pinned (no <vcpupin>)",
    );
    let msgs = broken(|v| {
        v["libvirt"]["domains"].as_array_mut().unwrap().remove(0);
    });
    assert_one(
        &msgs,
        "[domains] domain conf01 is not defined (defined: pexmgr)",
    );
    // Another host's node defined here (a site's host carries only its own).
    let msgs = broken(|v| {
        let mut other = v["libvirt"]["domains"][0].clone();
        other["name"] = json!("conf02");
        v["libvirt"]["domains"].as_array_mut().unwrap().push(other);
    });
    assert_one(
        &msgs,
        "[domains] domain conf02 is defined but is not one of this host's nodes (pexmgr and conf01)",
    );
}

#[test]
fn a_boot_outside_the_signed_chain_is_a_failure() {
    let msgs = broken(|v| v["boot"]["secure_boot"] = json!("00"));
    assert_one(
        &msgs,
        "[secure-boot] the SecureBoot variable reads \"00\"; expected 01 (Secure Boot enforcing with the site's keys)",
    );
    let msgs = broken(|v| v["boot"]["lockdown"] = json!("[none] integrity confidentiality"));
    assert_one(
        &msgs,
        "[secure-boot] kernel lockdown is \"[none] integrity confidentiality\"; expected [integrity] under Secure Boot",
    );
    let msgs = broken(|v| {
        v["boot"]["root_source"] = json!("/dev/vda2");
        v["boot"]["root_fstype"] = json!("ext4");
    });
    assert_one(
        &msgs,
        "[root] / is /dev/vda2 (ext4); expected /dev/mapper/root (erofs under dm-verity)",
    );
    let msgs = broken(|v| v["boot"]["etc_writable"] = json!(true));
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].starts_with("[root] / mounted ")
            && msgs[0].ends_with("/etc writable true; expected read-only"),
        "{msgs:?}"
    );
    let msgs = broken(|v| v["boot"]["verity_status"] = json!(["/dev/mapper/root is inactive."]));
    assert_one(
        &msgs,
        "[root] dm-verity root: /dev/mapper/root is inactive.; expected status: verified",
    );
    // The command line the kernel got must be the one inside the signed image.
    let mut e = expected(BootKind::First);
    e.kernel_cmdline = Some("root=/dev/vda2 rw init=/bin/sh".into());
    let f = failures(&good(), &e);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].to_string().starts_with("[boot] kernel command line "),
        "{f:#?}"
    );
    let msgs = broken(|v| v["boot"]["var_mount"] = json!(null));
    assert_one(
        &msgs,
        "[state] /var is \"\"; expected the ext4 state partition",
    );
}

#[test]
fn selfcheck_that_does_not_restore_or_alarm_is_a_failure() {
    let msgs = broken(|v| {
        v["selfcheck"]["sha256_after"] = v["selfcheck"]["sha256_tampered"].clone();
    });
    assert_one(
        &msgs,
        "[selfcheck] domain conf01 not restored: definition sha256 823e2ed907a17999cf5e29a0672c9bc786acb58af8beac63226c43779e0053fb after the self-check, 645535fab8e4f0ee3e27f9514ed609e79168ef5c7a5f31ca4ba75f3899f38413 before tampering",
    );
    let msgs = broken(|v| v["selfcheck"]["alarms"] = json!([]));
    assert_one(
        &msgs,
        "[selfcheck] journal alarms after redefining domain conf01: none; expected one for the change and one for the restore",
    );
    let msgs = broken(|v| v["selfcheck_timer"] = json!("{ OnBootUSec=15min ; next_elapse=0 }"));
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].starts_with("[selfcheck] forja-selfcheck.timer runs on "),
        "{msgs:?}"
    );
}

#[test]
fn a_health_check_that_failed_or_left_no_record_is_a_failure() {
    let msgs = broken(|v| {
        v["health"]["result"] = json!("unhealthy");
        v["health"]["failed"] = json!(["mgmt"]);
    });
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].starts_with("[health] the update record says slot a ")
            && msgs[0].contains("unhealthy (failed: mgmt;"),
        "{msgs:?}"
    );
    let msgs = broken(|v| v["health"]["trial"] = json!(true));
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let msgs = broken(|v| v["health"] = json!(null));
    assert_one(
        &msgs,
        "[health] no update record from forja-health on this host",
    );
    let msgs = broken(|v| v["units"]["forja-health.service"]["Result"] = json!("exit-code"));
    assert_one(
        &msgs,
        "[health] forja-health.service: ActiveState=active Result=exit-code; expected active, success",
    );
}

#[test]
fn firstboot_must_run_once_and_be_skipped_after() {
    // The first-boot report read as if it came from a second boot: first boot ran again.
    let f: Vec<String> = failures(&good(), &expected(BootKind::Again))
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_one(
        &f,
        "[firstboot] forja-firstboot.service on a later boot: ActiveState=active ConditionResult=yes; expected it skipped by its condition (ConditionResult=no, not active)",
    );
    let mut v = good();
    v["units"]["forja-firstboot.service"]["ActiveState"] = json!("inactive");
    v["units"]["forja-firstboot.service"]["ConditionResult"] = json!("no");
    assert!(failures(&v, &expected(BootKind::Again)).is_empty());
    let msgs = broken(|v| v["systemd"]["failed_units"] = json!(["forja-firstboot.service"]));
    assert_one(&msgs, "[systemd] failed units: forja-firstboot.service");
}

/// The classifier behind the drop-versus-reject probe, against local stand-ins for what slirp does after the
/// guest's answer: close at once (guest reset), hold silently (guest dropped), talk (service), nothing (no QEMU).
#[test]
fn probe_tells_drop_from_reject() {
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Duration;
    let wait = Duration::from_millis(700);
    let serve = |mode: &'static str| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            match mode {
                "close" => drop(s),
                "banner" => {
                    s.write_all(b"SSH-2.0-OpenSSH_9.2p1\r\n").unwrap();
                    std::thread::sleep(Duration::from_secs(2));
                }
                _ => std::thread::sleep(Duration::from_secs(2)),
            }
        });
        addr
    };
    assert!(matches!(probe_tcp(serve("close"), wait), Probe::Closed(_)));
    assert!(matches!(probe_tcp(serve("hold"), wait), Probe::NoReply(_)));
    assert_eq!(
        probe_tcp(serve("banner"), wait),
        Probe::Open("SSH-2.0-OpenSSH_9.2p1".into())
    );
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(probe_tcp(free, wait), Probe::Refused);

    assert!(report::check_closed_port(9, &Probe::NoReply(wait)).is_none());
    assert_eq!(
        report::check_closed_port(9, &Probe::Closed(Duration::from_millis(3)))
            .unwrap()
            .to_string(),
        "[firewall] closed port 9 on the management address: reset/closed after 3 ms (the guest rejected); expected no reply (drop, not reject)"
    );
    assert!(report::check_ssh_port(false, &Probe::Open("SSH-2.0".into())).is_some());
    assert!(report::check_ssh_port(true, &Probe::Open("SSH-2.0".into())).is_none());
}
