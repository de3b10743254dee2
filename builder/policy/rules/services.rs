//! §81–105: SNMP, audit logs, backups and the conference security services (PINs, locking, break-in
//! resistance, encrypted VM storage).
//!
//! §84 (high availability) is not a rule: the guide states the product has no HA configuration, and its
//! recommendation (several Conferencing Nodes per location behind DNS) concerns more hosts than the one forja
//! builds. §85–88, §90–91, §96–97 and §102 describe behaviour or point at documentation; nothing to check.
//!
//! Lab-only relaxation: `storage.kdf-cost = "test-only"` (`1616-5.15.i`) is WAIVED in a lab profile.

use crate::profile::model::{KdfCost, SnmpMode, Transport};

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::judge_secrets;

const APPLIED: &str = "forja build writes it into the Management Node configuration it generates";

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.11.a"),
        paragraph: "§81",
        statement: "SNMP, if used, is SNMPv3 only",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: None,
        check: snmp_v3_only,
    },
    Rule {
        id: RuleId("1616-5.11.b"),
        paragraph: "§83",
        statement: "SNMPv3 read-only has a username, an authentication and a privacy password (8–100 characters)",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: None,
        check: snmp_v3_credentials,
    },
    Rule {
        id: RuleId("1616-5.13.a"),
        paragraph: "§89",
        statement: "The Pexip nodes send their logs to an external syslog server over TLS",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Syslog),
        check: pexip_syslog_tls,
    },
    Rule {
        id: RuleId("1616-5.13.b"),
        paragraph: "§89",
        statement: "Support, audit and web server logs are all sent",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Syslog),
        check: pexip_syslog_all_logs,
    },
    Rule {
        id: RuleId("1616-5.13.c"),
        paragraph: "§89, §106",
        statement: "The host sends its own logs (journal, audit) to the syslog server over TLS",
        enforcement: Enforcement::Generated,
        how: "forja build writes an rsyslog TLS forwarding rule with the syslog CA",
        checklist: Some(Checklist::Syslog),
        check: host_syslog_tls,
    },
    Rule {
        id: RuleId("1616-5.14.a"),
        paragraph: "§92–93",
        statement: "Periodic backups of the configuration and snapshots of the Management Node",
        enforcement: Enforcement::Generated,
        how: "forja build enables automatic backups and a snapshot timer whose copies stay in the encrypted vmstore",
        checklist: Some(Checklist::Backups),
        check: backups_enabled,
    },
    Rule {
        id: RuleId("1616-5.14.b"),
        paragraph: "§94–95",
        statement: "Backups are protected by a passphrase",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Backups),
        check: backup_passphrase,
    },
    Rule {
        id: RuleId("1616-5.14.c"),
        paragraph: "§95",
        statement: "Backups are uploaded over SFTP only, never FTP",
        enforcement: Enforcement::Profile,
        how: "pexip.backup.upload-url must start with sftp://",
        checklist: Some(Checklist::Backups),
        check: backup_sftp,
    },
    Rule {
        id: RuleId("1616-5.15.a"),
        paragraph: "§98",
        statement: "Conference PINs have at least 6 digits",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: None,
        check: min_pin_length,
    },
    Rule {
        id: RuleId("1616-5.15.b"),
        paragraph: "§98, §100",
        statement: "Every meeting room has a host PIN, and a guest PIN when guests may join",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: None,
        check: rooms_have_pins,
    },
    Rule {
        id: RuleId("1616-5.15.c"),
        paragraph: "§98–99",
        statement: "Room PINs are digits only, long enough, and the host PIN differs from the guest PIN",
        enforcement: Enforcement::Generated,
        how: "forja build checks the PIN values before writing the room configuration",
        checklist: None,
        check: pin_values,
    },
    Rule {
        id: RuleId("1616-5.15.d"),
        paragraph: "§98, §101",
        statement: "Meeting rooms are locked: guests wait until a host joins",
        // Locking is a runtime command (command/v1/conference/lock/), not a stored setting.
        enforcement: Enforcement::Manual,
        how: "Hosts lock each meeting room when it starts (in-call control Lock, or POST command/v1/conference/lock/); guests then wait until a host joins",
        checklist: None,
        check: rooms_locked,
    },
    Rule {
        id: RuleId("1616-5.15.e"),
        paragraph: "§103",
        statement: "PIN brute-force resistance is on (at most 20 failures per 10 minutes)",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: None,
        check: pin_break_in,
    },
    Rule {
        id: RuleId("1616-5.15.f"),
        paragraph: "§103",
        statement: "VoIP scanner protection is on (at most 20 attempts per 10 minutes)",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: None,
        check: scanner_protection,
    },
    Rule {
        id: RuleId("1616-5.15.g"),
        paragraph: "§104",
        statement: "The break-in allow list names narrow, known networks only",
        enforcement: Enforcement::Profile,
        how: "pexip.break-in.allow-list entries must be /16 or narrower (IPv6 /48)",
        checklist: None,
        check: allow_list_narrow,
    },
    Rule {
        id: RuleId("1616-5.15.h"),
        paragraph: "§105",
        statement: "The VMs live on an encrypted volume (LUKS2), with a recovery key",
        enforcement: Enforcement::BootCheck,
        how: "the host formats the vmstore as LUKS2 at first boot, enrols TPM2/passphrase, shows the recovery key once, and refuses to start VMs from an unencrypted store",
        checklist: None,
        check: vmstore_encrypted,
    },
    Rule {
        id: RuleId("1616-5.15.i"),
        paragraph: "§105",
        statement: "The vmstore passphrase keyslot uses the full argon2id cost",
        enforcement: Enforcement::Profile,
        how: "storage.kdf-cost must be \"default\"; \"test-only\" serves lab profiles only",
        checklist: None,
        check: kdf_cost,
    },
];

