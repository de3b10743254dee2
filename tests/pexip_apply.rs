//! `forja pexip apply` against a local HTTPS stand-in of the Management Node (tests/support/pexip_server.rs):
//! full apply, a second apply with no changes, resume after a failure, TLS and http:// refusals, validation
//! errors surfaced with status and resource, and no secret value in anything printed.

#[path = "support/pexip_server.rs"]
mod pexip_server;
#[path = "support/prod_profile.rs"]
mod prod_profile;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pexip_server::{Pki, Server};
use prod_profile::{Prod, prod};

struct Setup {
    prod: Prod,
    server: Server,
    plan: PathBuf,
    ca: PathBuf,
}

fn setup() -> Setup {
    let prod = prod();
    let plan = prod.dir.path().join("plan.json");
    let out = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["pexip", "plan"])
        .arg(&prod.profile)
        .arg("--output")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start("admin", "Replace-Me-Web-2026!");
    let ca = prod.dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    Setup {
        prod,
        server,
        plan,
        ca,
    }
}

impl Setup {
    fn apply_with(&self, manager: &str, ca: &Path, plan: &Path, extra: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_forja"))
            .args(["pexip", "apply", "--plan"])
            .arg(plan)
            .args(["--manager", manager, "--ca"])
            .arg(ca)
            .arg("--secrets")
            .arg(&self.prod.secrets)
            .args(["--node-url", &format!("conf01={}", self.server.node_url)])
            .args(["--node-url", &format!("edge01={}", self.server.node_url)])
            .args([
                "--poll-interval-ms",
                "20",
                "--sync-timeout",
                "20",
                "--request-timeout",
                "10",
            ])
            .args(extra)
            .output()
            .unwrap();
        self.assert_no_secret(&out);
        out
    }

    fn apply(&self, extra: &[&str]) -> Output {
        self.apply_with(&self.server.manager_url, &self.ca, &self.plan, extra)
    }

    fn assert_no_secret(&self, out: &Output) {
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        for v in self.prod.secret_values() {
            assert!(!text.contains(&v), "a secret value was printed:\n{text}");
        }
    }
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn full_apply_then_second_apply_changes_nothing() {
    let s = setup();
    let first = s.apply(&[]);
    assert!(
        first.status.success(),
        "{}\n{}",
        text(&first.stdout),
        text(&first.stderr)
    );
    let out = text(&first.stdout);
    assert!(out.contains("management_session_timeout: 30 -> 5"), "{out}");
    assert!(
        out.contains("ldap_bind_password = <secret:ldap-bind>"),
        "{out}"
    );
    assert!(out.contains("node conf01: SYNCED"), "{out}");

    let g = s.server.object("global", 1);
    assert_eq!(g["management_session_timeout"], 5);
    assert_eq!(g["enable_ssh"], false);
    assert_eq!(g["crypto_mode"], "on");
    assert_eq!(g["sip_tls_cert_verify_mode"], "ON");
    let a = s.server.object("authentication", 1);
    assert_eq!(a["source"], "LDAP+LOCAL");
    assert_eq!(a["ldap_permit_no_tls"], false);
    assert_eq!(a["ldap_bind_password"], "Replace-Me-Ldap-2026!");
    assert_eq!(s.server.object("management_vm", 1)["snmp_mode"], "AUTHPRIV");
    assert_eq!(s.server.all("ntp_server").len(), 3);
    assert_eq!(s.server.all("syslog_server")[0]["transport"], "tls");
    assert_eq!(s.server.all("conference")[0]["pin"], "482915");
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

#[test]
fn dry_run_prints_the_diff_and_sends_nothing() {
    let s = setup();
    let out = s.apply(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("+ configuration/v1/ntp_server/"),
        "{stdout}"
    );
    assert!(
        stdout.contains("key = <secret:ntp-key-1>") || stdout.contains("key=<secret:ntp-key-1>"),
        "{stdout}"
    );
    assert!(stdout.contains("(dry run)"), "{stdout}");
    assert_eq!(s.server.writes(), 0);
}

#[test]
fn a_failed_request_stops_the_run_and_a_rerun_resumes() {
    let s = setup();
    s.server.fail_once("POST", "ntp_server");
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("HTTP 500") && err.contains("ntp_server") && err.contains("injected failure"),
        "{err}"
    );
    let again = s.apply(&[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        s.server.all("ntp_server").len(),
        3,
        "no duplicate after resuming"
    );
    assert!(text(&s.apply(&[]).stdout).contains("no changes"));
}

#[test]
fn a_failed_node_bootstrap_resumes_from_the_saved_deployment_file() {
    let s = setup();
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
    let again = s.apply(&[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("bootstrapping node conf01"));
    assert!(!saved.exists());
    assert_eq!(s.server.all("worker_vm").len(), 2);
    assert!(text(&s.apply(&[]).stdout).contains("no changes"));
}

#[test]
fn a_manager_certificate_from_another_ca_is_refused() {
    let s = setup();
    let other = s.prod.dir.path().join("other-ca.pem");
    std::fs::write(&other, Pki::new().ca_pem).unwrap();
    let out = s.apply_with(&s.server.manager_url, &other, &s.plan, &[]);
    assert_eq!(out.status.code(), Some(9));
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    assert_eq!(s.server.writes(), 0);
}

#[test]
fn plain_http_is_refused_before_anything_is_sent() {
    let s = setup();
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

#[test]
fn unknown_fields_and_wrong_types_are_reported_with_status_and_resource() {
    let s = setup();
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.plan).unwrap()).unwrap();
    plan[0]["body"]["bogus_field"] = serde_json::json!(true);
    let bad = s.prod.dir.path().join("bad.json");
    std::fs::write(&bad, plan.to_string()).unwrap();
    let out = s.apply_with(&s.server.manager_url, &s.ca, &bad, &[]);
    assert_eq!(out.status.code(), Some(9));
    let err = text(&out.stderr);
    assert!(
        err.contains("HTTP 400") && err.contains("global") && err.contains("bogus_field"),
        "{err}"
    );

    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.plan).unwrap()).unwrap();
    plan[0]["body"]["management_session_timeout"] = serde_json::json!("5");
    std::fs::write(&bad, plan.to_string()).unwrap();
    let out = s.apply_with(&s.server.manager_url, &s.ca, &bad, &[]);
    assert_eq!(out.status.code(), Some(9));
    assert!(
        text(&out.stderr).contains("wrong type"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn wrong_credentials_are_a_remote_error_without_the_password() {
    let s = setup();
    s.prod.set_secret("pexip-web-admin", "Wrong-Password-2026!");
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(9));
    let err = text(&out.stderr);
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(!err.contains("Wrong-Password-2026!"), "{err}");
}
