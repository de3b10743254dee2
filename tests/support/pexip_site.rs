//! A site for the Pexip tests: the production profile with the site's secrets ([`super::prod_profile`]), its
//! plan written by `forja pexip plan`, the strict stand-in Management Node ([`super::pexip_server`]) and its CA,
//! and the commands run as the built binary. Every output is checked for secret values.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::pexip_server::Server;
use super::prod_profile::{Prod, prod};

pub struct Site {
    pub prod: Prod,
    pub server: Server,
    pub plan: PathBuf,
    pub ca: PathBuf,
}

pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

impl Site {
    pub fn new() -> Site {
        Site::from(prod())
    }

    pub fn from(prod: Prod) -> Site {
        let server = Server::start("admin", &prod.secret("pexip-web-admin"));
        let ca = prod.dir.path().join("ca.pem");
        std::fs::write(&ca, &server.ca_pem).unwrap();
        let s = Site {
            plan: prod.dir.path().join("plan.json"),
            prod,
            server,
            ca,
        };
        s.write_plan();
        s
    }

    /// `forja pexip plan PROFILE --output plan.json` (again, after the profile changed).
    pub fn write_plan(&self) {
        let out = Command::new(env!("CARGO_BIN_EXE_forja"))
            .args(["pexip", "plan"])
            .arg(&self.prod.profile)
            .arg("--output")
            .arg(&self.plan)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    pub fn apply_with(&self, manager: &str, ca: &Path, plan: &Path, extra: &[&str]) -> Output {
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

    pub fn apply(&self, extra: &[&str]) -> Output {
        self.apply_with(&self.server.manager_url, &self.ca, &self.plan, extra)
    }

    /// Applies and asserts success.
    pub fn applied(&self) -> String {
        let out = self.apply(&[]);
        assert!(
            out.status.success(),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `forja pexip audit PROFILE --manager URL --ca CA.pem [extra]`.
    pub fn audit(&self, extra: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_forja"))
            .args(["pexip", "audit"])
            .arg(&self.prod.profile)
            .args(["--manager", &self.server.manager_url, "--ca"])
            .arg(&self.ca)
            .args(extra)
            .output()
            .unwrap();
        self.assert_no_secret(&out);
        out
    }

    /// `audit --json`, parsed.
    pub fn audit_json(&self) -> (i32, serde_json::Value) {
        let out = self.audit(&["--json"]);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
        (out.status.code().unwrap(), v)
    }

    pub fn assert_no_secret(&self, out: &Output) {
        let t = text(&out.stdout) + &text(&out.stderr);
        for v in self.prod.secret_values() {
            assert!(!t.contains(&v), "a secret value was printed:\n{t}");
        }
    }

    /// The one stored object of a singleton resource.
    pub fn singleton(&self, resource: &str) -> serde_json::Map<String, serde_json::Value> {
        self.server.object(resource, 1)
    }
}

/// The audit's entry for one rule.
pub fn rule<'a>(audit: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    audit["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no rule {id} in the audit"))
}
