//! Every file the profile names, checked before anything relies on it: it exists, it is a regular file and it
//! parses. `forja check` runs this after loading the profile (so a green check means `forja build` finds its
//! inputs) and `forja build` runs it first.
//!
//! What is checked, and how deep:
//! - CA certificates (`pexip.certificates.ca-certificate`, `host.syslog.ca-certificate`): PEM X.509, each a CA;
//! - node images: the file is there; its README.TXT parses and has a SHA-256 line for it (the hash itself is
//!   computed while `build` stages the image: reading gigabytes here would double the work);
//! - `pexip.certificates.server-certificate`: PEM X.509 whose key type, size and signature hash are the
//!   profile's (§67, CCN-STIC-807), naming every node, and signed by the profile's CA;
//!   `pexip.certificates.server-key` (when the secrets file is here): a PEM private key;
//! - `base.tarball`: the file is there (its pinned hash is checked when `build` extracts it);
//! - `signing.key`: a signify secret key at mode 0600. When it is not here, `check` notes it (the key may live on
//!   the signing machine; a lab build makes a test key) instead of failing.
//!
//! Every problem is reported at once, each naming the profile field, the file and what was expected. The exit
//! code is [`Exit::Input`] (missing or unparseable), or [`Exit::Unverified`] when the only problem is an image
//! that README.TXT does not vouch for.

use std::path::Path;

use crate::certs::{self, CertFacts};
use crate::error::{Exit, fail};
use crate::inbound;
use crate::nodes::readme::Readme;
use crate::pexip::nodes::node_names;
use crate::policy::InputFile;
use crate::profile::model::{Certificates, KeyType};
use crate::profile::{FieldPath, Loaded};

/// What one input check found.
struct Found {
    inputs: Vec<InputFile>,
    problems: Vec<(Exit, String)>,
}

impl Found {
    fn ok(&mut self, field: &str, path: &Path, note: impl Into<String>) {
        self.inputs.push(InputFile {
            field: field.to_owned(),
            path: path.display().to_string(),
            status: "ok",
            note: note.into(),
        });
    }

    fn problem(&mut self, l: &Loaded, exit: Exit, field: &str, what: impl std::fmt::Display) {
        self.problems.push((
            exit,
            format!("{}: {field}: {what}", l.locate(&FieldPath::parse(field))),
        ));
    }
}

/// Checks every file the profile names; the list for the report, or an error naming each problem.
pub fn check_inputs(l: &Loaded) -> anyhow::Result<Vec<InputFile>> {
    let mut f = Found {
        inputs: Vec::new(),
        problems: Vec::new(),
    };
    let p = &l.profile;
    let mut cas = Vec::new();
    if let Some(ca) = &p.pexip.certificates.ca_certificate {
        cas = ca_file(l, &mut f, "pexip.certificates.ca-certificate", ca);
    }
    if let Some(ca) = p
        .host
        .syslog
        .as_ref()
        .and_then(|s| s.ca_certificate.as_ref())
    {
        ca_file(l, &mut f, "host.syslog.ca-certificate", ca);
    }
    images(l, &mut f);
    if let Some(cert) = &p.pexip.certificates.server_certificate {
        server_certificate(l, &mut f, cert, &cas);
    }
    server_key(l, &mut f);
    if let Some(t) = &p.base.tarball {
        match inbound::open_regular(&l.resolve(&t.path)) {
            Ok(_) => f.ok(
                "base.tarball.path",
                &t.path,
                "present; forja build checks its pinned SHA-256",
            ),
            Err(e) => f.problem(l, Exit::Input, "base.tarball.path", format!("{e:#}")),
        }
    }
    signing_key(l, &mut f);
    if f.problems.is_empty() {
        return Ok(f.inputs);
    }
    let exit = if f.problems.iter().all(|(e, _)| *e == Exit::Unverified) {
        Exit::Unverified
    } else {
        Exit::Input
    };
    let lines: Vec<String> = f.problems.into_iter().map(|(_, m)| m).collect();
    Err(fail(exit, lines.join("\n")))
}

/// Reads a CA file; returns its certificates (empty after a problem).
fn ca_file(l: &Loaded, f: &mut Found, field: &str, path: &Path) -> Vec<CertFacts> {
    let certs = match inbound::read_capped(&l.resolve(path), inbound::MAX_PEM)
        .map_err(|e| format!("{e:#}"))
        .and_then(|b| certs::parse_pem(&b).map_err(|e| format!("{}: {e}", path.display())))
    {
        Ok(c) => c,
        Err(e) => {
            f.problem(
                l,
                Exit::Input,
                field,
                format!("{e}; expected the CA certificate(s) as PEM"),
            );
            return Vec::new();
        }
    };
    if let Some(c) = certs.iter().find(|c| !c.is_ca) {
        f.problem(
            l,
            Exit::Input,
            field,
            format!(
                "{}: {} is not a CA certificate (no basicConstraints CA:TRUE)",
                path.display(),
                c.subject
            ),
        );
        return Vec::new();
    }
    let subjects: Vec<&str> = certs.iter().map(|c| c.subject.as_str()).collect();
    f.ok(
        field,
        path,
        format!("{} CA certificate(s): {}", certs.len(), subjects.join("; ")),
    );
    certs
}

