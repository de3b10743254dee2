//! §36–56: authentication, LDAP, administration interfaces, session parameters, password policy, interfaces
//! and services.
//!
//! MANUAL rules and their levers:
//! - `1616-5.2.c` (§38, Active Directory integration for conference users): `pexip.admin-auth.directory-integration`.

use crate::profile::model::{AuthSource, ClientCertificate, Ldap, LdapTransport};

use super::super::rule::{Checklist, Checks, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::{judge_secrets, password_problems};

const APPLIED: &str = "forja build writes it into the Management Node configuration it generates";

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.2.a"),
        paragraph: "§36",
        statement: "Administrators authenticate against an external LDAP server",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Ldap),
        check: admins_use_ldap,
    },
    Rule {
        id: RuleId("1616-5.2.b"),
        paragraph: "§37",
        statement: "If administrator client certificates are required, the CA that issues them is imported",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Ldap),
        check: client_certificates,
    },
    Rule {
        id: RuleId("1616-5.2.c"),
        paragraph: "§38",
        statement: "Conference users are authenticated through the Active Directory integration",
        enforcement: Enforcement::Manual,
        how: "On the Management Node: Users & Devices > Active Directory / LDAP synchronisation: add the directory and the sync template for conference users (docs.pexip.com, integrate_ldap).",
        checklist: Some(Checklist::Ldap),
        check: directory_integration,
    },
    Rule {
        id: RuleId("1616-5.3.a"),
        paragraph: "§40",
        statement: "The LDAP bind account is a read-only service account, not an administrator",
        enforcement: Enforcement::Profile,
        how: "pexip.admin-auth.ldap.bind-account-read-only must be true",
        checklist: Some(Checklist::Ldap),
        check: ldap_read_only,
    },
    Rule {
        id: RuleId("1616-5.3.b"),
        paragraph: "§41",
        statement: "LDAP uses LDAPv3 with StartTLS on TCP 389",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Ldap),
        check: ldap_starttls,
    },
    Rule {
        id: RuleId("1616-5.3.c"),
        paragraph: "§42",
        statement: "LDAP \"Allow insecure transport\" is off: TLS is required",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Ldap),
        check: ldap_no_insecure,
    },
    Rule {
        id: RuleId("1616-5.4.1.a"),
        paragraph: "§43–44",
        statement: "The host is administered on its console; SSH, if enabled at all, takes keys only",
        enforcement: Enforcement::Generated,
        how: "forja build installs no sshd unless host.ssh.enabled, and then writes a key-only sshd_config",
        checklist: Some(Checklist::Users),
        check: host_ssh_keys_only,
    },
    Rule {
        id: RuleId("1616-5.4.1.b"),
        paragraph: "§45, §56",
        statement: "SSH is disabled on the Management Node and every Conferencing Node",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Users),
        check: node_ssh_off,
    },
    Rule {
        id: RuleId("1616-5.4.2"),
        paragraph: "§47–48",
        statement: "Authentication source is \"LDAP database and local database\"",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Users),
        check: ldap_and_local,
    },
    Rule {
        id: RuleId("1616-5.4.3.a"),
        paragraph: "§51",
        statement: "A login banner is shown before authentication (web interface and host console)",
        enforcement: Enforcement::Generated,
        how: "forja build writes the banner into the node configuration and the host's /etc/issue",
        checklist: Some(Checklist::Session),
        check: banners,
    },
    Rule {
        id: RuleId("1616-5.4.3.b"),
        paragraph: "§51",
        statement: "Idle management sessions end after 5 minutes",
        enforcement: Enforcement::Generated,
        how: "forja build sets the web session timeout and the host shell's TMOUT",
        checklist: Some(Checklist::Session),
        check: session_timeout,
    },
    Rule {
        id: RuleId("1616-5.4.4.a"),
        paragraph: "§52",
        statement: "Password policy: 12+ characters, 4 classes, history 5, max age 60 days, min age 10 days",
        enforcement: Enforcement::Generated,
        how: "forja build writes the policy into PAM (pwquality, pwhistory) and login.defs on the host",
        checklist: Some(Checklist::Users),
        check: password_policy,
    },
    Rule {
        id: RuleId("1616-5.4.4.b"),
        paragraph: "§52",
        statement: "Every password forja sets follows the §52 policy (nodes, bootloader, firmware, vmstore)",
        enforcement: Enforcement::Generated,
        how: "forja build checks the values before hashing them into the image",
        checklist: Some(Checklist::Users),
        check: chosen_passwords,
    },
    Rule {
        id: RuleId("1616-5.5.a"),
        paragraph: "§53–55",
        statement: "The host firewall drops by default and opens management services only to named admin networks",
        enforcement: Enforcement::Generated,
        how: "forja build writes an nftables ruleset: default drop, services only on the management NIC from network.management.admin-networks",
        checklist: None,
        check: admin_networks_narrow,
    },
    Rule {
        id: RuleId("1616-5.5.b"),
        paragraph: "§56",
        statement: "\"Enable HTTP access for external systems\" is off",
        // The public API names no field for it, so the configuration plan cannot set it: the operator checks it.
        enforcement: Enforcement::Manual,
        how: "On the Management Node: Platform > Global settings > Connectivity: leave \"Enable HTTP access for external systems\" unticked",
        checklist: None,
        check: http_access_off,
    },
];

