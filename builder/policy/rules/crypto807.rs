//! CCN-STIC-807, the cryptography the guide requires in §63–64 and §67 (and §57–58 for TLS and SSH versions):
//! TLS 1.2+, RSA/DSA >= 3072 bits, ECDSA P-256/P-384 (§67), hashes SHA-256 or larger, DH groups 15, 16, 19, 20,
//! 21, 28, 29, 30, and SSH algorithm lists. Ids are `807-<topic>`.
//!
//! DECLARED rules and their levers: `807-tls-ldap` (`pexip.admin-auth.ldap.tls-min-version`: Pexip has no LDAP
//! TLS setting, the directory's floor is the site's) and `807-dh` (`pexip.sip.dh-groups`: Pexip has no DH-group
//! setting; §63–64 concern the external peers, which must offer these groups). The nodes' own TLS floor is the
//! securitywizard's answers (`1616-5.1.i`, `1616-5.1.k`).
//!
//! The allowed SSH lists are public so that the stage that writes `sshd_config` uses the same ones.

use crate::profile::model::{HashAlg, KeyType, TlsVersion};

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::proof;

const CERT_INPUT: &str =
    "tests/check_inputs.rs::a_server_certificate_that_breaks_the_profile_is_refused";
const CERT_AUDIT: &str =
    "tests/pexip_certificates.rs::the_audit_reads_the_key_and_hash_of_the_certificate_in_use";

/// Diffie-Hellman groups CCN-STIC-807 allows (§64).
pub const DH_GROUPS: [u32; 8] = [15, 16, 19, 20, 21, 28, 29, 30];
/// SSH key exchange methods allowed (CCN-STIC-807; forja's default when `host.ssh.kex` is empty).
pub const SSH_KEX: &[&str] = &[
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
];
/// SSH ciphers allowed.
pub const SSH_CIPHERS: &[&str] = &[
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
];
/// SSH MACs allowed.
pub const SSH_MACS: &[&str] = &[
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
];

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("807-tls"),
        paragraph: "§57, §63–64",
        statement: "The host's TLS client (remote syslog) offers TLS 1.2 or 1.3 only, and the nodes' answers keep TLS below 1.2 off",
        enforcement: Enforcement::HostArtifact,
        how: "rsyslog's GnuTLS priority string allows host.syslog.tls-min-version and later only; the nodes' floor is the securitywizard answers (1616-5.1.i, 1616-5.1.k)",
        proof: &[
            proof::BOOT_SYSLOG,
            "tests/policy_configuration.rs::rejects_tls_below_1_2",
        ],
        checklist: Some(Checklist::Tls),
        check: tls_versions,
    },
    Rule {
        id: RuleId("807-tls-ldap"),
        paragraph: "§41, §63–64",
        statement: "The directory server accepts TLS 1.2 or 1.3 only",
        enforcement: Enforcement::Declared,
        how: "pexip.admin-auth.ldap.tls-min-version: the directory's own TLS floor (Pexip has no setting for it)",
        proof: &["tests/policy_services.rs::rejects_ldap_below_tls_1_2"],
        checklist: Some(Checklist::Tls),
        check: ldap_tls,
    },
    Rule {
        id: RuleId("807-rsa"),
        paragraph: "§64, §67",
        statement: "RSA or DSA certificate keys have at least 3072 bits",
        enforcement: Enforcement::BuildCheck,
        how: "pexip.certificates.key-size >= 3072 when key-type is rsa or dsa; forja check refuses a signed certificate whose key differs from the profile's, and forja pexip audit reads the key of the certificate in use",
        proof: &[CERT_INPUT, CERT_AUDIT],
        checklist: Some(Checklist::Certificates),
        check: rsa_size,
    },
    Rule {
        id: RuleId("807-ecdsa"),
        paragraph: "§64, §67",
        statement: "ECDSA certificate keys use P-256 or P-384",
        enforcement: Enforcement::BuildCheck,
        how: "pexip.certificates.key-size is 256 or 384 when key-type is ecdsa; the signed certificate's curve is checked by forja check and forja pexip audit",
        proof: &[CERT_INPUT, CERT_AUDIT],
        checklist: Some(Checklist::Certificates),
        check: ecdsa_curve,
    },
    Rule {
        id: RuleId("807-hash"),
        paragraph: "§64, §67",
        statement: "Certificate signatures use SHA-256 or larger (SHA-256/384 with ECDSA)",
        enforcement: Enforcement::BuildCheck,
        how: "pexip.certificates.signature-hash; the signed certificate's signature algorithm is checked by forja check and forja pexip audit",
        proof: &[CERT_INPUT, CERT_AUDIT],
        checklist: Some(Checklist::Certificates),
        check: signature_hash,
    },
    Rule {
        id: RuleId("807-dh"),
        paragraph: "§63–64",
        statement: "Only Diffie-Hellman groups 15, 16, 19, 20, 21, 28, 29, 30 are negotiated with external peers",
        enforcement: Enforcement::Declared,
        how: "pexip.sip.dh-groups: the groups the site's endpoints and gateways are configured to offer (Pexip has no setting for them; its IPsec uses 4096-bit DH, §60)",
        proof: &["tests/policy_services.rs::rejects_dh_group_14"],
        checklist: Some(Checklist::Tls),
        check: dh_groups,
    },
    Rule {
        id: RuleId("807-ssh"),
        paragraph: "§58, §64",
        statement: "SSH uses v2 with CCN-STIC-807 key exchange, ciphers and MACs only",
        enforcement: Enforcement::HostArtifact,
        how: "no sshd unless host.ssh.enabled; then sshd_config lists only the allowed algorithms (or the profile's subset of them)",
        proof: &[
            proof::BOOT_NETWORK,
            "builder/compose/access.rs::sshd_config_offers_only_807_algorithms",
        ],
        checklist: None,
        check: ssh_algorithms,
    },
];