fn snmp_v3_only(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let m = ctx.p.pexip.snmp.mode;
    c.expect(
        m != SnmpMode::V2c,
        "pexip.snmp.mode",
        val(&m),
        "§81: only SNMPv3 may be used: set mode = \"v3-read-only\" or \"off\"",
    );
    c.verdict(format!("SNMP {}", val(&m)))
}

fn snmp_v3_credentials(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.snmp;
    if s.mode != SnmpMode::V3ReadOnly {
        return Verdict::Ok("SNMPv3 not in use".into());
    }
    let mut c = ctx.checks();
    let fix = "§83: SNMPv3 read-only needs username, auth-password and privacy-password";
    c.expect(
        s.username.as_deref().is_some_and(|u| !u.is_empty()),
        "pexip.snmp.username",
        val(&s.username),
        fix,
    );
    c.expect(
        s.auth_password.is_some(),
        "pexip.snmp.auth-password",
        "(absent)",
        fix,
    );
    c.expect(
        s.privacy_password.is_some(),
        "pexip.snmp.privacy-password",
        "(absent)",
        fix,
    );
    if c.failed() {
        return c.verdict("");
    }
    let refs = [
        (
            "pexip.snmp.auth-password".to_owned(),
            s.auth_password.as_ref(),
        ),
        (
            "pexip.snmp.privacy-password".to_owned(),
            s.privacy_password.as_ref(),
        ),
    ];
    judge_secrets(
        ctx,
        refs.into_iter().filter_map(|(f, r)| r.map(|r| (f, r))),
        |pw| {
            let n = pw.chars().count();
            if (8..=100).contains(&n) {
                vec![]
            } else {
                vec![format!("has {n} characters; SNMPv3 takes 8 to 100")]
            }
        },
        "SNMPv3 user with authentication and privacy",
    )
}

fn pexip_syslog_tls(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = &ctx.p.pexip.syslog;
    c.expect(
        !s.is_empty(),
        "pexip.syslog",
        "[]",
        "§89: add a [[pexip.syslog]] server with transport = \"tls\"",
    );
    for (i, srv) in s.iter().enumerate() {
        c.expect(
            srv.transport == Transport::Tls,
            &format!("pexip.syslog[{i}].transport"),
            val(&srv.transport),
            "§89: logs travel over TLS: set transport = \"tls\"",
        );
    }
    c.verdict(format!("{} syslog server(s) over TLS", s.len()))
}

