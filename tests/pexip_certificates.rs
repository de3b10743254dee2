//! Certificates (§66–67) through `forja pexip apply` and `audit` on the strict stand-in: the CA imported, a CSR
//! the Management Node generates (ECDSA P-256), signed by the site's CA with openssl and given to every node; a
//! P-384 key and CSR made outside Pexip (§69) and uploaded with its key; and the audit reading the key and hash of
//! the certificate the Management Node really uses.

#[path = "support/pexip_server/mod.rs"]
mod pexip_server;
#[path = "support/pexip_site.rs"]
mod pexip_site;
#[path = "support/prod_profile.rs"]
mod prod_profile;

use std::path::Path;

use pexip_site::{Site, rule};
use prod_profile::{openssl, prod};
use serde_json::Value;

const SANS: &str =
    "subjectAltName=DNS:pexmgr.sede.example,DNS:pexconf01.sede.example,DNS:pexedge01.sede.example";

/// Signs `csr` (PEM file in `dir`) with the site's CA into `out`, with `hash`, keeping the CSR's names.
fn sign(dir: &Path, csr: &str, out: &str, hash: &str) {
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "site-ca.pem",
            "-CAkey",
            "site-ca.key",
            "-CAcreateserial",
            "-out",
            out,
            "-days",
            "365",
            hash,
            "-copy_extensions",
            "copyall",
        ],
    );
}

/// Names the signed certificate (and, for a key made outside Pexip, its key) in the profile.
fn name_certificate(s: &Site, with_key: bool) {
    s.prod.edit(|t| {
        let line = if with_key {
            "server-certificate = \"node.pem\"\nserver-key = { secret = \"pexip-tls-key\" }\nrenew-before-days"
        } else {
            "server-certificate = \"node.pem\"\nrenew-before-days"
        };
        t.replacen("renew-before-days", line, 1)
    });
    s.write_plan();
}

/// The URI every node's tls_certificate must hold: the one certificate on the manager.
fn the_certificate(s: &Site) -> String {
    let certs = s.server.all_with_ids("tls_certificate");
    assert_eq!(certs.len(), 1, "{certs:?}");
    format!(
        "/api/admin/configuration/v1/tls_certificate/{}/",
        certs[0].0
    )
}

fn assert_every_node_uses(s: &Site, uri: &str) {
    assert_eq!(s.singleton("management_vm")["tls_certificate"], uri);
    for n in s.server.all("worker_vm") {
        assert_eq!(n["tls_certificate"], uri, "{}", n["name"]);
    }
}

#[test]
fn the_ca_the_csr_and_the_signed_certificate_reach_every_node() {
    let p = prod();
    p.edit(|t| {
        t.replace("key-size = 384", "key-size = 256")
            .replace("signature-hash = \"sha384\"", "signature-hash = \"sha256\"")
    });
    let s = Site::from(p);
    s.applied();
    let cas = s.server.all("ca_certificate");
    assert_eq!(cas.len(), 1);
    assert_eq!(cas[0]["subject_name"], "CN=Sede Example CA (forja TEST)");
    let csrs = s.server.all_with_ids("certificate_signing_request");
    assert_eq!(csrs.len(), 1);
    let csr = csrs[0].1["csr"].as_str().unwrap().to_owned();
    assert!(
        csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{csr}"
    );
    // Waiting for the CA: the audit prints the CSR and leaves the import MANUAL.
    let (code, a) = s.audit_json();
    assert_eq!(code, 0, "{a:#}");
    assert_eq!(rule(&a, "1616-5.7.d")["status"], "PASS");
    assert_eq!(rule(&a, "1616-5.7.e")["status"], "MANUAL");
    assert_eq!(a["certificates"][0]["csr"], csr.as_str());

    let dir = s.prod.dir.path();
    std::fs::write(dir.join("node.csr"), &csr).unwrap();
    sign(dir, "node.csr", "node.pem", "-sha256");
    name_certificate(&s, false);
    let out = s.applied();
    assert!(
        out.contains(
            "certificate_signing_request/ subject_name=\"pexmgr.sede.example\" certificate"
        ),
        "{out}"
    );
    assert_every_node_uses(&s, &the_certificate(&s));
    let (code, a) = s.audit_json();
    assert_eq!(code, 0, "{a:#}");
    for id in ["1616-5.7.a", "1616-5.7.e", "807-ecdsa", "807-hash"] {
        assert_eq!(rule(&a, id)["status"], "PASS", "{id}: {:#}", rule(&a, id));
    }
    assert_eq!(a["certificates"][0]["key"], "ecdsa 256");
    assert!(s.applied().contains("no changes"));
}

