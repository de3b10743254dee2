//! The guide's Management Node configuration as an ordered list of REST requests (the "plan"), each naming the
//! guide rules it satisfies.
//!
//! Each entry is `{"method", "path", "body", "rules"}` plus, for list resources, `key` (the field that identifies
//! an existing object: `address`, `name`, `subject_name` or `certificate`), `write_only` (fields the manager
//! never returns: secrets), `create_only` (fields that only a POST sends) and, for nodes, `then` (the node
//! bootstrap that follows the POST). Paths are relative to `https://<manager>/api/admin/`.
//!
//! Values that are only known when the plan is applied are references, resolved by `apply` and `audit`:
//! - `{"secret": NAME}`: a value of the secrets file, so a printed plan holds no secret;
//! - `{"uri_of": {"path": P, "where": {FIELD: VALUE}}}`: the `resource_uri` of the object of list `P` whose
//!   FIELD equals VALUE (it exists only once an earlier step made it); a JSON list of them for list fields.
//!
//! Field names and types follow pexip/go-infinity-sdk `config/*_model.go` and pexip/terraform-provider-pexip
//! `internal/provider/resource_infinity_*.go`, cited per section; what v25.4 may do differently is marked
//! GUESS. The stand-in Management Node (`tests/support/pexip_server/`) refuses any other field.
//!
//! Each entry's `rules` are ids of the policy table ([`crate::policy::rules`]): the rules whose setting the
//! request writes. `tests/rule_refs.rs` checks that every id cited exists there.

mod certs;
mod lists;
mod singletons;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::profile::Loaded;

pub use certs::CertPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "POST")]
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Patch => "PATCH",
            Method::Post => "POST",
        }
    }
}

/// What follows a node's registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Then {
    /// The node's bootstrap endpoint; the deployment file returned by the POST goes there as `text/xml`.
    pub bootstrap: String,
    /// Poll `status/v1/worker_vm/<id>/` until `sync_status` is this value.
    pub wait_for_sync_status: String,
}

/// One request of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub method: Method,
    pub path: String,
    pub body: Value,
    pub rules: Vec<String>,
    /// For POSTs to list resources: the body field that identifies an existing object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Body fields the manager never returns (secrets): sent when the object is created, with any other change
    /// of a singleton, and by `apply --resend-secrets`; never compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write_only: Vec<String>,
    /// Body fields only the creating POST sends (a CSR's key type): never compared, never sent again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_only: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Then>,
}

impl Entry {
    fn new(method: Method, path: &str, body: Value, rules: &[&str]) -> Entry {
        Entry {
            method,
            path: path.into(),
            body,
            rules: rules.iter().map(|s| s.to_string()).collect(),
            key: None,
            write_only: Vec::new(),
            create_only: Vec::new(),
            then: None,
        }
    }

    /// Names fields the manager never returns.
    fn write_only(mut self, fields: &[&str]) -> Entry {
        let present: Vec<String> = fields
            .iter()
            .filter(|f| self.body.get(**f).is_some())
            .map(|f| f.to_string())
            .collect();
        self.write_only = present;
        self
    }

    /// Whether a body field is compared with what the manager returns.
    pub fn readable(&self, field: &str) -> bool {
        !self.write_only.iter().any(|f| f == field) && !self.create_only.iter().any(|f| f == field)
    }
}

fn patch(path: &str, body: Value, rules: &[&str]) -> Entry {
    Entry::new(Method::Patch, path, body, rules)
}

fn post(path: &str, key: &str, body: Value, rules: &[&str]) -> Entry {
    let mut e = Entry::new(Method::Post, path, body, rules);
    e.key = Some(key.into());
    e
}

pub const GLOBAL: &str = "configuration/v1/global/1/";
pub const AUTHENTICATION: &str = "configuration/v1/authentication/1/";
/// GUESS: the Management Node is object 1 of `management_vm` (true on a single-manager deployment).
pub const MANAGEMENT_VM: &str = "configuration/v1/management_vm/1/";
pub const NTP_SERVER: &str = "configuration/v1/ntp_server/";
pub const SYSLOG_SERVER: &str = "configuration/v1/syslog_server/";
pub const AUTOBACKUP: &str = "configuration/v1/autobackup/1/";
pub const ALLOW_LIST: &str = "configuration/v1/break_in_allow_list_address/";
pub const CONFERENCE: &str = "configuration/v1/conference/";
pub const CA_CERTIFICATE: &str = "configuration/v1/ca_certificate/";
pub const CSR: &str = "configuration/v1/certificate_signing_request/";
pub const TLS_CERTIFICATE: &str = "configuration/v1/tls_certificate/";

/// `{"secret": NAME}`: a value resolved from the secrets file when the plan is applied.
pub fn secret_ref(name: &str) -> Value {
    json!({ "secret": name })
}

/// `{"uri_of": {"path": P, "where": {FIELD: VALUE}}}`: the `resource_uri` of an object found when applied.
pub fn uri_where(path: &str, field: &str, value: &str) -> Value {
    json!({ "uri_of": { "path": path, "where": { field: value } } })
}

/// The plan for a loaded profile, in the order it is applied: global settings and authentication, the NTP and
/// syslog servers, certificates, the Management Node (which needs the servers and the certificate), backups,
/// the allow list and rooms, then the locations and nodes.
pub fn plan(l: &Loaded) -> anyhow::Result<Vec<Entry>> {
    let certs = CertPlan::from_profile(l)?;
    let mut out = singletons::global(l);
    out.extend(singletons::authentication(l));
    out.extend(lists::time_and_logs(l));
    out.extend(certs.entries(l));
    out.extend(singletons::management_vm(l, &certs));
    out.extend(singletons::autobackup(l));
    out.extend(lists::rooms_and_allow_list(l));
    out.extend(lists::locations(l));
    out.extend(lists::nodes(l, &certs)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn securitywizard_rules_are_the_policy_rows_in_order() {
        let m: crate::profile::model::SecureMode = toml::from_str(
            "fips-140-2 = true\ndisable-system-admin-account = true\naccept-icmpv6-redirects = false\n\
             drop-closed-ports = true\naccept-multicast-icmpv6-echo = false\nipv6-dad = false\n\
             max-management-sessions = 100\nmax-per-user-sessions = 10\ntls-min-version = \"1.2\"\n\
             anonymous-dh-outbound-sip = false\ninbound-https-tls-min-version = \"1.2\"\nfir = true\n\
             aes128-sha = false\naes128-sha-outbound-sip = false\n",
        )
        .unwrap();
        let rows = super::super::sheets::securitywizard_answers(&m);
        let ids: Vec<&str> = rows.iter().map(|q| q.rule).collect();
        // The policy's §34 rows: every `1616-5.1.<letter>` that is a securitywizard question.
        let table: Vec<&str> = crate::policy::rules::all()
            .filter(|r| {
                r.id.0.starts_with("1616-5.1.") && r.statement.starts_with("securitywizard:")
            })
            .map(|r| r.id.0)
            .collect();
        assert_eq!(ids, table);
        assert!(rows.iter().all(|q| q.answer == q.guide));
    }
}
