//! The site's Secure Boot certificates as the firmware plan carries them, and the fingerprint that compares a
//! certificate the plan wants with one a BMC reports.
//!
//! The keys folder comes from `forja keygen --secure-boot` (another command): forja reads only the three public
//! certificates (`PK.crt`, `KEK.crt`, `db.crt`, PEM X.509) and `owner.guid` (the EFI SignatureOwner, one line),
//! through [`crate::inbound`] because they are outside input. The private keys and the `.esl`/`.auth` files are
//! never opened. A certificate must carry an RSA key of at least 3072 bits (CCN-STIC-807, as §64 asks of every
//! key the product's setup uses); UEFI firmware verifies only RSA signatures.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};
use crate::hashio::Sha256;

/// The smallest RSA modulus forja enrols (CCN-STIC-807).
pub const MIN_RSA_BITS: usize = 3072;
/// Cap for one certificate file or `owner.guid`.
const MAX_FILE: u64 = 64 << 10;

/// One of the three Secure Boot databases forja enrols a site certificate into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Database {
    #[serde(rename = "PK")]
    Pk,
    #[serde(rename = "KEK")]
    Kek,
    #[serde(rename = "db")]
    Db,
}

impl Database {
    /// In the order they are enrolled: db and KEK while the firmware is in setup mode, PK last (enrolling the
    /// PK ends setup mode).
    pub const ENROL_ORDER: [Database; 3] = [Database::Db, Database::Kek, Database::Pk];

    /// The Redfish `SecureBootDatabase` id (`DatabaseId`) and the keygen file stem.
    pub fn id(self) -> &'static str {
        match self {
            Database::Pk => "PK",
            Database::Kek => "KEK",
            Database::Db => "db",
        }
    }
}

/// A site certificate as the plan holds it: what a BMC's `Certificates` POST takes, and how to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteCert {
    /// The database it goes into.
    pub database: Database,
    /// The file it came from, relative to the keys folder.
    pub file: String,
    /// The certificate's subject, for people.
    pub subject: String,
    /// The public key, for people: `RSA 3072`.
    pub key: String,
    /// SHA-256 of the DER certificate: what `audit` compares with the BMC's certificates.
    pub sha256: Sha256,
    /// The Redfish `CertificateType` sent with it.
    pub certificate_type: String,
    /// The Redfish `CertificateString`: the certificate in PEM.
    pub certificate_string: String,
}

/// The three site certificates and the owner GUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteKeys {
    /// The keys folder as the profile names it (`boot.firmware.secure-boot-keys`).
    pub source: String,
    /// The EFI `SignatureOwner` of every enrolled certificate (Redfish `UefiSignatureOwner`), from `owner.guid`.
    pub uefi_signature_owner: String,
    /// PK, KEK, db, in that order.
    pub certificates: Vec<SiteCert>,
}

impl SiteKeys {
    pub fn cert(&self, db: Database) -> Option<&SiteCert> {
        self.certificates.iter().find(|c| c.database == db)
    }
}

/// Reads the site keys from `dir` (named `source` in the profile).
pub fn read(dir: &Path, source: &str) -> anyhow::Result<SiteKeys> {
    let guid_path = dir.join("owner.guid");
    let guid_text = crate::inbound::read_text_capped(&guid_path, MAX_FILE)?;
    let owner = uuid::Uuid::parse_str(guid_text.trim()).map_err(|e| {
        fail(
            Exit::Input,
            format!(
                "{}: not a GUID (the EFI SignatureOwner, one line): {e}",
                guid_path.display()
            ),
        )
    })?;
    let mut certificates = Vec::new();
    for db in [Database::Pk, Database::Kek, Database::Db] {
        let file = format!("{}.crt", db.id());
        let path = dir.join(&file);
        let pem = crate::inbound::read_text_capped(&path, MAX_FILE)?;
        certificates.push(site_cert(db, &file, &pem, &path)?);
    }
    Ok(SiteKeys {
        source: source.to_owned(),
        uefi_signature_owner: owner.hyphenated().to_string(),
        certificates,
    })
}

fn site_cert(db: Database, file: &str, pem: &str, path: &Path) -> anyhow::Result<SiteCert> {
    let bad = |why: String| fail(Exit::Input, format!("{}: {why}", path.display()));
    let der = pem_to_der(pem).map_err(bad)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
    let key = cert
        .public_key()
        .parsed()
        .map_err(|e| bad(format!("unreadable public key: {e}")))?;
    let bits = match key {
        x509_parser::public_key::PublicKey::RSA(ref rsa) => rsa.key_size(),
        _ => {
            return Err(bad(
                "the key is not RSA; UEFI Secure Boot verifies RSA signatures only".into(),
            ));
        }
    };
    if bits < MIN_RSA_BITS {
        return Err(bad(format!(
            "RSA {bits} bits; CCN-STIC-807 asks for at least {MIN_RSA_BITS} (regenerate the site keys)"
        )));
    }
    Ok(SiteCert {
        database: db,
        file: file.to_owned(),
        subject: cert.subject().to_string(),
        key: format!("RSA {bits}"),
        sha256: Sha256::of(&der),
        certificate_type: "PEM".into(),
        certificate_string: normalized_pem(&der),
    })
}