fn source_has_ldap(s: AuthSource) -> bool {
    matches!(s, AuthSource::Ldap | AuthSource::LdapAndLocal)
}

fn admins_use_ldap(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let a = &ctx.p.pexip.admin_auth;
    c.expect(
        source_has_ldap(a.source),
        "pexip.admin-auth.source",
        val(&a.source),
        "§36: administrators should authenticate against LDAP: set source = \"ldap+local\"",
    );
    c.expect(
        !source_has_ldap(a.source) || a.ldap.is_some(),
        "pexip.admin-auth.ldap",
        "(absent)",
        "§36, §39: add [pexip.admin-auth.ldap] with the directory server",
    );
    c.verdict("LDAP for administrators")
}

fn client_certificates(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let cc = ctx.p.pexip.admin_auth.client_certificate;
    if cc == ClientCertificate::NotRequired {
        return c.verdict("client certificates not required (LDAP credentials)");
    }
    c.expect(
        ctx.p.pexip.certificates.ca_certificate.is_some(),
        "pexip.certificates.ca-certificate",
        "(absent)",
        format!(
            "§37: client-certificate = {} needs the CA that issues them: name its PEM file here",
            val(&cc)
        ),
    );
    c.verdict(format!("client certificates required ({})", val(&cc)))
}

fn directory_integration(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        ctx.p.pexip.admin_auth.directory_integration,
        "pexip.admin-auth.directory-integration",
        false,
        "§38: the Active Directory integration must be configured: set it to true",
    );
    c.verdict("planned")
}

fn with_ldap(ctx: &Ctx, note: &str, f: impl FnOnce(&mut Checks, &Ldap)) -> Verdict {
    let mut c = ctx.checks();
    match &ctx.p.pexip.admin_auth.ldap {
        None => {
            c.expect(
                false,
                "pexip.admin-auth.ldap",
                "(absent)",
                "§39–42: add [pexip.admin-auth.ldap] with the directory server",
            );
        }
        Some(l) => f(&mut c, l),
    }
    c.verdict(note)
}

fn ldap_read_only(ctx: &Ctx) -> Verdict {
    with_ldap(ctx, "read-only service account", |c, l| {
        c.expect(
            l.bind_account_read_only,
            "pexip.admin-auth.ldap.bind-account-read-only",
            false,
            "§40: bind with a read-only service account, then set it to true",
        );
        let u = l.bind_user.to_ascii_lowercase();
        c.expect(
            !(u.starts_with("cn=admin,") || u.contains("administrator")),
            "pexip.admin-auth.ldap.bind-user",
            val(&l.bind_user),
            "§40: do not bind as the directory administrator: use a service account",
        );
    })
}

fn ldap_starttls(ctx: &Ctx) -> Verdict {
    with_ldap(ctx, "LDAPv3 StartTLS on 389", |c, l| {
        c.expect(
            l.transport == LdapTransport::Starttls,
            "pexip.admin-auth.ldap.transport",
            val(&l.transport),
            "§41: use LDAPv3 StartTLS: set transport = \"starttls\"",
        );
        c.expect(
            l.port == 389,
            "pexip.admin-auth.ldap.port",
            l.port,
            "§41: StartTLS runs on TCP 389: set port = 389",
        );
    })
}

fn ldap_no_insecure(ctx: &Ctx) -> Verdict {
    with_ldap(ctx, "TLS required", |c, l| {
        c.expect(
            !l.allow_insecure_transport,
            "pexip.admin-auth.ldap.allow-insecure-transport",
            true,
            "§42: TLS is required with LDAP: set it to false",
        );
    })
}

fn host_ssh_keys_only(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = &ctx.p.host.ssh;
    if !s.enabled {
        return c.verdict("host SSH off");
    }
    c.expect(
        !s.password_authentication,
        "host.ssh.password-authentication",
        true,
        "§44: no password logins over SSH: set it to false and list authorized-keys",
    );
    c.expect(
        !s.authorized_keys.is_empty(),
        "host.ssh.authorized-keys",
        "[]",
        "§44: SSH with no keys cannot be used safely: list the administrators' keys or set enabled = false",
    );
    c.verdict("host SSH with keys only")
}

