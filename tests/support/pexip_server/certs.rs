//! Certificates on the stand-in, as pexip/terraform-provider-pexip describes them: a CA import is parsed; a CSR
//! gets a real key and CSR (rcgen) when the manager generates the key (`ECDSAP256` only here: rcgen on ring
//! cannot make RSA keys, so `RSA2048`/`RSA4096` are refused with a message saying so); PATCHing a CSR's signed
//! `certificate` is accepted only for the CSR's own key and creates the `tls_certificate`; a `tls_certificate`
//! upload must carry the private key of its certificate.

use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData, SanType};
use serde_json::{Map, Value, json};

use super::store::uri;
use super::{Reply, State, invalid};

/// What the manager computes when an object is created; `Err` is its refusal.
pub fn on_create(
    st: &mut State,
    resource: &str,
    id: u64,
    mut body: Map<String, Value>,
) -> Result<Map<String, Value>, Reply> {
    match resource {
        "ca_certificate" | "tls_certificate" => {
            describe(&mut body, resource)?;
            if resource == "tls_certificate" {
                key_matches(
                    resource,
                    text(&body, "private_key"),
                    text(&body, "certificate"),
                )?;
            }
        }
        "certificate_signing_request" => {
            let key = match text(&body, "private_key_type") {
                "ECDSAP256" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
                "UPLOAD" => KeyPair::from_pem(text(&body, "private_key")).map_err(|e| {
                    invalid(
                        resource,
                        "private_key",
                        format!("not a usable private key: {e}"),
                    )
                })?,
                other => {
                    return Err(invalid(
                        resource,
                        "private_key_type",
                        format!("stand-in limitation: it makes ECDSAP256 keys only, not {other}"),
                    ));
                }
            };
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, text(&body, "subject_name"));
            for n in text(&body, "additional_subject_alt_names")
                .split(',')
                .filter(|n| !n.is_empty())
            {
                params
                    .subject_alt_names
                    .push(SanType::DnsName(n.trim().try_into().unwrap()));
            }
            let csr = params.serialize_request(&key).unwrap().pem().unwrap();
            body.insert("csr".into(), json!(csr));
            st.csr_keys.insert(id, key.serialize_pem());
            if body.contains_key("certificate") {
                let extra = signed(st, id, &body)?;
                body.extend(extra);
            }
        }
        _ => {}
    }
    Ok(body)
}

/// What the manager does when an object changes; the fields it sets besides the body's.
pub fn on_update(
    st: &mut State,
    resource: &str,
    id: u64,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Reply> {
    if resource == "certificate_signing_request" && body.contains_key("certificate") {
        return signed(st, id, body);
    }
    if resource == "certificate_signing_request" && body.contains_key("private_key_type") {
        // The provider treats the key type as fixed at creation: changing it is a new CSR, not a PATCH.
        return Err(invalid(
            resource,
            "private_key_type",
            "create a new CSR to change the key type",
        ));
    }
    Ok(Map::new())
}

/// The signed certificate for CSR `id`: it must carry the CSR's key; it becomes a `tls_certificate`.
fn signed(st: &mut State, id: u64, body: &Map<String, Value>) -> Result<Map<String, Value>, Reply> {
    let resource = "certificate_signing_request";
    let key = st.csr_keys.get(&id).cloned().ok_or_else(|| {
        invalid(
            resource,
            "certificate",
            "this CSR has no key on the manager",
        )
    })?;
    let pem = text(body, "certificate").to_owned();
    key_matches(resource, &key, &pem)?;
    let mut tls = Map::new();
    tls.insert("certificate".into(), json!(pem));
    tls.insert("private_key".into(), json!(key));
    describe(&mut tls, "tls_certificate")?;
    let tls_id = st.next_id();
    st.objects
        .entry("tls_certificate".into())
        .or_default()
        .insert(tls_id, tls);
    let mut extra = Map::new();
    extra.insert(
        "tls_certificate".into(),
        json!(uri("tls_certificate", tls_id)),
    );
    Ok(extra)
}

/// Refuses a certificate whose public key is not the private key's.
fn key_matches(resource: &str, key_pem: &str, cert_pem: &str) -> Result<(), Reply> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| {
        invalid(
            resource,
            "private_key",
            format!("not a usable private key: {e}"),
        )
    })?;
    let cert = forja::certs::parse_pem(cert_pem.as_bytes())
        .map_err(|e| invalid(resource, "certificate", e))?;
    if cert[0].public_key != key.der_bytes() {
        return Err(invalid(
            resource,
            "certificate",
            "the certificate does not match the private key",
        ));
    }
    Ok(())
}

/// The read-only fields the manager derives from a certificate.
fn describe(body: &mut Map<String, Value>, resource: &str) -> Result<(), Reply> {
    let c = forja::certs::parse_pem(text(body, "certificate").as_bytes())
        .map_err(|e| invalid(resource, "certificate", e))?;
    let c = &c[0];
    body.insert("subject_name".into(), json!(c.subject));
    body.insert("issuer_name".into(), json!(c.issuer));
    body.insert("end_date".into(), json!(c.not_after));
    if resource == "tls_certificate" {
        body.insert("subject_alt_names".into(), json!(c.dns_names.join(", ")));
    }
    Ok(())
}

fn text<'a>(body: &'a Map<String, Value>, field: &str) -> &'a str {
    body.get(field).and_then(Value::as_str).unwrap_or("")
}