fn pexip_syslog_all_logs(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let fix = "§89: send support, audit and web server logs: set it to true";
    for (i, s) in ctx.p.pexip.syslog.iter().enumerate() {
        c.expect(
            s.audit_log,
            &format!("pexip.syslog[{i}].audit-log"),
            false,
            fix,
        );
        c.expect(
            s.support_log,
            &format!("pexip.syslog[{i}].support-log"),
            false,
            fix,
        );
        c.expect(s.web_log, &format!("pexip.syslog[{i}].web-log"), false, fix);
    }
    c.verdict("support, audit and web logs")
}

fn host_syslog_tls(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    match &ctx.p.host.syslog {
        None => {
            c.expect(
                false,
                "host.syslog",
                "(absent)",
                "§89, §106: add [host.syslog] with transport = \"tls\"",
            );
        }
        Some(s) => {
            c.expect(
                s.transport == Transport::Tls,
                "host.syslog.transport",
                val(&s.transport),
                "§89: logs travel over TLS: set transport = \"tls\"",
            );
            c.expect(
                s.ca_certificate.is_some(),
                "host.syslog.ca-certificate",
                "(absent)",
                "§89: name the CA that signs the syslog server's certificate",
            );
        }
    }
    c.verdict("host logs forwarded over TLS")
}

fn backups_enabled(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.backup;
    c.expect(
        b.enabled,
        "pexip.backup.enabled",
        false,
        "§92, §95: keep periodic configuration backups: set it to true",
    );
    c.expect(
        b.management_snapshots,
        "pexip.backup.management-snapshots",
        false,
        "§92–93: keep snapshots of the Management Node VM too: set it to true",
    );
    c.verdict("daily backups and Management Node snapshots")
}

fn backup_passphrase(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.backup;
    c.expect(
        !b.enabled || b.passphrase.is_some(),
        "pexip.backup.passphrase",
        "(absent)",
        "§94–95: protect backups with a passphrase: passphrase = { secret = \"backup-passphrase\" }",
    );
    c.verdict("passphrase-protected")
}

fn backup_sftp(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.backup;
    let Some(url) = &b.upload_url else {
        return c.verdict("backups stay on the node (no upload)");
    };
    c.expect(
        url.starts_with("sftp://"),
        "pexip.backup.upload-url",
        val(url),
        "§95: backups are uploaded over SFTP only: write an sftp:// URL",
    );
    c.expect(
        b.upload_username.is_some(),
        "pexip.backup.upload-username",
        "(absent)",
        "§95: the SFTP upload needs a user",
    );
    c.expect(
        b.upload_password.is_some(),
        "pexip.backup.upload-password",
        "(absent)",
        "§95: the SFTP upload needs a password secret",
    );
    c.verdict("uploaded over SFTP")
}

fn min_pin_length(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let n = ctx.p.pexip.vmr.min_pin_length;
    c.expect(
        n >= 6,
        "pexip.vmr.min-pin-length",
        n,
        "§98: PINs have at least six digits: set it to 6 or more",
    );
    c.verdict(format!("at least {n} digits"))
}

fn rooms_have_pins(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        c.expect(
            r.host_pin.is_some(),
            &format!("pexip.vmr.rooms[{i}].host-pin"),
            "(absent)",
            "§98: access to a room is protected by a PIN: host-pin = { secret = \"...\" }",
        );
        c.expect(
            !r.allow_guests || r.guest_pin.is_some(),
            &format!("pexip.vmr.rooms[{i}].guest-pin"),
            "(absent)",
            "§98, §100: guests would join without a PIN: add guest-pin = { secret = \"...\" } or set allow-guests = false",
        );
    }
    c.verdict(format!(
        "{} room(s) PIN-protected",
        ctx.p.pexip.vmr.rooms.len()
    ))
}

