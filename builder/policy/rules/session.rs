//! §49–56: session parameters, the password policy, interfaces and services.
//!
//! MANUAL rules and their levers:
//! - `1616-5.4.4.c` (§52, the policy where administrators' passwords live: the directory, and Pexip's local
//!   database, which enforces no policy of its own): `host.password-policy` (the numbers the operator sets).
//!
//! §56 "Enable HTTP access for external systems": GUESS that the API field is `legacy_api_http` on the global
//! resource. Sources: pexip/go-infinity-sdk had the field on `GlobalConfiguration` (added in a54a8bc, removed
//! as deprecated in b934af6), pexip/terraform-provider-pexip described it as "Enable legacy API HTTP access.",
//! and the current API schema calls it deprecated and ignored (newer than v25.4). The plan sets it; the finding
//! `finding-http-access-field` tells the auditor to confirm the switch in the web interface.

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict};
use super::{judge_secrets, password_problems, proof};

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.4.3.a"),
        paragraph: "§51",
        statement: "A login banner is shown before authentication (web interface and host console)",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ logon_banner; the host shows the profile's banner in /etc/issue and /etc/issue.net",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT, proof::BOOT_ACCESS],
        checklist: Some(Checklist::Session),
        check: banners,
    },
    Rule {
        id: RuleId("1616-5.4.3.b"),
        paragraph: "§51",
        statement: "Idle management sessions end after 5 minutes",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ session_timeout_enabled = true, management_session_timeout = 5; the host's login shells get a read-only TMOUT",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT, proof::BOOT_ACCESS],
        checklist: Some(Checklist::Session),
        check: session_timeout,
    },
    Rule {
        id: RuleId("1616-5.4.4.a"),
        paragraph: "§52",
        statement: "The host enforces the password policy: 12+ characters, 4 classes, history 5, max age 60 days, min age 10 days",
        enforcement: Enforcement::HostArtifact,
        how: "PAM (pwquality, pwhistory) and login.defs carry the policy, and root's own shadow entry gets the minimum and maximum age",
        proof: &[proof::BOOT_ACCESS],
        checklist: Some(Checklist::Users),
        check: password_policy,
    },
    Rule {
        id: RuleId("1616-5.4.4.c"),
        paragraph: "§52",
        statement: "The administrators' passwords follow the policy where they live: the directory and Pexip's local accounts",
        enforcement: Enforcement::Manual,
        how: "In the directory that authenticates the Pexip administrators, set the password policy for their accounts (Active Directory: a fine-grained password policy; OpenLDAP: ppolicy) to the numbers of host.password-policy: minimum length, complexity (4 classes), history, maximum and minimum age. Pexip's local database enforces no policy: change the local administrator's password by hand every max-age days, following the same rules.",
        proof: &["tests/policy_configuration.rs::directory_password_policy_follows_the_profile"],
        checklist: Some(Checklist::Users),
        check: password_policy,
    },
    Rule {
        id: RuleId("1616-5.4.4.b"),
        paragraph: "§52",
        statement: "Every password forja sets or hands on follows the §52 policy",
        enforcement: Enforcement::BuildCheck,
        how: "forja build checks each value (nodes, host root, bootloader, firmware, vmstore, LDAP bind, SNMP, backups) against host.password-policy before hashing or planning it",
        proof: &["tests/policy_configuration.rs::chosen_passwords_follow_the_password_policy"],
        checklist: Some(Checklist::Users),
        check: chosen_passwords,
    },
    Rule {
        id: RuleId("1616-5.5.a"),
        paragraph: "§53–55",
        statement: "The host firewall drops by default and opens management services only to named admin networks",
        enforcement: Enforcement::HostArtifact,
        how: "nftables: default drop in and out, services only on the management NIC from network.management.admin-networks",
        proof: &[proof::BOOT_FIREWALL],
        checklist: None,
        check: admin_networks_narrow,
    },
    Rule {
        id: RuleId("1616-5.5.b"),
        paragraph: "§56",
        statement: "\"Enable HTTP access for external systems\" is off",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ legacy_api_http = false (GUESS: the API name of this switch; see finding-http-access-field)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: http_access_off,
    },
];

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
        p.min_age_days >= 10 && p.min_age_days < p.max_age_days,
        &format!("{f}.min-age-days"),
        p.min_age_days,
        "§52: no new change before 10 days (and less than max-age-days): set it to 10 or more",
    );
    c.verdict(format!(
        "{}+ chars, {} classes, history {}, {}/{} days",
        p.min_length, p.min_classes, p.history, p.max_age_days, p.min_age_days
    ))
}

fn chosen_passwords(ctx: &Ctx) -> Verdict {
    let p = ctx.p;
    let mut refs = Vec::new();
    for (i, n) in p.pexip.conferencing.iter().enumerate() {
        refs.push((format!("pexip.conferencing[{i}].password"), &n.password));
    }
    let optional = [
        ("host.root-password", p.host.root_password.as_ref()),
        (
            "boot.firmware.admin-password",
            p.boot.firmware.admin_password.as_ref(),
        ),
        ("storage.passphrase", p.storage.passphrase.as_ref()),
        (
            "pexip.admin-auth.ldap.bind-password",
            p.pexip.admin_auth.ldap.as_ref().map(|l| &l.bind_password),
        ),
        (
            "pexip.snmp.auth-password",
            p.pexip.snmp.auth_password.as_ref(),
        ),
        (
            "pexip.snmp.privacy-password",
            p.pexip.snmp.privacy_password.as_ref(),
        ),
        (
            "pexip.backup.passphrase",
            p.pexip.backup.passphrase.as_ref(),
        ),
        (
            "pexip.backup.upload-password",
            p.pexip.backup.upload_password.as_ref(),
        ),
    ];
    refs.extend(
        optional
            .into_iter()
            .filter_map(|(f, r)| r.map(|r| (f.to_owned(), r))),
    );
    let policy = &p.host.password_policy;
    judge_secrets(
        ctx,
        refs,
        |pw| password_problems(pw, policy),
        "every password forja sets or hands on meets §52",
    )
}

fn admin_networks_narrow(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, n) in ctx.p.network.management.admin_networks.iter().enumerate() {
        c.expect(
            n.prefix > 0,
            &format!("network.management.admin-networks[{i}]"),
            super::super::rule::val(&n.to_string()),
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
