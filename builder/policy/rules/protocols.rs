//! §57–80: secure protocols, certificates, time, updates and self-checks. The algorithm lists that §63–64 and
//! §67 take from CCN-STIC-807 are in [`super::crypto807`].
//!
//! MANUAL rules and their levers:
//! - `1616-5.7.a` (§66, replace the self-signed certificates): `pexip.certificates.issuer` (`self-signed` fails).
//! - `1616-5.7.b` (§67, import the CA, create the CSR, import the server certificate):
//!   `pexip.certificates.ca-certificate` (absent fails).
//! - `1616-5.9` (§75, check each update's SHA-256): `operation.update-verification-hash` (below SHA-256 fails).

use std::collections::BTreeSet;

use crate::profile::model::{HashAlg, Issuer, MediaEncryption, NtpKeyType, Ocsp};
use crate::profile::net::AddressMode;

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};

const APPLIED: &str = "forja build writes it into the Management Node configuration it generates";

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.6.a"),
        paragraph: "§59–61",
        statement: "IPsec between nodes is allowed (ESP, IKE UDP 500) and every node has its own address",
        enforcement: Enforcement::Generated,
        how: "forja build's nftables ruleset allows ESP and UDP 500 between the node addresses",
        checklist: None,
        check: node_addresses_distinct,
    },
    Rule {
        id: RuleId("1616-5.6.b"),
        paragraph: "§62",
        statement: "SIP-TLS certificate verification mode is Required",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Tls),
        check: sip_tls_verify,
    },
    Rule {
        id: RuleId("1616-5.6.c"),
        paragraph: "§62",
        statement: "Media encryption is Required (SRTP for SIP, H.235 for H.323)",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Tls),
        check: media_encryption,
    },
    Rule {
        id: RuleId("1616-5.7.a"),
        paragraph: "§66",
        statement: "The self-signed certificates are replaced by certificates from a trusted CA",
        enforcement: Enforcement::Manual,
        how: "On the Management Node: Certificates > TLS certificates: import the CA-signed certificate for every node and delete the self-signed ones.",
        checklist: Some(Checklist::Certificates),
        check: ca_signed,
    },
    Rule {
        id: RuleId("1616-5.7.b"),
        paragraph: "§67–69",
        statement: "Import the CA, create a CSR with an allowed key, import the server certificate on every node",
        enforcement: Enforcement::Manual,
        how: "On the Management Node: Certificates > Trusted CA certificates > Import (the ca-certificate file); Certificates > Certificate signing requests > Add, with the key type and size from [pexip.certificates]; have the CA sign it; import the signed .cer (Base64 X.509) and assign it to every node.",
        checklist: Some(Checklist::Certificates),
        check: ca_named,
    },
    Rule {
        id: RuleId("1616-5.7.c"),
        paragraph: "§71",
        statement: "OCSP checking is on for SIP TLS connections",
        enforcement: Enforcement::Generated,
        how: APPLIED,
        checklist: Some(Checklist::Certificates),
        check: ocsp_on,
    },
    Rule {
        id: RuleId("1616-5.8.a"),
        paragraph: "§73",
        statement: "Every NTP source is authenticated with a key id and a key (SHA-1 keys: the only kind Pexip takes)",
        enforcement: Enforcement::Generated,
        how: "forja build writes chrony.keys on the host and the node NTP entries with their keys",
        checklist: Some(Checklist::Ntp),
        check: ntp_authenticated,
    },
    Rule {
        id: RuleId("1616-5.8.b"),
        paragraph: "§73",
        statement: "At least three distinct time sources",
        enforcement: Enforcement::Profile,
        how: "host.ntp must list three or more distinct servers",
        checklist: Some(Checklist::Ntp),
        check: ntp_three_sources,
    },
    Rule {
        id: RuleId("1616-5.8.c"),
        paragraph: "§72",
        statement: "The Pexip nodes use the same authenticated time sources as the host",
        enforcement: Enforcement::Profile,
        how: "pexip.management.ntp must name servers from host.ntp",
        checklist: Some(Checklist::Ntp),
        check: ntp_shared,
    },
    Rule {
        id: RuleId("1616-5.9"),
        paragraph: "§74–76",
        statement: "Each update package's SHA-256 is checked against the download page or README.TXT before use",
        enforcement: Enforcement::Manual,
        how: "Before each upgrade run `sha256sum FILE` on a trusted machine and compare it with the SHA-256 on dl.pexip.com or in README.TXT; upgrade only on a match (docs.pexip.com/admin/upgrading.htm).",
        checklist: Some(Checklist::Integrity),
        check: update_hash,
    },
    Rule {
        id: RuleId("1616-5.10"),
        paragraph: "§77–80",
        statement: "Critical config files are checked at boot and periodically; a change raises an alarm and is restored",
        enforcement: Enforcement::BootCheck,
        how: "the host checks its config files against the signed manifest at boot and on a timer, logs an alarm and restores the factory copy",
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

fn ca_signed(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let i = ctx.p.pexip.certificates.issuer;
    c.expect(
        i == Issuer::Ca,
        "pexip.certificates.issuer",
        val(&i),
        "§66: the self-signed certificates must be replaced by CA-signed ones: set issuer = \"ca\"",
    );
    c.verdict("CA-signed certificates planned")
}

fn ca_named(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let ca = &ctx.p.pexip.certificates.ca_certificate;
    c.expect(
        ca.is_some(),
        "pexip.certificates.ca-certificate",
        "(absent)",
        "§67: name the CA certificate (PEM) to import into the nodes",
    );
    c.verdict(format!(
        "CA file {}",
        ca.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    ))
}

fn ocsp_on(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = &ctx.p.pexip.sip;
    c.expect(
        s.ocsp != Ocsp::Off,
        "pexip.sip.ocsp",
        val(&s.ocsp),
        "§71: turn OCSP checking on: set ocsp = \"on\"",
    );
    c.expect(
        s.ocsp != Ocsp::Override || s.ocsp_responder_url.is_some(),
        "pexip.sip.ocsp-responder-url",
        "(absent)",
        "§71: ocsp = \"override\" needs the responder URL",
    );
    c.verdict(format!("OCSP {}", val(&s.ocsp)))
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
