//! §66–71: the nodes' certificates (CA import, CSR, signed certificate on every node) and OCSP.
//!
//! The Management Node's CSR generator makes RSA 2048, RSA 4096 or ECDSA P-256 keys (`private_key_type` of
//! `certificate_signing_request`: pexip/terraform-provider-pexip `resource_infinity_certificate_signing_request.go`
//! validates exactly `UPLOAD`, `RSA2048`, `RSA4096`, `ECDSAP256`). So the plan creates the CSR on the manager when
//! the profile's key is ECDSA P-256 or RSA 4096 ([`csr_key_type`]); for any other key CCN-STIC-807 allows
//! (ECDSA P-384, RSA 3072) the key and CSR are made with openssl as §69 describes, and the signed certificate is
//! uploaded with its key (`pexip.certificates.server-key`).
//!
//! Until the CA has signed, the rules that need the signed certificate are MANUAL with the step that is left.
//! `forja check` parses the signed certificate and refuses one whose key or signature does not match the
//! profile (exit 2); `forja pexip audit` parses the certificate the nodes really use.
//!
//! MANUAL rules and their levers (when they are MANUAL at all, see above): `1616-5.7.d` by
//! `pexip.certificates.key-type`/`key-size`; `1616-5.7.a`, `1616-5.7.e` by `pexip.certificates.issuer`.

use crate::profile::model::{Certificates, Issuer, KeyType, Ocsp};

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::proof;

const CERTS: &str =
    "tests/pexip_certificates.rs::the_ca_the_csr_and_the_signed_certificate_reach_every_node";
const UPLOAD: &str =
    "tests/pexip_certificates.rs::a_p384_certificate_made_outside_pexip_is_uploaded_with_its_key";

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.7.b"),
        paragraph: "§41, §67",
        statement: "The CA that signs the nodes' (and the directory's) certificates is imported into the Management Node",
        enforcement: Enforcement::PexipPlan,
        how: "the plan POSTs every certificate of pexip.certificates.ca-certificate to ca_certificate/",
        proof: &[proof::PLAN_GOLDEN, CERTS, proof::AUDIT],
        checklist: Some(Checklist::Certificates),
        check: ca_named,
    },
    Rule {
        id: RuleId("1616-5.7.d"),
        paragraph: "§67–69",
        statement: "A CSR is created with a key type and size CCN-STIC-807 allows",
        enforcement: Enforcement::PexipPlan,
        how: "the plan POSTs certificate_signing_request/ for the Management Node's name with every node's name as a subject alternative name and private_key_type ECDSAP256 or RSA4096; other allowed keys are made with openssl (§69)",
        proof: &[proof::PLAN_GOLDEN, CERTS, UPLOAD],
        checklist: Some(Checklist::Certificates),
        check: csr,
    },
    Rule {
        id: RuleId("1616-5.7.e"),
        paragraph: "§67",
        statement: "The CA-signed server certificate is imported, with the profile's key type, size and signature hash",
        enforcement: Enforcement::PexipPlan,
        how: "forja check parses pexip.certificates.server-certificate (key, size, signature hash, issuer, node names); the plan PATCHes it into its CSR, or uploads it with server-key to tls_certificate/",
        proof: &[CERTS, UPLOAD, proof::AUDIT],
        checklist: Some(Checklist::Certificates),
        check: signed_certificate,
    },
    Rule {
        id: RuleId("1616-5.7.a"),
        paragraph: "§66–67",
        statement: "Every node uses the CA-signed certificate instead of the self-signed one",
        enforcement: Enforcement::PexipPlan,
        how: "the plan sets tls_certificate on the Management Node (management_vm) and on every Conferencing Node (worker_vm) to the imported certificate",
        proof: &[CERTS, proof::AUDIT],
        checklist: Some(Checklist::Certificates),
        check: nodes_use_it,
    },
    Rule {
        id: RuleId("1616-5.7.c"),
        paragraph: "§71",
        statement: "OCSP checking is on for SIP TLS connections",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ ocsp_state (and ocsp_responder_url when given)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Certificates),
        check: ocsp_on,
    },
];

/// The `private_key_type` the Management Node's CSR generator takes for the profile's key, if it offers it.
pub fn csr_key_type(c: &Certificates) -> Option<&'static str> {
    match (c.key_type, c.key_size) {
        (KeyType::Ecdsa, 256) => Some("ECDSAP256"),
        (KeyType::Rsa, 4096) => Some("RSA4096"),
        _ => None,
    }
}