fn images(l: &Loaded, f: &mut Found) {
    for (i, img) in l.profile.pexip.images.iter().enumerate() {
        let field = format!("pexip.images[{i}]");
        let readme = match Readme::load(&l.resolve(&img.readme)) {
            Ok(r) => r,
            Err(e) => {
                f.problem(l, Exit::Input, &format!("{field}.readme"), format!("{e:#}"));
                continue;
            }
        };
        if let Err(e) = inbound::open_regular(&l.resolve(&img.file)) {
            f.problem(
                l,
                Exit::Input,
                &format!("{field}.file"),
                format!("{e:#}; expected the vendor's image"),
            );
            continue;
        }
        match readme.entry_for(&img.file) {
            Some((name, e)) => f.ok(
                &format!("{field}.file"),
                &img.file,
                format!("listed in {} line {} as {name}; hashed when forja build stages it", img.readme.display(), e.line),
            ),
            None => f.problem(
                l,
                Exit::Unverified,
                &format!("{field}.file"),
                format!(
                    "{} has no SHA-256 line for {} (§11, §13): use the README.TXT that came with the image",
                    img.readme.display(),
                    img.file.display()
                ),
            ),
        }
    }
}

/// The profile's key as [`CertFacts`] names it.
fn key_name(c: &Certificates) -> &'static str {
    match c.key_type {
        KeyType::Ecdsa => "ecdsa",
        KeyType::Rsa => "rsa",
        KeyType::Dsa => "dsa",
    }
}

fn server_certificate(l: &Loaded, f: &mut Found, path: &Path, cas: &[CertFacts]) {
    let field = "pexip.certificates.server-certificate";
    let cert = match inbound::read_capped(&l.resolve(path), inbound::MAX_PEM)
        .map_err(|e| format!("{e:#}"))
        .and_then(|b| certs::parse_pem(&b).map_err(|e| format!("{}: {e}", path.display())))
    {
        Ok(c) => c
            .into_iter()
            .next()
            .expect("parse_pem returns at least one"),
        Err(e) => {
            f.problem(
                l,
                Exit::Input,
                field,
                format!("{e}; expected the CA-signed certificate as PEM"),
            );
            return;
        }
    };
    let c = &l.profile.pexip.certificates;
    let want = (key_name(c), c.key_size as usize);
    let mut wrong = Vec::new();
    if (cert.key_type, cert.key_bits) != want {
        wrong.push(format!(
            "its key is {} {} bits, the profile says {} {} (§67)",
            cert.key_type, cert.key_bits, want.0, want.1
        ));
    }
    let hash = crate::policy::rule::val(&c.signature_hash);
    if format!("\"{}\"", cert.signature_hash) != hash {
        wrong.push(format!(
            "it is signed with {}, the profile says {hash} (§64, §67)",
            cert.signature_hash
        ));
    }
    let missing: Vec<String> = node_names(l)
        .into_iter()
        .filter(|n| !cert.dns_names.contains(&n.to_ascii_lowercase()))
        .collect();
    if !missing.is_empty() {
        wrong.push(format!(
            "it does not name {} (subjectAltName)",
            missing.join(", ")
        ));
    }
    if !cas.iter().any(|ca| certs::signed_by(&cert, ca)) {
        wrong.push(format!(
            "no certificate of pexip.certificates.ca-certificate signed it (issuer: {})",
            cert.issuer
        ));
    }
    if wrong.is_empty() {
        f.ok(
            field,
            path,
            format!(
                "{} {} bits, {}, valid until {}",
                cert.key_type, cert.key_bits, cert.signature_hash, cert.not_after
            ),
        );
    } else {
        f.problem(
            l,
            Exit::Input,
            field,
            format!("{}: {}", path.display(), wrong.join("; ")),
        );
    }
}

fn server_key(l: &Loaded, f: &mut Found) {
    let (Some(r), Some(secrets)) = (&l.profile.pexip.certificates.server_key, &l.secrets) else {
        return;
    };
    let field = "pexip.certificates.server-key";
    let is_key = secrets.get(r).is_some_and(|s| {
        let v = s.expose();
        v.contains("-----BEGIN ") && v.contains("PRIVATE KEY-----")
    });
    if !is_key {
        f.problem(
            l,
            Exit::Input,
            field,
            format!(
                "secret `{}` is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)",
                r.name()
            ),
        );
    }
}

fn signing_key(l: &Loaded, f: &mut Found) {
    let field = "signing.key";
    let rel = &l.profile.signing.key;
    let path = l.resolve(rel);
    if !path.exists() {
        let note = if l.is_lab() {
            "not here: forja build generates a test key for a lab profile"
        } else {
            "not here: forja build needs it; create it with `forja keygen --out DIR` or bring it from the signing machine"
        };
        f.inputs.push(InputFile {
            field: field.into(),
            path: rel.display().to_string(),
            status: "not-here",
            note: note.into(),
        });
        log::warn!("{}: {note}", path.display());
        return;
    }
    match crate::sign::SigningKey::load(&path) {
        Ok(k) => f.ok(
            field,
            rel,
            format!(
                "signify secret key, public key fingerprint {}",
                k.public().fingerprint()
            ),
        ),
        Err(e) => f.problem(l, Exit::Input, field, format!("{e:#}")),
    }
}