/// An openssl P-384 key and CSR (§69), signed with SHA-384, named in the profile with its key.
fn p384_certificate(s: &Site) {
    let dir = s.prod.dir.path();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-sha384",
            "-nodes",
            "-keyout",
            "node.key",
            "-out",
            "node.csr",
            "-subj",
            "/CN=pexmgr.sede.example",
            "-addext",
            SANS,
        ],
    );
    sign(dir, "node.csr", "node.pem", "-sha384");
    let key = std::fs::read_to_string(dir.join("node.key")).unwrap();
    s.prod.set_secret("pexip-tls-key", &key);
    name_certificate(s, true);
}

#[test]
fn a_p384_certificate_made_outside_pexip_is_uploaded_with_its_key() {
    let s = Site::new();
    p384_certificate(&s);
    let out = s.applied();
    assert!(out.contains("+ configuration/v1/tls_certificate/"), "{out}");
    assert!(out.contains("private_key=<secret:pexip-tls-key>"), "{out}");
    assert!(
        s.server.all("certificate_signing_request").is_empty(),
        "no CSR on the manager for this key"
    );
    assert_every_node_uses(&s, &the_certificate(&s));
    let (code, a) = s.audit_json();
    assert_eq!(code, 0, "{a:#}");
    assert_eq!(rule(&a, "1616-5.7.a")["status"], "PASS");
    assert_eq!(a["certificates"][0]["key"], "ecdsa 384");
    assert_eq!(a["certificates"][0]["signature_hash"], "sha384");
}

#[test]
fn an_uploaded_certificate_that_does_not_match_its_key_is_refused() {
    let s = Site::new();
    p384_certificate(&s);
    let dir = s.prod.dir.path();
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "other.key",
        ],
    );
    s.prod.set_secret(
        "pexip-tls-key",
        &std::fs::read_to_string(dir.join("other.key")).unwrap(),
    );
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(9));
    let err = pexip_site::text(&out.stderr);
    assert!(
        err.contains("tls_certificate") && err.contains("does not match the private key"),
        "{err}"
    );
}

#[test]
fn the_audit_reads_the_key_and_hash_of_the_certificate_in_use() {
    let s = Site::new();
    p384_certificate(&s);
    s.applied();
    // Someone swaps in an RSA 2048 certificate signed with SHA-256 behind forja's back.
    let dir = s.prod.dir.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-sha256",
            "-nodes",
            "-keyout",
            "weak.key",
            "-out",
            "weak.pem",
            "-days",
            "30",
            "-subj",
            "/CN=pexmgr.sede.example",
        ],
    );
    let (id, _) = s.server.all_with_ids("tls_certificate")[0].clone();
    let weak = std::fs::read_to_string(dir.join("weak.pem")).unwrap();
    s.server
        .set("tls_certificate", id, "certificate", Value::String(weak));
    let (code, a) = s.audit_json();
    assert_eq!(code, 1);
    let key = rule(&a, "807-ecdsa");
    assert_eq!(key["status"], "DRIFT", "{key:#}");
    assert_eq!(key["drift"][0]["expected"], "ecdsa 384");
    assert_eq!(key["drift"][0]["actual"], "rsa 2048");
    assert_eq!(rule(&a, "807-hash")["drift"][0]["actual"], "sha256");
    assert_eq!(a["certificates"][0]["key"], "rsa 2048");
}

#[test]
fn before_the_ca_has_signed_the_certificate_in_use_is_shown_not_judged() {
    let s = Site::new();
    s.applied();
    // A manager still on its own self-signed RSA 2048 certificate (what the installation makes, §66).
    let dir = s.prod.dir.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-sha256",
            "-nodes",
            "-keyout",
            "self.key",
            "-out",
            "self.pem",
            "-days",
            "30",
            "-subj",
            "/CN=pexmgr.sede.example",
        ],
    );
    let mut st = s.server.state.lock().unwrap();
    let tls = serde_json::json!({
        "certificate": std::fs::read_to_string(dir.join("self.pem")).unwrap(),
        "private_key": std::fs::read_to_string(dir.join("self.key")).unwrap(),
    });
    st.objects
        .entry("tls_certificate".into())
        .or_default()
        .insert(900, tls.as_object().unwrap().clone());
    drop(st);
    s.server.set(
        "management_vm",
        1,
        "tls_certificate",
        Value::String("/api/admin/configuration/v1/tls_certificate/900/".into()),
    );
    let (code, a) = s.audit_json();
    assert_eq!(code, 0, "{a:#}");
    assert_eq!(a["certificates"][0]["key"], "rsa 2048");
    assert_eq!(rule(&a, "1616-5.7.a")["status"], "MANUAL");
}
