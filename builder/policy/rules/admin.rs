//! §36–48: administrator authentication, LDAP and the administration interfaces.
//!
//! MANUAL rules and their levers:
//! - `1616-5.2.c` (§38, Active Directory integration for conference users): `pexip.admin-auth.directory-integration`.
//!
//! DECLARED rules and their levers:
//! - `1616-5.3.a` (§40, read-only bind account): `pexip.admin-auth.ldap.bind-account-read-only` (and a bind DN
//!   that names an administrator fails). What the account may write is decided in the directory.
//! - `807-tls-ldap` (in [`super::crypto807`]): the directory's TLS floor.
//!
//! Pexip's `authentication` resource has no port, transport or TLS-version field: it talks LDAPv3 with StartTLS
//! on 389 unless `ldap_permit_no_tls` allows plain LDAP, and uses the global catalog (3268) only when
//! `ldap_use_global_catalog` is on. So `1616-5.3.b` is enforced through those two fields, and the profile's
//! `ldap.port`/`ldap.transport` describe the directory (they must say 389/StartTLS, what Pexip will do).

use crate::profile::model::{AuthSource, ClientCertificate, Ldap, LdapTransport};

use super::super::rule::{Checklist, Checks, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::proof;

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.2.a"),
        paragraph: "§36",
        statement: "Administrators authenticate against an external LDAP server",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes authentication/1/ source, ldap_server, ldap_base_dn, ldap_bind_username and the bind password",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Ldap),
        check: admins_use_ldap,
    },
    Rule {
        id: RuleId("1616-5.2.b"),
        paragraph: "§37",
        statement: "Administrator client certificates are required as configured, and the CA that issues them is imported",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes authentication/1/ client_certificate and imports the profile's CA (POST ca_certificate/)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Ldap),
        check: client_certificates,
    },
    Rule {
        id: RuleId("1616-5.2.c"),
        paragraph: "§38",
        statement: "Conference users are authenticated through the Active Directory integration",
        enforcement: Enforcement::Manual,
        how: "On the Management Node: Users & Devices > Active Directory / LDAP synchronisation: add the directory and the sync template for conference users (docs.pexip.com, integrate_ldap).",
        proof: &["tests/policy_configuration.rs::conference_users_use_active_directory"],
        checklist: Some(Checklist::Ldap),
        check: directory_integration,
    },
    Rule {
        id: RuleId("1616-5.3.a"),
        paragraph: "§40",
        statement: "The LDAP bind account is a read-only service account, not an administrator",
        enforcement: Enforcement::Declared,
        how: "pexip.admin-auth.ldap.bind-account-read-only = true: the directory gives the bind account read rights only",
        proof: &["tests/policy_configuration.rs::ldap_bind_account_is_read_only"],
        checklist: Some(Checklist::Ldap),
        check: ldap_read_only,
    },
    Rule {
        id: RuleId("1616-5.3.b"),
        paragraph: "§41",
        statement: "LDAP uses LDAPv3 with StartTLS on TCP 389",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes authentication/1/ ldap_permit_no_tls = false (StartTLS required) and ldap_use_global_catalog = false (port 389, not the global catalog's 3268)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Ldap),
        check: ldap_starttls,
    },
    Rule {
        id: RuleId("1616-5.3.c"),
        paragraph: "§42",
        statement: "LDAP \"Allow insecure transport\" is off: TLS is required",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes authentication/1/ ldap_permit_no_tls = false",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT, proof::AUDIT_DRIFT],
        checklist: Some(Checklist::Ldap),
        check: ldap_no_insecure,
    },
    Rule {
        id: RuleId("1616-5.4.1.a"),
        paragraph: "§43–44",
        statement: "The host is administered on its console; SSH, if enabled at all, takes keys only",
        enforcement: Enforcement::HostArtifact,
        how: "no sshd in the image unless host.ssh.enabled, and then a key-only sshd_config on the management address; the firewall drops TCP 22 otherwise",
        proof: &[proof::BOOT_NETWORK, proof::BOOT_FIREWALL],
        checklist: Some(Checklist::Users),
        check: host_ssh_keys_only,
    },
    Rule {
        id: RuleId("1616-5.4.1.b"),
        paragraph: "§45, §56",
        statement: "SSH is disabled on the Management Node and every Conferencing Node",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ enable_ssh = false, management_vm enable_ssh = OFF and registers every node with enable_ssh = OFF",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Users),
        check: node_ssh_off,
    },
    Rule {
        id: RuleId("1616-5.4.2"),
        paragraph: "§47–48",
        statement: "Authentication source is \"LDAP database and local database\"",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes authentication/1/ source = LDAP+LOCAL",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Users),
        check: ldap_and_local,
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
    with_ldap(
        ctx,
        "StartTLS required, global catalog off (port 389)",
        |c, l| {
            c.expect(
            l.transport == LdapTransport::Starttls,
            "pexip.admin-auth.ldap.transport",
            val(&l.transport),
            "§41: Pexip talks LDAPv3 with StartTLS: set transport = \"starttls\" and offer StartTLS on the directory",
        );
            c.expect(
            l.port == 389,
            "pexip.admin-auth.ldap.port",
            l.port,
            "§41: StartTLS runs on TCP 389, the port Pexip uses without the global catalog: set port = 389",
        );
            c.expect(
                !l.allow_insecure_transport,
                "pexip.admin-auth.ldap.allow-insecure-transport",
                true,
                "§41: StartTLS must be required, not optional: set it to false",
            );
        },
    )
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
        return c.verdict("host SSH off: no sshd, TCP 22 dropped");
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
