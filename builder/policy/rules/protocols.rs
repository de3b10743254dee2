//! §57–80 except certificates ([`super::certificates`]): secure protocols, time, updates and self-checks. The
//! algorithm lists that §63–64 take from CCN-STIC-807 are in [`super::crypto807`].
//!
//! MANUAL rules and their levers:
//! - `1616-5.8.e` (§73, the host's NTP keys, which never enter the image): `host.ntp[].key`.
//! - `1616-5.9` (§75, check each update's SHA-256): `operation.update-verification-hash` (below SHA-256 fails);
//!   the host's own update bundles are checked by `forja update apply` itself (signature, then per-chunk SHA-256).
//!
//! §59: the host does not filter the VMs' traffic at all (no `br_netfilter`, no bridge table), so IPsec between
//! nodes passes the bridge as it is; allowing it in the site's firewalls is part of `1616-4.2`.

use std::collections::BTreeSet;

use crate::profile::model::{HashAlg, MediaEncryption, NtpKeyType};
use crate::profile::net::AddressMode;

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::proof;

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.6.a"),
        paragraph: "§59–61",
        statement: "The host lets IPsec between nodes through (ESP, IKE): it does not filter the VMs' bridged traffic, and every node has its own address",
        enforcement: Enforcement::HostArtifact,
        how: "the host loads no br_netfilter and its nftables ruleset has no bridge table, so the VMs' ESP and IKE cross the bridge untouched; each node's address is distinct (site firewalls: rule 1616-4.2)",
        proof: &[proof::BOOT_NETWORK, proof::BOOT_FIREWALL],
        checklist: None,
        check: node_addresses_distinct,
    },
    Rule {
        id: RuleId("1616-5.6.b"),
        paragraph: "§62",
        statement: "SIP-TLS certificate verification mode is Required",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ sip_tls_cert_verify_mode = ON",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Tls),
        check: sip_tls_verify,
    },
    Rule {
        id: RuleId("1616-5.6.c"),
        paragraph: "§62",
        statement: "Media encryption is Required (SRTP for SIP, H.235 for H.323)",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ crypto_mode = on (\"Required\")",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT, proof::AUDIT_DRIFT],
        checklist: Some(Checklist::Tls),
        check: media_encryption,
    },
    Rule {
        id: RuleId("1616-5.8.a"),
        paragraph: "§73",
        statement: "Every NTP source of the Pexip nodes is authenticated with a key id and a key (SHA-1: the only kind Pexip takes)",
        enforcement: Enforcement::PexipPlan,
        how: "the plan POSTs each ntp_server/ with key_id and key (write-only: the audit can tell it is there, not what it is)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Ntp),
        check: ntp_authenticated,
    },
    Rule {
        id: RuleId("1616-5.8.d"),
        paragraph: "§72–73",
        statement: "The host uses only authenticated NTP sources",
        enforcement: Enforcement::HostArtifact,
        how: "chrony.conf names each server with its key id and `authselectmode require`, so an unauthenticated source is never selected",
        proof: &[proof::BOOT_TIME],
        checklist: Some(Checklist::Ntp),
        check: ntp_authenticated,
    },
    Rule {
        id: RuleId("1616-5.8.e"),
        paragraph: "§73",
        statement: "The host's NTP keys are installed on site (they never travel in the image)",
        enforcement: Enforcement::Manual,
        how: "On the host, write the site's NTP keys to /etc/chrony/forja.keys as `ID TYPE KEY` lines (the template is /etc/chrony/forja.keys.example), `chown root:_chrony` and `chmod 0640` it, then `systemctl restart chrony` and check `chronyc -n authdata` shows each source with its key.",
        proof: &["tests/policy_services.rs::ntp_is_authenticated"],
        checklist: Some(Checklist::Ntp),
        check: ntp_authenticated,
    },
    Rule {
        id: RuleId("1616-5.8.b"),
        paragraph: "§73",
        statement: "At least three distinct time sources",
        enforcement: Enforcement::HostArtifact,
        how: "chrony.conf on the host and the plan's ntp_server/ entries list every host.ntp server",
        proof: &[proof::BOOT_TIME, proof::AUDIT],
        checklist: Some(Checklist::Ntp),
        check: ntp_three_sources,
    },
    Rule {
        id: RuleId("1616-5.8.c"),
        paragraph: "§72",
        statement: "The Pexip nodes use the same authenticated time sources as the host",
        enforcement: Enforcement::PexipPlan,
        how: "the plan attaches the ntp_server objects to the Management Node (management_vm ntp_servers) and to every system location (system_location ntp_servers), where the Conferencing Nodes take them from",
        proof: &[proof::PLAN_GOLDEN, proof::ATTACH, proof::AUDIT],
        checklist: Some(Checklist::Ntp),
        check: ntp_shared,
    },
    Rule {
        id: RuleId("1616-5.9"),
        paragraph: "§74–76",
        statement: "Each update package's SHA-256 is checked against the download page or README.TXT before use",
        enforcement: Enforcement::Manual,
        how: "Before each upgrade run `forja nodes verify --readme README.TXT FILE` (or `sha256sum FILE` on a trusted machine) against the SHA-256 on dl.pexip.com or in README.TXT; upgrade only on a match (docs.pexip.com/admin/upgrading.htm). The host's own updates need no manual step: `forja update apply` checks the bundle's manifest signature with the key built into the host, then every 4 MiB of the new root against the SHA-256 the signed manifest lists before writing it (exit 5 or 3 and nothing left bootable otherwise), and `veritysetup verify` before the slot can boot.",
        proof: &[
            "tests/policy_services.rs::updates_are_checked_with_sha256",
            "tests/update_bundle.rs::a_signed_bundle_updates_slot_b_and_every_bad_bundle_is_refused",
        ],
        checklist: Some(Checklist::Integrity),
        check: update_hash,
    },
    Rule {
        id: RuleId("1616-5.10"),
        paragraph: "§77–80",
        statement: "Critical config files are checked at boot and periodically; a change raises an alarm and is restored",
        enforcement: Enforcement::HostArtifact,
        how: "forja-selfcheck runs at boot and every host.self-check-minutes (its timer's drop-in), checks the signed manifest, logs an alarm and restores the factory copy",
        proof: &[proof::BOOT_SELFCHECK],
        checklist: None,
        check: self_check,
    },
];

