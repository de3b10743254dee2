//! `forja pexip apply` against the strict stand-in Management Node (tests/support/pexip_server/): full apply, a
//! second apply with no changes, the NTP and syslog servers attached to the nodes, resume after a failure, TLS and
//! http:// refusals, validation errors surfaced with status and resource, and no secret value in anything printed.

#[path = "support/pexip_server/mod.rs"]
mod pexip_server;
#[path = "support/pexip_site.rs"]
mod pexip_site;
#[path = "support/prod_profile.rs"]
mod prod_profile;

use pexip_server::Pki;
use pexip_site::{Site, text};
use serde_json::Value;

#[test]
fn full_apply_then_second_apply_changes_nothing() {
    let s = Site::new();
    let out = s.applied();
    assert!(out.contains("management_session_timeout: 30 -> 5"), "{out}");
    assert!(
        out.contains("ldap_bind_password = <secret:ldap-bind>"),
        "{out}"
    );
    assert!(out.contains("node conf01: SYNCED"), "{out}");

    let g = s.singleton("global");
    assert_eq!(g["management_session_timeout"], 5);
    assert_eq!(g["enable_ssh"], false);
    assert_eq!(g["legacy_api_http"], false);
    assert_eq!(g["error_reporting_enabled"], false);
    assert_eq!(g["crypto_mode"], "on");
    assert_eq!(g["sip_tls_cert_verify_mode"], "ON");
    let a = s.singleton("authentication");
    assert_eq!(a["source"], "LDAP+LOCAL");
    assert_eq!(a["ldap_permit_no_tls"], false);
    assert_eq!(a["ldap_use_global_catalog"], false);
    assert_eq!(a["ldap_bind_password"], s.prod.secret("ldap-bind").as_str());
    assert_eq!(s.singleton("management_vm")["snmp_mode"], "AUTHPRIV");
    assert_eq!(s.server.all("ntp_server").len(), 3);
    assert_eq!(
        s.server.all("ntp_server")[0]["key"],
        s.prod.secret("ntp-key-1").as_str()
    );
    assert_eq!(s.server.all("syslog_server")[0]["transport"], "tls");
    assert_eq!(
        s.server.all("conference")[0]["pin"],
        s.prod.secret("vmr-direccion-host").as_str()
    );
    assert_eq!(s.server.all("ca_certificate").len(), 1);
    let nodes = s.server.all("worker_vm");
    assert_eq!(nodes.len(), 2);
    assert!(
        nodes[0]["system_location"]
            .as_str()
            .unwrap()
            .starts_with("/api/admin/configuration/v1/system_location/")
    );
    assert!(
        !s.plan
            .with_file_name("plan.json.state")
            .join("conf01.deployment.xml")
            .exists()
    );

    let writes = s.server.writes();
    let second = s.apply(&[]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let out = text(&second.stdout);
    assert!(out.contains("no changes"), "{out}");
    assert!(!out.contains("\n~ ") && !out.contains("\n+ "), "{out}");
    assert_eq!(
        s.server.writes(),
        writes,
        "the second apply wrote to the manager"
    );
}

/// The URIs a stored related-list field names.
fn uris(v: &Value) -> Vec<String> {
    let mut u: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    u.sort();
    u
}

#[test]
fn ntp_and_syslog_servers_are_attached_to_the_manager_and_every_location() {
    let s = Site::new();
    s.applied();
    let ntp: Vec<String> = {
        let mut v: Vec<String> = s
            .server
            .all_with_ids("ntp_server")
            .iter()
            .map(|(id, _)| format!("/api/admin/configuration/v1/ntp_server/{id}/"))
            .collect();
        v.sort();
        v
    };
    let syslog: Vec<String> = s
        .server
        .all_with_ids("syslog_server")
        .iter()
        .map(|(id, _)| format!("/api/admin/configuration/v1/syslog_server/{id}/"))
        .collect();
    assert_eq!(ntp.len(), 3);
    assert_eq!(syslog.len(), 1);
    let mgr = s.singleton("management_vm");
    assert_eq!(uris(&mgr["ntp_servers"]), ntp, "{mgr:?}");
    assert_eq!(uris(&mgr["syslog_servers"]), syslog);
    let locations = s.server.all("system_location");
    assert_eq!(locations.len(), 2, "one per location the nodes name");
    for l in &locations {
        assert_eq!(uris(&l["ntp_servers"]), ntp, "{l:?}");
        assert_eq!(uris(&l["syslog_servers"]), syslog);
    }
    // Each Conferencing Node sits in one of those locations, so it takes their servers (§91).
    for n in s.server.all("worker_vm") {
        let loc = n["system_location"].as_str().unwrap();
        assert!(loc.contains("/system_location/"), "{loc}");
    }
}

#[test]
fn dry_run_prints_the_diff_and_sends_nothing() {
    let s = Site::new();
    let out = s.apply(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("+ configuration/v1/ntp_server/"),
        "{stdout}"
    );
    assert!(stdout.contains("key=<secret:ntp-key-1>"), "{stdout}");
    assert!(
        stdout
            .contains("<ntp_server with address = \"ntp1.sede.example\", made by an earlier step>"),
        "{stdout}"
    );
    assert!(stdout.contains("(dry run)"), "{stdout}");
    assert_eq!(s.server.writes(), 0);
}

#[test]
fn a_changed_secret_reaches_the_manager_only_with_resend_secrets() {
    let s = Site::new();
    s.applied();
    s.prod.set_secret("ldap-bind", "Sq-Rotated-Bind#2027x");
    let out = s.applied();
    assert!(
        out.contains("no changes"),
        "write-only fields are not compared: {out}"
    );
    assert_ne!(
        s.singleton("authentication")["ldap_bind_password"],
        "Sq-Rotated-Bind#2027x"
    );
    let out = text(&s.apply(&["--resend-secrets"]).stdout);
    assert!(
        out.contains("ldap_bind_password = <secret:ldap-bind>"),
        "{out}"
    );
    assert_eq!(
        s.singleton("authentication")["ldap_bind_password"],
        "Sq-Rotated-Bind#2027x"
    );
}

#[test]
fn a_failed_request_stops_the_run_and_a_rerun_resumes() {
    let s = Site::new();
    s.server.fail_once("POST", "ntp_server");
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("HTTP 500") && err.contains("ntp_server") && err.contains("injected failure"),
        "{err}"
    );
    s.applied();
    assert_eq!(
        s.server.all("ntp_server").len(),
        3,
        "no duplicate after resuming"
    );
    assert!(s.applied().contains("no changes"));
}