/// The DER bytes of the one certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let mut blocks = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes());
    let first = match blocks.next() {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Err(format!("not a PEM certificate: {e}")),
        None => return Err("holds no PEM certificate".into()),
    };
    if first.label != "CERTIFICATE" {
        return Err(format!("a PEM `{}` block, not a CERTIFICATE", first.label));
    }
    if blocks.next().is_some() {
        return Err("more than one PEM block; one certificate per file".into());
    }
    Ok(first.contents)
}

/// The SHA-256 of a certificate a BMC reports in PEM (its `CertificateString`).
pub fn fingerprint(pem: &str) -> Result<Sha256, String> {
    pem_to_der(pem).map(|der| Sha256::of(&der))
}

/// PEM with 64-column lines and a final newline, whatever the file's line breaks were.
fn normalized_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed certificate made by openssl (which CI installs) with `-newkey KEY`, e.g. `rsa:3072`; the
    /// same command the integration tests use for their site keys.
    pub fn openssl_cert(dir: &Path, stem: &str, key: &str) -> String {
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", key, "-nodes", "-days", "3650"])
            .args(["-subj", &format!("/CN=forja test {stem}")])
            .arg("-keyout")
            .arg(dir.join(format!("{stem}.key")))
            .arg("-out")
            .arg(dir.join(format!("{stem}.crt")))
            .output()
            .expect("openssl (package openssl)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(dir.join(format!("{stem}.crt"))).unwrap()
    }

    /// A keys folder as `forja keygen --secure-boot` leaves it (public parts only): a copy of the committed
    /// RSA-3072 fixtures (`tests/fixtures/secure-boot/make.sh`), or fresh certificates with another key.
    pub fn key_dir(key: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secure-boot");
        for stem in ["PK", "KEK", "db"] {
            if key == "rsa:3072" {
                let f = format!("{stem}.crt");
                std::fs::copy(fixtures.join(&f), d.path().join(&f)).unwrap();
            } else {
                openssl_cert(d.path(), stem, key);
            }
        }
        std::fs::write(
            d.path().join("owner.guid"),
            "A0BAA8A3-041D-48A8-BC87-C36D121B5E3D\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn reads_the_three_certificates_and_the_owner() {
        let d = key_dir("rsa:3072");
        let k = read(d.path(), "keys/secure-boot").unwrap();
        assert_eq!(
            k.uefi_signature_owner,
            "a0baa8a3-041d-48a8-bc87-c36d121b5e3d"
        );
        let ids: Vec<_> = k.certificates.iter().map(|c| c.database.id()).collect();
        assert_eq!(ids, ["PK", "KEK", "db"]);
        let db = k.cert(Database::Db).unwrap();
        assert_eq!(db.subject, "CN=forja unit-test db");
        assert_eq!(db.key, "RSA 3072");
        // The fingerprint of the PEM the plan carries is the file's.
        let file = std::fs::read_to_string(d.path().join("db.crt")).unwrap();
        assert_eq!(fingerprint(&file).unwrap(), db.sha256);
        assert_eq!(fingerprint(&db.certificate_string).unwrap(), db.sha256);
    }

    #[test]
    fn refuses_rsa_below_3072_bits_and_non_rsa_keys() {
        let d = key_dir("rsa:2048");
        let err = read(d.path(), "k").unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::Input);
        assert!(format!("{err}").contains("PK.crt: RSA 2048 bits"), "{err}");
        // An ECDSA P-256 certificate (rcgen's default key).
        let d = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        std::fs::write(d.path().join("PK.crt"), c.cert.pem()).unwrap();
        std::fs::write(d.path().join("owner.guid"), uuid::Uuid::nil().to_string()).unwrap();
        let err = read(d.path(), "k").unwrap_err();
        assert!(format!("{err}").contains("not RSA"), "{err}");
    }

    #[test]
    fn refuses_a_bad_owner_guid_and_a_missing_file_naming_the_path() {
        let d = key_dir("rsa:3072");
        std::fs::write(d.path().join("owner.guid"), "not-a-guid\n").unwrap();
        let err = read(d.path(), "k").unwrap_err();
        assert!(format!("{err}").contains("owner.guid: not a GUID"), "{err}");
        let d = key_dir("rsa:3072");
        std::fs::remove_file(d.path().join("KEK.crt")).unwrap();
        let err = read(d.path(), "k").unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::Input);
        assert!(format!("{err}").contains("KEK.crt"), "{err}");
    }

    #[test]
    fn a_pem_with_two_blocks_or_a_key_is_not_a_certificate() {
        let d = key_dir("rsa:3072");
        let crt = std::fs::read_to_string(d.path().join("db.crt")).unwrap();
        assert!(
            pem_to_der(&format!("{crt}{crt}"))
                .unwrap_err()
                .contains("more than one")
        );
        let d = key_dir("rsa:2048");
        let key = std::fs::read_to_string(d.path().join("db.key")).unwrap();
        assert!(pem_to_der(&key).unwrap_err().contains("not a CERTIFICATE"));
    }
}
