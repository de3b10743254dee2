//! Certificates (§66–67): the CA imported, the CSR created, the CA-signed certificate imported and given to
//! every node.
//!
//! Sources: pexip/go-infinity-sdk `config/ca_certificate_model.go` (certificate, trusted_intermediate),
//! `certificate_signing_request_model.go` (subject_name, additional_subject_alt_names, private_key_type,
//! ad_compatible, certificate, tls_certificate), `tls_certificate_model.go` (certificate, private_key);
//! pexip/terraform-provider-pexip `resource_infinity_certificate_signing_request.go` (private_key_type is one of
//! `UPLOAD`, `RSA2048`, `RSA4096`, `ECDSAP256`; dn, additional_subject_alt_names, private_key_type and
//! ad_compatible are write-only, "not returned by the API"; `certificate` is the signed certificate PATCHed into
//! the CSR) and `resource_infinity_tls_certificate.go` (a certificate is given to a node through the node's
//! `tls_certificate`, never through the certificate's `nodes`).
//!
//! GUESS: the CA-signed certificate PATCHed into its CSR becomes a `tls_certificate` whose `certificate` is that
//! PEM text, so the nodes can refer to it by its text; an existing certificate is also found by its PEM text.

use serde_json::{Value, json};

use super::{CA_CERTIFICATE, CSR, Entry, TLS_CERTIFICATE, post, secret_ref, uri_where};
use crate::error::{Exit, fail};
use crate::pexip::nodes::node_names;
use crate::policy::rules::certificates::csr_key_type;
use crate::profile::{FieldPath, Loaded};

/// The certificate part of a plan, read from the files the profile names.
#[derive(Debug, Clone)]
pub struct CertPlan {
    /// Each certificate of `pexip.certificates.ca-certificate`, PEM.
    pub cas: Vec<String>,
    /// The CA-signed server certificate, PEM, once the profile names it.
    pub signed: Option<String>,
}

impl CertPlan {
    pub fn from_profile(l: &Loaded) -> anyhow::Result<CertPlan> {
        let c = &l.profile.pexip.certificates;
        // Through `input`: what is read here is sent to the Management Node, so a link out of the profile's
        // folder is refused like any other file reference.
        let read = |field: &str, p: &std::path::Path| {
            let path = l.input(field, p)?;
            crate::inbound::read_text_capped(&path, crate::inbound::MAX_PEM).map_err(|e| {
                fail(
                    Exit::Input,
                    format!("{}: {field}: {e:#}", l.locate(&FieldPath::parse(field))),
                )
            })
        };
        let cas = match &c.ca_certificate {
            Some(p) => crate::certs::split_pem(&read("pexip.certificates.ca-certificate", p)?),
            None => Vec::new(),
        };
        let signed = match &c.server_certificate {
            Some(p) => crate::certs::split_pem(&read("pexip.certificates.server-certificate", p)?)
                .into_iter()
                .next(),
            None => None,
        };
        Ok(CertPlan { cas, signed })
    }

    /// The reference every node's `tls_certificate` takes, once the signed certificate is known.
    pub fn node_certificate(&self) -> Option<Value> {
        self.signed
            .as_ref()
            .map(|pem| uri_where(TLS_CERTIFICATE, "certificate", pem))
    }

    pub fn entries(&self, l: &Loaded) -> Vec<Entry> {
        let c = &l.profile.pexip.certificates;
        let mut out: Vec<Entry> = self
            .cas
            .iter()
            .map(|pem| {
                post(
                    CA_CERTIFICATE,
                    "certificate",
                    json!({ "certificate": pem, "trusted_intermediate": false }),
                    &["1616-5.7.b", "1616-5.2.b"],
                )
            })
            .collect();
        let names = node_names(l);
        match (csr_key_type(c), &self.signed) {
            (Some(key_type), signed) => {
                let mut body = json!({
                    "subject_name": names[0],
                    "additional_subject_alt_names": names.join(","),
                    "private_key_type": key_type,
                    "ad_compatible": false,
                });
                let mut rules = vec!["1616-5.7.d"];
                if let Some(pem) = signed {
                    body["certificate"] = json!(pem);
                    rules.push("1616-5.7.e");
                }
                let mut e = post(CSR, "subject_name", body, &rules);
                e.create_only = [
                    "additional_subject_alt_names",
                    "private_key_type",
                    "ad_compatible",
                ]
                .map(String::from)
                .to_vec();
                out.push(e);
            }
            (None, Some(pem)) => {
                if let Some(key) = &c.server_key {
                    out.push(
                        post(
                            TLS_CERTIFICATE,
                            "certificate",
                            json!({ "certificate": pem, "private_key": secret_ref(key.name()) }),
                            &["1616-5.7.e"],
                        )
                        .write_only(&["private_key"]),
                    );
                }
            }
            (None, None) => {}
        }
        out
    }
}