fn node_ssh_off(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let fix = "§45, §56: SSH stays off on the nodes: set enable-ssh = false";
    c.expect(
        !ctx.p.pexip.management.enable_ssh,
        "pexip.management.enable-ssh",
        true,
        fix,
    );
    for (i, n) in ctx.p.pexip.conferencing.iter().enumerate() {
        c.expect(
            !n.enable_ssh,
            &format!("pexip.conferencing[{i}].enable-ssh"),
            true,
            fix,
        );
    }
    c.verdict("SSH off on every node")
}

fn ldap_and_local(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = ctx.p.pexip.admin_auth.source;
    c.expect(
        s == AuthSource::LdapAndLocal,
        "pexip.admin-auth.source",
        val(&s),
        "§47–48: use LDAP with the local database as fallback: set source = \"ldap+local\"",
    );
    c.verdict("LDAP database and local database")
}

fn banners(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        !ctx.p.pexip.session.banner.trim().is_empty(),
        "pexip.session.banner",
        "\"\"",
        "§51: write the warning and consent text shown before login",
    );
    c.expect(
        !ctx.p.host.banner.trim().is_empty(),
        "host.banner",
        "\"\"",
        "§51: write the warning and consent text shown before login",
    );
    c.verdict("banners set")
}

fn session_timeout(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let w = ctx.p.pexip.session.timeout_minutes;
    c.expect(
        w == 5,
        "pexip.session.timeout-minutes",
        w,
        "§51: the web session timeout must be 5 minutes: set it to 5",
    );
    let h = ctx.p.host.session_timeout_minutes;
    c.expect(
        (1..=5).contains(&h),
        "host.session-timeout-minutes",
        h,
        "§51: idle sessions end within 5 minutes: set it to 5",
    );
    c.verdict("5 minutes")
}

fn password_policy(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let p = &ctx.p.host.password_policy;
    let f = "host.password-policy";
    c.expect(
        p.min_length >= 12,
        &format!("{f}.min-length"),
        p.min_length,
        "§52: at least 12 characters: set it to 12 or more",
    );
    c.expect(
        p.min_classes >= 4,
        &format!("{f}.min-classes"),
        p.min_classes,
        "§52: lower case, upper case, digit and special character: set it to 4",
    );
    c.expect(
        p.history >= 5,
        &format!("{f}.history"),
        p.history,
        "§52: the last 5 passwords cannot be reused: set it to 5 or more",
    );
    c.expect(
        (1..=60).contains(&p.max_age_days),
        &format!("{f}.max-age-days"),
        p.max_age_days,
        "§52: change passwords every 60 days: set it to 60 or less",
    );
    c.expect(
        p.min_age_days >= 10,
        &format!("{f}.min-age-days"),
        p.min_age_days,
        "§52: no new change before 10 days: set it to 10 or more",
    );
    c.verdict("12+ chars, 4 classes, history 5, 60/10 days")
}

fn chosen_passwords(ctx: &Ctx) -> Verdict {
    let p = ctx.p;
    let mut refs = Vec::new();
    for (i, n) in p.pexip.conferencing.iter().enumerate() {
        refs.push((format!("pexip.conferencing[{i}].password"), &n.password));
    }
    if let Some(r) = &p.host.root_password {
        refs.push(("host.root-password".to_owned(), r));
    }
    if let Some(r) = &p.boot.firmware.admin_password {
        refs.push(("boot.firmware.admin-password".to_owned(), r));
    }
    if let Some(r) = &p.storage.passphrase {
        refs.push(("storage.passphrase".to_owned(), r));
    }
    let policy = &p.host.password_policy;
    judge_secrets(
        ctx,
        refs,
        |pw| password_problems(pw, policy),
        "node, host root, bootloader, firmware and vmstore passwords meet §52",
    )
}

fn admin_networks_narrow(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, n) in ctx.p.network.management.admin_networks.iter().enumerate() {
        c.expect(
            n.prefix > 0,
            &format!("network.management.admin-networks[{i}]"),
            val(&n.to_string()),
            "§54: the firewall is opened only where strictly necessary: list the administrators' networks, not the whole internet",
        );
    }
    c.verdict("default drop; management services only from the admin networks")
}

fn http_access_off(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        !ctx.p.pexip.management.http_access_for_external_systems,
        "pexip.management.http-access-for-external-systems",
        true,
        "§56: HTTP access for external systems stays off: set it to false",
    );
    c.verdict("off")
}
