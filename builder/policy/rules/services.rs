//! §81–97: SNMP, audit logs and backups. The conference security services (§98–105) are in
//! [`super::conference`].
//!
//! §84 (high availability) is not a rule: the guide states the product has no HA configuration, and its
//! recommendation (several Conferencing Nodes per location behind DNS) concerns more hosts than the one forja
//! builds. §85–88, §90–91, §96–97 describe behaviour or point at documentation; nothing to check.
//!
//! §95, the backup upload scheme: the guide mandates SFTP, but Pexip's API documents FTPS and FTP as the schemes
//! of `autobackup_upload_url` (pexip/terraform-provider-pexip `resource_infinity_autobackup.go`: "Supported
//! schemes: FTPS, FTP"; the same in the management API's field table). No public Pexip source shows `sftp://`
//! accepted. So `1616-5.14.c` FAILs on `ftp://` and is MANUAL on `sftp://` (confirm the manager accepts it) and
//! on `ftps://` (the encrypted scheme Pexip documents: the accreditation must accept it in place of SFTP). See
//! `finding-backup-upload-scheme`.

use crate::profile::model::{SnmpMode, Transport};

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::{judge_secrets, proof};

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.11.a"),
        paragraph: "§81",
        statement: "SNMP, if used, is SNMPv3 only",
        enforcement: Enforcement::PexipPlan,
        how: "the plan sets snmp_mode = AUTHPRIV (SNMPv3) or DISABLED on the Management Node and every Conferencing Node",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: snmp_v3_only,
    },
    Rule {
        id: RuleId("1616-5.11.b"),
        paragraph: "§83",
        statement: "SNMPv3 read-only has a username, an authentication and a privacy password (8–100 characters)",
        enforcement: Enforcement::PexipPlan,
        how: "the plan sets snmp_username and both SNMPv3 passwords on every node; forja checks their length first",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: snmp_v3_credentials,
    },
    Rule {
        id: RuleId("1616-5.13.a"),
        paragraph: "§89, §91",
        statement: "Every Pexip node sends its logs to an external syslog server over TLS",
        enforcement: Enforcement::PexipPlan,
        how: "the plan POSTs each syslog_server/ with transport tls and attaches it to the Management Node (management_vm syslog_servers) and to every system location (system_location syslog_servers), so each node sends its own logs (§91)",
        proof: &[proof::PLAN_GOLDEN, proof::ATTACH, proof::AUDIT],
        checklist: Some(Checklist::Syslog),
        check: pexip_syslog_tls,
    },
    Rule {
        id: RuleId("1616-5.13.b"),
        paragraph: "§89",
        statement: "Support, audit and web server logs are all sent",
        enforcement: Enforcement::PexipPlan,
        how: "the plan sets audit_log, support_log and web_log on each syslog_server/",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Syslog),
        check: pexip_syslog_all_logs,
    },
    Rule {
        id: RuleId("1616-5.13.c"),
        paragraph: "§89, §106",
        statement: "The host sends its own logs (journal, audit) to the syslog server over TLS, at the profile's minimum TLS version",
        enforcement: Enforcement::HostArtifact,
        how: "rsyslog forwards every message over TLS (gtls, x509/name) with the syslog CA, its GnuTLS priority allowing host.syslog.tls-min-version and later only",
        proof: &[proof::BOOT_SYSLOG],
        checklist: Some(Checklist::Syslog),
        check: host_syslog_tls,
    },
    Rule {
        id: RuleId("1616-5.14.a"),
        paragraph: "§92–93, §95",
        statement: "Periodic configuration backups are made by the Management Node",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes autobackup/1/ autobackup_enabled = true (daily, 01:02 UTC)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Backups),
        check: backups_enabled,
    },
    Rule {
        id: RuleId("1616-5.14.d"),
        paragraph: "§92–93",
        statement: "The Management Node VM itself is copied periodically by the hypervisor, into the encrypted vmstore",
        enforcement: Enforcement::HostArtifact,
        how: "forja-snapshot.timer copies the Management Node's disk daily into /var/lib/libvirt/images/snapshots (vmstore, LUKS2), keeping the newest seven: a consistent copy of a stopped VM, a libvirt backup job of a running one",
        proof: &[proof::BOOT_SNAPSHOTS, proof::SNAPSHOT_SCRIPT],
        checklist: Some(Checklist::Backups),
        check: snapshots_enabled,
    },
    Rule {
        id: RuleId("1616-5.14.b"),
        paragraph: "§94–95",
        statement: "Backups are protected by a passphrase",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes autobackup/1/ autobackup_passphrase (write-only: the audit sees it is set)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Backups),
        check: backup_passphrase,
    },
    Rule {
        id: RuleId("1616-5.14.c"),
        paragraph: "§95",
        statement: "Backups are uploaded over an encrypted protocol (SFTP per the guide), never FTP",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes autobackup/1/ autobackup_upload_url with the profile's URL; ftp:// is refused",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Backups),
        check: backup_upload,
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
    c.expect(
        ctx.p.pexip.backup.enabled,
        "pexip.backup.enabled",
        false,
        "§92, §95: keep periodic configuration backups: set it to true",
    );
    c.verdict("daily configuration backups")
}

fn snapshots_enabled(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        ctx.p.pexip.backup.management_snapshots,
        "pexip.backup.management-snapshots",
        false,
        "§92–93: keep copies of the Management Node VM too: set it to true",
    );
    c.verdict("daily copies of the Management Node VM, the newest seven kept")
}

fn backup_upload(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.backup;
    let Some(url) = &b.upload_url else {
        return c.verdict("backups stay on the node (no upload)");
    };
    let scheme = url.split_once("://").map(|x| x.0.to_ascii_lowercase());
    c.expect(
        matches!(scheme.as_deref(), Some("sftp" | "ftps")),
        "pexip.backup.upload-url",
        val(url),
        "§95: FTP is forbidden: write an sftp:// URL, or ftps:// where the Management Node offers no SFTP",
    );
    c.expect(
        b.upload_username.is_some(),
        "pexip.backup.upload-username",
        "(absent)",
        "§95: the upload needs a user",
    );
    c.expect(
        b.upload_password.is_some(),
        "pexip.backup.upload-password",
        "(absent)",
        "§95: the upload needs a password secret",
    );
    if c.failed() {
        return c.verdict("");
    }
    Verdict::Manual(match scheme.as_deref() {
        Some("sftp") => "The guide's SFTP: Pexip's API documents only FTPS and FTP upload URLs (finding-backup-upload-scheme). Confirm that this v25.4 Management Node accepts sftp:// (`forja pexip apply` stops with HTTP 400 naming autobackup_upload_url if it does not), or switch to ftps://.".to_owned(),
        _ => "FTPS (FTP over TLS), the encrypted scheme Pexip documents, in place of the guide's SFTP, which Pexip's API does not list (finding-backup-upload-scheme): record the accreditation's acceptance of FTPS, or upload over SFTP from a relay that fetches the backups.".to_owned(),
    })
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
