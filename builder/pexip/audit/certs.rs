//! The certificate the Management Node really uses, read back and parsed (§67, CCN-STIC-807), and any CSR still
//! waiting for its CA (printed so the operator can take it to the CA).

use serde::Serialize;
use serde_json::Value;

use super::{FieldCheck, Found};
use crate::pexip::plan::{CSR, MANAGEMENT_VM};
use crate::pexip::remote::Remote;
use crate::profile::Loaded;
use crate::profile::model::KeyType;

/// A certificate or CSR as the audit found it.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateSeen {
    /// Where it was found, e.g. `management_vm tls_certificate` or `certificate_signing_request`.
    pub found: String,
    pub subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    /// `ecdsa 384`, `rsa 3072`, ... (empty for a CSR).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signature_hash: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub not_after: String,
    /// A CSR waiting for its CA, PEM.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub csr: String,
}

/// The manager's certificate checked against the profile; CSRs without a certificate listed.
pub(super) fn check(
    l: &Loaded,
    remote: &Remote,
    found: &mut Found,
) -> anyhow::Result<Vec<CertificateSeen>> {
    let mut out = Vec::new();
    let mgr = remote.object(MANAGEMENT_VM, "GET management_vm")?;
    let uri = match mgr.get("tls_certificate") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Object(o)) => o
            .get("resource_uri")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    };
    if let Some(uri) = uri {
        let path = uri[uri.find("/api/admin/").map(|i| i + 11).unwrap_or(0)..].to_owned();
        let tls = remote.object(&path, "GET the Management Node's certificate")?;
        let pem = tls.get("certificate").and_then(Value::as_str).unwrap_or("");
        match crate::certs::parse_pem(pem.as_bytes()) {
            Ok(certs) => {
                let c = &certs[0];
                // Until the profile names the CA-signed certificate, the node still uses another one (the
                // self-signed default): shown, not judged; rules 1616-5.7.a/e say what is left to do.
                if l.profile.pexip.certificates.server_certificate.is_some() {
                    judge(l, c, found);
                }
                out.push(CertificateSeen {
                    found: "management_vm tls_certificate".into(),
                    subject: c.subject.clone(),
                    issuer: c.issuer.clone(),
                    key: format!("{} {}", c.key_type, c.key_bits),
                    signature_hash: c.signature_hash.into(),
                    not_after: c.not_after.clone(),
                    csr: String::new(),
                });
            }
            Err(e) => found.add_rules(
                &["1616-5.7.a"],
                Some(FieldCheck {
                    object: path,
                    field: "certificate".into(),
                    expected: "a PEM X.509 certificate".into(),
                    actual: e,
                }),
            ),
        }
    }
    for csr in remote.list(CSR, "GET certificate_signing_request")? {
        let pending = csr.get("tls_certificate").is_none_or(Value::is_null);
        let text = csr.get("csr").and_then(Value::as_str).unwrap_or("");
        if pending && !text.is_empty() {
            out.push(CertificateSeen {
                found: "certificate_signing_request (waiting for the CA)".into(),
                subject: csr
                    .get("subject_name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                issuer: String::new(),
                key: String::new(),
                signature_hash: String::new(),
                not_after: String::new(),
                csr: text.to_owned(),
            });
        }
    }
    Ok(out)
}

/// Key type, size and signature hash of the certificate in use against the profile (807-*).
fn judge(l: &Loaded, c: &crate::certs::CertFacts, found: &mut Found) {
    let want = &l.profile.pexip.certificates;
    let want_type = match want.key_type {
        KeyType::Ecdsa => "ecdsa",
        KeyType::Rsa => "rsa",
        KeyType::Dsa => "dsa",
    };
    let key_rule = if want.key_type == KeyType::Ecdsa {
        "807-ecdsa"
    } else {
        "807-rsa"
    };
    let object = "management_vm tls_certificate".to_owned();
    let key = (c.key_type == want_type && c.key_bits == want.key_size as usize).then_some(());
    found.add_rules(
        &[key_rule],
        key.is_none().then(|| FieldCheck {
            object: object.clone(),
            field: "public key".into(),
            expected: format!("{want_type} {}", want.key_size),
            actual: format!("{} {}", c.key_type, c.key_bits),
        }),
    );
    let want_hash = crate::policy::rule::val(&want.signature_hash)
        .trim_matches('"')
        .to_owned();
    found.add_rules(
        &["807-hash"],
        (c.signature_hash != want_hash).then(|| FieldCheck {
            object,
            field: "signature hash".into(),
            expected: want_hash,
            actual: c.signature_hash.into(),
        }),
    );
}