fn pin_values(ctx: &Ctx) -> Verdict {
    if !ctx.has_secrets() {
        return Verdict::NeedsSecrets;
    }
    let min = ctx.p.pexip.vmr.min_pin_length.max(6) as usize;
    let mut refs = Vec::new();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        if let Some(h) = &r.host_pin {
            refs.push((format!("pexip.vmr.rooms[{i}].host-pin"), h));
        }
        if let Some(g) = &r.guest_pin {
            refs.push((format!("pexip.vmr.rooms[{i}].guest-pin"), g));
        }
    }
    let v = judge_secrets(
        ctx,
        refs,
        |pin| {
            let mut out = Vec::new();
            if !pin.chars().all(|c| c.is_ascii_digit()) {
                out.push("is not digits only (§98: a PIN is numeric)".to_owned());
            }
            let n = pin.chars().count();
            if n < min {
                out.push(format!("has {n} digits; §98 asks for at least {min}"));
            }
            out
        },
        "PINs numeric and long enough; host and guest PINs differ",
    );
    let mut c = ctx.checks();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        if let (Some(h), Some(g)) = (&r.host_pin, &r.guest_pin) {
            let same = h == g
                || matches!(
                    (ctx.secret(h).flatten(), ctx.secret(g).flatten()),
                    (Some(a), Some(b)) if a.expose() == b.expose()
                );
            c.expect_about(
                !same,
                &format!("pexip.vmr.rooms[{i}].guest-pin"),
                "equals the host PIN; §99: guests must not get host privileges: choose a different guest PIN",
            );
        }
    }
    match (v, c.verdict("")) {
        (Verdict::Fail(mut a), Verdict::Fail(b)) => {
            a.extend(b);
            Verdict::Fail(a)
        }
        (_, Verdict::Fail(b)) => Verdict::Fail(b),
        (v, _) => v,
    }
}

fn rooms_locked(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        c.expect(
            r.locked,
            &format!("pexip.vmr.rooms[{i}].locked"),
            false,
            "§98, §101: guests wait for a host: set locked = true",
        );
    }
    c.verdict("rooms locked until a host joins")
}

fn pin_break_in(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.break_in;
    c.expect(
        b.pin_checks,
        "pexip.break-in.pin-checks",
        false,
        "§103: turn PIN brute-force resistance on: set it to true",
    );
    c.expect(
        (1..=20).contains(&b.max_pin_failures),
        "pexip.break-in.max-pin-failures",
        b.max_pin_failures,
        "§103: block after at most 20 failures in 10 minutes: set 1..20",
    );
    c.verdict(format!("after {} failures", b.max_pin_failures))
}

fn scanner_protection(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.break_in;
    c.expect(
        b.scanner_protection,
        "pexip.break-in.scanner-protection",
        false,
        "§103: turn VoIP scanner protection on: set it to true",
    );
    c.expect(
        (1..=20).contains(&b.max_scan_attempts),
        "pexip.break-in.max-scan-attempts",
        b.max_scan_attempts,
        "§103: block after at most 20 attempts in 10 minutes: set 1..20",
    );
    c.verdict(format!("after {} attempts", b.max_scan_attempts))
}

fn allow_list_narrow(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, e) in ctx.p.pexip.break_in.allow_list.iter().enumerate() {
        let min = if e.network.addr.is_ipv4() { 16 } else { 48 };
        c.expect(
            e.network.prefix >= min,
            &format!("pexip.break-in.allow-list[{i}].network"),
            val(&e.network.to_string()),
            format!("§104: the allow list bypasses break-in protection: name a known network of /{min} or narrower"),
        );
    }
    c.verdict(format!(
        "{} allow-list entr(ies)",
        ctx.p.pexip.break_in.allow_list.len()
    ))
}

fn vmstore_encrypted(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = &ctx.p.storage;
    c.expect(
        s.encrypted,
        "storage.encrypted",
        false,
        "§105: the machines holding the nodes are encrypted: remove the line or set encrypted = true",
    );
    c.expect(
        !s.unlock.is_empty(),
        "storage.unlock",
        "[]",
        "§105: say how the vmstore unlocks: unlock = [\"tpm2\", \"passphrase\"]",
    );
    c.expect(
        s.recovery_key,
        "storage.recovery-key",
        false,
        "§105: without a recovery key a lost TPM loses the VMs: set recovery-key = true",
    );
    c.verdict("LUKS2 vmstore with recovery key")
}

fn kdf_cost(ctx: &Ctx) -> Verdict {
    let k = ctx.p.storage.kdf_cost;
    if k == KdfCost::Default {
        return Verdict::Ok("argon2id defaults".into());
    }
    if ctx.lab() {
        return Verdict::Waived(
            "lab profile: test-only KDF cost so QEMU/TCG unlocks quickly".into(),
        );
    }
    let mut c = ctx.checks();
    c.expect(
        false,
        "storage.kdf-cost",
        val(&k),
        "§105: a production vmstore uses the full argon2id cost: set kdf-cost = \"default\"",
    );
    c.verdict("")
}