/// The openssl command that makes the key and CSR the Management Node cannot (§69), for the report.
pub fn openssl_csr_command(c: &Certificates, fqdn: &str, names: &[String]) -> String {
    let newkey = match c.key_type {
        KeyType::Ecdsa => format!("ec -pkeyopt ec_paramgen_curve:P-{}", c.key_size),
        KeyType::Rsa | KeyType::Dsa => format!("rsa:{}", c.key_size),
    };
    let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    format!(
        "openssl req -new -newkey {newkey} -{hash} -nodes -keyout node.key -out node.csr -subj \"/CN={fqdn}\" -addext \"subjectAltName={}\"",
        sans.join(","),
        hash = val(&c.signature_hash).trim_matches('"')
    )
}

/// `hostname.domain` of the Management Node and of every Conferencing Node: the names the certificate covers.
pub fn node_names(ctx: &Ctx) -> Vec<String> {
    let p = &ctx.p.pexip;
    std::iter::once(format!("{}.{}", p.management.hostname, p.management.domain))
        .chain(
            p.conferencing
                .iter()
                .map(|n| format!("{}.{}", n.hostname, p.management.domain)),
        )
        .collect()
}

fn ca_named(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let ca = &ctx.p.pexip.certificates.ca_certificate;
    c.expect(
        ca.is_some(),
        "pexip.certificates.ca-certificate",
        "(absent)",
        "§67: name the CA certificate (PEM) to import into the Management Node",
    );
    c.verdict(format!(
        "CA file {} imported by the plan",
        ca.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    ))
}

fn ca_issued<'c, 'a>(ctx: &'c Ctx<'a>) -> super::super::rule::Checks<'c, 'a> {
    let mut c = ctx.checks();
    let i = ctx.p.pexip.certificates.issuer;
    c.expect(
        i == Issuer::Ca,
        "pexip.certificates.issuer",
        val(&i),
        "§66: the self-signed certificates must be replaced by CA-signed ones: set issuer = \"ca\"",
    );
    c
}

fn csr(ctx: &Ctx) -> Verdict {
    let c = ca_issued(ctx);
    if c.failed() {
        return c.verdict("");
    }
    let certs = &ctx.p.pexip.certificates;
    if let Some(t) = csr_key_type(certs) {
        return c.verdict(format!("the plan creates the CSR ({t})"));
    }
    if certs.server_certificate.is_some() {
        return Verdict::Manual(format!(
            "the key and CSR ({} {}) were made outside Pexip with openssl (§69); forja check verified the signed certificate's key",
            val(&certs.key_type),
            certs.key_size
        ));
    }
    let names = node_names(ctx);
    Verdict::Manual(format!(
        "The Management Node's CSR generator makes ECDSA P-256 and RSA 4096 keys only. Make the key and CSR on a trusted machine (§69): `{}`; keep node.key secret (it goes into the secrets file as pexip.certificates.server-key), and have the CA sign node.csr.",
        openssl_csr_command(certs, &names[0], &names)
    ))
}

fn pending_signature(ctx: &Ctx) -> Verdict {
    let how = if csr_key_type(&ctx.p.pexip.certificates).is_some() {
        "take the CSR the plan created (forja pexip audit prints it; Certificates > Certificate signing requests), have the CA sign it"
    } else {
        "have the CA sign the CSR made with openssl (rule 1616-5.7.d)"
    };
    Verdict::Manual(format!(
        "{how}, name the signed certificate (PEM) in pexip.certificates.server-certificate, then run `forja pexip plan` and `forja pexip apply` again"
    ))
}

fn signed_certificate(ctx: &Ctx) -> Verdict {
    let mut c = ca_issued(ctx);
    let certs = &ctx.p.pexip.certificates;
    c.expect(
        certs.server_certificate.is_none()
            || csr_key_type(certs).is_some()
            || certs.server_key.is_some(),
        "pexip.certificates.server-key",
        "(absent)",
        "§69: a key made outside Pexip is uploaded with its certificate: server-key = { secret = \"pexip-tls-key\" }",
    );
    if c.failed() || certs.server_certificate.is_some() {
        return c.verdict("signed certificate checked and imported by the plan");
    }
    pending_signature(ctx)
}

fn nodes_use_it(ctx: &Ctx) -> Verdict {
    let c = ca_issued(ctx);
    if c.failed() || ctx.p.pexip.certificates.server_certificate.is_some() {
        return c.verdict(format!(
            "{} node(s) set to the CA-signed certificate",
            node_names(ctx).len()
        ));
    }
    pending_signature(ctx)
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
