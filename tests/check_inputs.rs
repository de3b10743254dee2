//! `forja check` verifies every file the profile names (so a green check means `forja build` finds its inputs):
//! a missing or unparseable file is exit 2 naming the field, its place in the profile and the file; an image
//! README.TXT does not list is exit 4; a server certificate that breaks the profile is exit 2 saying how; a
//! missing signing key is a note, not an error.

#[path = "support/prod_profile.rs"]
mod prod_profile;
#[path = "support/site_files.rs"]
mod site_files;

use std::process::{Command, Output};

use prod_profile::{Prod, openssl, prod};

fn site() -> Prod {
    let p = prod();
    site_files::vendor_images(p.dir.path());
    p
}

fn check(p: &Prod, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_forja"))
        .arg("check")
        .args(extra)
        .arg(&p.profile)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_green_check_lists_every_input_it_found() {
    let p = site();
    let out = check(&p, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inputs = v["inputs"].as_array().unwrap();
    let field = |f: &str| {
        inputs
            .iter()
            .find(|i| i["field"] == f)
            .unwrap_or_else(|| panic!("{f}: {inputs:?}"))
    };
    assert_eq!(field("pexip.certificates.ca-certificate")["status"], "ok");
    assert!(
        field("pexip.certificates.ca-certificate")["note"]
            .as_str()
            .unwrap()
            .contains("CN=Sede Example CA (forja TEST)")
    );
    assert_eq!(field("host.syslog.ca-certificate")["status"], "ok");
    assert_eq!(field("pexip.images[0].file")["status"], "ok");
    assert!(
        field("pexip.images[1].file")["note"]
            .as_str()
            .unwrap()
            .contains("README.TXT line")
    );
    // The signing key may live on the signing machine: a note, never an error.
    assert_eq!(field("signing.key")["status"], "not-here");
    assert!(
        stderr(&out).contains("forja build needs it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_ca_file_is_exit_2_naming_the_field_and_the_file() {
    let p = site();
    std::fs::remove_file(p.dir.path().join("site-ca.pem")).unwrap();
    let out = check(&p, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "exit 2 prints no report");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:200:18: pexip.certificates.ca-certificate: {}: cannot open",
            p.profile.display(),
            p.dir.path().join("site-ca.pem").display()
        )),
        "{err}"
    );
    assert!(
        err.contains("host.syslog.ca-certificate"),
        "both fields that name it: {err}"
    );
}

#[test]
fn a_file_that_is_no_certificate_or_no_ca_is_exit_2() {
    let p = site();
    std::fs::write(p.dir.path().join("site-ca.pem"), "not a certificate\n").unwrap();
    let err = stderr(&check(&p, &[]));
    assert!(
        err.contains("holds no PEM certificate; expected the CA certificate(s) as PEM"),
        "{err}"
    );
    let dir = p.dir.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "site-ca.pem",
            "-subj",
            "/CN=not a CA",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
    let out = check(&p, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("CN=not a CA is not a CA certificate"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_image_is_exit_2_and_an_unlisted_one_exit_4() {
    let p = site();
    let images = p.dir.path().join("images");
    std::fs::remove_file(images.join(site_files::IMAGES[0])).unwrap();
    let out = check(&p, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("pexip.images[0].file"),
        "{}",
        stderr(&out)
    );

    let p = site();
    let readme = p.dir.path().join("images/README.TXT");
    let text = std::fs::read_to_string(&readme).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.contains("ConfNode"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&readme, kept).unwrap();
    let out = check(&p, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pexip.images[1].file: images/README.TXT has no SHA-256 line for images/Pexip_Infinity_v25.4_generic_ConfNode_59565.ova"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_server_certificate_that_breaks_the_profile_is_refused() {
    let p = site();
    let dir = p.dir.path();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-sha256",
            "-nodes",
            "-keyout",
            "node.key",
            "-out",
            "node.csr",
            "-subj",
            "/CN=pexmgr.sede.example",
            "-addext",
            "subjectAltName=DNS:pexmgr.sede.example",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            "site-ca.pem",
            "-CAkey",
            "site-ca.key",
            "-CAcreateserial",
            "-out",
            "node.pem",
            "-days",
            "30",
            "-sha256",
            "-copy_extensions",
            "copyall",
        ],
    );
    p.set_secret(
        "pexip-tls-key",
        &std::fs::read_to_string(dir.join("node.key")).unwrap(),
    );
    p.edit(|t| t.replacen("renew-before-days", "server-certificate = \"node.pem\"\nserver-key = { secret = \"pexip-tls-key\" }\nrenew-before-days", 1));
    let out = check(&p, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("pexip.certificates.server-certificate: node.pem:"),
        "{err}"
    );
    assert!(
        err.contains("its key is rsa 2048 bits, the profile says ecdsa 384 (§67)"),
        "{err}"
    );
    assert!(
        err.contains("it is signed with sha256, the profile says \"sha384\""),
        "{err}"
    );
    assert!(
        err.contains("it does not name pexconf01.sede.example, pexedge01.sede.example"),
        "{err}"
    );
}