fn node_addresses_distinct(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let mut seen = BTreeSet::new();
    let mut note = |field: String, a: &AddressMode| {
        if let AddressMode::Static(cidr) = a {
            c.expect(
                seen.insert(cidr.addr),
                &field,
                val(&a.to_string()),
                "§59–61: each node needs its own address for its IPsec tunnels: give it a free address",
            );
        }
    };
    note(
        "network.management.address".into(),
        &ctx.p.network.management.address,
    );
    note(
        "pexip.management.address".into(),
        &ctx.p.pexip.management.address,
    );
    for (i, n) in ctx.p.pexip.conferencing.iter().enumerate() {
        note(format!("pexip.conferencing[{i}].address"), &n.address);
    }
    c.verdict("distinct node addresses; ESP and IKE allowed between them")
}

fn sip_tls_verify(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        ctx.p.pexip.sip.tls_verify,
        "pexip.sip.tls-verify",
        false,
        "§62: SIP-TLS certificate verification must be Required: set it to true",
    );
    c.verdict("Required")
}

fn media_encryption(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let m = ctx.p.pexip.sip.media_encryption;
    c.expect(
        m == MediaEncryption::Required,
        "pexip.sip.media-encryption",
        val(&m),
        "§62: media encryption must be Required: set it to \"required\"",
    );
    c.verdict("Required")
}

fn ntp_authenticated(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let used_by_pexip = &ctx.p.pexip.management.ntp;
    for (i, s) in ctx.p.host.ntp.iter().enumerate() {
        let f = format!("host.ntp[{i}]");
        let fix = "§73: NTP must be authenticated: give key-id (1..65535), key-type and key = { secret = \"...\" }";
        c.expect(
            s.key_id.is_some_and(|k| (1..=65535).contains(&k)),
            &format!("{f}.key-id"),
            val(&s.key_id),
            fix,
        );
        c.expect(s.key.is_some(), &format!("{f}.key"), "(absent)", fix);
        match s.key_type {
            None => {
                c.expect(false, &format!("{f}.key-type"), "(absent)", fix);
            }
            Some(t) => {
                c.expect(
                    t != NtpKeyType::Md5,
                    &format!("{f}.key-type"),
                    val(&t),
                    "§73, CCN-STIC-807: MD5 is not allowed: use \"SHA1\" (what Pexip accepts)",
                );
                c.expect(
                    t == NtpKeyType::Md5
                        || t == NtpKeyType::Sha1
                        || !used_by_pexip.contains(&s.address),
                    &format!("{f}.key-type"),
                    val(&t),
                    "§73: the Pexip nodes use this server and accept only SHA-1 keys: set key-type = \"SHA1\"",
                );
            }
        }
    }
    c.verdict(format!("{} authenticated source(s)", ctx.p.host.ntp.len()))
}

fn ntp_three_sources(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let distinct: BTreeSet<&str> = ctx.p.host.ntp.iter().map(|s| s.address.as_str()).collect();
    c.expect(
        distinct.len() >= 3,
        "host.ntp",
        format!("{} distinct server(s)", distinct.len()),
        "§73: use three different time sources: add [[host.ntp]] entries",
    );
    c.verdict(format!("{} distinct sources", distinct.len()))
}

fn ntp_shared(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let host: BTreeSet<&str> = ctx.p.host.ntp.iter().map(|s| s.address.as_str()).collect();
    let m = &ctx.p.pexip.management.ntp;
    c.expect(
        !m.is_empty(),
        "pexip.management.ntp",
        "[]",
        "§72: the nodes need time sources: list the host.ntp addresses",
    );
    for (i, a) in m.iter().enumerate() {
        c.expect(
            host.contains(a.as_str()),
            &format!("pexip.management.ntp[{i}]"),
            val(a),
            "§72–73: name a server from host.ntp, where its key is defined",
        );
    }
    c.verdict("nodes and host share the time sources")
}

fn update_hash(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let h = ctx.p.operation.update_verification_hash;
    c.expect(
        matches!(h, HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha512),
        "operation.update-verification-hash",
        val(&h),
        "§75: check update packages with SHA-256: set it to \"sha256\"",
    );
    c.verdict(format!("updates checked with {}", val(&h)))
}

fn self_check(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let m = ctx.p.host.self_check_minutes;
    c.expect(
        (1..=1440).contains(&m),
        "host.self-check-minutes",
        m,
        "§78: the check runs at boot and at set intervals: set it between 1 and 1440 (e.g. 60)",
    );
    c.verdict(format!("at boot and every {m} min"))
}
