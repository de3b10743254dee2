//! X.509 facts forja checks in the certificates it is given or reads back from the Management Node: key type and
//! size, signature hash, names, issuer, validity. Parsing is x509-parser's (rusticata); signatures are verified
//! with ring through it.
//!
//! Only what the guide asks about is extracted (§64, §67: key type and size, signature hash); everything is
//! kept as plain values so the callers (the preflight of `forja check`, `forja pexip audit`) compare and report.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;

/// The key and signature of a certificate, as CCN-STIC-807 names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// `ecdsa`, `rsa`, `dsa` or `other`.
    pub key_type: &'static str,
    /// Bits of the RSA modulus or of the curve.
    pub key_bits: usize,
    /// `sha256`, `sha384`, `sha512`, `sha1`, `md5` or `other`.
    pub signature_hash: &'static str,
    pub subject: String,
    pub issuer: String,
    /// DNS names of the subject alternative name extension.
    pub dns_names: Vec<String>,
    pub is_ca: bool,
    /// `notAfter` as RFC 2822 text.
    pub not_after: String,
    /// The subjectPublicKey bits (an EC point, or an RSAPublicKey): compares a certificate with a key.
    pub public_key: Vec<u8>,
    /// The DER bytes, for signature checks against another certificate.
    pub der: Vec<u8>,
}

/// Every certificate of a PEM text, in order. An error names what is wrong, never the text.
pub fn parse_pem(text: &[u8]) -> Result<Vec<CertFacts>, String> {
    let mut out = Vec::new();
    for (i, pem) in Pem::iter_from_buffer(text).enumerate() {
        let pem = pem.map_err(|e| format!("PEM block {}: {e}", i + 1))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("certificate {}: not X.509: {e}", i + 1))?;
        out.push(facts(&cert, &pem.contents));
    }
    if out.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(out)
}

/// The PEM blocks of a text that are certificates, each re-encoded on its own (for one request per certificate).
pub fn split_pem(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if line == "-----BEGIN CERTIFICATE-----" {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
        if line == "-----END CERTIFICATE-----"
            && let Some(c) = cur.take()
        {
            out.push(c);
        }
    }
    out
}

fn facts(cert: &X509Certificate<'_>, der: &[u8]) -> CertFacts {
    let (key_type, key_bits) = match cert.public_key().parsed() {
        Ok(PublicKey::EC(p)) => ("ecdsa", p.key_size()),
        Ok(PublicKey::RSA(k)) => ("rsa", rsa_bits(k.modulus)),
        Ok(PublicKey::DSA(y)) => ("dsa", y.len() * 8),
        _ => ("other", 0),
    };
    let dns_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    CertFacts {
        key_type,
        key_bits,
        signature_hash: signature_hash(&cert.signature_algorithm.algorithm.to_id_string()),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        dns_names,
        is_ca: cert.is_ca(),
        not_after: cert.validity().not_after.to_string(),
        public_key: cert.public_key().subject_public_key.data.to_vec(),
        der: der.to_vec(),
    }
}

/// The modulus length in bits, without the sign byte DER may put in front.
fn rsa_bits(modulus: &[u8]) -> usize {
    let m = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    m.len() * 8 - m[0].leading_zeros() as usize
}

/// The hash of a signature algorithm OID (RFC 5758 ECDSA, RFC 4055 RSA PKCS#1 v1.5).
fn signature_hash(oid: &str) -> &'static str {
    match oid {
        "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => "sha256",
        "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => "sha384",
        "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => "sha512",
        "1.2.840.10045.4.1" | "1.2.840.113549.1.1.5" | "1.2.840.10040.4.3" => "sha1",
        "1.2.840.113549.1.1.4" => "md5",
        _ => "other",
    }
}

/// Whether `cert` carries a valid signature by `issuer`'s key.
pub fn signed_by(cert: &CertFacts, issuer: &CertFacts) -> bool {
    let (Ok((_, c)), Ok((_, i))) = (
        x509_parser::parse_x509_certificate(&cert.der),
        x509_parser::parse_x509_certificate(&issuer.der),
    ) else {
        return false;
    };
    c.verify_signature(Some(i.public_key())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_bits_ignore_the_sign_byte() {
        let mut m = vec![0u8];
        m.extend(std::iter::repeat_n(0xffu8, 384));
        assert_eq!(rsa_bits(&m), 3072);
        assert_eq!(rsa_bits(&[0x01, 0x00]), 9);
    }

    #[test]
    fn splits_a_chain_into_certificates() {
        let a = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(split_pem(&format!("junk\n{a}\n{b}")), [a, b]);
    }
}