fn tls_versions(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let mut min = TlsVersion::V1_3;
    let mut check = |field: &str, v: TlsVersion| {
        min = min.min(v);
        c.expect(
            v >= TlsVersion::V1_2,
            field,
            val(&v),
            "CCN-STIC-807 allows TLS 1.2 and 1.3 only: set it to \"1.2\" or \"1.3\"",
        );
    };
    let s = &ctx.p.pexip.secure_mode;
    check("pexip.secure-mode.tls-min-version", s.tls_min_version);
    check(
        "pexip.secure-mode.inbound-https-tls-min-version",
        s.inbound_https_tls_min_version,
    );
    if let Some(s) = &ctx.p.host.syslog {
        check("host.syslog.tls-min-version", s.tls_min_version);
    }
    c.verdict(format!("TLS {} or later everywhere", min.as_str()))
}

fn ldap_tls(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    if let Some(l) = &ctx.p.pexip.admin_auth.ldap {
        c.expect(
            l.tls_min_version >= TlsVersion::V1_2,
            "pexip.admin-auth.ldap.tls-min-version",
            val(&l.tls_min_version),
            "CCN-STIC-807 allows TLS 1.2 and 1.3 only: set it to \"1.2\" or \"1.3\" and configure the directory so",
        );
        return c.verdict(format!(
            "directory TLS {} or later",
            l.tls_min_version.as_str()
        ));
    }
    c.verdict("no directory")
}

fn rsa_size(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let k = &ctx.p.pexip.certificates;
    if !matches!(k.key_type, KeyType::Rsa | KeyType::Dsa) {
        return c.verdict(format!("no RSA/DSA keys ({})", val(&k.key_type)));
    }
    c.expect(
        k.key_size >= 3072,
        "pexip.certificates.key-size",
        k.key_size,
        format!(
            "§64, §67: {} keys need at least 3072 bits: set key-size = 3072 (or 4096), or use key-type = \"ecdsa\" with 384",
            val(&k.key_type)
        ),
    );
    c.verdict(format!("{} {} bits", val(&k.key_type), k.key_size))
}

fn ecdsa_curve(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let k = &ctx.p.pexip.certificates;
    if k.key_type != KeyType::Ecdsa {
        return c.verdict(format!("no ECDSA keys ({})", val(&k.key_type)));
    }
    c.expect(
        matches!(k.key_size, 256 | 384),
        "pexip.certificates.key-size",
        k.key_size,
        "§67: ECDSA keys are 256 or 384 bits: set key-size = 384",
    );
    c.verdict(format!("ECDSA P-{}", k.key_size))
}

fn signature_hash(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let k = &ctx.p.pexip.certificates;
    let ok = match k.key_type {
        KeyType::Ecdsa => matches!(k.signature_hash, HashAlg::Sha256 | HashAlg::Sha384),
        _ => matches!(
            k.signature_hash,
            HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha512
        ),
    };
    c.expect(
        ok,
        "pexip.certificates.signature-hash",
        val(&k.signature_hash),
        "§64, §67: sign with SHA-256 or larger (SHA-256 or SHA-384 with ECDSA): set it to \"sha384\"",
    );
    c.verdict(val(&k.signature_hash))
}

fn dh_groups(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let g = &ctx.p.pexip.sip.dh_groups;
    c.expect(
        !g.is_empty(),
        "pexip.sip.dh-groups",
        "[]",
        "§64: list the groups to offer, from 15, 16, 19, 20, 21, 28, 29, 30",
    );
    for (i, n) in g.iter().enumerate() {
        c.expect(
            DH_GROUPS.contains(n),
            &format!("pexip.sip.dh-groups[{i}]"),
            n,
            "§64: CCN-STIC-807 allows DH groups 15, 16, 19, 20, 21, 28, 29, 30 only: remove it",
        );
    }
    c.verdict(format!("groups {g:?}"))
}

fn ssh_algorithms(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = &ctx.p.host.ssh;
    for (key, list, allowed) in [
        ("kex", &s.kex, SSH_KEX),
        ("ciphers", &s.ciphers, SSH_CIPHERS),
        ("macs", &s.macs, SSH_MACS),
    ] {
        for (i, a) in list.iter().enumerate() {
            c.expect(
                allowed.contains(&a.as_str()),
                &format!("host.ssh.{key}[{i}]"),
                val(a),
                format!(
                    "§64: CCN-STIC-807 allows only {}: remove it",
                    allowed.join(", ")
                ),
            );
        }
    }
    c.verdict("SSHv2 with CCN-STIC-807 algorithms")
}