#[test]
fn a_failed_node_bootstrap_resumes_from_the_saved_deployment_file() {
    let s = Site::new();
    s.server.fail_once("NODE", "/configuration/bootstrap");
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("node conf01"),
        "{}",
        text(&out.stderr)
    );
    let saved = s
        .plan
        .with_file_name("plan.json.state")
        .join("conf01.deployment.xml");
    assert!(saved.exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = s.applied();
    assert!(again.contains("bootstrapping node conf01"), "{again}");
    assert!(!saved.exists());
    assert_eq!(s.server.all("worker_vm").len(), 2);
    assert!(s.applied().contains("no changes"));
}

#[test]
fn a_manager_certificate_from_another_ca_is_refused() {
    let s = Site::new();
    let other = s.prod.dir.path().join("other-ca.pem");
    std::fs::write(&other, Pki::new().ca_pem).unwrap();
    let out = s.apply_with(&s.server.manager_url, &other, &s.plan, &[]);
    assert_eq!(out.status.code(), Some(9));
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    assert_eq!(s.server.writes(), 0);
}

#[test]
fn plain_http_is_refused_before_anything_is_sent() {
    let s = Site::new();
    let url = s.server.manager_url.replace("https://", "http://");
    let out = s.apply_with(&url, &s.ca, &s.plan, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not an https:// URL"),
        "{}",
        text(&out.stderr)
    );
    assert!(s.server.state.lock().unwrap().log.is_empty());
}

/// Applies a plan whose first entry's body was changed by `edit`; returns stderr and the exit code.
fn apply_edited(s: &Site, edit: impl FnOnce(&mut Value)) -> (Option<i32>, String) {
    let mut plan: Value = serde_json::from_str(&std::fs::read_to_string(&s.plan).unwrap()).unwrap();
    edit(&mut plan);
    let bad = s.prod.dir.path().join("bad.json");
    std::fs::write(&bad, plan.to_string()).unwrap();
    let out = s.apply_with(&s.server.manager_url, &s.ca, &bad, &[]);
    (out.status.code(), text(&out.stderr))
}

#[test]
fn unknown_fields_wrong_types_and_bad_values_are_refused_by_name() {
    let s = Site::new();
    let (code, err) = apply_edited(&s, |p| p[0]["body"]["bogus_field"] = true.into());
    assert_eq!(code, Some(9));
    assert!(
        err.contains("HTTP 400") && err.contains("global") && err.contains("bogus_field"),
        "{err}"
    );
    let (_, err) = apply_edited(&s, |p| {
        p[0]["body"]["management_session_timeout"] = "5".into()
    });
    assert!(
        err.contains("management_session_timeout") && err.contains("wrong type"),
        "{err}"
    );
    let (_, err) = apply_edited(&s, |p| {
        p[0]["body"]["management_session_timeout"] = 2.into()
    });
    assert!(err.contains("out of range 5 to 1440"), "{err}");
    let (_, err) = apply_edited(&s, |p| p[0]["path"] = "configuration/v1/globals/1/".into());
    assert!(err.contains("HTTP 404") && err.contains("globals"), "{err}");
}

#[test]
fn the_stand_in_refuses_the_guides_sftp_scheme_as_pexip_documents() {
    let s = Site::new();
    s.prod
        .edit(|t| t.replace("ftps://backup.sede.example", "sftp://backup.sede.example"));
    s.write_plan();
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(9));
    let err = text(&out.stderr);
    assert!(
        err.contains("autobackup_upload_url") && err.contains("supported schemes: ftps, ftp"),
        "{err}"
    );
}

#[test]
fn wrong_credentials_are_a_remote_error_without_the_password() {
    let s = Site::new();
    s.prod.set_secret("pexip-web-admin", "Wrong-Password-2026!");
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(9));
    let err = text(&out.stderr);
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(!err.contains("Wrong-Password-2026!"), "{err}");
}
